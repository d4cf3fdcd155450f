"""Azure HCL report: the paravisor's wrapper around an SEV-SNP report and its runtime data.

Layout (little-endian): a 32-byte header ("HCLA", version, size, request type, reserved), the
0x4A0-byte hardware report at 0x20, then at 0x4C0 the runtime data header (data size, version,
report type 2 = SNP / 4 = TDX, hash type, variable-data size) and the variable data (JSON with
the vTPM key), then zero padding. The hardware report binds that JSON: REPORT_DATA starts
with its hash. Nothing binds the headers or the padding, so `parse_hcl` holds them to the
exact values the layout allows (sizes that match, reserved and padding zero).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from elsewhere.errors import ParseError
from elsewhere.evidence.detect import HCL_MAGIC
from elsewhere.evidence.snp.abi import REPORT_SIZE

HEADER_SIZE = 0x20
REPORT_OFFSET = 0x20
RUNTIME_OFFSET = REPORT_OFFSET + REPORT_SIZE  # 0x4C0
_RUNTIME = struct.Struct("<IIIII")
VAR_DATA_OFFSET = RUNTIME_OFFSET + _RUNTIME.size  # 0x4D4
REPORT_TYPE_SNP = 2
REPORT_TYPE_TDX = 4
HASH_TYPES = {1: "sha256", 2: "sha384", 3: "sha512"}
MAX_VAR_DATA = 1 << 16


@dataclass(frozen=True)
class HclReport:
    version: int
    request_type: int
    hardware_report: bytes
    runtime_version: int
    hash_type: int
    var_data: bytes

    @property
    def size(self) -> int:
        """Bytes the report uses; anything after them is zero padding."""
        return VAR_DATA_OFFSET + len(self.var_data)

    @property
    def hash_name(self) -> str:
        return HASH_TYPES[self.hash_type]

    def var_data_digest(self) -> bytes:
        return hashlib.new(self.hash_name, self.var_data).digest()


def parse_hcl(data: bytes) -> HclReport:
    """Unwrap an HCL report; raises ParseError naming the offset of anything malformed."""
    what = "Azure HCL report"
    if data[:4] != HCL_MAGIC:
        raise ParseError(what, "offset 0x000", "missing 'HCLA' magic")
    if len(data) < VAR_DATA_OFFSET:
        raise ParseError(
            what, f"offset {len(data):#x}", f"truncated: {len(data)} bytes, need {VAR_DATA_OFFSET}"
        )
    version, _size, request_type = struct.unpack_from("<III", data, 4)
    _data_size, runtime_version, report_type, hash_type, var_size = _RUNTIME.unpack_from(
        data, RUNTIME_OFFSET
    )
    if report_type != REPORT_TYPE_SNP:
        kind = "TDX" if report_type == REPORT_TYPE_TDX else "unknown"
        raise ParseError(
            what,
            f"offset {RUNTIME_OFFSET + 8:#x} (report_type)",
            f"report type {report_type} ({kind}); only SEV-SNP (2) is supported",
        )
    if hash_type not in HASH_TYPES:
        raise ParseError(
            what, f"offset {RUNTIME_OFFSET + 12:#x} (hash_type)", f"unknown hash type {hash_type}"
        )
    if var_size > MAX_VAR_DATA or VAR_DATA_OFFSET + var_size > len(data):
        raise ParseError(
            what,
            f"offset {RUNTIME_OFFSET + 16:#x} (var_data_size)",
            f"runtime data of {var_size} bytes runs past the end ({len(data)} bytes)",
        )
    end = VAR_DATA_OFFSET + var_size
    _check_unsigned_layout(data, end, _size, _data_size, var_size)
    return HclReport(
        version=version,
        request_type=request_type,
        hardware_report=data[REPORT_OFFSET:RUNTIME_OFFSET],
        runtime_version=runtime_version,
        hash_type=hash_type,
        var_data=data[VAR_DATA_OFFSET : VAR_DATA_OFFSET + var_size],
    )


def _check_unsigned_layout(data: bytes, end: int, size: int, data_size: int, var_size: int) -> None:
    """No signature or hash covers the header, the runtime data header or the bytes after the
    runtime data. Where the layout fixes them (sizes, reserved, padding) they must be exactly
    that, so two different byte strings never carry the same signed report and runtime data."""
    what = "Azure HCL report"
    if size != end:
        raise ParseError(
            what, "offset 0x8 (report size)", f"says {size} bytes, the contents use {end}"
        )
    reserved = data[0x10:HEADER_SIZE]
    if any(reserved):
        first = 0x10 + next(i for i, b in enumerate(reserved) if b)
        raise ParseError(what, f"offset {first:#x}", "reserved header byte is not zero (unsigned)")
    if data_size != _RUNTIME.size + var_size:
        raise ParseError(
            what,
            f"offset {RUNTIME_OFFSET:#x} (runtime data_size)",
            f"says {data_size} bytes, the runtime data is {_RUNTIME.size + var_size}",
        )
    tail = data[end:]
    if any(tail):
        first = end + next(i for i, b in enumerate(tail) if b)
        raise ParseError(
            what,
            f"offset {first:#x}",
            f"non-zero byte after the runtime data (ends at {end:#x}): only zero padding "
            "may follow, nothing signs it",
        )
