"""An SEV-SNP report as normalised claims: every field by name, nothing vendor-shaped left."""

from __future__ import annotations

from elsewhere.claims import Claims, Tee, Vendor
from elsewhere.evidence.snp import abi
from elsewhere.evidence.snp.abi import AttestationReport

# (flag name, bit) — names follow the SEV-SNP ABI, prefixed by the field they come from.
POLICY_FLAGS: tuple[tuple[str, int], ...] = (
    ("policy_smt", 16),
    ("policy_migrate_ma", 18),
    ("policy_debug", 19),
    ("policy_single_socket", 20),
    ("policy_cxl_allow", 21),
    ("policy_mem_aes_256_xts", 22),
    ("policy_rapl_dis", 23),
    ("policy_ciphertext_hiding", 24),
    ("policy_page_swap_disable", 25),
)
PLATFORM_FLAGS: tuple[tuple[str, int], ...] = (
    ("platform_smt_en", 0),
    ("platform_tsme_en", 1),
    ("platform_ecc_en", 2),
    ("platform_rapl_dis", 3),
    ("platform_ciphertext_hiding_en", 4),
    ("platform_alias_check_complete", 5),
    ("platform_tio_en", 7),
)
_NAMED_PLATFORM_MASK = sum(1 << bit for _, bit in PLATFORM_FLAGS)
POLICY_DEBUG_BIT = 19
PLATFORM_SMT_EN_BIT = 0


def _flags(report: AttestationReport) -> dict[str, bool]:
    flags = {name: bool(report.policy >> bit & 1) for name, bit in POLICY_FLAGS}
    flags.update({name: bool(report.platform_info >> bit & 1) for name, bit in PLATFORM_FLAGS})
    unnamed = report.platform_info & ~_NAMED_PLATFORM_MASK
    while unnamed:  # unnamed bits that are set still reach policy, by number
        bit = (unnamed & -unnamed).bit_length() - 1  # lowest first
        flags[f"platform_bit_{bit}"] = True
        unnamed &= ~(1 << bit)
    flags["signer_author_key_en"] = report.author_key_en
    flags["signer_mask_chip_key"] = report.mask_chip_key
    return flags


def _version(major: int, minor: int, build: int) -> str:
    return f"{major}.{minor}.{build}"


def _identity(report: AttestationReport, csp_id: str | None) -> dict[str, int | str]:
    identity: dict[str, int | str] = {
        "guest_svn": report.guest_svn,
        "vmpl": report.vmpl,
        "policy": f"{report.policy:#x}",
        "policy_abi_major": report.policy >> 8 & 0xFF,
        "policy_abi_minor": report.policy & 0xFF,
        "platform_info": f"{report.platform_info:#x}",
        "signer_info": f"{report.signer_info:#x}",
        "family_id": report.family_id.hex(),
        "image_id": report.image_id.hex(),
        "id_key_digest": report.id_key_digest.hex(),
        "author_key_digest": report.author_key_digest.hex(),
        "report_id": report.report_id.hex(),
        "report_id_ma": report.report_id_ma.hex(),
        "reported_tcb": report.reported_tcb.hex(),
        "current_tcb": report.current_tcb.hex(),
        "committed_tcb": report.committed_tcb.hex(),
        "launch_tcb": report.launch_tcb.hex(),
        "firmware_current": _version(
            report.current_major, report.current_minor, report.current_build
        ),
        "firmware_committed": _version(
            report.committed_major, report.committed_minor, report.committed_build
        ),
    }
    if report.has_cpuid:
        identity["cpuid_fam_mod_step"] = (
            f"{report.cpuid_fam_id:02x}{report.cpuid_mod_id:02x}{report.cpuid_step:02x}"
        )
    if report.version >= 5:
        identity["launch_mit_vector"] = f"{report.launch_mit_vector:#x}"
        identity["current_mit_vector"] = f"{report.current_mit_vector:#x}"
    if csp_id is not None:
        identity["csp_id"] = csp_id
    return identity


def report_claims(
    report: AttestationReport,
    *,
    generation: str | None,
    signer: str,
    emulated: bool,
    csp_id: str | None = None,
) -> Claims:
    """Claims from a parsed report; `generation` picks the TCB layout (Turin differs)."""
    return Claims(
        vendor=Vendor.AMD,
        tee=Tee.SEV_SNP,
        generation=generation,
        report_version=report.version,
        signer=signer,
        debug=bool(report.policy >> POLICY_DEBUG_BIT & 1),
        smt=bool(report.platform_info >> PLATFORM_SMT_EN_BIT & 1),
        report_data=report.report_data.hex(),
        measurements={"measurement": report.measurement.hex()},
        tcb=abi.decode_tcb(report.reported_tcb, generation),
        flags=_flags(report),
        identity=_identity(report, csp_id),
        host_data=report.host_data.hex(),
        chip_id=report.chip_id.hex() if any(report.chip_id) else None,
        emulated=emulated,
    )
