"""Emulated attesters over the emulated platforms of elsewhere.evidence.

EMULATED EVIDENCE GIVES NO HARDWARE PROTECTION. These attesters let a host run the whole
flow without a TEE; every Evidence they produce has ``emulated=True``, and the verifier
accepts it only when the control plane explicitly trusts the platform's emulated root
(`trust_anchor`), marking the result emulated.

The platform (root, keys, chip id) lives in ``<state_dir>/<kind>/`` so a host keeps one
emulated identity across restarts; it is created on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from elsewhere.attest.base import Attester, AttesterKind, Evidence, check_report_data
from elsewhere.errors import ConfigError
from elsewhere.evidence.anchors import TrustAnchor
from elsewhere.evidence.dcap.emulate import EmulatedTdxPlatform
from elsewhere.evidence.snp.emulate import EmulatedSnpPlatform
from elsewhere.paths import state_dir as default_state_dir


class EmulatedSnpAttester:
    """SEV-SNP reports signed by an emulated AMD platform (VCEK → ASK → emulated ARK)."""

    def __init__(
        self,
        directory: Path,
        *,
        generation: str = "Genoa",
        tcb: Mapping[str, int] | None = None,
        debug: bool = False,
    ) -> None:
        if (directory / "platform.json").exists():
            self.platform = EmulatedSnpPlatform.load(directory)
        else:
            self.platform = EmulatedSnpPlatform.create(directory, generation, tcb)
        self.debug = debug
        self.tcb = dict(tcb) if tcb else None

    @property
    def kind(self) -> str:
        return AttesterKind.EMULATED_SNP.value

    @property
    def trust_anchor(self) -> TrustAnchor:
        """The emulated root a verifier must be given explicitly to accept this evidence."""
        return self.platform.trust_anchor

    def attest(self, report_data: bytes) -> Evidence:
        data = check_report_data(report_data)
        report, cert_table = self.platform.attest(data, debug=self.debug, tcb=self.tcb)
        return Evidence(
            kind=self.kind,
            format="sev-snp-report",
            evidence=report,
            aux=cert_table,
            provider=f"emulated-snp ({self.platform.generation})",
            emulated=True,
            report_data=data,
        )


class EmulatedTdxAttester:
    """TDX v4 quotes signed by an emulated Intel platform (PCK → emulated root).

    The quote carries its PCK chain; the emulated platform also signs the collateral (TCB
    Info, QE Identity, CRLs) a verifier needs: `platform.collateral(...)`.
    """

    def __init__(
        self,
        directory: Path,
        *,
        mrtd: bytes | None = None,
        rtmrs: tuple[bytes, bytes, bytes, bytes] | None = None,
    ) -> None:
        if (directory / "platform.json").exists():
            self.platform = EmulatedTdxPlatform.load(directory)
        else:
            self.platform = EmulatedTdxPlatform.create(directory)
        self.mrtd, self.rtmrs = mrtd, rtmrs

    @property
    def kind(self) -> str:
        return AttesterKind.EMULATED_TDX.value

    @property
    def trust_anchor(self) -> TrustAnchor:
        """The emulated root a verifier must be given explicitly to accept this evidence."""
        return self.platform.trust_anchor

    def attest(self, report_data: bytes) -> Evidence:
        data = check_report_data(report_data)
        quote = self.platform.attest(data, mrtd=self.mrtd, rtmrs=self.rtmrs)
        return Evidence(
            kind=self.kind,
            format="tdx-dcap-quote",
            evidence=quote,
            aux=b"",
            provider="emulated-tdx",
            emulated=True,
            report_data=data,
        )


def make_emulated(kind: AttesterKind, state_dir: Path | None, **options: Any) -> Attester:
    """The emulated attester for `kind` ("emulated-snp" or "emulated-tdx").

    `state_dir` defaults to $ELSEWHERE_HOME/attest. Options for emulated-snp: generation
    ("Milan", "Genoa", "Turin"; used when the platform is first created), tcb (mapping),
    debug (bool); for emulated-tdx: mrtd (48 bytes), rtmrs (four of 48 bytes).
    """
    base = state_dir if state_dir is not None else default_state_dir("attest")
    directory = Path(base) / kind.value
    if kind is AttesterKind.EMULATED_SNP:
        known = {"generation", "tcb", "debug"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError("attester", kind.value, f"unknown option {unknown[0]!r}")
        return EmulatedSnpAttester(directory, **options)
    known = {"mrtd", "rtmrs"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError("attester", kind.value, f"unknown option {unknown[0]!r}")
    return EmulatedTdxAttester(directory, **options)
