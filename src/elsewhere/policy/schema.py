"""The policy TOML document as pydantic models: its shape, each value's vocabulary, and every
problem at once, each with the key path pydantic reports (load.py adds the file and line).

Leaf values go through the policy vocabulary's parsers (values.py), so a message says what was
expected as before; pydantic does the walking, the unknown-key checks and the collection of all
problems. Strict: nothing is coerced ("1" is not a number, 1 is not a string).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from elsewhere.claims import Tee, Vendor
from elsewhere.i18n import N_
from elsewhere.policy.model import (
    DEFAULT_REATTEST_GRACE,
    HARDWARE_TEES,
    MIN_REATTEST_INTERVAL,
    SCHEMA_VERSION,
    PatchRule,
    Severity,
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

T = TypeVar("T")
NOT_STRINGS = N_("expected a list of strings")
# Field aliases of the shape load.py never shows: dropped from a problem's key path.
HIDDEN = "·"


def _type(value: object) -> str:
    return type(value).__name__


def _string(what: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str):
            found = "a boolean" if isinstance(value, bool) else _type(value)
            raise ValueError(N_("expected {what}, found {found}").format(what=what, found=found))
        return value

    return check


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(N_("expected true or false, found {found}").format(found=_type(value)))
    return value


def _item(convert: Callable[[str], T]) -> Callable[[object], T]:
    """One string of a list, converted (its problem reported at the list's key)."""

    def check(value: object) -> T:
        if not isinstance(value, str):
            raise ValueError(NOT_STRINGS)
        return convert(value)

    return check


def _listed(convert: Callable[[str], T]) -> Any:
    return list[Annotated[Any, PlainValidator(_item(convert))]]


def _present(key: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value is None:
            raise ValueError(
                N_('missing: the policy {key} you choose, e.g. {key} = "..."').format(key=key)
            )
        text = _string("a string")(value)
        if not text.strip():
            raise ValueError(N_("must not be empty"))
        return text

    return check


def _version(value: object) -> int:
    if value is None:
        raise ValueError(
            N_("missing: the schema version, `version = {version}`").format(version=SCHEMA_VERSION)
        )
    if value != SCHEMA_VERSION or isinstance(value, bool):
        raise ValueError(
            N_("schema version {found} not supported; expected {version}").format(
                found=repr(value), version=SCHEMA_VERSION
            )
        )
    return SCHEMA_VERSION


def _severity(value: object) -> Severity:
    return parse_severity(_string("a severity")(value))


def _suites(value: object) -> Any:
    if value == []:
        raise ValueError(N_("an empty list would refuse every keep"))
    return value


def _name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError(N_("names are lower case letters, digits and _"))
    return value


def _required_flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(N_("expected the required value, true or false"))
    return value


def _minimum(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(N_("expected a whole number >= 0"))
    return value


def _hex_strings(value: object) -> object:
    if not isinstance(value, list) or not value:
        raise ValueError(N_("expected a non-empty list of allowed values"))
    if not all(isinstance(v, str) for v in value):
        raise ValueError(N_("expected a list of hex strings"))
    return value


def _sorted_set(values: list[str]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


HexList = Annotated[
    list[Annotated[str, PlainValidator(lambda v: parse_hex(str(v)))]],
    BeforeValidator(_hex_strings),
    AfterValidator(_sorted_set),
]


def _identity_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(N_("expected a non-empty list of allowed values"))
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        raise ValueError(N_("expected a list of whole numbers or strings"))
    # identity values compare as text so that 0 and "0" cannot disagree
    return tuple(sorted({str(v) for v in value}))


def _component_value(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(N_("expected a whole number, found {found}").format(found=_type(value)))
    if not 0 <= value <= 0xFFFF:
        raise ValueError(N_("{value} is out of range 0..65535").format(value=value))
    return value


def _component_of(tee: Tee) -> Callable[[str], str]:
    known = (
        ", ".join(sorted(SNP_COMPONENTS))
        if tee is Tee.SEV_SNP
        else "sgx_comp_00..15, tdx_comp_00..15, pcesvn"
    )

    def check(name: str) -> str:
        if not tcb_component_valid(tee, name):
            raise ValueError(N_("not a {tee} TCB component ({known})").format(tee=tee, known=known))
        return name

    return check


def _generation_of(vendor: Vendor) -> Callable[[str], str]:
    return lambda text: canonical_generation(vendor, text)


Str = Annotated[str, PlainValidator(_string("a string"))]
Flag = Annotated[bool, PlainValidator(_flag)]
Component = Annotated[int, PlainValidator(_component_value)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=False)
    # What an unknown key under this table is told ("unknown key; allowed: …" if None).
    unknown_reason: ClassVar[str | None] = None


class TeeSection(_Model):
    accept: _listed(parse_tee) | None = None  # type: ignore[valid-type]
    allow_debug: Flag = False
    allow_emulated: Flag = False


class PlatformSection(_Model):
    accept: _listed(parse_platform) = []  # type: ignore[valid-type]
    refuse: _listed(parse_platform) = []  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _disjoint(self) -> PlatformSection:
        both = sorted({str(p) for p in self.accept} & {str(p) for p in self.refuse})
        if both:
            raise _at("refuse", f"{', '.join(both)} is both accepted and refused")
        return self


class IntelSection(_Model):
    tcb_status: _listed(parse_intel_status) | None = None  # type: ignore[valid-type]


class AdvisorySection(_Model):
    refuse: _listed(parse_advisory_id) = []  # type: ignore[valid-type]
    allow: _listed(parse_advisory_id) = []  # type: ignore[valid-type]
    severity_threshold: Annotated[Severity, PlainValidator(_severity)] | None = None
    unknown_severity: Annotated[Severity, PlainValidator(_severity)] = Severity.HIGH

    @model_validator(mode="after")
    def _disjoint(self) -> AdvisorySection:
        both = sorted(set(self.refuse) & set(self.allow))
        if both:
            raise _at("allow", f"{', '.join(both)} is both refused and allowed")
        return self


class BindingSection(_Model):
    require_report_data: Flag = False
    keep_key_suites: Annotated[
        _listed(parse_suite_name),  # type: ignore[valid-type]
        AfterValidator(_suites),
    ] = []


class FreshnessSection(_Model):
    max_age: Annotated[dt.timedelta, PlainValidator(parse_duration)] | None = None


def _interval(value: object) -> dt.timedelta:
    interval = parse_duration(value)
    if interval < MIN_REATTEST_INTERVAL:
        raise ValueError(
            N_("{value} is shorter than {minimum} s").format(
                value=repr(value), minimum=int(MIN_REATTEST_INTERVAL.total_seconds())
            )
        )
    return interval


class ReattestationSection(_Model):
    interval: Annotated[dt.timedelta, PlainValidator(_interval)] | None = None
    grace: Annotated[dt.timedelta, PlainValidator(parse_duration)] = DEFAULT_REATTEST_GRACE


Rule = Annotated[PatchRule, PlainValidator(parse_patch_rule)] | None


class PatchingSection(_Model):
    critical: Rule = None  # in the order of model.DEFAULT_PATCHING
    high: Rule = None
    medium: Rule = None
    low: Rule = None
    other: Rule = Field(None, alias="other")  # model.OTHER

    def rule(self, key: str) -> PatchRule | None:
        found: PatchRule | None = getattr(self, key)
        return found


K = TypeVar("K")
G = TypeVar("G")
V = TypeVar("V")


class TeeTcb(_Model, Generic[K, G]):
    """[tcb.<tee>] component = minimum, and [tcb.<tee>.<generation>] tables of the same."""

    components: dict[K, Component] = Field(default_factory=dict, alias="·components")
    generations: dict[G, dict[K, Component]] = Field(default_factory=dict, alias="·generations")

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # the model's own error: expected a table
        tables = {k: v for k, v in data.items() if isinstance(v, dict)}
        values = {k: v for k, v in data.items() if not isinstance(v, dict)}
        return {HIDDEN + "components": values, HIDDEN + "generations": tables}


SnpComponent = Annotated[str, AfterValidator(_component_of(Tee.SEV_SNP))]
TdxComponent = Annotated[str, AfterValidator(_component_of(Tee.TDX))]
SgxComponent = Annotated[str, AfterValidator(_component_of(Tee.SGX))]
AmdGeneration = Annotated[str, AfterValidator(_generation_of(Vendor.AMD))]
IntelGeneration = Annotated[str, AfterValidator(_generation_of(Vendor.INTEL))]
SnpTcb = TeeTcb[SnpComponent, AmdGeneration]
TdxTcb = TeeTcb[TdxComponent, IntelGeneration]
SgxTcb = TeeTcb[SgxComponent, IntelGeneration]
_NOT_A_TEE = N_("expected a TEE: {tees}").format(tees=", ".join(t.value for t in HARDWARE_TEES))


class TcbSection(_Model):
    unknown_reason: ClassVar[str | None] = _NOT_A_TEE
    sev_snp: SnpTcb | None = Field(None, alias="sev-snp")
    tdx: TdxTcb | None = None
    sgx: SgxTcb | None = None


Name = Annotated[str, AfterValidator(_name)]


class PerTee(_Model, Generic[V]):
    """[<section>.<tee>] name = value, for each hardware TEE."""

    unknown_reason: ClassVar[str | None] = _NOT_A_TEE
    sev_snp: dict[Name, V] | None = Field(None, alias="sev-snp")
    tdx: dict[Name, V] | None = None
    sgx: dict[Name, V] | None = None


FlagsSection = PerTee[Annotated[bool, PlainValidator(_required_flag)]]
MeasurementsSection = PerTee[HexList]
IdentitySection = PerTee[Annotated[tuple[str, ...], PlainValidator(_identity_list)]]
IdentityMinSection = PerTee[Annotated[int, PlainValidator(_minimum)]]


class PolicyDocument(_Model):
    version: Annotated[int, PlainValidator(_version)] = Field(None, validate_default=True)
    name: Annotated[str, PlainValidator(_present("name"))] = Field(None, validate_default=True)
    revision: Annotated[str, PlainValidator(_present("revision"))] = Field(
        None, validate_default=True
    )
    description: Str = ""
    tee: TeeSection = Field(default_factory=lambda: TeeSection.model_validate({}))
    platforms: PlatformSection = Field(default_factory=lambda: PlatformSection.model_validate({}))
    tcb: TcbSection = Field(default_factory=lambda: TcbSection.model_validate({}))
    intel: IntelSection = Field(default_factory=lambda: IntelSection.model_validate({}))
    advisories: AdvisorySection = Field(default_factory=lambda: AdvisorySection.model_validate({}))
    flags: FlagsSection = Field(default_factory=lambda: FlagsSection.model_validate({}))
    measurements: MeasurementsSection = Field(
        default_factory=lambda: MeasurementsSection.model_validate({})
    )
    identity: IdentitySection = Field(default_factory=lambda: IdentitySection.model_validate({}))
    identity_min: IdentityMinSection = Field(
        default_factory=lambda: IdentityMinSection.model_validate({})
    )
    binding: BindingSection = Field(default_factory=lambda: BindingSection.model_validate({}))
    freshness: FreshnessSection = Field(default_factory=lambda: FreshnessSection.model_validate({}))
    patching: PatchingSection = Field(default_factory=lambda: PatchingSection.model_validate({}))
    reattestation: ReattestationSection = Field(
        default_factory=lambda: ReattestationSection.model_validate({})
    )


def _at(key: str, reason: str) -> PydanticCustomError:
    """A problem of a table that belongs to one of its keys."""
    return PydanticCustomError("policy", "{reason}", {"key": key, "reason": reason})
