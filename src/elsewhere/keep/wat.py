"""WebAssembly text (WAT) to binary, with wasmtime's own parser: no external toolchain.

Used to build the example workloads from the source in examples/workloads/. The keep itself
only accepts binary modules, whose SHA-384 is the workload digest.
"""

from __future__ import annotations

from pathlib import Path

import wasmtime

from elsewhere.errors import ParseError
from elsewhere.keep.runtime import one_line


def wat_to_wasm(text: str, where: str = "<wat>") -> bytes:
    """Compile WAT text to a binary module; ParseError with wasmtime's reason on one line."""
    try:
        return bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as error:
        raise ParseError("WAT", where, one_line(str(error))) from None


def build_wat_file(source: Path, output: Path | None = None) -> Path:
    """Compile `source` (.wat) to `output` (default: same name, .wasm); return the output."""
    target = output or source.with_suffix(".wasm")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(wat_to_wasm(source.read_text(encoding="utf-8"), str(source)))
    return target
