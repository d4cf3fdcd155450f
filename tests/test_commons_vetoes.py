"""The two holes docs/commons.md used to admit, closed (#18, brief commons2): the keep signs
its result report with a key bound in its evidence; a veto reaches every custodian from any
one of them, and a custodian asks its peers before releasing. Custodians are separate
processes over TLS; the roster keeps the default veto quorum (n - k = 1 peer of 2)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from commons_world import World, world
from elsewhere.commons.canon import b64
from elsewhere.commons.client import CustodianClient
from elsewhere.commons.proposals import Verb, sign_decision
from elsewhere.commons.roster import PartyKeys
from elsewhere.errors import Conflict, InputError, Refused
from waits import wait_for


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with world(tmp_path_factory.mktemp("commons-vetoes")) as made:
        yield made


def entries(client: CustodianClient) -> list[dict[str, Any]]:
    size = client.get("/v1/log/checkpoint")["size"]
    out: list[dict[str, Any]] = []
    while len(out) < size:
        page = client.get("/v1/log/entries", start=len(out), end=min(size, len(out) + 1000))
        out += [json.loads(base64.b64decode(e)) for e in page["entries"]]
    return out


def of(client: CustodianClient, kind: str, proposal_id: str) -> list[dict[str, Any]]:
    return [e for e in entries(client) if e["kind"] == kind and e["proposal_id"] == proposal_id]


def test_forged_result_reports_refused(w: World) -> None:
    datasets = w.deposit("report")
    first, second = w.proposal("report-a", datasets), w.proposal("report-b", datasets)
    for p in (first, second):
        w.run(p, w.approvals(p), datasets)
    client = w.clients[0]
    [genuine] = of(client, "commons.output", "report-a")
    [other] = of(client, "commons.output", "report-b")
    assert genuine["keep_signature"]  # the log records the verified report, with its signature
    forged = {"proposal_id": "report-a", "result_digest": "sha256:" + "ab" * 32, "suppressed": 0}
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(Refused, match="not signed by the keep this custodian released to"):
        client.post("/v1/outputs", forged | {"signature": b64(stranger.sign(b"anything"))})
    with pytest.raises(InputError, match="signature"):
        client.post("/v1/outputs", forged)  # unsigned
    # report-b's keep signed report-b's report: as report-a's it is for another proposal
    replayed = {
        "proposal_id": "report-a",
        "result_digest": other["result_digest"],
        "suppressed": other["suppressed"],
        "signature": other["keep_signature"],
    }
    with pytest.raises(Refused, match="not signed by the keep"):
        client.post("/v1/outputs", replayed)
    with pytest.raises(Conflict, match="already recorded"):  # the genuine one, again
        client.post("/v1/outputs", replayed | {"proposal_id": "report-b"})
    assert of(client, "commons.output", "report-a") == [genuine]


def test_veto_sent_to_one_custodian_stops_a_release_asking_the_others(w: World) -> None:
    datasets = w.deposit("onlyone")
    p = w.proposal("onlyone", datasets)
    veto = sign_decision(w.local.parties["south"], Verb.VETO, p)
    first, *others = w.clients
    first.post("/v1/vetoes", {"proposal": p.to_json(), "decision": veto.to_json()})
    with pytest.raises(Refused, match=r"0 of 2 custodians released.*vetoed .*south"):
        w.run_with(others, p, w.approvals(p), datasets)
    for client in others:  # each recorded it, forwarded or learned from its peer's answer
        assert of(client, "commons.veto", "onlyone")
        assert not of(client, "commons.release", "onlyone")


def test_custodian_down_when_the_veto_is_sent_receives_it_once_back_up(w: World) -> None:
    datasets = w.deposit("downveto")
    p = w.proposal("downveto", datasets)
    veto = sign_decision(w.local.parties["central"], Verb.VETO, p)
    w.local.stop("cust-c")
    try:
        w.clients[0].post("/v1/vetoes", {"proposal": p.to_json(), "decision": veto.to_json()})
    finally:
        w.local.start("cust-c")
    back = w.local.client("cust-c")
    [entry] = wait_for(lambda: of(back, "commons.veto", "downveto"), every=0.2)
    assert entry["party"] == "central" and entry["via"] in ("cust-a", "cust-b")
    # cust-c now refuses on its own record, whatever its peers would say
    mine = r"cust-c: .*vetoed \(recorded at this custodian\) by central"
    with pytest.raises(Refused, match=mine):
        w.run_with([back], p, w.approvals(p), datasets)


def test_forged_veto_forwarded_by_a_custodian_refused(w: World) -> None:
    datasets = w.deposit("forged")
    p = w.proposal("forged", datasets)
    elsewhere_p = w.proposal("forged-other", datasets)
    impostor = sign_decision(PartyKeys.generate("south"), Verb.VETO, p)
    misdirected = sign_decision(w.local.parties["south"], Verb.VETO, elsewhere_p)
    target = w.clients[1]
    for decision, why in (
        (impostor, "signature does not verify"),
        (misdirected, "for another proposal digest"),
    ):
        doc = {"proposal": p.to_json(), "decision": decision.to_json()}
        with pytest.raises(Refused, match=f"veto forwarded by cust-a refused: .*{why}"):
            target.post("/v1/vetoes/forwarded", {"from": "cust-a", "veto": doc})
    assert not of(target, "commons.veto", "forged")
    result = w.run(p, w.approvals(p), datasets)  # nothing forged stops a run
    assert len(result.released_by) == 3


def test_too_few_peers_answer_no_release(w: World) -> None:
    """The default quorum asks n - k = 1 peer: one custodian down, the run goes on (#18); two
    down, the one left cannot rule out a veto it has not heard of, so it refuses (and says so)."""
    datasets = w.deposit("quorum")
    p = w.proposal("quorum", datasets)
    w.local.stop("cust-c")
    try:
        assert len(w.run(p, w.approvals(p), datasets).released_by) == 2
        w.local.stop("cust-b")
        try:
            with pytest.raises(Refused, match="veto check: heard from 0 of the 1 peers needed"):
                w.run(p, w.approvals(p), datasets)
        finally:
            w.local.start("cust-b")
    finally:
        w.local.start("cust-c")
