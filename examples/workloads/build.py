"""Build the example workloads: every .wat here becomes a .wasm in build/workloads/.

    .venv/bin/python examples/workloads/build.py [OUT_DIR]

Uses wasmtime's WAT parser (the `wasmtime` Python package): no other toolchain. Prints each
module's path and its workload digest (SHA-384 of the .wasm), the value report_data binds.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from elsewhere.keep.wat import build_wat_file

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else HERE.parent.parent / "build" / "workloads"
    for source in sorted(HERE.glob("*.wat")):
        target = build_wat_file(source, out_dir / f"{source.stem}.wasm")
        print(f"{target}  sha384:{hashlib.sha384(target.read_bytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
