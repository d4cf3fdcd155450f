"""Every vector in expected.json (SEV-SNP, TDX, SGX) through the one entry point,
`verify_evidence`, against the outcome the manifest states for it.

The per-format suites (test_snp_vectors, test_dcap_verify) check fields and negatives in
depth; this test is the census: it fails if a manifest entry with an outcome is not run, and
it reads the expected verdict from the manifest's own words, not from a table kept here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dcap_support import CASES, UNLABELLED
from elsewhere.errors import InputError
from elsewhere.evidence import EvidenceOptions, detect, verify_evidence
from elsewhere.evidence.anchors import load_certificates
from elsewhere.evidence.snp.chain import chain_context
from elsewhere.timeutil import parse_time
from test_snp_vectors import REPORT_VECTORS, load_vector, verify_time

DCAP = {case.id: case for case in CASES + UNLABELLED}
VEK_ONLY = {"snp/virtee-turin-vcek-only": ("vcek_turin.der", "cert_chain_turin.pem")}
# The manifest's collateral for this quote is "PARTIAL: tcbInfo + QE identity only; no PCK
# CRL": Intel's rules cannot be completed, so it must parse and must not verify.
PARTIAL = {"tdx/trustee-quote6-v4-00a06d08": "tdx/trustee/tdx_quote_6.dat"}
_STATUS = re.compile(
    r"\b(ConfigurationAndSWHardeningNeeded|OutOfDateConfigurationNeeded|SWHardeningNeeded|"
    r"ConfigurationNeeded|OutOfDate|UpToDate|Revoked)\b"
)


def _with_outcome(manifest: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(vid for vid, entry in manifest.items() if entry.get("expected") is not None)


def test_every_vector_with_an_outcome_is_run(manifest: dict[str, dict[str, Any]]) -> None:
    covered = set(REPORT_VECTORS) | set(DCAP) | set(VEK_ONLY) | set(PARTIAL)
    assert set(_with_outcome(manifest)) == covered


def expected_status(expected: Any) -> str | None:
    """Intel TCB status the manifest states; None for 'no matching TCB level'."""
    text = expected["status"] if isinstance(expected, dict) else str(expected)
    if "NO MATCHING TCB LEVEL" in text:
        return None
    found = _STATUS.search(text)
    assert found, text
    return found.group(1)


def test_snp_reports(vectors: Path, manifest: dict[str, dict[str, Any]]) -> None:
    for vid in REPORT_VECTORS:
        entry = manifest[vid]
        assert str(entry["expected"]).startswith("valid"), entry["expected"]
        result = load_vector(vectors, entry).verify()
        assert result.verified, (vid, [str(f) for f in result.failures])
        assert result.claims.generation and entry["product"].startswith(result.claims.generation)


def test_snp_vek_only(vectors: Path, manifest: dict[str, dict[str, Any]]) -> None:
    for vid, (vek_name, chain_name) in VEK_ONLY.items():
        entry = manifest[vid]
        base = vectors / vid
        chain = load_certificates((base / chain_name).read_bytes(), "chain")
        context = chain_context((base / vek_name).read_bytes(), chain, ())
        assert context.failures == ()
        assert context.generation and f"ARK-{context.generation}" in entry["expected"]
        at = verify_time(entry)
        assert all(w.not_before <= at <= w.not_after for w in context.windows)


@pytest.mark.parametrize("vid", sorted(DCAP))
def test_dcap_quotes(vectors: Path, manifest: dict[str, dict[str, Any]], vid: str) -> None:
    case, expected = DCAP[vid], manifest[vid]["expected"]
    options = EvidenceOptions(at=case.when(), collateral=case.load(vectors))
    result = verify_evidence(case.quote_bytes(vectors), options)
    if vid.startswith("unlabelled/"):
        # No outcome is given; the verdict Intel's rules give is asserted in test_dcap_verify.
        assert expected.startswith("withheld")
        assert result.claims.tcb_status is not None or result.failures
        return
    status = expected_status(expected)
    assert result.claims.tcb_status == status, (vid, result.failures)
    if isinstance(expected, dict) and "advisory_ids" in expected:
        assert result.claims.advisory_ids == tuple(sorted(expected["advisory_ids"]))
    assert result.verified == (status is not None), (vid, [str(f) for f in result.failures])


def test_partial_collateral_parses_but_does_not_verify(vectors: Path) -> None:
    for vid, path in PARTIAL.items():
        quote = (vectors / path).read_bytes()
        assert detect(quote).format.is_dcap
        try:
            result = verify_evidence(quote, EvidenceOptions(at=parse_time("2025-11-01")))
        except InputError as error:  # no collateral cached: refused in one line
            assert "\n" not in error.message
        else:
            assert not result.verified, vid
