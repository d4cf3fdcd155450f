"""Keep benchmark: keep starts per second and HPKE seal+open per second, each beside its floor.

- keep start: `run_module` on the secret-greeter example (digest check, validate, compile,
  stage a secret, instantiate, run, clean up) against its floors in the same run: wasmtime
  compile alone, and instantiate + run of an already-compiled module.
- HPKE: seal + open (1 KiB) per suite against the KEM alone: an X25519 key generation +
  exchange pair for DHKEM(X25519) (what seal + open need at least), ML-KEM-768
  encapsulate + decapsulate plus the X25519 pair for the hybrid.

Each figure is the median of 5 timed batches. Last line: one JSON object.
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
from elsewhere.keep.runtime import KeepConfig, run_module
from elsewhere.keep.wat import wat_to_wasm

REPO = Path(__file__).resolve().parent.parent
BATCHES = 5


def rate(label: str, operation: Callable[[], object], budget_s: float = 0.6) -> float:
    """Operations per second: median over BATCHES batches sized to ~budget_s each."""
    operation()  # warm up
    started, count = time.perf_counter(), 0
    while time.perf_counter() - started < 0.05:
        operation()
        count += 1
    per_op = (time.perf_counter() - started) / count
    size = max(1, int(budget_s / per_op))
    rates = []
    for _ in range(BATCHES):
        begin = time.perf_counter()
        for _ in range(size):
            operation()
        rates.append(size / (time.perf_counter() - begin))
    value = statistics.median(rates)
    print(f"{label:<44} {value:>12,.1f} /s   ({1e3 / value:.3f} ms each)")
    return value


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

    engine = wasmtime.Engine()
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
        wasi = wasmtime.WasiConfig()
        wasi.env = [["GREETING", "Hello"]]
        wasi.stdin_file = str(staged / "stdin")
        wasi.stdout_custom = len
        wasi.preopen_dir(str(staged / "secrets"), "/secrets", False)
        store.set_wasi(wasi)
        pre.instantiate(store).exports(store)["_start"](store)  # type: ignore[operator]

    print(f"module: secret-greeter, {len(wasm)} bytes")
    keep = rate("keep start (check+compile+instantiate+run)", keep_start)
    compile_only = rate("floor: wasmtime compile alone", lambda: wasmtime.Module(engine, wasm))
    floor_run = rate("floor: instantiate+run, precompiled", instantiate_run)
    shutil.rmtree(staged)
    return {"keep_start_per_s": keep, "compile_per_s": compile_only, "run_per_s": floor_run}


def hpke_figures() -> dict[str, float]:
    figures: dict[str, float] = {}
    plaintext = os.urandom(1024)
    info = b"elsewhere/bench/v1"
    for suite in (X25519, MLKEM768_X25519):
        key = KeepKey.generate(suite)

        def seal_open(key: KeepKey = key) -> None:
            key.open(seal(key.public_key, plaintext, info=info, aad=b"a"), info=info, aad=b"a")

        figures[f"hpke_{suite.name}_per_s"] = rate(f"HPKE {suite.name} seal+open 1 KiB", seal_open)

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

    figures["floor_x25519_pair_per_s"] = rate("floor: X25519 keygen+exchange, twice", x25519_pair)
    figures["floor_mlkem768_per_s"] = rate("floor: ML-KEM-768 encaps+decaps", mlkem_pair)
    figures["floor_hybrid_per_s"] = rate("floor: ML-KEM-768 + X25519 pairs", hybrid_floor)
    return figures


def main() -> int:
    started = time.perf_counter()
    figures = {**keep_figures(), **hpke_figures()}
    ratios = {
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
