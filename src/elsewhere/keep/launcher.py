"""The keep launcher: one small process per host agent (`python -m elsewhere.keep.launcher`)
that has imported the keep's code and forks one keep process per run.

Why not start `python` per keep: an interpreter plus wasmtime costs ~100 ms of CPU before
any work; a fork of this already-initialised, single-threaded process costs a few ms. Why
not multiprocessing's forkserver: it re-runs the parent's `__main__` module in each child.
The launcher holds nothing of the agent's memory (it was exec'd fresh), so no keep inherits
keys or another keep's data.

Protocol on the launcher's stdin (a Unix socket): the host side sends one byte with one file
descriptor (SCM_RIGHTS), its end of a fresh socket pair for the keep; the launcher forks, the
child runs `elsewhere.keep.child.serve` on it, and the launcher answers with one byte and a
pidfd of the child, so the host side can kill exactly that process (no pid reuse race) and
see its exit. Children are reaped by the kernel (SIGCHLD ignored). End of input: the agent is
gone, the launcher exits; its keeps see their own sockets close and clean up.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from typing import Final

from elsewhere.keep.child import serve
from elsewhere.keep.result import KeepError

_REQUEST: Final = b"k"


def _serve_forever(control: socket.socket) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps: no zombies, no waits
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the agent's to handle
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1, 1)
        except OSError:
            return
        if not message:
            return
        if not fds:
            continue
        pid = os.fork()
        if pid == 0:
            control.close()
            serve(Connection(fds[0]))  # never returns: os._exit
        os.close(fds[0])
        pidfd = os.pidfd_open(pid)
        try:
            socket.send_fds(control, [_REQUEST], [pidfd])
        finally:
            os.close(pidfd)


class Launcher:
    """The host side's handle on one launcher process, shared by the agent's keep threads."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._lock = threading.Lock()
        self._control = ours
        with theirs:
            self._process = _start(theirs)

    @property
    def gone(self) -> bool:
        return self._process.poll() is not None

    def fork(self) -> tuple[Connection, int]:
        """A new keep process: our end of its pipe, and its pidfd (the caller closes both)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with theirs, self._lock:
            try:
                socket.send_fds(self._control, [_REQUEST], [theirs.fileno()])
                message, fds, _, _ = socket.recv_fds(self._control, 1, 1)
            except OSError as error:
                ours.close()
                raise KeepError(f"the keep launcher is gone: {error}") from None
        if message != _REQUEST or len(fds) != 1:
            ours.close()
            for fd in fds:
                os.close(fd)
            raise KeepError("the keep launcher did not start a keep")
        return Connection(ours.detach()), fds[0]


def _start(theirs: socket.socket) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "elsewhere.keep.launcher"],
        stdin=theirs.fileno(),
        start_new_session=True,  # a terminal's Ctrl-C is the agent's, not the keeps'
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
    )


_shared: Launcher | None = None
_shared_lock = threading.Lock()


def launcher() -> Launcher:
    """This process's launcher, started on first use (and again if it died)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.gone:
            _shared = Launcher()
        return _shared


if __name__ == "__main__":
    _serve_forever(socket.socket(fileno=0))
    os._exit(0)
