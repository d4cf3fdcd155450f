"""Intel's TCB rules as pure functions, following the Quote Verification Library (QVL).

Step numbers (4.1.2.4.x) are those in Intel's QVL QuoteVerifier / TcbLevelCheck /
TdxModuleCheck / TDRelaunchCheck. Statuses are Intel's `tcbStatus` strings; a rule that makes
the quote unusable returns a `problem` named after Intel's status code instead of a status.
"""

from __future__ import annotations

from dataclasses import dataclass

from elsewhere.claims import INTEL_TCB_STATUSES
from elsewhere.evidence.dcap.documents import (
    IsvLevel,
    ModuleIdentity,
    QeIdentity,
    TcbInfo,
    TcbLevel,
)
from elsewhere.evidence.dcap.quote import EnclaveReport, TdReport

# Names for Intel's status strings; the strings themselves are defined once, in claims.py.
(
    UP_TO_DATE,
    SW_HARDENING,
    CONFIG,
    CONFIG_SW,
    OUT_OF_DATE,
    OUT_OF_DATE_CONFIG,
    RELAUNCH,
    RELAUNCH_CONFIG,
    REVOKED,
) = INTEL_TCB_STATUSES
_CONFIG_NEEDED = frozenset({CONFIG, OUT_OF_DATE_CONFIG, CONFIG_SW, RELAUNCH_CONFIG})


@dataclass(frozen=True, slots=True)
class QeVerdict:
    status: str | None  # the matched level's tcbStatus; None with a problem
    problem: str | None
    advisory_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TcbVerdict:
    status: str | None  # final, merged status; None when `problem` is set
    problem: str | None
    advisory_ids: tuple[str, ...]
    platform_status: str | None  # the selected TCB level's status
    module_status: str | None  # TDX module identity level status (TDX, module version > 0)
    qe_status: str | None


def qe_identity_check(report: EnclaveReport, identity: QeIdentity) -> QeVerdict:
    """4.1.2.9.5-10: QE report fields against the QE Identity, then the QE's TCB level."""
    if report.miscselect & identity.miscselect_mask != identity.miscselect:
        return QeVerdict(None, "QE_IDENTITY_MISMATCH: MISCSELECT")
    masked = bytes(a & m for a, m in zip(report.attributes, identity.attributes_mask, strict=True))
    if masked != identity.attributes:
        return QeVerdict(None, "QE_IDENTITY_MISMATCH: ATTRIBUTES")
    if report.mrsigner != identity.mrsigner:
        return QeVerdict(None, "QE_IDENTITY_MISMATCH: MRSIGNER")
    if report.isvprodid != identity.isvprodid:
        return QeVerdict(None, "QE_IDENTITY_MISMATCH: ISVPRODID")
    level = first_isv_level(identity.levels, report.isvsvn)
    if level is None:
        return QeVerdict(None, f"ISVSVN_NOT_SUPPORTED: QE ISVSVN {report.isvsvn}")
    return QeVerdict(level.status, None, level.advisory_ids)


def first_isv_level(levels: tuple[IsvLevel, ...], isvsvn: int) -> IsvLevel | None:
    return next((level for level in levels if isvsvn >= level.isvsvn), None)


def find_module_identity(tcb_info: TcbInfo, version: int) -> ModuleIdentity | None:
    wanted = f"TDX_{version:02X}"
    return next((m for m in tcb_info.module_identities if m.id.upper() == wanted), None)


def tdx_module_check(tcb_info: TcbInfo, td: TdReport) -> tuple[ModuleIdentity | None, str | None]:
    """4.1.2.4.11: MRSIGNERSEAM and SEAMATTRIBUTES against tdxModule or the module identity."""
    expected = tcb_info.tdx_module
    identity = None
    if td.tee_tcb_svn[1] > 0:
        identity = find_module_identity(tcb_info, td.tee_tcb_svn[1])
        if identity is None:
            return None, f"TDX_MODULE_MISMATCH: no identity TDX_{td.tee_tcb_svn[1]:02X}"
        expected = identity
    if expected is None:
        return None, "TCB_INFO_MISMATCH: TDX TCB Info without tdxModule"
    if td.mrsignerseam != expected.mrsigner:
        return identity, "TDX_MODULE_MISMATCH: MRSIGNERSEAM"
    if any(td.seam_attributes) or td.seam_attributes != expected.attributes:
        return identity, "TDX_MODULE_MISMATCH: SEAMATTRIBUTES"
    return identity, None


def select_levels(
    levels: tuple[TcbLevel, ...], comps: tuple[int, ...], pcesvn: int, tee_tcb_svn: bytes | None
) -> tuple[TcbLevel | None, TcbLevel | None]:
    """4.1.2.4.17.1-3: the first SGX match and (TDX) the first level that also matches TDX.

    TDX components 0 and 1 (module SVN and version) are skipped when the module version is
    non-zero: the module identity judges them instead.
    """
    sgx_level = None
    start = 2 if tee_tcb_svn is not None and tee_tcb_svn[1] > 0 else 0
    for level in levels:
        if pcesvn < level.pcesvn or any(c < s for c, s in zip(comps, level.sgx_comps, strict=True)):
            continue
        if tee_tcb_svn is None:
            return level, None
        sgx_level = sgx_level or level
        tdx = level.tdx_comps or (0,) * 16
        if all(tee_tcb_svn[i] >= tdx[i] for i in range(start, 16)):
            return sgx_level, level
    return sgx_level, None


