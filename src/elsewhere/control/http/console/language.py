"""The console's language, chosen per request: the `lang` cookie the language switch on every
page sets, else the browser's Accept-Language (negotiated with Babel), else English. (The API's
error messages follow Accept-Language alone: http/limits.py.)

The cookie holds a display preference only (no authority), so the switch is a plain link: a
GET that sets it and sends the reader back to the page it came from, a /ui path only (never
another site: no open redirect).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from babel.core import Locale, UnknownLocaleError, negotiate_locale
from fastapi import Request, Response

from elsewhere.errors import InputError
from elsewhere.i18n import ACCEPT_LANGUAGE_LIMIT, ENGLISH, LANGUAGES, N_

COOKIE = "lang"
COOKIE_AGE = 365 * 24 * 3600
# What each language is called in itself: the switch shows both, whatever the page's language.
NAMES = {ENGLISH: "English", "ja": "日本語"}
_QUALITY = re.compile(r"\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*")
_BACK = re.compile(r"/ui(?:/[A-Za-z0-9_.~-]+)*/?")
_BACK_QUERY = re.compile(r"[A-Za-z0-9_.~=&%+-]*")
BACK_LIMIT = 512


def from_accept_language(header: str | None) -> str:
    """The language an Accept-Language header prefers among ours: its ranges in q order
    (RFC 9110), each parsed by Babel (`Locale.parse`), matched by `negotiate_locale`."""
    if not header or len(header) > ACCEPT_LANGUAGE_LIMIT:
        return ENGLISH
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _sep, params = item.strip().partition(";")
        found = _QUALITY.fullmatch(params) if params else None
        if params and found is None:
            continue  # a malformed parameter: this range is ignored, not guessed
        quality = float(found.group(1)) if found else 1.0
        try:
            locale = Locale.parse(tag.strip(), sep="-")
        except (ValueError, TypeError, UnknownLocaleError):
            continue  # "*" or not a language tag Babel knows: no preference for ours
        if quality > 0:
            ranked.append((-quality, position, str(locale)))
    chosen = negotiate_locale([tag for _q, _p, tag in sorted(ranked)], list(LANGUAGES))
    return chosen.split("_")[0] if chosen else ENGLISH


def request_language(request: Request) -> str:
    chosen = request.cookies.get(COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    return from_accept_language(request.headers.get("accept-language"))


def back_to(text: str) -> str:
    """Where the switch sends the reader back: a console path (and its query), else /ui."""
    if len(text) > BACK_LIMIT:
        return "/ui"
    parts = urlsplit(text)
    if parts.scheme or parts.netloc or parts.fragment or not _BACK.fullmatch(parts.path):
        return "/ui"
    if any(step in (".", "..") for step in parts.path.split("/")):
        return "/ui"  # a dot segment would lead out of /ui
    if not _BACK_QUERY.fullmatch(parts.query):
        return parts.path
    return parts.path + ("?" + parts.query if parts.query else "")


def checked_language(text: str) -> str:
    if text not in LANGUAGES:
        raise InputError(
            N_("language"), repr(text[:20]), N_("not one of the console's languages (en, ja)")
        )
    return text


def remember(response: Response, request: Request, language: str) -> None:
    """The switch's cookie: Lax, so following a link to the console keeps the language."""
    response.set_cookie(
        COOKIE,
        language,
        max_age=COOKIE_AGE,
        path="/ui",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
