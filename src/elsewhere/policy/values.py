"""Value parsers of the policy vocabulary: durations, platforms, patch rules, IDs, hex.

Each raises ValueError with a message that says what was expected; load.py adds the place.
"""

from __future__ import annotations

import datetime as dt
import re

from elsewhere.claims import INTEL_FAMILY_BY_FMSPC_MODEL, INTEL_TCB_STATUSES, Tee, Vendor
from elsewhere.crypto.hpke import SUITES
from elsewhere.policy.model import Action, PatchRule, PlatformMatch, Severity

# The generations the verifiers report: SEV-SNP from the VEK product name or CPUID, Intel
# from the FMSPC (the platform vocabulary in elsewhere.claims).
GENERATIONS: dict[Vendor, tuple[str, ...]] = {
    Vendor.AMD: ("Milan", "Genoa", "Turin"),
    Vendor.INTEL: tuple(sorted(set(INTEL_FAMILY_BY_FMSPC_MODEL.values()))),
}
MAX_DURATION_SECONDS = 10 * 366 * 86400
SNP_COMPONENTS = frozenset({"bootloader", "tee", "snp", "microcode", "fmc"})
# Intel components as the DCAP verifier names them: sgx_comp_00..15, tdx_comp_00..15, pcesvn.
_INTEL_COMPONENT = re.compile(r"^(?:(?:sgx|tdx)_comp_(?:0\d|1[0-5])|pcesvn)$")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ADVISORY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> dt.timedelta:
    """'90s', '15m', '24h', '7d', '2w', or a whole number of seconds; at most 10 years."""
    seconds = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        seconds = value
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds is None:
        raise ValueError(f"{value!r} is not a duration such as '90s', '15m', '24h', '7d' or '2w'")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{value!r} is longer than 10 years")
    return dt.timedelta(seconds=seconds)


def canonical_generation(vendor: Vendor, text: str) -> str:
    """A generation the verifiers report, spelled as they spell it ('milan' -> 'Milan'). A name
    no verifier reports (a typo, a stepping such as 'Milan-B0') could never match a claim, so
    it is an error rather than a rule that silently does nothing."""
    known = GENERATIONS.get(vendor, ())
    for name in known:
        if text.strip().lower() == name.lower():
            return name
    raise ValueError(f"{text!r}: not a known {vendor} generation ({', '.join(known)})")


def parse_platform(text: str) -> PlatformMatch:
    """'AMD', 'Intel', 'AMD:Milan' (vendor and generation names in any case)."""
    vendor_text, _, generation = text.partition(":")
    vendors = {v.value.lower(): v for v in (Vendor.AMD, Vendor.INTEL)}
    vendor = vendors.get(vendor_text.strip().lower())
    if vendor is None:
        raise ValueError(f"{text!r}: vendor must be AMD or Intel, as 'AMD' or 'AMD:Milan'")
    if ":" not in text:
        return PlatformMatch(vendor)
    return PlatformMatch(vendor, canonical_generation(vendor, generation))


def parse_patch_rule(value: object) -> PatchRule:
    """'evict', 'keep' or 'drain <duration>'."""
    if isinstance(value, str):
        words = value.split()
        if words in (["evict"], ["keep"]):
            return PatchRule(Action(words[0]))
        if len(words) == 2 and words[0] == "drain":
            return PatchRule(Action.DRAIN, parse_duration(words[1]))
    raise ValueError(f"{value!r}: expected 'evict', 'keep' or 'drain <duration>' like 'drain 24h'")


def tcb_component_valid(tee: Tee, component: str) -> bool:
    if tee is Tee.SEV_SNP:
        return component in SNP_COMPONENTS
    return bool(_INTEL_COMPONENT.match(component))


def parse_tee(text: str) -> Tee:
    try:
        return Tee(text)
    except ValueError:
        raise ValueError(
            f"{text!r}: TEE must be one of {', '.join(t.value for t in Tee)}"
        ) from None


def parse_hex(text: str) -> str:
    if not _HEX.match(text):
        raise ValueError(f"{text!r} is not hexadecimal bytes")
    return text.lower()


def parse_advisory_id(text: str) -> str:
    if not _ADVISORY_ID.match(text):
        raise ValueError(f"{text!r} is not an advisory ID such as INTEL-SA-00615 or AMD-SB-3019")
    return text.upper()


def parse_severity(text: str) -> Severity:
    try:
        return Severity(text)
    except ValueError:
        raise ValueError(f"{text!r}: severity must be one of {', '.join(Severity)}") from None


def parse_intel_status(text: str) -> str:
    if text not in INTEL_TCB_STATUSES:
        raise ValueError(f"{text!r}: not an Intel TCB status ({', '.join(INTEL_TCB_STATUSES)})")
    return text


def parse_suite_name(value: str) -> str:
    """An HPKE suite a keep key may use ('mlkem768-x25519', 'x25519')."""
    if value not in SUITES:
        raise ValueError(f"{value!r}: not an HPKE suite ({', '.join(sorted(SUITES))})")
    return value
