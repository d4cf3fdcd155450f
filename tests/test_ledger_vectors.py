"""The ledger against ../shared/vectors/tlog: every vector passes or fails as PROVENANCE.md
documents (RFC 9162 tree, transparency-dev probes, Go signed notes, a real Tessera log,
tile layout, a derived cosignature)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from elsewhere.errors import ElsewhereError, VerificationFailed
from elsewhere.ledger import merkle, tiles
from elsewhere.ledger.checkpoint import (
    Checkpoint,
    cosigned_by,
    open_checkpoint,
    parse_signed_checkpoint,
    sign_checkpoint,
)
from elsewhere.ledger.note import (
    COSIGNATURE_V1,
    Signer,
    Verifier,
    parse_note,
    sign_note,
    verify_note,
)


@pytest.fixture(scope="module")
def tlog(vectors: Path) -> Path:
    path = vectors / "tlog"
    if not (path / "PROVENANCE.md").is_file():
        pytest.skip(f"tlog vectors not found at {path}")
    return path


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _hex(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


# --- RFC 9162 tree -------------------------------------------------------------------


def test_rfc9162_hasher_unit_vectors(tlog: Path) -> None:
    tree = _load(tlog / "rfc9162-tree-8-leaves.json")
    empty, leaf_empty, leaf_text, children = tree["hasher_unit_vectors"]
    assert merkle.EMPTY_ROOT.hex() == empty["want"]
    assert merkle.leaf_hash(b"").hex() == leaf_empty["want"]
    assert merkle.leaf_hash(bytes.fromhex(leaf_text["leaf_input_hex"])).hex() == leaf_text["want"]
    left, right = bytes.fromhex(children["left_hex"]), bytes.fromhex(children["right_hex"])
    assert merkle.node_hash(left, right).hex() == children["want"]


def test_rfc9162_tree_roots_nodes_and_proofs(tlog: Path) -> None:
    tree = _load(tlog / "rfc9162-tree-8-leaves.json")
    leaves = [merkle.leaf_hash(bytes.fromhex(x)) for x in tree["leaf_inputs_hex"]]
    assert [h.hex() for h in leaves] == tree["leaf_hashes_hex"]
    memory = merkle.MemoryTree(leaves)
    for level, row in enumerate(tree["node_hashes_by_level"]["levels"]):
        assert [memory.levels[level][i].hex() for i in range(len(row))] == row
    for size, root in tree["root_hash_by_tree_size"].items():
        n = int(size)
        assert merkle.mth(leaves[:n]).hex() == root  # §2.1.1 recursion
        assert merkle.root_of(leaves[:n]).hex() == root  # §2.1.2 stack
        assert memory.root(n).hex() == root  # stored complete subtrees
    for case in tree["inclusion_proofs"]:
        index, size = case["leaf_index"], case["tree_size"]
        proof = merkle.prove_inclusion(index, size, memory.read)
        assert [p.hex() for p in proof] == case["proof"]
        leaf = merkle.leaf_hash(bytes.fromhex(case["leaf_input_hex"]))
        merkle.verify_inclusion(index, size, leaf, proof, bytes.fromhex(case["root"]))
    for case in tree["consistency_proofs"]:
        old, new = case["size1"], case["size2"]
        proof = merkle.prove_consistency(old, new, memory.read)
        assert [p.hex() for p in proof] == case["proof"]
        merkle.verify_consistency(
            old, new, bytes.fromhex(case["root1"]), bytes.fromhex(case["root2"]), proof
        )


def test_derived_all_proofs_and_rfc_worked_example(tlog: Path) -> None:
    derived = _load(tlog / "derived-all-proofs-8-leaves.json")
    leaves = [merkle.leaf_hash(bytes.fromhex(x)) for x in derived["leaf_inputs_hex"]]
    memory = merkle.MemoryTree(leaves)
    roots = {int(k): bytes.fromhex(v) for k, v in derived["root_hash_by_tree_size"].items()}
    assert len(derived["inclusion"]) == 36 and len(derived["consistency"]) == 28
    for case in derived["inclusion"]:
        index, size = case["leaf_index"], case["tree_size"]
        proof = merkle.prove_inclusion(index, size, memory.read)
        assert proof == _hex(case["proof"])
        assert len(proof) == merkle.inclusion_length(index, size)
        merkle.verify_inclusion(index, size, leaves[index], proof, roots[size])
    for case in derived["consistency"]:
        old, new = case["size1"], case["size2"]
        proof = merkle.prove_consistency(old, new, memory.read)
        assert proof == _hex(case["proof"])
        assert len(proof) == merkle.consistency_length(old, new)
        merkle.verify_consistency(old, new, roots[old], roots[new], proof)
    example = derived["rfc9162_section_2_1_5_example"]
    labels = {bytes.fromhex(v): k for k, v in example["node_labels"].items()}
    seven = merkle.MemoryTree(leaves[:7])
    assert seven.root().hex() == example["root_7"]
    for case in example["cases"]:
        if case["kind"] == "inclusion":
            proof = merkle.prove_inclusion(case["leaf_index"], case["tree_size"], seven.read)
        else:
            proof = merkle.prove_consistency(case["size1"], case["size2"], seven.read)
        assert [labels[p] for p in proof] == case["labels"]


# --- transparency-dev probes -----------------------------------------------------------


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _probes(tlog: Path, kind: str) -> list[Path]:
    root = tlog / "transparency-dev-merkle" / "testdata" / kind
    return sorted(root.rglob("*.json"))


def test_transparency_dev_inclusion_probes(tlog: Path) -> None:
    probes = _probes(tlog, "inclusion")
    assert probes
    for path in probes:
        probe = _load(path)
        proof = [_b64(p) for p in probe["proof"] or []]
        try:
            merkle.verify_inclusion(
                probe["leafIdx"],
                probe["treeSize"],
                _b64(probe["leafHash"]),
                proof,
                _b64(probe["root"]),
            )
            failed = False
        except VerificationFailed:
            failed = True
        assert failed == probe["wantErr"], f"{path.relative_to(tlog)}: {probe['desc']}"


def test_transparency_dev_consistency_probes(tlog: Path) -> None:
    probes = _probes(tlog, "consistency")
    assert probes
    for path in probes:
        probe = _load(path)
        proof = [_b64(p) for p in probe["proof"] or []]
        try:
            merkle.verify_consistency(
                probe["size1"],
                probe["size2"],
                _b64(probe["root1"]),
                _b64(probe["root2"]),
                proof,
            )
            failed = False
        except VerificationFailed:
            failed = True
        assert failed == probe["wantErr"], f"{path.relative_to(tlog)}: {probe['desc']}"


def test_probe_happy_paths_are_reproduced_by_the_prover(tlog: Path) -> None:
    tree = _load(tlog / "rfc9162-tree-8-leaves.json")
    memory = merkle.MemoryTree(merkle.leaf_hash(bytes.fromhex(x)) for x in tree["leaf_inputs_hex"])
    for path in _probes(tlog, "inclusion"):
        probe = _load(path)
        if path.name == "happy-path.json" and probe["treeSize"] <= 8:
            got = merkle.prove_inclusion(probe["leafIdx"], probe["treeSize"], memory.read)
            assert got == [_b64(p) for p in probe["proof"] or []]
    for path in _probes(tlog, "consistency"):
        probe = _load(path)
        if path.name == "happy-path.json" and probe["size1"] > 0 and probe["size2"] <= 8:
            got = merkle.prove_consistency(probe["size1"], probe["size2"], memory.read)
            assert got == [_b64(p) for p in probe["proof"] or []]


# --- signed notes ----------------------------------------------------------------------


def test_go_signed_note_vectors(tlog: Path) -> None:
    notes = {v["id"]: v for v in _load(tlog / "signed-note.json")["vectors"]}
    peter = notes["go-sumdb-note-PeterNeumann"]
    signer = Signer.parse(peter["skey"])
    assert signer.verifier.vkey() == peter["vkey"]
    assert signer.verifier.key_id.hex() == peter["key_id_hex"]
    signed = sign_note(peter["note_text"], signer)
    assert signed.to_bytes().decode() == peter["signed_note"]  # Ed25519 is deterministic
    assert verify_note(parse_note(peter["signed_note"].encode()), [signer.verifier])

    two = notes["go-sumdb-note-two-signers"]
    note = parse_note(two["signed_note"].encode())
    keys = [Verifier.parse(v) for v in two["vkeys"]]
    for key in keys:  # either key alone verifies; the other line is ignored as unknown
        assert [v.name for v in verify_note(note, [key])] == [key.name]
    assert len(verify_note(note, keys)) == 2
    vkey = two["vkeys"][0]
    for cut in range(1, len(vkey)):  # any truncation of a vkey is refused
        with pytest.raises(ElsewhereError):
            Verifier.parse(vkey[:cut])
    for position in range(len(vkey)):  # and any single changed byte
        changed = vkey[:position] + ("A" if vkey[position] != "A" else "B") + vkey[position + 1 :]
        with pytest.raises(ElsewhereError):
            Verifier.parse(changed)

    c2sp = notes["c2sp-signed-note-example"]
    key = Verifier.parse(c2sp["vkey"])
    assert verify_note(parse_note(c2sp["signed_note"].encode()), [key])
    tampered = c2sp["signed_note"].replace("example message", "example massage").encode()
    with pytest.raises(VerificationFailed):
        verify_note(parse_note(tampered), [key])


def test_go_sumdb_tree_note_golden(tlog: Path) -> None:
    golden = _load(tlog / "signed-note.json")["go_sumdb_tree_note_golden"]
    checkpoint = Checkpoint.parse(golden["note_text"])
    assert checkpoint.size == golden["tree_size"]
    assert checkpoint.root == merkle.leaf_hash(b"hello world")
    assert checkpoint.text() == golden["note_text"]


# --- a real Tessera log ----------------------------------------------------------------


def test_tessera_log_checkpoints_tiles_and_consistency(tlog: Path) -> None:
    log = tlog / "tessera-testdata-log"
    manifest = _load(log / "manifest.json")
    key = Verifier.parse(manifest["vkey"])
    signer = Signer.parse(manifest["skey_public_test_key"])
    assert signer.verifier == key
    reader = tiles.TileLog(log / "log")
    entries = reader.entries(15)
    assert [e.decode() for e in entries] == manifest["entries_utf8"]
    leaves = [merkle.leaf_hash(e) for e in entries]
    assert [h.hex() for h in leaves] == manifest["leaf_hash_hex"]
    assert reader.read_leaves(0, 15) == leaves  # level-0 tile = concatenated leaf hashes
    checkpoints = {}
    for size in range(16):
        data = (log / "log" / f"checkpoint.{size}").read_bytes()
        signed = open_checkpoint(data, key)
        assert signed.size == size
        assert base64.b64encode(signed.root).decode() == manifest["root_b64_by_size"][str(size)]
        assert merkle.root_of(leaves[:size]) == signed.root
        assert sign_checkpoint(signed.checkpoint, signer).to_bytes() == data  # re-sign
        checkpoints[size] = signed
    assert (log / "log" / "checkpoint").read_bytes() == checkpoints[15].to_bytes()
    assert checkpoints[0].root == merkle.EMPTY_ROOT
    for old in range(1, 16):
        for new in range(old, 16):
            proof = merkle.prove_consistency(old, new, reader.read_nodes(new))
            merkle.verify_consistency(old, new, checkpoints[old].root, checkpoints[new].root, proof)
    for index in range(15):
        proof = merkle.prove_inclusion(index, 15, reader.read_nodes(15))
        merkle.verify_inclusion(index, 15, leaves[index], proof, checkpoints[15].root)


def test_tessera_checkpoint_refused_with_wrong_key_or_origin(tlog: Path) -> None:
    log = tlog / "tessera-testdata-log"
    data = (log / "log" / "checkpoint.7").read_bytes()
    other = Signer.generate("example.com/log/testdata").verifier
    with pytest.raises(VerificationFailed):
        open_checkpoint(data, other)
    key = Verifier.parse(_load(log / "manifest.json")["vkey"])
    with pytest.raises(VerificationFailed, match="origin"):
        open_checkpoint(data, key, origin="example.com/another")
    flipped = data.replace(b"\n7\n", b"\n8\n")
    with pytest.raises(VerificationFailed):
        open_checkpoint(flipped, key)


# --- tiles -----------------------------------------------------------------------------


def test_tile_layout_vectors(tlog: Path) -> None:
    layout = _load(tlog / "tlog-tiles-layout.json")
    for case in layout["path_examples"]:
        assert (
            tiles.tile_path(case["level"], case["index"], case.get("width", 256)) == (case["path"])
        )
    for case in layout["tree_size_examples"]:
        want = {t["level"]: (t["full_tiles"], t["partial_width"]) for t in case["tiles"]}
        assert tiles.tile_counts(case["tree_size"]) == want


# --- cosignature -----------------------------------------------------------------------


def test_derived_cosignature_v1(tlog: Path) -> None:
    vector = _load(tlog / "cosignature-v1-derived.json")
    witness = Signer(
        vector["witness_name"], COSIGNATURE_V1, bytes.fromhex(vector["ed25519_seed_hex"])
    )
    assert witness.verifier.public.hex() == vector["ed25519_public_hex"]
    assert witness.verifier.vkey() == vector["vkey"]
    assert witness.verifier.key_id.hex() == vector["key_id_hex"]
    log = tlog / "tessera-testdata-log"
    log_key = Verifier.parse(_load(log / "manifest.json")["vkey"])
    signed = open_checkpoint((log / "log" / "checkpoint.15").read_bytes(), log_key)
    assert signed.note.text == vector["checkpoint_text"]
    cosigned = signed.cosign(witness, vector["timestamp"])
    assert cosigned.note.signatures[-1].line().rstrip("\n") == vector["signature_line"]
    assert cosigned.to_bytes().decode() == vector["cosigned_checkpoint"]
    data = vector["cosigned_checkpoint"].encode()
    witness_key = Verifier.parse(vector["vkey"])
    assert cosigned_by(parse_signed_checkpoint(data), [witness_key]) == [witness.name]
    open_checkpoint(data, log_key, [witness_key], quorum=1)
    with pytest.raises(VerificationFailed, match="witness"):
        open_checkpoint(data, log_key, [witness_key], quorum=2)
    # The log's own Ed25519 line must not count as a cosignature, nor the reverse.
    as_log_key = Verifier(witness_key.name, 0x01, witness_key.public)
    with pytest.raises(VerificationFailed):
        verify_note(parse_note(data), [as_log_key])
    # The spec example's line: layout only (its public key is not published).
    example = vector["c2sp_spec_example_structure"]
    raw = base64.b64decode(example["line"].split(" ")[2])
    assert len(raw) == example["decodes_to"]["bytes"]
    assert raw[:4].hex() == example["decodes_to"]["key_id_hex"]
    assert int.from_bytes(raw[4:12], "big") == example["decodes_to"]["timestamp"]


def test_cli_monitors_the_real_tessera_log_and_catches_a_fork(
    tlog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from elsewhere.cli import main

    log = tlog / "tessera-testdata-log"
    manifest = _load(log / "manifest.json")
    vkey, directory, state = manifest["vkey"], str(log / "log"), str(tmp_path / "state.json")
    for size in (1, 2, 5, 8, 15):
        checkpoint = str(log / "log" / f"checkpoint.{size}")
        argv = ["ledger", "monitor", "--checkpoint", checkpoint, "--log", directory]
        assert main([*argv, "--key", vkey, "--state", state]) == 0
    assert "advanced: example.com/log/testdata: size 8 → 15" in capsys.readouterr().out
    old, new = str(log / "log" / "checkpoint.3"), str(log / "log" / "checkpoint.15")
    assert main(["ledger", "consistency", old, new, "--key", vkey, "--log", directory]) == 0
    # The test key is published, so anyone can play a dishonest log: sign a size-15 tree
    # whose last entry differs, and show it to the monitor that already holds the real one.
    signer = Signer.parse(manifest["skey_public_test_key"])
    entries = [e.encode() for e in manifest["entries_utf8"]]
    entries[-1] = b"forged"
    root = merkle.root_of([merkle.leaf_hash(e) for e in entries])
    forged = tmp_path / "forged.checkpoint"
    forged.write_bytes(sign_checkpoint(Checkpoint(signer.name, 15, root), signer).to_bytes())
    capsys.readouterr()
    code = main(["ledger", "monitor", "--checkpoint", str(forged), "--key", vkey, "--state", state])
    out = capsys.readouterr().out
    assert code == 1 and "SPLIT VIEW" in out
    assert (log / "log" / "checkpoint.15").read_text() in out and forged.read_text() in out
