"""The keep's own process: `python -m elsewhere.keep.child`, started by `run_module`
(keep/runtime.py) for each run, so the host side can kill a guest that does not stop.

Wire protocol, over the child's stdin and stdout (both pipes to the host side only):

- in: one JSON line `{"root": scratch dir, "module_len": n, "config": {...}}`, then the n
  module bytes; afterwards any number of `{"stop": reason}` lines. End of input means the
  host side is gone: the keep removes its scratch directory (its secrets) and exits at once.
- out: `{"event": "running"}` just before `_start` runs (the host's wall-time clock starts),
  then one of `{"result": KeepResult JSON}` or `{"error": kind, "message": ...}`.

Secrets and stdin do not cross the pipe: the host side stages them in the scratch directory
(keep/scratch.py). The guest's output is captured in memory and only leaves in the result.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import IO, Any, Final

from elsewhere.errors import ElsewhereError
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.limits import KeepLimits
from elsewhere.keep.result import InvalidModule, KeepError, WorkloadRefused
from elsewhere.keep.sandbox import run_staged
from elsewhere.keep.stop import KeepStop

MAX_HEADER: Final = 1 << 24  # args, env and limits; the module follows as raw bytes
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
    """JSON lines to the host side, from the main thread and the stop watcher alike."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out, self._lock = out, threading.Lock()

    def send(self, doc: dict[str, Any]) -> None:
        with self._lock:
            self._out.write(json.dumps(doc).encode() + b"\n")
            self._out.flush()


def _watch(source: IO[bytes], stop: KeepStop, root: Path) -> None:
    for line in source:
        try:
            reason = json.loads(line).get("stop")
        except (ValueError, AttributeError):
            continue
        if reason is not None:
            stop.stop(str(reason))
    # The host side is gone (killed, crashed): nothing it staged may outlive it.
    shutil.rmtree(root, ignore_errors=True)
    os._exit(EXIT_ORPHANED)


def main() -> int:
    # Ctrl-C and the agent's own signals are the host side's to handle; it ends this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = _Channel(os.fdopen(os.dup(1), "wb"))
    # fd 1 goes nowhere: nothing but the channel may write to the host side's pipe.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    source = sys.stdin.buffer
    try:
        header = json.loads(source.readline(MAX_HEADER))
        data = source.read(int(header["module_len"]))
        config = config_from_wire(header["config"])
        root = Path(header["root"])
    except (ValueError, KeyError, TypeError, ElsewhereError) as error:
        channel.send({"error": "input", "message": f"keep request: {type(error).__name__}"})
        return 2
    stop = KeepStop()
    threading.Thread(target=_watch, args=(source, stop, root), daemon=True).start()
    try:
        result = run_staged(
            data, config, root, stop=stop, on_start=lambda: channel.send({"event": "running"})
        )
    except ElsewhereError as error:
        kind, message = error_kind(error)
        channel.send({"error": kind, "message": message})
    else:
        channel.send({"result": result.to_json()})
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Not a normal interpreter exit: the stop watcher is blocked reading stdin, and
    # wasmtime's runtime threads must not be finalised by interpreter shutdown.
    os._exit(code)
