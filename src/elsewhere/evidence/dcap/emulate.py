"""An emulated Intel TDX platform: its own root, PCK chain, QE and signed collateral.

EMULATED EVIDENCE GIVES NO HARDWARE PROTECTION. It lets the host agent, broker, demo and tests
run without Intel hardware. The verifier accepts its quotes only when the caller passes
`platform.trust_anchor` in `EvidenceOptions.trusted_emulated_roots`, and marks every such
result emulated.

Fidelity: quotes use the real TDX v4 layout (TD report 1.0, QE report certification data with
a PEM PCK chain); the PCK certificate carries Intel's SGX extensions (PPID, TCB components,
PCESVN, CPUSVN, PCE-ID, FMSPC, SGX type); collateral is TCB Info v3 and QE Identity v2 JSON
signed, like Intel's, by a TCB signing key, with root and PCK CRLs. Everything is P-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from elsewhere.errors import ConfigError
from elsewhere.evidence.anchors import TrustAnchor
from elsewhere.evidence.dcap.collateral import Collateral, SignedDoc, build_collateral
from elsewhere.evidence.dcap.pck import SGX_EXTENSIONS_OID
from elsewhere.evidence.dcap.quote import ATT_KEY_ECDSA_P256, INTEL_QE_VENDOR_ID, TEE_TDX
from elsewhere.evidence.dcap.tcb import UP_TO_DATE
from elsewhere.privatefile import write_private

EMULATED_ORG = "Elsewhere EMULATED Intel SGX/TDX - no hardware protection"
DEFAULT_FMSPC = bytes.fromhex("00806f050000")
DEFAULT_SGX_COMPS = (7, 7, 2, 2, 3, 1, 0, 3) + (0,) * 8
DEFAULT_TEE_TCB_SVN = bytes([4, 1, 7]) + bytes(13)
QE_MRSIGNER = hashlib.sha256(b"elsewhere emulated TD QE").digest()
QE_ISVSVN = 6
SEPT_VE_DISABLE = 1 << 28
_KEYS = ("root", "pck-ca", "pck", "tcb-signing", "attestation")
_CERTS = ("root", "pck-ca", "pck", "tcb-signing")


def _der(tag: int, value: bytes) -> bytes:
    size = len(value)
    length = bytes([size]) if size < 0x80 else bytes([0x82]) + size.to_bytes(2, "big")
    return bytes([tag]) + length + value


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        while part := part >> 7:
            chunk.append(0x80 | part & 0x7F)
        body += bytes(reversed(chunk))
    return _der(0x06, body)


def _int(value: int, tag: int = 0x02) -> bytes:
    return _der(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big"))


def sgx_extension(
    fmspc: bytes, comps: tuple[int, ...], pcesvn: int, ppid: bytes, sgx_type: int = 1
) -> bytes:
    """DER of Intel's SGX extension (OID 1.2.840.113741.1.13.1) as in real PCK certificates."""
    base = "1.2.840.113741.1.13.1"
    tcb = b"".join(_der(0x30, _oid(f"{base}.2.{i + 1}") + _int(svn)) for i, svn in enumerate(comps))
    tcb += _der(0x30, _oid(f"{base}.2.17") + _int(pcesvn))
    tcb += _der(0x30, _oid(f"{base}.2.18") + _der(0x04, bytes(comps)))
    entries = [
        _der(0x30, _oid(f"{base}.1") + _der(0x04, ppid)),
        _der(0x30, _oid(f"{base}.2") + _der(0x30, tcb)),
        _der(0x30, _oid(f"{base}.3") + _der(0x04, bytes(2))),
        _der(0x30, _oid(f"{base}.4") + _der(0x04, fmspc)),
        _der(0x30, _oid(f"{base}.5") + _int(sgx_type, 0x0A)),
    ]
    return _der(0x30, b"".join(entries))


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, EMULATED_ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject: str,
    issuer: str,
    key: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
    start: dt.datetime,
    ca: bool,
    extra: bytes | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), True)
    )
    if extra is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(SGX_EXTENSIONS_OID, extra), False
        )
    return builder.sign(signer, hashes.SHA256())


