"""Intel's signed collateral documents → typed records: TCB Info (v2, v3) and QE Identity (v2).

Each parser takes the exact signed bytes of the `tcbInfo` / `enclaveIdentity` value and
raises ParseError naming the document and key for anything that is not Intel's shape.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from elsewhere.errors import ParseError

_STATUSES = frozenset(
    {
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
        "Revoked",
    }
)


@dataclass(frozen=True, slots=True)
class TcbLevel:
    sgx_comps: tuple[int, ...]
    pcesvn: int
    tdx_comps: tuple[int, ...] | None
    tcb_date: str
    status: str
    advisory_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IsvLevel:
    """A QE Identity or TDX module TCB level: one ISVSVN and its status."""

    isvsvn: int
    tcb_date: str
    status: str
    advisory_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModuleIdentity:
    id: str
    mrsigner: bytes
    attributes: bytes
    attributes_mask: bytes
    levels: tuple[IsvLevel, ...] = ()


@dataclass(frozen=True, slots=True)
class TcbInfo:
    id: str  # "SGX" | "TDX"
    version: int
    issue_date: dt.datetime
    next_update: dt.datetime
    fmspc: bytes
    pceid: bytes
    tcb_evaluation_data_number: int
    levels: tuple[TcbLevel, ...]  # Intel's order: descending
    tdx_module: ModuleIdentity | None
    module_identities: tuple[ModuleIdentity, ...]


@dataclass(frozen=True, slots=True)
class QeIdentity:
    id: str  # "QE" | "TD_QE" | "QVE"
    version: int
    issue_date: dt.datetime
    next_update: dt.datetime
    tcb_evaluation_data_number: int
    miscselect: int
    miscselect_mask: int
    attributes: bytes
    attributes_mask: bytes
    mrsigner: bytes
    isvprodid: int
    levels: tuple[IsvLevel, ...]  # descending ISVSVN


# -- small typed readers; every error names the document and the key -------------------------


def typed(obj: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ParseError(where, key, f"missing or not a {kind.__name__}")
    return value


def _hex(obj: dict[str, Any], key: str, size: int | None, where: str) -> bytes:
    text = typed(obj, key, str, where)
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise ParseError(where, key, "is not hex") from None
    if size is not None and len(value) != size:
        raise ParseError(where, key, f"is {len(value)} bytes, expected {size}")
    return value


def _date(obj: dict[str, Any], key: str, where: str) -> dt.datetime:
    text = typed(obj, key, str, where)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError(where, key, f"{text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _status(obj: dict[str, Any], where: str) -> str:
    status = typed(obj, "tcbStatus", str, where)
    if status not in _STATUSES:
        raise ParseError(where, "tcbStatus", f"{status!r} is not a known TCB status")
    return str(status)


def _advisories(obj: dict[str, Any], where: str) -> tuple[str, ...]:
    ids = obj.get("advisoryIDs", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ParseError(where, "advisoryIDs", "is not a list of strings")
    return tuple(ids)


def _isv_levels(obj: dict[str, Any], where: str) -> tuple[IsvLevel, ...]:
    levels = []
    for i, level in enumerate(typed(obj, "tcbLevels", list, where)):
        at = f"{where}.tcbLevels[{i}]"
        if not isinstance(level, dict):
            raise ParseError(at, "", "is not an object")
        tcb = typed(level, "tcb", dict, at)
        levels.append(
            IsvLevel(
                typed(tcb, "isvsvn", int, at),
                typed(level, "tcbDate", str, at),
                _status(level, at),
                _advisories(level, at),
            )
        )
    return tuple(levels)


def _components(tcb: dict[str, Any], key: str, where: str) -> tuple[int, ...]:
    comps = typed(tcb, key, list, where)
    if len(comps) != 16:
        raise ParseError(where, key, f"has {len(comps)} components, expected 16")
    return tuple(
        typed(c, "svn", int, f"{where}.{key}") if isinstance(c, dict) else -1 for c in comps
    )


def _tcb_level(level: Any, version: int, tdx: bool, where: str) -> TcbLevel:
    if not isinstance(level, dict):
        raise ParseError(where, "", "is not an object")
    tcb = typed(level, "tcb", dict, where)
    if version >= 3:
        sgx = _components(tcb, "sgxtcbcomponents", where)
        tdx_comps = _components(tcb, "tdxtcbcomponents", where) if tdx else None
    else:
        sgx = tuple(typed(tcb, f"sgxtcbcomp{i:02d}svn", int, where) for i in range(1, 17))
        tdx_comps = None
    if min(sgx + (tdx_comps or ())) < 0:
        raise ParseError(where, "tcb", "a component is not an object with an integer svn")
    return TcbLevel(
        sgx,
        typed(tcb, "pcesvn", int, where),
        tdx_comps,
        typed(level, "tcbDate", str, where),
        _status(level, where),
        _advisories(level, where),
    )


def _module(obj: dict[str, Any], where: str, with_levels: bool) -> ModuleIdentity:
    return ModuleIdentity(
        str(obj.get("id", "")),
        _hex(obj, "mrsigner", 48, where),
        _hex(obj, "attributes", 8, where),
        _hex(obj, "attributesMask", 8, where),
        _isv_levels(obj, where) if with_levels else (),
    )


def parse_tcb_info(body: bytes) -> TcbInfo:
    where = "TCB Info"
    obj = json_object(body, where)
    version = typed(obj, "version", int, where)
    if version not in (2, 3):
        raise ParseError(where, "version", f"{version} is not supported (2 or 3)")
    tcb_id = typed(obj, "id", str, where) if version == 3 else "SGX"
    if tcb_id not in ("SGX", "TDX"):
        raise ParseError(where, "id", f"{tcb_id!r} is neither SGX nor TDX")
    if typed(obj, "tcbType", int, where) != 0:
        raise ParseError(where, "tcbType", "only type 0 is defined")
    tdx = tcb_id == "TDX"
    levels = [
        _tcb_level(level, version, tdx, f"{where}.tcbLevels[{i}]")
        for i, level in enumerate(typed(obj, "tcbLevels", list, where))
    ]
    if not levels:
        raise ParseError(where, "tcbLevels", "is empty")
    # Intel keeps levels in a set ordered descending by (SGX comps, PCESVN, TDX comps).
    levels.sort(key=lambda lv: (lv.sgx_comps, lv.pcesvn, lv.tdx_comps or ()), reverse=True)
    keys = [(lv.sgx_comps, lv.pcesvn, lv.tdx_comps) for lv in levels]
    if len(set(keys)) != len(keys):
        raise ParseError(where, "tcbLevels", "has duplicated levels")
    module = identities = None
    if tdx:
        module = _module(typed(obj, "tdxModule", dict, where), f"{where}.tdxModule", False)
        raw_ids = obj.get("tdxModuleIdentities", [])
        if not isinstance(raw_ids, list):
            raise ParseError(where, "tdxModuleIdentities", "is not a list")
        identities = tuple(
            _module(m, f"{where}.tdxModuleIdentities[{i}]", True)
            if isinstance(m, dict)
            else _module({}, f"{where}.tdxModuleIdentities[{i}]", True)
            for i, m in enumerate(raw_ids)
        )
    elif "tdxModule" in obj or "tdxModuleIdentities" in obj:
        raise ParseError(where, "tdxModule", "present in an SGX TCB Info")
    return TcbInfo(
        tcb_id,
        version,
        _date(obj, "issueDate", where),
        _date(obj, "nextUpdate", where),
        _hex(obj, "fmspc", 6, where),
        _hex(obj, "pceId", 2, where),
        typed(obj, "tcbEvaluationDataNumber", int, where),
        tuple(levels),
        module,
        identities or (),
    )


def parse_qe_identity(body: bytes) -> QeIdentity:
    where = "QE Identity"
    obj = json_object(body, where)
    version = typed(obj, "version", int, where)
    if version != 2:
        raise ParseError(where, "version", f"{version} is not supported (2)")
    levels = sorted(_isv_levels(obj, where), key=lambda lv: lv.isvsvn, reverse=True)
    return QeIdentity(
        typed(obj, "id", str, where),
        version,
        _date(obj, "issueDate", where),
        _date(obj, "nextUpdate", where),
        typed(obj, "tcbEvaluationDataNumber", int, where),
        int.from_bytes(_hex(obj, "miscselect", 4, where), "big"),
        int.from_bytes(_hex(obj, "miscselectMask", 4, where), "big"),
        _hex(obj, "attributes", 16, where),
        _hex(obj, "attributesMask", 16, where),
        _hex(obj, "mrsigner", 32, where),
        typed(obj, "isvprodid", int, where),
        tuple(levels),
    )


def json_object(body: bytes, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ParseError(where, "", f"is not JSON ({error})") from None
    if not isinstance(obj, dict):
        raise ParseError(where, "", "is not a JSON object")
    return obj
