"""`elsewhere ledger fetch|prove|monitor --log http://…` against a live control plane (real
uvicorn on loopback, SQLite and PostgreSQL) with nothing but the log's public key: the whole
log downloaded and checked, an entry proved from the tiles, growth accepted, a tampered tile,
entry or checkpoint refused, a fork (two checkpoints of one size) caught as a split view, and
checkpoints signed by the control plane itself, after a deploy and after each committed batch,
never by hand."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from control_helpers import Env, control_plane, database_url, settled
from elsewhere.cli import main
from elsewhere.control.config import LEDGER_KEY_FILE, ControlConfig, ControlPlane
from elsewhere.control.store.commit import Staged
from elsewhere.ledger import merkle
from elsewhere.ledger.canonical import canonical_bytes
from elsewhere.ledger.checkpoint import Checkpoint, sign_checkpoint
from elsewhere.ledger.keyfile import load_key_file
from elsewhere.ledger.note import Signer, Verifier
from elsewhere.ledger.schema import ledger_checkpoints, ledger_entries, ledger_hashes
from waits import wait_for

__all__ = ["database_url"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    old = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(b""))
    try:
        code = main(list(argv))
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


def append(env: Env, count: int, start: int = 0) -> None:
    env.cp.ledger.append_many([{"kind": "test.entry", "n": start + n} for n in range(count)])


def served_size(env: Env) -> int:
    answer = httpx.get(f"{env.url}/v1/ledger/checkpoint")
    return int(answer.content.split(b"\n")[1]) if answer.status_code == 200 else -1


def covered(env: Env, size: int) -> None:
    """Wait until the control plane has signed (by itself) a checkpoint of `size` or more."""
    wait_for(lambda: served_size(env) >= size)


def key_file(env: Env, tmp: Path) -> str:
    path = tmp / "log.vkey"
    path.write_text(httpx.get(f"{env.url}/v1/ledger/key").text)
    return str(path)


def test_fetch_prove_and_monitor_with_only_the_public_key(
    tmp_path: Path, database_url: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path, database_url) as env:
        append(env, 300)
        covered(env, 300)
        key = key_file(env, tmp_path)
        # As after a rotation: a newer key of the same log listed first, not yet signing.
        rotated = Signer.generate(Verifier.parse(Path(key).read_text().strip()).name)
        Path(key).write_text(rotated.verifier.vkey() + "\n" + Path(key).read_text())
        mirror = tmp_path / "mirror"

        code, out, err = run(
            capsys, "ledger", "fetch", "--log", env.url, "--key", key, "-o", str(mirror)
        )
        assert code == 0, err
        assert out.startswith("verified: ") and " size 300: " in out
        assert (mirror / "checkpoint").is_file() and (mirror / "tile/0/001.p/44").is_file()
        assert (mirror / "tile/entries/000").read_bytes()[2:].startswith(b'{"kind":"test.entry"')

        bundle = tmp_path / "entry-299.tlog-proof"
        code, _, err = run(
            capsys, "ledger", "prove", "299", "--log", env.url, "--key", key, "-o", str(bundle)
        )
        assert code == 0, err
        assert "verified: entry 299 (test.entry)" in err
        code, out, err = run(capsys, "ledger", "verify", str(bundle), "--key", key)
        assert code == 0, err
        assert json.loads(out[out.index("{") :])["n"] == 299

        # Without --key the log's own listing is used, and the output says what that means.
        code, out, err = run(capsys, "ledger", "prove", "7", "--log", env.url)
        assert code == 0, err
        assert "own word" in err and out.startswith("c2sp.org/tlog-proof@v1\n")

        state = str(tmp_path / "monitor.json")
        monitor = ["ledger", "monitor", "--log", env.url, "--key", key, "--state", state]
        code, out, err = run(capsys, *monitor)
        assert (code, out.split(":")[0]) == (0, "first"), err
        first_state = Path(state).read_text()
        append(env, 200, start=300)
        covered(env, 500)
        code, out, err = run(capsys, *monitor)
        assert (code, out.split(":")[0]) == (0, "advanced"), err
        assert "300 → 500" in out
        # Two checkpoints someone kept, checked against each other with the log's tiles.
        old, new = tmp_path / "300.checkpoint", tmp_path / "500.checkpoint"
        old.write_text(json.loads(first_state)["checkpoint"])
        new.write_text(json.loads(Path(state).read_text())["checkpoint"])
        consistency = ["ledger", "consistency", str(old), str(new), "--key", key]
        code, out, err = run(capsys, *consistency, "--log", env.url)
        assert code == 0 and "size 300 is a prefix of size 500" in out, err
        code, out, _ = run(capsys, *monitor)
        assert out.startswith("unchanged")

        # Fetched again, the mirror is the same view, and the monitor reads it offline.
        fetch = ["ledger", "fetch", "--log", env.url, "--key", key, "-o", str(mirror)]
        assert run(capsys, *fetch)[0] == 0
        offline = ["ledger", "monitor", "--log", str(mirror), "--key", key, "--state", state]
        code, out, err = run(capsys, *offline)
        assert (code, out.split(":")[0]) == (0, "unchanged"), err


def _tamper(env: Env, statement: object) -> None:
    with env.cp.engine.begin() as conn:
        conn.execute(statement)  # type: ignore[call-overload]


def test_tampered_entry_tile_or_checkpoint_is_refused(
    tmp_path: Path, database_url: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path, database_url) as env:
        append(env, 300)
        covered(env, 300)
        key = key_file(env, tmp_path)
        fetch = ["ledger", "fetch", "--log", env.url, "--key", key]
        assert run(capsys, *fetch)[0] == 0

        # An entry rewritten in the database: its bundle no longer hashes to its tile.
        original = env.cp.ledger.entry_bytes(3)
        forged = canonical_bytes({"kind": "test.entry", "n": 333})
        _tamper(env, update(ledger_entries).where(ledger_entries.c.idx == 3).values(data=forged))
        code, _, err = run(capsys, *fetch)
        assert code == 1 and "entry 3 does not hash" in err and len(err.splitlines()) == 1
        _tamper(env, update(ledger_entries).where(ledger_entries.c.idx == 3).values(data=original))

        # A level-0 tile hash rewritten with the entry to match: the root no longer matches.
        leaf = merkle.stored_index(0, 5)
        with env.cp.engine.connect() as conn:
            kept = conn.execute(select(ledger_hashes.c.hash).where(ledger_hashes.c.id == leaf))
            kept_hash = kept.scalar_one()
        entry5 = env.cp.ledger.entry_bytes(5)
        _tamper(env, update(ledger_entries).where(ledger_entries.c.idx == 5).values(data=forged))
        forged_leaf = merkle.leaf_hash(forged)
        _tamper(
            env, update(ledger_hashes).where(ledger_hashes.c.id == leaf).values(hash=forged_leaf)
        )
        code, _, err = run(capsys, *fetch)
        assert code == 1 and "do not give the root" in err, err
        code, _, err = run(capsys, "ledger", "prove", "5", "--log", env.url, "--key", key)
        assert code == 1, err
        _tamper(env, update(ledger_hashes).where(ledger_hashes.c.id == leaf).values(hash=kept_hash))
        _tamper(env, update(ledger_entries).where(ledger_entries.c.idx == 5).values(data=entry5))
        assert run(capsys, *fetch)[0] == 0  # restored: the same log verifies again

        # A level-1 tile hash rewritten: not the root of the level-0 tile below it.
        node = merkle.stored_index(8, 0)
        _tamper(env, update(ledger_hashes).where(ledger_hashes.c.id == node).values(hash=bytes(32)))
        code, _, err = run(capsys, *fetch)
        assert code == 1 and "tile/1/000.p/1: hash 0 is not the root" in err, err

        # The checkpoint's root changed after signing: its signature fails.
        with env.cp.engine.connect() as conn:
            note = (
                conn.execute(ledger_checkpoints.select().where(ledger_checkpoints.c.size == 300))
                .one()
                .note
            )
        lines = note.split("\n")
        lines[2] = ("B" if lines[2][0] == "A" else "A") + lines[2][1:]  # another root
        _tamper(
            env,
            update(ledger_checkpoints)
            .where(ledger_checkpoints.c.size == 300)
            .values(note="\n".join(lines)),
        )
        code, _, err = run(capsys, *fetch)
        assert code == 1 and "does not verify" in err, err


def test_monitor_catches_two_checkpoints_of_one_size(
    tmp_path: Path, database_url: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path, database_url) as env:
        append(env, 40)
        covered(env, 40)
        key = key_file(env, tmp_path)
        state = tmp_path / "monitor.json"
        monitor = ["ledger", "monitor", "--log", env.url, "--key", key, "--state", str(state)]
        assert run(capsys, *monitor)[0] == 0
        accepted = state.read_text()

        # The log's operator signs another history of the same size with the log's own key
        # and serves that instead: validly signed, so only a monitor with a memory sees it.
        signer = load_key_file(tmp_path / "cp" / LEDGER_KEY_FILE)
        fork = sign_checkpoint(Checkpoint(signer.name, 40, merkle.leaf_hash(b"other")), signer)
        _tamper(
            env,
            update(ledger_checkpoints)
            .where(ledger_checkpoints.c.size == 40)
            .values(note=fork.to_bytes().decode()),
        )
        code, out, err = run(capsys, *monitor)
        assert code == 1
        assert out.startswith("SPLIT VIEW") and "two different root hashes for size 40" in out
        assert len(err.strip().splitlines()) == 1 and "SPLIT VIEW" in err
        assert state.read_text() == accepted  # the monitor keeps the checkpoint it accepted


def test_a_committed_batch_is_signed_without_waiting_for_the_schedule(tmp_path: Path) -> None:
    """The maintenance round is an hour away: only the signal after the commit batch can have
    the lease holder sign this soon."""
    with control_plane(tmp_path, maintenance_interval=3600.0) as env:
        data = canonical_bytes({"kind": "test.entry", "n": 0})
        index = env.cp.committer.run(lambda conn: Staged([data], ["test.entry"], lambda c, i: i))
        covered(env, index + 1)


def test_a_deploy_is_provable_over_http_without_a_hand_signing(
    tmp_path: Path, database_url: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path, database_url) as env:
        env.agent("genoa", generation="Genoa")
        tenant, digest = env.setup_tenant()
        deployment = tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})["id"]
        view = wait_for(settled(tenant, deployment))
        index = next(d for d in view["decisions"] if d["verdict"] == "affirming")["ledger_index"]
        covered(env, index + 1)
        code, _, err = run(
            capsys,
            "ledger",
            "prove",
            str(index),
            "--log",
            env.url,
            "--key",
            f"{env.url}/v1/ledger/key",
            "--wait",
            "0",
        )
        assert code == 0, err
        assert f"verified: entry {index} (attestation.decision)" in err


def test_local_checkpoint_and_prove_find_the_control_planes_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ELSEWHERE_HOME only, `ledger checkpoint` and `ledger prove` use the database and
    the key file `serve` made there (the default --log and the default key are one log's)."""
    home = tmp_path / "home"
    monkeypatch.setenv("ELSEWHERE_HOME", str(home))
    monkeypatch.delenv("ELSEWHERE_LEDGER_URL", raising=False)
    cp = ControlPlane.open(ControlConfig.for_dir(home / "control"))
    try:
        cp.ledger.append_many([{"kind": "test.entry", "n": n} for n in range(3)])
    finally:
        cp.close()
    code, out, err = run(capsys, "ledger", "checkpoint")
    assert code == 0, err
    assert out.split("\n")[1] == "3"
    cp = ControlPlane.open(ControlConfig.for_dir(home / "control"))
    try:
        cp.ledger.append_many([{"kind": "test.entry", "n": 3}])
    finally:
        cp.close()
    code, out, err = run(capsys, "ledger", "prove", "3")  # not covered yet: signed now
    assert code == 0, err
    assert out.startswith("c2sp.org/tlog-proof@v1\n")
