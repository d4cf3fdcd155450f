"""A replica paused (SIGSTOP) inside a transaction must not stall the others for as long as
the pause lasts: PostgreSQL ends its session once it has been idle in the transaction for
IDLE_IN_TRANSACTION_MS, which releases its row locks (found by bench/faults.py: with the
lease holder paused, no replica could take the lease or append to the ledger until it woke)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from control_helpers import postgres_database
from elsewhere.control.scheduling.leases import SCHEDULER, hold
from elsewhere.control.store.transactions import IDLE_IN_TRANSACTION_MS, open_engine, write
from elsewhere.db import upgrade
from waits import lines

pytestmark = pytest.mark.postgres

# Takes the scheduler lease for half a second inside a transaction it never ends.
HOLDER = """
import sys, time
from elsewhere.control.scheduling.leases import SCHEDULER, hold
from elsewhere.control.store.transactions import open_engine, write
with write(open_engine(sys.argv[1])) as conn:
    assert hold(conn, SCHEDULER, "paused", seconds=0.5)
    print("held", flush=True)
    time.sleep(3600)
"""


def test_a_paused_lease_holder_loses_its_locks_and_the_lease_is_taken() -> None:
    with postgres_database() as url:
        upgrade(url)
        child = subprocess.Popen(
            [sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True
        )
        engine = open_engine(url)
        try:
            assert child.stdout is not None
            assert next(lines(child.stdout)).strip() == "held"
            os.kill(child.pid, signal.SIGSTOP)
            paused = time.monotonic()
            # Blocks on the paused holder's row lock until its session is ended; without the
            # idle-in-transaction timeout it waits out the statement timeout (15 s) and fails.
            with write(engine) as conn:
                taken = hold(conn, SCHEDULER, "taker")
            waited = time.monotonic() - paused
            assert taken
            assert waited < IDLE_IN_TRANSACTION_MS / 1000 + 5, f"waited {waited:.1f} s"
        finally:
            engine.dispose()
            child.send_signal(signal.SIGKILL)
            child.wait()
