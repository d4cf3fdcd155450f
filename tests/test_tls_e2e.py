"""End to end over real TLS on loopback, every part in its own process as a user runs it:
`elsewhere serve --tls auto --workers 2`, a host agent given the development CA (`--ca`) and
its token in a file, and the tenant CLI reading a profile (URL, CA, token file) to upload,
store a secret, set a policy, deploy and read the results. Then the host's token is revoked
and the agent stops with one line; and plain HTTP beyond loopback draws a warning at start."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from control_helpers import DEMO_POLICY, greeter_wasm
from elsewhere.cli import main
from elsewhere.control.serve.server import free_port
from waits import lines, remaining, wait_for

CLI = "from elsewhere.cli import main; raise SystemExit(main())"


def _child(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _until(output: Iterator[str], marker: str, seen: list[str]) -> str:
    """Read `output` (one `waits.lines` per child: each has its own reader) up to `marker`."""
    for line in output:
        seen.append(line)
        if marker in line:
            return line
    raise AssertionError(f"exited before {marker!r}: {''.join(seen)}")


def _output(child: subprocess.Popen[str]) -> Iterator[str]:
    assert child.stdout is not None
    return lines(child.stdout)


def _stop(child: subprocess.Popen[str]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(remaining())
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def environment(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELSEWHERE_")}
    env |= {"ELSEWHERE_HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    yield env


def _secret_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def test_tenant_and_host_over_tls_with_the_development_ca(
    tmp_path: Path,
    environment: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, genoa = tmp_path / "control", tmp_path / "genoa"
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith("ELSEWHERE_") and k not in environment]:
        monkeypatch.delenv(key)
    platform = genoa / "emulated-snp"  # where `host --state-dir` keeps it
    assert main(["emulate", "snp-root", str(platform), "--generation", "Genoa"]) == 0
    capsys.readouterr()
    store = ("--data-dir", str(data))
    tenant_token = _json(capsys, "tenant", "create", "acme", *store)["token"]  # type: ignore[index]
    host_token = _json(capsys, "host-token", "create", "--name", "genoa", *store)["token"]  # type: ignore[index]

    port = free_port()
    serve = [
        "serve", "--tls", "auto", "--workers", "2", "--port", str(port), *store,
        "--trust-emulated-root", str(platform / "ark.pem"), "--no-access-log",
    ]  # fmt: skip
    server = _child(serve, environment)
    agent: subprocess.Popen[str] | None = None
    said: list[str] = []
    try:
        line = _until(_output(server), "control plane on", said)
        url = f"https://127.0.0.1:{port}"
        assert url in line
        ca = data / "tls" / "ca.pem"
        assert any(f"DEVELOPMENT CA {ca}" in s for s in said), said
        context = ssl.create_default_context(cafile=str(ca))

        def ready() -> bool:
            assert server.poll() is None, "".join(said)
            try:
                return httpx.get(f"{url}/readyz", verify=context, timeout=remaining()).is_success
            except httpx.HTTPError:
                return False

        wait_for(ready, every=0.1)

        host_file = _secret_file(tmp_path / "host.token", host_token)
        agent = _child(
            [
                "host", "--control", url, "--ca", str(ca), "--token-file", str(host_file),
                "--attester", "emulated-snp", "--generation", "Genoa",
                "--state-dir", str(genoa), "--name", "genoa",
            ],
            environment,
        )  # fmt: skip
        hosted: list[str] = []
        agent_output = _output(agent)
        _until(agent_output, "registered as", hosted)

        config = tmp_path / "xdg" / "elsewhere"
        _secret_file(config / "acme.token", tenant_token)
        (config / "config.toml").write_text(
            f'[profiles.acme]\nurl = "{url}"\nca = "{ca}"\ntoken_file = "acme.token"\n'
        )
        wasm, secret, policy = tmp_path / "greeter.wasm", tmp_path / "s.txt", tmp_path / "p.toml"
        wasm.write_bytes(greeter_wasm())
        secret.write_bytes(b"over-tls")
        policy.write_text(DEMO_POLICY)
        profile = ("--profile", "acme")
        digest = _json(capsys, "workload", "upload", str(wasm), *profile)["digest"]  # type: ignore[index]
        assert _json(capsys, "secret", "put", "greeting-key", "--file", str(secret), *profile)
        assert _json(capsys, "set-policy", str(policy), *profile)["version"] == 1  # type: ignore[index]
        code = main(
            ["deploy", str(digest), "--secret", "greeting-key", "--arg", "greeting-key",
             "--wait", *profile]
        )  # fmt: skip
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "replica 0: completed on genoa" in out and "greeting-key: 8 bytes" in out, out
        (listed,) = _json(capsys, "deployment", "list", *profile)  # type: ignore[misc]
        assert listed["state"] == "completed"
        view = _json(capsys, "results", listed["id"], *profile)
        assert view["placements"][0]["host"] == "genoa"  # type: ignore[index]

        # Without the CA the same request is refused, in one line naming the fix.
        code = main(["workload", "list", "--control", url, "--token-file", str(host_file)])
        _, err = capsys.readouterr()
        assert code == 4 and err.strip().endswith("TLS certificate not trusted — give --ca")

        # The host's token revoked: its agent stops by itself, saying why in one line.
        credentials = _json(capsys, "token", "list", *store)
        (host_cred,) = [c["id"] for c in credentials if c["kind"] == "host"]  # type: ignore[union-attr]
        assert main(["token", "revoke", host_cred, *store]) == 0
        capsys.readouterr()
        hosted += list(agent_output)
        assert agent.wait(remaining()) == 2, "".join(hosted)
        stopped = [h for h in hosted if "host token refused" in h]
        assert len(stopped) == 1 and "401" in stopped[0], "".join(hosted)
    finally:
        if agent is not None:
            _stop(agent)
        _stop(server)
    assert server.returncode == 0, "".join(said)


def test_plain_http_beyond_loopback_warns_at_every_start(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    argv = ["serve", "--host", "0.0.0.0", "--port", str(free_port()), "--no-access-log"]
    server = _child([*argv, "--data-dir", str(tmp_path / "control")], environment)
    said: list[str] = []
    try:
        _until(_output(server), "control plane on http://0.0.0.0:", said)
    finally:
        _stop(server)
    warning = [s for s in said if s.startswith("WARNING: plain HTTP on 0.0.0.0")]
    assert len(warning) == 1 and "--tls auto" in warning[0], said
