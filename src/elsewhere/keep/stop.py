"""A request, from another thread, that a running keep stop now.

The host agent asks it when the control plane withdraws a placement whose keep is running
(evicted by a re-check, a drain period over, the deployment stopped). The keep's engine has
epoch interruption on and the guest's deadline one epoch ahead, so one `increment_epoch` —
which wasmtime allows from any thread — traps the guest at its next loop back-edge or call.
"""

from __future__ import annotations

import threading

import wasmtime


class KeepStop:
    """`stop(reason)` any time: before the keep starts (it stops at its first instruction),
    while it runs, or after it ended (nothing happens). The first reason is kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: wasmtime.Engine | None = None
        self.reason: str | None = None

    def stop(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            if self._engine is not None:
                self._engine.increment_epoch()

    def attach(self, engine: wasmtime.Engine) -> None:
        """Called by the keep once the guest's epoch deadline is set, before it runs."""
        with self._lock:
            self._engine = engine
            if self.reason is not None:
                engine.increment_epoch()

    def detach(self) -> None:
        with self._lock:
            self._engine = None
