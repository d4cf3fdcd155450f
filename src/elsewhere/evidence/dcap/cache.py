"""Offline collateral bundles under state_dir("collateral"), for air-gapped verification.

Layout: `<tee>-<fmspc>-<ca>/<not_before>_<not_after>_<digest>.json`, each file dcap-qvl's
collateral JSON. `<tee>` is sgx or tdx (one FMSPC can have both TCB Infos), `<ca>` processor or
platform (the PCK CRL issuer), the window the intersection of the TCB Info, QE Identity and CRL
windows. The cache is a convenience store, not a trust anchor: whatever it returns is verified
again, in full, against the pinned root when a quote is checked.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from elsewhere import paths
from elsewhere.errors import InputError, VerificationFailed
from elsewhere.evidence.dcap.collateral import Collateral, load_collateral
from elsewhere.evidence.dcap.verify import CollateralState, collateral_state

_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class CacheEntry:
    tee: str
    fmspc: str
    ca: str
    not_before: dt.datetime
    not_after: dt.datetime
    path: Path
    emulated: bool = False

    def to_json(self) -> dict[str, str | bool]:
        return {
            "tee": self.tee,
            "fmspc": self.fmspc,
            "ca": self.ca,
            "not_before": f"{self.not_before:%Y-%m-%dT%H:%M:%SZ}",
            "not_after": f"{self.not_after:%Y-%m-%dT%H:%M:%SZ}",
            "path": str(self.path),
            "emulated": self.emulated,
        }


def cache_root(base: Path | None = None) -> Path:
    return paths.state_dir("collateral", base)


def collateral_ca(collateral: Collateral) -> str:
    issuer = x509.load_der_x509_crl(collateral.pck_crl).issuer.rfc4514_string()
    return "processor" if "Processor" in issuer else "platform"


def validity_window(state: CollateralState) -> tuple[dt.datetime, dt.datetime]:
    """When every part is current: the intersection of the windows checked at verification."""
    return max(start for _, start, _ in state.windows), min(end for _, _, end in state.windows)


def import_collateral(
    collateral: Collateral,
    emulated_roots: frozenset[bytes] = frozenset(),
    base: Path | None = None,
) -> CacheEntry:
    """Validate signatures, chains and windows, then store; refuse anything that fails."""
    state = collateral_state(collateral, emulated_roots)
    if state.failures:
        first = state.failures[0]
        raise VerificationFailed(
            f"collateral refused: {first.check}: {first.found} (expected {first.expected})"
        )
    start, end = validity_window(state)
    if start > end:
        raise InputError("collateral", "windows", "its parts are never current at the same time")
    info = collateral.tcb_info
    entry_dir = (
        cache_root(base) / f"{info.id.lower()}-{info.fmspc.hex()}-{collateral_ca(collateral)}"
    )
    entry_dir.mkdir(mode=0o700, exist_ok=True)
    name = f"{start:{_STAMP}}_{end:{_STAMP}}_{collateral.digest.hex()[:16]}.json"
    path = entry_dir / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(collateral.to_json(), indent=1))
    os.replace(tmp, path)
    entry = _entry(path, emulated=state.root == "emulated")
    assert entry is not None  # the name was built above in the format _entry reads
    return entry


def _entry(path: Path, emulated: bool = False) -> CacheEntry | None:
    try:
        tee, fmspc, ca = path.parent.name.split("-")
        start_text, end_text, _ = path.stem.split("_")
        start = dt.datetime.strptime(start_text, _STAMP).replace(tzinfo=dt.UTC)
        end = dt.datetime.strptime(end_text, _STAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    return CacheEntry(tee, fmspc, ca, start, end, path, emulated)


def list_entries(base: Path | None = None) -> list[CacheEntry]:
    entries = [_entry(p) for p in sorted(cache_root(base).glob("*-*-*/*.json"))]
    return sorted(
        (e for e in entries if e is not None), key=lambda e: (e.tee, e.fmspc, e.ca, e.not_before)
    )


def lookup(
    tee: str, fmspc: bytes, ca: str, at: dt.datetime, base: Path | None = None
) -> Collateral | None:
    """The newest stored bundle for this TEE, FMSPC and CA whose window contains `at`."""
    directory = cache_root(base) / f"{tee}-{fmspc.hex()}-{ca}"
    if not directory.is_dir():
        return None
    current = [
        e
        for e in (_entry(p) for p in directory.glob("*.json"))
        if e is not None and e.not_before <= at <= e.not_after
    ]
    if not current:
        return None
    return load_collateral(max(current, key=lambda e: e.not_before).path)
