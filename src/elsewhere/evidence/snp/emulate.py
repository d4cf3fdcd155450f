"""An emulated SEV-SNP platform: its own ARK -> ASK -> VCEK and real-format signed reports.

EMULATED EVIDENCE GIVES NO HARDWARE PROTECTION. It exists so the rest of Elsewhere (host
agent, broker, demo, tests) can run without AMD hardware. The verifier accepts these reports
only when the caller passes `platform.trust_anchor` in `trusted_emulated_roots`, and marks
every such result emulated.

Fidelity: reports use the real 0x4A0-byte layout and ECDSA P-384 signature; certificates carry
AMD's extensions (structVersion, productName, SPLs, hwID) and are signed with RSASSA-PSS
(SHA-384, MGF1-SHA-384, salt 48) as AMD signs them. The ARK and ASK use 2048-bit RSA keys
instead of AMD's 4096 so creating a root takes well under a second.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from elsewhere.errors import ConfigError, InputError
from elsewhere.evidence.anchors import TrustAnchor
from elsewhere.evidence.snp import abi
from elsewhere.evidence.snp.certs import (
    GUID_ARK,
    GUID_ASK,
    GUID_VCEK,
    OID_HWID,
    OID_PRODUCT_NAME,
    OID_STRUCT_VERSION,
    TCB_OIDS,
    build_cert_table,
)
from elsewhere.evidence.snp.der import der_ia5, der_integer
from elsewhere.privatefile import write_private


@dataclass(frozen=True)
class Product:
    name: str  # the VCEK productName
    cpuid: tuple[int, int, int]  # family, model, stepping
    report_version: int


GENERATIONS: Mapping[str, Product] = MappingProxyType(
    {
        "Milan": Product("Milan-B0", (0x19, 0x01, 0x01), 3),
        "Genoa": Product("Genoa", (0x19, 0x11, 0x01), 3),
        "Turin": Product("Turin", (0x1A, 0x02, 0x01), 5),
    }
)
DEFAULT_TCB: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        "Milan": {"bootloader": 4, "tee": 0, "snp": 24, "microcode": 219},
        "Genoa": {"bootloader": 10, "tee": 0, "snp": 23, "microcode": 84},
        "Turin": {"fmc": 1, "bootloader": 1, "tee": 1, "snp": 4, "microcode": 81},
    }
)
EMULATED_ORG = "Elsewhere EMULATED SEV-SNP - no hardware protection"
POLICY_BASE = 0x30000  # SMT allowed, reserved bit 17 set, ABI 0.0
POLICY_DEBUG = 1 << 19
PLATFORM_INFO = 0x25  # SMT enabled, ECC, alias check complete
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
_FILES = ("platform.json", "ark.pem", "ask.pem", "ask-key.pem", "vcek.pem", "vcek-key.pem")


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, EMULATED_ORG),
        ]
    )


def _sign(builder: x509.CertificateBuilder, key: rsa.RSAPrivateKey) -> x509.Certificate:
    return builder.sign(key, hashes.SHA384(), rsa_padding=_PSS)


def _builder(
    subject: str, issuer: str, public_key: object, start: dt.datetime, years: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=365 * years))
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def check_tcb(generation: str, tcb: Mapping[str, int]) -> dict[str, int]:
    """A full TCB for this generation: defaults for missing components, errors for unknown."""
    full = dict(DEFAULT_TCB[generation])
    unknown = sorted(set(tcb) - set(full))
    if unknown:
        raise ConfigError("TCB", ", ".join(unknown), f"not a {generation} TCB component")
    full.update(tcb)
    abi.encode_tcb(full, generation)  # range check
    return full


@dataclass(frozen=True)
class EmulatedSnpPlatform:
    """An emulated AMD platform: chain, VCEK key, chip id and TCB, kept in `directory`."""

    directory: Path
    generation: str
    tcb: Mapping[str, int]
    chip_id: bytes
    ark_der: bytes
    ask_der: bytes
    vcek_der: bytes
    _ask_key: rsa.RSAPrivateKey = field(repr=False, compare=False)
    _vcek_key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)
    _vceks: dict[tuple[tuple[str, int], ...], bytes] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def root_path(self) -> Path:
        """The file holding the emulated root (ARK) a verifier must be given."""
        return self.directory / "ark.pem"

    @property
    def trust_anchor(self) -> TrustAnchor:
        """The emulated root to pass, explicitly, to the verifier."""
        return TrustAnchor(name=f"ARK-{self.generation} (emulated)", der=self.ark_der)

    @classmethod
    def create(
        cls,
        directory: Path | str,
        generation: str = "Genoa",
        tcb: Mapping[str, int] | None = None,
        chip_id: bytes | None = None,
        now: dt.datetime | None = None,
    ) -> EmulatedSnpPlatform:
        """Make a new emulated root and VCEK and write them (keys mode 0600) to `directory`."""
        if generation not in GENERATIONS:
            raise ConfigError("generation", generation, "expected Milan, Genoa or Turin")
        full_tcb = check_tcb(generation, tcb or {})
        if chip_id is None:
            chip_id = (
                secrets.token_bytes(8) + bytes(56)
                if generation == "Turin"
                else (secrets.token_bytes(64))
            )
        if len(chip_id) != 64:
            raise ConfigError("chip id", chip_id.hex(), "must be 64 bytes")
        start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=1)
        ark_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ask_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        vcek_key = ec.generate_private_key(ec.SECP384R1())
        ark_cn, ask_cn = f"ARK-{generation}", f"SEV-{generation}"
        ca = x509.BasicConstraints(ca=True, path_length=None)
        ark = _sign(
            _builder(ark_cn, ark_cn, ark_key.public_key(), start, 25).add_extension(ca, True),
            ark_key,
        )
        ask = _sign(
            _builder(ask_cn, ark_cn, ask_key.public_key(), start, 25).add_extension(ca, True),
            ark_key,
        )
        der = serialization.Encoding.DER
        platform = cls(
            directory=Path(directory),
            generation=generation,
            tcb=MappingProxyType(full_tcb),
            chip_id=chip_id,
            ark_der=ark.public_bytes(der),
            ask_der=ask.public_bytes(der),
            vcek_der=b"",
            _ask_key=ask_key,
            _vcek_key=vcek_key,
        )
        platform = replace(platform, vcek_der=platform.vcek_for(full_tcb, start))
        platform._save(ask)
        return platform

    def vcek_for(self, tcb: Mapping[str, int], start: dt.datetime | None = None) -> bytes:
        """A VCEK (DER) certifying this TCB, as AMD's KDS issues one per TCB."""
        key = tuple(sorted(tcb.items()))
        cached = self._vceks.get(key)
        if cached is not None:
            return cached
        if start is None:
            start = x509.load_der_x509_certificate(self.ark_der).not_valid_before_utc
        spec = GENERATIONS[self.generation]
        turin = self.generation == "Turin"
        builder = _builder(
            "SEV-VCEK", f"SEV-{self.generation}", self._vcek_key.public_key(), start, 7
        )
        extensions = [
            (OID_STRUCT_VERSION, der_integer(1 if turin else 0)),
            (OID_PRODUCT_NAME, der_ia5(spec.name)),
        ]
        extensions += [(TCB_OIDS[name], der_integer(value)) for name, value in tcb.items()]
        hwid = self.chip_id[:8] if turin else self.chip_id
        extensions.append((OID_HWID, hwid))  # raw bytes, as AMD's KDS currently issues
        for oid, value in extensions:
            builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), False)
        vcek = _sign(builder, self._ask_key).public_bytes(serialization.Encoding.DER)
        self._vceks[key] = vcek
        return vcek

    def _save(self, ask: x509.Certificate) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": "elsewhere emulated SEV-SNP platform (no hardware protection)",
            "generation": self.generation,
            "tcb": dict(self.tcb),
            "chip_id": self.chip_id.hex(),
        }
        files = {
            "platform.json": json.dumps(meta, indent=2).encode(),
            "ark.pem": _pem(x509.load_der_x509_certificate(self.ark_der)),
            "ask.pem": _pem(ask),
            "vcek.pem": _pem(x509.load_der_x509_certificate(self.vcek_der)),
            "ask-key.pem": _key_pem(self._ask_key),
            "vcek-key.pem": _key_pem(self._vcek_key),
        }
        for name, data in files.items():
            write_private(self.directory / name, data, what="emulated platform", overwrite=True)

    @classmethod
    def load(cls, directory: Path | str) -> EmulatedSnpPlatform:
        """Read a platform written by `create`; raises ConfigError naming a missing/bad file."""
        base = Path(directory)
        blobs: dict[str, bytes] = {}
        for name in _FILES:
            try:
                blobs[name] = (base / name).read_bytes()
            except OSError as error:
                raise ConfigError(
                    "emulated platform", str(base / name), error.strerror or "unreadable"
                ) from None
        try:
            meta = json.loads(blobs["platform.json"])
            generation = str(meta["generation"])
            tcb = check_tcb(generation, {str(k): int(v) for k, v in meta["tcb"].items()})
            chip_id = bytes.fromhex(meta["chip_id"])
            ask_key = serialization.load_pem_private_key(blobs["ask-key.pem"], None)
            vcek_key = serialization.load_pem_private_key(blobs["vcek-key.pem"], None)
            certs = {
                name: x509.load_pem_x509_certificate(blobs[name]).public_bytes(
                    serialization.Encoding.DER
                )
                for name in ("ark.pem", "ask.pem", "vcek.pem")
            }
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigError("emulated platform", str(base), f"unreadable: {error}") from None
        if not isinstance(ask_key, rsa.RSAPrivateKey) or not isinstance(
            vcek_key, ec.EllipticCurvePrivateKey
        ):
            raise ConfigError("emulated platform", str(base), "unexpected key types")
        platform = cls(
            directory=base,
            generation=generation,
            tcb=MappingProxyType(tcb),
            chip_id=chip_id,
            ark_der=certs["ark.pem"],
            ask_der=certs["ask.pem"],
            vcek_der=certs["vcek.pem"],
            _ask_key=ask_key,
            _vcek_key=vcek_key,
        )
        platform._vceks[tuple(sorted(tcb.items()))] = certs["vcek.pem"]
        return platform

    def report(
        self,
        report_data: bytes,
        *,
        debug: bool = False,
        tcb: Mapping[str, int] | None = None,
        policy: int | None = None,
        platform_info: int = PLATFORM_INFO,
        measurement: bytes | None = None,
        host_data: bytes = bytes(32),
        vmpl: int = 0,
        guest_svn: int = 0,
        version: int | None = None,
    ) -> abi.AttestationReport:
        """An unsigned report with chosen fields (signature zero); see `sign`."""
        if len(report_data) > 64:
            raise InputError("report_data", f"{len(report_data)} bytes", "at most 64 bytes")
        spec = GENERATIONS[self.generation]
        fam, mod, step = spec.cpuid
        version = version or spec.report_version
        if version not in abi.SUPPORTED_VERSIONS:
            raise InputError("report version", str(version), "expected 2, 3 or 5")
        tcb_bytes = abi.encode_tcb(check_tcb(self.generation, tcb or self.tcb), self.generation)
        if policy is None:
            policy = POLICY_BASE | (POLICY_DEBUG if debug else 0)
        return abi.AttestationReport(
            version=version,
            guest_svn=guest_svn,
            policy=policy,
            family_id=bytes(16),
            image_id=bytes(16),
            vmpl=vmpl,
            signature_algo=abi.SIG_ALGO_ECDSA_P384_SHA384,
            current_tcb=tcb_bytes,
            platform_info=platform_info,
            signer_info=0,  # VCEK
            reserved_04c=bytes(4),
            report_data=report_data.ljust(64, b"\0"),
            measurement=measurement or hashlib.sha384(b"elsewhere emulated guest").digest(),
            host_data=host_data,
            id_key_digest=bytes(48),
            author_key_digest=bytes(48),
            report_id=secrets.token_bytes(32),
            report_id_ma=b"\xff" * 32,
            reported_tcb=tcb_bytes,
            cpuid_fam_id=fam if version >= 3 else 0,
            cpuid_mod_id=mod if version >= 3 else 0,
            cpuid_step=step if version >= 3 else 0,
            reserved_18b=bytes(21),
            chip_id=self.chip_id,
            committed_tcb=tcb_bytes,
            current_build=1,
            current_minor=55,
            current_major=1,
            reserved_1eb=0,
            committed_build=1,
            committed_minor=55,
            committed_major=1,
            reserved_1ef=0,
            launch_tcb=tcb_bytes,
            launch_mit_vector=0,
            current_mit_vector=0,
            reserved_208=bytes(152),
            signature_r=bytes(72),
            signature_s=bytes(72),
            signature_reserved=bytes(368),
        )

    def sign(self, report: abi.AttestationReport) -> bytes:
        """Serialise and sign (ECDSA P-384 over 0x000-0x29F, R/S little-endian)."""
        unsigned = abi.serialise_report(report)
        der = self._vcek_key.sign(unsigned[: abi.SIGNED_SIZE], ec.ECDSA(hashes.SHA384()))
        r, s = decode_dss_signature(der)
        return abi.with_signature(unsigned, r, s)

    def cert_table(self, tcb: Mapping[str, int] | None = None) -> bytes:
        """The certificate table a guest would get with its report: VCEK, ASK, ARK."""
        vcek = self.vcek_for(check_tcb(self.generation, tcb)) if tcb else self.vcek_der
        return build_cert_table({GUID_VCEK: vcek, GUID_ASK: self.ask_der, GUID_ARK: self.ark_der})

    def attest(
        self, report_data: bytes, *, debug: bool = False, tcb: Mapping[str, int] | None = None
    ) -> tuple[bytes, bytes]:
        """(signed report, certificate table) binding `report_data`, as a guest would receive."""
        report = self.report(report_data, debug=debug, tcb=tcb)
        return self.sign(report), self.cert_table(tcb)
