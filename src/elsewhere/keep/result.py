"""How a keep run ended (`KeepResult`) and the errors a keep raises for unusable inputs.

Shared by the host side (keep/runtime.py, which supervises the keep's process) and the keep's
own process (keep/child.py, keep/sandbox.py); a result crosses between them as JSON.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Final

from elsewhere.errors import EXIT_REFUSED, ElsewhereError, ParseError

# Every way a run can end; anything the guest does is one of these, never an exception.
OUTCOMES: Final = frozenset(
    {
        "exited",
        "trapped",
        "fuel-exhausted",
        "wall-time-exceeded",
        "stopped",
        "instantiation-failed",
        "crashed",
    }
)


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
    "fuel-exhausted", "wall-time-exceeded", "stopped" (by the host, `KeepStop`),
    "instantiation-failed" (e.g. memory minimum above the limit, imports other than WASI) or
    "crashed" (the keep's process ended without a result). `exit_code` is None unless
    exited. `killed`: the host killed the keep's process (the guest did not return to the
    sandbox in time, e.g. blocked in a WASI call); its output is then lost.
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
    killed: bool = False

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
            "killed": self.killed,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> KeepResult:
        """Inverse of `to_json`; ParseError naming what is wrong (the keep's answer)."""
        try:
            result = cls(
                outcome=str(doc["outcome"]),
                exit_code=None if doc["exit_code"] is None else int(doc["exit_code"]),
                stdout=base64.b64decode(doc["stdout_b64"], validate=True),
                stderr=base64.b64decode(doc["stderr_b64"], validate=True),
                stdout_total=int(doc["stdout_total"]),
                stderr_total=int(doc["stderr_total"]),
                fuel_consumed=None if doc["fuel_consumed"] is None else int(doc["fuel_consumed"]),
                wall_time_s=float(doc["wall_time_s"]),
                compile_time_s=float(doc["compile_time_s"]),
                trap=None if doc["trap"] is None else str(doc["trap"]),
                workload_digest=str(doc["workload_digest"]),
                killed=bool(doc.get("killed", False)),
            )
        except KeyError as error:
            raise ParseError("keep result", str(error), "missing field") from None
        except (TypeError, ValueError, binascii.Error) as error:
            raise ParseError("keep result", "", f"malformed: {error}") from None
        if result.outcome not in OUTCOMES:
            raise ParseError("keep result", "outcome", f"unknown outcome {result.outcome!r}")
        return result
