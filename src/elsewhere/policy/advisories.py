"""Security advisories: parse and validate a JSON feed, and match advisories to claims.

Pure: no storage here (store.py keeps a local copy; the control plane keeps its own). The feed
schema is documented in docs/policy.md and validated by the pydantic models of feedschema.py.
Two ways an advisory reaches a host:

- by ID: Intel's TCB evaluation already lists the advisories a platform is exposed to, and the
  DCAP verifier puts them in Claims.advisory_ids; the feed supplies their severity;
- by description: an `affected` entry (TEE, generation, FMSPC, TCB range) that the claims
  fall inside, e.g. an AMD security bulletin for Milan with a TCB below the fixed-in version.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from elsewhere.claims import Claims, Tee, Vendor
from elsewhere.errors import InputError
from elsewhere.policy.feedschema import AdvisoryDoc, FeedDocument, Tcb, first_problem
from elsewhere.policy.model import Severity, generation_matches

FEED_SCHEMA = "elsewhere.advisories/1"
MAX_FEED_BYTES = 16 << 20
MEMO_LIMIT = 4096


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


def parse_feed(data: bytes | str, source: str = "<feed>") -> AdvisorySet:
    """Parse and validate a feed document; raise InputError naming the JSON path and reason."""

    def fail(where: str, why: str) -> InputError:
        return InputError(f"advisory feed {source}", where, why)

    if len(data) > MAX_FEED_BYTES:
        raise fail("", f"larger than {MAX_FEED_BYTES} bytes")
    try:
        doc = json.loads(data)
    except RecursionError:
        raise fail("", "not JSON: nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        where = f"line {error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        raise fail(where, f"not JSON: {getattr(error, 'msg', error)}") from None
    if not isinstance(doc, dict) or doc.get("schema") != FEED_SCHEMA:
        raise fail("schema", f'expected an object with "schema": "{FEED_SCHEMA}"')
    try:
        feed = FeedDocument.model_validate(doc)
    except ValidationError as error:
        raise fail(*first_problem(error, doc)) from None
    advisories = [_advisory(item) for item in feed.advisories]
    seen: set[str] = set()
    for i, advisory in enumerate(advisories):
        if advisory.id in seen:
            raise fail(f"advisories[{i}].id", f"{advisory.id} appears twice")
        seen.add(advisory.id)
    return AdvisorySet(tuple(advisories))


def _advisory(doc: AdvisoryDoc) -> Advisory:
    return Advisory(
        id=doc.id,
        vendor=doc.vendor,
        title=doc.title,
        severity=doc.severity,
        published=doc.published,
        cves=doc.cves,
        affected=tuple(
            Affected(a.tee, a.generation, a.fmspc, a.introduced_in, a.fixed_in)
            for a in doc.affected
        ),
        note=doc.note,
        url=doc.url,
    )
