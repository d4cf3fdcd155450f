from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from elsewhere.errors import ConfigError, ParseError
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.limits import GIB, MIB, KeepLimits
from elsewhere.keep.runtime import (
    InvalidModule,
    KeepError,
    KeepResult,
    WorkloadRefused,
    run_module,
)
from elsewhere.keep.stop import KeepStop
from elsewhere.keep.wat import build_wat_file, wat_to_wasm
from waits import OUTER_TIMEOUT, remaining

REPO = Path(__file__).resolve().parent.parent
GREETER_WAT = REPO / "examples" / "workloads" / "secret-greeter.wat"


def fnv1a32(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


@pytest.fixture(scope="module")
def greeter() -> bytes:
    return wat_to_wasm(GREETER_WAT.read_text(), str(GREETER_WAT))


def config_for(module: bytes, **kwargs: object) -> KeepConfig:
    return KeepConfig(workload_digest=hashlib.sha384(module).digest(), **kwargs)  # type: ignore[arg-type]


def run_wat(text: str, limits: KeepLimits | None = None) -> KeepResult:
    module = wat_to_wasm(text)
    config = config_for(module, limits=limits or KeepLimits())
    return run_module(module, config)


def test_greeter_sees_args_env_stdin_and_secret(greeter: bytes) -> None:
    secret = os.urandom(300)
    config = config_for(greeter, env={"GREETING": "Bonjour"}, secret_names=("greeting-key",))
    result = run_module(greeter, config, stdin=b"Ada\n", secrets={"greeting-key": secret})
    assert result.ok, result
    expected = (
        f"Bonjour, Ada! I hold secret greeting-key: 300 bytes, fnv1a32 {fnv1a32(secret):08x}\n"
    )
    assert result.stdout.decode() == expected
    assert result.stderr == b""
    assert result.fuel_consumed is not None and result.fuel_consumed > 300
    assert result.workload_digest == hashlib.sha384(greeter).hexdigest()


def test_greeter_reads_another_secret_named_by_argv(greeter: bytes) -> None:
    config = config_for(
        greeter, args=("db-password",), secret_names=("greeting-key", "db-password")
    )
    secrets = {"greeting-key": b"k", "db-password": b"hunter2"}
    result = run_module(greeter, config, secrets=secrets)
    assert result.stdout.decode().startswith("Hello, stranger! I hold secret db-password: 7 bytes")


def test_host_environment_is_not_visible(greeter: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREETING", "LEAKED")
    config = config_for(greeter, secret_names=("greeting-key",))
    result = run_module(greeter, config, secrets={"greeting-key": b"x"})
    assert result.stdout.startswith(b"Hello, stranger!")


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "/etc/passwd", "../secrets/x"])
def test_no_access_outside_the_preopen(greeter: bytes, path: str) -> None:
    config = config_for(greeter, args=(path,), secret_names=("greeting-key",))
    result = run_module(greeter, config, secrets={"greeting-key": b"x"})
    assert result.exit_code == 2 and result.stdout == b""
    assert b"cannot open secret" in result.stderr


def test_secret_names_cannot_be_paths(greeter: bytes) -> None:
    # A secret name cannot be a path, so a staged file cannot point elsewhere.
    with pytest.raises(ConfigError, match="secret name"):
        config_for(greeter, secret_names=("../etc",))


def test_without_secrets_there_is_no_directory_at_all(greeter: bytes) -> None:
    result = run_module(greeter, config_for(greeter))
    assert result.exit_code == 2
    assert b"(wasi errno 8)" in result.stderr  # EBADF: no fd 3, no preopen


WRITE_INTO_SECRETS = """
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "%s")
  (func (export "_start")
    (call $exit (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const %d)
      (i32.const %d) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 0)))))
"""


@pytest.mark.parametrize(("name", "oflags"), [("new-file", 1), ("greeting-key", 0)])
def test_secrets_directory_is_read_only(name: str, oflags: int) -> None:
    module = wat_to_wasm(WRITE_INTO_SECRETS % (name, len(name), oflags))
    config = config_for(module, secret_names=("greeting-key",))
    result = run_module(module, config, secrets={"greeting-key": b"x"})
    assert result.outcome == "exited"
    assert result.exit_code not in (0, None)  # a WASI errno, not success


GROW = """
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") %d)
  (func (export "_start")
    (if (i32.eq (memory.grow (i32.const %d)) (i32.const -1))
      (then (call $exit (i32.const 3))))))
"""


