"""The resource limits a keep enforces on its workload."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from elsewhere.errors import ConfigError

MIB = 1 << 20
GIB = 1 << 30
# How long a keep may take to end after its wall-time limit or a host's stop (its epoch
# interrupt) before the host kills its process: a guest blocked in a WASI call never sees
# the interrupt.
KILL_GRACE_S = 1.0
# What wasmtime and WebAssembly can honour at all: a wasm32 memory holds at most 4 GiB, fuel
# and table sizes are unsigned 64- and 32-bit counters. A larger figure is refused when the
# deployment is made, not when a host tries to set it (where it would overflow).
_MAXIMA = {
    "memory_bytes": 4 * GIB,
    "fuel": (1 << 63) - 1,
    "max_output_bytes": GIB,
    "max_module_bytes": GIB,
    "max_stdin_bytes": GIB,
    "max_secret_bytes": GIB,
    "instances": 10_000,
    "tables": 10_000,
    "memories": 10_000,
    "table_elements": (1 << 32) - 1,
}


@dataclass(frozen=True)
class KeepLimits:
    """Limits for one run. `None` switches a meter off (the isolation report says so).

    - `memory_bytes`: the most linear memory the instance may hold (Store.set_limits);
      `memory.grow` beyond it returns -1, a module whose minimum exceeds it does not start.
    - `fuel`: Wasm instructions (approximately) the run may execute (Config.consume_fuel).
    - `wall_time_s`: seconds of execution before an epoch interrupt stops the guest; the
      host kills the keep's process KILL_GRACE_S later if it has not ended.
    - `max_output_bytes`: stdout and stderr each keep at most this many bytes; the rest is
      counted and dropped, so a chatty workload cannot fill host memory or disk.
    - `max_module_bytes`, `max_stdin_bytes`, `max_secret_bytes`: input size caps.
    - `instances`, `tables`, `memories`, `table_elements`: other Store limits.
    """

    memory_bytes: int = 64 * MIB
    fuel: int | None = 10_000_000_000
    wall_time_s: float | None = 30.0
    max_output_bytes: int = 1 * MIB
    max_module_bytes: int = 64 * MIB
    max_stdin_bytes: int = 16 * MIB
    max_secret_bytes: int = 1 * MIB
    instances: int = 1
    tables: int = 4
    memories: int = 1
    table_elements: int = 100_000

    def __post_init__(self) -> None:
        positive = {
            "memory_bytes": self.memory_bytes,
            "max_output_bytes": self.max_output_bytes,
            "max_module_bytes": self.max_module_bytes,
            "max_stdin_bytes": self.max_stdin_bytes,
            "max_secret_bytes": self.max_secret_bytes,
            "instances": self.instances,
            "tables": self.tables,
            "memories": self.memories,
            "table_elements": self.table_elements,
        }
        if self.fuel is not None:
            positive["fuel"] = self.fuel
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError("keep limits", name, f"{value!r} is not a positive integer")
            if value > _MAXIMA[name]:
                raise ConfigError("keep limits", name, f"{value} exceeds the most, {_MAXIMA[name]}")
        if self.wall_time_s is not None and not (
            isinstance(self.wall_time_s, int | float) and 0 < self.wall_time_s <= 86_400
        ):
            raise ConfigError(
                "keep limits", "wall_time_s", f"{self.wall_time_s!r} is not in (0, 86400] s"
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> KeepLimits:
        """Build limits from a mapping (unknown keys are refused, missing ones default)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ConfigError("keep limits", unknown[0], "unknown limit")
        return cls(**doc)
