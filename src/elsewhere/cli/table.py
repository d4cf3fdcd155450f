"""Plain-text tables for human output (the JSON forms are the stable interface)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any


def _width(text: str) -> int:
    """Terminal columns: a wide (CJK) character takes two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def render_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    body = [[("" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [_width(h) for h in header]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], _width(cell))
    lines = ["  ".join(_pad(h, w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip() for row in body
    )
    return "\n".join(lines)


def render_pairs(pairs: Iterable[tuple[str, object]]) -> str:
    items = [(k, "" if v is None else str(v)) for k, v in pairs]
    width = max((_width(k) for k, _ in items), default=0)
    return "\n".join(f"{_pad(k, width)}  {v}" for k, v in items)


def add_json_flag(parser: Any) -> None:
    """`--json`: the command prints one JSON document instead (its shape: docs/cli.md)."""
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document (shape: docs/cli.md)"
    )


def print_json(document: object) -> None:
    print(json.dumps(document, indent=2, sort_keys=True))
