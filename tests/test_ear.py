"""EAR attestation results (draft-ietf-rats-ear-04): the draft's own examples, the AR4SI vector
derived from real policy verdicts, and JWT verification with `exp` always enforced."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey

from elsewhere.claims import Failure, Tee, VerificationResult
from elsewhere.control.broker import tokens
from elsewhere.control.broker.tokens import Signer
from elsewhere.ear import jws
from elsewhere.ear.appraisal import Appraisal, LedgerRef
from elsewhere.ear.ar4si import Tier, tier
from elsewhere.ear.result import PROFILE, build, parse
from elsewhere.errors import InputError, VerificationFailed
from elsewhere.policy.evaluate import compile_policy
from elsewhere.policy.model import Policy
from policy_support import AT, nil, policy, result, snp

# draft-ietf-rats-ear-04 §4.1, the two JSON examples (a single PSA attester; a CCA platform
# and realm), as the draft's cddl/examples/ear-json-{1,2}.diag give them.
DRAFT_EXAMPLE_1: dict[str, Any] = {
    "eat_profile": "tag:ietf.org,2026:rats/ear#04",
    "iat": 1666529184,
    "ear_verifier_id": {"developer": "https://veraison-project.org", "build": "vts 0.0.1"},
    "ear_raw_evidence": "NzQ3MjY5NzM2NTYzNzQK",
    "submods": {
        "PSA": {
            "ear_status": "contraindicated",
            "ear_trustworthiness_vector": {
                "instance-identity": 2,
                "executables": 96,
                "hardware": 2,
            },
            "ear_appraisal_policy_ids": ["https://veraison.example/policy/1/60a0068d"],
        }
    },
}
DRAFT_EXAMPLE_2: dict[str, Any] = {
    "eat_profile": "tag:ietf.org,2026:rats/ear#04",
    "iat": 1666529300,
    "ear_verifier_id": {"developer": "https://veraison-project.org", "build": "vts 0.0.1"},
    "ear_raw_evidence": "NzQ3MjY5NzM2NTYzNzQKNzQ3MjY5NzM2NTYzNzQK",
    "submods": {
        "CCA Platform": {
            "ear_status": "affirming",
            "ear_trustworthiness_vector": {"instance-identity": 2, "executables": 2, "hardware": 2},
            "ear_appraisal_policy_ids": ["https://veraison.example/policy/1/60a0068d"],
        },
        "CCA Realm": {
            "ear_status": "affirming",
            "ear_trustworthiness_vector": {"instance-identity": 2},
            "ear_appraisal_policy_ids": ["https://veraison.example/policy/1/60a0068d"],
        },
    },
}


def test_the_drafts_examples_read_as_the_draft_says() -> None:
    one = parse(DRAFT_EXAMPLE_1)
    assert one.profile == PROFILE and one.issued_at == 1666529184 and one.expires_at is None
    psa = one.submod("PSA")
    assert psa.status is Tier.CONTRAINDICATED and one.status is Tier.CONTRAINDICATED
    assert tier(psa.vector["executables"]) is Tier.CONTRAINDICATED
    assert tier(psa.vector["hardware"]) is Tier.AFFIRMING
    two = parse(DRAFT_EXAMPLE_2)
    assert [s.name for s in two.submods] == ["CCA Platform", "CCA Realm"]
    assert two.status is Tier.AFFIRMING  # no top-level status: the worst submodule's
    assert two.submod("CCA Realm").policy_ids == ("https://veraison.example/policy/1/60a0068d",)


def test_the_drafts_example_signs_and_verifies_as_a_jwt() -> None:
    signer = Signer(ec.generate_private_key(ec.SECP256R1()))
    claims = DRAFT_EXAMPLE_2 | {"exp": int(time.time()) + 60}
    token = signer.sign(claims)
    keys = jws.load_jwks(json.dumps({"keys": [signer.jwk]}))
    assert jws.verify(token, keys) == claims
    assert parse(jws.verify(token, keys)).submod("CCA Platform").vector["hardware"] == 2


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"iat": 1666529184.5}, "iat: must be an integer"),
        ({"iat": True}, "iat: must be an integer"),
        ({"submods": {}}, "submods: must be a non-empty object"),
        ({"ear_verifier_id": {"developer": "x"}}, "ear_verifier_id"),
        ({"submods": {"PSA": {"ear_status": "fine"}}}, "submods.PSA.ear_status"),
        (
            {"submods": {"PSA": {"ear_status": "none", "ear_trustworthiness_vector": {}}}},
            "non-empty map",
        ),
        (
            {"submods": {"PSA": {"ear_status": "none", "ear_trustworthiness_vector": {"cpu": 2}}}},
            "unknown 'cpu'",
        ),
        (
            {
                "submods": {
                    "PSA": {"ear_status": "none", "ear_trustworthiness_vector": {"hardware": 200}}
                }
            },
            "hardware: must be -128..127",
        ),
    ],
)
def test_a_malformed_claims_set_is_one_line_saying_where(
    change: dict[str, Any], where: str
) -> None:
    with pytest.raises(InputError, match=where) as caught:
        parse(DRAFT_EXAMPLE_1 | change)
    assert "\n" not in caught.value.message


# --- the vector, from the real policy evaluator's verdicts ------------------------------------

PINNED = policy(f'[measurements.sev-snp]\nmeasurement = ["{"11" * 48}"]\n')


def _appraise(evidence: VerificationResult, rules: Policy = PINNED, **kw: Any) -> dict[str, Any]:
    decision = compile_policy(rules).evaluate(evidence, at=AT, **kw)
    appraisal = Appraisal(
        result=evidence,
        accepted=decision.accepted,
        failed_rules=tuple(r.rule for r in decision.reasons),
        measurements_pinned=any(
            a.section == "measurements" and a.tee is evidence.claims.tee for a in rules.allow_lists
        ),
        advisories=decision.advisories,
        policy_digest=decision.policy_digest,
        workload_digest="sha384:" + "22" * 48,
        keep_key_digest="sha256:" + "33" * 32,
        keep_key_suite="mlkem768-x25519",
        nonce=b"\x01" * 32,
        reasons=tuple(str(r) for r in decision.reasons),
        ledger=LedgerRef("elsewhere.local/control-plane", 41, "ab" * 32),
    )
    return build(appraisal, issuer="cp", issued_at=1, expires_at=2, token_id="ear_x")


def _keep(claims: dict[str, Any]) -> tuple[str, dict[str, int]]:
    sub = claims["submods"]["keep"]
    return sub["ear_status"], sub.get("ear_trustworthiness_vector", {})


def test_genuine_hardware_with_its_measurement_pinned_is_affirming_on_every_claim() -> None:
    claims = _appraise(result(snp()))
    status, vector = _keep(claims)
    assert status == "affirming" == claims["ear_status"]
    assert vector == {
        "instance-identity": 2,
        "configuration": 2,
        "executables": 2,
        "hardware": 2,
        "runtime-opaque": 2,
    }
    ours = claims["submods"]["keep"]["ear_elsewhere"]
    assert ours["ledger"] == {"origin": "elsewhere.local/control-plane", "index": 41,
                              "leaf_hash": "ab" * 32}  # fmt: skip
    assert claims["submods"]["keep"]["ear_appraisal_policy_ids"] == [PINNED.digest]
    assert claims["eat_nonce"] == "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
    assert parse(claims).submod().extension["tee"] == "sev-snp"


def test_without_a_pinned_measurement_executables_is_no_claim() -> None:
    _, vector = _keep(_appraise(result(snp()), policy()))
    assert "executables" not in vector


def test_an_emulated_keep_released_under_policy_is_a_warning_not_affirming() -> None:
    lenient = policy("[tee]\nallow_emulated = true\n")
    status, vector = _keep(_appraise(result(snp(emulated=True)), lenient))
    assert status == "warning"
    assert vector["hardware"] == 97 and vector["runtime-opaque"] == 96


def test_refusals_land_on_the_claim_they_concern() -> None:
    status, vector = _keep(
        _appraise(result(snp(tcb={"snp": 1})), policy("[tcb.sev-snp]\nsnp = 8\n"))
    )
    assert status == "contraindicated" and vector["hardware"] == 96
    assert vector["instance-identity"] == 2
    status, vector = _keep(_appraise(result(snp()), expected_report_data="cd" * 64))
    assert status == "contraindicated" and vector["instance-identity"] == 96
    status, vector = _keep(_appraise(result(snp(measurements={"measurement": "44" * 48}))))
    assert status == "contraindicated" and vector["executables"] == 33
    status, vector = _keep(_appraise(result(snp(debug=True))))
    assert status == "contraindicated" and vector["configuration"] == 96
    debug_ok = policy("[tee]\nallow_debug = true\n")
    status, vector = _keep(_appraise(result(snp(debug=True)), debug_ok))
    assert status == "warning" and vector["configuration"] == 32


def test_evidence_that_did_not_verify_and_the_nil_host() -> None:
    broken = result(snp(), Failure("signature", "invalid", "valid VCEK signature"))
    status, vector = _keep(_appraise(broken))
    assert status == "contraindicated"
    assert vector == {"instance-identity": 99, "hardware": 99}
    status, vector = _keep(_appraise(result(nil())))
    assert status == "contraindicated" and vector == {"runtime-opaque": 96}
    assert _appraise(result(nil()))["submods"]["keep"]["ear_elsewhere"]["tee"] == Tee.NIL.value


# --- the JWS layer: exp always enforced --------------------------------------------------------


def _signed(claims: dict[str, Any]) -> tuple[Signer, str]:
    signer = Signer(ec.generate_private_key(ec.SECP256R1()))
    return signer, signer.sign(claims)


def test_an_expired_token_is_refused_without_being_told_the_time() -> None:
    signer, token = _signed({"iat": int(time.time()) - 120, "exp": int(time.time()) - 60})
    with pytest.raises(VerificationFailed, match="expired"):
        jws.verify(token, signer.key.public_key())
    with pytest.raises(VerificationFailed, match="expired"):  # the control plane's own helper
        tokens.verify(token, signer.key.public_key())
    # ... and at a time given, before it expired, it verifies
    assert jws.verify(token, signer.key.public_key(), now=time.time() - 90)["exp"] > 0


def test_a_token_without_exp_or_with_a_bad_signature_is_refused() -> None:
    signer, token = _signed({"iat": int(time.time())})
    with pytest.raises(VerificationFailed, match="exp"):
        jws.verify(token, signer.key.public_key())
    signer, token = _signed({"iat": int(time.time()), "exp": int(time.time()) + 60})
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(VerificationFailed, match="signature does not verify"):
        jws.verify(token, other)
    head, body, sig = token.split(".")
    with pytest.raises(VerificationFailed):
        jws.verify(f"{head}.{body[:-2]}AA.{sig}", signer.key.public_key())
    # alg "none" and HS256 are never accepted, whatever the key
    unsigned = jwt.encode({"alg": "HS256"}, {"exp": int(time.time()) + 60}, _oct())
    with pytest.raises(VerificationFailed):
        jws.verify(unsigned, signer.key.public_key())


def _oct() -> Any:
    from joserfc.jwk import OctKey

    return OctKey.generate_key(256)


def test_a_jwks_that_is_not_one_is_one_line() -> None:
    for text, where in (
        ("[", "not JSON"),
        ('{"keys": []}', "keys: must be a non-empty list"),
        ('{"keys": [{"kty": "RSA"}]}', r"keys\[0\]: not an EC P-256"),
    ):
        with pytest.raises(InputError, match=where):
            jws.load_jwks(text, "jwks.json")
    assert isinstance(
        jws.load_jwks(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]})),
        object,
    )


def test_the_cli_verifies_offline_against_a_saved_jwks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from elsewhere.cli import main

    now = int(time.time())
    claims = _appraise(result(snp())) | {"iat": now - 60, "exp": now + 60}
    signer = Signer(ec.generate_private_key(ec.SECP256R1()))
    token = signer.sign(claims)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [signer.jwk]}))
    assert main(["ear", "verify", token, "--jwks", str(jwks)]) == 0
    out = capsys.readouterr().out
    assert "status: affirming" in out and "hardware 2 (genuine)" in out
    assert f"index 41, leaf {'ab' * 32}" in out
    (tmp_path / "token.jwt").write_text(token + "\n")
    assert main(["ear", "verify", str(tmp_path / "token.jwt"), "--jwks", str(jwks), "--json"]) == 0
    said = capsys.readouterr()
    assert json.loads(said.out) == claims  # stdout: the JSON document alone
    assert said.err.startswith("VERIFIED: signature")

    def refused(argv: list[str], code: int, why: str) -> None:
        assert main(["ear", "verify", *argv]) == code
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and why in err, err

    refused([signer.sign(claims | {"exp": now - 1}), "--jwks", str(jwks)], 1, "expired")
    # a time given: checked then, not now
    assert main(["ear", "verify", signer.sign(claims | {"exp": now - 1}), "--jwks", str(jwks),
                 "--at", _iso(now - 30)]) == 0  # fmt: skip
    capsys.readouterr()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"keys": [Signer(ec.generate_private_key(ec.SECP256R1())).jwk]}))
    refused([token, "--jwks", str(other)], 1, "EAR token")
    (tmp_path / "bad.json").write_text("{")
    refused([token, "--jwks", str(tmp_path / "bad.json")], 2, "not JSON")
    refused(["not-a-token", "--jwks", str(jwks)], 2, "not a token and not a readable file")
    refused([token, "--jwks", str(tmp_path / "missing.json")], 2, "missing.json")
    refused([signer.sign({"iat": now, "exp": now + 60}), "--jwks", str(jwks)], 2, "eat_profile")
    contra = _appraise(result(snp(debug=True))) | {"iat": now, "exp": now + 60}
    refused([signer.sign(contra), "--jwks", str(jwks)], 1, "contraindicated")


def _iso(seconds: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()