def test_memory_limit_stops_growth() -> None:
    limits = KeepLimits(memory_bytes=16 * MIB)
    assert run_wat(GROW % (1, 1000), limits).exit_code == 3
    assert run_wat(GROW % (1, 100), limits).exit_code == 0


def test_memory_minimum_above_limit_does_not_start() -> None:
    result = run_wat(GROW % (512, 0), KeepLimits(memory_bytes=16 * MIB))
    assert result.outcome == "instantiation-failed"
    assert result.trap is not None
    assert "memory" in result.trap and "\n" not in result.trap


LOOP = '(module (func (export "_start") (loop $l (br $l))))'


def test_fuel_limit_stops_an_infinite_loop() -> None:
    result = run_wat(LOOP, KeepLimits(fuel=1_000_000, wall_time_s=None))
    assert result.outcome == "fuel-exhausted"
    assert result.fuel_consumed == 1_000_000
    assert result.exit_code is None


def test_wall_time_deadline_stops_an_infinite_loop() -> None:
    started = time.perf_counter()
    result = run_wat(LOOP, KeepLimits(fuel=None, wall_time_s=0.2))
    assert result.outcome == "wall-time-exceeded"
    assert result.fuel_consumed is None
    assert 0.15 < time.perf_counter() - started < OUTER_TIMEOUT  # not before, but it ends


def test_a_stop_from_another_thread_ends_the_run_and_its_secrets() -> None:
    """The host's stop (a withdrawn placement) ends even a run with no meter at all, and the
    staged secrets go with it; a stop asked before the run starts ends it at once."""
    module = wat_to_wasm(LOOP)
    config = config_for(module, limits=KeepLimits(fuel=None, wall_time_s=None), secret_names=("k",))
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    before = set(base.glob("elsewhere-keep-*"))
    stop = KeepStop()
    threading.Timer(0.3, stop.stop, args=("placement withdrawn",)).start()
    started = time.perf_counter()
    result = run_module(module, config, secrets={"k": b"s"}, stop=stop)
    assert result.outcome == "stopped" and result.exit_code is None
    assert result.trap == "stopped by the host: placement withdrawn"
    assert 0.25 < time.perf_counter() - started < OUTER_TIMEOUT  # not before, but it ends
    assert set(base.glob("elsewhere-keep-*")) <= before  # nothing staged is left behind
    early = KeepStop()
    early.stop("already withdrawn")
    early.stop("a second reason is ignored")
    assert run_module(module, config, secrets={"k": b"s"}, stop=early).outcome == "stopped"
    assert early.reason == "already withdrawn"
    late = KeepStop()
    done = run_module(
        wat_to_wasm('(module (func (export "_start")))'),
        config_for(wat_to_wasm('(module (func (export "_start")))')),
        stop=late,
    )
    late.stop("after the end")  # nothing to stop: no error
    assert done.ok


def test_trap_is_reported_on_one_line() -> None:
    result = run_wat('(module (func (export "_start") unreachable))')
    assert result.outcome == "trapped"
    assert result.trap is not None
    assert "unreachable" in result.trap and "\n" not in result.trap


def test_exit_code_from_proc_exit() -> None:
    text = """(module (import "wasi_snapshot_preview1" "proc_exit" (func $e (param i32)))
      (memory (export "memory") 1) (func (export "_start") (call $e (i32.const 42))))"""
    result = run_wat(text)
    assert (result.outcome, result.exit_code) == ("exited", 42)


CHATTY = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\\10\\00\\00\\00\\40\\00\\00\\00")
  (func (export "_start") (local $i i32)
    (loop $l
      (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))))
