"""Crash consistency for real: SIGKILL a process in the middle of a stream of appends, then
reopen. No acknowledged entry is lost, there is no gap, and the next checkpoint is
consistent with every checkpoint signed before the crash."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from elsewhere.ledger import merkle
from elsewhere.ledger.checkpoint import SignedCheckpoint, open_checkpoint
from elsewhere.ledger.keyfile import create_key_file
from elsewhere.ledger.log import Ledger
from ledger_support import database
from waits import lines, remaining

ORIGIN = "example.com/crash-test"
WORKER = Path(__file__).with_name("ledger_crash_worker.py")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as value:
        yield value


def _run_and_kill(
    url: str, key: Path, seed: int, acks_before_kill: int
) -> tuple[dict[int, tuple[int, int]], list[bytes]]:
    """Start a worker, SIGKILL it after it acknowledged `acks_before_kill` entries."""
    process = subprocess.Popen(
        [sys.executable, str(WORKER), url, str(key), ORIGIN, str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acked: dict[int, tuple[int, int]] = {}
    checkpoints: list[bytes] = []
    assert process.stdout is not None
    try:
        # Read the worker's own acknowledgements as they come (EOF: it died by itself).
        for line in lines(process.stdout):
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "ack":
                index, worker_seed, sequence = map(int, rest.split())
                acked[index] = (worker_seed, sequence)
            elif kind == "checkpoint":
                checkpoints.append(json.loads(rest).encode())
            if len(acked) >= acks_before_kill:
                break
    finally:
        os.kill(process.pid, signal.SIGKILL)  # mid-append: it never stops between batches
        process.wait(remaining())
        assert process.stderr is not None
        errors = process.stderr.read()
    assert process.returncode == -signal.SIGKILL, errors
    assert len(acked) >= acks_before_kill, f"worker acknowledged only {len(acked)}: {errors}"
    return acked, checkpoints


def test_sigkill_mid_append_loses_nothing_acknowledged(url: str, tmp_path: Path) -> None:
    key = tmp_path / "signing.key"
    verifier = create_key_file(key, ORIGIN).verifier
    Ledger.open(url, key, ORIGIN).close()
    rng = random.Random(20261126)
    all_acked: dict[int, tuple[int, int]] = {}
    signed: list[SignedCheckpoint] = []
    for round_number in range(3):
        acked, checkpoints = _run_and_kill(url, key, round_number, rng.randint(150, 600))
        assert not set(acked) & set(all_acked), "an index was handed out twice"
        all_acked.update(acked)
        signed.extend(open_checkpoint(c, verifier) for c in checkpoints)

        ledger = Ledger.open(url, key, ORIGIN)
        size = ledger.size
        assert size >= max(all_acked) + 1
        for index, (worker_seed, sequence) in all_acked.items():
            assert ledger.entry(index) == {"kind": "crash", "seed": worker_seed, "seq": sequence}
        assert ledger.audit() == size  # every entry 0..size-1 present, hashes and root agree
        latest = ledger.checkpoint()
        assert latest.size == size
        for earlier in signed + ledger.checkpoints():
            assert earlier.size <= size
            if earlier.size:
                proof = ledger.consistency_proof(earlier.size, size)
                merkle.verify_consistency(earlier.size, size, earlier.root, latest.root, proof)
        signed.append(latest)
        ledger.close()
    assert len(all_acked) >= 450