def _raw_sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class EmulatedTdxPlatform:
    """An emulated TDX host: keys and certificates kept in `directory` (keys mode 0600)."""

    directory: Path
    fmspc: bytes
    sgx_comps: tuple[int, ...]
    pcesvn: int
    tee_tcb_svn: bytes
    certs: dict[str, bytes] = field(repr=False)  # DER by name (_CERTS)
    keys: dict[str, ec.EllipticCurvePrivateKey] = field(repr=False, compare=False)

    @property
    def root_path(self) -> Path:
        """The file holding the emulated root a verifier must be given."""
        return self.directory / "root.pem"

    @property
    def trust_anchor(self) -> TrustAnchor:
        """The emulated root to pass, explicitly, to the verifier."""
        return TrustAnchor(name="Elsewhere emulated SGX Root CA", der=self.certs["root"])

    @classmethod
    def create(
        cls,
        directory: Path | str,
        *,
        fmspc: bytes = DEFAULT_FMSPC,
        sgx_comps: tuple[int, ...] = DEFAULT_SGX_COMPS,
        pcesvn: int = 11,
        tee_tcb_svn: bytes = DEFAULT_TEE_TCB_SVN,
        now: dt.datetime | None = None,
    ) -> EmulatedTdxPlatform:
        if len(fmspc) != 6 or len(sgx_comps) != 16 or len(tee_tcb_svn) != 16:
            raise ConfigError("emulated TDX", "platform", "FMSPC 6 bytes, 16 SGX / TDX comps")
        start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=1)
        keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in _KEYS}
        root = "Elsewhere emulated SGX Root CA"
        ppid = hashlib.sha256(keys["pck"].public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )).digest()[:16]  # fmt: skip
        made = {
            "root": _cert(root, root, keys["root"].public_key(), keys["root"], start, True),
            "pck-ca": _cert("Elsewhere emulated SGX PCK Platform CA", root,
                            keys["pck-ca"].public_key(), keys["root"], start, True),
            "pck": _cert("Elsewhere emulated SGX PCK Certificate",
                         "Elsewhere emulated SGX PCK Platform CA", keys["pck"].public_key(),
                         keys["pck-ca"], start, False,
                         sgx_extension(fmspc, sgx_comps, pcesvn, ppid)),
            "tcb-signing": _cert("Elsewhere emulated SGX TCB Signing", root,
                                 keys["tcb-signing"].public_key(), keys["root"], start, False),
        }  # fmt: skip
        der = serialization.Encoding.DER
        platform = cls(
            Path(directory),
            fmspc,
            tuple(sgx_comps),
            pcesvn,
            bytes(tee_tcb_svn),
            {name: cert.public_bytes(der) for name, cert in made.items()},
            keys,
        )
        platform._save()
        return platform

    def _save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": "elsewhere emulated Intel TDX platform (no hardware protection)",
            "fmspc": self.fmspc.hex(),
            "sgx_comps": list(self.sgx_comps),
            "pcesvn": self.pcesvn,
            "tee_tcb_svn": self.tee_tcb_svn.hex(),
        }
        files = {"platform.json": json.dumps(meta, indent=2).encode()}
        for name in _CERTS:
            cert = x509.load_der_x509_certificate(self.certs[name])
            files[f"{name}.pem"] = cert.public_bytes(serialization.Encoding.PEM)
        for name, key in self.keys.items():
            files[f"{name}-key.pem"] = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        for name, data in files.items():
            write_private(self.directory / name, data, what="emulated platform", overwrite=True)

    @classmethod
    def load(cls, directory: Path | str) -> EmulatedTdxPlatform:
        """Read a platform written by `create`; ConfigError names a missing or bad file."""
        base = Path(directory)
        try:
            meta = json.loads((base / "platform.json").read_bytes())
            certs = {
                name: x509.load_pem_x509_certificate(
                    (base / f"{name}.pem").read_bytes()
                ).public_bytes(serialization.Encoding.DER)
                for name in _CERTS
            }
            keys = {}
            for name in _KEYS:
                key = serialization.load_pem_private_key(
                    (base / f"{name}-key.pem").read_bytes(), None
                )
                if not isinstance(key, ec.EllipticCurvePrivateKey):
                    raise ValueError(f"{name}-key.pem is not an EC key")
                keys[name] = key
            return cls(
                base,
                bytes.fromhex(meta["fmspc"]),
                tuple(int(c) for c in meta["sgx_comps"]),
                int(meta["pcesvn"]),
                bytes.fromhex(meta["tee_tcb_svn"]),
                certs,
                keys,
            )
        except OSError as error:
            raise ConfigError("emulated TDX", str(base), error.strerror or "unreadable") from None
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigError("emulated TDX", str(base), f"unreadable: {error}") from None

    def _pem_chain(self) -> bytes:
        return b"".join(
            x509.load_der_x509_certificate(self.certs[name]).public_bytes(
                serialization.Encoding.PEM
            )
            for name in ("pck", "pck-ca", "root")
        )

    def _qe_report(self, attestation_key: bytes, auth: bytes) -> bytes:
        binding = hashlib.sha256(attestation_key + auth).digest() + bytes(32)
        attributes = bytes.fromhex("11000000000000000000000000000000")
        mrenclave = hashlib.sha256(b"elsewhere emulated TD QE enclave").digest()
        return struct.pack(
            "<16sI12x16s16s32s32x32s32x64sHHH42x16s64s",
            bytes(16), 0, bytes(16), attributes, mrenclave, QE_MRSIGNER, bytes(64),
            2, QE_ISVSVN, 0, bytes(16), binding,
        )  # fmt: skip

    def attest(
        self,
        report_data: bytes,
        *,
        mrtd: bytes | None = None,
        rtmrs: tuple[bytes, bytes, bytes, bytes] | None = None,
        td_attributes: int = SEPT_VE_DISABLE,
        version: int = 4,
        td15: bool = False,
    ) -> bytes:
        """A TDX quote binding `report_data` (≤ 64 bytes, zero-padded): version 4 with TD report
        1.0 by default; version 5 with TD report 1.0 or, `td15`, 1.5 (TEE_TCB_SVN2 = the
        current TEE_TCB_SVN, MRSERVICETD zero)."""
        if len(report_data) > 64:
            raise ConfigError("report data", f"{len(report_data)} bytes", "at most 64 bytes")
        if version not in (4, 5) or (td15 and version != 5):
            raise ConfigError("quote version", str(version), "4, or 5 (TD report 1.0 or 1.5)")
        key = self.keys["attestation"]
        point = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )[1:]
        header = struct.pack("<HHIHH", version, ATT_KEY_ECDSA_P256, TEE_TDX, 0, 0)
        header += INTEL_QE_VENDOR_ID + bytes(20)
        body = b"".join(
            [
                self.tee_tcb_svn,
                hashlib.sha384(b"elsewhere emulated TDX module").digest(),
                bytes(48 + 8),  # MRSIGNERSEAM (Intel: zeros), SEAMATTRIBUTES
                td_attributes.to_bytes(8, "little"),
                bytes.fromhex("e702060000000000"),  # XFAM
                mrtd or hashlib.sha384(b"elsewhere emulated TD").digest(),
                bytes(48 * 3),  # MRCONFIGID, MROWNER, MROWNERCONFIG
                *(rtmrs or (bytes(48),) * 4),
                report_data.ljust(64, b"\0"),
            ]
        )
        if td15:
            body += self.tee_tcb_svn + bytes(48)
        if version == 5:
            header += struct.pack("<HI", 3 if td15 else 2, len(body))
        auth = hashlib.sha256(b"elsewhere emulated QE auth data").digest()
        qe_report = self._qe_report(point, auth)
        chain = self._pem_chain()
        inner = (
            qe_report
            + _raw_sign(self.keys["pck"], qe_report)
            + struct.pack("<H", len(auth))
            + auth
            + struct.pack("<HI", 5, len(chain))
            + chain
        )
        signed = header + body
        sig_data = _raw_sign(key, signed) + point + struct.pack("<HI", 6, len(inner)) + inner
        return signed + struct.pack("<I", len(sig_data)) + sig_data

    def collateral(
        self,
        *,
        now: dt.datetime | None = None,
        status: str = UP_TO_DATE,
        advisory_ids: tuple[str, ...] = (),
        days: int = 30,
        revoked: tuple[str, ...] = (),
    ) -> Collateral:
        """TCB Info v3 + QE Identity v2 + CRLs for this platform, freshly signed.

        `revoked` names certificates ("pck", "pck-ca", "tcb-signing") the CRLs list, for tests.
        """
        start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(hours=1)
        end = start + dt.timedelta(days=days)
        by_root = tuple(n for n in revoked if n in ("pck-ca", "tcb-signing"))
        level: dict[str, object] = {"tcbDate": _iso(start), "tcbStatus": status}
        if advisory_ids:
            level["advisoryIDs"] = list(advisory_ids)
        zeros48 = "00" * 48
        tcb_info = {
            "id": "TDX", "version": 3, "issueDate": _iso(start), "nextUpdate": _iso(end),
            "fmspc": self.fmspc.hex(), "pceId": "0000", "tcbType": 0,
            "tcbEvaluationDataNumber": 1,
            "tdxModule": {"mrsigner": zeros48, "attributes": "00" * 8, "attributesMask": "FF" * 8},
            "tdxModuleIdentities": [{
                "id": f"TDX_{self.tee_tcb_svn[1]:02X}", "mrsigner": zeros48,
                "attributes": "00" * 8, "attributesMask": "FF" * 8,
                "tcbLevels": [{"tcb": {"isvsvn": self.tee_tcb_svn[0]},
                               "tcbDate": _iso(start), "tcbStatus": UP_TO_DATE}],
            }],
            "tcbLevels": [{
                "tcb": {"sgxtcbcomponents": [{"svn": svn} for svn in self.sgx_comps],
                        "pcesvn": self.pcesvn,
                        "tdxtcbcomponents": [{"svn": svn} for svn in self.tee_tcb_svn]},
                **level,
            }],
        }  # fmt: skip
        qe_identity = {
            "id": "TD_QE", "version": 2, "issueDate": _iso(start), "nextUpdate": _iso(end),
            "tcbEvaluationDataNumber": 1, "miscselect": "00000000", "miscselectMask": "FFFFFFFF",
            "attributes": "11000000000000000000000000000000",
            "attributesMask": "FBFFFFFFFFFFFFFF0000000000000000",
            "mrsigner": QE_MRSIGNER.hex().upper(), "isvprodid": 2,
            "tcbLevels": [{"tcb": {"isvsvn": QE_ISVSVN}, "tcbDate": _iso(start),
                           "tcbStatus": UP_TO_DATE}],
        }  # fmt: skip
        tcb_chain = (self.certs["tcb-signing"], self.certs["root"])
        docs = []
        for doc in (tcb_info, qe_identity):
            body = json.dumps(doc, separators=(",", ":")).encode()
            docs.append(SignedDoc(body, _raw_sign(self.keys["tcb-signing"], body), tcb_chain))
        return build_collateral(
            docs[0],
            docs[1],
            self._crl("root", start, end, by_root),
            self._crl("pck-ca", start, end, tuple(n for n in revoked if n == "pck")),
            (self.certs["pck-ca"], self.certs["root"]),
        )

    def _crl(
        self, issuer: str, start: dt.datetime, end: dt.datetime, revoke: tuple[str, ...] = ()
    ) -> bytes:
        cert = x509.load_der_x509_certificate(self.certs[issuer])
        builder = x509.CertificateRevocationListBuilder()
        for name in revoke:
            serial = x509.load_der_x509_certificate(self.certs[name]).serial_number
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(start)
            builder = builder.add_revoked_certificate(entry.build())
        crl = (
            builder.issuer_name(cert.subject)
            .last_update(start)
            .next_update(end)
            .add_extension(x509.CRLNumber(1), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.keys[issuer].public_key()),
                False,
            )
            .sign(self.keys[issuer], hashes.SHA256())
        )
        return crl.public_bytes(serialization.Encoding.DER)
