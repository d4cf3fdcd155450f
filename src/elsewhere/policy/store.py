"""Local advisory store: one JSON feed document under $ELSEWHERE_HOME/advisories/.

Storage only; parsing, validation and matching live in advisories.py so the control plane can
keep advisories in its own database with the same logic. The file is itself a valid feed.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from elsewhere import paths
from elsewhere.policy.advisories import AdvisorySet, parse_feed

STORE_FILE = "advisories.json"


@dataclass(frozen=True)
class ImportSummary:
    added: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]
    total: int


class AdvisoryStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.path = (directory or paths.state_dir("advisories")) / STORE_FILE

    def load(self) -> AdvisorySet:
        """The stored advisories; empty when nothing was imported yet."""
        if not self.path.is_file():
            return AdvisorySet()
        return parse_feed(self.path.read_bytes(), str(self.path))

    def import_set(self, feed: AdvisorySet) -> ImportSummary:
        """Merge `feed` into the store (same ID: the imported entry replaces the stored one)."""
        current = self.load()
        added, updated, unchanged = [], [], []
        for advisory in feed.advisories:
            old = current.get(advisory.id)
            if old is None:
                added.append(advisory.id)
            elif old != advisory:
                updated.append(advisory.id)
            else:
                unchanged.append(advisory.id)
        merged = current.merged(feed.advisories)
        self._write(merged)
        return ImportSummary(tuple(added), tuple(updated), tuple(unchanged), len(merged))

    def _write(self, advisories: AdvisorySet) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        text = json.dumps(advisories.to_json(), indent=2, sort_keys=True) + "\n"
        # write-then-rename, so a reader never sees half a file
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".advisories-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
