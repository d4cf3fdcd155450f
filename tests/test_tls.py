"""TLS and how clients connect (#15 items 1, 6): the development CA of `serve --tls auto`,
profiles, token files, the refusal of plain HTTP beyond loopback, network failures as one line
with their own exit code, the head deadline over TLS, and a revoked host token ending the agent."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from pathlib import Path

import pytest

from control_helpers import control_plane
from elsewhere.cli import main
from elsewhere.cli.connect import INSECURE_FLAG
from elsewhere.cli.exitcodes import EXIT_BAD_INPUT, EXIT_NETWORK
from elsewhere.control.http import deadlines
from elsewhere.control.store.transactions import write
from elsewhere.control.tenancy.auth import Kind, list_credentials, revoke_credential
from elsewhere.crypto.devtls import auto_tls
from elsewhere.errors import ConfigError, Unauthenticated
from elsewhere.host.agent import HostAgent
from elsewhere.host.client import Client
from waits import remaining, wait_for


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def token_file(tmp: Path, token: str, name: str = "token") -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def test_auto_tls_issues_once_and_reuses(tmp_path: Path) -> None:
    first = auto_tls(tmp_path, "127.0.0.1")
    assert first.created_ca and first.issued
    assert (tmp_path / "ca.key").stat().st_mode & 0o077 == 0
    assert first.server.key.stat().st_mode & 0o077 == 0
    ca, cert = first.ca.read_bytes(), first.server.cert.read_bytes()
    again = auto_tls(tmp_path, "127.0.0.1")
    assert not again.created_ca and not again.issued
    assert again.ca.read_bytes() == ca and again.server.cert.read_bytes() == cert
    # Another listen name: a new server certificate from the same CA.
    other = auto_tls(tmp_path, "control.example.test")
    assert not other.created_ca and other.issued and other.ca.read_bytes() == ca
    context = ssl.create_default_context(cafile=str(other.ca))
    context.load_cert_chain(other.server.cert, other.server.key)  # a matching pair
    (tmp_path / "ca.key").write_bytes(b"damaged")
    with pytest.raises(ConfigError, match="development CA"):
        auto_tls(tmp_path, "127.0.0.1")


def test_a_client_without_the_ca_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path, tls=True) as env:
        assert env.url.startswith("https://") and env.ca is not None
        tokens = token_file(tmp_path, env.token(Kind.TENANT, "acme"))
        base = ("deployment", "list", "--control", env.url, "--token-file", str(tokens))
        code, out, err = run(capsys, *base)
        assert code == EXIT_NETWORK and out == ""
        assert err == (
            f"elsewhere: control plane at {env.url} unreachable: "
            "TLS certificate not trusted — give --ca\n"
        )
        code, out, err = run(capsys, *base, "--ca", str(env.ca), "--json")
        assert code == 0 and json.loads(out) == [], err
        # Plain HTTP to a TLS port: the reason, not a class name.
        code, _, err = run(capsys, *base[:3], env.url.replace("https:", "http:"), *base[4:])
        assert code == EXIT_NETWORK and "does it serve https://?" in err
        assert err.count("\n") == 1 and "Error" not in err


def test_network_failures_have_their_own_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    for url, why in (
        (f"https://127.0.0.1:{port}", "connection refused"),
        ("https://no-such-host.invalid:8443", "name not resolved"),
    ):
        code, _, err = run(capsys, "deployment", "list", "--control", url, "--token", "t")
        assert (code, err) == (
            EXIT_NETWORK,
            f"elsewhere: control plane at {url} unreachable: {why}\n",
        )


def test_plain_http_beyond_loopback_is_refused_unless_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "http://control.example.test:8080"
    code, out, err = run(capsys, "deployment", "list", "--control", url, "--token", "t")
    assert code == EXIT_BAD_INPUT and out == "" and err.count("\n") == 1
    assert url in err and "--insecure-http" in err and "in clear" in err
    code, _, err = run(
        capsys, "deployment", "list", "--control", url, "--token", "t", "--insecure-http"
    )
    assert code == EXIT_NETWORK and "plain HTTP" in err  # tried (and no such name)


def _own_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_insecure_http_flags_every_output_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    address = _own_address()
    if address is None:
        pytest.skip("no non-loopback address on this machine")
    from elsewhere.control.serve.server import ThreadedServer

    with control_plane(tmp_path) as env:
        server = ThreadedServer(env.cp, host="0.0.0.0").start(timeout=remaining())
        try:
            url = f"http://{address}:{server.port}"
            tenant = env.token(Kind.TENANT, "acme")
            wasm = tmp_path / "m.wasm"
            from control_helpers import greeter_wasm

            wasm.write_bytes(greeter_wasm())
            argv = ("--control", url, "--token", tenant, "--insecure-http")
            code, out, err = run(capsys, "workload", "upload", str(wasm), *argv)
            assert code == 0, err
            lines = out.splitlines()
            assert lines and all(line.startswith(INSECURE_FLAG) for line in lines), out
            assert "WARNING: plain HTTP" in err
            code, out, err = run(capsys, "workload", "list", *argv, "--json")
            assert code == 0 and json.loads(out)[0]["name"] == "m.wasm"  # JSON stays JSON
            assert "WARNING: plain HTTP" in err
        finally:
            server.stop()


def _write_config(tmp: Path, text: str) -> Path:
    path = tmp / "xdg" / "elsewhere" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_profile_gives_url_ca_and_token_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("ELSEWHERE_CONTROL", "ELSEWHERE_TOKEN", "ELSEWHERE_TOKEN_FILE", "ELSEWHERE_CA"):
        monkeypatch.delenv(name, raising=False)
    with control_plane(tmp_path, tls=True) as env:
        token_file(tmp_path / "xdg" / "elsewhere", env.token(Kind.TENANT, "acme"), "acme.token")
        config = _write_config(
            tmp_path,
            f'[profiles.acme]\nurl = "{env.url}"\nca = "{env.ca}"\ntoken_file = "acme.token"\n',
        )
        code, out, err = run(capsys, "deployment", "list", "--profile", "acme", "--json")
        assert code == 0 and json.loads(out) == [], err
        monkeypatch.setenv("ELSEWHERE_PROFILE", "acme")
        assert run(capsys, "workload", "list", "--json")[0] == 0
        # A token file others may read is refused, naming it.
        (config.parent / "acme.token").chmod(0o644)
        code, _, err = run(capsys, "workload", "list")
        assert code == EXIT_BAD_INPUT and "acme.token" in err and "chmod 600" in err

        for text, where in (
            ("[profiles.acme\n", "not TOML"),
            ('[profiles.acme]\nurl = "x"\npassword = "p"\n', "profiles.acme.password"),
            ("[profiles.acme]\nurl = 3\n", "profiles.acme.url: expected a non-empty string"),
            ('[profiles.other]\nurl = "https://x"\n', "no such profile (have: other)"),
        ):
            _write_config(tmp_path, text)
            code, _, err = run(capsys, "workload", "list")
            assert code == EXIT_BAD_INPUT and err.count("\n") == 1, err
            assert str(config) in err and where in err, err


def test_the_head_deadline_holds_over_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The TLS layer sits below HeadDeadline: a client that completes the handshake and then
    sends nothing is still answered 408 and closed."""
    monkeypatch.setattr(deadlines, "HEAD_SECONDS", 0.5)
    with control_plane(tmp_path, tls=True) as env:
        assert env.ca is not None
        context = ssl.create_default_context(cafile=str(env.ca))
        port = int(env.url.rsplit(":", 1)[1])
        with (
            socket.create_connection(("127.0.0.1", port), timeout=remaining()) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
        ):
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"request head not received within 0.5 s" in answer


def test_a_revoked_host_token_stops_the_agent(tmp_path: Path) -> None:
    with control_plane(tmp_path, tls=True) as env:
        token = env.token(Kind.HOST, "genoa")
        agent = HostAgent(
            Client(env.url, token, verify=env.verify),
            env.attester("emulated-snp", "genoa", generation="Genoa"),
            name="genoa",
        )
        agent.register()
        failures: list[BaseException] = []

        def loop() -> None:
            try:
                agent.run(0.05)
            except Unauthenticated as error:
                failures.append(error)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        with write(env.cp.engine) as conn:
            (cred,) = [r["id"] for r in list_credentials(conn) if r["kind"] == Kind.HOST.value]
            revoke_credential(conn, cred)
        wait_for(lambda: not thread.is_alive())
        agent.stop()
        (failure,) = failures
        assert "host token refused" in str(failure) and "401" in str(failure)
