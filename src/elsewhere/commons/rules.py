"""Output rules, applied by the keep's runtime to what the analysis declares, never by the
analysis itself: aggregate cells only, suppression of cells below a minimum group size, and
differential privacy (OpenDP's discrete Laplace mechanism) on every released value.

The analysis writes one declared output per line, `key,value,group_size` (integers for value
and group size). Anything else on its stdout is refused: raw rows cannot pass through.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import opendp.prelude as dp

from elsewhere.commons.canon import field
from elsewhere.errors import InputError

dp.enable_features("contrib")  # OpenDP gates its non-audited constructors behind this flag

AGGREGATE = "aggregate"
MAX_CELLS = 100_000
MAX_EPSILON = 10.0
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9._:-]{0,63}")


@dataclass(frozen=True)
class OutputRule:
    """`min_group`: cells with fewer members are suppressed (k-anonymity style threshold).
    `epsilon`: the ε each dataset's budget spends per run (0: no noise, no ε spent).
    `sensitivity`: the most one individual changes one cell's value (L1, integer)."""

    kind: str
    min_group: int
    epsilon: float
    sensitivity: int

    def __post_init__(self) -> None:
        if self.kind != AGGREGATE:
            raise InputError(
                "output rule",
                "kind",
                f"{self.kind!r} refused: only aggregate outputs leave a keep (no raw rows)",
            )
        if self.min_group < 2:
            raise InputError("output rule", "min_group", "must be at least 2")
        if not (0 <= self.epsilon <= MAX_EPSILON) or math.isnan(self.epsilon):
            raise InputError("output rule", "epsilon", f"must be in [0, {MAX_EPSILON}]")
        if self.sensitivity < 1:
            raise InputError("output rule", "sensitivity", "must be at least 1")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "min_group": self.min_group,
            "epsilon": self.epsilon,
            "sensitivity": self.sensitivity,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> OutputRule:
        what = "output rule"
        return cls(
            kind=field(doc, what, "kind", str),
            min_group=field(doc, what, "min_group", int),
            epsilon=float(field(doc, what, "epsilon", float)),
            sensitivity=field(doc, what, "sensitivity", int),
        )


@dataclass(frozen=True)
class Cell:
    key: str
    value: int
    group_size: int


@dataclass(frozen=True)
class Released:
    cells: tuple[tuple[str, int], ...]  # (key, value with noise when ε > 0)
    suppressed: int
    epsilon: float

    def to_json(self) -> dict[str, Any]:
        return {
            "cells": [{"key": k, "value": v} for k, v in self.cells],
            "suppressed": self.suppressed,
            "epsilon_spent": self.epsilon,
            "noise": "discrete Laplace (OpenDP)" if self.epsilon > 0 else "none",
        }


def parse_outputs(stdout: bytes) -> tuple[Cell, ...]:
    """The analysis's declared outputs; one clear refusal for any other line."""
    try:
        text = stdout.decode("ascii")
    except UnicodeDecodeError:
        raise InputError(
            "analysis output", "", "not ASCII: refused (declared cells only)"
        ) from None
    cells: list[Cell] = []
    keys: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split(",")
        if (
            len(parts) != 3
            or not _KEY.fullmatch(parts[0])
            or not all(p.isdigit() for p in parts[1:])
        ):
            raise InputError(
                "analysis output",
                f"line {number}",
                "not `key,value,group_size`: refused (no raw rows)",
            )
        if parts[0] in keys:
            raise InputError("analysis output", f"line {number}", f"key {parts[0]} repeated")
        keys.add(parts[0])
        cells.append(Cell(parts[0], int(parts[1]), int(parts[2])))
        if len(cells) > MAX_CELLS:
            raise InputError("analysis output", f"line {number}", f"more than {MAX_CELLS} cells")
    return tuple(cells)


def apply_rule(rule: OutputRule, cells: tuple[Cell, ...]) -> Released:
    """Suppress small groups, then add noise of scale sensitivity/ε to every value left."""
    kept = [c for c in cells if c.group_size >= rule.min_group]
    if rule.epsilon > 0:
        mechanism = dp.m.make_laplace(
            dp.atom_domain(T=int),
            dp.absolute_distance(T=int),
            scale=rule.sensitivity / rule.epsilon,
        )
        values = [(c.key, int(mechanism(c.value))) for c in kept]
    else:
        values = [(c.key, c.value) for c in kept]
    return Released(tuple(values), len(cells) - len(kept), rule.epsilon)
