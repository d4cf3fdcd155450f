"""Run one WebAssembly (WASI preview 1) command module in a keep, under limits.

The flow is the trust flow: copy the module bytes into memory the caller cannot change, check
their SHA-384 against the digest the evidence binds, validate, compile *here* (never load a
precompiled artefact: wasmtime does not verify those, and a mapped file can be rewritten
under a running instance), instantiate with WASI and nothing else, run `_start`.

The guest gets only what `KeepConfig` lists: argv, env, stdin, stdout/stderr captured in
memory up to a cap, and its secrets as read-only files under `/secrets`. No network, no other
directory, no host environment. Limits: linear memory (Store.set_limits), fuel
(Config.consume_fuel) and a wall-time deadline (Config.epoch_interruption + a timer thread;
calls into Wasm release the GIL so the timer runs). The same epoch lets the host stop a keep
early (`KeepStop`, keep/stop.py) when the control plane withdraws its placement.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import wasmtime

from elsewhere.errors import EXIT_REFUSED, ElsewhereError, ParseError
from elsewhere.keep.config import SECRETS_GUEST_DIR, KeepConfig, check_secret_name
from elsewhere.keep.limits import KeepLimits
from elsewhere.keep.stop import KeepStop

WASM_MAGIC: Final = b"\0asm"


class KeepError(ElsewhereError):
    """The keep could not run the workload as asked."""


class WorkloadRefused(KeepError):
    """The module is not the workload the evidence binds (digest mismatch)."""

    exit_code = EXIT_REFUSED


class InvalidModule(ParseError):
    """Bytes that are not a valid WebAssembly command module."""

    def __init__(self, why: str) -> None:
        super().__init__("wasm module", "", why)


def one_line(message: str) -> str:
    """wasmtime messages carry a backtrace; keep the cause (after 'Caused by:') on one line."""
    text = str(message)
    if "Caused by:" in text:
        text = text.split("Caused by:", 1)[1]
    parts = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(parts) or "unknown error"


@dataclass(frozen=True)
class KeepResult:
    """How one run ended.

    `outcome`: "exited" (returned or proc_exit; see `exit_code`), "trapped",
    "fuel-exhausted", "wall-time-exceeded", "stopped" (by the host, `KeepStop`) or
    "instantiation-failed" (e.g. memory minimum above the limit, imports other than WASI).
    `exit_code` is None unless exited.
    """

    outcome: str
    exit_code: int | None
    stdout: bytes
    stderr: bytes
    stdout_total: int
    stderr_total: int
    fuel_consumed: int | None
    wall_time_s: float
    compile_time_s: float
    trap: str | None
    workload_digest: str

    @property
    def ok(self) -> bool:
        return self.outcome == "exited" and self.exit_code == 0

    @property
    def truncated(self) -> bool:
        return self.stdout_total > len(self.stdout) or self.stderr_total > len(self.stderr)

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "stdout_b64": base64.b64encode(self.stdout).decode(),
            "stderr_b64": base64.b64encode(self.stderr).decode(),
            "stdout_total": self.stdout_total,
            "stderr_total": self.stderr_total,
            "fuel_consumed": self.fuel_consumed,
            "wall_time_s": round(self.wall_time_s, 6),
            "compile_time_s": round(self.compile_time_s, 6),
            "trap": self.trap,
            "workload_digest": self.workload_digest,
        }


class _Capped:
    """An output sink keeping the first `cap` bytes and counting the rest."""

    def __init__(self, cap: int) -> None:
        self.cap, self.total, self.data = cap, 0, bytearray()

    def __call__(self, chunk: bytes) -> int:
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.total += len(chunk)
        return len(chunk)


def keep_engine(limits: KeepLimits) -> wasmtime.Engine:
    """A fresh wasmtime engine configured for these limits (fuel metering, epochs)."""
    config = wasmtime.Config()
    # Config.cache stays off (its default): no compiled code on host-writable storage.
    config.consume_fuel = limits.fuel is not None
    config.epoch_interruption = True  # the wall-time deadline, and a stop from the host
    return wasmtime.Engine(config)


def check_module(
    module_bytes: bytes,
    expected_digest: bytes,
    limits: KeepLimits,
    engine: wasmtime.Engine | None = None,
) -> bytes:
    """Copy, size-check, digest-check and validate module bytes; return the private copy."""
    data = bytes(module_bytes)  # a private copy: the caller's buffer could change after hashing
    if len(data) > limits.max_module_bytes:
        raise InvalidModule(f"{len(data)} bytes exceeds the {limits.max_module_bytes}-byte limit")
    found = hashlib.sha384(data).digest()
    if not hmac.compare_digest(found, expected_digest):
        raise WorkloadRefused(
            f"workload digest mismatch: module is sha384:{found.hex()[:16]}…, "
            f"the keep was asked to run sha384:{expected_digest.hex()[:16]}…"
        )
    if not data.startswith(WASM_MAGIC):
        raise InvalidModule("not a binary WebAssembly module (no \\0asm magic); compile WAT first")
    try:
        wasmtime.Module.validate(engine or keep_engine(limits), data)
    except wasmtime.WasmtimeError as error:
        raise InvalidModule(one_line(str(error))) from None
    return data


def _stage_secrets(root: Path, secrets: Mapping[str, bytes], limits: KeepLimits) -> Path:
    folder = root / "secrets"
    folder.mkdir(mode=0o700)
    for name, value in secrets.items():
        check_secret_name(name)
        if len(value) > limits.max_secret_bytes:
            raise KeepError(f"secret {name!r} of {len(value)} bytes exceeds the limit")
        fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as out:
            out.write(value)
    return folder


def _scratch_base() -> str | None:
    # In a confidential VM, /dev/shm is guest memory (encrypted by the TEE), not host disk.
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def run_module(
    module_bytes: bytes,
    config: KeepConfig,
    *,
    stdin: bytes = b"",
    secrets: Mapping[str, bytes] | None = None,
    stop: KeepStop | None = None,
) -> KeepResult:
    """Check, compile and run `module_bytes` as `config` says; return how it ended.
    `stop` lets another thread end the run early (outcome "stopped").

    `secrets` maps each name in `config.secret_names` to its plaintext (already opened with
    the keep key). Raises WorkloadRefused on digest mismatch, InvalidModule for bytes that
    are not valid Wasm or not a WASI command, KeepError for unusable inputs; anything the
    guest does (traps, limits, exit codes) is reported in the KeepResult instead.
    """
    limits = config.limits
    secrets = dict(secrets or {})
    if sorted(secrets) != sorted(config.secret_names):
        raise KeepError(
            f"secrets given {sorted(secrets)} differ from the config's {list(config.secret_names)}"
        )
    if len(stdin) > limits.max_stdin_bytes:
        raise KeepError(f"stdin of {len(stdin)} bytes exceeds the {limits.max_stdin_bytes} limit")
    engine = keep_engine(limits)
    data = check_module(module_bytes, config.workload_digest, limits, engine)
    started = time.perf_counter()
    module = wasmtime.Module(engine, data)
    compile_time = time.perf_counter() - started
    if "_start" not in {export.name for export in module.exports}:
        raise InvalidModule("exports no _start function (not a WASI command module)")

    root = Path(tempfile.mkdtemp(prefix="elsewhere-keep-", dir=_scratch_base()))
    try:
        stdin_path = root / "stdin"
        stdin_path.write_bytes(stdin)
        wasi = wasmtime.WasiConfig()
        wasi.argv = [config.program_name, *config.args]
        wasi.env = [[name, value] for name, value in config.env.items()]
        wasi.stdin_file = str(stdin_path)
        out, err = _Capped(limits.max_output_bytes), _Capped(limits.max_output_bytes)
        released = [_released(out), _released(err)]
        wasi.stdout_custom = out
        wasi.stderr_custom = err
        del out, err  # wasmtime holds the sinks now; _run reads them through the store
        if config.secret_names:
            folder = _stage_secrets(root, secrets, limits)
            wasi.preopen_dir(str(folder), SECRETS_GUEST_DIR, False)
        result = _run(engine, module, wasi, limits, compile_time, config, released, stop)
        # wasmtime-py 50 frees output callbacks on a runtime thread after the store closes; if
        # the process exits first that thread panics. Wait (briefly) until they are freed.
        for event, _ in released:
            event.wait(1.0)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _drop_traceback(error: BaseException) -> None:
    # wasmtime-py's raising frame holds the exception, and the exception's traceback holds
    # our frame: a cycle that would keep the output sinks alive until the next gc.
    error.__traceback__ = None


def _released(sink: _Capped) -> tuple[threading.Event, weakref.ReferenceType[_Capped]]:
    event = threading.Event()
    weakref.finalize(sink, event.set)
    return event, weakref.ref(sink)


def _run(
    engine: wasmtime.Engine,
    module: wasmtime.Module,
    wasi: wasmtime.WasiConfig,
    limits: KeepLimits,
    compile_time: float,
    config: KeepConfig,
    released: list[tuple[threading.Event, weakref.ReferenceType[_Capped]]],
    stop: KeepStop | None,
) -> KeepResult:
    store = wasmtime.Store(engine)
    try:
        sinks = [ref() for _, ref in released]
        out, err = (sink if sink is not None else _Capped(0) for sink in sinks)
        return _execute(store, engine, module, wasi, limits, out, err, compile_time, config, stop)
    finally:
        if stop is not None:
            stop.detach()
        # Free the store (and the WASI output callbacks it owns) now: left to interpreter
        # shutdown, wasmtime-py 50 finalises the callbacks from a runtime thread and panics.
        store.close()


def _execute(
    store: wasmtime.Store,
    engine: wasmtime.Engine,
    module: wasmtime.Module,
    wasi: wasmtime.WasiConfig,
    limits: KeepLimits,
    out: _Capped,
    err: _Capped,
    compile_time: float,
    config: KeepConfig,
    stop: KeepStop | None,
) -> KeepResult:
    store.set_wasi(wasi)
    store.set_limits(
        memory_size=limits.memory_bytes,
        table_elements=limits.table_elements,
        instances=limits.instances,
        tables=limits.tables,
        memories=limits.memories,
    )
    if limits.fuel is not None:
        store.set_fuel(limits.fuel)
    store.set_epoch_deadline(1)  # the next epoch: the timer's, or a stop's
    timer: threading.Timer | None = None
    if limits.wall_time_s is not None:
        timer = threading.Timer(limits.wall_time_s, engine.increment_epoch)
        timer.daemon = True
    if stop is not None:
        stop.attach(engine)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()  # WASI preview 1 only: no sockets, no other host functions

    outcome, exit_code, trap = "exited", None, None
    started = time.perf_counter()
    try:
        instance = linker.instantiate(store, module)
    except wasmtime.WasmtimeError as error:
        outcome, trap = "instantiation-failed", one_line(str(error))
        _drop_traceback(error)
    else:
        start = instance.exports(store)["_start"]
        if timer is not None:
            timer.start()
        try:
            start(store)  # type: ignore[operator]
            exit_code = 0
        except wasmtime.ExitTrap as error:
            exit_code = error.code
            _drop_traceback(error)
        except wasmtime.Trap as error:
            trap = one_line(str(error))
            code = error.trap_code
            _drop_traceback(error)
            if code == wasmtime.TrapCode.OUT_OF_FUEL:
                outcome = "fuel-exhausted"
            elif code == wasmtime.TrapCode.INTERRUPT and stop is not None and stop.reason:
                outcome, trap = "stopped", f"stopped by the host: {stop.reason}"
            elif code == wasmtime.TrapCode.INTERRUPT:
                outcome, trap = "wall-time-exceeded", f"stopped after {limits.wall_time_s} s"
            else:
                outcome = "trapped"
        except wasmtime.WasmtimeError as error:
            outcome, trap = "trapped", one_line(str(error))
            _drop_traceback(error)
        finally:
            if timer is not None:
                timer.cancel()
                if timer.is_alive():
                    timer.join()
    wall_time = time.perf_counter() - started
    fuel = limits.fuel - store.get_fuel() if limits.fuel is not None else None
    return KeepResult(
        outcome=outcome,
        exit_code=exit_code,
        stdout=bytes(out.data),
        stderr=bytes(err.data),
        stdout_total=out.total,
        stderr_total=err.total,
        fuel_consumed=fuel,
        wall_time_s=wall_time,
        compile_time_s=compile_time,
        trap=trap,
        workload_digest=config.workload_digest.hex(),
    )
