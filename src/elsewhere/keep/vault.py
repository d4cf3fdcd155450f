"""The keep's one host call beyond WASI: a data subject's records, from the vault, for one
purpose the deployment declared (docs/vault.md, "From a keep").

Guest ABI (import module `elsewhere`):

    vault_read(subject_ptr, subject_len, purpose_ptr, purpose_len, out_ptr, out_cap) -> i32

`subject` and `purpose` are UTF-8 in the guest's exported `memory`. On success the answer is
the subject's records for that purpose, each as a 4-byte little-endian length and its bytes,
and the call returns the answer's size; when that is more than `out_cap` nothing is written
and the guest calls again with room enough (the answer is kept for the run, so a second call
makes no second release). Negative results: `REFUSED` (the control plane said no: purpose not
declared, subject unknown or pending erasure, keep not attested), `UNAVAILABLE` (the control
plane could not be reached), `BAD_ARGUMENTS` (out of memory bounds, not UTF-8, too long).

The keep's process has no network: the call goes over its pipe to the host side, which asks
the control plane with the keep's attested key; the data key is opened and the records
decrypted on the host side of that pipe, inside the same attested boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import wasmtime

MODULE: Final = "elsewhere"
NAME: Final = "vault_read"
REFUSED: Final = -1
UNAVAILABLE: Final = -2
BAD_ARGUMENTS: Final = -3
MAX_ARGUMENT_BYTES: Final = 256


@dataclass(frozen=True)
class VaultAnswer:
    """A subject's records for one purpose, or why there are none."""

    records: tuple[bytes, ...] = ()
    refused: str | None = None  # the control plane's one line
    unavailable: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "records": [r.hex() for r in self.records],
            "refused": self.refused,
            "unavailable": self.unavailable,
        }

    @classmethod
    def from_json(cls, doc: dict[str, object]) -> VaultAnswer:
        records = doc.get("records") or []
        if not isinstance(records, list):
            raise ValueError("records must be a list")
        refused, unavailable = doc.get("refused"), doc.get("unavailable")
        return cls(
            tuple(bytes.fromhex(str(r)) for r in records),
            None if refused is None else str(refused),
            None if unavailable is None else str(unavailable),
        )


# (subject, purpose) -> answer; the host side's reader, or the keep's pipe to it.
VaultReader = Callable[[str, str], VaultAnswer]


def no_vault(_subject: str, _purpose: str) -> VaultAnswer:
    return VaultAnswer(refused="this keep was started without access to the vault")


def encode(records: tuple[bytes, ...]) -> bytes:
    return b"".join(len(r).to_bytes(4, "little") + r for r in records)


class VaultCalls:
    """The host function bound to one run: reads its arguments from the guest's memory,
    asks `reader` once per (subject, purpose), writes the answer back."""

    def __init__(self, reader: VaultReader) -> None:
        self._reader = reader
        self._answers: dict[tuple[str, str], VaultAnswer] = {}

    def define(self, linker: wasmtime.Linker) -> None:
        i32 = wasmtime.ValType.i32()
        kind = wasmtime.FuncType([i32] * 6, [i32])
        linker.define_func(MODULE, NAME, kind, self._call, access_caller=True)

    def _call(
        self,
        caller: wasmtime.Caller,
        subject_ptr: int,
        subject_len: int,
        purpose_ptr: int,
        purpose_len: int,
        out_ptr: int,
        out_cap: int,
    ) -> int:
        memory = caller.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            return BAD_ARGUMENTS
        size = memory.data_len(caller)
        subject = _text(memory, caller, size, subject_ptr, subject_len)
        purpose = _text(memory, caller, size, purpose_ptr, purpose_len)
        if subject is None or purpose is None or out_cap < 0 or out_ptr < 0:
            return BAD_ARGUMENTS
        answer = self._answers.get((subject, purpose))
        if answer is None:
            answer = self._reader(subject, purpose)
            self._answers[(subject, purpose)] = answer
        if answer.refused is not None:
            return REFUSED
        if answer.unavailable is not None:
            return UNAVAILABLE
        data = encode(answer.records)
        if len(data) <= out_cap:
            if out_ptr + len(data) > size:
                return BAD_ARGUMENTS
            memory.write(caller, data, out_ptr)
        return len(data)


def _text(
    memory: wasmtime.Memory, caller: wasmtime.Caller, size: int, ptr: int, length: int
) -> str | None:
    if not (0 <= length <= MAX_ARGUMENT_BYTES and ptr >= 0 and ptr + length <= size):
        return None
    try:
        return bytes(memory.read(caller, ptr, ptr + length)).decode()
    except UnicodeDecodeError:
        return None
