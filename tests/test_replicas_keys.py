"""The shared key directory: created owner-only, refused when others can read it or it is
incomplete; rotation adds keys (a new KEK wraps, the older still unwrap until `keys rewrap`;
older result and log keys stay published); and the CLI answers bad input with one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from control_helpers import control_plane, database_url
from elsewhere.cli import main
from elsewhere.control.broker.secrets import open_secrets, put_secret, sealed_secrets
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.keys.directory import init_keys, load_keys, rotate_kek, rotate_signing
from elsewhere.control.store.tables import secrets as secrets_table
from elsewhere.control.store.transactions import read, write
from elsewhere.control.tenancy.tenants import create_tenant
from elsewhere.errors import ConfigError
from elsewhere.host.client import Client

__all__ = ["database_url"]


def test_init_writes_owner_only_files_and_refuses_a_second_init(tmp_path: Path) -> None:
    keys = init_keys(tmp_path / "keys")
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    for entry in (tmp_path / "keys").iterdir():
        assert entry.stat().st_mode & 0o777 == 0o600, entry
    assert len(keys.keks) == len(keys.result_signers) == len(keys.ledger_keys) == 1
    with pytest.raises(ConfigError, match="already holds keys"):
        init_keys(tmp_path / "keys")


def test_a_readable_directory_or_key_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    init_keys(directory)
    directory.chmod(0o750)
    with pytest.raises(ConfigError, match="chmod 700"):
        load_keys(directory)
    directory.chmod(0o700)
    (directory / "kek.0001").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_keys(directory)
    (directory / "kek.0001").chmod(0o600)
    (directory / "ear.0001.pem").unlink()
    with pytest.raises(ConfigError, match="no ear key"):
        load_keys(directory)
    with pytest.raises(ConfigError, match="not found"):
        load_keys(tmp_path / "absent")


def test_a_damaged_key_is_one_line(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    init_keys(directory)
    (directory / "kek.0001").write_bytes(b"short")
    with pytest.raises(ConfigError, match="expected 32"):
        load_keys(directory)
    (directory / "kek.0001").write_bytes(os.urandom(32))
    (directory / "ear.0001.pem").write_bytes(b"not a pem")
    with pytest.raises(ConfigError, match="not a PEM private key"):
        load_keys(directory)


def test_rotated_kek_wraps_new_secrets_and_older_ones_unwrap_until_rewrapped(
    tmp_path: Path, database_url: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "keys"
    first = init_keys(directory)
    url = database_url or f"sqlite:///{tmp_path / 'cp.db'}"
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path / "a", url, keys_dir=directory))
    with write(cp.engine) as conn:
        tenant = create_tenant(conn, "acme").id
        put_secret(conn, cp.kek, tenant, "old", b"under-the-first-kek")
    cp.close()
    second = rotate_kek(directory)
    assert second.kek.id != first.kek.id and len(second.keks) == 2
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path / "b", url, keys_dir=directory))
    try:
        with write(cp.engine) as conn:
            put_secret(conn, cp.kek, tenant, "new", b"under-the-second")
        with read(cp.engine) as conn:
            rows = sealed_secrets(conn, tenant, ["old", "new"])
            kinds = dict(conn.execute(select(secrets_table.c.name, secrets_table.c.kek_id)).all())
        assert kinds == {"old": first.kek.id, "new": second.kek.id}
        values = {"old": b"under-the-first-kek", "new": b"under-the-second"}
        assert open_secrets(cp.kek, rows, ["old", "new"]) == values
        # the first KEK alone cannot open the new one: rotation really changed the key
        with pytest.raises(Exception, match="another key-encryption key"):
            open_secrets(first.kek, rows, ["new"])
    finally:
        cp.close()
    args = ["keys", "rewrap", str(directory), "--data-dir", str(tmp_path / "c")]
    assert main([*args, "--database", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rewrapped"] == 1
    # Rewrapped: the second KEK alone (the first file deleted) opens both.
    (directory / "kek.0001").unlink()
    alone = load_keys(directory)
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path / "d", url, keys_dir=directory))
    try:
        with read(cp.engine) as conn:
            rows = sealed_secrets(conn, tenant, ["old", "new"])
        assert open_secrets(alone.kek, rows, ["old", "new"]) == values
    finally:
        cp.close()


def test_rotated_signing_keys_stay_published(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    first = init_keys(directory)
    rotated = rotate_signing(directory)
    assert rotated.result_signer.kid != first.result_signer.kid
    with control_plane(tmp_path, keys_dir=directory) as env:
        jwks = Client(env.url, "none").json("GET", "/.well-known/jwks.json")["keys"]
        assert [k["kid"] for k in jwks] == [rotated.result_signer.kid, first.result_signer.kid]
        tenant = env.tenant()
        # One vkey per line, the current one first: the text `--key` reads as it is.
        listing = tenant.request("GET", "/v1/ledger/key")
        assert listing.headers["content-type"].startswith("text/plain")
        assert listing.text == "".join(k + "\n" for k in rotated.ledger_verifiers())
        assert tenant.ledger_keys()[1] == first.ledger_verifiers()[0]
        ready = Client(env.url, "none").json("GET", "/readyz")
        assert ready["ready"] and ready["keys"]["result_signing"] == rotated.result_signer.kid


def test_cli_keys_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "show", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]
    assert main(["keys", "init", str(tmp_path / "k")]) == 0
    out = capsys.readouterr().out
    assert "kek:" in out and "BEGIN" not in out  # ids only, never a key
    assert main(["keys", "rotate-kek", str(tmp_path / "k"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["keks"] == 2
    assert main(["keys", "init", str(tmp_path / "k")]) == 2
    assert "already holds keys" in capsys.readouterr().err
