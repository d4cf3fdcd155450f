"""SEV-SNP checks: report signature, VEK chain, validity at a time, TCB and chip-id binding.

Every check runs and every failure is collected (check, found, expected); only input that
cannot be used at all raises. The chain part is cached per VEK (see `chain`), so the per-report
work is: parse, one ECDSA P-384 verification, and field comparisons.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from elsewhere.claims import Failure, VerificationResult
from elsewhere.evidence.anchors import load_certificates
from elsewhere.evidence.api import EvidenceOptions
from elsewhere.evidence.detect import Detected, EvidenceFormat
from elsewhere.evidence.snp import abi
from elsewhere.evidence.snp.abi import AttestationReport, SigningKey
from elsewhere.evidence.snp.certs import HWID_SIZES, CertTable, parse_cert_table
from elsewhere.evidence.snp.chain import ChainContext, chain_context
from elsewhere.evidence.snp.claims import report_claims
from elsewhere.evidence.snp.hcl import HclReport, parse_hcl
from elsewhere.timeutil import iso

_ECDSA_SHA384 = ec.ECDSA(hashes.SHA384())
KNOWN_POLICY_BITS = (1 << 26) - 1  # ABI minor/major and bits 16..25
POLICY_RESERVED_ONE = 1 << 17
KNOWN_PLATFORM_BITS = 0b1011_1111  # bit 6 is set on real Turin parts but not yet named
_RESERVED_ZERO = tuple(
    (name, bytes(abi.BYTES_SIZES[name]))
    for name in ("reserved_04c", "reserved_18b", "reserved_208")
)
_UNSIGNED_ZERO = bytes(abi.BYTES_SIZES["signature_reserved"])


def verify_snp_evidence(detected: Detected, options: EvidenceOptions) -> VerificationResult:
    """Verify a raw / hex SEV-SNP report or an Azure HCL report wrapping one."""
    if detected.format is EvidenceFormat.AZURE_HCL_SNP:
        hcl = parse_hcl(detected.data)
        return verify_report(hcl.hardware_report, options, hcl=hcl, kind=detected.format.value)
    return verify_report(detected.data, options, kind=detected.format.value)


@lru_cache(maxsize=64)
def _certificates(blob: bytes, where: str) -> tuple[bytes, ...]:
    return load_certificates(blob, where)


@lru_cache(maxsize=64)
def _table(blob: bytes) -> CertTable:
    return parse_cert_table(blob)


def _gather(
    report: AttestationReport, options: EvidenceOptions
) -> tuple[bytes | None, tuple[bytes, ...]]:
    """(VEK DER, other certificates) from the options and the certificate table."""
    others: list[bytes] = []
    for index, blob in enumerate(options.chain):
        others.extend(_certificates(blob, f"chain #{index + 1}"))
    vek = None
    if options.vek is not None:
        ders = _certificates(options.vek, "--vcek")
        vek, others = ders[0], [*others, *ders[1:]]  # a bundle may carry VEK, ASK, ARK
    if options.cert_table is not None:
        table = _table(options.cert_table)
        wanted = table.vlek if report.signing_key == SigningKey.VLEK else table.vcek
        if vek is None:
            vek = wanted or table.vcek or table.vlek
        others.extend(der for der in (table.ask, table.ark) if der is not None)
    return vek, tuple(others)


def verify_report(
    data: bytes,
    options: EvidenceOptions,
    *,
    hcl: HclReport | None = None,
    kind: str = EvidenceFormat.SNP_REPORT.value,
) -> VerificationResult:
    report = abi.parse_report(data)
    at = options.verification_time()
    failures: list[Failure] = []
    notices = reserved_notices(report)

    vek_der, others = _gather(report, options)
    context: ChainContext | None = None
    if vek_der is None:
        failures.append(
            Failure(
                "VEK",
                "no VCEK or VLEK certificate",
                "the report's signing certificate (--vcek or --certs)",
            )
        )
    else:
        context = chain_context(vek_der, others, tuple(options.trusted_emulated_roots))
        failures.extend(context.failures)
        failures.extend(_validity(context, at))

    cpuid_generation = (
        abi.product_from_cpuid(report.cpuid_fam_id, report.cpuid_mod_id)
        if report.has_cpuid
        else None
    )
    if report.has_cpuid and cpuid_generation is None:
        notices.append(
            f"unknown CPUID family/model {report.cpuid_fam_id:#04x}/{report.cpuid_mod_id:#04x}"
        )
    generation = cpuid_generation or (context.generation if context else None)
    if any(abi.tcb_reserved_bytes(report.reported_tcb, generation)):
        notices.append(f"REPORTED_TCB {report.reported_tcb.hex()} has reserved bytes set")
    if context is not None:
        if cpuid_generation and context.generation and cpuid_generation != context.generation:
            failures.append(
                Failure(
                    "product",
                    f"report CPUID says {cpuid_generation}",
                    f"{context.generation} ({context.vek.kind} chain)",
                )
            )
        failures.extend(_signature_checks(report, data, context))
        failures.extend(_binding_checks(report, context, generation))
    if hcl is not None:
        failures.extend(_hcl_checks(report, hcl, notices))

    emulated = bool(context and context.root and context.root.emulated)
    if emulated:
        notices.append("chain ends at an explicitly trusted EMULATED root: no hardware protection")
    claims = report_claims(
        report,
        generation=generation,
        signer=context.vek.kind if context else _signer_name(report.signing_key),
        emulated=emulated,
        csp_id=context.vek.csp_id if context else None,
    )
    return VerificationResult(
        claims=claims,
        failures=tuple(failures),
        verified_at=at,
        evidence_kind=kind,
        notices=tuple(notices),
    )


def _signer_name(signing_key: int) -> str:
    try:
        return SigningKey(signing_key).name
    except ValueError:
        return f"reserved ({signing_key})"


def _validity(context: ChainContext, at: dt.datetime) -> list[Failure]:
    return [
        Failure(
            f"{window.label} validity",
            f"valid {iso(window.not_before)} to {iso(window.not_after)}",
            f"valid at {iso(at)}",
        )
        for window in context.windows
        if not window.not_before <= at <= window.not_after
    ]


def _signature_checks(
    report: AttestationReport, data: bytes, context: ChainContext
) -> list[Failure]:
    failures = []
    expected_key = SigningKey.VLEK if context.vek.kind == "VLEK" else SigningKey.VCEK
    if report.signing_key != expected_key:
        failures.append(
            Failure(
                "SIGNER_INFO.SIGNING_KEY",
                f"{report.signing_key} ({_signer_name(report.signing_key)})",
                f"{int(expected_key)} ({expected_key.name}, the certificate given)",
            )
        )
    if report.signature_algo != abi.SIG_ALGO_ECDSA_P384_SHA384:
        failures.append(
            Failure("SIGNATURE_ALGO", str(report.signature_algo), "1 (ECDSA P-384 with SHA-384)")
        )
    if report.signature_reserved != _UNSIGNED_ZERO:
        # After the signature and outside what it covers: the ABI leaves it reserved (zero),
        # so bytes there would be unsigned content riding along with a valid report.
        at = abi.OFFSETS["signature_reserved"]
        first = next(i for i, b in enumerate(report.signature_reserved) if b)
        failures.append(
            Failure(
                "unsigned bytes",
                f"non-zero byte at {at + first:#05x} in the reserved area after the signature",
                f"zero (0x{at:03x}-0x{abi.REPORT_SIZE - 1:03x} is not signed)",
            )
        )
    r, s = report.signature_ints()
    if not (0 < r < abi.P384_ORDER and 0 < s < abi.P384_ORDER):
        reason = "MASK_CHIP_KEY set: unsigned" if report.mask_chip_key else "R or S out of range"
        failures.append(
            Failure("report signature", reason, f"ECDSA P-384 by the {context.vek.kind}")
        )
        return failures
    try:
        context.public_key.verify(
            encode_dss_signature(r, s), data[: abi.SIGNED_SIZE], _ECDSA_SHA384
        )
    except InvalidSignature:
        failures.append(
            Failure(
                "report signature",
                "does not verify",
                f"ECDSA P-384 over bytes 0x000-0x29F by the {context.vek.kind}",
            )
        )
    return failures


def _binding_checks(
    report: AttestationReport, context: ChainContext, generation: str | None
) -> list[Failure]:
    """REPORTED_TCB (not CURRENT_TCB) against the VEK's SPLs; CHIP_ID against a VCEK's hwID."""
    failures = []
    vek = context.vek
    reported = abi.decode_tcb(report.reported_tcb, generation)
    for name, value in reported.items():
        certified = vek.tcb.get(name)
        if certified != value:
            failures.append(
                Failure(
                    f"REPORTED_TCB.{name}",
                    str(value),
                    f"{certified} ({vek.kind} {name} SPL)"
                    if certified is not None
                    else f"a {name} SPL extension in the {vek.kind}",
                )
            )
    for name in sorted(set(vek.tcb) - set(reported)):
        failures.append(
            Failure(
                f"REPORTED_TCB.{name}",
                f"no {name} component in a {generation or 'Milan/Genoa'} TCB",
                f"{vek.tcb[name]} ({vek.kind} {name} SPL)",
            )
        )
    if vek.kind == "VCEK":
        if vek.hwid is None or len(vek.hwid) not in HWID_SIZES:
            failures.append(
                Failure(
                    "CHIP_ID",
                    report.chip_id.hex(),
                    "a 64-byte (8 on Turin) hwID extension in the VCEK",
                )
            )
        elif report.chip_id[: len(vek.hwid)] != vek.hwid:
            failures.append(
                Failure(
                    "CHIP_ID",
                    report.chip_id[: len(vek.hwid)].hex(),
                    f"{vek.hwid.hex()} (VCEK hwID)",
                )
            )
    return failures


def _hcl_checks(report: AttestationReport, hcl: HclReport, notices: list[str]) -> list[Failure]:
    failures = []
    digest = hcl.var_data_digest()
    if report.report_data[: len(digest)] != digest:
        failures.append(
            Failure(
                "HCL runtime data binding",
                f"REPORT_DATA[0:{len(digest)}] = {report.report_data[: len(digest)].hex()}",
                f"{hcl.hash_name} of the HCL runtime data = {digest.hex()}",
            )
        )
    notices.append(
        f"Azure HCL header (version {hcl.version}, request type {hcl.request_type}) and runtime "
        f"data version {hcl.runtime_version} are not signed; only the runtime data is bound"
    )
    if report.vmpl != 0:
        # Only the paravisor at VMPL 0 vouches for the runtime data it hashes.
        failures.append(Failure("VMPL", str(report.vmpl), "0 (HCL paravisor)"))
    return failures


def reserved_notices(report: AttestationReport) -> list[str]:
    """Reserved or not-yet-named bits that are set: shown, never fatal (firmware adds bits)."""
    notices = []
    if report.policy & ~KNOWN_POLICY_BITS:
        notices.append(f"POLICY has unknown bits set: {report.policy & ~KNOWN_POLICY_BITS:#x}")
    if not report.policy & POLICY_RESERVED_ONE:
        notices.append("POLICY bit 17 (reserved, must be one) is clear")
    unknown_platform = report.platform_info & ~KNOWN_PLATFORM_BITS
    if unknown_platform:
        bits = ", ".join(str(b) for b in range(64) if unknown_platform >> b & 1)
        notices.append(f"PLATFORM_INFO has unknown bits set: bit {bits}")
    if report.signer_info >> 5:
        notices.append(f"SIGNER_INFO reserved bits 31:5 set: {report.signer_info >> 5:#x}")
    for name, zero in _RESERVED_ZERO:
        if getattr(report, name) != zero:
            notices.append(f"reserved bytes at {abi.OFFSETS[name]:#05x} are not zero")
    if report.reserved_1eb or report.reserved_1ef:
        notices.append("reserved firmware-version bytes at 0x1eb/0x1ef are not zero")
    if not report.has_cpuid and (report.cpuid_fam_id or report.cpuid_mod_id or report.cpuid_step):
        notices.append("version 2 report has non-zero reserved bytes at 0x188 (CPUID in v3+)")
    if report.version < 5 and (report.launch_mit_vector or report.current_mit_vector):
        notices.append(f"version {report.version} report has non-zero reserved bytes at 0x1f8")
    return notices
