"""What a keep's attester produces: `Evidence`, the `Attester` protocol, `AttesterKind`.

An attester turns 64 bytes of report_data (elsewhere.crypto.binding) into `Evidence` the
control plane verifies. Kinds:

- ``nil``: no evidence at all (a development host); the control plane refuses it unless
  policy explicitly allows the nil host. No protection.
- ``emulated-snp`` / ``emulated-tdx``: evidence signed by the emulated platforms of
  elsewhere.evidence (development and tests). No hardware protection.
- ``sev-snp`` / ``tdx``: real hardware through Linux configfs-tsm.

The attester only *produces* evidence; nothing here decides whether it is good. This module
imports none of the attesters (they import it); `elsewhere.attest.registry.make_attester`
picks one.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol, runtime_checkable

from elsewhere.claims import EMULATED_WARNING, NIL_WARNING
from elsewhere.errors import ConfigError, ElsewhereError

REPORT_DATA_LEN: Final = 64


class AttesterKind(StrEnum):
    NIL = "nil"
    EMULATED_SNP = "emulated-snp"
    EMULATED_TDX = "emulated-tdx"
    SEV_SNP = "sev-snp"
    TDX = "tdx"


class AttestError(ElsewhereError):
    """The attester could not produce evidence (say which interface and what to check)."""


@dataclass(frozen=True)
class Evidence:
    """Evidence as produced, before verification.

    - `kind`: the attester kind (AttesterKind value).
    - `format`: the evidence format, as the verifier names it ("sev-snp-report",
      "tdx-dcap-quote") or "none" for the nil host.
    - `evidence`: the report / quote bytes; `aux`: supplemental bytes (the SEV-SNP
      certificate table from configfs-tsm auxblob, emulated certificates, ...).
    - `provider`: who produced it ("sev_guest", "tdx_guest", "emulated-snp", "nil").
    - `emulated`: True for emulated platforms. `report_data`: the 64 bytes requested.
    """

    kind: str
    format: str
    evidence: bytes
    aux: bytes
    provider: str
    emulated: bool
    report_data: bytes

    @property
    def protection(self) -> str:
        """What this evidence can at best show, before verification."""
        if self.kind == AttesterKind.NIL:
            return NIL_WARNING
        if self.emulated:
            return EMULATED_WARNING
        return f"hardware evidence from {self.provider} (not yet verified)"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": self.format,
            "evidence_b64": base64.b64encode(self.evidence).decode(),
            "aux_b64": base64.b64encode(self.aux).decode(),
            "provider": self.provider,
            "emulated": self.emulated,
            "report_data": self.report_data.hex(),
            "protection": self.protection,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Evidence:
        """Inverse of `to_json`; ConfigError naming the first field that is wrong."""
        try:
            return cls(
                kind=str(doc["kind"]),
                format=str(doc["format"]),
                evidence=base64.b64decode(doc["evidence_b64"], validate=True),
                aux=base64.b64decode(doc["aux_b64"], validate=True),
                provider=str(doc["provider"]),
                emulated=bool(doc["emulated"]),
                report_data=bytes.fromhex(doc["report_data"]),
            )
        except KeyError as error:
            raise ConfigError("evidence document", str(error), "missing field") from None
        except (ValueError, TypeError) as error:
            raise ConfigError("evidence document", "", f"malformed: {error}") from None


@runtime_checkable
class Attester(Protocol):
    """Produces evidence whose report_data is exactly the 64 bytes given."""

    @property
    def kind(self) -> str: ...

    def attest(self, report_data: bytes) -> Evidence: ...


class CannotAttest(ElsewhereError):
    """The attester cannot produce evidence on this machine at all (found by `probe` before
    a host registers): the CLI exits with its own code (cli/exitcodes.py)."""


# What `probe` asks for: 64 bytes no verifier accepts as a binding (they bind no nonce).
PROBE_REPORT_DATA: Final = hashlib.sha512(b"elsewhere attester probe").digest()


def probe(attester: Attester) -> None:
    """Ask the attester for one piece of evidence before registering, so a host that cannot
    attest (no TEE, no configfs-tsm, no guest driver) says so at start instead of taking
    work it cannot do. CannotAttest with the attester's own reason."""
    try:
        attester.attest(PROBE_REPORT_DATA)
    except (AttestError, ConfigError) as error:
        raise CannotAttest(
            f"the {attester.kind} attester cannot produce evidence on this machine: {error.message}"
        ) from None


def check_report_data(report_data: bytes) -> bytes:
    if not isinstance(report_data, bytes | bytearray) or len(report_data) != REPORT_DATA_LEN:
        raise AttestError("report_data must be exactly 64 bytes (see elsewhere.crypto.binding)")
    return bytes(report_data)
