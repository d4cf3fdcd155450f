"""Intel's signed collateral documents → typed records: TCB Info (v2, v3) and QE Identity (v2).

Each parser takes the exact signed bytes of the `tcbInfo` / `enclaveIdentity` value, validates
them with the pydantic models in `schema.py` and raises ParseError naming the document and the
JSON path (`tcbInfo.tcbLevels[3].tcb.pcesvn: expected integer`) for anything not Intel's shape.
The records below are what the TCB rules read; they do not depend on pydantic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from elsewhere.errors import ParseError
from elsewhere.evidence.dcap import schema


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


# -- pydantic models → records ----------------------------------------------------------------


def _isv_levels(levels: list[schema.IsvLevelJson]) -> tuple[IsvLevel, ...]:
    return tuple(
        IsvLevel(lv.tcb.isvsvn, lv.tcbDate, lv.tcbStatus, tuple(lv.advisoryIDs)) for lv in levels
    )


def _module(module: schema.ModuleJson, levels: tuple[IsvLevel, ...] = ()) -> ModuleIdentity:
    return ModuleIdentity(
        module.id, module.mrsigner, module.attributes, module.attributesMask, levels
    )


def _levels_v3(doc: schema.TcbInfoV3, tdx: bool) -> list[TcbLevel]:
    levels = []
    for i, lv in enumerate(doc.tcbLevels):
        tdx_comps = None
        if tdx:
            if lv.tcb.tdxtcbcomponents is None:
                raise ParseError(
                    "TCB Info", f"tcbInfo.tcbLevels[{i}].tcb.tdxtcbcomponents", "missing"
                )
            tdx_comps = tuple(c.svn for c in lv.tcb.tdxtcbcomponents)
        sgx = tuple(c.svn for c in lv.tcb.sgxtcbcomponents)
        levels.append(
            TcbLevel(sgx, lv.tcb.pcesvn, tdx_comps, lv.tcbDate, lv.tcbStatus, tuple(lv.advisoryIDs))
        )
    return levels


def parse_tcb_info(body: bytes) -> TcbInfo:
    where = "TCB Info"
    version = schema.validate(schema.Head, body, "tcbInfo", where).version
    doc: schema.TcbInfoV2 | schema.TcbInfoV3
    module: ModuleIdentity | None = None
    identities: tuple[ModuleIdentity, ...] = ()
    if version == 2:
        doc = schema.validate(schema.TcbInfoV2, body, "tcbInfo", where)
        tcb_id, levels = "SGX", [
            TcbLevel(lv.tcb.components(), lv.tcb.pcesvn, None, lv.tcbDate, lv.tcbStatus,
                     tuple(lv.advisoryIDs))
            for lv in doc.tcbLevels
        ]  # fmt: skip
    elif version == 3:
        doc = schema.validate(schema.TcbInfoV3, body, "tcbInfo", where)
        tcb_id, tdx = doc.id, doc.id == "TDX"
        levels = _levels_v3(doc, tdx)
        if tdx:
            if doc.tdxModule is None:
                raise ParseError(where, "tcbInfo.tdxModule", "missing")
            module = _module(doc.tdxModule)
            identities = tuple(
                _module(m, _isv_levels(m.tcbLevels)) for m in doc.tdxModuleIdentities or ()
            )
        elif doc.tdxModule is not None or doc.tdxModuleIdentities is not None:
            raise ParseError(where, "tcbInfo.tdxModule", "present in an SGX TCB Info")
    else:
        raise ParseError(where, "tcbInfo.version", f"{version} is not supported (2 or 3)")
    # Intel keeps levels in a set ordered descending by (SGX comps, PCESVN, TDX comps).
    levels.sort(key=lambda lv: (lv.sgx_comps, lv.pcesvn, lv.tdx_comps or ()), reverse=True)
    keys = [(lv.sgx_comps, lv.pcesvn, lv.tdx_comps) for lv in levels]
    if len(set(keys)) != len(keys):
        raise ParseError(where, "tcbInfo.tcbLevels", "has duplicated levels")
    return TcbInfo(
        tcb_id,
        version,
        doc.issueDate,
        doc.nextUpdate,
        doc.fmspc,
        doc.pceId,
        doc.tcbEvaluationDataNumber,
        tuple(levels),
        module,
        identities,
    )


def parse_qe_identity(body: bytes) -> QeIdentity:
    where = "QE Identity"
    version = schema.validate(schema.Head, body, "enclaveIdentity", where).version
    if version != 2:
        raise ParseError(where, "enclaveIdentity.version", f"{version} is not supported (2)")
    doc = schema.validate(schema.QeIdentityV2, body, "enclaveIdentity", where)
    levels = sorted(_isv_levels(doc.tcbLevels), key=lambda lv: lv.isvsvn, reverse=True)
    return QeIdentity(
        doc.id,
        version,
        doc.issueDate,
        doc.nextUpdate,
        doc.tcbEvaluationDataNumber,
        int.from_bytes(doc.miscselect, "big"),
        int.from_bytes(doc.miscselectMask, "big"),
        doc.attributes,
        doc.attributesMask,
        doc.mrsigner,
        doc.isvprodid,
        tuple(levels),
    )
