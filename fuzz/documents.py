"""Coverage-guided fuzzing (atheris / libFuzzer) of every parser of what users and peers hand in,
beside the evidence ones (fuzz/snp_report.py, fuzz/dcap_quote.py): policy TOML, advisory feeds,
signed notes, signed checkpoints, proof bundles, WebAssembly uploads, the SEV-SNP certificate
table and VEK certificates.

    python fuzz/documents.py [libFuzzer options, e.g. -max_total_time=300] [CORPUS_DIR ...]

An input is <mode byte><payload>; the mode picks the parser (PARSERS below). The only
exceptions allowed out of the code under test are Elsewhere's typed errors, each one line;
anything else is a crash (libFuzzer writes the input to -artifact_prefix and exits non-zero).

Seeds are built at run time into a temporary corpus, never into the repository: the examples
in examples/, a small ledger signed here with a fresh key, a module built from
examples/workloads/, and (when ELSEWHERE_VECTORS or ../shared/vectors is present) the real
VEK certificates and C2SP signed-note vectors.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src")]

if __name__ == "__main__":  # instrument only the code under test
    import atheris

    _instrumented = atheris.instrument_imports(include=["elsewhere"])
else:  # imported by the test suite, which replays inputs without atheris
    _instrumented = contextlib.nullcontext()

with _instrumented:
    from elsewhere.control.tenancy.workloads import validate as validate_wasm
    from elsewhere.errors import ElsewhereError
    from elsewhere.evidence.snp.certs import parse_cert_table, vek_info_der
    from elsewhere.keep.wat import wat_to_wasm
    from elsewhere.ledger.bundle import Bundle, verify_bundle
    from elsewhere.ledger.canonical import canonical_bytes
    from elsewhere.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
    from elsewhere.ledger.merkle import MemoryTree, leaf_hash, prove_inclusion
    from elsewhere.ledger.note import Signer, parse_note, verify_note
    from elsewhere.policy.advisories import parse_feed
    from elsewhere.policy.load import parse_policy

# One fixed key per run: a seed's signatures verify, so mutations reach past the signature check.
SIGNER = Signer.generate("fuzz.elsewhere.example/log")
LOG_KEY = SIGNER.verifier


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _note(data: bytes) -> None:
    verify_note(parse_note(data), [LOG_KEY], require_one=False)


PARSERS: tuple[tuple[str, Callable[[bytes], object]], ...] = (
    ("policy", lambda d: parse_policy(_text(d), "fuzz.toml")),
    ("advisory feed", lambda d: parse_feed(d, "fuzz.json")),
    ("signed note", _note),
    ("signed checkpoint", lambda d: open_checkpoint(d, LOG_KEY)),
    ("proof bundle", lambda d: verify_bundle(d, LOG_KEY)),
    ("wasm upload", validate_wasm),
    ("SNP certificate table", parse_cert_table),
    ("VEK certificate", vek_info_der),
)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    name, parse = PARSERS[data[0] % len(PARSERS)]
    try:
        parse(data[1:])
    except ElsewhereError as error:
        if "\n" in str(error):
            raise AssertionError(f"{name}: multi-line error: {str(error)!r}") from None


def vectors_dir() -> Path:
    return Path(os.environ.get("ELSEWHERE_VECTORS", ROOT.parent / "shared" / "vectors"))


def _ledger_seeds() -> list[bytes]:
    """A signed checkpoint, a signed note and a proof bundle over five entries."""
    entries = [canonical_bytes({"kind": "fuzz", "n": n}) for n in range(5)]
    tree = MemoryTree(leaf_hash(e) for e in entries)
    signed = sign_checkpoint(Checkpoint(LOG_KEY.name, tree.size, tree.root()), SIGNER)
    proof = tuple(prove_inclusion(2, tree.size, tree.read))
    bundle = Bundle(2, proof, signed, entries[2]).to_bytes()
    return [signed.to_bytes(), signed.to_bytes(), bundle]


def seeds(vectors: Path | None = None) -> list[bytes]:
    """Every seed, already prefixed with its mode byte."""
    modes = {name: index for index, (name, _) in enumerate(PARSERS)}
    out: list[tuple[str, bytes]] = []
    out += [("policy", p.read_bytes()) for p in sorted((ROOT / "examples/policy").glob("*.toml"))]
    out += [("advisory feed", p.read_bytes()) for p in (ROOT / "examples/advisories").glob("*")]
    checkpoint, note, bundle = _ledger_seeds()
    out += [("signed checkpoint", checkpoint), ("signed note", note), ("proof bundle", bundle)]
    for wat in sorted((ROOT / "examples/workloads").glob("*.wat")):
        out.append(("wasm upload", wat_to_wasm(wat.read_text(), str(wat))))
    vectors = vectors or vectors_dir()
    if (vectors / "snp").is_dir():
        for vek in sorted((vectors / "snp").glob("*/*.der")):
            if "invalid" not in vek.name:
                out.append(("VEK certificate", vek.read_bytes()))
    note_vectors = vectors / "tlog" / "signed-note.json"
    if note_vectors.is_file():
        for case in _strings(json.loads(note_vectors.read_text())):
            if "\n\n" in case:
                out.append(("signed note", case.encode()))
    return [bytes([modes[name]]) + payload for name, payload in out]


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def main(argv: list[str]) -> None:
    import atheris

    args = list(argv)
    if not any(not a.startswith("-") for a in args[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="documents-fuzz-corpus-"))
        for index, seed in enumerate(seeds()):
            (corpus / f"seed-{index}").write_bytes(seed)
        args.append(str(corpus))
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
