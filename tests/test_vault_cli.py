"""`elsewhere vault …` against a real `elsewhere serve` process on loopback, then the
auditor's scan of what that process left behind: its log, the SQLite file with its WAL and
journal, and a backup — none holds the erased subject's id, plaintext, data key, wrapped key
or record ciphertexts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from elsewhere.cli import main
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.serve.server import free_port
from vault_support import hits, key_material
from waits import remaining, wait_for

SUBJECT = "alice-7f3e19c2"
VALUE = b"ALICE-PLAINTEXT: shoe size 38, 12 Elm Street"


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_put_erase_receipt_and_backup_leave_nothing_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "cp"
    code, out, _ = _cli(capsys, "tenant", "create", "santa", "--data-dir", str(data))
    assert code == 0
    token = re.search(r"ewt_[A-Za-z0-9_-]+", out)
    assert token is not None
    port = free_port()
    log = tmp_path / "server.log"
    env = os.environ | {"ELSEWHERE_VAULT_GRACE_SECONDS": "0"}
    code_text = "from elsewhere.cli import main; raise SystemExit(main())"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                code_text,
                "serve",
                "--data-dir",
                str(data),
                "--port",
                str(port),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up)
        monkeypatch.setenv("ELSEWHERE_CONTROL", url)
        monkeypatch.setenv("ELSEWHERE_TOKEN", token.group(0))
        record = tmp_path / "record.txt"
        record.write_bytes(VALUE)
        code, out, _ = _cli(
            capsys,
            "vault",
            "put",
            SUBJECT,
            str(record),
            "--purpose",
            "gift-matching",
            "--born",
            "2012-05-01",
        )
        assert code == 0 and SUBJECT not in out
        assert (
            _cli(capsys, "vault", "put", "bob", str(record), "--purpose", "gift-matching")[0] == 0
        )
        code, _, err = _cli(
            capsys, "vault", "put", SUBJECT, str(tmp_path / "missing"), "--purpose", "gift-matching"
        )
        assert code == 2 and err.count("\n") == 1
        code, out, _ = _cli(capsys, "vault", "get-meta", SUBJECT)
        meta = json.loads(out)
        assert meta["state"] == "active" and meta["born_on"] == "2012-05-01"

        # What an auditor looks for afterwards, read now with the control plane's keys.
        reader = ControlPlane.open(ControlConfig.for_dir(data), migrate=False)
        try:
            tenant_id = httpx.get(
                url + "/v1/whoami", headers={"Authorization": f"Bearer {token.group(0)}"}
            ).json()["tenant"]
            needles = key_material(reader, tenant_id, meta["subject"])
            vkey = reader.ledger.verifier.vkey()
        finally:
            reader.close()
        needles |= {"plaintext": VALUE[:20], "subject id": SUBJECT.encode()}

        code, out, _ = _cli(capsys, "vault", "erase", SUBJECT)
        assert code == 0 and "erased" in out
        receipt = tmp_path / "receipt.json"
        assert _cli(capsys, "vault", "receipt", "get", SUBJECT, "-o", str(receipt))[0] == 0
        code, out, _ = _cli(
            capsys, "vault", "receipt", "verify", str(receipt), "--key", vkey, "--subject", SUBJECT
        )
        assert code == 0 and "verified" in out
        code, _, err = _cli(
            capsys, "vault", "receipt", "verify", str(receipt), "--key", vkey, "--subject", "bob"
        )
        assert code == 1 and "does not name" in err
        code, _, err = _cli(
            capsys, "vault", "put", SUBJECT, str(record), "--purpose", "gift-matching"
        )
        assert code == 2 and "409" in err and SUBJECT not in err
        backup = tmp_path / "after.backup"
        assert _cli(capsys, "vault", "backup", "-o", str(backup), "--data-dir", str(data))[0] == 0
        code, out, _ = _cli(capsys, "vault", "sweep", "--data-dir", str(data))
        assert code == 0 and out.startswith("sweep:")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=remaining())

    server_log = log.read_bytes()
    assert b"POST /v1/vault/erase" in server_log  # the access log was on, and is scanned
    assert hits(server_log, needles) == []
    files = [p for p in data.iterdir() if p.name.startswith("elsewhere.db")]
    for path in files:
        assert hits(path.read_bytes(), needles) == [], path.name
    assert hits(backup.read_bytes(), needles) == []
