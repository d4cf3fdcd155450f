"""The isolation report: what separates a keep's workload from everything else, stated only
as far as it was configured (workload side) or verified (host side).

Three boundaries:

- **workload from workload**: the WebAssembly sandbox and the limits of this keep.
- **host from workload**: what the workload can reach on the host (no ambient authority).
- **workload from host**: the TEE, only as the verification result shows it: its verified
  TCB, or ``none`` for the nil host, emulated evidence, failed or missing verification,
  a report_data that does not bind this keep, or a TEE in debug mode.

`isolation_report` is pure: same inputs, same report.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any, Final

from elsewhere.claims import EMULATED_WARNING, NIL_WARNING, Tee, VerificationResult
from elsewhere.i18n import N_
from elsewhere.keep.config import SECRETS_GUEST_DIR, KeepConfig
from elsewhere.keep.limits import KILL_GRACE_S, MIB
from elsewhere.timeutil import iso

REPORT_SCHEMA: Final = "elsewhere.isolation/1"
NOT_PROTECTED: Final = N_(
    "not protected in any case: availability (the host can stop or slow the keep), "
    "side channels and flaws in the TEE itself"
)


def _wasmtime_version() -> str:
    try:
        return importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class Boundary:
    """One boundary: a one-line `summary`, whether any protection holds, and the facts."""

    name: str
    protected: bool
    summary: str
    details: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "protected": self.protected,
            "summary": self.summary,
            "details": list(self.details),
        }


@dataclass(frozen=True)
class IsolationReport:
    workload_digest: str
    attester_kind: str
    workload_from_workload: Boundary
    host_from_workload: Boundary
    workload_from_host: Boundary

    @property
    def boundaries(self) -> tuple[Boundary, Boundary, Boundary]:
        return (self.workload_from_workload, self.host_from_workload, self.workload_from_host)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "workload_digest": self.workload_digest,
            "attester_kind": self.attester_kind,
            "workload_from_workload": self.workload_from_workload.to_json(),
            "host_from_workload": self.host_from_workload.to_json(),
            "workload_from_host": self.workload_from_host.to_json(),
            "not_protected": NOT_PROTECTED,
        }

    def render(self) -> str:
        """Plain text for people: one heading line per boundary, its facts indented."""
        lines = [
            N_("Isolation report for workload {digest}").format(
                digest="sha384:" + self.workload_digest
            )
        ]
        for boundary in self.boundaries:
            lines.append(f"  {boundary.name}: {boundary.summary}")
            lines.extend(f"    - {detail}" for detail in boundary.details)
        lines.append(f"  {NOT_PROTECTED}")
        return "\n".join(lines)


def _workload_from_workload(config: KeepConfig) -> Boundary:
    limits = config.limits
    details = [
        N_(
            "own wasmtime {version} Store and linear memory, in the keep's own "
            "process; module compiled inside the keep from bytes matching the workload digest"
        ).format(version=_wasmtime_version()),
        N_("linear memory at most {mib} MiB, {instances} instance(s), {tables} table(s)").format(
            mib=f"{limits.memory_bytes / MIB:g}", instances=limits.instances, tables=limits.tables
        ),
        N_("fuel at most {fuel} units").format(fuel=f"{limits.fuel:,}")
        if limits.fuel
        else N_("fuel: not metered"),
        N_(
            "wall time at most {seconds} s: enforced by an epoch interrupt, and by "
            "killing the keep's process {grace} s later if the guest has not ended "
            "(e.g. blocked in a WASI call)"
        ).format(seconds=f"{limits.wall_time_s:g}", grace=f"{KILL_GRACE_S:g}")
        if limits.wall_time_s
        else N_("wall time: not limited"),
        N_(
            "a stop from the host (placement withdrawn, agent shutting down): epoch interrupt, "
            "then the keep's process killed after {grace} s"
        ).format(grace=f"{KILL_GRACE_S:g}"),
        N_(
            "stdout and stderr kept up to {limit} bytes each (lost if the process is killed)"
        ).format(limit=f"{limits.max_output_bytes:,}"),
    ]
    if not limits.fuel and not limits.wall_time_s:
        details.append(N_("no CPU limit: the workload can run until the host stops it"))
    return Boundary(
        "workload from workload",
        True,
        N_("WebAssembly sandbox with limits"),
        tuple(details),
    )


def _host_from_workload(config: KeepConfig) -> Boundary:
    details = [
        N_(
            "interfaces: WASI preview 1 (no sockets) and one host call, elsewhere.vault_read, "
            "answered only for purposes the deployment declared: no network"
        ),
        N_(
            "arguments: {count}; environment: {names} (the host's own environment is not passed)"
        ).format(
            count=len(config.args),
            names=", ".join(sorted(config.env)) if config.env else N_("none"),
        ),
    ]
    if config.secret_names:
        details.append(
            N_("filesystem: only {directory} (read-only), holding {names}").format(
                directory=SECRETS_GUEST_DIR, names=", ".join(config.secret_names)
            )
        )
    else:
        details.append(N_("filesystem: none (no directory preopened)"))
    details.append(N_("stdin: given bytes only; stdout/stderr: captured by the keep"))
    return Boundary("host from workload", True, N_("no ambient authority"), tuple(details))


def _none(reason: str, *details: str) -> Boundary:
    return Boundary(
        "workload from host", False, N_("none: {reason}").format(reason=reason), details
    )


def _workload_from_host(
    config: KeepConfig, result: VerificationResult | None, report_data: bytes | None
) -> Boundary:
    if result is None:
        if config.attester_kind == "nil":
            return _none(
                NIL_WARNING, N_("the host can read and change the workload and its secrets")
            )
        return _none(
            N_("evidence not verified"),
            N_("attester {kind}: no verification result, so nothing is known").format(
                kind=config.attester_kind
            ),
        )
    claims = result.claims
    if claims.tee is Tee.NIL:
        return _none(NIL_WARNING, N_("the host can read and change the workload and its secrets"))
    if claims.emulated:
        return _none(
            EMULATED_WARNING,
            N_(
                "evidence ({kind}) chains to an emulated root: it shows the flow "
                "works, not that any hardware protects the keep"
            ).format(kind=result.evidence_kind),
        )
    if not result.verified:
        return _none(
            f"evidence failed verification ({len(result.failures)} check(s))",
            *(str(failure) for failure in result.failures),
        )
    if report_data is not None and claims.report_data != report_data.hex():
        return _none(
            "the verified evidence does not bind this keep",
            "report_data differs from this keep's nonce / key / workload / policy binding",
        )
    if claims.debug:
        return _none(
            f"{claims.tee.value} guest in debug mode",
            "a debug TEE lets the host read and change guest memory",
        )
    tcb = ", ".join(f"{name}={value}" for name, value in claims.tcb.items()) or "not reported"
    details = [
        f"{claims.vendor.value} {claims.tee.value}"
        + (f" ({claims.generation})" if claims.generation else "")
        + f", evidence {result.evidence_kind} signed by {claims.signer}, "
        f"verified at {iso(result.verified_at)}",
        f"TCB: {tcb}" + (f"; status {claims.tcb_status}" if claims.tcb_status else ""),
        "SMT: " + {True: "enabled", False: "disabled", None: "not reported"}[claims.smt],
    ]
    if report_data is not None:
        details.append("report_data binds this keep's key, workload, policy and nonce")
    details.extend(f"{name}: {value}" for name, value in claims.measurements.items())
    if claims.advisory_ids:
        details.append("open advisories: " + ", ".join(claims.advisory_ids))
    return Boundary(
        "workload from host",
        True,
        f"hardware-attested {claims.vendor.value} {claims.tee.value} (verified)",
        tuple(details),
    )


def isolation_report(
    config: KeepConfig,
    verification: VerificationResult | None,
    *,
    report_data: bytes | None = None,
) -> IsolationReport:
    """The isolation report for a keep run with `config`, given what verification showed.

    Pass `report_data` (this keep's binding, elsewhere.crypto.binding.report_data) to also
    check that the verified evidence is about this keep; without it the report does not
    claim the binding.
    """
    return IsolationReport(
        workload_digest=config.workload_digest.hex(),
        attester_kind=config.attester_kind,
        workload_from_workload=_workload_from_workload(config),
        host_from_workload=_host_from_workload(config),
        workload_from_host=_workload_from_host(config, verification, report_data),
    )
