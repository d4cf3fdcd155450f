"""The advisory feed document (elsewhere.advisories/1, docs/policy.md) as pydantic models.

Strict (nothing coerced), unknown keys refused. Each leaf says what it expected, as the feed's
readers have always been told; `first_problem` turns pydantic's report into the one located
line a refused feed gets: its JSON path, with the advisory's ID once the ID is known.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from elsewhere.claims import Tee, Vendor
from elsewhere.policy.model import Severity

_ID = re.compile(r"^[A-Z0-9][A-Z0-9._-]*$")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_FMSPC = re.compile(r"^[0-9a-f]{12}$")
_COMPONENT = re.compile(r"^[a-z][a-z0-9_]*$")
Tcb = tuple[tuple[str, int], ...]


def _text(required: bool) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise ValueError("expected a non-empty string")
        return value

    return check


Text = Annotated[str, PlainValidator(_text(True))]
Optional = Annotated[str, PlainValidator(_text(False))]


def _id(value: object) -> str:
    advisory_id = _text(True)(value).upper()
    if not _ID.match(advisory_id):
        raise ValueError(f"{advisory_id!r} is not an advisory ID")
    return advisory_id


def _vendor(value: object) -> Vendor:
    vendor = {"amd": Vendor.AMD, "intel": Vendor.INTEL}.get(_text(True)(value).lower())
    if vendor is None:
        raise ValueError("expected AMD or Intel")
    return vendor


def _severity(value: object) -> Severity:
    text = _text(True)(value)
    try:
        return Severity(text)
    except ValueError:
        raise ValueError(f"expected {', '.join(Severity)}") from None


def _date(value: object) -> dt.date:
    text = _text(True)(value)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError("expected a date YYYY-MM-DD") from None


def _cves(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(c, str) and _CVE.match(c) for c in value):
        raise ValueError("expected a list of IDs like CVE-2023-31315")
    return tuple(value)


def _tee(value: object) -> Tee:
    try:
        return Tee(str(value) if isinstance(value, str) else "")
    except ValueError:
        raise ValueError("expected sev-snp, tdx or sgx") from None


def _fmspc(value: object) -> str:
    fmspc = _text(True)(value).lower()
    if not _FMSPC.match(fmspc):
        raise ValueError("expected 12 hex digits")
    return fmspc


def _tcb(value: object) -> Tcb:
    if not isinstance(value, dict) or not value:
        raise ValueError("expected an object of component: version")
    return tuple(sorted(value.items()))


def _component(value: object) -> str:
    if not isinstance(value, str) or not _COMPONENT.match(value):
        raise ValueError("component names are lower case")
    return value


def _version(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("expected a whole number >= 0")
    return value


def _checked_tcb(value: object) -> Tcb:
    """Non-empty, then each component and version (the first wrong one is reported)."""
    pairs = _tcb(value)
    return tuple((_component_at(c), _version_at(c, v)) for c, v in pairs)


def _component_at(component: object) -> str:
    try:
        return _component(component)
    except ValueError as error:
        raise PydanticCustomError(
            "feed", "{reason}", {"key": component, "reason": str(error)}
        ) from None


def _version_at(component: str, version: object) -> int:
    try:
        return _version(version)
    except ValueError as error:
        raise PydanticCustomError(
            "feed", "{reason}", {"key": component, "reason": str(error)}
        ) from None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AffectedDoc(_Model):
    # absent: None; an explicit null is refused like any other wrong value
    tee: Annotated[Tee | None, PlainValidator(_tee)] = None
    generation: Annotated[str | None, PlainValidator(_text(True))] = None
    fmspc: Annotated[str | None, PlainValidator(_fmspc)] = None
    introduced_in: Annotated[Tcb, PlainValidator(_checked_tcb)] = ()
    fixed_in: Annotated[Tcb, PlainValidator(_checked_tcb)] = ()

    @model_validator(mode="before")
    @classmethod
    def _platform(cls, data: Any) -> Any:
        """An unknown key, then a missing platform criterion, before any value is read."""
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                raise PydanticCustomError(
                    "feed", "{reason}", {"key": unknown[0], "reason": "unknown key"}
                )
            if not {"tee", "generation", "fmspc"} & set(data):
                raise ValueError("needs at least one of tee, generation, fmspc")
        return data


class AdvisoryDoc(_Model):
    id: Annotated[str, PlainValidator(_id)]
    vendor: Annotated[Vendor, PlainValidator(_vendor)]
    severity: Annotated[Severity, PlainValidator(_severity)]
    published: Annotated[dt.date, PlainValidator(_date)]
    cves: Annotated[tuple[str, ...], PlainValidator(_cves)] = ()
    affected: list[AffectedDoc] = Field(default_factory=list)
    title: Text
    note: Optional = ""
    url: Optional = ""


class FeedDocument(_Model):
    schema_: str = Field(alias="schema")
    advisories: list[AdvisoryDoc]
    note: Any = None


# The order a feed's author was always told its problems in: per advisory, unknown keys, then
# the fields (its `affected` list as a whole before the title, its entries after).
_ORDER = ("id", "vendor", "severity", "published", "cves", "affected", "title", "[entries]")


def first_problem(error: ValidationError, doc: Any) -> tuple[str, str]:
    """(JSON path, reason) of the problem a reader fixes first."""

    def rank(item: Any) -> tuple[int, int]:
        loc = item["loc"]
        if len(loc) < 3 or loc[0] != "advisories" or not isinstance(loc[1], int):
            return -1, 0
        field = "[entries]" if loc[2] == "affected" and len(loc) > 3 else str(loc[2])
        if item["type"] == "extra_forbidden" and len(loc) == 3:
            return loc[1], -1
        return loc[1], _ORDER.index(field) if field in _ORDER else len(_ORDER)

    item = min(error.errors(include_url=False), key=rank)
    return _where(item, doc), _reason(item)


def _where(item: Any, doc: Any) -> str:
    loc = [p for p in item["loc"] if p != "[key]"]
    if item["type"] == "feed":
        loc.append(str(item["ctx"]["key"]))
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            if i == 1 and loc[0] == "advisories" and _named(item, loc):
                out += f" ({_known_id(doc, part)})"
        else:
            out += f".{part}" if out else part
    return out


def _named(item: Any, loc: list[Any]) -> bool:
    """Whether the advisory's ID goes in the path: not for a problem of the ID itself or an
    unknown key of the advisory (found before its ID is read)."""
    if len(loc) < 3:
        return False
    own = len(loc) == 3
    return not (own and (loc[2] == "id" or item["type"] == "extra_forbidden"))


def _known_id(doc: Any, index: int) -> str:
    try:
        return _id(doc["advisories"][index]["id"])
    except (ValueError, KeyError, TypeError, IndexError):
        return "?"


def _reason(item: Any) -> str:
    kind = item["type"]
    if kind == "value_error":
        return str(item["ctx"]["error"])
    if kind == "feed":
        return str(item["ctx"]["reason"])
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return (
            "expected a list" if item["loc"] == ("advisories",) else "expected a non-empty string"
        )
    if kind in ("model_type", "dict_type"):
        return "expected an object"
    if kind in ("list_type", "tuple_type"):
        return "expected a list"
    return str(item["msg"])
