"""The keep's own process, forked for each run by the keep launcher (keep/launcher.py), which
has only imported this module: a process that holds nothing of the agent's memory (no keys,
no other keep's data), cheap to start, and one the host side (keep/runtime.py) can kill
when its guest does not stop.

Protocol, messages (`multiprocessing.connection`) over one Unix socket pair that only the
two ends hold:

- in: a JSON message `{"root": scratch dir, "config": {...}}`, then the module bytes;
  afterwards any number of `{"stop": reason}`. The pipe closing means the host side is gone:
  the keep removes its scratch directory (its secrets) and exits at once.
- out: `{"event": "running"}` just before `_start` runs (the host's wall-time clock starts),
  then one of `{"result": KeepResult JSON}` or `{"error": kind, "message": ...}`.
- the guest's `elsewhere.vault_read` (keep/vault.py): out `{"vault": {"subject", "purpose"}}`,
  in `{"vault_answer": VaultAnswer JSON}`; the guest waits in the host call meanwhile.

Secrets and stdin do not cross the pipe: the host side stages them in the scratch directory
(keep/scratch.py). The guest's output is captured in memory and only leaves in the result.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final, NoReturn

from elsewhere.errors import ElsewhereError
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.limits import KeepLimits
from elsewhere.keep.result import InvalidModule, KeepError, WorkloadRefused
from elsewhere.keep.sandbox import run_staged
from elsewhere.keep.stop import KeepStop
from elsewhere.keep.vault import VaultAnswer

EXIT_ORPHANED: Final = 3


def config_to_wire(config: KeepConfig) -> dict[str, Any]:
    """Everything the keep needs, env values included (the pipe is private to the two)."""
    return {
        "workload_digest": config.workload_digest.hex(),
        "args": list(config.args),
        "env": [[name, value] for name, value in config.env.items()],
        "limits": config.limits.to_json(),
        "secret_names": list(config.secret_names),
        "attester_kind": config.attester_kind,
        "program_name": config.program_name,
    }


def config_from_wire(doc: dict[str, Any]) -> KeepConfig:
    return KeepConfig(
        workload_digest=bytes.fromhex(doc["workload_digest"]),
        args=tuple(doc["args"]),
        env={str(name): str(value) for name, value in doc["env"]},
        limits=KeepLimits.from_json(doc["limits"]),
        secret_names=tuple(doc["secret_names"]),
        attester_kind=str(doc["attester_kind"]),
        program_name=str(doc["program_name"]),
    )


def error_kind(error: ElsewhereError) -> tuple[str, str]:
    if isinstance(error, WorkloadRefused):
        return "refused", error.message
    if isinstance(error, InvalidModule):
        return "invalid-module", error.why
    if isinstance(error, KeepError):
        return "keep", error.message
    return "input", error.message


class _Channel:
    """Messages to the host side, from the main thread and the stop watcher alike."""

    def __init__(self, conn: Connection) -> None:
        self._conn, self._lock = conn, threading.Lock()

    def send(self, doc: dict[str, Any]) -> None:
        with self._lock:
            self._conn.send_bytes(json.dumps(doc).encode())


def _orphaned(root: Path | None) -> NoReturn:
    # The host side is gone (killed, crashed): nothing it staged may outlive it.
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)
    os._exit(EXIT_ORPHANED)


def _watch(
    conn: Connection, stop: KeepStop, root: Path, answers: queue.SimpleQueue[VaultAnswer]
) -> None:
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            _orphaned(root)
        try:
            doc = json.loads(message)
            reason = doc.get("stop")
            if "vault_answer" in doc:
                answers.put(VaultAnswer.from_json(doc["vault_answer"]))
        except (ValueError, AttributeError, TypeError):
            continue
        if reason is not None:
            stop.stop(str(reason))


class _VaultPipe:
    """`elsewhere.vault_read` from inside the keep: asked of the host side over the pipe."""

    def __init__(self, channel: _Channel) -> None:
        self.channel = channel
        self.answers: queue.SimpleQueue[VaultAnswer] = queue.SimpleQueue()

    def __call__(self, subject: str, purpose: str) -> VaultAnswer:
        self.channel.send({"vault": {"subject": subject, "purpose": purpose}})
        # No timeout of our own: the host side's wall-time deadline kills this process.
        return self.answers.get()


def serve(conn: Connection) -> None:
    """The keep process's main: one run, then `os._exit` (no interpreter shutdown: the
    stop watcher is blocked reading, and wasmtime's runtime threads must not be finalised)."""
    # Ctrl-C and the agent's own signals are the host side's to handle; it ends this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = _Channel(conn)
    try:
        header = json.loads(conn.recv_bytes())
        data = conn.recv_bytes()
        config = config_from_wire(header["config"])
        root = Path(header["root"])
    except (EOFError, OSError):
        _orphaned(None)
    except (ValueError, KeyError, TypeError, ElsewhereError) as error:
        channel.send({"error": "input", "message": f"keep request: {type(error).__name__}"})
        os._exit(2)
    stop = KeepStop()
    vault = _VaultPipe(channel)
    threading.Thread(target=_watch, args=(conn, stop, root, vault.answers), daemon=True).start()
    try:
        result = run_staged(
            data,
            config,
            root,
            stop=stop,
            on_start=lambda: channel.send({"event": "running"}),
            vault=vault,
        )
    except ElsewhereError as error:
        kind, message = error_kind(error)
        channel.send({"error": kind, "message": message})
    else:
        channel.send({"result": result.to_json()})
    os._exit(0)
