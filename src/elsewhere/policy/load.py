"""TOML policy file -> Policy, with every problem located by file, line and key.

Every problem in the file is collected, not only the first; unknown keys are errors, because a
typo that silently did nothing would weaken the policy without anyone noticing.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from elsewhere.claims import Tee, Vendor
from elsewhere.errors import ConfigError
from elsewhere.policy.locate import Locator
from elsewhere.policy.model import (
    DEFAULT_PATCHING,
    HARDWARE_TEES,
    OTHER,
    SCHEMA_VERSION,
    AllowList,
    FlagRule,
    IdentityMinimum,
    PlatformMatch,
    Policy,
    Severity,
    TcbMinimum,
)
from elsewhere.policy.values import (
    NAME,
    SNP_COMPONENTS,
    canonical_generation,
    parse_advisory_id,
    parse_duration,
    parse_hex,
    parse_intel_status,
    parse_patch_rule,
    parse_platform,
    parse_severity,
    parse_suite_name,
    parse_tee,
    tcb_component_valid,
)

MAX_POLICY_BYTES = 1 << 20
_SYNTAX_AT = re.compile(r"\(at line (\d+), column (\d+)\)")

T = TypeVar("T")
Path_ = tuple[str, ...]


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


class _Reader:
    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.locator = Locator(text)
        self.issues: list[Issue] = []

    def fail(self, path: Path_, reason: str) -> None:
        self.issues.append(Issue(self.file, self.locator.line(path), ".".join(path), reason))

    def table(self, doc: dict[str, Any], path: Path_, allowed: frozenset[str]) -> dict[str, Any]:
        value = doc.get(path[-1], {})
        if not isinstance(value, dict):
            self.fail(path, f"expected a table, found {type(value).__name__}")
            return {}
        for key in value:
            if allowed and key not in allowed:
                self.fail((*path, key), f"unknown key; allowed: {', '.join(sorted(allowed))}")
        return value

    def get(self, table: dict[str, Any], path: Path_, kind: type[T], default: T, what: str) -> T:
        value = table.get(path[-1], default)
        if isinstance(value, bool) and kind is not bool:
            self.fail(path, f"expected {what}, found a boolean")
            return default
        if not isinstance(value, kind):
            self.fail(path, f"expected {what}, found {type(value).__name__}")
            return default
        return value

    def strings(self, table: dict[str, Any], path: Path_) -> list[str]:
        value = table.get(path[-1], [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(path, "expected a list of strings")
            return []
        return value

    def listed(self, table: dict[str, Any], path: Path_, convert: Callable[[str], T]) -> list[T]:
        """A list of strings at `path`, each converted; failures recorded, not raised."""
        return self.each(self.strings(table, path), path, convert)

    def each(self, values: list[str], path: Path_, convert: Callable[[str], T]) -> list[T]:
        out = []
        for value in values:
            try:
                out.append(convert(value))
            except ValueError as error:
                self.fail(path, str(error))
        return out


TOP_KEYS = frozenset(
    {"version", "name", "revision", "description", "tee", "platforms", "tcb", "intel"}
    | {"advisories", "flags", "measurements", "identity", "identity_min", "binding"}
    | {"freshness", "patching"}
)


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
    r = _Reader(file, text)
    for key in doc:
        if key not in TOP_KEYS:
            r.fail((key,), f"unknown key; allowed: {', '.join(sorted(TOP_KEYS))}")

    version = doc.get("version")
    if version is None:
        r.fail(("version",), f"missing: the schema version, `version = {SCHEMA_VERSION}`")
    elif version != SCHEMA_VERSION or isinstance(version, bool):
        r.fail(("version",), f"schema version {version!r} not supported; expected {SCHEMA_VERSION}")
    name = r.get(doc, ("name",), str, "", "a string")
    revision = r.get(doc, ("revision",), str, "", "a string")
    for key, value in (("name", name), ("revision", revision)):
        if key in doc and not value.strip():
            r.fail((key,), "must not be empty")
        elif key not in doc:
            r.fail((key,), f'missing: the policy {key} you choose, e.g. {key} = "..."')
    description = r.get(doc, ("description",), str, "", "a string")

    tee = r.table(doc, ("tee",), frozenset({"accept", "allow_debug", "allow_emulated"}))
    tees = tuple(HARDWARE_TEES)
    if "accept" in tee:
        tees = tuple(sorted(set(r.listed(tee, ("tee", "accept"), parse_tee))))
    allow_debug = r.get(tee, ("tee", "allow_debug"), bool, False, "true or false")
    allow_emulated = r.get(tee, ("tee", "allow_emulated"), bool, False, "true or false")

    platforms = r.table(doc, ("platforms",), frozenset({"accept", "refuse"}))
    accept_p = r.listed(platforms, ("platforms", "accept"), parse_platform)
    refuse_p = r.listed(platforms, ("platforms", "refuse"), parse_platform)
    for both in sorted(set(accept_p) & set(refuse_p), key=PlatformMatch.sort_key):
        r.fail(("platforms", "refuse"), f"{both} is both accepted and refused")

    tcb_minimums = _tcb(r, doc)
    intel = r.table(doc, ("intel",), frozenset({"tcb_status"}))
    statuses: tuple[str, ...] = ("UpToDate",)
    if "tcb_status" in intel:
        path = ("intel", "tcb_status")
        statuses = tuple(sorted(set(r.listed(intel, path, parse_intel_status))))

    adv = r.table(
        doc,
        ("advisories",),
        frozenset({"refuse", "allow", "severity_threshold", "unknown_severity"}),
    )
    refuse_a = set(r.listed(adv, ("advisories", "refuse"), parse_advisory_id))
    allow_a = set(r.listed(adv, ("advisories", "allow"), parse_advisory_id))
    for dup in sorted(refuse_a & allow_a):
        r.fail(("advisories", "allow"), f"{dup} is both refused and allowed")
    threshold = None
    if "severity_threshold" in adv:
        path = ("advisories", "severity_threshold")
        found = r.each([r.get(adv, path, str, "low", "a severity")], path, parse_severity)
        threshold = found[0] if found else None
    unknown = Severity.HIGH
    if "unknown_severity" in adv:
        path = ("advisories", "unknown_severity")
        found = r.each([r.get(adv, path, str, "high", "a severity")], path, parse_severity)
        unknown = found[0] if found else unknown

    flag_rules = tuple(sorted(FlagRule(*f) for f in _per_tee(r, doc, "flags", _flag_problem)))
    allow_lists = _allow_lists(r, doc, "measurements", parse_hex) + _allow_lists(
        r, doc, "identity", None
    )
    identity_minimums = tuple(
        sorted(IdentityMinimum(*m) for m in _per_tee(r, doc, "identity_min", _minimum_problem))
    )
    binding = r.table(doc, ("binding",), frozenset({"require_report_data", "keep_key_suites"}))
    require_rd = r.get(binding, ("binding", "require_report_data"), bool, False, "true or false")
    suites = r.listed(binding, ("binding", "keep_key_suites"), parse_suite_name)
    if binding.get("keep_key_suites") == []:
        r.fail(("binding", "keep_key_suites"), "an empty list would refuse every keep")
    fresh = r.table(doc, ("freshness",), frozenset({"max_age"}))
    max_age = None
    if "max_age" in fresh:
        try:
            max_age = parse_duration(fresh["max_age"])
        except ValueError as error:
            r.fail(("freshness", "max_age"), str(error))

    patch_keys = frozenset({*(s.value for s in Severity), OTHER})
    patching_doc = r.table(doc, ("patching",), patch_keys)
    patching = []
    for key, default in DEFAULT_PATCHING:
        rule = default
        if key in patching_doc:
            try:
                rule = parse_patch_rule(patching_doc[key])
            except ValueError as error:
                r.fail(("patching", key), str(error))
        patching.append((key, rule))

    if r.issues:
        raise PolicyError(tuple(r.issues))
    return Policy(
        name=name,
        revision=revision,
        description=description,
        tees=tees,
        allow_debug=allow_debug,
        allow_emulated=allow_emulated,
        platform_accept=tuple(sorted(set(accept_p), key=PlatformMatch.sort_key)),
        platform_refuse=tuple(sorted(set(refuse_p), key=PlatformMatch.sort_key)),
        tcb_minimums=tcb_minimums,
        intel_tcb_statuses=statuses,
        advisories_refuse=tuple(sorted(refuse_a)),
        advisories_allow=tuple(sorted(allow_a)),
        severity_threshold=threshold,
        unknown_severity=unknown,
        flags=flag_rules,
        allow_lists=tuple(sorted(allow_lists)),
        identity_minimums=identity_minimums,
        require_report_data=require_rd,
        keep_key_suites=tuple(sorted(set(suites))),
        max_age=max_age,
        patching=tuple(patching),
    )


def _hardware_tee(r: _Reader, path: Path_) -> Tee | None:
    try:
        tee = Tee(path[-1])
    except ValueError:
        tee = None
    if tee not in HARDWARE_TEES:
        r.fail(path, f"expected a TEE: {', '.join(t.value for t in HARDWARE_TEES)}")
        return None
    return tee


def _component(r: _Reader, table: dict[str, Any], path: Path_, tee: Tee) -> int | None:
    if not tcb_component_valid(tee, path[-1]):
        known = (
            ", ".join(sorted(SNP_COMPONENTS))
            if tee is Tee.SEV_SNP
            else "sgx_comp_00..15, tdx_comp_00..15, pcesvn"
        )
        r.fail(path, f"not a {tee} TCB component ({known})")
        return None
    value = table[path[-1]]
    if isinstance(value, bool) or not isinstance(value, int):
        r.fail(path, f"expected a whole number, found {type(value).__name__}")
        return None
    if not 0 <= value <= 0xFFFF:
        r.fail(path, f"{value} is out of range 0..65535")
        return None
    return value


def _tcb(r: _Reader, doc: dict[str, Any]) -> tuple[TcbMinimum, ...]:
    out: list[TcbMinimum] = []
    for tee_name, table in r.table(doc, ("tcb",), frozenset()).items():
        path = ("tcb", tee_name)
        tee = _hardware_tee(r, path)
        if tee is None or not isinstance(table, dict):
            if tee is not None:
                r.fail(path, "expected a table of component = minimum")
            continue
        for key, value in table.items():
            if isinstance(value, dict):  # [tcb.sev-snp.Genoa]: minimums for one generation
                vendor = Vendor.AMD if tee is Tee.SEV_SNP else Vendor.INTEL
                try:
                    generation = canonical_generation(vendor, key)
                except ValueError as error:
                    r.fail((*path, key), str(error))
                    continue
                for component in value:
                    found = _component(r, value, (*path, key, component), tee)
                    if found is not None:
                        out.append(TcbMinimum(tee, generation, component, found))
            else:
                found = _component(r, table, (*path, key), tee)
                if found is not None:
                    out.append(TcbMinimum(tee, None, key, found))
    return tuple(sorted(out, key=TcbMinimum.sort_key))


def _per_tee(
    r: _Reader, doc: dict[str, Any], section: str, problem: Callable[[object], str | None]
) -> list[tuple[Tee, str, Any]]:
    """[section.<tee>] name = value tables; `problem` says what is wrong with a value."""
    out: list[tuple[Tee, str, Any]] = []
    for tee_name, table in r.table(doc, (section,), frozenset()).items():
        path = (section, tee_name)
        tee = _hardware_tee(r, path)
        if tee is None:
            continue
        if not isinstance(table, dict):
            r.fail(path, "expected a table of name = value")
            continue
        for name, value in table.items():
            why = "names are lower case letters, digits and _" if not NAME.match(name) else None
            why = why or problem(value)
            if why:
                r.fail((*path, name), why)
            else:
                out.append((tee, name, value))
    return out


def _flag_problem(value: object) -> str | None:
    return None if isinstance(value, bool) else "expected the required value, true or false"


def _minimum_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return "expected a whole number >= 0"
    return None


def _allow_lists(
    r: _Reader, doc: dict[str, Any], section: str, convert: Callable[[str], str] | None
) -> list[AllowList]:
    out: list[AllowList] = []
    for tee_name, table in r.table(doc, (section,), frozenset()).items():
        path = (section, tee_name)
        tee = _hardware_tee(r, path)
        if tee is None:
            continue
        if not isinstance(table, dict):
            r.fail(path, "expected a table of name = [allowed values]")
            continue
        for name, values in table.items():
            where = (*path, name)
            if not NAME.match(name):
                r.fail(where, "names are lower case letters, digits and _")
            elif not isinstance(values, list) or not values:
                r.fail(where, "expected a non-empty list of allowed values")
            elif convert is not None:
                if not all(isinstance(v, str) for v in values):
                    r.fail(where, "expected a list of hex strings")
                    continue
                allowed = r.each(values, where, convert)
                out.append(AllowList(section, tee, name, tuple(sorted(set(allowed)))))
            elif all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
                # identity values compare as text so that 0 and "0" cannot disagree
                out.append(AllowList(section, tee, name, tuple(sorted({str(v) for v in values}))))
            else:
                r.fail(where, "expected a list of whole numbers or strings")
    return out


def load_policy(path: Path | str) -> Policy:
    """Read and validate a policy file."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)
    except OSError as error:
        raise PolicyError((Issue(str(file), None, "", f"cannot read: {error.strerror}"),)) from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError((Issue(str(file), None, "", f"larger than {MAX_POLICY_BYTES} bytes"),))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError(
            (Issue(str(file), None, "", f"not UTF-8 at byte {error.start}"),)
        ) from None
    return parse_policy(text, str(file))
