"""Signed notes, checkpoints, bundles, entries: round trips, refusals, and fuzzed parsers
that answer any input with a value or one typed error, never a crash."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from elsewhere.errors import ElsewhereError, InputError, ParseError, VerificationFailed
from elsewhere.ledger import entries, merkle, tiles
from elsewhere.ledger.bundle import Bundle, parse_bundle, verify_bundle
from elsewhere.ledger.canonical import canonical_bytes, parse_entry_bytes
from elsewhere.ledger.checkpoint import (
    Checkpoint,
    open_checkpoint,
    parse_signed_checkpoint,
    sign_checkpoint,
)
from elsewhere.ledger.note import COSIGNATURE_V1, Signer, Verifier, parse_note, sign_note

LOG = Signer.generate("example.com/test-log")
WITNESS = Signer.generate("witness.example/w1", COSIGNATURE_V1)
AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def _bundle(index: int = 3, size: int = 11) -> bytes:
    datas = [canonical_bytes({"kind": "test", "n": i}) for i in range(size)]
    tree = merkle.MemoryTree(merkle.leaf_hash(d) for d in datas)
    signed = sign_checkpoint(Checkpoint(LOG.name, size, tree.root()), LOG)
    proof = merkle.prove_inclusion(index, size, tree.read)
    return Bundle(index, tuple(proof), signed, datas[index]).to_bytes()


def test_key_strings_round_trip() -> None:
    assert Signer.parse(LOG.skey()) == LOG
    assert Verifier.parse(LOG.verifier.vkey()) == LOG.verifier
    assert Verifier.parse(WITNESS.verifier.vkey()).key_type == COSIGNATURE_V1
    with pytest.raises(ParseError):
        Signer.generate("has space")
    with pytest.raises(ParseError):
        Verifier.parse(LOG.verifier.vkey().replace(LOG.name, "example.com/other"))


def test_bundle_round_trip_and_every_flipped_byte_fails() -> None:
    data = _bundle()
    result = verify_bundle(data, LOG.verifier)
    assert result.index == 3 and result.entry == {"kind": "test", "n": 3}
    assert parse_bundle(data).to_bytes() == data
    for position in range(len(data)):
        flipped = data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]
        with pytest.raises(ElsewhereError):
            verify_bundle(flipped, LOG.verifier)


def test_bundle_entry_given_separately() -> None:
    full = parse_bundle(_bundle())
    bare = Bundle(full.index, full.proof, full.checkpoint).to_bytes()
    assert b"extra" not in bare
    with pytest.raises(ParseError, match="extra"):
        verify_bundle(bare, LOG.verifier)
    verify_bundle(bare, LOG.verifier, entry=canonical_bytes({"n": 3, "kind": "test"}))
    with pytest.raises(VerificationFailed):
        verify_bundle(bare, LOG.verifier, entry=canonical_bytes({"kind": "test", "n": 4}))
    with pytest.raises(VerificationFailed, match="not the entry"):
        verify_bundle(_bundle(), LOG.verifier, entry=canonical_bytes({"kind": "x"}))


def test_bundle_with_witness_quorum() -> None:
    full = parse_bundle(_bundle())
    cosigned = full.checkpoint.cosign(WITNESS, 1_700_000_000)
    data = Bundle(full.index, full.proof, cosigned, full.entry).to_bytes()
    result = verify_bundle(data, LOG.verifier, witnesses=[WITNESS.verifier], quorum=1)
    assert result.witnesses == (WITNESS.name,)
    with pytest.raises(VerificationFailed, match="witness"):
        verify_bundle(_bundle(), LOG.verifier, witnesses=[WITNESS.verifier], quorum=1)
    other = Signer.generate("witness.example/w2", COSIGNATURE_V1)
    with pytest.raises(VerificationFailed, match="needs 2"):
        verify_bundle(data, LOG.verifier, witnesses=[WITNESS.verifier, other.verifier], quorum=2)


def test_checkpoint_text_rules() -> None:
    good = Checkpoint("example.com/log", 5, bytes(32), ("ext line",))
    assert Checkpoint.parse(good.text()) == good
    root = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    for text in (
        f"example.com/log\n05\n{root}\n",  # leading zero
        f"example.com/log\n-1\n{root}\n",
        f"example.com/log\n5\n{root[:-4]}\n",  # short root
        f"\n5\n{root}\n",  # empty origin
        f"example.com/log\n5\n{root}\n\nx\n",  # empty extension line
        f"example.com/log\n5\n{root}",  # no final newline
        "example.com/log\n5\n",
    ):
        with pytest.raises(ParseError):
            Checkpoint.parse(text)


def test_note_refuses_unsigned_and_wrongly_signed() -> None:
    note = sign_note("hello\n", LOG)
    assert parse_note(note.to_bytes()) == note
    with pytest.raises(ParseError):
        parse_note(b"hello\n")
    with pytest.raises(ParseError):
        parse_note(b"hello\x07\n\n" + note.to_bytes().split(b"\n\n")[1])
    other = Signer.generate(LOG.name)  # same name, another key: ignored as unknown
    with pytest.raises(VerificationFailed, match="no signature"):
        open_checkpoint(
            sign_checkpoint(Checkpoint(LOG.name, 0, merkle.EMPTY_ROOT), other).to_bytes(),
            LOG.verifier,
        )


def test_canonical_entries() -> None:
    assert canonical_bytes({"b": 1, "a": [1.5, "é"]}) == '{"a":[1.5,"é"],"b":1}'.encode()
    assert parse_entry_bytes(b'{"a":1}') == {"a": 1}
    with pytest.raises(InputError, match="canonical"):
        parse_entry_bytes(b'{"a": 1}')
    for bad in ({"x": float("nan")}, {"x": object()}, {"x": 2**60}, {"x": "a" * 70000}):
        with pytest.raises(InputError):
            canonical_bytes(bad)


def test_typed_entries_round_trip() -> None:
    made = [
        entries.AttestationDecision(
            at=AT,
            evidence_digest=entries.digest(b"evidence"),
            claims_digest=entries.digest(b"claims"),
            policy_version=3,
            policy_digest=entries.digest(b"policy"),
            verdict="refused",
            reasons=("AMD Milan is refused by policy",),
            host="host-1",
        ),
        entries.SecretRelease(
            at=AT,
            secret_id="db-password",
            keep_key_digest=entries.digest(b"keep key"),
            evidence_digest=entries.digest(b"evidence"),
            policy_digest=entries.digest(b"policy"),
        ),
        entries.PolicyVersion(at=AT, tenant="acme", version=4, policy_digest=entries.digest(b"p4")),
        entries.AdvisoryImport(
            at=AT, source="amd", feed_digest=entries.digest(b"feed"), advisory_ids=("SB-3019",)
        ),
        entries.Eviction(at=AT, host="host-1", action="drain", reason="advisory SB-3019"),
        entries.Placement(
            at=AT,
            workload="w1",
            chosen="host-2",
            candidates=(
                entries.Candidate("host-1", 0.2, 10.0, 2.0),
                entries.Candidate("host-2", 0.05, 10.0, 0.5),
            ),
        ),
    ]
    for record in made:
        entry = record.to_entry()
        assert entry["schema"] == entries.SCHEMA and entry["kind"] == record.kind
        assert entry["at"] == "2026-01-02T03:04:05Z"
        data = canonical_bytes(entry)
        assert entries.from_entry(parse_entry_bytes(data)) == record
    with pytest.raises(InputError, match="sha256"):
        entries.SecretRelease(
            at=AT, secret_id="s", keep_key_digest="md5:00", evidence_digest="x", policy_digest="y"
        )
    with pytest.raises(InputError, match="why"):
        entries.AttestationDecision(
            at=AT,
            evidence_digest=entries.digest(b"e"),
            claims_digest=entries.digest(b"c"),
            policy_version=1,
            policy_digest=entries.digest(b"p"),
            verdict="refused",
        )
    with pytest.raises(InputError):
        entries.from_entry({"schema": entries.SCHEMA, "kind": "placement", "bogus": 1})


def test_tile_paths_and_bundles() -> None:
    assert tiles.tile_path("entries", 1234067, 7) == "tile/entries/x001/x234/067.p/7"
    records = [b"", b"a", b"x" * 300]
    assert tiles.parse_entry_bundle(tiles.encode_entry_bundle(records)) == records
    with pytest.raises(ParseError):
        tiles.parse_entry_bundle(b"\x00\x05abc")


# --- fuzzing ---------------------------------------------------------------------------

TEXTISH = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=300).map(str.encode),
    st.lists(
        st.sampled_from(
            [
                "— ",
                "example.com/test-log",
                "\n",
                " ",
                "+",
                "AAAA",
                "=",
                "index 1",
                "extra ",
                "c2sp.org/tlog-proof@v1",
                "0",
                "5",
                "/",
                "\u2014",
            ]
        ),
        max_size=40,
    ).map(lambda parts: "".join(parts).encode()),
)


@settings(max_examples=400, deadline=None)
@given(TEXTISH)
def test_fuzz_parsers_fail_with_one_typed_error(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    for parse in (
        lambda: parse_note(data),
        lambda: parse_signed_checkpoint(data),
        lambda: parse_bundle(data),
        lambda: Checkpoint.parse(text),
        lambda: Verifier.parse(text),
        lambda: Signer.parse(text),
        lambda: tiles.parse_entry_bundle(data),
        lambda: parse_entry_bytes(data),
        lambda: verify_bundle(data, LOG.verifier),
    ):
        try:
            parse()
        except ElsewhereError as error:
            assert "\n" not in error.message


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzz_mutated_bundles_never_verify(data: st.DataObject) -> None:
    original = _bundle(index=data.draw(st.integers(0, 10)))
    position = data.draw(st.integers(0, len(original) - 1))
    replacement = data.draw(st.binary(min_size=0, max_size=3))
    mutated = original[:position] + replacement + original[position + 1 :]
    if mutated == original:
        return
    with pytest.raises(ElsewhereError):
        verify_bundle(mutated, LOG.verifier)


JSON_NO_FLOATS = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=8),
        JSON_NO_FLOATS | st.floats(allow_nan=False, allow_infinity=False),
        max_size=6,
    )
)
def test_canonical_fast_path_equals_rfc8785(value: dict[str, object]) -> None:
    import rfc8785

    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(InputError):
            canonical_bytes(value)
        return
    if len(expected) <= 65535:
        assert canonical_bytes(value) == expected