def module_status(
    tcb_info: TcbInfo, td: TdReport, identity: ModuleIdentity | None
) -> tuple[IsvLevel | None, str | None]:
    """4.1.2.4.17.4.1: TDX module TCB level by TEE_TCB_SVN[0] (version 0: no module level)."""
    if td.tee_tcb_svn[1] == 0:
        return None, None
    identity = identity or find_module_identity(tcb_info, td.tee_tcb_svn[1])
    if identity is None:
        return None, f"TDX_MODULE_MISMATCH: no identity TDX_{td.tee_tcb_svn[1]:02X}"
    level = first_isv_level(identity.levels, td.tee_tcb_svn[0])
    if level is None:
        return None, f"TCB_NOT_SUPPORTED: TDX module ISVSVN {td.tee_tcb_svn[0]}"
    return level, None


def converge_module(level_status: str, module: str) -> str:
    if module == OUT_OF_DATE:
        if level_status in (UP_TO_DATE, SW_HARDENING):
            return OUT_OF_DATE
        if level_status in (CONFIG, CONFIG_SW):
            return OUT_OF_DATE_CONFIG
    if module == REVOKED:
        return REVOKED
    return level_status


def converge_qe(status: str, qe: str) -> str:
    if qe == REVOKED:
        return REVOKED
    if qe != UP_TO_DATE:  # Intel treats every other QE level status as out of date
        if status in (UP_TO_DATE, SW_HARDENING):
            return OUT_OF_DATE
        if status in (CONFIG, CONFIG_SW):
            return OUT_OF_DATE_CONFIG
    return status


def relaunch_check(
    tcb_info: TcbInfo, svn2: bytes, sgx_status: str, tdx_status: str, module: str | None, qe: str
) -> tuple[str, str | None]:
    """4.1.2.4.17.4.3 (TD report 1.5): advise a relaunch when TEE_TCB_SVN2 is already current."""
    if qe != UP_TO_DATE:  # Intel: QE out of date, revoked or unsupported → no advice
        return tdx_status, None
    if sgx_status not in (UP_TO_DATE, SW_HARDENING, CONFIG, CONFIG_SW):
        return tdx_status, None
    if tdx_status not in (OUT_OF_DATE, OUT_OF_DATE_CONFIG) or module != OUT_OF_DATE:
        return tdx_status, None
    latest = tcb_info.levels[0]
    latest_tdx = latest.tdx_comps or (0,) * 16
    if svn2[1] == 0:
        current = svn2[0] >= latest_tdx[0]
    else:
        identity = find_module_identity(tcb_info, svn2[1])
        if identity is None:
            return tdx_status, f"TDX_MODULE_MISMATCH: no identity TDX_{svn2[1]:02X} (SVN2)"
        if not identity.levels:
            return tdx_status, "TCB_NOT_SUPPORTED: module identity without levels"
        current = svn2[0] >= identity.levels[0].isvsvn
    if current and svn2[2] >= latest_tdx[2]:
        needs_config = sgx_status in _CONFIG_NEEDED or tdx_status in _CONFIG_NEEDED
        return (RELAUNCH_CONFIG if needs_config else RELAUNCH), None
    return tdx_status, None


def _merge_ids(*groups: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({advisory for group in groups for advisory in group}))


def evaluate(
    tcb_info: TcbInfo,
    comps: tuple[int, ...],
    pcesvn: int,
    td: TdReport | None,
    module_identity: ModuleIdentity | None,
    qe: QeVerdict,
) -> TcbVerdict:
    """4.1.2.4.17: the platform TCB level, the TDX module level, the QE level, merged."""
    tdx = td is not None and tcb_info.id == "TDX"
    sgx_level, tdx_level = select_levels(
        tcb_info.levels, comps, pcesvn, td.tee_tcb_svn if tdx and td else None
    )
    qe_status = qe.status or UP_TO_DATE
    if sgx_level is None:
        return TcbVerdict(
            None,
            "TCB_NOT_SUPPORTED: no TCB level matches the PCK's SGX TCB",
            (),
            None,
            None,
            qe.status,
        )
    if not tdx or td is None:
        return TcbVerdict(
            converge_qe(sgx_level.status, qe_status),
            None,
            _merge_ids(sgx_level.advisory_ids, qe.advisory_ids),
            sgx_level.status,
            None,
            qe.status,
        )
    if tdx_level is None:
        return TcbVerdict(
            None,
            "TCB_NOT_SUPPORTED: no TCB level matches the TEE TCB SVN",
            (),
            sgx_level.status,
            None,
            qe.status,
        )
    module_level, problem = module_status(tcb_info, td, module_identity)
    if problem:
        return TcbVerdict(None, problem, (), tdx_level.status, None, qe.status)
    module = module_level.status if module_level else None
    status = converge_module(tdx_level.status, module or UP_TO_DATE)
    ids = _merge_ids(tdx_level.advisory_ids, module_level.advisory_ids if module_level else ())
    if status == REVOKED:
        return TcbVerdict(status, None, ids, tdx_level.status, module, qe.status)
    if td.tee_tcb_svn2 is not None:
        status, problem = relaunch_check(
            tcb_info, td.tee_tcb_svn2, sgx_level.status, status, module, qe_status
        )
        if problem:
            return TcbVerdict(None, problem, (), tdx_level.status, module, qe.status)
    return TcbVerdict(
        converge_qe(status, qe_status),
        None,
        _merge_ids(ids, qe.advisory_ids),
        tdx_level.status,
        module,
        qe.status,
    )
