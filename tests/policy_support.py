"""Claims and policy builders shared by the policy, advisory and patching tests."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from elsewhere.claims import Claims, Failure, Tee, Vendor, VerificationResult
from elsewhere.policy.advisories import FEED_SCHEMA
from elsewhere.policy.load import parse_policy
from elsewhere.policy.model import Policy

AT = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
HEADER = 'version = 1\nname = "test"\nrevision = "1"\n'


def snp(generation: str | None = "Genoa", **overrides: object) -> Claims:
    base: dict[str, object] = dict(
        vendor=Vendor.AMD,
        tee=Tee.SEV_SNP,
        generation=generation,
        report_version=3,
        signer="VCEK",
        debug=False,
        smt=True,
        report_data="ab" * 64,
        tcb={"bootloader": 10, "tee": 0, "snp": 23, "microcode": 84},
        measurements={"measurement": "11" * 48},
        flags={"migrate_ma": False},
        identity={"vmpl": 0, "guest_svn": 1},
    )
    base.update(overrides)
    return Claims(**base)  # type: ignore[arg-type]


def intel(tee: Tee = Tee.SGX, **overrides: object) -> Claims:
    base: dict[str, object] = dict(
        vendor=Vendor.INTEL,
        tee=tee,
        generation=None,
        report_version=3 if tee is Tee.SGX else 4,
        signer="PCK",
        debug=False,
        smt=None,
        report_data="00" * 64,
        tcb={"sgx_comp_00": 11, "pcesvn": 13, "tdx_comp_00": 3},
        tcb_status="UpToDate",
        measurements={"mrenclave": "33" * 32, "mrsigner": "81" * 32, "mrtd": "91" * 48},
        identity={"isvprodid": 0, "isvsvn": 0},
        fmspc="00a067110000",
    )
    base.update(overrides)
    return Claims(**base)  # type: ignore[arg-type]


def nil() -> Claims:
    return Claims(
        vendor=Vendor.NONE,
        tee=Tee.NIL,
        generation=None,
        report_version=0,
        signer="none",
        debug=False,
        smt=None,
        report_data="00" * 64,
    )


def result(claims: Claims, *failures: Failure, at: dt.datetime = AT) -> VerificationResult:
    return VerificationResult(claims, tuple(failures), at, "test")


def policy(body: str = "") -> Policy:
    return parse_policy(HEADER + body, "test.toml")


def feed_document(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"schema": FEED_SCHEMA, "advisories": list(entries)}).encode()


def advisory_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "AMD-SB-1",
        "vendor": "AMD",
        "title": "t",
        "severity": "high",
        "published": "2025-01-01",
        "cves": ["CVE-2025-0001"],
        "affected": [{"tee": "sev-snp", "generation": "Milan", "fixed_in": {"microcode": 200}}],
    }
    entry.update(overrides)
    return entry
