"""Policy decisions on real evidence: each vector verified by verify_evidence, then judged."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

import pytest

from elsewhere.claims import VerificationResult
from elsewhere.evidence import EvidenceOptions, verify_evidence
from elsewhere.evidence.dcap.collateral import load_collateral
from elsewhere.policy.advisories import parse_feed
from elsewhere.policy.evaluate import Decision, evaluate
from elsewhere.policy.load import load_policy, parse_policy
from policy_support import HEADER

ROOT = Path(__file__).resolve().parent.parent
REFUSE_MILAN = load_policy(ROOT / "examples" / "policy" / "refuse-milan.toml")
FEED = parse_feed((ROOT / "examples" / "advisories" / "example-feed.json").read_bytes())
# Every Intel status, so that the rule under test is the only one that can refuse.
ANY_STATUS = (
    '[intel]\ntcb_status = ["UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", '
    '"ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"]\n'
)
MILAN_CHAIN = "snp/_amd-roots/kds_cert_chain_milan_vcek.pem"

# id -> (evidence, VEK, chain, DCAP collateral, time to verify at), from expected.json
CASES: dict[str, tuple[str, str | None, str | None, str | None, str]] = {
    "snp/gsg-milan-v2": (
        "snp/gsg-milan-v2/attestation.bin",
        "snp/gsg-milan-v2/vcek.der",
        MILAN_CHAIN,
        None,
        "2022-09-24T01:00:00Z",
    ),
    "snp/virtee-milan-v2": (
        "snp/virtee-milan-v2/report_milan.hex",
        "snp/virtee-milan-v2/vcek_milan.der",
        MILAN_CHAIN,
        None,
        "2024-01-01T00:00:00Z",
    ),
    "snp/trustee-milan-vcek-v2": (
        "snp/trustee-milan-vcek-v2/test-report.bin",
        "snp/trustee-milan-vcek-v2/test-vcek.der",
        MILAN_CHAIN,
        None,
        "2024-01-01T00:00:00Z",
    ),
    "snp/trustee-milan-vlek-aws-v3": (
        "snp/trustee-milan-vlek-aws-v3/test-vlek-report.bin",
        "snp/trustee-milan-vlek-aws-v3/test-vlek.der",
        "snp/_amd-roots/kds_cert_chain_milan_vlek.pem",
        None,
        "2025-06-01T00:00:00Z",
    ),
    "snp/trustee-azure-milan-hcl-v2": (
        "snp/trustee-azure-milan-hcl-v2/hcl-report.bin",
        "snp/trustee-azure-milan-hcl-v2/vcek_ask_ark.pem",
        None,
        None,
        "2024-01-01T00:00:00Z",
    ),
    "snp/ms-milan": (
        "snp/ms-milan/milan_attestation_report.bin",
        "snp/ms-milan/milan_vcek.pem",
        MILAN_CHAIN,
        None,
        "2026-03-01T00:00:00Z",
    ),
    "snp/ms-genoa": (
        "snp/ms-genoa/genoa_attestation_report.bin",
        "snp/ms-genoa/genoa_vcek.pem",
        "snp/_amd-roots/kds_cert_chain_genoa_vcek.pem",
        None,
        "2026-03-01T00:00:00Z",
    ),
    "snp/ms-turin": (
        "snp/ms-turin/turin_attestation_report.bin",
        "snp/ms-turin/turin_vcek.pem",
        "snp/_amd-roots/kds_cert_chain_turin_vcek.pem",
        None,
        "2026-03-01T00:00:00Z",
    ),
    "sgx/dcapqvl-v3-00a067": (
        "sgx/dcapqvl-v3-00a067/sgx_quote.bin",
        None,
        None,
        "sgx/dcapqvl-v3-00a067/sgx_quote_collateral.json",
        "2025-07-19T10:01:17Z",
    ),
    "sgx/automata-v3-00606a": (
        "sgx/automata-v3-00606a/quote_v3.bin",
        None,
        None,
        "sgx/automata-v3-00606a/collateral_assembled.json",
        "2025-08-15T05:45:00Z",
    ),
    "sgx/trustee-occlum-v3-00606a-debug": (
        "sgx/trustee-occlum-v3-00606a-debug/occlum_quote.dat",
        None,
        None,
        "sgx/automata-v3-00606a/collateral_assembled.json",
        "2025-08-15T05:45:00Z",
    ),
    "tdx/dcapqvl-v4-b0c06f": (
        "tdx/dcapqvl-v4-b0c06f/tdx_quote.bin",
        None,
        None,
        "tdx/dcapqvl-v4-b0c06f/tdx_quote_collateral.json",
        "2025-07-19T10:00:34Z",
    ),
    "tdx/trustee-quote4-v4-50806f-debug": (
        "tdx/trustee/tdx_quote_4.dat",
        None,
        None,
        "tdx/gotdx-v4-spr-50806f/collateral_assembled.json",
        "2023-07-01T01:00:00Z",
    ),
    "tdx/automata-gcp-v4-00806f05": (
        "tdx/automata-gcp-v4-00806f05/quote_v4_gcp.bin",
        None,
        None,
        "tdx/automata-gcp-v4-00806f05/collateral_assembled.json",
        "2025-06-05T03:45:00Z",
    ),
}
MILAN = [i for i in CASES if "milan" in i]
SNP_OTHERS = ["snp/ms-genoa", "snp/ms-turin"]


def _at(vector_id: str) -> dt.datetime:
    return dt.datetime.fromisoformat(CASES[vector_id][4].replace("Z", "+00:00"))


@functools.cache
def _verify(root: Path, vector_id: str) -> VerificationResult:
    evidence, vek, chain, collateral, _ = CASES[vector_id]
    options = EvidenceOptions(
        at=_at(vector_id),
        vek=(root / vek).read_bytes() if vek else None,
        chain=((root / chain).read_bytes(),) if chain else (),
        collateral=load_collateral(root / collateral) if collateral else None,
    )
    return verify_evidence((root / evidence).read_bytes(), options)


def _decide(vectors: Path, vector_id: str, policy: Any, **kwargs: Any) -> Decision:
    result = _verify(vectors, vector_id)
    assert result.verified, (vector_id, [str(f) for f in result.failures])
    return evaluate(result, policy, at=_at(vector_id), advisories=FEED, **kwargs)


def _rules(decision: Decision) -> list[str]:
    return [r.rule for r in decision.reasons]


def test_cases_cover_every_milan_report_in_the_manifest(manifest: dict[str, Any]) -> None:
    milan = {i for i, e in manifest.items() if str(e.get("product", "")).startswith("Milan")}
    assert milan == set(MILAN)


@pytest.mark.parametrize("vector_id", MILAN)
def test_refuse_milan_refuses_every_milan_report(vectors: Path, vector_id: str) -> None:
    decision = _decide(vectors, vector_id, REFUSE_MILAN)
    assert not decision.accepted
    assert "platforms.refuse" in _rules(decision)
    assert decision.reasons[_rules(decision).index("platforms.refuse")].found == "AMD:Milan"


@pytest.mark.parametrize("vector_id", SNP_OTHERS)
def test_refuse_milan_accepts_genoa_and_turin(vectors: Path, vector_id: str) -> None:
    decision = _decide(vectors, vector_id, REFUSE_MILAN)
    assert decision.accepted, [str(r) for r in decision.reasons]


def test_refuse_milan_accepts_up_to_date_intel(vectors: Path) -> None:
    assert _decide(vectors, "tdx/dcapqvl-v4-b0c06f", REFUSE_MILAN).accepted
    assert _decide(vectors, "sgx/automata-v3-00606a", REFUSE_MILAN).accepted  # SWHardeningNeeded


@pytest.mark.parametrize("vector_id", ["sgx/dcapqvl-v3-00a067", "sgx/automata-v3-00606a"])
def test_refusing_intel_sa_00615_refuses_the_quotes_that_carry_it(
    vectors: Path, vector_id: str
) -> None:
    permissive = parse_policy(HEADER + ANY_STATUS)
    assert _decide(vectors, vector_id, permissive).accepted
    refusing = parse_policy(HEADER + ANY_STATUS + '[advisories]\nrefuse = ["INTEL-SA-00615"]\n')
    decision = _decide(vectors, vector_id, refusing)
    assert [(r.rule, r.found) for r in decision.reasons] == [
        ("advisories.refuse", "INTEL-SA-00615")
    ]
    # a quote without the advisory is untouched by the rule
    assert _decide(vectors, "tdx/dcapqvl-v4-b0c06f", refusing).accepted


@pytest.mark.parametrize(
    "vector_id",
    [
        "tdx/trustee-quote4-v4-50806f-debug",
        "sgx/trustee-occlum-v3-00606a-debug",
        "snp/gsg-milan-v2",
    ],
)
def test_debug_td_enclave_and_guest_refused_by_default(vectors: Path, vector_id: str) -> None:
    decision = _decide(vectors, vector_id, parse_policy(HEADER + ANY_STATUS))
    assert _rules(decision) == ["tee.allow_debug"]
    allowing = parse_policy(HEADER + ANY_STATUS + "[tee]\nallow_debug = true\n")
    assert _decide(vectors, vector_id, allowing).accepted


@pytest.mark.parametrize(
    ("vector_id", "section", "component", "found"),
    [
        ("snp/ms-genoa", "tcb.sev-snp.Genoa", "microcode", 84),
        ("snp/ms-genoa", "tcb.sev-snp", "bootloader", 10),
        ("snp/ms-turin", "tcb.sev-snp.Turin", "fmc", 1),
        ("snp/ms-milan", "tcb.sev-snp", "snp", 24),
        ("snp/trustee-milan-vcek-v2", "tcb.sev-snp.Milan", "microcode", 115),
        ("sgx/automata-v3-00606a", "tcb.sgx", "pcesvn", 13),
        ("sgx/automata-v3-00606a", "tcb.sgx", "sgx_comp_00", 14),
        ("tdx/dcapqvl-v4-b0c06f", "tcb.tdx", "tdx_comp_00", 6),
        ("tdx/dcapqvl-v4-b0c06f", "tcb.tdx", "pcesvn", 11),
    ],
)
def test_minimum_tcb_per_component(
    vectors: Path, vector_id: str, section: str, component: str, found: int
) -> None:
    def at_least(minimum: int) -> Decision:
        body = f"[{section}]\n{component} = {minimum}\n"
        return _decide(vectors, vector_id, parse_policy(HEADER + ANY_STATUS + body))

    assert at_least(found).accepted
    refused = at_least(found + 1)
    assert [(r.rule, r.found, r.required) for r in refused.reasons] == [
        (f"{section}.{component}", str(found), f">= {found + 1}")
    ]


def test_enclave_and_reference_values_on_a_real_quote(vectors: Path) -> None:
    signer = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6"
    body = f'[measurements.sgx]\nmrsigner = ["{signer}"]\n[identity.sgx]\nisvprodid = [0]\n'
    pinned = parse_policy(HEADER + ANY_STATUS + body)
    assert _decide(vectors, "sgx/dcapqvl-v3-00a067", pinned).accepted
    other = _decide(vectors, "sgx/automata-v3-00606a", pinned)
    assert [r.rule for r in other.reasons] == ["measurements.sgx.mrsigner"]
    newer = parse_policy(HEADER + ANY_STATUS + body + "[identity_min.sgx]\nisvsvn = 1\n")
    refused = _decide(vectors, "sgx/dcapqvl-v3-00a067", newer)
    assert [(r.rule, r.found) for r in refused.reasons] == [("identity_min.sgx.isvsvn", "0")]


def test_out_of_date_tdx_refused_by_default_status_rule(vectors: Path) -> None:
    decision = _decide(vectors, "tdx/automata-gcp-v4-00806f05", parse_policy(HEADER))
    assert [(r.rule, r.found) for r in decision.reasons] == [("intel.tcb_status", "OutOfDate")]
    assert decision.advisories == ("INTEL-SA-00960", "INTEL-SA-00982", "INTEL-SA-00986")


def test_amd_bulletin_refuses_old_milan_microcode_only(vectors: Path) -> None:
    by_severity = parse_policy(HEADER + '[advisories]\nseverity_threshold = "high"\n')
    old = _decide(vectors, "snp/trustee-milan-vcek-v2", by_severity)  # microcode 115
    assert {r.found.split()[0] for r in old.reasons} == {"AMD-SB-3019", "AMD-SB-7014"}
    assert _decide(vectors, "snp/ms-milan", by_severity).accepted  # microcode 219


def test_report_data_binding_on_a_real_report(vectors: Path) -> None:
    p = parse_policy(HEADER + "[tee]\nallow_debug = true\n[binding]\nrequire_report_data = true\n")
    assert _decide(vectors, "snp/gsg-milan-v2", p, expected_report_data="0102030405").accepted
    wrong = _decide(vectors, "snp/gsg-milan-v2", p, expected_report_data="0102030406")
    assert _rules(wrong) == ["binding"]
    assert _rules(_decide(vectors, "snp/gsg-milan-v2", p)) == ["binding.require_report_data"]


def test_unverified_evidence_refused_with_verification_reasons(vectors: Path) -> None:
    evidence = CASES["snp/ms-genoa"][0]
    unverified = verify_evidence(
        (vectors / evidence).read_bytes(), EvidenceOptions(at=_at("snp/ms-genoa"))
    )
    assert not unverified.verified
    decision = evaluate(unverified, REFUSE_MILAN, at=_at("snp/ms-genoa"))
    assert not decision.accepted
    assert decision.reasons[0].rule == "verification"
    assert decision.reasons[0].claim == unverified.failures[0].check


def test_td_reference_values_and_flags_on_a_real_quote(
    vectors: Path, manifest: dict[str, Any]
) -> None:
    body = manifest["tdx/dcapqvl-v4-b0c06f"]["fields"]["body"]
    pinned = (
        f'[measurements.tdx]\nmrtd = ["{body["mrtd"]}"]\nrtmr0 = ["{body["rtmr0"]}"]\n'
        "[flags.tdx]\nsept_ve_disable = true\n"
    )
    assert _decide(vectors, "tdx/dcapqvl-v4-b0c06f", parse_policy(HEADER + pinned)).accepted
    other_td = _decide(
        vectors, "tdx/automata-gcp-v4-00806f05", parse_policy(HEADER + ANY_STATUS + pinned)
    )
    assert [r.rule for r in other_td.reasons] == ["measurements.tdx.mrtd", "measurements.tdx.rtmr0"]
    forbidding = parse_policy(HEADER + "[flags.tdx]\nsept_ve_disable = false\n")
    refused = _decide(vectors, "tdx/dcapqvl-v4-b0c06f", forbidding)
    assert [(r.rule, r.found) for r in refused.reasons] == [("flags.tdx.sept_ve_disable", "true")]
