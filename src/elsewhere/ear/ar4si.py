"""AR4SI trustworthiness claims and tiers (draft-ietf-rats-ar4si, as used by EAR).

Each claim of the trustworthiness vector is an integer in -128..127 whose range says its tier:
2..31 affirming, 32..95 warning, 96..127 contraindicated, anything else none (no claim, -1
verifier malfunction, 1 unexpected evidence). The named values are the draft's table (the same
constants as the reference implementations, e.g. veraison's `ear` crate).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Tier(StrEnum):
    NONE = "none"
    AFFIRMING = "affirming"
    WARNING = "warning"
    CONTRAINDICATED = "contraindicated"


# How bad each tier is, to take the worst of several.
SEVERITY = {Tier.NONE: 0, Tier.AFFIRMING: 1, Tier.WARNING: 2, Tier.CONTRAINDICATED: 3}

# The eight claims of the vector, in the draft's order (JSON names).
CLAIMS = (
    "instance-identity",
    "configuration",
    "executables",
    "file-system",
    "hardware",
    "runtime-opaque",
    "storage-opaque",
    "sourced-data",
)


class Value(IntEnum):
    """The values this verifier emits, named as in the AR4SI table."""

    VERIFIER_MALFUNCTION = -1
    NO_CLAIM = 0
    UNEXPECTED_EVIDENCE = 1
    CRYPTO_VALIDATION_FAILED = 99
    # instance-identity
    TRUSTWORTHY_INSTANCE = 2
    UNTRUSTWORTHY_INSTANCE = 96
    # configuration
    APPROVED_CONFIG = 2
    UNSAFE_CONFIG = 32
    UNSUPPORTABLE_CONFIG = 96
    # executables
    APPROVED_RUNTIME = 2
    UNRECOGNIZED_RUNTIME = 33
    # hardware
    GENUINE_HARDWARE = 2
    UNSAFE_HARDWARE = 32
    CONTRAINDICATED_HARDWARE = 96
    UNRECOGNIZED_HARDWARE = 97
    # runtime-opaque
    ENCRYPTED_MEMORY_RUNTIME = 2
    VISIBLE_MEMORY_RUNTIME = 96


def tier(value: int) -> Tier:
    """The tier a trustworthiness claim's value falls in."""
    if 2 <= value <= 31:
        return Tier.AFFIRMING
    if 32 <= value <= 95:
        return Tier.WARNING
    if 96 <= value <= 127:
        return Tier.CONTRAINDICATED
    return Tier.NONE


def worst(tiers: list[Tier]) -> Tier:
    return max(tiers, key=SEVERITY.__getitem__, default=Tier.NONE)


# Short descriptions, per claim, of the values above (the AR4SI table's wording, shortened).
_COMMON = {-1: "verifier malfunction", 0: "no claim", 1: "unexpected evidence",
           99: "cryptographic validation failed"}  # fmt: skip
_DESCRIPTIONS: dict[str, dict[int, str]] = {
    "instance-identity": {2: "trustworthy instance", 96: "recognized but not trustworthy",
                          97: "not recognized"},
    "configuration": {2: "approved configuration", 3: "no known vulnerabilities",
                      32: "known vulnerabilities", 96: "unacceptable vulnerabilities"},
    "executables": {2: "approved boot- and run-time", 3: "approved boot-time",
                    32: "known bugs or vulnerabilities", 33: "unrecognized run-time",
                    96: "contraindicated run-time"},
    "hardware": {2: "genuine", 32: "genuine, known vulnerabilities",
                 96: "genuine but contraindicated", 97: "unrecognized"},
    "runtime-opaque": {2: "memory encryption", 32: "memory isolation", 96: "visible"},
}  # fmt: skip


def describe(claim: str, value: int) -> str:
    return _DESCRIPTIONS.get(claim, {}).get(value) or _COMMON.get(value) or "unlisted value"
