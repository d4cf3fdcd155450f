"""Coverage-guided fuzzing (atheris) of SEV-SNP evidence: report / HCL parse, VCEK parse and
verification, and the canonical form the ledger digests.

An input is `u8 time | u16 little-endian VEK length | VEK (DER or PEM) | evidence`; the
time byte picks one of two verification times (even: 2025-06-01, inside the AWS VLEK's
one-year validity; odd: 2026-03-01, inside every other vector's). The target refuses
nothing silently and raises nothing untyped: it feeds the bytes to `verify_evidence` with the
real AMD chains as the pool and fails on any exception but `InputError`, on a multi-line error,
on a non-idempotent `canonical_evidence`, or when the canonical form of verified evidence does
not verify too.

Seeds come from the real vectors, read at run time from ELSEWHERE_VECTORS (default
../shared/vectors beside the repository) and written to a temporary corpus directory:

    python fuzz/snp_report.py [libFuzzer flags, e.g. -max_total_time=600] [CORPUS_DIR ...]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import struct
import sys
import tempfile
from pathlib import Path

import atheris  # type: ignore[import-untyped]

with atheris.instrument_imports(include=["elsewhere"]):
    # The verifier's modules are imported here, not lazily at the first call, so that
    # atheris instruments them.
    import elsewhere.evidence.snp.canonical
    import elsewhere.evidence.snp.verify  # noqa: F401
    from elsewhere.errors import InputError
    from elsewhere.evidence import EvidenceOptions, canonical_evidence, verify_evidence

REPO = Path(__file__).resolve().parents[1]
TIMES = (dt.datetime(2025, 6, 1, tzinfo=dt.UTC), dt.datetime(2026, 3, 1, tzinfo=dt.UTC))


def vectors_path() -> Path:
    return Path(os.environ.get("ELSEWHERE_VECTORS", REPO.parent / "shared" / "vectors"))


def _chains(vectors: Path) -> tuple[bytes, ...]:
    return tuple(p.read_bytes() for p in sorted((vectors / "snp" / "_amd-roots").glob("*.pem")))


def seeds(vectors: Path) -> list[bytes]:
    """One seed per real report / HCL vector: its VEK and its evidence."""
    out = []
    for folder in sorted(p for p in (vectors / "snp").iterdir() if not p.name.startswith("_")):
        files = sorted(folder.iterdir())
        evidence = [f for f in files if f.suffix in (".bin", ".hex", ".json")]
        veks = [f for f in files if f.suffix in (".der", ".pem") and "invalid" not in f.name]
        if not evidence or not veks:
            continue
        data = evidence[0].read_bytes()
        if evidence[0].suffix == ".json":  # trustee's Azure evidence: the HCL report as a list
            data = bytes(json.loads(data)["report"])
        vek = veks[0].read_bytes()
        when = 0 if "vlek" in folder.name else 1
        out.append(struct.pack("<BH", when, len(vek)) + vek + data)
    return out


CHAINS: tuple[bytes, ...] = ()


def test_one_input(data: bytes) -> None:
    if len(data) < 3:
        return
    when, size = struct.unpack_from("<BH", data)
    vek, evidence = data[3 : 3 + size], data[3 + size :]
    options = EvidenceOptions(at=TIMES[when & 1], vek=vek or None, chain=CHAINS)
    canonical = canonical_evidence(evidence)
    if canonical_evidence(canonical) != canonical:
        raise AssertionError("canonical_evidence is not idempotent")
    try:
        result = verify_evidence(evidence, options)
    except InputError as error:
        if "\n" in error.message:
            raise AssertionError(f"multi-line error: {error.message!r}") from None
        return
    if result.verified and not verify_evidence(canonical, options).verified:
        raise AssertionError("evidence verifies but its canonical form does not")


def main(argv: list[str]) -> None:
    global CHAINS
    vectors = vectors_path()
    if not (vectors / "snp").is_dir():
        sys.exit(f"snp fuzz: vectors not found at {vectors} (set ELSEWHERE_VECTORS)")
    CHAINS = _chains(vectors)
    args = list(argv)
    if not any(not a.startswith("-") for a in args[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="snp-fuzz-corpus-"))
        for index, seed in enumerate(seeds(vectors)):
            (corpus / f"seed-{index}").write_bytes(seed)
        args.append(str(corpus))
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
