"""Find the line a TOML key is defined on, for error messages.

tomllib reports line and column only for syntax errors; a value that parses but means nothing
(an unknown key, a typo'd generation) needs its line found in the source text. This scanner
reads table headers and `key =` lines only; it does not parse values, so it cannot be fooled
into accepting anything: tomllib has already parsed the file before this runs.
"""

from __future__ import annotations

import re

_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_PATH = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_PATH})\s*\]\]?")
_KEY = re.compile(rf"^\s*({_PATH})\s*=")
_INLINE_KEY = re.compile(rf"[{{,]\s*({_PATH})\s*=")
_PARTS = re.compile(_PART)


def split_key(text: str) -> tuple[str, ...]:
    parts = []
    for part in _PARTS.findall(text):
        if part[:1] in "\"'":
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


class Locator:
    """Maps key paths (('tcb', 'sev-snp', 'microcode')) to the 1-based line defining them."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_string: str | None = None  # inside a multi-line string opened with this delimiter
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string is not None:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            header = _HEADER.match(line)
            if header:
                table = split_key(header.group(1))
                self._record(table, number)
                continue
            key = _KEY.match(line)
            if key:
                path = table + split_key(key.group(1))
                self._record(path, number)
                rest = line[key.end() :]
                for inner in _INLINE_KEY.finditer(rest):
                    self._record(path + split_key(inner.group(1)), number)
                for delimiter in ('"""', "'''"):
                    if rest.count(delimiter) % 2 == 1:
                        in_string = delimiter

    def _record(self, path: tuple[str, ...], number: int) -> None:
        for end in range(1, len(path) + 1):
            self._lines.setdefault(path[:end], number)

    def line(self, path: tuple[str, ...]) -> int | None:
        """The line of `path`, or of its longest prefix found; None if nothing matched."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(path[:end])
            if found is not None:
                return found
        return None
