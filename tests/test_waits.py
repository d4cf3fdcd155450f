"""The test suite's one way to wait (tests/waits.py): on the event itself, with one outer
timeout per test, so a slow machine is not a failure and a hang still is."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

import waits
from waits import OUTER_TIMEOUT, join, lines, remaining, wait_for


def _expire_soon(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.3) -> None:
    """This test's outer timeout, cut to `seconds` from now (the real one is OUTER_TIMEOUT)."""
    monkeypatch.setattr(waits, "_deadline", [time.monotonic() + seconds])


def test_each_test_starts_with_the_whole_outer_timeout() -> None:
    assert OUTER_TIMEOUT / 2 < remaining() <= OUTER_TIMEOUT


def test_wait_for_returns_the_first_truthy_answer() -> None:
    answers = iter([None, 0, "", "ready", "later"])
    assert wait_for(lambda: next(answers), every=0.001) == "ready"


def test_a_wait_past_the_outer_timeout_fails_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _expire_soon(monkeypatch)
    with pytest.raises(AssertionError, match=r"^test still waiting after its outer timeout"):
        wait_for(lambda: False)
    with pytest.raises(AssertionError) as again:
        remaining()  # every later wait in the test fails at once: the timeout is shared
    assert "\n" not in str(again.value)


def test_lines_arrive_as_written_and_end_at_eof() -> None:
    code = "import sys\nfor word in ('one', 'two'): print(word, flush=True)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert [line.strip() for line in lines(child.stdout)] == ["one", "two"]
    assert child.wait(remaining()) == 0


def test_a_child_that_stops_writing_fails_the_read_at_the_outer_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A blocking readline would hang the suite here; the read fails instead."""
    code = "import time\nprint('started', flush=True)\ntime.sleep(600)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    try:
        stream = lines(child.stdout)
        assert next(stream).strip() == "started"
        _expire_soon(monkeypatch)
        with pytest.raises(AssertionError, match="outer timeout"):
            next(stream)
    finally:
        child.kill()
        child.wait()


def test_join_fails_on_a_thread_still_running_at_the_outer_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, name="stuck", daemon=True)
    stuck.start()
    try:
        _expire_soon(monkeypatch, 0.2)
        with pytest.raises(AssertionError, match="outer timeout"):
            join(stuck)
    finally:
        release.set()
