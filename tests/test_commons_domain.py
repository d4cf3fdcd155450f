"""The commons' pure parts: shares, proposal digests, approvals and vetoes, output rules."""

from __future__ import annotations

import dataclasses
import os
import time
from itertools import combinations

import pytest
from Crypto.Protocol.SecretSharing import Shamir

from elsewhere.commons.datasets import decrypt_dataset, encrypt_dataset
from elsewhere.commons.proposals import Decision, Proposal, Verb, sign_decision, standing
from elsewhere.commons.roster import PartyKeys, Roster
from elsewhere.commons.rules import Cell, OutputRule, apply_rule, parse_outputs
from elsewhere.commons.shares import Share, join_key, split_key
from elsewhere.commons.wire import SHARE_INFO, share_aad
from elsewhere.crypto.hpke import PrivateKey
from elsewhere.errors import InputError, VerificationFailed
from elsewhere.ledger.note import COSIGNATURE_V1, Signer

PARTIES = ("north", "central", "south")


@pytest.fixture(scope="module")
def keys() -> dict[str, PartyKeys]:
    return {name: PartyKeys.generate(name) for name in PARTIES}


def roster_for(
    keys: dict[str, PartyKeys], custodians: int = 5, k: int = 3, m: int = 2
) -> tuple[Roster, list[PrivateKey]]:
    seals = [PrivateKey.generate() for _ in range(custodians)]
    doc = {
        "commons": "test",
        "approvals_needed": m,
        "shares_needed": k,
        "parties": [p.public.to_json() for p in keys.values()],
        "custodians": [
            {
                "name": f"c{i}",
                "url": f"https://127.0.0.1:{9000 + i}",
                "seal_key": __import__("base64").b64encode(s.public_bytes()).decode(),
                "log_key": Signer.generate(f"c{i}.log").verifier.vkey(),
                "witness_key": Signer.generate(f"c{i}.witness", COSIGNATURE_V1).verifier.vkey(),
            }
            for i, s in enumerate(seals)
        ],
    }
    return Roster.from_json(doc), seals


