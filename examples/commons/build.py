"""Build the commons example analysis: cross-border.wat → build/commons/cross-border.wasm.

    .venv/bin/python examples/commons/build.py [OUT_DIR]

Uses wasmtime's WAT parser (the `wasmtime` Python package): no other toolchain. Prints the
module's path and its analysis digest (SHA-384 of the .wasm), the value a proposal names.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from elsewhere.keep.wat import build_wat_file

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else HERE.parent.parent / "build" / "commons"
    target = build_wat_file(HERE / "cross-border.wat", out_dir / "cross-border.wasm")
    print(f"{target}  sha384:{hashlib.sha384(target.read_bytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
