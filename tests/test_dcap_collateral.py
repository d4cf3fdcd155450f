"""Collateral inputs (dcap-qvl JSON, Intel PCS responses) and the offline cache."""

from __future__ import annotations

import shutil
import urllib.parse
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from dcap_support import CASES
from elsewhere.errors import InputError, ParseError, VerificationFailed
from elsewhere.evidence.dcap import cache
from elsewhere.evidence.dcap.collateral import load_collateral, parse_dcap_qvl_json, raw_members
from elsewhere.evidence.dcap.verify import verify_quote

SPR = CASES[3]
PCS_FILES = (
    "sample_tcbInfo_response.json",
    "sample_qeIdentity_response.json",
    "pckcrl_platform.der",
    "rootcrl.der",
    "tcb_info_issuer_chain.pem",
    "pck_crl_issuer_chain.pem",
)


def _pcs_dir(vectors: Path, tmp_path: Path) -> Path:
    target = tmp_path / "pcs"
    target.mkdir()
    for name in PCS_FILES:
        shutil.copy(vectors / "tdx/gotdx-v4-spr-50806f" / name, target / name)
    return target


def test_pcs_directory_equals_assembled_json(vectors: Path, tmp_path: Path) -> None:
    from_pcs = load_collateral(_pcs_dir(vectors, tmp_path))
    assembled = SPR.load(vectors)
    assert from_pcs.tcb_info_doc.body == assembled.tcb_info_doc.body
    assert from_pcs.digest == assembled.digest
    result = verify_quote(SPR.quote_bytes(vectors), from_pcs, SPR.when())
    assert [f.check for f in result.failures] == ["TCB level (TCB Info)"]


def test_pcs_url_encoded_chain_and_pem_crl(vectors: Path, tmp_path: Path) -> None:
    directory = _pcs_dir(vectors, tmp_path)
    chain = (directory / "tcb_info_issuer_chain.pem").read_text()
    (directory / "tcb_info_issuer_chain.pem").write_text(urllib.parse.quote(chain))
    crl = x509.load_der_x509_crl((directory / "rootcrl.der").read_bytes())
    (directory / "rootcrl.der").write_bytes(crl.public_bytes(Encoding.PEM))
    assert load_collateral(directory).digest == SPR.load(vectors).digest


def test_pcs_directory_missing_part_is_named(vectors: Path, tmp_path: Path) -> None:
    directory = _pcs_dir(vectors, tmp_path)
    (directory / "rootcrl.der").unlink()
    with pytest.raises(InputError, match="missing the Intel SGX Root CA CRL"):
        load_collateral(directory)


def test_raw_members_keep_exact_signed_bytes() -> None:
    text = b' {"tcbInfo" : {"b": 1,  "a":[1 ,2]}, "signature":"ab"} '
    assert raw_members(text, "t") == {"tcbInfo": b'{"b": 1,  "a":[1 ,2]}', "signature": b'"ab"'}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"[]", "not a JSON object"),
        (b"{}", "tcb_info"),
        (b'{"tcb_info": "{}", "qe_identity": 1}', "qe_identity"),
    ],
)
def test_bad_collateral_json_is_one_line(text: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as error:
        parse_dcap_qvl_json(text)
    assert "\n" not in error.value.message


def test_cache_import_list_lookup(vectors: Path, tmp_path: Path) -> None:
    for case in (CASES[5], CASES[8], SPR):
        entry = cache.import_collateral(case.load(vectors), base=tmp_path)
        assert entry.path.is_file()
    entries = cache.list_entries(tmp_path)
    assert {(e.tee, e.fmspc, e.ca) for e in entries} == {
        ("tdx", "00806f050000", "platform"),
        ("sgx", "00a067110000", "processor"),
        ("tdx", "50806f000000", "platform"),
    }
    gcp = CASES[5]
    found = cache.lookup("tdx", bytes.fromhex("00806f050000"), "platform", gcp.when(), tmp_path)
    assert found is not None and found.digest == gcp.load(vectors).digest
    later = SPR.when().replace(year=2024)
    assert cache.lookup("tdx", bytes.fromhex("50806f000000"), "platform", later, tmp_path) is None
    assert (
        cache.lookup("sgx", bytes.fromhex("00806f050000"), "platform", gcp.when(), tmp_path) is None
    )


def test_cache_refuses_collateral_that_does_not_verify(vectors: Path, tmp_path: Path) -> None:
    import dataclasses

    from elsewhere.evidence.dcap.collateral import build_collateral

    good = CASES[5].load(vectors)
    doc = good.tcb_info_doc
    bad_doc = dataclasses.replace(doc, signature=bytes(64))
    bad = build_collateral(
        bad_doc, good.qe_identity_doc, good.root_ca_crl, good.pck_crl, good.pck_crl_issuer_chain
    )
    with pytest.raises(VerificationFailed, match="TCB Info signature"):
        cache.import_collateral(bad, base=tmp_path)
    assert cache.list_entries(tmp_path) == []


def test_pcs_directory_with_random_files(tmp_path: Path) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.binary(max_size=200), min_size=1, max_size=4))
    def run(contents: list[bytes]) -> None:
        directory = tmp_path / "rand"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir()
        for i, data in enumerate(contents):
            (directory / f"f{i}").write_bytes(data)
        with pytest.raises(InputError) as error:  # ParseError is an InputError
            load_collateral(directory)
        assert "\n" not in error.value.message

    run()
