"""The commons end to end: three custodians as separate processes serving TLS on loopback,
each with its own SQLite store, keys, verifier and policy; an emulated keep (NO hardware
protection). Every refusal the issue lists, with real shares (#18, Deliver 3)."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from commons_world import EXAMPLE, PARTIES, World, world
from elsewhere.commons.audit import audit, audit_log, witness_round
from elsewhere.commons.canon import b64
from elsewhere.commons.client import CustodianClient
from elsewhere.commons.proposals import Verb, sign_decision
from elsewhere.commons.session import open_result
from elsewhere.commons.wire import RELEASE_INFO, combined_nonce, keep_keys, release_aad
from elsewhere.crypto.binding import report_data, workload_digest
from elsewhere.crypto.hpke import KeepKey, WrongRecipient
from elsewhere.errors import Conflict, InputError, Refused
from elsewhere.ledger.checkpoint import Checkpoint, sign_checkpoint
from elsewhere.ledger.keyfile import load_key_file


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # The default veto quorum (n - k = 1 peer): one custodian down must not stop a run (#18).
    with world(tmp_path_factory.mktemp("commons")) as made:
        yield made


def expected_cells() -> dict[str, int]:
    """The joint sums, computed here from the three CSVs (what no single agency holds)."""
    totals: dict[str, int] = {}
    for name in PARTIES:
        for line in (EXAMPLE / f"{name}.csv").read_text().splitlines()[1:]:
            region, week, cases = (int(x) for x in line.split(","))
            key = f"r{region}w{week}"
            totals[key] = totals.get(key, 0) + cases
    return {k: v for k, v in totals.items() if v > 0}


def test_approved_proposal_runs_and_every_party_opens_the_result(w: World) -> None:
    datasets = w.deposit("ok")
    p = w.proposal("ok", datasets)  # ε = 0: exact values, to compare
    result = w.run(p, w.approvals(p), datasets)
    totals = expected_cells()
    kept = {k: v for k, v in totals.items() if v >= 10}
    assert len(result.released_by) == 3 and result.suppressed == len(totals) - len(kept) > 0
    for name in PARTIES:
        doc = open_result(w.local.parties[name], p, result.sealed[name])
        assert {c["key"]: c["value"] for c in doc["cells"]} == kept


def test_noise_and_epsilon_spent_recorded(w: World) -> None:
    datasets = w.deposit("dp")
    p = w.proposal("dp", datasets, epsilon=0.5)
    result = w.run(p, w.approvals(p), datasets)
    doc = open_result(w.local.parties["south"], p, result.sealed["south"])
    assert doc["epsilon_spent"] == 0.5 and doc["noise"].startswith("discrete Laplace")
    for client in w.clients:  # each custodian recorded it in its own store
        spent = {b["dataset_id"]: b["epsilon_spent"] for b in client.get("/v1/budgets")}
        assert spent["north-dp"] == spent["south-dp"] == 0.5


def test_too_few_approvals_refused(w: World) -> None:
    datasets = w.deposit("few")
    p = w.proposal("few", datasets)
    with pytest.raises(Refused, match="has not approved"):
        w.run(p, w.approvals(p, ("north",)), datasets)


def test_analysis_one_byte_different_refused(w: World) -> None:
    datasets = w.deposit("byte")
    p = w.proposal("byte", datasets)
    changed = bytearray(w.module)
    changed[-1] ^= 1  # a custom section's last byte: still a valid module
    with pytest.raises(Refused, match="report_data"):
        w.run(p, w.approvals(p), datasets, module=bytes(changed))


def test_raw_rows_request_refused_by_the_custodian(w: World) -> None:
    datasets = w.deposit("raw")
    doc = w.proposal("raw", datasets).to_json()
    doc["rule"]["kind"] = "raw"
    with pytest.raises(InputError, match="no raw rows"):
        w.clients[0].post(
            "/v1/releases",
            {
                "proposal": doc,
                "decisions": [],
                "nonces": ["00" * 16],
                "keep_public_key": "",
                "evidence": "",
            },
        )


def test_keep_on_refused_cpu_refused(w: World) -> None:
    datasets = w.deposit("milan")
    p = w.proposal("milan", datasets)
    with pytest.raises(Refused, match="Milan"):
        w.run(p, w.approvals(p), datasets, attester=w.milan)


def test_one_party_veto_stops_every_custodian(w: World) -> None:
    datasets = w.deposit("veto")
    p = w.proposal("veto", datasets)
    veto = sign_decision(w.local.parties["south"], Verb.VETO, p)
    for client in w.clients:  # the party sends it to each custodian itself
        client.post("/v1/vetoes", {"proposal": p.to_json(), "decision": veto.to_json()})
    with pytest.raises(Refused, match=r"vetoed .*south"):
        w.run(p, w.approvals(p), datasets)  # the approvals sent leave the veto out


def test_veto_by_a_non_party_refused(w: World) -> None:
    from elsewhere.commons.roster import PartyKeys

    p = w.proposal("fakeveto", w.deposit("fakeveto"))
    veto = sign_decision(PartyKeys.generate("south"), Verb.VETO, p)
    with pytest.raises(Refused, match="signature does not verify"):
        w.clients[0].post("/v1/vetoes", {"proposal": p.to_json(), "decision": veto.to_json()})


def test_budget_runs_out(w: World) -> None:
    datasets = w.deposit("eps", budget=1.0)
    for pid in ("eps1", "eps2"):
        p = w.proposal(pid, datasets, epsilon=0.5)
        w.run(p, w.approvals(p), datasets)
    p = w.proposal("eps3", datasets, epsilon=0.5)
    with pytest.raises(Refused, match="budget left 0"):
        w.run(p, w.approvals(p), datasets)


def _release_request(w: World, p, key: KeepKey, bind_key: bytes) -> tuple[dict, CustodianClient]:  # type: ignore[no-untyped-def]
    client = w.clients[0]
    nonce = bytes.fromhex(client.post(f"/v1/proposals/{p.id}/nonce")["nonce"])
    sign_key = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    bound = report_data(
        combined_nonce([nonce]),
        keep_keys(bind_key, sign_key),
        workload_digest(w.module),
        p.digest,
    )
    evidence = w.genoa.attest(bound)
    request = {
        "proposal": p.to_json(),
        "decisions": [d.to_json() for d in w.approvals(p)],
        "nonces": [nonce.hex()],
        "keep_public_key": b64(key.public_bytes()),
        "keep_sign_key": b64(sign_key),
        "evidence": b64(evidence.evidence),
        "certificates": b64(evidence.aux),
    }
    return request, client


def test_share_for_the_wrong_keep_key(w: World) -> None:
    datasets = w.deposit("wrongkey")
    p = w.proposal("wrongkey", datasets)
    attested, other = KeepKey.generate(), KeepKey.generate()
    # evidence binds `attested`; the request asks for `other`: refused
    request, client = _release_request(w, p, other, attested.public_bytes())
    with pytest.raises(Refused, match="report_data"):
        client.post("/v1/releases", request)
    # released to the attested key, a share does not open under any other key
    request, client = _release_request(w, p, attested, attested.public_bytes())
    answer = client.post("/v1/releases", request)
    wrapped = base64.b64decode(answer["shares"]["north-wrongkey"])
    aad = release_aad(p.digest, "north-wrongkey", client.name)
    with pytest.raises(WrongRecipient):
        other.open(wrapped, info=RELEASE_INFO, aad=aad)
    assert len(attested.open(wrapped, info=RELEASE_INFO, aad=aad)) == 33
    with pytest.raises(Conflict, match="replay refused"):  # the same request again
        client.post("/v1/releases", request)


def test_custodian_down_k_of_the_rest_release(w: World) -> None:
    datasets = w.deposit("down")
    p = w.proposal("down", datasets)
    w.local.stop("cust-c")
    try:
        result = w.run(p, w.approvals(p), datasets)
        assert result.released_by == ("cust-a", "cust-b")
        assert "cust-c: unreachable" in " ".join(result.refusals)
    finally:
        w.local.start("cust-c")


def test_lying_custodian_exposed_by_witnesses(w: World, tmp_path: Path) -> None:
    clients = w.clients
    assert witness_round(w.local.roster, clients) == []
    liar = clients[1]
    honest = audit_log(w.local.roster, liar)
    assert not honest.problems and len(honest.cosigners) == 2
    # cust-b signs a second history of the same size (it holds its own log key)
    key = load_key_file(w.local.root / "custodians" / "cust-b" / "log.key")
    forged = (
        sign_checkpoint(Checkpoint(key.name, honest.size, b"\x17" * 32), key).to_bytes().decode()
    )
    with pytest.raises(Conflict, match="split view"):
        clients[0].post("/v1/witness", {"custodian": "cust-b", "note": forged, "proof": []})
    shown = audit_log(w.local.roster, liar, note=forged)
    text = " ".join(shown.problems)
    assert "cosigned by no other custodian" in text and "do not give the root" in text


def test_each_party_audits_the_trail(w: World) -> None:
    datasets = w.deposit("audit")
    p = w.proposal("audit", datasets, epsilon=0.25)
    w.run(p, w.approvals(p), datasets)
    clients = w.clients
    assert witness_round(w.local.roster, clients) == []
    for name in PARTIES:
        report = audit(w.local.roster, name, clients)
        assert report.ok, report.to_json()
        mine = report.mine(report.logs[0])
        kinds = {
            e["kind"]
            for e in mine
            if e.get("proposal_id") == "audit" or e.get("dataset_id") == f"{name}-audit"
        }
        assert {"commons.deposit", "commons.release", "commons.output"} <= kinds


def test_malformed_bodies_answer_one_line(w: World) -> None:
    custodian = w.local.roster.custodians[0]
    with httpx.Client(verify=ssl.create_default_context(cafile=str(w.local.ca.cert_path))) as http:
        for body in (b"{", b"[]", b'{"proposal": 5}'):
            answer = http.post(
                custodian.url + "/v1/releases",
                content=body,
                headers={"content-type": "application/json"},
            )
            assert answer.status_code in (400, 422), answer.text
            assert "\n" not in answer.json()["error"]


def test_plain_http_is_not_served(w: World) -> None:
    url = w.local.roster.custodians[0].url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(url + "/v1/custodian", timeout=30).json()
