"""The console in Japanese: every console message has its Japanese, the language is chosen per
request (the switch's cookie, else Accept-Language through Babel, else English), and the pages,
their errors, dates and numbers follow it. Over real HTTP (uvicorn on loopback, httpx)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from conftest import REPO_ROOT
from console_messages import console_msgids, fragments, japanese, untranslated_on_page
from console_support import demo_deployment, error_line, signed_in
from control_helpers import control_plane
from elsewhere.control.http.console.language import back_to, from_accept_language


def test_babel_cfg_extracts_the_console_templates_and_script() -> None:
    config = (REPO_ROOT / "babel.cfg").read_text()
    assert "[jinja2: src/elsewhere/control/http/console/templates/**.html]" in config
    assert "[javascript: src/elsewhere/control/http/console/static/**.js]" in config
    assert "trimmed = true" in config


def test_every_console_message_has_a_japanese_translation() -> None:
    found = console_msgids()
    # From each source: a template's {% trans %}, a template's _(), the script, the Python.
    assert "Signed in as %(name)s" in found and "Sign out" in found
    assert "REFUSED: {reason}" in found and "Hosts your work touched" in found
    ja = japanese()
    missing = sorted(m for m in found if not ja.get(m))
    assert not missing, f"run `make messages` and translate: {missing[:10]}"


def test_the_check_finds_a_message_left_in_english() -> None:
    """The page check can fail: an English console message in a page's text is found."""
    assert fragments('Leaf hash (RFC 9162): <code id="x">%(leaf)s</code>.') == [
        "Leaf hash (RFC 9162)"
    ]
    found = untranslated_on_page("ホスト Hosts your work touched")
    assert found == ["Hosts", "Hosts your work touched"]
    assert untranslated_on_page("あなたのワークロードが使ったホスト dep_0123 genoa") == []


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ja-JP", "ja"),
        ("ja", "ja"),
        ("fr, ja;q=0.5, en;q=0.1", "ja"),
        ("en-GB,ja;q=0.9", "en"),
        ("ja;q=0.2, en;q=0.8", "en"),
        ("ja;q=0", "en"),
        ("*", "en"),
        ("!!, ja", "ja"),
        ("ja;level=1", "en"),  # a malformed parameter: that range is ignored
        ("j" * 4000, "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_accept_language_is_negotiated(header: str | None, language: str) -> None:
    assert from_accept_language(header) == language


@pytest.mark.parametrize(
    ("given", "back"),
    [
        ("/ui/hosts", "/ui/hosts"),
        ("/ui/architecture?level=context&view=legal", "/ui/architecture?level=context&view=legal"),
        ("https://elsewhere.example/ui", "/ui"),
        ("//elsewhere.example/ui", "/ui"),
        ("/ui/../v1/deployments", "/ui"),
        ("/uix", "/ui"),
        ("/ui/hosts#top", "/ui"),
        ("/ui/hosts?x=<script>", "/ui/hosts"),
    ],
)
def test_the_switch_goes_back_only_into_the_console(given: str, back: str) -> None:
    assert back_to(given) == back


def _lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)">', html)
    return found[1] if found else ""


def _h1(html: str) -> str:
    found = re.search(r"<h1>([^<]*)</h1>", html)
    return found[1] if found else ""


def test_pages_follow_the_switch_then_accept_language(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        demo = demo_deployment(env)
        browser = signed_in(env.url, demo.token)
        english = browser.get("/ui/hosts")
        assert _lang(english.text) == "en" and _h1(english.text) == "Hosts your work touched"
        assert 'href="/ui/language/ja?next=/ui/hosts"' in english.text  # the switch

        asked = browser.get("/ui/hosts", headers={"Accept-Language": "ja-JP,en;q=0.5"})
        assert _lang(asked.text) == "ja" and _h1(asked.text) == "あなたのワークロードが使ったホスト"
        assert (
            "ハードウェアによる保護なし" in asked.text
            and "エミュレーション AMD Genoa" in asked.text
        )
        assert untranslated_on_page(re.sub(r"<[^>]+>", " ", asked.text)) == []

        switched = browser.get("/ui/language/ja", params={"next": "/ui/deployments"})
        assert switched.status_code == 303 and switched.headers["location"] == "/ui/deployments"
        assert "lang=ja" in switched.headers["set-cookie"]
        # The cookie wins over the browser's Accept-Language.
        listing = browser.get("/ui/deployments", headers={"Accept-Language": "en"})
        assert _lang(listing.text) == "ja" and _h1(listing.text) == "デプロイメント"
        # Dates for ja_JP (CLDR: y/MM/dd H:mm:ss, the hour without a leading zero), the ISO
        # time kept in the element.
        assert re.search(
            r'<time datetime="[0-9T:+.-]+">\d{4}/\d{2}/\d{2} \d{1,2}:\d{2}:\d{2} UTC', listing.text
        )
        shown = browser.get(f"/ui/deployments/{demo.deployment}").text
        assert "レプリカ 3 個" in shown and "拒否" in shown and "受理" in shown
        assert "platforms.refuse" in shown  # reason codes stay identifiers

        # Errors on console pages are in the page's language too.
        missing = browser.get("/ui/deployments/dep_0000000000000000")
        assert (
            missing.status_code == 404
            and error_line(missing.text) == "デプロイメント が見つかりません"
        )
        assert browser.get("/ui/operator").status_code == 403
        assert "オペレーターのトークン" in error_line(browser.get("/ui/operator").text)

        back = browser.get("/ui/language/en", params={"next": "/ui/deployments"})
        assert back.status_code == 303
        again = browser.get("/ui/deployments", headers={"Accept-Language": "ja"})
        assert _lang(again.text) == "en" and _h1(again.text) == "Deployments"
        assert re.search(r"<time [^>]+>[A-Z][a-z]{2} \d{1,2}, \d{4}", again.text)

        refused = browser.get("/ui/language/fr")
        assert refused.status_code == 400
        assert error_line(refused.text).startswith("language: &#39;fr&#39;: not one of")


def test_signing_in_is_in_japanese_before_any_session(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        browser = httpx.Client(base_url=env.url, headers={"Accept-Language": "ja"})
        form = browser.get("/ui/signin")
        assert _lang(form.text) == "ja" and "テナントまたはオペレーターのトークン" in form.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        bad = browser.post("/ui/signin", data={"csrf": csrf[1], "token": "ewt_nope"})
        assert bad.status_code == 401 and error_line(bad.text) == "トークン: 無効か失効しています"
        nobody = browser.get("/ui/hosts")
        assert nobody.status_code == 401
        assert error_line(nobody.text).startswith("サインインしていません")
