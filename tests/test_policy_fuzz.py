"""Hostile and malformed input: every policy file and advisory feed either parses or is refused
with one located line (PolicyError / InputError), never another exception."""

from __future__ import annotations

import json
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from elsewhere.errors import InputError
from elsewhere.policy.advisories import FEED_SCHEMA, parse_feed
from elsewhere.policy.load import PolicyError, parse_policy
from policy_support import HEADER

SECTIONS = ["tee", "platforms", "tcb.sev-snp", "tcb.sgx", "tcb.sev-snp.Genoa", "intel"]
SECTIONS += ["advisories", "flags.tdx", "measurements.sgx", "identity.sev-snp", "binding"]
SECTIONS += ["freshness", "patching", "flags", "tcb", "nonsense"]
KEYS = ["accept", "refuse", "allow", "allow_debug", "allow_emulated", "microcode", "pcesvn"]
KEYS += ["tcb_status", "severity_threshold", "unknown_severity", "smt", "mrenclave", "vmpl"]
KEYS += ["require_report_data", "max_age", "critical", "high", "other", "x"]
VALUES = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.booleans().map(lambda b: str(b).lower()),
    st.text(string.printable, max_size=12).map(json.dumps),
    st.sampled_from(['"drain 24h"', '"evict"', '"AMD:Milan"', '"24h"', '"high"', '"aabb"']),
    st.lists(
        st.sampled_from(['"sgx"', '"AMD"', "1", '"UpToDate"', '"aa"', "true"]), max_size=3
    ).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.just("{ a = 1 }"),
)


@st.composite
def policy_texts(draw: st.DrawFn) -> str:
    lines = [HEADER]
    for _ in range(draw(st.integers(0, 5))):
        lines.append(f"[{draw(st.sampled_from(SECTIONS))}]")
        for key in draw(st.lists(st.sampled_from(KEYS), max_size=3, unique=True)):
            lines.append(f"{key} = {draw(VALUES)}")
    return "\n".join(lines) + "\n"


def _one_line(error: Exception) -> None:
    assert "\n" not in str(error)


@settings(max_examples=300, deadline=None)
@given(policy_texts())
def test_structured_policy_text_parses_or_is_located(text: str) -> None:
    try:
        policy = parse_policy(text, "fuzz.toml")
    except PolicyError as error:
        _one_line(error)
        assert all(issue.file == "fuzz.toml" for issue in error.issues)
    else:
        assert policy.digest.startswith("sha384:")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused(text: str) -> None:
    try:
        parse_policy(text, "fuzz.toml")
    except PolicyError as error:
        _one_line(error)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
ENTRY_KEYS = ["id", "vendor", "title", "severity", "published", "cves", "affected", "note"]


@st.composite
def feeds(draw: st.DrawFn) -> bytes:
    entries = []
    for _ in range(draw(st.integers(0, 3))):
        entry = {
            "id": "AMD-SB-1",
            "vendor": "AMD",
            "title": "t",
            "severity": "high",
            "published": "2025-01-01",
            "affected": [{"tee": "sev-snp", "generation": "Milan", "fixed_in": {"snp": 1}}],
        }
        for key in draw(st.lists(st.sampled_from(ENTRY_KEYS), max_size=2)):
            entry[key] = draw(JSON_VALUES)
        entries.append(entry)
    return json.dumps({"schema": FEED_SCHEMA, "advisories": entries}).encode()


@settings(max_examples=300, deadline=None)
@given(feeds())
def test_feeds_parse_or_are_located(document: bytes) -> None:
    try:
        parse_feed(document, "fuzz.json")
    except InputError as error:
        _one_line(error)
        assert error.message.startswith("advisory feed fuzz.json")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_feed_is_refused_in_one_line(document: bytes) -> None:
    try:
        parse_feed(document, "fuzz.json")
    except InputError as error:
        _one_line(error)


def test_deeply_nested_and_huge_values() -> None:
    for text in (
        "a = " + "[" * 5000 + "]" * 5000,
        HEADER + "[freshness]\nmax_age = 10000000000000000000\n",
    ):
        try:
            parse_policy(text, "x.toml")
        except PolicyError as error:
            _one_line(error)
    try:
        parse_feed("[" * 100000 + "]" * 100000)
    except InputError as error:
        assert "nested too deeply" in error.message
