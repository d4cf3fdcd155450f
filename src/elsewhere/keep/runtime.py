"""Run one WebAssembly (WASI preview 1) command module in a keep, under limits.

The flow is the trust flow: copy the module bytes into memory the caller cannot change, check
their SHA-384 against the digest the evidence binds, validate, then run it in the keep's own
process (keep/child.py, forked by keep/launcher.py), which checks the digest again, compiles *there*
(never a precompiled artefact: wasmtime does not verify those, and a mapped file can be
rewritten under a running instance), instantiates with WASI and nothing else, runs `_start`.

The guest gets only what `KeepConfig` lists: argv, env, stdin, stdout/stderr captured in
memory up to a cap, and its secrets as read-only files under `/secrets`; and one host call,
`elsewhere.vault_read`, which this side answers with the `vault` reader it was given, in a
thread of its own (the deadlines still hold while the control plane answers). No network, no
other directory, no host environment.

Why a process: an epoch interrupt (the wall-time deadline, a host's stop) only traps a guest
that executes Wasm; one blocked in a WASI call (`poll_oneoff` for an hour) would hold the
thread, the agent's capacity and its secrets. So this side asks first (the keep's own epoch
timer, a stop message) and kills the process `KILL_GRACE_S` after the wall-time limit or the
stop. The scratch directory with the secrets is made and removed here, whatever the child does.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import threading
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection
from pathlib import Path

from elsewhere.keep.child import config_to_wire
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.launcher import launcher
from elsewhere.keep.limits import KILL_GRACE_S, KeepLimits
from elsewhere.keep.result import (
    InvalidModule,
    KeepError,
    KeepResult,
    WorkloadRefused,
    one_line,
)
from elsewhere.keep.sandbox import WASM_MAGIC, check_module, keep_engine
from elsewhere.keep.scratch import Scratch
from elsewhere.keep.stop import KeepStop
from elsewhere.keep.vault import VaultAnswer, VaultReader, no_vault

__all__ = [
    "WASM_MAGIC",
    "InvalidModule",
    "KeepError",
    "KeepResult",
    "WorkloadRefused",
    "check_module",
    "keep_engine",
    "one_line",
    "run_module",
]


def run_module(
    module_bytes: bytes,
    config: KeepConfig,
    *,
    stdin: bytes = b"",
    secrets: Mapping[str, bytes] | None = None,
    stop: KeepStop | None = None,
    vault: VaultReader = no_vault,
) -> KeepResult:
    """Check `module_bytes` and run it in a keep process as `config` says; return how it
    ended. `stop` lets another thread end the run early (outcome "stopped"); `vault`
    answers the guest's `elsewhere.vault_read` (keep/vault.py).

    `secrets` maps each name in `config.secret_names` to its plaintext (already opened with
    the keep key). Raises WorkloadRefused on digest mismatch, InvalidModule for bytes that
    are not valid Wasm or not a WASI command, KeepError for unusable inputs; anything the
    guest does (traps, limits, exit codes, being killed) is reported in the KeepResult.
    """
    limits = config.limits
    secrets = dict(secrets or {})
    if sorted(secrets) != sorted(config.secret_names):
        raise KeepError(
            f"secrets given {sorted(secrets)} differ from the config's {list(config.secret_names)}"
        )
    if len(stdin) > limits.max_stdin_bytes:
        raise KeepError(f"stdin of {len(stdin)} bytes exceeds the {limits.max_stdin_bytes} limit")
    data = check_module(module_bytes, config.workload_digest, limits)
    stop = stop or KeepStop()
    if stop.reason is not None:  # withdrawn before it started: never start it
        return _ended(config, "stopped", f"stopped by the host: {stop.reason}", 0.0, killed=False)
    with Scratch() as scratch:
        scratch.stage(stdin, secrets, limits)
        return _Supervisor(data, config, scratch.root, stop, vault).run()


def _ended(
    config: KeepConfig, outcome: str, trap: str, wall_time: float, *, killed: bool
) -> KeepResult:
    """A result the host side writes itself: the keep said nothing (killed, crashed)."""
    return KeepResult(
        outcome=outcome,
        exit_code=None,
        stdout=b"",
        stderr=b"",
        stdout_total=0,
        stderr_total=0,
        fuel_consumed=None,
        wall_time_s=wall_time,
        compile_time_s=0.0,
        trap=trap,
        workload_digest=config.workload_digest.hex(),
        killed=killed,
    )


def _wake(fd: int) -> None:
    os.write(fd, b"!")  # the supervisor's select sees it and handles the stop in its thread


def _kill(pidfd: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has already ended
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)


class _Supervisor:
    """One keep process: start it, feed it, watch its answers, its deadline and the stop."""

    def __init__(
        self, data: bytes, config: KeepConfig, root: Path, stop: KeepStop, vault: VaultReader
    ) -> None:
        self.data, self.config, self.root, self.stop = data, config, root, stop
        self.vault = vault
        self.sending = threading.Lock()  # the watcher and the vault answers both send
        self.limits: KeepLimits = config.limits
        self.running_at: float | None = None
        self.deadline: float | None = None  # when the process is killed
        self.why = ""  # what the deadline is for: "wall-time" or "stopped"
        self.stop_sent = False

    def run(self) -> KeepResult:
        conn, pidfd = launcher().fork()
        wake_r, wake_w = os.pipe()
        try:
            header = {"root": str(self.root), "config": config_to_wire(self.config)}
            self._send(conn, json.dumps(header).encode())
            self._send(conn, self.data)
            self.stop.attach(lambda: _wake(wake_w))
            return self._watch(conn, pidfd, wake_r)
        finally:
            self.stop.detach()
            _kill(pidfd)  # a no-op when it already ended; then wait until it has
            select.select([pidfd], [], [])
            conn.close()
            for fd in (pidfd, wake_r, wake_w):
                os.close(fd)

    def _send(self, conn: Connection, payload: bytes) -> None:
        with self.sending, contextlib.suppress(OSError):
            conn.send_bytes(payload)  # OSError: the process is gone; its exit shows on the pipe

    def _vault_read(self, conn: Connection, subject: str, purpose: str) -> None:
        try:
            answer = self.vault(subject, purpose)
        except Exception as error:
            answer = VaultAnswer(unavailable=one_line(str(error)) or type(error).__name__)
        self._send(conn, json.dumps({"vault_answer": answer.to_json()}).encode())

    def _watch(self, conn: Connection, pidfd: int, wake: int) -> KeepResult:
        while True:
            timeout = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            ready, _, _ = select.select([conn.fileno(), wake], [], [], timeout)
            if wake in ready:
                os.read(wake, 64)
                self._stop_asked(conn)
            if conn.fileno() in ready:
                try:
                    message = conn.recv_bytes()
                except (EOFError, OSError):
                    return self._crashed()
                answer = self._answer(conn, message)
                if answer is not None:
                    return answer
            if self.deadline is not None and time.monotonic() >= self.deadline:
                _kill(pidfd)
                return self._killed()

    def _stop_asked(self, conn: Connection) -> None:
        if self.stop_sent:
            return
        self.stop_sent = True
        self._send(conn, json.dumps({"stop": self.stop.reason}).encode())
        self._arm(time.monotonic() + KILL_GRACE_S, "stopped")

    def _arm(self, when: float, why: str) -> None:
        if self.deadline is None or when < self.deadline:
            self.deadline, self.why = when, why

    def _answer(self, conn: Connection, message: bytes) -> KeepResult | None:
        try:
            doc = json.loads(message)
        except ValueError:
            raise KeepError("the keep's process answered with something other than JSON") from None
        asked = doc.get("vault")
        if isinstance(asked, dict):
            threading.Thread(
                target=self._vault_read,
                args=(conn, str(asked.get("subject")), str(asked.get("purpose"))),
                daemon=True,
            ).start()
            return None
        if doc.get("event") == "running":
            self.running_at = time.monotonic()
            self.stop.started.set()
            if self.limits.wall_time_s is not None:
                self._arm(self.running_at + self.limits.wall_time_s + KILL_GRACE_S, "wall-time")
            return None
        if "result" in doc:
            return KeepResult.from_json(doc["result"])
        if "error" in doc:
            kind, why = doc["error"], str(doc.get("message", ""))
            if kind == "refused":
                raise WorkloadRefused(why)
            if kind == "invalid-module":
                raise InvalidModule(why)
            raise KeepError(f"the keep could not run the workload: {why}")
        raise KeepError("the keep's process sent an answer this host does not know")

    def _elapsed(self) -> float:
        return 0.0 if self.running_at is None else time.monotonic() - self.running_at

    def _killed(self) -> KeepResult:
        if self.why == "stopped":
            trap = (
                f"stopped by the host: {self.stop.reason} (process killed: the guest did not "
                f"return to the sandbox within {KILL_GRACE_S:g} s)"
            )
            return _ended(self.config, "stopped", trap, self._elapsed(), killed=True)
        trap = (
            f"killed after {self._elapsed():.1f} s: the guest did not return to the sandbox "
            f"within {KILL_GRACE_S:g} s of its {self.limits.wall_time_s:g} s wall-time limit "
            "(blocked in a host call)"
        )
        return _ended(self.config, "wall-time-exceeded", trap, self._elapsed(), killed=True)

    def _crashed(self) -> KeepResult:
        trap = "the keep's process ended without a result"
        return _ended(self.config, "crashed", trap, self._elapsed(), killed=False)
