from __future__ import annotations

import datetime as dt
import hashlib
import json

from elsewhere.claims import (
    EMULATED_WARNING,
    NIL_WARNING,
    Claims,
    Failure,
    Tee,
    Vendor,
    VerificationResult,
)
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.isolation import isolation_report
from elsewhere.keep.limits import KeepLimits

DIGEST = hashlib.sha384(b"module").digest()
BINDING = hashlib.sha512(b"binding").digest()
AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def config(**overrides: object) -> KeepConfig:
    base: dict[str, object] = dict(
        workload_digest=DIGEST,
        env={"GREETING": "hi"},
        secret_names=("greeting-key",),
        attester_kind="sev-snp",
    )
    base.update(overrides)
    return KeepConfig(**base)  # type: ignore[arg-type]


def result(**overrides: object) -> VerificationResult:
    failures = overrides.pop("failures", ())
    claims: dict[str, object] = dict(
        vendor=Vendor.AMD,
        tee=Tee.SEV_SNP,
        generation="Genoa",
        report_version=3,
        signer="VCEK",
        debug=False,
        smt=True,
        report_data=BINDING.hex(),
        tcb={"bootloader": 10, "tee": 0, "snp": 23, "microcode": 84},
        measurements={"measurement": "ab" * 48},
    )
    claims.update(overrides)
    return VerificationResult(
        claims=Claims(**claims),  # type: ignore[arg-type]
        failures=failures,  # type: ignore[arg-type]
        verified_at=AT,
        evidence_kind="sev-snp-report",
    )


def test_verified_hardware_reports_the_tee_and_tcb() -> None:
    report = isolation_report(config(), result(), report_data=BINDING)
    boundary = report.workload_from_host
    assert boundary.protected
    assert boundary.summary == "hardware-attested AMD sev-snp (verified)"
    text = "\n".join(boundary.details)
    assert "Genoa" in text and "bootloader=10, tee=0, snp=23, microcode=84" in text
    assert "verified at 2026-01-02T03:04:05Z" in text
    assert "binds this keep" in text


def test_nil_host_without_result() -> None:
    report = isolation_report(config(attester_kind="nil"), None)
    assert not report.workload_from_host.protected
    assert report.workload_from_host.summary == f"none: {NIL_WARNING}"


def test_unverified_other_attester_without_result() -> None:
    report = isolation_report(config(), None)
    assert report.workload_from_host.summary == "none: evidence not verified"


def test_nil_claims() -> None:
    nil = result(vendor=Vendor.NONE, tee=Tee.NIL, generation=None)
    assert isolation_report(config(), nil).workload_from_host.summary == f"none: {NIL_WARNING}"


def test_emulated_evidence_gives_no_protection_even_when_verified() -> None:
    emulated = result(emulated=True)
    assert emulated.verified
    boundary = isolation_report(config(), emulated, report_data=BINDING).workload_from_host
    assert not boundary.protected
    assert boundary.summary == f"none: {EMULATED_WARNING}"


def test_failed_verification_lists_the_failures() -> None:
    failed = result(failures=(Failure("report signature", "invalid", "valid"),))
    boundary = isolation_report(config(), failed).workload_from_host
    assert not boundary.protected
    assert "failed verification (1 check(s))" in boundary.summary
    assert boundary.details == ("report signature: found invalid, expected valid",)


def test_report_data_for_another_keep() -> None:
    other = hashlib.sha512(b"other").digest()
    boundary = isolation_report(config(), result(), report_data=other).workload_from_host
    assert not boundary.protected and "does not bind this keep" in boundary.summary


def test_debug_guest_gives_no_protection() -> None:
    boundary = isolation_report(config(), result(debug=True)).workload_from_host
    assert not boundary.protected and "debug" in boundary.summary


def test_workload_boundaries_follow_the_config() -> None:
    limited = isolation_report(config(limits=KeepLimits(memory_bytes=16 << 20, fuel=1000)), None)
    text = "\n".join(limited.workload_from_workload.details)
    assert "at most 16 MiB" in text and "fuel at most 1,000 units" in text
    host = "\n".join(limited.host_from_workload.details)
    assert "/secrets (read-only), holding greeting-key" in host
    assert "environment: GREETING" in host and "no network" in host

    bare = isolation_report(
        config(secret_names=(), env={}, limits=KeepLimits(fuel=None, wall_time_s=None)), None
    )
    text = "\n".join(bare.workload_from_workload.details)
    assert "fuel: not metered" in text and "no CPU limit" in text
    assert "filesystem: none" in "\n".join(bare.host_from_workload.details)


def test_the_report_says_how_wall_time_and_stops_are_enforced() -> None:
    """The promise is what the keep does: a process the host kills, not only an epoch."""
    report = isolation_report(config(limits=KeepLimits(wall_time_s=2)), None)
    text = "\n".join(report.workload_from_workload.details)
    assert "wall time at most 2 s: enforced by an epoch interrupt" in text
    assert "killing the keep's process 1 s later" in text and "blocked in a WASI call" in text
    assert "a stop from the host" in text and "in the keep's own process" in text


def test_json_and_rendering() -> None:
    report = isolation_report(config(), result(emulated=True))
    doc = json.loads(json.dumps(report.to_json()))
    assert doc["schema"] == "elsewhere.isolation/1"
    assert doc["workload_from_host"]["protected"] is False
    assert "side channels" in doc["not_protected"]
    text = report.render()
    assert text.splitlines()[0] == f"Isolation report for workload sha384:{DIGEST.hex()}"
    assert f"workload from host: none: {EMULATED_WARNING}" in text
    assert report == isolation_report(config(), result(emulated=True))
