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
