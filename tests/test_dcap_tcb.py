"""Intel's TCB rules (tcb.py) on small synthetic TCB Infos, one rule per test."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from dcap_support import CASES
from elsewhere.errors import ParseError
from elsewhere.evidence.dcap import tcb
from elsewhere.evidence.dcap.documents import (
    IsvLevel,
    ModuleIdentity,
    TcbInfo,
    TcbLevel,
    parse_tcb_info,
)
from elsewhere.evidence.dcap.quote import TdReport, parse_quote
from elsewhere.evidence.dcap.verify import pck_state

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
SGX = (5,) * 16
OK = tcb.QeVerdict("UpToDate", None)


def level(
    status: str, sgx: int = 5, tdx: tuple[int, ...] = (3, 1, 7), ids: tuple[str, ...] = ()
) -> TcbLevel:
    return TcbLevel((sgx,) * 16, 11, tdx + (0,) * (16 - len(tdx)), "2024-01-01", status, ids)


def info(*levels: TcbLevel, module: tuple[IsvLevel, ...] = ()) -> TcbInfo:
    identity = ModuleIdentity("TDX_01", bytes(48), bytes(8), b"\xff" * 8, module)
    return TcbInfo(
        "TDX",
        3,
        T0,
        T0,
        bytes(6),
        bytes(2),
        1,
        levels,
        ModuleIdentity("", bytes(48), bytes(8), b"\xff" * 8),
        (identity,),
    )


def td(svn: bytes, svn2: bytes | None = None, seam_attributes: bytes = bytes(8)) -> TdReport:
    zeros = bytes(48)
    return TdReport(
        svn.ljust(16, b"\0"),
        zeros,
        zeros,
        seam_attributes,
        bytes(8),
        bytes(8),
        zeros,
        zeros,
        zeros,
        zeros,
        (zeros,) * 4,
        bytes(64),
        None if svn2 is None else svn2.ljust(16, b"\0"),
        None if svn2 is None else zeros,
    )


MODULE_OK = (IsvLevel(4, "2024", "UpToDate", ()),)
MODULE_OLD = (IsvLevel(6, "2024", "UpToDate", ()), IsvLevel(2, "2023", "OutOfDate", ("SA-2",)))


def evaluate(tcb_info: TcbInfo, report: TdReport, qe: tcb.QeVerdict = OK) -> tcb.TcbVerdict:
    identity, problem = tcb.tdx_module_check(tcb_info, report)
    assert problem is None
    return tcb.evaluate(tcb_info, SGX, 11, report, identity, qe)


def test_module_version_skips_tdx_components_0_and_1() -> None:
    strict = info(level("UpToDate", tdx=(9, 9, 7)), module=MODULE_OK)
    assert evaluate(strict, td(bytes([4, 1, 7]))).status == "UpToDate"
    # Module version 0: components 0 and 1 are compared like the others.
    assert tcb.evaluate(strict, SGX, 11, td(bytes([4, 0, 7])), None, OK).problem


def test_tdx_component_2_still_compared() -> None:
    levels = info(
        level("UpToDate", tdx=(0, 0, 8)), level("OutOfDate", sgx=4, tdx=(0, 0, 6)), module=MODULE_OK
    )
    assert evaluate(levels, td(bytes([4, 1, 7]))).status == "OutOfDate"


def test_no_sgx_match_is_tcb_not_supported() -> None:
    verdict = tcb.evaluate(info(level("UpToDate", sgx=6)), SGX, 11, None, None, OK)
    assert verdict.status is None and verdict.problem and "TCB_NOT_SUPPORTED" in verdict.problem


@pytest.mark.parametrize(
    ("level_status", "merged"),
    [
        ("UpToDate", "OutOfDate"),
        ("SWHardeningNeeded", "OutOfDate"),
        ("ConfigurationNeeded", "OutOfDateConfigurationNeeded"),
        ("ConfigurationAndSWHardeningNeeded", "OutOfDateConfigurationNeeded"),
        ("OutOfDate", "OutOfDate"),
    ],
)
def test_module_out_of_date_merges(level_status: str, merged: str) -> None:
    verdict = evaluate(info(level(level_status), module=MODULE_OLD), td(bytes([3, 1, 7])))
    assert (verdict.status, verdict.module_status) == (merged, "OutOfDate")
    assert "SA-2" in verdict.advisory_ids


def test_module_identity_missing_or_unmatched() -> None:
    tcb_info = info(level("UpToDate"), module=MODULE_OK)
    _, problem = tcb.tdx_module_check(tcb_info, td(bytes([4, 3, 7])))
    assert problem and problem.startswith("TDX_MODULE_MISMATCH")
    _, problem = tcb.tdx_module_check(
        tcb_info, td(bytes([4, 1, 7]), seam_attributes=b"\1" + bytes(7))
    )
    assert problem == "TDX_MODULE_MISMATCH: SEAMATTRIBUTES"
    verdict = evaluate(info(level("UpToDate"), module=MODULE_OLD), td(bytes([1, 1, 7])))
    assert verdict.problem and verdict.problem.startswith("TCB_NOT_SUPPORTED")


@pytest.mark.parametrize(
    ("qe", "platform", "merged"),
    [
        ("OutOfDate", "UpToDate", "OutOfDate"),
        ("OutOfDate", "SWHardeningNeeded", "OutOfDate"),
        ("OutOfDate", "ConfigurationNeeded", "OutOfDateConfigurationNeeded"),
        ("Revoked", "UpToDate", "Revoked"),
        ("UpToDate", "ConfigurationAndSWHardeningNeeded", "ConfigurationAndSWHardeningNeeded"),
    ],
)
def test_qe_status_merges(qe: str, platform: str, merged: str) -> None:
    verdict = tcb.evaluate(info(level(platform)), SGX, 11, None, None, tcb.QeVerdict(qe, None))
    assert verdict.status == merged


def test_td15_relaunch_advised_when_svn2_is_current() -> None:
    tcb_info = info(
        level("UpToDate", sgx=5, tdx=(0, 0, 8)),
        level("OutOfDate", sgx=4, tdx=(0, 0, 7)),
        module=MODULE_OLD,
    )
    running = td(bytes([3, 1, 7]), svn2=bytes([6, 1, 8]))
    assert evaluate(tcb_info, running).status == "TDRelaunchAdvised"
    stale = td(bytes([3, 1, 7]), svn2=bytes([5, 1, 8]))
    assert evaluate(tcb_info, stale).status == "OutOfDate"
    qe_old = tcb.QeVerdict("OutOfDate", None)
    assert evaluate(tcb_info, running, qe_old).status == "OutOfDate"
    config = info(
        level("ConfigurationNeeded", sgx=5, tdx=(0, 0, 8)),
        level("ConfigurationNeeded", sgx=4, tdx=(0, 0, 7)),
        module=MODULE_OLD,
    )
    assert evaluate(config, running).status == "TDRelaunchAdvisedConfigurationNeeded"


def test_every_level_out_of_date_gives_out_of_date(vectors: Path) -> None:
    """dcap-qvl verify_tcb_override: all levels forced OutOfDate (the real quote's values)."""
    case = CASES[0]
    collateral = case.load(vectors)
    quote = parse_quote(case.quote_bytes(vectors))
    ext = pck_state(quote.pck_chain_pem, frozenset()).ext
    assert ext is not None and isinstance(quote.body, TdReport)
    forced = tuple(dataclasses.replace(lv, status="OutOfDate") for lv in collateral.tcb_info.levels)
    tcb_info = dataclasses.replace(collateral.tcb_info, levels=forced)
    identity, problem = tcb.tdx_module_check(tcb_info, quote.body)
    qe = tcb.qe_identity_check(quote.qe_report, collateral.qe_identity)
    verdict = tcb.evaluate(tcb_info, ext.sgx_tcb_comps, ext.pcesvn, quote.body, identity, qe)
    assert problem is None and verdict.status == "OutOfDate"


@pytest.mark.parametrize("count", [8, 20])
@pytest.mark.parametrize("key", ["sgxtcbcomponents", "tdxtcbcomponents"])
def test_component_count_mismatch_is_refused(vectors: Path, key: str, count: int) -> None:
    body = json.loads(CASES[0].load(vectors).tcb_info_doc.body)
    comps = body["tcbLevels"][0]["tcb"][key]
    body["tcbLevels"][0]["tcb"][key] = (comps * 2)[:count]
    with pytest.raises(ParseError, match=f"has {count} components, expected 16"):
        parse_tcb_info(json.dumps(body).encode())


def test_levels_are_ordered_like_intel_and_duplicates_refused(vectors: Path) -> None:
    body = json.loads(CASES[0].load(vectors).tcb_info_doc.body)
    original = parse_tcb_info(json.dumps(body).encode()).levels
    body["tcbLevels"].reverse()
    assert parse_tcb_info(json.dumps(body).encode()).levels == original
    body["tcbLevels"].append(body["tcbLevels"][0])
    with pytest.raises(ParseError, match="duplicated"):
        parse_tcb_info(json.dumps(body).encode())


def test_tcb_info_v2_reads_like_v3(vectors: Path) -> None:
    """TCB Info v2 (SGX only) names components sgxtcbcomp01svn..16; same levels as v3."""
    v3 = json.loads(CASES[9].load(vectors).tcb_info_doc.body)
    v2 = {k: v for k, v in v3.items() if k != "id"} | {"version": 2}
    v2["tcbLevels"] = [
        {
            **lv,
            "tcb": {
                f"sgxtcbcomp{i + 1:02d}svn": c["svn"]
                for i, c in enumerate(lv["tcb"]["sgxtcbcomponents"])
            }
            | {"pcesvn": lv["tcb"]["pcesvn"]},
        }
        for lv in v3["tcbLevels"]
    ]
    parsed = parse_tcb_info(json.dumps(v2).encode())
    assert parsed.id == "SGX" and parsed.version == 2
    assert parsed.levels == parse_tcb_info(json.dumps(v3).encode()).levels