def proposal(**changes: object) -> Proposal:
    base = Proposal(
        id="p1",
        analysis_digest="ab" * 48,
        datasets=("central-x", "north-x"),
        rule=OutputRule("aggregate", 10, 0.5, 1),
        expires_at=int(time.time()) + 600,
        proposer="north",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


OWNERS = {"north-x": "north", "central-x": "central"}


def test_k_of_n_shares_join_and_fewer_reveal_nothing_usable(keys: dict[str, PartyKeys]) -> None:
    roster, seals = roster_for(keys)
    sealed = encrypt_dataset(keys["north"], roster, "north-x", b"0,1,5\n" * 100, 1.0)
    shares = [
        Share.parse(
            seal.open(d.wrapped_share, info=SHARE_INFO, aad=share_aad("north-x", d.custodian))
        )
        for seal, d in zip(seals, sealed.deposits, strict=True)
    ]
    for chosen in combinations(shares, 3):  # any k real shares open the dataset
        key = join_key(list(chosen), 3)
        assert decrypt_dataset(key, "north-x", "north", sealed.ciphertext) == b"0,1,5\n" * 100
    for chosen in combinations(
        shares, 2
    ):  # k-1 colluding custodians (and the operator's ciphertext)
        with pytest.raises(InputError, match="3 needed"):
            join_key(list(chosen), 3)
        # interpolating the k-1 real shares anyway gives a wrong key, refused by AES-GCM
        low = Shamir.combine([(s.index, s.value[:16]) for s in chosen])
        high = Shamir.combine([(s.index, s.value[16:]) for s in chosen])
        with pytest.raises(VerificationFailed, match="does not open"):
            decrypt_dataset(low + high, "north-x", "north", sealed.ciphertext)


def test_share_wrapped_to_one_custodian_does_not_open_with_another(
    keys: dict[str, PartyKeys],
) -> None:
    roster, seals = roster_for(keys)
    sealed = encrypt_dataset(keys["north"], roster, "north-x", b"x", 1.0)
    with pytest.raises(Exception, match=r"sealed to key|could not open"):
        seals[1].open(
            sealed.deposits[0].wrapped_share, info=SHARE_INFO, aad=share_aad("north-x", "c0")
        )


def test_split_refuses_k_of_one() -> None:
    with pytest.raises(InputError, match="2 <= k"):
        split_key(os.urandom(32), 1, 3)


def test_roster_refuses_one_custodian_threshold(keys: dict[str, PartyKeys]) -> None:
    roster, _ = roster_for(keys)
    doc = roster.to_json() | {"shares_needed": 1}
    with pytest.raises(InputError, match="shares_needed"):
        Roster.from_json(doc)


def test_roster_veto_quorum(keys: dict[str, PartyKeys]) -> None:
    roster, _ = roster_for(keys)
    n, k = len(roster.custodians), roster.shares_needed
    assert roster.peers_to_hear == n - k and "veto_quorum" not in roster.to_json()
    chosen = Roster.from_json(roster.to_json() | {"veto_quorum": 0})
    assert chosen.peers_to_hear == 0 and chosen.digest != roster.digest  # part of the agreement
    for bad in (n, -1, True, "2"):
        with pytest.raises(InputError, match="veto_quorum"):
            Roster.from_json(roster.to_json() | {"veto_quorum": bad})


@pytest.mark.parametrize(
    "change",
    [
        {"id": "p2"},
        {"analysis_digest": "ac" + "ab" * 47},
        {"datasets": ("north-x",)},
        {"rule": OutputRule("aggregate", 11, 0.5, 1)},
        {"expires_at": 2_000_000_000},
    ],
)
def test_every_field_changes_the_digest(change: dict[str, object]) -> None:
    assert proposal(**change).digest != proposal().digest


def test_two_owner_approvals_stand(keys: dict[str, PartyKeys]) -> None:
    roster, _ = roster_for(keys)
    p = proposal()
    decisions = [sign_decision(keys[n], Verb.APPROVE, p) for n in ("north", "central")]
    assert standing(roster, p, decisions, OWNERS, now=int(time.time())).runnable


def test_replayed_approval_counts_once(keys: dict[str, PartyKeys]) -> None:
    roster, _ = roster_for(keys, m=3)
    p = proposal()
    approval = sign_decision(keys["north"], Verb.APPROVE, p)
    result = standing(
        roster,
        p,
        [approval, approval, approval, sign_decision(keys["central"], Verb.APPROVE, p)],
        OWNERS,
        now=int(time.time()),
    )
    assert not result.runnable
    assert "2 of 3 approvals needed" in " ".join(result.refusals)


def test_approval_by_a_non_owner_does_not_stand_for_the_owner(keys: dict[str, PartyKeys]) -> None:
    roster, _ = roster_for(keys)
    p = proposal()
    decisions = [sign_decision(keys[n], Verb.APPROVE, p) for n in ("north", "south")]
    result = standing(roster, p, decisions, OWNERS, now=int(time.time()))
    assert "dataset central-x: its owner central has not approved" in result.refusals


def test_approval_of_another_proposal_is_not_counted(keys: dict[str, PartyKeys]) -> None:
    roster, _ = roster_for(keys)
    p, other = proposal(), proposal(id="p2")
    stolen = sign_decision(keys["central"], Verb.APPROVE, other)
    # relabelled as p's: the digest inside no longer matches its signature
    relabelled = Decision(Verb.APPROVE, "central", p.digest, stolen.signature)
    decisions = [sign_decision(keys["north"], Verb.APPROVE, p), stolen, relabelled]
    result = standing(roster, p, decisions, OWNERS, now=int(time.time()))
    text = " ".join(result.refusals)
    assert "approve by central is for another proposal digest" in text
    assert "approve by central: signature does not verify" in text
    assert not result.runnable


def test_signature_by_someone_outside_the_commons(keys: dict[str, PartyKeys]) -> None:
    roster, _ = roster_for(keys)
    p = proposal()
    intruder = PartyKeys.generate("central")  # same name, another key
    decisions = [
        sign_decision(keys["north"], Verb.APPROVE, p),
        sign_decision(intruder, Verb.APPROVE, p),
    ]
    result = standing(roster, p, decisions, OWNERS, now=int(time.time()))
    assert "approve by central: signature does not verify" in " ".join(result.refusals)


def test_one_veto_stops_it_and_expiry_stops_it(keys: dict[str, PartyKeys]) -> None:
    roster, _ = roster_for(keys)
    p = proposal()
    decisions = [sign_decision(keys[n], Verb.APPROVE, p) for n in PARTIES]
    vetoed = standing(
        roster,
        p,
        [*decisions, sign_decision(keys["south"], Verb.VETO, p)],
        OWNERS,
        now=int(time.time()),
    )
    assert "vetoed by south" in vetoed.refusals
    late = standing(roster, p, decisions, OWNERS, now=p.expires_at)
    assert any(r.startswith("expired") for r in late.refusals)


def test_small_cells_suppressed_and_noise_added() -> None:
    cells = parse_outputs(b"r0w0,5,5\nr0w1,400,400\nr0w2,900,900\n")
    exact = apply_rule(OutputRule("aggregate", 10, 0.0, 1), cells)
    assert exact.cells == (("r0w1", 400), ("r0w2", 900)) and exact.suppressed == 1
    noisy = [apply_rule(OutputRule("aggregate", 10, 0.1, 1), cells) for _ in range(20)]
    assert any(n.cells != exact.cells for n in noisy)  # scale 10: identical 40 times is ~0
    assert all(n.suppressed == 1 and n.epsilon == 0.1 for n in noisy)


@pytest.mark.parametrize(
    "stdout",
    [b"0,1,5\n", b"r0w0,5\n", b"r0w0,5,5,extra\n", b"r0w0,-5,5\n", b"\xff\n", b"a,1,1\na,2,2\n"],
)
def test_anything_but_declared_cells_is_refused(stdout: bytes) -> None:
    with pytest.raises(InputError, match="analysis output"):
        parse_outputs(stdout)


def test_raw_rows_rule_is_refused() -> None:
    with pytest.raises(InputError, match="no raw rows"):
        OutputRule("raw", 10, 0.0, 1)


def test_cell_type_is_plain() -> None:
    assert Cell("k", 1, 1).group_size == 1
