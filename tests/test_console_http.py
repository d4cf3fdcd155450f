"""The web console over real HTTP (uvicorn on loopback, httpx): signing in and out, sessions and
CSRF, every page refused to another tenant, to the wrong kind of token and to no session, and
bad input answered with one line and its status. On SQLite and PostgreSQL (sessions are rows)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from console_support import csrf_of, demo_deployment, error_line, signed_in
from control_helpers import control_plane, database_url
from elsewhere.control.store.tables import console_sessions
from elsewhere.control.store.transactions import write
from elsewhere.control.tenancy.auth import Kind, list_credentials, revoke_credential
from elsewhere.timeutil import utcnow

__all__ = ["database_url"]

TENANT_PAGES = ("/ui/deployments", "/ui/hosts", "/ui/results", "/ui/ledger")


def _pages(deployment: str, index: int) -> list[str]:
    return [
        *TENANT_PAGES,
        f"/ui/deployments/{deployment}",
        f"/ui/deployments/{deployment}/diagram",
        f"/ui/ledger/{index}",
    ]


def test_tenants_see_only_their_own_things_on_every_page(
    tmp_path: Path, database_url: str | None
) -> None:
    with control_plane(tmp_path, database_url) as env:
        alice = demo_deployment(env, "alice")
        decisions = alice.view["decisions"]
        assert isinstance(decisions, list)
        index = next(d["ledger_index"] for d in decisions if d["verdict"] == "affirming")
        bob_client = env.tenant("bob")
        bob_token = str(bob_client.http.headers["Authorization"])[7:]
        mine = signed_in(env.url, alice.token)
        theirs = signed_in(env.url, bob_token)
        for path in _pages(alice.deployment, index):
            assert mine.get(path).status_code == 200, path
        # Alice's things are not there for Bob: 404 like a missing one, or simply absent.
        for path in _pages(alice.deployment, index)[len(TENANT_PAGES) :]:
            answer = theirs.get(path)
            assert answer.status_code == 404, path
            assert error_line(answer.text).endswith("not found"), path
        for path in TENANT_PAGES:
            answer = theirs.get(path)
            assert answer.status_code == 200, path
            for word in (alice.deployment, "milan", "genoa", "alice"):
                assert word not in answer.text, (path, word)
        shown = mine.get(f"/ui/deployments/{alice.deployment}").text
        assert "platforms.refuse: platform is AMD:Milan" in shown and "ACCEPTED" in shown
        hosts = mine.get("/ui/hosts").text
        assert "EMULATED AMD Genoa" in hosts and "no hardware protection" in hosts
        # Roles: the operator view is the operator's; tenant pages are tenants'.
        operator = signed_in(env.url, env.token(Kind.OPERATOR, "ops"))
        assert mine.get("/ui/operator").status_code == 403
        assert "operator token" in error_line(mine.get("/ui/operator").text)
        listing = operator.get("/ui/operator")
        assert listing.status_code == 200 and "genoa" in listing.text
        for path in _pages(alice.deployment, index):
            assert operator.get(path).status_code == 403, path
        assert operator.get("/ui/architecture").status_code == 200


def test_sign_in_needs_the_forms_csrf_token_and_a_tenant_or_operator_token(
    tmp_path: Path,
) -> None:
    with control_plane(tmp_path) as env:
        token = str(env.tenant("acme").http.headers["Authorization"])[7:]
        browser = httpx.Client(base_url=env.url)
        csrf = csrf_of(browser.get("/ui/signin").text)
        for fields in ({"token": token}, {"token": token, "csrf": "forged"}):
            answer = browser.post("/ui/signin", data=fields)
            assert answer.status_code == 403
            assert error_line(answer.text).startswith("form: CSRF token missing or wrong")
        # A cross-site form cannot read the sign-in cookie; without it the token is refused.
        stranger = httpx.Client(base_url=env.url)
        assert stranger.post("/ui/signin", data={"csrf": csrf, "token": token}).status_code == 403
        bad = browser.post("/ui/signin", data={"csrf": csrf, "token": "ewt_nope"})
        assert bad.status_code == 401 and error_line(bad.text) == "token: invalid or revoked"
        csrf = csrf_of(bad.text)
        host = browser.post("/ui/signin", data={"csrf": csrf, "token": env.token(Kind.HOST, "h")})
        assert host.status_code == 403 and "host token" in error_line(host.text)
        csrf = csrf_of(host.text)
        good = browser.post("/ui/signin", data={"csrf": csrf, "token": token})
        assert good.status_code == 303 and good.headers["location"] == "/ui/deployments"
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        assert token not in cookie and token not in good.headers["location"]
        page = browser.get("/ui/deployments")
        assert page.status_code == 200 and token not in page.text


def test_a_session_ends_when_signed_out_expired_or_its_token_revoked(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        tenant = env.tenant("acme")
        token = str(tenant.http.headers["Authorization"])[7:]
        nobody = httpx.Client(base_url=env.url)
        answer = nobody.get("/ui/deployments")
        assert answer.status_code == 401 and error_line(answer.text).startswith("not signed in")
        nobody.cookies.set("ew_session", "x" * 43, path="/ui")
        answer = nobody.get("/ui/deployments")
        assert answer.status_code == 401 and "unknown or signed out" in error_line(answer.text)
        assert nobody.get("/ui").status_code == 303  # home: to the sign-in form

        browser = signed_in(env.url, token)
        page = browser.get("/ui/deployments")
        refused = browser.post("/ui/signout", data={"csrf": "forged"})
        assert refused.status_code == 403
        assert browser.get("/ui/deployments").status_code == 200
        kept = browser.cookies.get("ew_session")
        assert kept
        out = browser.post("/ui/signout", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/ui/signin"
        assert browser.get("/ui/deployments").status_code == 401  # the cookie is cleared
        copy = httpx.Client(base_url=env.url)  # and a copy of it no longer works either
        copy.cookies.set("ew_session", kept, path="/ui")
        answer = copy.get("/ui/deployments")
        assert answer.status_code == 401 and "unknown or signed out" in error_line(answer.text)

        expiring = signed_in(env.url, token)
        with write(env.cp.engine) as conn:
            past = utcnow() - dt.timedelta(seconds=1)
            conn.execute(update(console_sessions).values(expires_at=past))
        answer = expiring.get("/ui/hosts")
        assert answer.status_code == 401
        assert error_line(answer.text) == "session expired: sign in again at /ui/signin"

        revoked = signed_in(env.url, token)
        with write(env.cp.engine) as conn:
            credential = next(r for r in list_credentials(conn) if r["name"] == "tenant acme")["id"]
            revoke_credential(conn, credential)
        answer = revoked.get("/ui/ledger")
        assert answer.status_code == 401 and "revoked" in error_line(answer.text)


@pytest.mark.parametrize(
    ("path", "status", "line"),
    [
        ("/ui/deployments/xyz", 400, "deployment id: 'xyz': not a deployment id (dep_ + 16 hex)"),
        ("/ui/deployments/dep_0000000000000000", 404, "deployment not found"),
        ("/ui/deployments/dep_0000000000000000/diagram", 404, "deployment not found"),
        ("/ui/ledger/abc", 400, "ledger index: 'abc': not a plain decimal entry number"),
        ("/ui/ledger/007", 400, "ledger index: '007': not a plain decimal entry number"),
        ("/ui/ledger/999999", 404, "ledger entry not found"),
        ("/ui/ledger/0?leaf=zz", 400, "leaf: 'zz': not 64 lowercase hex digits"),
        ("/ui/nothing/here", 404, "console page /ui/nothing/here not found"),
        ("/ui/static/../app.py", 404, ""),
        ("/ui/static/app.py", 404, "console asset not found"),
        ("/ui/architecture?level=galaxy", 422, ""),
    ],
)
def test_bad_input_is_one_line_with_its_status(
    tmp_path: Path, path: str, status: int, line: str
) -> None:
    with control_plane(tmp_path) as env:
        browser = signed_in(env.url, str(env.tenant().http.headers["Authorization"])[7:])
        answer = browser.get(path)
        assert answer.status_code == status, answer.text
        if line:
            assert error_line(answer.text).replace("&#39;", "'") == line
        assert "Traceback" not in answer.text


def test_forms_refuse_the_wrong_type_an_oversized_body_and_repeated_fields(
    tmp_path: Path,
) -> None:
    with control_plane(tmp_path) as env:
        browser = httpx.Client(base_url=env.url)
        csrf = csrf_of(browser.get("/ui/signin").text)
        as_json = browser.post("/ui/signin", json={"csrf": csrf, "token": "t"})
        assert as_json.status_code == 400
        assert "application/x-www-form-urlencoded" in error_line(as_json.text)
        big = browser.post("/ui/signin", data={"csrf": csrf, "token": "t" * 5000})
        assert big.status_code == 413 and "larger than 4096 bytes" in error_line(big.text)
        twice = browser.post(
            "/ui/signin",
            content=f"csrf={csrf}&token=a&token=b",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert twice.status_code == 400 and error_line(twice.text) == "form: token: given twice"


def test_every_page_carries_the_console_headers(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        browser = signed_in(env.url, str(env.tenant().http.headers["Authorization"])[7:])
        for path in ("/ui/signin", "/ui/deployments", "/ui/nothing", "/ui/static/ledger.js"):
            headers = browser.get(path).headers
            assert "script-src 'self'" in headers["content-security-policy"], path
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
