"""Signing in and out of the console, the session every other page needs, and CSRF checks.

A token is typed into a form and POSTed once; it never appears in a URL and is never stored
in the browser. What the browser keeps is an opaque session cookie (tenancy/sessions.py),
HttpOnly and SameSite=Strict, Secure when the console is served over TLS. Every POST carries
a CSRF token: the session's own, or before sign-in one the sign-in page set in a cookie.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from elsewhere.control.config import ControlPlane
from elsewhere.control.http.console.render import HEADERS, ConsoleRoute, page
from elsewhere.control.http.deps import Plane, blocking
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy.auth import Credential, Kind, authenticate
from elsewhere.control.tenancy.sessions import (
    SESSION_LIFETIME,
    Session,
    close_session,
    find_session,
    open_session,
)
from elsewhere.errors import Forbidden, InputError, TooLarge, Unauthenticated
from elsewhere.i18n import N_, _

router = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)

COOKIE = "ew_session"
SIGNIN_COOKIE = "ew_signin"  # the CSRF token of the sign-in form (no session yet)
MAX_FORM = 4096
HOME = {Kind.TENANT: "/ui/deployments", Kind.OPERATOR: "/ui/operator"}
# The kind of token a page needs, or a session holds, as a phrase of the message below.
TOKEN = {
    Kind.TENANT: N_("a tenant token"),
    Kind.OPERATOR: N_("an operator token"),
    Kind.HOST: N_("a host token"),
}


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form body, each field once; one-line errors for anything else."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InputError(
            N_("form"), "content-type", N_("must be application/x-www-form-urlencoded")
        )
    body = await request.body()
    if len(body) > MAX_FORM:
        raise TooLarge(N_("form: larger than {limit} bytes").format(limit=MAX_FORM))
    try:
        pairs = parse_qsl(body.decode("utf-8"), max_num_fields=8, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise InputError(
            N_("form"), "body", N_("not UTF-8 urlencoded fields (at most 8)")
        ) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise InputError(N_("form"), name, N_("given twice"))
        fields[name] = value
    return fields


def check_csrf(given: str | None, expected: str | None) -> None:
    if not given or not expected or not hmac.compare_digest(given, expected):
        raise Forbidden(N_("form: CSRF token missing or wrong (reload the page and try again)"))


def current_session(request: Request, cp: Plane) -> Session:
    with read(cp.engine) as conn:
        return find_session(conn, request.cookies.get(COOKIE))


def _needs(kind: Kind) -> object:
    def dependency(request: Request, cp: Plane) -> Session:
        session = current_session(request, cp)
        if session.credential.kind is not kind:
            raise Forbidden(
                N_("this page needs a sign-in with {needed}; this session has {held}").format(
                    needed=TOKEN[kind], held=TOKEN[session.credential.kind]
                )
            )
        return session

    return dependency


TenantSession = Annotated[Session, Depends(_needs(Kind.TENANT))]
OperatorSession = Annotated[Session, Depends(_needs(Kind.OPERATOR))]


def _cookie(response: Response, request: Request, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _signin_form(request: Request, status: int = 200, message: str = "") -> HTMLResponse:
    csrf = secrets.token_urlsafe(32)
    shown = _(message) if message else ""  # the English line is the message's id
    response = page(request, "signin.html", _("Sign in"), status=status, csrf=csrf, message=shown)
    _cookie(response, request, SIGNIN_COOKIE, csrf, 3600)
    return response


@dataclass(frozen=True)
class _Opened:
    cookie: str
    credential: Credential


def _open(cp: ControlPlane, token: str) -> _Opened | tuple[int, str]:
    """A new session for the token, or the status and line the sign-in form answers with."""
    with write(cp.engine) as conn:
        credential = authenticate(conn, token)
        if credential is None:
            return 401, N_("token: invalid or revoked")
        if credential.kind not in HOME:
            return 403, N_("token: a host token cannot sign in to the console")
        cookie, _ = open_session(conn, credential)
    return _Opened(cookie, credential)


def _close(cp: ControlPlane, cookie: str) -> None:
    with write(cp.engine) as conn:
        close_session(conn, cookie)


@router.get("", response_class=HTMLResponse)
def home(request: Request, cp: Plane) -> Response:
    try:
        session = current_session(request, cp)
    except Unauthenticated:
        return RedirectResponse("/ui/signin", status_code=303, headers=HEADERS)
    return RedirectResponse(HOME.get(session.credential.kind, "/ui/signin"), 303, HEADERS)


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request) -> HTMLResponse:
    return _signin_form(request)


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request, cp: Plane) -> Response:
    fields = await form(request)
    check_csrf(fields.get("csrf"), request.cookies.get(SIGNIN_COOKIE))
    opened = await blocking(request, _open, cp, fields.get("token", "").strip())
    if isinstance(opened, tuple):
        return _signin_form(request, *opened)
    cookie, credential = opened.cookie, opened.credential
    response = RedirectResponse(HOME[credential.kind], status_code=303, headers=HEADERS)
    _cookie(response, request, COOKIE, cookie, int(SESSION_LIFETIME.total_seconds()))
    response.delete_cookie(SIGNIN_COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


@router.post("/signout", response_class=HTMLResponse)
async def signout(request: Request, cp: Plane) -> Response:
    fields = await form(request)
    session = await blocking(request, current_session, request, cp)
    check_csrf(fields.get("csrf"), session.csrf)
    await blocking(request, _close, cp, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/ui/signin", status_code=303, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response
