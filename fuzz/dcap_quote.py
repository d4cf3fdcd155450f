"""Coverage-guided fuzzing (atheris / libFuzzer) of DCAP quote and collateral parsing + verify.

    python fuzz/dcap_quote.py [libFuzzer options, e.g. -max_total_time=300]

Seeds are built at run time from the real vectors (ELSEWHERE_VECTORS, default
../shared/vectors) into a temporary corpus: nothing from them is written to the repository.
An input is <mode byte><case byte><payload>; the mode picks the parser (below), the case a
real quote / collateral / time to verify against. The only exceptions allowed out of the code
under test are Elsewhere's typed errors; anything else is a crash (libFuzzer writes it to
-artifact_prefix, default a temporary directory, and exits non-zero).
Crashes found so far are kept as regression inputs in tests/test_dcap_fuzz_regressions.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

if __name__ == "__main__":  # instrument only the code under test: fast start, focused coverage
    import atheris

    _instrumented = atheris.instrument_imports(include=["elsewhere", "asn1crypto"])
else:  # imported by the test suite, which replays inputs without atheris
    _instrumented = contextlib.nullcontext()

with _instrumented:
    from cryptography import x509

    from elsewhere.errors import ElsewhereError
    from elsewhere.evidence.dcap import collateral as coll
    from elsewhere.evidence.dcap.documents import parse_qe_identity, parse_tcb_info
    from elsewhere.evidence.dcap.pck import SGX_EXTENSIONS_OID, decode_sgx_extension
    from elsewhere.evidence.dcap.quote import parse_quote
    from elsewhere.evidence.dcap.verify import verify_quote

Seed = tuple[bytes, coll.Collateral, dt.datetime]  # quote, its collateral, verification time


def vectors_dir() -> Path:
    return Path(os.environ.get("ELSEWHERE_VECTORS", ROOT.parent / "shared" / "vectors"))


def load_seeds(vectors: Path) -> list[Seed]:
    from dcap_support import CASES

    return [(case.quote_bytes(vectors), case.load(vectors), case.when()) for case in CASES]


def _pem_chain(seed: Seed) -> bytes:
    return parse_quote(seed[0]).pck_chain_pem


def _extension(seed: Seed) -> bytes:
    leaf = x509.load_pem_x509_certificates(_pem_chain(seed).rstrip(b"\0"))[0]
    value = leaf.extensions.get_extension_for_oid(SGX_EXTENSIONS_OID).value
    return value.value if isinstance(value, x509.UnrecognizedExtension) else b""


def _json(collateral: coll.Collateral) -> bytes:
    import json

    return json.dumps(collateral.to_json()).encode()


# mode → (what the payload is, how to seed it from a real case)
SEEDERS: tuple[Callable[[Seed], bytes], ...] = (
    lambda s: s[0],  # 0: a quote, verified with the case's collateral
    lambda s: _json(s[1]),  # 1: dcap-qvl collateral JSON, verified with the case's quote
    lambda s: s[1].tcb_info_doc.body,  # 2: a TCB Info body
    lambda s: s[1].qe_identity_doc.body,  # 3: a QE Identity body
    _extension,  # 4: the PCK certificate's SGX extension
    _pem_chain,  # 5: a PEM issuer chain (PCS header / file form)
    lambda s: s[1].pck_crl,  # 6: a CRL (DER, PEM or hex)
    lambda s: b'{"tcbInfo":' + s[1].tcb_info_doc.body + b',"signature":"00"}',  # 7: PCS body
)


def run_one(data: bytes, seeds: list[Seed]) -> None:
    """One input through the parser its mode names; typed errors are the expected outcome."""
    if len(data) < 2 or not seeds:
        return
    mode, (quote, collateral, at) = data[0] % len(SEEDERS), seeds[data[1] % len(seeds)]
    payload = data[2:]
    try:
        if mode == 0:
            verify_quote(payload, collateral, at)
        elif mode == 1:
            verify_quote(quote, coll.parse_dcap_qvl_json(payload), at)
        elif mode == 2:
            parse_tcb_info(payload)
        elif mode == 3:
            parse_qe_identity(payload)
        elif mode == 4:
            decode_sgx_extension(payload)
        elif mode == 5:
            coll.pem_chain(payload, "fuzz")
        elif mode == 6:
            coll.crl_der(payload, "fuzz")
        else:
            coll.raw_members(payload, "fuzz")
            coll.signed_response(payload, "tcbInfo", "fuzz")
    except ElsewhereError as error:
        if "\n" in error.message:
            raise AssertionError(f"multi-line error: {error.message!r}") from None


def write_corpus(seeds: list[Seed], directory: Path) -> None:
    for index, seed in enumerate(seeds):
        for mode, seeder in enumerate(SEEDERS):
            (directory / f"{mode}-{index}").write_bytes(bytes([mode, index]) + seeder(seed))


def main() -> None:
    seeds = load_seeds(vectors_dir())
    corpus = Path(tempfile.mkdtemp(prefix="elsewhere-fuzz-dcap-"))
    write_corpus(seeds, corpus)
    args = list(sys.argv)
    if not any(a.startswith("-artifact_prefix=") for a in args):
        args.append(f"-artifact_prefix={corpus}/crash-")
    print(f"corpus and crash artifacts: {corpus}", file=sys.stderr)
    atheris.Setup([*args, str(corpus)], lambda data: run_one(data, seeds))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
