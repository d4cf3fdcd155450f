"""Security advisories: parse and validate a JSON feed, and match advisories to claims.

Pure: no storage here (store.py keeps a local copy; the control plane keeps its own). The feed
schema is documented in docs/policy.md. Two ways an advisory reaches a host:

- by ID: Intel's TCB evaluation already lists the advisories a platform is exposed to, and the
  DCAP verifier puts them in Claims.advisory_ids; the feed supplies their severity;
- by description: an `affected` entry (TEE, generation, FMSPC, TCB range) that the claims
  fall inside, e.g. an AMD security bulletin for Milan with a TCB below the fixed-in version.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from elsewhere.claims import Claims, Tee, Vendor
from elsewhere.errors import InputError
from elsewhere.policy.model import Severity, generation_matches

FEED_SCHEMA = "elsewhere.advisories/1"
MAX_FEED_BYTES = 16 << 20
_ID = re.compile(r"^[A-Z0-9][A-Z0-9._-]*$")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_FMSPC = re.compile(r"^[0-9a-f]{12}$")
_COMPONENT = re.compile(r"^[a-z][a-z0-9_]*$")
_ADVISORY_KEYS = frozenset(
    {"id", "vendor", "title", "severity", "published", "cves", "affected", "note", "url"}
)
_AFFECTED_KEYS = frozenset({"tee", "generation", "fmspc", "introduced_in", "fixed_in"})
MEMO_LIMIT = 4096
Tcb = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Affected:
    """Hosts an advisory applies to: every given criterion must hold.

    The TCB range is [introduced_in, fixed_in): a host is fixed when each component listed in
    `fixed_in` is at or above it; a component the claims lack counts as not fixed.
    """

    tee: Tee | None = None
    generation: str | None = None
    fmspc: str | None = None
    introduced_in: Tcb = ()
    fixed_in: Tcb = ()

    def applies(self, claims: Claims) -> bool:
        return self.matches_platform(claims) and self.in_tcb_range(claims.tcb)

    def matches_platform(self, claims: Claims) -> bool:
        """TEE, generation and FMSPC criteria (the TCB range aside)."""
        if self.tee is not None and claims.tee is not self.tee:
            return False
        if self.generation is not None and not generation_matches(
            self.generation, claims.generation
        ):
            return False
        return self.fmspc is None or claims.fmspc == self.fmspc

    def in_tcb_range(self, tcb: Mapping[str, int]) -> bool:
        for component, version in self.introduced_in:
            found = tcb.get(component)
            if found is not None and found < version:
                return False
        return not self.fixed_in or not all(
            tcb.get(component, -1) >= version for component, version in self.fixed_in
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.tee is not None:
            out["tee"] = self.tee.value
        for key in ("generation", "fmspc"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.introduced_in:
            out["introduced_in"] = dict(self.introduced_in)
        if self.fixed_in:
            out["fixed_in"] = dict(self.fixed_in)
        return out


@dataclass(frozen=True)
class Advisory:
    id: str
    vendor: Vendor
    title: str
    severity: Severity
    published: dt.date
    cves: tuple[str, ...] = ()
    affected: tuple[Affected, ...] = ()
    note: str = ""
    url: str = ""

    def applies(self, claims: Claims) -> bool:
        """Whether the claims name this advisory or fall inside one of its `affected` ranges."""
        if self.id in claims.advisory_ids:
            return True
        return claims.vendor is self.vendor and any(a.applies(claims) for a in self.affected)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "vendor": self.vendor.value,
            "title": self.title,
            "severity": self.severity.value,
            "published": self.published.isoformat(),
            "cves": list(self.cves),
            "affected": [a.to_json() for a in self.affected],
        }
        if self.note:
            out["note"] = self.note
        if self.url:
            out["url"] = self.url
        return out


Candidates = tuple[tuple[str, Affected], ...]


@dataclass(frozen=True)
class AdvisorySet:
    """An immutable, indexed set of advisories (hashable: the evaluator caches on it)."""

    advisories: tuple[Advisory, ...] = ()
    _by_id: Mapping[str, Advisory] = field(init=False, repr=False, compare=False, hash=False)
    _by_vendor: Mapping[Vendor, tuple[Advisory, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )

    # (vendor, TEE, generation, FMSPC) -> the affected entries that can apply; a memo of a
    # pure function of the set, bounded so that odd claims cannot grow it without limit
    _candidates: dict[tuple[Vendor, Tee, str | None, str | None], Candidates] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_candidates", {})
        ordered = tuple(sorted({a.id: a for a in self.advisories}.values(), key=lambda a: a.id))
        object.__setattr__(self, "advisories", ordered)
        object.__setattr__(self, "_by_id", {a.id: a for a in ordered})
        by_vendor: dict[Vendor, list[Advisory]] = {}
        for advisory in ordered:
            if advisory.affected:
                by_vendor.setdefault(advisory.vendor, []).append(advisory)
        object.__setattr__(self, "_by_vendor", {v: tuple(a) for v, a in by_vendor.items()})

    def __hash__(self) -> int:
        # computed once: compile_policy's cache hashes the set on every call
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(self.advisories)
            self.__dict__["_hash"] = cached
        return cached

    def get(self, advisory_id: str) -> Advisory | None:
        return self._by_id.get(advisory_id)

    def _for_platform(self, claims: Claims) -> Candidates:
        key = (claims.vendor, claims.tee, claims.generation, claims.fmspc)
        found = self._candidates.get(key)
        if found is None:
            if len(self._candidates) >= MEMO_LIMIT:
                self._candidates.clear()
            found = self._candidates[key] = tuple(
                (advisory.id, affected)
                for advisory in self._by_vendor.get(claims.vendor, ())
                for affected in advisory.affected
                if affected.matches_platform(claims)
            )
        return found

    def affecting(self, claims: Claims) -> tuple[str, ...]:
        """Every advisory ID that applies to the claims, sorted: named by them or matched."""
        named = claims.advisory_ids
        candidates = self._for_platform(claims)
        if not candidates:
            return tuple(sorted(set(named))) if named else ()
        ids = set(named)
        tcb = claims.tcb
        for advisory_id, affected in candidates:
            if advisory_id not in ids and affected.in_tcb_range(tcb):
                ids.add(advisory_id)
        return tuple(sorted(ids))

    def merged(self, newer: Iterable[Advisory]) -> AdvisorySet:
        """This set with `newer` added; an advisory with the same ID is replaced."""
        by_id = dict(self._by_id)
        by_id.update((a.id, a) for a in newer)
        return AdvisorySet(tuple(by_id.values()))

    def __len__(self) -> int:
        return len(self.advisories)

    def to_json(self) -> dict[str, Any]:
        return {"schema": FEED_SCHEMA, "advisories": [a.to_json() for a in self.advisories]}


class _Feed:
    """Validation state: every problem is reported with its JSON path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, why: str) -> InputError:
        return InputError(f"advisory feed {self.source}", where, why)

    def string(self, obj: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
        value = obj.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.fail(f"{where}.{key}", "expected a non-empty string")
        return value

    def tcb(self, value: object, where: str) -> Tcb:
        if not isinstance(value, dict) or not value:
            raise self.fail(where, "expected an object of component: version")
        out = []
        for component, version in value.items():
            if not _COMPONENT.match(component):
                raise self.fail(f"{where}.{component}", "component names are lower case")
            if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                raise self.fail(f"{where}.{component}", "expected a whole number >= 0")
            out.append((component, version))
        return tuple(sorted(out))

    def affected(self, obj: object, where: str) -> Affected:
        if not isinstance(obj, dict):
            raise self.fail(where, "expected an object")
        unknown = set(obj) - _AFFECTED_KEYS
        if unknown:
            raise self.fail(f"{where}.{sorted(unknown)[0]}", "unknown key")
        if not {"tee", "generation", "fmspc"} & set(obj):
            raise self.fail(where, "needs at least one of tee, generation, fmspc")
        tee = None
        if "tee" in obj:
            try:
                tee = Tee(obj["tee"])
            except ValueError:
                raise self.fail(f"{where}.tee", "expected sev-snp, tdx or sgx") from None
        generation = self.string(obj, "generation", where) if "generation" in obj else None
        fmspc = None
        if "fmspc" in obj:
            fmspc = self.string(obj, "fmspc", where).lower()
            if not _FMSPC.match(fmspc):
                raise self.fail(f"{where}.fmspc", "expected 12 hex digits")
        introduced = (
            self.tcb(obj["introduced_in"], f"{where}.introduced_in")
            if ("introduced_in" in obj)
            else ()
        )
        fixed = self.tcb(obj["fixed_in"], f"{where}.fixed_in") if "fixed_in" in obj else ()
        return Affected(tee, generation, fmspc, introduced, fixed)

    def advisory(self, obj: object, where: str) -> Advisory:
        if not isinstance(obj, dict):
            raise self.fail(where, "expected an object")
        unknown = set(obj) - _ADVISORY_KEYS
        if unknown:
            raise self.fail(f"{where}.{sorted(unknown)[0]}", "unknown key")
        advisory_id = self.string(obj, "id", where).upper()
        if not _ID.match(advisory_id):
            raise self.fail(f"{where}.id", f"{advisory_id!r} is not an advisory ID")
        where = f"{where} ({advisory_id})"
        vendor = {"amd": Vendor.AMD, "intel": Vendor.INTEL}.get(
            self.string(obj, "vendor", where).lower()
        )
        if vendor is None:
            raise self.fail(f"{where}.vendor", "expected AMD or Intel")
        try:
            severity = Severity(self.string(obj, "severity", where))
        except ValueError:
            raise self.fail(f"{where}.severity", f"expected {', '.join(Severity)}") from None
        try:
            published = dt.date.fromisoformat(self.string(obj, "published", where))
        except ValueError:
            raise self.fail(f"{where}.published", "expected a date YYYY-MM-DD") from None
        cves = obj.get("cves", [])
        if not isinstance(cves, list) or not all(
            isinstance(c, str) and _CVE.match(c) for c in cves
        ):
            raise self.fail(f"{where}.cves", "expected a list of IDs like CVE-2023-31315")
        affected = obj.get("affected", [])
        if not isinstance(affected, list):
            raise self.fail(f"{where}.affected", "expected a list")
        return Advisory(
            id=advisory_id,
            vendor=vendor,
            title=self.string(obj, "title", where),
            severity=severity,
            published=published,
            cves=tuple(cves),
            affected=tuple(
                self.affected(a, f"{where}.affected[{i}]") for i, a in enumerate(affected)
            ),
            note=self.string(obj, "note", where, required=False),
            url=self.string(obj, "url", where, required=False),
        )


def parse_feed(data: bytes | str, source: str = "<feed>") -> AdvisorySet:
    """Parse and validate a feed document; raise InputError naming the JSON path and reason."""
    feed = _Feed(source)
    if len(data) > MAX_FEED_BYTES:
        raise feed.fail("", f"larger than {MAX_FEED_BYTES} bytes")
    try:
        doc = json.loads(data)
    except RecursionError:
        raise feed.fail("", "not JSON: nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        where = f"line {error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        raise feed.fail(where, f"not JSON: {getattr(error, 'msg', error)}") from None
    if not isinstance(doc, dict) or doc.get("schema") != FEED_SCHEMA:
        raise feed.fail("schema", f'expected an object with "schema": "{FEED_SCHEMA}"')
    unknown = set(doc) - {"schema", "advisories", "note"}
    if unknown:
        raise feed.fail(sorted(unknown)[0], "unknown key")
    items = doc.get("advisories")
    if not isinstance(items, list):
        raise feed.fail("advisories", "expected a list")
    advisories = [feed.advisory(item, f"advisories[{i}]") for i, item in enumerate(items)]
    seen: set[str] = set()
    for i, advisory in enumerate(advisories):
        if advisory.id in seen:
            raise feed.fail(f"advisories[{i}].id", f"{advisory.id} appears twice")
        seen.add(advisory.id)
    return AdvisorySet(tuple(advisories))
