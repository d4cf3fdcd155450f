"""Replicas started together on one fresh PostgreSQL database migrate it once: the others
wait for the first and find the schema current (found by the fault campaign, bench/faults.py:
three replicas started at once failed on a duplicate `alembic_version` type)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from control_helpers import postgres_database
from elsewhere.db import make_engine
from elsewhere.db.current import missing_heads
from waits import remaining

pytestmark = pytest.mark.postgres

# Each child imports first, then waits for the go line: the migrations start together.
CHILD = "import sys; from elsewhere.db import upgrade; sys.stdin.readline(); upgrade(sys.argv[1])"


def test_replicas_migrating_one_fresh_database_at_once_all_succeed() -> None:
    with postgres_database() as url:
        children = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, url],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        failures = []
        for child in children:
            _, err = child.communicate(timeout=remaining())
            if child.returncode != 0:
                failures.append(err.strip().splitlines()[-1:] or [f"exit {child.returncode}"])
        assert failures == []
        engine = make_engine(url)
        with engine.connect() as conn:
            assert missing_heads(conn) == []
        engine.dispose()
