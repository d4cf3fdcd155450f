"""Hostile bytes into the DCAP parsers: a typed one-line error (ParseError) or a result, never
anything else."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcap_support import CASES
from elsewhere.errors import ParseError
from elsewhere.evidence.dcap import pck
from elsewhere.evidence.dcap.collateral import parse_dcap_qvl_json, raw_members
from elsewhere.evidence.dcap.documents import parse_qe_identity, parse_tcb_info
from elsewhere.evidence.dcap.quote import parse_quote
from elsewhere.evidence.dcap.verify import verify_quote

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def seed(vectors: Path) -> tuple[bytes, object]:
    case = CASES[5]
    return case.quote_bytes(vectors), case.load(vectors)


@FUZZ
@given(st.binary(max_size=6000))
def test_parse_quote_random_bytes(data: bytes) -> None:
    try:
        parse_quote(data)
    except ParseError as error:
        assert "\n" not in error.message


@FUZZ
@given(data=st.data())
def test_verify_mutated_real_quote(seed: tuple[bytes, object], data: st.DataObject) -> None:
    quote, collateral = seed
    edits = data.draw(
        st.lists(st.tuples(st.integers(0, len(quote) - 1), st.integers(0, 255)), max_size=4)
    )
    cut = data.draw(st.integers(0, len(quote)))
    mutated = bytearray(quote[:cut] if data.draw(st.booleans()) else quote)
    for offset, value in edits:
        if offset < len(mutated):
            mutated[offset] = value
    try:
        result = verify_quote(bytes(mutated), collateral, CASES[5].when())  # type: ignore[arg-type]
    except ParseError as error:
        assert "\n" not in error.message
        return
    signed = len(parse_quote(quote).signed)
    if bytes(mutated[:signed]) != quote[:signed]:  # header or body changed: signature fails
        assert not result.verified


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@FUZZ
@given(st.dictionaries(st.sampled_from(["id", "version", "tcbLevels", "fmspc", "tcbType",
                                        "issueDate", "nextUpdate", "pceId", "tdxModule",
                                        "tcbEvaluationDataNumber", "mrsigner", "isvprodid",
                                        "miscselect", "attributes"]), _json_values))  # fmt: skip
def test_collateral_documents_random_json(doc: dict[str, object]) -> None:
    body = json.dumps(doc).encode()
    for parse in (parse_tcb_info, parse_qe_identity, parse_dcap_qvl_json, raw_members):
        try:
            parse(body) if parse is not raw_members else raw_members(body, "fuzz")
        except ParseError as error:
            assert "\n" not in error.message


@FUZZ
@given(st.binary(max_size=300))
def test_collateral_random_bytes(data: bytes) -> None:
    for parse in (parse_tcb_info, parse_dcap_qvl_json):
        with pytest.raises(ParseError):
            parse(data)
    with contextlib.suppress(ParseError):
        raw_members(data, "fuzz")


@FUZZ
@given(st.binary(max_size=300))
def test_pck_extension_walker_random_bytes(data: bytes) -> None:
    try:
        pck.decode_sgx_extension(data)
    except ParseError as error:
        assert "\n" not in error.message


@FUZZ
@given(data=st.data())
def test_verify_with_mutated_collateral(seed: tuple[bytes, object], data: st.DataObject) -> None:
    import dataclasses

    from elsewhere.evidence.dcap.collateral import Collateral, build_collateral, crl_der

    quote, collateral = seed
    assert isinstance(collateral, Collateral)
    part = data.draw(st.sampled_from(["root_ca_crl", "pck_crl", "tcb_info", "qe_identity"]))
    crl = part.endswith("crl")
    original = getattr(collateral, part) if crl else getattr(collateral, f"{part}_doc").body
    raw = bytearray(original)
    raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    base = {
        "tcb_info_doc": collateral.tcb_info_doc,
        "qe_identity_doc": collateral.qe_identity_doc,
        "root_ca_crl": collateral.root_ca_crl,
        "pck_crl": collateral.pck_crl,
        "pck_crl_issuer_chain": collateral.pck_crl_issuer_chain,
    }
    try:
        if crl:
            base[part] = crl_der(bytes(raw), part)
        else:
            base[f"{part}_doc"] = dataclasses.replace(base[f"{part}_doc"], body=bytes(raw))
        mutated = build_collateral(**base)  # type: ignore[arg-type]
    except ParseError as error:
        assert "\n" not in error.message
        return
    result = verify_quote(quote, mutated, CASES[5].when())
    if bytes(raw) != original:  # every signed byte is covered by a signature
        assert result.failures