"""


def test_output_is_capped_and_counted() -> None:
    result = run_wat(CHATTY, KeepLimits(max_output_bytes=100))
    assert len(result.stdout) == 100
    assert result.stdout_total == 64_000
    assert result.truncated


def test_digest_mismatch_is_refused(greeter: bytes) -> None:
    config = KeepConfig(workload_digest=hashlib.sha384(b"another module").digest())
    with pytest.raises(WorkloadRefused, match="digest mismatch") as info:
        run_module(greeter, config)
    assert info.value.exit_code == 1


def test_invalid_wasm_is_refused_with_one_line() -> None:
    for bad in (b"\0asm\x01\0\0\0\x05", b"\0asm\x01\0\0\0\x01\x04\x01\x60\x00", b"not wasm"):
        with pytest.raises(InvalidModule) as info:
            run_module(bad, config_for(bad))
        assert "\n" not in str(info.value)
        assert str(info.value).startswith("wasm module:")


def test_wat_text_is_not_accepted_as_a_module() -> None:
    text = LOOP.encode()
    with pytest.raises(InvalidModule, match="compile WAT first"):
        run_module(text, config_for(text))


def test_module_without_start_is_refused() -> None:
    module = wat_to_wasm("(module)")
    with pytest.raises(InvalidModule, match="_start"):
        run_module(module, config_for(module))


def test_non_wasi_imports_do_not_instantiate() -> None:
    result = run_wat('(module (import "env" "socket" (func)) (func (export "_start")))')
    assert result.outcome == "instantiation-failed"
    assert result.trap is not None and "socket" in result.trap


def test_secrets_must_match_the_config(greeter: bytes) -> None:
    config = config_for(greeter, secret_names=("greeting-key",))
    with pytest.raises(KeepError, match="differ"):
        run_module(greeter, config, secrets={"other": b"x"})
    with pytest.raises(KeepError, match="exceeds"):
        run_module(
            greeter,
            config_for(
                greeter, secret_names=("greeting-key",), limits=KeepLimits(max_secret_bytes=4)
            ),
            secrets={"greeting-key": b"too long"},
        )


def test_scratch_directory_is_removed(greeter: bytes) -> None:
    base = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else None
    before = set(base.glob("elsewhere-keep-*")) if base else set()
    config = config_for(greeter, secret_names=("greeting-key",))
    run_module(greeter, config, secrets={"greeting-key": b"x"})
    if base:
        assert set(base.glob("elsewhere-keep-*")) == before


def test_limits_and_config_validation() -> None:
    with pytest.raises(ConfigError, match="memory_bytes"):
        KeepLimits(memory_bytes=0)
    with pytest.raises(ConfigError, match="wall_time_s"):
        KeepLimits(wall_time_s=-1)
    with pytest.raises(ConfigError, match="nonsense"):
        KeepLimits.from_json({"nonsense": 1})
    for name, too_big in (("fuel", 1 << 63), ("memory_bytes", 4 * GIB + 1), ("tables", 10**30)):
        with pytest.raises(ConfigError, match=f"{name}: .* exceeds the most"):
            KeepLimits.from_json({name: too_big})
    assert KeepLimits.from_json({"fuel": None}).fuel is None
    with pytest.raises(ConfigError, match="workload_digest"):
        KeepConfig(workload_digest=b"short")
    with pytest.raises(ConfigError, match="env"):
        KeepConfig(workload_digest=bytes(48), env={"A=B": "c"})


def test_build_recipe_and_wat_errors(tmp_path: Path) -> None:
    out = build_wat_file(GREETER_WAT, tmp_path / "greeter.wasm")
    assert out.read_bytes().startswith(b"\0asm")
    with pytest.raises(ParseError, match="WAT") as info:
        wat_to_wasm("(module (func (export", "broken.wat")
    assert "\n" not in str(info.value)


def test_short_lived_process_exits_cleanly() -> None:
    # wasmtime-py 50 frees output callbacks on a runtime thread; a process that exits before
    # that panics ("panic in a function that cannot unwind"). run_module waits for the free.
    script = f"""
import hashlib
from elsewhere.keep.limits import KeepLimits
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.runtime import run_module
from elsewhere.keep.wat import wat_to_wasm
for text in ({GREETER_WAT.read_text()!r}, {LOOP!r}):
    module = wat_to_wasm(text)
    digest = hashlib.sha384(module).digest()
    config = KeepConfig(workload_digest=digest, limits=KeepLimits(fuel=10**6))
    print(run_module(module, config).outcome)
"""
    done = subprocess.run(  # a hang (an exit that never comes) fails at the outer timeout
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=remaining(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["exited", "fuel-exhausted"]
    assert "panicked" not in done.stderr


def test_unbounded_recursion_traps_on_stack_overflow() -> None:
    result = run_wat('(module (func $f (export "_start") (call $f)))')
    assert result.outcome == "trapped"
    assert result.trap is not None and "stack" in result.trap


def test_the_largest_limits_are_ones_wasmtime_honours(greeter: bytes) -> None:
    """The maxima KeepLimits allows are not just numbers: a keep runs under all of them."""
    limits = KeepLimits(
        memory_bytes=4 * GIB,
        fuel=(1 << 63) - 1,
        table_elements=(1 << 32) - 1,
        instances=10_000,
        tables=10_000,
        memories=10_000,
    )
    config = config_for(greeter, limits=limits, secret_names=("greeting-key",))
    result = run_module(greeter, config, stdin=b"Ada", secrets={"greeting-key": b"k"})
    assert result.ok, result
