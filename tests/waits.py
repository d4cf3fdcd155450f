"""Waiting in tests without racing a wall clock (issue #13, item 7).

A test waits on the event it needs (a line on a pipe, a server answering, a file, a state it
can read), never on a short deadline or a sleep. Each test has ONE generous outer timeout,
`OUTER_TIMEOUT` seconds from its start (conftest.py starts the clock), shared by every wait in
it: a genuine hang still fails, with a one-line reason, while a slow, loaded machine does not.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, TypeVar

# Generous: the slowest multi-process test takes ~5 s on a quiet 2-core machine, ~20 s with
# both cores busy and 70 s at a load average of 11; one that has not finished its waits in
# 240 s is hung, not slow. (pytest-timeout's 300 s in pyproject.toml stays the backstop.)
OUTER_TIMEOUT = 240.0

T = TypeVar("T")
_deadline: list[float] = []  # the running test's deadline (monotonic), set by conftest.py


def start_clock() -> None:
    """Start the running test's outer timeout (conftest.py does this before each test)."""
    _deadline[:] = [time.monotonic() + OUTER_TIMEOUT]


def remaining() -> float:
    """Seconds left of the running test's outer timeout; AssertionError once it is spent."""
    if not _deadline:
        start_clock()  # outside pytest (a helper run by hand): the clock starts now
    left = _deadline[0] - time.monotonic()
    if left <= 0:
        raise AssertionError(f"test still waiting after its outer timeout ({OUTER_TIMEOUT:.0f} s)")
    return left


def wait_for(check: Callable[[], T], every: float = 0.02) -> T:
    """Call `check` until it returns something truthy, and return that. It reads real state
    (a row, an HTTP answer, a file): the only deadline is the test's outer timeout."""
    while True:
        value = check()
        if value:
            return value
        time.sleep(min(every, remaining()))


def lines(stream: IO[str]) -> Iterator[str]:
    """The lines of a child's pipe as they arrive, until it closes (EOF); a child that stops
    writing without closing fails the test at the outer timeout instead of blocking it."""
    arrived: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        try:
            for line in stream:
                arrived.put(line)
        except ValueError:  # the test closed the pipe (a killed child): nothing more comes
            pass
        finally:
            arrived.put(None)

    threading.Thread(target=pump, daemon=True).start()
    while True:
        try:
            line = arrived.get(timeout=remaining())
        except queue.Empty:
            raise AssertionError(
                f"no line from the child within the outer timeout ({OUTER_TIMEOUT:.0f} s)"
            ) from None
        if line is None:
            return
        yield line


def join(thread: threading.Thread) -> None:
    """Wait for `thread` to end, within the outer timeout."""
    thread.join(remaining())
    assert not thread.is_alive(), f"thread {thread.name} still running at the outer timeout"
