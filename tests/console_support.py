"""Helpers for the console tests: the demo's deployment on a live control plane, signing in over
plain HTTP (httpx), and for the browser tests Debian's Chromium and axe-core from npm.

Chromium and axe-core are looked for, never downloaded by Playwright: Chromium is Debian's
(`make chromium`), axe-core is installed with npm into a cache directory on first use. When
either is missing the browser tests skip, saying why; under CI=true they fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from control_helpers import Env, greeter_wasm, settled, wait_for
from elsewhere.cli.demo import HOSTS, POLICY
from elsewhere.host.client import Client, b64

CHROMIUM = Path(os.environ.get("ELSEWHERE_CHROMIUM", "/usr/bin/chromium"))
NPM_CACHE = Path(os.environ.get("ELSEWHERE_NPM_CACHE", Path.home() / ".cache" / "elsewhere-npm"))
AXE = NPM_CACHE / "node_modules" / "axe-core" / "axe.min.js"


def missing(reason: str) -> None:
    """Skip, or under CI fail: CI installs Chromium (`make chromium`) and has npm."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


def chromium() -> Path:
    if not CHROMIUM.exists():
        missing(f"Chromium not found at {CHROMIUM} (make chromium)")
    return CHROMIUM


def axe_core() -> Path:
    """axe.min.js, installed with npm into NPM_CACHE when it is not there yet."""
    if AXE.is_file():
        return AXE
    npm = shutil.which("npm")
    if npm is None:
        missing("npm not found: axe-core cannot be installed")
        raise AssertionError("unreachable")
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(NPM_CACHE), "axe-core@4"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0 or not AXE.is_file():
        missing(f"npm could not install axe-core: {done.stderr.strip()[-200:]}")
    return AXE


@dataclass(frozen=True)
class Demo:
    """The demo's deployment: Milan and nil refused, Genoa accepted."""

    tenant: Client
    token: str
    deployment: str
    view: dict[str, object]


def demo_deployment(env: Env, tenant_name: str = "acme", replicas: int = 3) -> Demo:
    """The demo's hosts, policy and workload; as in the demo, as many replicas as hosts so
    each host is tried."""
    for name, kind, generation in HOSTS:
        env.agent(name, kind, **({"generation": generation} if generation else {}))
    tenant = env.tenant(tenant_name)
    digest = tenant.upload_workload(greeter_wasm(), "secret-greeter.wasm")["digest"]
    tenant.put_secret("greeting-key", b"demo-secret")
    tenant.set_policy(POLICY)
    deployment = tenant.deploy(
        {
            "workload": digest,
            "replicas": replicas,
            "secrets": ["greeting-key"],
            "args": ["greeting-key"],
            "stdin": b64(b"world"),
        }
    )["id"]
    view = wait_for(settled(tenant, deployment))
    token = str(tenant.http.headers["Authorization"])[7:]
    return Demo(tenant, token, deployment, view)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found[1]


# Every client `signed_in` opened, closed after each test (conftest.py): one left to the
# garbage collector closes its socket with a ResourceWarning in whichever later test it dies.
OPEN_CLIENTS: list[httpx.Client] = []


def close_clients() -> None:
    while OPEN_CLIENTS:
        OPEN_CLIENTS.pop().close()


def signed_in(url: str, token: str) -> httpx.Client:
    """An httpx client holding a console session opened with `token` (closed after the test)."""
    client = httpx.Client(base_url=url)
    OPEN_CLIENTS.append(client)
    form = client.get("/ui/signin")
    answer = client.post("/ui/signin", data={"csrf": csrf_of(form.text), "token": token})
    assert answer.status_code == 303, answer.text
    return client


def error_line(html: str) -> str:
    found = re.search(r'class="error" role="alert">([^<]*)<', html)
    return found[1] if found else ""
