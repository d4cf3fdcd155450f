"""docs/claims.md documents every field the SEV-SNP verifier emits."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from elsewhere.evidence import EvidenceOptions, verify_evidence
from elsewhere.evidence.snp.emulate import EmulatedSnpPlatform

DOC = Path(__file__).resolve().parent.parent / "docs" / "claims.md"


def test_every_emitted_snp_field_is_documented(tmp_path: Path) -> None:
    platform = EmulatedSnpPlatform.create(tmp_path, generation="Turin")
    report = platform.sign(platform.report(b"doc", platform_info=0x25 | 1 << 6, version=5))
    result = verify_evidence(
        report,
        EvidenceOptions(
            cert_table=platform.cert_table(), trusted_emulated_roots=(platform.trust_anchor,)
        ),
    )
    documented = set(re.findall(r"`([a-z_0-9<>]+)`", DOC.read_text()))
    doc = result.to_json()
    names = set(doc) | set(doc["claims"]) | set(doc["claims"]["identity"])
    names |= {re.sub(r"_\d+$", "_<n>", flag) for flag in doc["claims"]["flags"]}
    names |= set(doc["claims"]["tcb"]) | set(doc["claims"]["measurements"])
    assert names - documented == set()


def test_snp_check_names_are_documented(tmp_path: Path) -> None:
    platform = EmulatedSnpPlatform.create(tmp_path, generation="Genoa")
    text = DOC.read_text()
    bad = platform.sign(platform.report(b"x", tcb={"snp": 1}, vmpl=0))
    tampered = bytearray(bad)
    tampered[0x50] ^= 1
    cases = [
        EvidenceOptions(),  # no VEK at all
        EvidenceOptions(cert_table=platform.cert_table()),  # untrusted root
        EvidenceOptions(
            at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
            cert_table=platform.cert_table(),
            trusted_emulated_roots=(platform.trust_anchor,),
        ),
    ]
    checks = set()
    for options in cases:
        checks |= {f.check for f in verify_evidence(bytes(tampered), options).failures}
    assert {"VEK", "ARK", "VCEK validity", "report signature", "REPORTED_TCB.snp"} <= checks
    for check in checks:
        name = re.sub(r"^REPORTED_TCB\..*", "REPORTED_TCB.<component>", check)
        assert f"`{name}`" in text, check
