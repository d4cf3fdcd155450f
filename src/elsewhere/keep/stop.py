"""A request, from another thread, that a running keep stop now.

The host agent asks it when the control plane withdraws a placement whose keep is running
(evicted by a re-check, a drain period over, the deployment stopped) or when the agent
itself shuts down. Whoever runs the keep attaches what a stop must do: on the host side
(keep/runtime.py) wake the supervisor, which tells the keep's process and kills it if it has
not ended within the grace period; inside the keep's process (keep/sandbox.py) an
`increment_epoch`, which traps a computing guest at its next loop back-edge or call (but not
one blocked in a WASI call: that is why the host side kills).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class KeepStop:
    """`stop(reason)` any time: before the keep starts (it does not start), while it runs,
    or after it ended (nothing happens). The first reason is kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._action: Callable[[], None] | None = None
        self.reason: str | None = None
        self.started = threading.Event()  # set when the guest's `_start` begins

    def stop(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            if self._action is not None:
                self._action()

    def attach(self, action: Callable[[], None]) -> None:
        """Called by the keep's runner before it runs: `action` ends the run (called at once
        when a stop was already asked)."""
        with self._lock:
            self._action = action
            if self.reason is not None:
                action()

    def detach(self) -> None:
        with self._lock:
            self._action = None
