"""The deploy-time trust policy as frozen, hashable data: what load.py produces from TOML.

One vocabulary over the normalised claims of every TEE (claims.py). Every collection is a
sorted tuple so that two files meaning the same thing give the same normal form, and so the
same `digest` (SHA-384 over RFC 8785 canonical JSON of `to_json`). The control plane binds
that digest into report_data, so the digest names exactly one policy version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import rfc8785

from elsewhere.claims import INTEL_TCB_STATUSES, Tee, Vendor

SCHEMA_VERSION = 1
DIGEST_PREFIX = "sha384:"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class Action(StrEnum):
    """What happens to a running keep whose host is no longer acceptable."""

    KEEP = "keep"  # keep running, log a warning
    DRAIN = "drain"  # stop placing work there; move the keep before the grace period ends
    EVICT = "evict"  # move the keep now


HARDWARE_TEES = (Tee.SEV_SNP, Tee.TDX, Tee.SGX)
# The key under [patching] for a host refused for a reason that is not an advisory.
OTHER = "other"


def generation_matches(rule: str, generation: str | None) -> bool:
    """'Milan' matches the claim 'Milan' and the stepping 'Milan-B0'; case does not matter."""
    if generation is None:
        return False
    rule_l, gen_l = rule.lower(), generation.lower()
    return gen_l == rule_l or gen_l.startswith(rule_l + "-")


@dataclass(frozen=True)
class PlatformMatch:
    """A vendor, optionally narrowed to one CPU generation ('AMD:Milan', 'Intel')."""

    vendor: Vendor
    generation: str | None = None

    def matches(self, vendor: Vendor, generation: str | None) -> bool:
        if vendor is not self.vendor:
            return False
        return self.generation is None or generation_matches(self.generation, generation)

    def __str__(self) -> str:
        return self.vendor.value if self.generation is None else f"{self.vendor}:{self.generation}"

    def sort_key(self) -> tuple[str, str]:
        return (self.vendor.value, self.generation or "")


@dataclass(frozen=True)
class TcbMinimum:
    """Component `component` of `tee` (only of `generation`, if set) must be >= `minimum`."""

    tee: Tee
    generation: str | None
    component: str
    minimum: int

    def sort_key(self) -> tuple[str, str, str]:
        return (self.tee.value, self.generation or "", self.component)

    @property
    def key(self) -> str:
        scope = f"{self.tee}.{self.generation}" if self.generation else str(self.tee)
        return f"tcb.{scope}.{self.component}"


@dataclass(frozen=True, order=True)
class AllowList:
    """Claim `name` (a measurement or identity value) of `tee` must be one of `allowed`."""

    section: str  # "measurements" or "identity"
    tee: Tee
    name: str
    allowed: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.section}.{self.tee}.{self.name}"


@dataclass(frozen=True, order=True)
class IdentityMinimum:
    """Numeric identity value `name` of `tee` (isvsvn, guest_svn, ...) must be >= `minimum`."""

    tee: Tee
    name: str
    minimum: int

    @property
    def key(self) -> str:
        return f"identity_min.{self.tee}.{self.name}"


@dataclass(frozen=True, order=True)
class FlagRule:
    """Flag `name` of `tee` must have the value `required` ('smt' reads Claims.smt)."""

    tee: Tee
    name: str
    required: bool

    @property
    def key(self) -> str:
        return f"flags.{self.tee}.{self.name}"


@dataclass(frozen=True)
class PatchRule:
    action: Action
    grace: dt.timedelta = dt.timedelta(0)

    def __str__(self) -> str:
        if self.action is Action.DRAIN:
            return f"drain {format_duration(self.grace)}"
        return self.action.value


DEFAULT_PATCHING: tuple[tuple[str, PatchRule], ...] = (
    (Severity.CRITICAL.value, PatchRule(Action.EVICT)),
    (Severity.HIGH.value, PatchRule(Action.DRAIN, dt.timedelta(hours=24))),
    (Severity.MEDIUM.value, PatchRule(Action.DRAIN, dt.timedelta(days=7))),
    (Severity.LOW.value, PatchRule(Action.KEEP)),
    (OTHER, PatchRule(Action.DRAIN, dt.timedelta(hours=24))),
)
# How long a keep asked to re-attest has before it is evicted, unless [reattestation] says.
DEFAULT_REATTEST_GRACE = dt.timedelta(minutes=5)
# Shorter intervals would have keeps spend more time attesting than working.
MIN_REATTEST_INTERVAL = dt.timedelta(seconds=10)


@dataclass(frozen=True)
class Policy:
    """A validated policy. Build it with load.load_policy / parse_policy, not by hand."""

    name: str
    revision: str
    description: str = ""
    tees: tuple[Tee, ...] = HARDWARE_TEES
    allow_debug: bool = False
    allow_emulated: bool = False
    platform_accept: tuple[PlatformMatch, ...] = ()  # empty: every platform not refused
    platform_refuse: tuple[PlatformMatch, ...] = ()
    tcb_minimums: tuple[TcbMinimum, ...] = ()
    intel_tcb_statuses: tuple[str, ...] = INTEL_TCB_STATUSES[:1]  # UpToDate
    advisories_refuse: tuple[str, ...] = ()
    advisories_allow: tuple[str, ...] = ()
    severity_threshold: Severity | None = None
    unknown_severity: Severity = Severity.HIGH
    flags: tuple[FlagRule, ...] = ()
    allow_lists: tuple[AllowList, ...] = ()
    identity_minimums: tuple[IdentityMinimum, ...] = ()
    require_report_data: bool = False
    keep_key_suites: tuple[str, ...] = ()  # HPKE suites a keep key may use; empty: any
    max_age: dt.timedelta | None = None
    patching: tuple[tuple[str, PatchRule], ...] = DEFAULT_PATCHING
    reattest_interval: dt.timedelta | None = None  # None: attested once, and when asked
    reattest_grace: dt.timedelta = DEFAULT_REATTEST_GRACE

    def reattest_schedule(self, at: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
        """(due, deadline) of the next scheduled re-attestation of a keep attested at `at`."""
        if self.reattest_interval is None:
            return None, None
        due = at + self.reattest_interval
        return due, due + self.reattest_grace

    def patch_rule(self, severity: str) -> PatchRule:
        for key, rule in self.patching:
            if key == severity:
                return rule
        raise KeyError(severity)

    def to_json(self) -> dict[str, Any]:
        """The normal form: every default spelled out, every list sorted."""
        return {
            "version": SCHEMA_VERSION,
            "name": self.name,
            "revision": self.revision,
            "description": self.description,
            "tee": {
                "accept": [t.value for t in self.tees],
                "allow_debug": self.allow_debug,
                "allow_emulated": self.allow_emulated,
            },
            "platforms": {
                "accept": [str(p) for p in self.platform_accept],
                "refuse": [str(p) for p in self.platform_refuse],
            },
            "tcb": [[m.tee.value, m.generation, m.component, m.minimum] for m in self.tcb_minimums],
            "intel": {"tcb_status": list(self.intel_tcb_statuses)},
            "advisories": {
                "refuse": list(self.advisories_refuse),
                "allow": list(self.advisories_allow),
                "severity_threshold": (
                    None if self.severity_threshold is None else self.severity_threshold.value
                ),
                "unknown_severity": self.unknown_severity.value,
            },
            "flags": [[f.tee.value, f.name, f.required] for f in self.flags],
            "allow_lists": [
                [a.section, a.tee.value, a.name, list(a.allowed)] for a in self.allow_lists
            ],
            "identity_min": [[m.tee.value, m.name, m.minimum] for m in self.identity_minimums],
            "binding": {
                "require_report_data": self.require_report_data,
                # only when set, so the digests of policies without it stay as they were
                **({"keep_key_suites": list(self.keep_key_suites)} if self.keep_key_suites else {}),
            },
            "freshness": {
                "max_age_seconds": None
                if self.max_age is None
                else int(self.max_age.total_seconds())
            },
            "patching": {
                key: {"action": rule.action.value, "grace_seconds": int(rule.grace.total_seconds())}
                for key, rule in self.patching
            },
            # only when set, so the digests of policies without it stay as they were
            **({"reattestation": self._reattestation_json()} if self._reattests else {}),
        }

    @property
    def _reattests(self) -> bool:
        return self.reattest_interval is not None or self.reattest_grace != DEFAULT_REATTEST_GRACE

    def _reattestation_json(self) -> dict[str, int | None]:
        interval = self.reattest_interval
        return {
            "interval_seconds": None if interval is None else int(interval.total_seconds()),
            "grace_seconds": int(self.reattest_grace.total_seconds()),
        }

    @functools.cached_property
    def digest(self) -> str:
        return policy_digest(self)

    def __hash__(self) -> int:
        # computed once: compile_policy's cache hashes the policy on every call
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, f.name) for f in dataclasses.fields(self)))
            self.__dict__["_hash"] = cached
        return cached


def policy_digest(policy: Policy) -> str:
    canonical: bytes = rfc8785.dumps(policy.to_json())
    return DIGEST_PREFIX + hashlib.sha384(canonical).hexdigest()


_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def format_duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in _UNITS:
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return "0s"
