"""Keep benchmark: keep starts per second and HPKE seal+open per second, each beside its floor.

- keep start: `run_module` on the secret-greeter example (digest check, validate, stage a
  secret, start the keep's process, compile, instantiate, run, clean up) against, in the
  same run: the same steps in this process (`sandbox.run_staged`, what a keep start cost
  before keeps got their own process; it cannot kill a guest blocked in a WASI call), and
  the floors on the keep's engine settings (fuel + epochs): wasmtime compile alone, and
  instantiate + run of an already-compiled module with the secret staged once.
- HPKE: seal + open (1 KiB) per suite against the KEM alone: an X25519 key generation +
  exchange pair for DHKEM(X25519) (what seal + open need at least), ML-KEM-768
  encapsulate + decapsulate plus the X25519 pair for the hybrid.

Each figure is the median of 5 timed batches, each operation's batches interleaved with its
floor's so machine load hits both alike. Last line: one JSON object.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import wasmtime
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from elsewhere.crypto.hpke import MLKEM768_X25519, X25519, KeepKey, seal
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.limits import KeepLimits
from elsewhere.keep.runtime import check_module, keep_engine, run_module
from elsewhere.keep.sandbox import run_staged
from elsewhere.keep.scratch import Scratch
from elsewhere.keep.wat import wat_to_wasm

REPO = Path(__file__).resolve().parent.parent
BATCHES = 5


def rates(named: dict[str, Callable[[], object]], budget_s: float = 0.4) -> dict[str, float]:
    """Operations per second for each operation: median over BATCHES rounds, the operations
    interleaved round by round so load changes on the machine hit them alike."""
    sizes = {}
    for label, operation in named.items():
        operation()  # warm up
        started, count = time.perf_counter(), 0
        while time.perf_counter() - started < 0.05:
            operation()
            count += 1
        sizes[label] = max(1, int(budget_s * count / (time.perf_counter() - started)))
    samples: dict[str, list[float]] = {label: [] for label in named}
    for _ in range(BATCHES):
        for label, operation in named.items():
            begin = time.perf_counter()
            for _ in range(sizes[label]):
                operation()
            samples[label].append(sizes[label] / (time.perf_counter() - begin))
    result = {label: statistics.median(values) for label, values in samples.items()}
    for label, value in result.items():
        print(f"{label:<46} {value:>12,.1f} /s   ({1e3 / value:.3f} ms each)")
    return result


def keep_figures() -> dict[str, float]:
    wasm = wat_to_wasm((REPO / "examples" / "workloads" / "secret-greeter.wat").read_text())
    config = KeepConfig(
        workload_digest=hashlib.sha384(wasm).digest(),
        env={"GREETING": "Hello"},
        secret_names=("greeting-key",),
    )
    secret = {"greeting-key": os.urandom(32)}

    def keep_start() -> None:
        result = run_module(wasm, config, stdin=b"bench\n", secrets=secret)
        assert result.ok, result

    def in_process() -> None:
        data = check_module(wasm, config.workload_digest, config.limits)
        with Scratch() as scratch:
            scratch.stage(b"bench\n", secret, KeepLimits())
            result = run_staged(data, config, scratch.root)
        assert result.ok, result

    engine = keep_engine(config.limits)  # the keep's own engine settings (fuel, epochs)
    module = wasmtime.Module(engine, wasm)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    pre = linker.instantiate_pre(module)

    # The floor runs the same workload with the same secret, staged once instead of per run.
    staged = Path(tempfile.mkdtemp(prefix="elsewhere-bench-"))
    (staged / "secrets").mkdir()
    (staged / "secrets" / "greeting-key").write_bytes(secret["greeting-key"])
    (staged / "stdin").write_bytes(b"bench\n")

    def instantiate_run() -> None:
        store = wasmtime.Store(engine)
        store.set_fuel(10**9)
        store.set_epoch_deadline(1)  # no timer ticks in the floor: never reached
        wasi = wasmtime.WasiConfig()
        wasi.env = [["GREETING", "Hello"]]
        wasi.stdin_file = str(staged / "stdin")
        wasi.stdout_custom = len
        wasi.preopen_dir(str(staged / "secrets"), "/secrets", False)
        store.set_wasi(wasi)
        pre.instantiate(store).exports(store)["_start"](store)  # type: ignore[operator]

    print(f"module: secret-greeter, {len(wasm)} bytes")
    found = rates(
        {
            "keep start (own process: check+compile+run)": keep_start,
            "same, in this process (no kill possible)": in_process,
            "floor: wasmtime compile alone (keep config)": lambda: wasmtime.Module(engine, wasm),
            "floor: instantiate+run, precompiled": instantiate_run,
        }
    )
    shutil.rmtree(staged)
    keep, here, compile_only, floor_run = found.values()
    return {
        "keep_start_per_s": keep,
        "in_process_per_s": here,
        "compile_per_s": compile_only,
        "run_per_s": floor_run,
    }


def hpke_figures() -> dict[str, float]:
    plaintext = os.urandom(1024)
    info = b"elsewhere/bench/v1"
    keys = {suite.name: KeepKey.generate(suite) for suite in (X25519, MLKEM768_X25519)}

    def seal_open(key: KeepKey) -> Callable[[], object]:
        return lambda: key.open(
            seal(key.public_key, plaintext, info=info, aad=b"a"), info=info, aad=b"a"
        )

    peer = x25519.X25519PrivateKey.generate().public_key()

    def x25519_pair() -> None:
        x25519.X25519PrivateKey.generate().exchange(peer)
        x25519.X25519PrivateKey.generate().exchange(peer)

    mk = mlkem.MLKEM768PrivateKey.generate()
    mpk = mk.public_key()

    def mlkem_pair() -> None:
        _, ciphertext = mpk.encapsulate()
        mk.decapsulate(ciphertext)

    def hybrid_floor() -> None:
        mlkem_pair()
        x25519_pair()

    found = rates(
        {
            "HPKE x25519 seal+open 1 KiB": seal_open(keys["x25519"]),
            "floor: X25519 keygen+exchange, twice": x25519_pair,
            "HPKE mlkem768-x25519 seal+open 1 KiB": seal_open(keys["mlkem768-x25519"]),
            "floor: ML-KEM-768 encaps+decaps + X25519": hybrid_floor,
            "floor: ML-KEM-768 encaps+decaps": mlkem_pair,
        }
    )
    names = (
        "hpke_x25519_per_s",
        "floor_x25519_pair_per_s",
        "hpke_mlkem768-x25519_per_s",
        "floor_hybrid_per_s",
        "floor_mlkem768_per_s",
    )
    return dict(zip(names, found.values(), strict=True))


def main() -> int:
    started = time.perf_counter()
    figures = {**keep_figures(), **hpke_figures()}
    ratios = {
        "keep_start_vs_in_process": figures["keep_start_per_s"] / figures["in_process_per_s"],
        "keep_start_vs_compile": figures["keep_start_per_s"] / figures["compile_per_s"],
        "keep_start_vs_run": figures["keep_start_per_s"] / figures["run_per_s"],
        "hpke_x25519_vs_floor": figures["hpke_x25519_per_s"] / figures["floor_x25519_pair_per_s"],
        "hpke_hybrid_vs_floor": figures["hpke_mlkem768-x25519_per_s"]
        / figures["floor_hybrid_per_s"],
    }
    for name, value in ratios.items():
        print(f"ratio {name:<40} {value:.3f}")
    summary = {
        "bench": "keep",
        "figures": {name: round(value, 1) for name, value in figures.items()},
        "ratios": {name: round(value, 3) for name, value in ratios.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
