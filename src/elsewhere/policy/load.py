"""TOML policy file -> Policy, with every problem located by file, line and key.

tomllib parses; the pydantic models of schema.py validate the document and collect every
problem, not only the first, each with its key path; the Locator finds the path's line. Unknown
keys are errors, because a typo that silently did nothing would weaken the policy without
anyone noticing. The Policy built here is the normal form its digest is taken of.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from elsewhere.claims import INTEL_DEFAULT_ACCEPTED_STATUSES, Tee
from elsewhere.errors import ConfigError
from elsewhere.i18n import N_
from elsewhere.policy.locate import Locator
from elsewhere.policy.model import (
    DEFAULT_PATCHING,
    HARDWARE_TEES,
    AllowList,
    FlagRule,
    IdentityMinimum,
    PlatformMatch,
    Policy,
    TcbMinimum,
)
from elsewhere.policy.schema import HIDDEN, NOT_STRINGS, PolicyDocument

MAX_POLICY_BYTES = 1 << 20
_SYNTAX_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class Issue:
    """One problem in a policy file: where (file, line, key) and why."""

    file: str
    line: int | None
    key: str
    reason: str

    @property
    def where(self) -> str:
        place = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{place}: {self.key}" if self.key else place

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


class PolicyError(ConfigError):
    """A policy file that is not valid; `issues` holds every problem found."""

    def __init__(self, issues: tuple[Issue, ...]) -> None:
        self.issues = issues
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__("policy", issues[0].where, issues[0].reason + more)


def parse_policy(text: str, file: str = "<policy>") -> Policy:
    """Parse and validate policy TOML text; raise PolicyError listing every problem."""
    try:
        doc = tomllib.loads(text)
    except RecursionError:
        raise PolicyError((Issue(file, None, "", "TOML syntax: nested too deeply"),)) from None
    except tomllib.TOMLDecodeError as error:
        at = _SYNTAX_AT.search(str(error))
        message = _SYNTAX_AT.sub("", str(error)).strip()
        line = int(at.group(1)) if at else None
        column = f", column {at.group(2)}" if at else ""
        raise PolicyError((Issue(file, line, "", f"TOML syntax: {message}{column}"),)) from None
    try:
        checked = PolicyDocument.model_validate(doc)
    except ValidationError as error:
        locator = Locator(text)
        raise PolicyError(
            tuple(
                Issue(file, locator.line(path), ".".join(path), reason)
                for path, reason in problems(error, locator.line)
            )
        ) from None
    except RecursionError:  # a structure too deep for the validator
        raise PolicyError((Issue(file, None, "", N_("nested too deeply")),)) from None
    return _policy(checked)


def _policy(d: PolicyDocument) -> Policy:
    """The normal form: every collection sorted and de-duplicated, defaults filled in."""
    tees = tuple(HARDWARE_TEES) if d.tee.accept is None else tuple(sorted(set(d.tee.accept)))
    statuses = (
        INTEL_DEFAULT_ACCEPTED_STATUSES
        if d.intel.tcb_status is None
        else tuple(sorted(set(d.intel.tcb_status)))
    )
    patching = []
    for key, default in DEFAULT_PATCHING:
        rule = d.patching.rule(key)
        patching.append((key, default if rule is None else rule))
    return Policy(
        name=d.name,
        revision=d.revision,
        description=d.description,
        tees=tees,
        allow_debug=d.tee.allow_debug,
        allow_emulated=d.tee.allow_emulated,
        platform_accept=tuple(sorted(set(d.platforms.accept), key=PlatformMatch.sort_key)),
        platform_refuse=tuple(sorted(set(d.platforms.refuse), key=PlatformMatch.sort_key)),
        tcb_minimums=_tcb(d),
        intel_tcb_statuses=statuses,
        advisories_refuse=tuple(sorted(set(d.advisories.refuse))),
        advisories_allow=tuple(sorted(set(d.advisories.allow))),
        severity_threshold=d.advisories.severity_threshold,
        unknown_severity=d.advisories.unknown_severity,
        flags=tuple(sorted(FlagRule(*f) for f in _per_tee(d.flags))),
        allow_lists=tuple(
            sorted(
                [AllowList("measurements", *f) for f in _per_tee(d.measurements)]
                + [AllowList("identity", *f) for f in _per_tee(d.identity)]
            )
        ),
        identity_minimums=tuple(sorted(IdentityMinimum(*m) for m in _per_tee(d.identity_min))),
        require_report_data=d.binding.require_report_data,
        keep_key_suites=tuple(sorted(set(d.binding.keep_key_suites))),
        max_age=d.freshness.max_age,
        patching=tuple(patching),
        reattest_interval=d.reattestation.interval,
        reattest_grace=d.reattestation.grace,
    )


_TEE_FIELDS = ((Tee.SEV_SNP, "sev_snp"), (Tee.TDX, "tdx"), (Tee.SGX, "sgx"))


def _tcb(d: PolicyDocument) -> tuple[TcbMinimum, ...]:
    out: list[TcbMinimum] = []
    for tee, field in _TEE_FIELDS:
        table: Any = getattr(d.tcb, field)
        if table is None:
            continue
        out.extend(TcbMinimum(tee, None, k, v) for k, v in table.components.items())
        for generation, minimums in table.generations.items():
            out.extend(TcbMinimum(tee, generation, k, v) for k, v in minimums.items())
    return tuple(sorted(out, key=TcbMinimum.sort_key))


def _per_tee(section: Any) -> list[tuple[Tee, str, Any]]:
    """(TEE, name, value) of a [<section>.<tee>] name = value section."""
    out: list[tuple[Tee, str, Any]] = []
    for tee, field in _TEE_FIELDS:
        table: dict[str, Any] | None = getattr(section, field)
        out.extend((tee, name, value) for name, value in (table or {}).items())
    return out


def _model_at(path: tuple[str, ...]) -> type[BaseModel] | None:
    """The model of the table at `path` (aliases as in the file), if it is one."""
    model: type[BaseModel] = PolicyDocument
    for part in path:
        found = None
        for name, field in model.model_fields.items():
            if part in (name, field.alias):
                found = field.annotation
        args = getattr(found, "__args__", None) or (found,)
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if not models:
            return None
        model = models[0]
    return model


Problem = tuple[tuple[str, ...], str]
_SECTIONS = {alias: rank for rank, alias in enumerate(PolicyDocument.model_fields)}
# Sections keyed by TEE and then by free names: their problems are shown in file order.
_FREE = frozenset({"tcb", "flags", "measurements", "identity", "identity_min"})


def problems(
    error: ValidationError, line: Callable[[tuple[str, ...]], int | None]
) -> list[Problem]:
    """Each problem as (key path as in the file, reason): list indices, dict-key markers and
    hidden fields dropped; a key that is wrong hides its value's problems; in the order the
    hand-written reader used (unknown keys of a table before its values; sections in order;
    the free-form sections in file order); no repeats."""
    found: list[tuple[tuple[int, int, int, int], Problem]] = []
    bad_keys: set[tuple[str, ...]] = set()
    items = error.errors(include_url=False)
    for item in items:
        if item["loc"][-1:] == ("[key]",):
            bad_keys.add(_path(item["loc"]))
    for index, item in enumerate(items):
        path, reason = _problem(item)
        is_key = item["loc"][-1:] == ("[key]",)
        if any(path[: len(k)] == k and (len(path) > len(k) or not is_key) for k in bad_keys):
            continue  # its key (or an enclosing one) is already refused
        unknown = item["type"] == "extra_forbidden"
        section = -1 if unknown and len(path) == 1 else _SECTIONS.get(path[0], 0) if path else 0
        first = 0 if unknown and len(path) == 2 and path[0] not in _FREE else 1
        at = (line(path) or 0) if path and path[0] in _FREE else 0
        problem = (path, reason)
        if all(p != problem for _, p in found):
            found.append(((section, first, at, index), problem))
    # A list with a non-string in it is reported as that, not also item by item.
    mixed = {path for _, (path, reason) in found if reason == NOT_STRINGS}
    return [
        (path, reason)
        for _, (path, reason) in sorted(found)
        if path not in mixed or reason == NOT_STRINGS
    ]


def _path(loc: tuple[int | str, ...]) -> tuple[str, ...]:
    return tuple(p for p in loc if isinstance(p, str) and p != "[key]" and not p.startswith(HIDDEN))


def _problem(item: Any) -> Problem:
    path = _path(item["loc"])
    kind = item["type"]
    if kind == "extra_forbidden":
        model = _model_at(path[:-1])
        reason = getattr(model, "unknown_reason", None)
        if reason is None and model is not None:
            allowed = sorted(f.alias or n for n, f in model.model_fields.items())
            reason = N_("unknown key; allowed: {keys}").format(keys=", ".join(allowed))
        return path, reason or N_("unknown key")
    if kind == "value_error":
        return path, str(item["ctx"]["error"])
    if kind == "policy":
        return (*path, item["ctx"]["key"]), item["ctx"]["reason"]
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return path, N_("expected a table, found {found}").format(
            found=type(item["input"]).__name__
        )
    if kind == "list_type":
        return path, NOT_STRINGS
    return path, str(item["msg"])


def load_policy(path: Path | str) -> Policy:
    """Read and validate a policy file."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)
    except OSError as error:
        why = N_("cannot read: {reason}").format(reason=error.strerror)
        raise PolicyError((Issue(str(file), None, "", why),)) from None
    if len(raw) > MAX_POLICY_BYTES:
        why = N_("larger than {limit} bytes").format(limit=MAX_POLICY_BYTES)
        raise PolicyError((Issue(str(file), None, "", why),))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError(
            (
                Issue(
                    str(file), None, "", N_("not UTF-8 at byte {offset}").format(offset=error.start)
                ),
            )
        ) from None
    return parse_policy(text, str(file))
