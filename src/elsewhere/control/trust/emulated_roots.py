"""A directory of EMULATED roots the control plane trusts, re-read when its files change.

Each emulated host has its own root (`elsewhere emulate snp-root|tdx-root`, or the host
agent's state directory), so adding a host must not need a restart: the operator copies the
host's root (`ark.pem` for SEV-SNP, `root.pem` for TDX) into the directory, and the next
attestation reads it. Emulated roots give NO hardware protection: a tenant's policy must still
allow emulated evidence, and every result that chains to one is marked emulated.

The directory is listed (names, sizes, modification times) on each use, which costs one
`scandir`; the certificates are parsed again only when that listing changed. A file that is
not one PEM or DER certificate is skipped, logged once with its reason.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from elsewhere.errors import ElsewhereError
from elsewhere.evidence.anchors import TrustAnchor

log = logging.getLogger("elsewhere.control")
SUFFIXES = (".pem", ".crt", ".der")
# A file's identity in the listing: name, size, modification time (ns).
Listing = tuple[tuple[str, int, int], ...]


class EmulatedRootDirectory:
    """The trusted emulated roots of one directory, as its files say now."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._listing: Listing | None = None
        self._anchors: tuple[TrustAnchor, ...] = ()

    def _list(self) -> Listing:
        try:
            entries = list(os.scandir(self.path))
        except OSError:  # absent or unreadable: no roots (said once, when it changes)
            return ()
        found = []
        for entry in entries:
            if not entry.name.endswith(SUFFIXES):
                continue
            try:
                stat = entry.stat()
            except OSError:
                continue
            found.append((entry.name, stat.st_size, stat.st_mtime_ns))
        return tuple(sorted(found))

    def anchors(self) -> tuple[TrustAnchor, ...]:
        """The roots in the directory now (parsed again only if its listing changed)."""
        listing = self._list()
        with self._lock:
            if listing == self._listing:
                return self._anchors
            before = {anchor.fingerprint for anchor in self._anchors}
            anchors = []
            for name, _size, _mtime in listing:
                path = self.path / name
                try:
                    anchor = TrustAnchor.emulated_root_file(path)
                except ElsewhereError as error:
                    log.warning("emulated root %s skipped: %s", path, error.message)
                    continue
                if anchor.fingerprint not in before:
                    log.warning(
                        "trusting EMULATED root %s from %s (no hardware protection)",
                        anchor.name,
                        path,
                    )
                anchors.append(anchor)
            self._listing, self._anchors = listing, tuple(anchors)
            return self._anchors
