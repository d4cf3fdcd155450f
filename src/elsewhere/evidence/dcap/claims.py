"""A parsed, checked DCAP quote → the normalised Claims shape shared with SEV-SNP."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from elsewhere.claims import INTEL_FAMILY_BY_FMSPC_MODEL, Claims, Tee, Vendor
from elsewhere.evidence.dcap.pck import SGX_TYPES, PckExtensions
from elsewhere.evidence.dcap.quote import EnclaveReport, Quote, TdReport

# TD_ATTRIBUTES bits (TDX module ABI) and SGX ATTRIBUTES.FLAGS bits (SDM vol. 3D).
TD_ATTRIBUTE_BITS = {
    "debug": 0,
    "sept_ve_disable": 28,
    "migratable": 29,
    "pks": 30,
    "kl": 31,
    "perfmon": 63,
}
SGX_ATTRIBUTE_BITS = {
    "init": 0,
    "debug": 1,
    "mode64bit": 2,
    "provision_key": 4,
    "einittoken_key": 5,
    "kss": 7,
    "aex_notify": 10,
}


_TDX_NAMES = tuple(f"tdx_comp_{i:02d}" for i in range(16))


def generation(fmspc: bytes | None) -> str | None:
    return INTEL_FAMILY_BY_FMSPC_MODEL.get(fmspc.hex()[2:6]) if fmspc else None


def _bits(value: bytes, names: dict[str, int]) -> dict[str, bool]:
    word = int.from_bytes(value[:8], "little")
    return {name: bool(word >> bit & 1) for name, bit in names.items()}


@lru_cache(maxsize=256)
def _pck_tcb(pck: PckExtensions) -> tuple[tuple[str, int], ...]:
    tcb = [(f"sgx_comp_{i:02d}", svn) for i, svn in enumerate(pck.sgx_tcb_comps)]
    return (*tcb, ("pcesvn", pck.pcesvn))


def _pck_part(pck: PckExtensions | None) -> tuple[dict[str, int], dict[str, int | str]]:
    if pck is None:
        return {}, {}
    tcb = dict(_pck_tcb(pck))
    identity: dict[str, int | str] = {
        "pceid": pck.pceid.hex(),
        "ppid": pck.ppid.hex(),
        "pck_ca": pck.ca,
        "sgx_type": SGX_TYPES.get(pck.sgx_type, str(pck.sgx_type)),
    }
    return tcb, identity


def build_claims(
    quote: Quote,
    pck: PckExtensions | None,
    tcb_status: str | None,
    advisory_ids: tuple[str, ...],
    emulated: bool,
) -> Claims:
    tcb, identity = _pck_part(pck)
    identity["qe_isvsvn"] = quote.qe_report.isvsvn
    body = quote.body
    common: dict[str, Any] = dict(
        vendor=Vendor.INTEL,
        generation=generation(pck.fmspc if pck else None),
        report_version=quote.header.version,
        signer="PCK",
        smt=None,
        report_data=body.report_data.hex(),
        tcb_status=tcb_status,
        advisory_ids=advisory_ids,
        fmspc=pck.fmspc.hex() if pck else None,
        emulated=emulated,
    )
    if isinstance(body, TdReport):
        return _tdx_claims(body, tcb, identity, common)
    return _sgx_claims(body, tcb, identity, common)


def _tdx_claims(
    td: TdReport, tcb: dict[str, int], identity: dict[str, int | str], common: dict[str, Any]
) -> Claims:
    tcb.update(zip(_TDX_NAMES, td.tee_tcb_svn, strict=True))
    measurements = {
        "mrtd": td.mrtd.hex(),
        **{f"rtmr{i}": rtmr.hex() for i, rtmr in enumerate(td.rtmrs)},
        "mrseam": td.mrseam.hex(),
        "mrsignerseam": td.mrsignerseam.hex(),
        "mrconfigid": td.mrconfigid.hex(),
        "mrowner": td.mrowner.hex(),
        "mrownerconfig": td.mrownerconfig.hex(),
    }
    identity.update(
        tee_tcb_svn=td.tee_tcb_svn.hex(),
        tdx_module_svn=td.tee_tcb_svn[0],
        tdx_module_version=td.tee_tcb_svn[1],
        seam_attributes=td.seam_attributes.hex(),
        td_attributes=td.td_attributes.hex(),
        xfam=td.xfam.hex(),
        td_report_version="1.0",
    )
    if td.mrservicetd is not None and td.tee_tcb_svn2 is not None:
        measurements["mrservicetd"] = td.mrservicetd.hex()
        identity.update(tee_tcb_svn2=td.tee_tcb_svn2.hex(), td_report_version="1.5")
    flags = _bits(td.td_attributes, TD_ATTRIBUTE_BITS)
    return Claims(
        tee=Tee.TDX,
        debug=flags["debug"],
        measurements=measurements,
        tcb=tcb,
        flags=flags,
        identity=identity,
        **common,
    )


def _sgx_claims(
    body: EnclaveReport,
    tcb: dict[str, int],
    identity: dict[str, int | str],
    common: dict[str, Any],
) -> Claims:
    identity.update(
        isvprodid=body.isvprodid,
        isvsvn=body.isvsvn,
        configsvn=body.configsvn,
        miscselect=f"{body.miscselect:08x}",
        attributes=body.attributes.hex(),
        cpusvn=body.cpusvn.hex(),
        isvextprodid=body.isvextprodid.hex(),
        isvfamilyid=body.isvfamilyid.hex(),
        configid=body.configid.hex(),
    )
    flags = _bits(body.attributes, SGX_ATTRIBUTE_BITS)
    return Claims(
        tee=Tee.SGX,
        debug=flags["debug"],
        measurements={"mrenclave": body.mrenclave.hex(), "mrsigner": body.mrsigner.hex()},
        tcb=tcb,
        flags=flags,
        identity=identity,
        **common,
    )
