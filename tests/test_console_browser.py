"""The web console in a real browser: Playwright driving Debian's Chromium, headless, against a
live control plane on loopback running the demo's deployment. Sign in with the keyboard, see
Milan refused and Genoa accepted, open the deployment's diagram, follow an edge to its ledger
entry, verify its inclusion proof in the page (WebCrypto), see tampered proofs refused, and
axe-core finds nothing on any page. With ELSEWHERE_SCREENSHOTS=DIR, each page is saved there
(docs/console/ holds the ones docs/console.md shows).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console_messages import untranslated_on_page
from console_support import axe_core, chromium, demo_deployment, missing
from control_helpers import control_plane
from elsewhere.control.tenancy.auth import Kind

SCREENSHOTS = os.environ.get("ELSEWHERE_SCREENSHOTS")
WAIT_MS = 20_000  # one page's own wait (the test's outer timeout still bounds the whole)


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright for Python is not installed (the dev extra)")
        raise
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(executable), headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


class Checker:
    """Runs axe-core on each page (injected by Playwright, so the page's CSP is bypassed for it
    alone) and saves a screenshot when asked."""

    def __init__(self, page: Any, axe: Path) -> None:
        self.page, self.axe = page, axe.read_text(encoding="utf-8")

    def __call__(self, name: str) -> None:
        self.page.add_script_tag(content=self.axe)
        result = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        problems = [
            f"{v['id']}: {v['help']} ({', '.join(n['target'][0] for n in v['nodes'][:3])})"
            for v in result
        ]
        assert not problems, f"axe-core on {name}:\n" + "\n".join(problems)
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def _focused(page: Any) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.id"))


def test_the_console_in_chromium(tmp_path: Path, browser: Any) -> None:
    axe = axe_core()
    with control_plane(tmp_path) as env:
        demo = demo_deployment(env)
        vkey = env.cp.ledger.verifier.vkey()  # pinned from elsewhere than the page
        context = browser.new_context(bypass_csp=True, viewport={"width": 1400, "height": 900})
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        check = Checker(page, axe)

        # Sign in with the keyboard only: Tab to the token field, type, Enter.
        page.goto(f"{env.url}/ui")
        assert page.url.endswith("/ui/signin")
        check("signin")
        for _ in range(10):
            page.keyboard.press("Tab")
            if _focused(page) == "token":
                break
        assert _focused(page) == "token", "the token field is not reachable with Tab"
        page.keyboard.type(demo.token)
        page.keyboard.press("Enter")
        page.wait_for_url("**/ui/deployments")
        assert demo.token not in page.url
        check("deployments")

        page.get_by_role("link", name=demo.deployment).click()
        page.wait_for_url(f"**/ui/deployments/{demo.deployment}")
        rows = page.locator("table.decisions tbody tr")
        milan = rows.filter(has_text="milan")
        genoa = rows.filter(has_text="genoa")
        assert "REFUSED" in milan.first.inner_text()
        assert "platforms.refuse: platform is AMD:Milan" in milan.first.inner_text()
        assert "ACCEPTED" in genoa.first.inner_text()
        assert "no hardware protection" in genoa.first.inner_text()
        check("deployment")

        page.get_by_role("link", name="Diagram of this deployment").click()
        page.wait_for_url("**/diagram")
        assert page.locator("svg title#diagram_title").count() == 1
        # An edge: Genoa's accepted evidence, linked to its ledger entry.
        href = page.evaluate(
            """() => {
              for (const g of document.querySelectorAll('svg g.edge')) {
                const a = g.querySelector('a');
                if (a && g.textContent.includes('evidence up: ACCEPTED')) {
                  return a.getAttribute('xlink:href') || a.getAttribute('href');
                }
              }
              return null;
            }"""
        )
        assert href and "/ui/ledger/" in href and "?leaf=" in href, href
        check("diagram")
        page.locator(f'svg g.edge a[*|href="{href}"] text').first.click()  # on its label
        page.wait_for_url(f"**{href}")
        index = int(href.split("/ui/ledger/")[1].split("?")[0])
        assert page.locator("#expected-leaf").inner_text() == href.split("leaf=")[1]

        # The proof, checked in the page against the key the user pinned.
        page.get_by_label("Log key you pin").fill(vkey)
        page.get_by_role("button", name="Verify in this browser").click()
        outcome = page.locator("#outcome")
        outcome.locator(".verified, .refused").wait_for()
        shown = outcome.inner_text()
        assert f"VERIFIED: entry #{index} is in the log" in shown, shown
        assert "checkpoint signature (Ed25519) verified with the pinned key" in shown, shown
        assert "it is the leaf hash the diagram's link named" in shown, shown
        check("ledger-entry")

        # Tampered: one proof hash changed, then the checkpoint's root, then the entry.
        bundle = page.get_by_label("Proof bundle", exact=False).input_value()
        lines = bundle.split("\n")
        proof_line = next(i for i, line in enumerate(lines) if line.startswith("index ")) + 1
        tampered = {
            "proof": _flip(lines, proof_line),
            "root": _flip(lines, lines.index("", proof_line) + 3),
            "entry": _flip(lines, 1, at=12),
        }
        for what, text in tampered.items():
            page.get_by_label("Proof bundle", exact=False).fill(text)
            page.get_by_role("button", name="Verify in this browser").click()
            outcome.locator(".refused").wait_for()
            assert outcome.inner_text().startswith("REFUSED: "), (what, outcome.inner_text())
        page.get_by_label("Log key you pin").fill(vkey.replace("+", "x+", 1))
        page.get_by_label("Proof bundle", exact=False).fill(bundle)
        page.get_by_role("button", name="Verify in this browser").click()
        outcome.locator(".refused").wait_for()
        assert "key ID does not match" in outcome.inner_text()

        for name, path in (
            ("hosts", "/ui/hosts"),
            ("results", "/ui/results"),
            ("ledger", "/ui/ledger"),
            ("architecture", "/ui/architecture"),
        ):
            page.get_by_role("navigation").get_by_role("link", name=name.capitalize()).click()
            page.wait_for_url(f"**{path}")
            check(name)
        assert "EMULATED AMD Genoa" in page.goto(f"{env.url}/ui/hosts").text()
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/ui/signin")

        page.get_by_label("Tenant or operator token").fill(env.token(Kind.OPERATOR, "ops"))
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/ui/operator")
        assert "genoa" in page.locator("main").inner_text()
        check("operator")
        page.goto(f"{env.url}/ui/deployments/{demo.deployment}")
        assert "needs a sign-in with a tenant token" in page.locator("main").inner_text()
        check("error")
        assert not errors, json.dumps(errors)
        context.close()


def _flip(lines: list[str], number: int, at: int = 5) -> str:
    """The bundle with one base64 character of line `number` changed."""
    line = lines[number]
    position = len(line) - at
    changed = line[:position] + ("A" if line[position] != "A" else "B") + line[position + 1 :]
    return "\n".join([*lines[:number], changed, *lines[number + 1 :]])


# The console in Japanese. Page text outside code, data and the switch's own names is the
# catalogue's: no console message may show its English there.
_PAGE_TEXT = """() => {
  const skip = "pre, code, samp, script, style, textarea, option";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent && !parent.closest(skip)) parts.push(walker.currentNode.textContent);
  }
  return parts.join("\\n");
}"""
# Text wider than its box (no box that scrolls, nothing inline): at the default width.
_OVERFLOW = """() => {
  const out = [];
  const page = document.documentElement;
  if (page.scrollWidth > window.innerWidth + 1) out.push(`page: ${page.scrollWidth}px`);
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("figure.diagram, pre, svg, input, textarea, select, script, style")) continue;
    const style = getComputedStyle(el);
    if (style.display === "inline" || style.display === "none") continue;
    if (style.overflowX === "visible" && el.scrollWidth > el.clientWidth + 1) {
      out.push(`${el.tagName.toLowerCase()}: ${el.textContent.trim().slice(0, 40)}`);
    }
  }
  return out;
}"""


def _japanese_page(page: Any, check: Checker, name: str, heading: str) -> None:
    assert page.locator("html").get_attribute("lang") == "ja", name
    assert page.locator("h1").inner_text() == heading, name
    left = untranslated_on_page(page.evaluate(_PAGE_TEXT))
    assert not left, f"{name}: English console messages on the Japanese page: {left}"
    overflowing = page.evaluate(_OVERFLOW)
    assert not overflowing, f"{name}: text overflows its box: {overflowing}"
    check(f"ja-{name}")


def test_the_console_in_japanese_in_chromium(tmp_path: Path, browser: Any) -> None:
    axe = axe_core()
    with control_plane(tmp_path) as env:
        demo = demo_deployment(env)
        vkey = env.cp.ledger.verifier.vkey()
        context = browser.new_context(bypass_csp=True)  # Playwright's default width
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        check = Checker(page, axe)

        # Signed in in English, then the switch on the page: 日本語.
        page.goto(f"{env.url}/ui/signin")
        page.get_by_label("Tenant or operator token").fill(demo.token)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/ui/deployments")
        assert page.locator("html").get_attribute("lang") == "en"
        page.get_by_role("navigation", name="Language").get_by_role("link", name="日本語").click()
        page.wait_for_url("**/ui/deployments")
        _japanese_page(page, check, "deployments", "デプロイメント")

        page.get_by_role("link", name=demo.deployment).click()
        page.wait_for_url(f"**/ui/deployments/{demo.deployment}")
        rows = page.locator("table.decisions tbody tr")
        milan = rows.filter(has_text="milan").first.inner_text()
        genoa = rows.filter(has_text="genoa").first.inner_text()
        assert "拒否" in milan and "platforms.refuse" in milan, milan
        assert "受理" in genoa and "ハードウェアによる保護なし" in genoa, genoa
        _japanese_page(page, check, "deployment", f"デプロイメント {demo.deployment}")

        page.get_by_role("link", name="このデプロイメントの図").click()
        page.wait_for_url("**/diagram")
        _japanese_page(page, check, "diagram", f"デプロイメント {demo.deployment} の図")

        page.goto(f"{env.url}/ui/deployments/{demo.deployment}")
        genoa_row = page.locator("table.decisions tbody tr").filter(has_text="genoa").first
        genoa_row.get_by_role("link", name="#").first.click()
        page.wait_for_url("**/ui/ledger/*")
        index = page.url.rsplit("/", 1)[1]
        _japanese_page(page, check, "ledger-entry", f"台帳のエントリ #{index}")
        page.get_by_label("固定するログの鍵").fill(vkey)
        page.get_by_role("button", name="このブラウザで検証").click()
        outcome = page.locator("#outcome")
        outcome.locator(".verified, .refused").wait_for()
        shown = outcome.inner_text()
        assert shown.startswith(f"検証済み: エントリ #{index} は"), shown
        assert "固定した鍵" in shown and untranslated_on_page(shown) == [], shown
        page.get_by_label("固定するログの鍵").fill(vkey.replace("+", "x+", 1))
        page.get_by_role("button", name="このブラウザで検証").click()
        outcome.locator(".refused").wait_for()
        assert outcome.inner_text() == "拒否: 固定した鍵: 鍵 ID が名前と鍵に一致しません"

        nav = page.get_by_role("navigation", name="コンソール")
        for name, label, heading in (
            ("hosts", "ホスト", "あなたのワークロードが使ったホスト"),
            ("results", "結果", "結果"),
            ("ledger", "台帳", "あなたの台帳のエントリ"),
            ("architecture", "アーキテクチャ", "アーキテクチャ"),
        ):
            nav.get_by_role("link", name=label, exact=True).click()
            page.wait_for_url(f"**/ui/{name}")
            _japanese_page(page, check, name, heading)
        assert "エミュレーション AMD Genoa" in page.goto(f"{env.url}/ui/hosts").text()

        # Back to English with the switch: the same page, in English.
        page.get_by_role("navigation", name="言語").get_by_role("link", name="English").click()
        page.wait_for_url("**/ui/hosts")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("h1").inner_text() == "Hosts your work touched"
        context.close()

        # No cookie yet: the browser's language (Accept-Language: ja-JP) decides.
        context = browser.new_context(bypass_csp=True, locale="ja-JP")
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        check = Checker(page, axe)
        page.goto(f"{env.url}/ui")
        page.wait_for_url("**/ui/signin")
        _japanese_page(page, check, "signin", "サインイン")
        page.get_by_label("テナントまたはオペレーターのトークン").fill(demo.token)
        page.get_by_role("button", name="サインイン").click()
        page.wait_for_url("**/ui/deployments")
        _japanese_page(page, check, "deployments-accept-language", "デプロイメント")
        page.goto(f"{env.url}/ui/deployments/dep_0000000000000000")
        _japanese_page(page, check, "error", "エラー 404")
        # The overflow check can fail: a line forced wider than its box is found.
        page.evaluate(
            """() => { const p = document.createElement("p");
              p.style.cssText = "width: 4em; white-space: nowrap";
              p.textContent = "改ざん検知可能な台帳にあるあなたのエントリ";
              document.querySelector("main").append(p); }"""
        )
        assert page.evaluate(_OVERFLOW) == ["p: 改ざん検知可能な台帳にあるあなたのエントリ"]
        assert not errors, json.dumps(errors)
        context.close()


def _spki_pin(cert_path: Path) -> str:
    """base64 SHA-256 of the certificate's public key: what Chromium pins with
    --ignore-certificate-errors-spki-list (it accepts that key and no other)."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_the_console_over_tls(tmp_path: Path, browser: Any) -> None:
    """The console served over TLS with `serve --tls auto`'s files. Chromium cannot be given a
    CA without NSS tools, so the server's key is pinned instead (certificate errors are NOT
    ignored: ignore_https_errors=False, and a browser without the pin refuses the page)."""
    executable = chromium()
    from playwright.sync_api import Error

    with control_plane(tmp_path, tls=True) as env:
        assert env.url.startswith("https://")
        token = env.token(Kind.TENANT, "acme")
        refusing = browser.new_context(ignore_https_errors=False)
        with pytest.raises(Error, match="ERR_CERT"):
            refusing.new_page().goto(f"{env.url}/ui")
        refusing.close()
        pin = _spki_pin(tmp_path / "tls" / "server.crt")
        pinned = browser.browser_type.launch(  # the same Playwright, a second Chromium
            executable_path=str(executable),
            headless=True,
            args=["--no-sandbox", f"--ignore-certificate-errors-spki-list={pin}"],
        )
        try:
            context = pinned.new_context(ignore_https_errors=False)
            context.set_default_timeout(WAIT_MS)
            page = context.new_page()
            answer = page.goto(f"{env.url}/ui")
            assert page.url.startswith("https://") and page.url.endswith("/ui/signin")
            assert page.evaluate("location.protocol") == "https:"
            details = answer.security_details() if answer is not None else None
            assert details and "TLS" in str(details.get("protocol")), details
            page.get_by_label("Tenant or operator token").fill(token)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/ui/deployments")
            assert page.url.startswith("https://") and token not in page.url
            context.close()
        finally:
            pinned.close()
