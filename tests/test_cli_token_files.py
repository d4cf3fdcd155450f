"""What a new user hit following the README (#15, item 8): a new token written to a 0600 file
(`--token-file`) instead of copied from the terminal onto a command line, refused before it is
made when the file exists; an unregistered host told which command registers it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from control_helpers import control_plane
from elsewhere.cli import main
from elsewhere.control.store.transactions import read
from elsewhere.control.tenancy.auth import Kind, authenticate
from elsewhere.host.client import ApiFailure, Client


def _kind_of(data_dir: Path, token: str) -> str:
    from elsewhere.control.config import ControlConfig, ControlPlane

    cp = ControlPlane.open(ControlConfig.for_dir(data_dir))
    try:
        with read(cp.engine) as conn:
            credential = authenticate(conn, token)
    finally:
        cp.close()
    assert credential is not None, "the token in the file is not a live credential"
    return str(credential.kind.value)


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["tenant", "create", "acme"], "tenant"),
        (["host-token", "create", "--name", "h1"], "host"),
        (["operator-token", "create"], "operator"),
    ],
)
def test_a_new_token_goes_to_a_private_file_and_nowhere_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], kind: str
) -> None:
    store, path = ["--data-dir", str(tmp_path / "cp")], tmp_path / "it.token"
    assert main([*argv, "--token-file", str(path), *store]) == 0
    token = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token.startswith("ew") and token not in capsys.readouterr().out
    assert _kind_of(tmp_path / "cp", token) == kind


def test_an_existing_token_file_is_refused_before_a_token_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, path = ["--data-dir", str(tmp_path / "cp")], tmp_path / "acme.token"
    path.write_text("keep me\n")
    assert main(["tenant", "create", "acme", "--token-file", str(path), *store]) == 2
    err = capsys.readouterr().err
    assert err == f"elsewhere: --token-file: {path}: exists; refusing to overwrite\n"
    assert path.read_text() == "keep me\n"
    # No tenant was made with a token nobody could read.
    assert main(["tenant", "list", "--json", *store]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_json_names_the_token_file_instead_of_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, path = ["--data-dir", str(tmp_path / "cp")], tmp_path / "h.token"
    assert main(["host-token", "create", "--token-file", str(path), "--json", *store]) == 0
    assert json.loads(capsys.readouterr().out) == {"name": "host", "token_file": str(path)}


def test_an_unregistered_host_is_told_the_command_that_registers_it(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        host = Client(env.url, env.token(Kind.HOST, "h"))
        with host, pytest.raises(ApiFailure) as refused:
            host.assignments()
    assert refused.value.status == 400
    assert "start `elsewhere host` with this token" in str(refused.value)
