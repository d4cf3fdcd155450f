"""The wasmtime sandbox itself: one WASI preview 1 command module, run under limits, in the
calling process. Only the keep's own process (keep/child.py) calls `run_staged`; the host
side goes through `elsewhere.keep.runtime.run_module`, which runs it in that process and
kills it when the guest does not stop in time.

Limits: linear memory (Store.set_limits), fuel (Config.consume_fuel) and a wall-time
deadline (Config.epoch_interruption + a timer thread; calls into Wasm release the GIL so the
timer runs). The same epoch serves a stop from the host (`KeepStop`). An epoch interrupt
only traps a guest that is executing Wasm: one blocked in a WASI call (`poll_oneoff`, a read)
does not see it, so the process around it is what the host kills.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Final

import wasmtime

from elsewhere.keep.config import SECRETS_GUEST_DIR, KeepConfig
from elsewhere.keep.limits import KeepLimits
from elsewhere.keep.result import InvalidModule, KeepResult, WorkloadRefused, one_line
from elsewhere.keep.stop import KeepStop
from elsewhere.keep.vault import VaultCalls, VaultReader, no_vault

WASM_MAGIC: Final = b"\0asm"


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


def compile_module(engine: wasmtime.Engine, data: bytes) -> tuple[wasmtime.Module, float]:
    """Compile (in this process, never from an artefact) and require a `_start` export."""
    started = time.perf_counter()
    try:
        module = wasmtime.Module(engine, data)
    except wasmtime.WasmtimeError as error:
        raise InvalidModule(one_line(str(error))) from None
    compile_time = time.perf_counter() - started
    if "_start" not in {export.name for export in module.exports}:
        raise InvalidModule("exports no _start function (not a WASI command module)")
    return module, compile_time


def run_staged(
    data: bytes,
    config: KeepConfig,
    root: Path,
    *,
    stop: KeepStop | None = None,
    on_start: Callable[[], None] | None = None,
    vault: VaultReader = no_vault,
) -> KeepResult:
    """Compile and run `data` (already checked) with stdin and secrets staged in `root`
    (keep/scratch.py); `on_start` is called just before `_start` runs; `vault` answers the
    guest's `elsewhere.vault_read` (keep/vault.py)."""
    limits = config.limits
    engine = keep_engine(limits)
    found = hashlib.sha384(data).digest()
    if not hmac.compare_digest(found, config.workload_digest):  # the keep checks for itself
        raise WorkloadRefused("workload digest mismatch inside the keep")
    module, compile_time = compile_module(engine, data)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [config.program_name, *config.args]
    wasi.env = [[name, value] for name, value in config.env.items()]
    wasi.stdin_file = str(root / "stdin")
    out, err = _Capped(limits.max_output_bytes), _Capped(limits.max_output_bytes)
    released = [_released(out), _released(err)]
    wasi.stdout_custom = out
    wasi.stderr_custom = err
    del out, err  # wasmtime holds the sinks now; _run reads them through the store
    if config.secret_names:
        wasi.preopen_dir(str(root / "secrets"), SECRETS_GUEST_DIR, False)
    calls = VaultCalls(vault)
    result = _run(
        engine, module, wasi, limits, compile_time, config, released, stop, on_start, calls
    )
    # wasmtime-py 50 frees output callbacks on a runtime thread after the store closes; if
    # the process exits first that thread panics. Wait (briefly) until they are freed.
    for event, _ in released:
        event.wait(1.0)
    return result


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
    on_start: Callable[[], None] | None,
    calls: VaultCalls,
) -> KeepResult:
    store = wasmtime.Store(engine)
    try:
        sinks = [ref() for _, ref in released]
        out, err = (sink if sink is not None else _Capped(0) for sink in sinks)
        return _execute(
            store,
            engine,
            module,
            wasi,
            limits,
            (out, err),
            compile_time,
            config,
            stop,
            on_start,
            calls,
        )
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
    sinks: tuple[_Capped, _Capped],
    compile_time: float,
    config: KeepConfig,
    stop: KeepStop | None,
    on_start: Callable[[], None] | None,
    calls: VaultCalls,
) -> KeepResult:
    out, err = sinks
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
        stop.attach(engine.increment_epoch)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()  # WASI preview 1: no sockets
    calls.define(linker)  # and the one host call of our own: elsewhere.vault_read

    outcome, exit_code, trap = "exited", None, None
    started = time.perf_counter()
    try:
        instance = linker.instantiate(store, module)
    except wasmtime.WasmtimeError as error:
        outcome, trap = "instantiation-failed", one_line(str(error))
        _drop_traceback(error)
    else:
        start = instance.exports(store)["_start"]
        if on_start is not None:
            on_start()
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
