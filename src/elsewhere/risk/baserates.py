"""Platform likelihood: how often a host on a verified platform is compromised per year.

The table (baserates.toml beside this file, overridable key by key) maps the verified claims —
TEE, TCB status, SMT, open advisories by severity — to expected compromise events per year:

    rate = tee base × tcb_status multiplier × (smt multiplier if SMT is on) + Σ advisory rates

Debug mode, emulated evidence, the nil host and a revoked TCB give no hardware protection and
get the `unprotected` rate. The host's own record (reputation) is added by placement.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from elsewhere.claims import EMULATED_WARNING, NIL_WARNING, Claims
from elsewhere.errors import ConfigError, InputError
from elsewhere.risk.quantities import YEAR, Rate, to_decimal

DEFAULT_TABLE = Path(__file__).with_name("baserates.toml")
SCHEMA = "elsewhere.risk.baserates/1"
UNPROTECTED = "unprotected"
SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class PlatformSummary:
    """The claims placement needs from a host's verified evidence."""

    tee: str
    tcb_status: str | None = None
    advisory_ids: tuple[str, ...] = ()
    smt: bool | None = None
    debug: bool = False
    emulated: bool = False
    chip_id: str | None = None

    @classmethod
    def from_claims(cls, claims: Claims) -> PlatformSummary:
        return cls(
            tee=claims.tee.value,
            tcb_status=claims.tcb_status,
            advisory_ids=tuple(claims.advisory_ids),
            smt=claims.smt,
            debug=claims.debug,
            emulated=claims.emulated,
            chip_id=claims.chip_id,
        )

    @classmethod
    def from_json(cls, doc: Any, where: str) -> PlatformSummary:
        """From a claims object (Claims.to_json) or any dict with the same field names."""
        if not isinstance(doc, dict) or not isinstance(doc.get("tee"), str):
            raise InputError("platform", where, "expected an object with a 'tee' string")
        ids = doc.get("advisory_ids", [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise InputError("platform", f"{where}.advisory_ids", "expected a list of strings")
        status, chip = doc.get("tcb_status"), doc.get("chip_id")
        for name, value in (("tcb_status", status), ("chip_id", chip)):
            if value is not None and not isinstance(value, str):
                raise InputError("platform", f"{where}.{name}", "expected a string or null")
        return cls(
            tee=doc["tee"],
            tcb_status=status,
            advisory_ids=tuple(ids),
            smt=bool(doc["smt"]) if doc.get("smt") is not None else None,
            debug=bool(doc.get("debug", False)),
            emulated=bool(doc.get("emulated", False)),
            chip_id=chip,
        )


@dataclass(frozen=True)
class PlatformLikelihood:
    """A platform's likelihood per year and the terms it was built from (for explain)."""

    rate: Rate
    terms: tuple[str, ...]
    warning: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"rate": self.rate.to_json(), "terms": list(self.terms), "warning": self.warning}


@dataclass(frozen=True)
class BaseRates:
    tee: Mapping[str, Decimal]
    unprotected: Decimal
    tcb_status: Mapping[str, Decimal | None]  # None: treated as unprotected
    smt_multiplier: Decimal
    advisory_rate: Mapping[str, Decimal]
    advisory_severity: Mapping[str, str] = field(default_factory=dict)
    default_severity: str = "medium"

    def __post_init__(self) -> None:
        for name in ("tee", "tcb_status", "advisory_rate", "advisory_severity"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def likelihood(self, platform: PlatformSummary) -> PlatformLikelihood:
        warning = None
        if platform.tee == "nil":
            warning = NIL_WARNING
        elif platform.emulated:
            warning = EMULATED_WARNING
        elif platform.debug:
            warning = "debug mode — the host can read the workload"
        status = platform.tcb_status or "none"
        multiplier = self.tcb_status.get(status, self.tcb_status.get("unknown", Decimal(8)))
        if multiplier is None and warning is None:
            warning = f"TCB status {status} — no hardware protection"
        if warning is None and platform.tee not in self.tee:
            warning = f"no base rate for TEE {platform.tee!r} — treated as unprotected"
        if warning is not None or multiplier is None:
            unprotected = (f"{warning}: {self.unprotected}/year",)
            return PlatformLikelihood(Rate(self.unprotected, YEAR), unprotected, warning)
        base = self.tee[platform.tee]
        rate = base * multiplier
        terms: list[str] = [
            f"{platform.tee} base {base}/year",
            f"TCB status {status} ×{multiplier}",
        ]
        if platform.smt:
            rate *= self.smt_multiplier
            terms.append(f"SMT on ×{self.smt_multiplier}")
        for advisory in platform.advisory_ids:
            severity = self.advisory_severity.get(advisory, self.default_severity)
            rate += self.advisory_rate[severity]
            terms.append(f"+ {advisory} ({severity}) {self.advisory_rate[severity]}/year")
        return PlatformLikelihood(Rate(rate, YEAR), tuple(terms))


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _number(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError("base rates", where, f"{value!r} is not a number")
    number = to_decimal(value, where)
    if number < 0:
        raise ConfigError("base rates", where, f"{number} is negative")
    return number


def _table(doc: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    table = doc.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError("base rates", name, "expected a table")
    return table


def base_rates_from_doc(doc: Mapping[str, Any]) -> BaseRates:
    if doc.get("schema", SCHEMA) != SCHEMA:
        raise ConfigError("base rates", "schema", f"expected {SCHEMA!r}, got {doc.get('schema')!r}")
    statuses: dict[str, Decimal | None] = {}
    for status, value in _table(doc, "tcb_status").items():
        if value == UNPROTECTED:
            statuses[status] = None
        else:
            statuses[status] = _number(value, f"tcb_status.{status}")
    rates = {k: _number(v, f"advisory_rate.{k}") for k, v in _table(doc, "advisory_rate").items()}
    missing = [s for s in SEVERITIES if s not in rates]
    if missing:
        raise ConfigError("base rates", "advisory_rate", f"missing {', '.join(missing)}")
    advisories = _table(doc, "advisories")
    severity = dict(_table(advisories, "severity"))
    default_severity = advisories.get("default_severity", "medium")
    for where, value in [("default_severity", default_severity), *severity.items()]:
        if value not in rates:
            raise ConfigError("base rates", f"advisories.{where}", f"unknown severity {value!r}")
    return BaseRates(
        tee={k: _number(v, f"tee.{k}") for k, v in _table(doc, "tee").items()},
        unprotected=_number(_table(doc, "unprotected").get("rate", 1), "unprotected.rate"),
        tcb_status=statuses,
        smt_multiplier=_number(_table(doc, "smt").get("enabled", 1), "smt.enabled"),
        advisory_rate=rates,
        advisory_severity=severity,
        default_severity=str(default_severity),
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError("base rates", str(path), error.strerror or str(error)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError("base rates", str(path), f"not valid TOML: {error}") from None


def load_baserates(override: Path | Mapping[str, Any] | None = None) -> BaseRates:
    """The shipped defaults, with an override file (or dict) merged over them key by key."""
    doc = _read(DEFAULT_TABLE)
    if override is not None:
        doc = _merge(doc, _read(override) if isinstance(override, Path) else override)
    return base_rates_from_doc(doc)
