"""Cross-check with dcap-qvl 0.7.0 (test-only peer): same status and advisory IDs on every Intel
vector with collateral. Where dcap-qvl applies a policy of its own (it refuses debug enclaves /
TDs and TDs without SEPT_VE_DISABLE), the difference is named and checked on both sides."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcap_support import CASES, UNLABELLED, Case
from elsewhere.evidence.dcap.verify import verify_quote

dcap_qvl = pytest.importorskip("dcap_qvl")

# dcap-qvl's own policy checks, outside Intel's QVL rules: claim that shows the difference.
PEER_POLICY = {
    "Debug mode is enabled": ("debug", True),
    "SEPT_VE_DISABLE is not enabled": ("sept_ve_disable", False),
}


def _peer(case: Case, vectors: Path) -> tuple[str, tuple[str, ...]] | str:
    collateral = dcap_qvl.QuoteCollateralV3.from_json((vectors / case.collateral).read_text())
    try:
        report = dcap_qvl.verify(
            case.quote_bytes(vectors), collateral, int(case.when().timestamp())
        )
    except ValueError as error:
        return str(error)
    return report.status, tuple(sorted(report.advisory_ids))


@pytest.mark.parametrize("case", CASES + UNLABELLED, ids=lambda c: c.id)
def test_same_verdict_as_dcap_qvl(vectors: Path, case: Case) -> None:
    ours = verify_quote(case.quote_bytes(vectors), case.load(vectors), case.when())
    peer = _peer(case, vectors)
    if case.peer_refuses:
        # Named difference: dcap-qvl refuses by its own policy; Intel's rules give a status and
        # we report the attribute as a claim for the relying party's policy.
        assert isinstance(peer, str) and case.peer_refuses in peer
        flag, value = PEER_POLICY[case.peer_refuses]
        assert ours.claims.flags[flag] is value
        assert ours.verified and ours.claims.tcb_status == case.status
    elif case.status is None:
        assert isinstance(peer, str) and "No matching TCB level found" in peer
        assert not ours.verified and ours.claims.tcb_status is None
        assert ours.failures[0].found.startswith("TCB_NOT_SUPPORTED")
    else:
        assert peer == (ours.claims.tcb_status, ours.claims.advisory_ids)
        assert ours.verified


def test_expired_collateral_both_refuse(vectors: Path) -> None:
    case = CASES[0]
    late = Case(case.id, case.quote, case.collateral, "2025-08-01T00:00:00Z", None)
    peer = _peer(late, vectors)
    assert isinstance(peer, str) and "expired" in peer
    ours = verify_quote(late.quote_bytes(vectors), late.load(vectors), late.when())
    assert not ours.verified
