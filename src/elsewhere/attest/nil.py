"""The nil attester: a host with no TEE. It produces no evidence and protects nothing; the
control plane refuses it unless the tenant's policy explicitly allows the nil host."""

from __future__ import annotations

from elsewhere.attest.base import AttesterKind, Evidence, check_report_data


class NilAttester:
    """Returns an Evidence record with empty evidence, so callers need no special case."""

    @property
    def kind(self) -> str:
        return AttesterKind.NIL.value

    def attest(self, report_data: bytes) -> Evidence:
        return Evidence(
            kind=AttesterKind.NIL.value,
            format="none",
            evidence=b"",
            aux=b"",
            provider="nil",
            emulated=False,
            report_data=check_report_data(report_data),
        )
