from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from elsewhere.claims import Tee, Vendor
from elsewhere.policy.load import PolicyError, load_policy, parse_policy
from elsewhere.policy.model import Action, PlatformMatch, Severity
from policy_support import HEADER

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "policy"


def _issues(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.toml")
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_examples_load(path: Path) -> None:
    policy = load_policy(path)
    assert policy.name and policy.revision
    assert policy.digest.startswith("sha384:") and len(policy.digest) == 7 + 96


def test_refuse_milan_example_means_what_it_says() -> None:
    policy = load_policy(EXAMPLES / "refuse-milan.toml")
    assert policy.platform_refuse == (PlatformMatch(Vendor.AMD, "Milan"),)
    assert PlatformMatch(Vendor.INTEL) in policy.platform_accept
    assert Tee.NIL not in policy.tees and not policy.allow_emulated and not policy.allow_debug


def test_demo_example_allows_emulated_but_not_nil() -> None:
    policy = load_policy(EXAMPLES / "demo-emulated.toml")
    assert policy.allow_emulated and Tee.NIL not in policy.tees
    assert policy.platform_refuse == (PlatformMatch(Vendor.AMD, "Milan"),)


def test_defaults_refuse_nil_emulated_debug() -> None:
    policy = parse_policy(HEADER)
    assert policy.tees == (Tee.SEV_SNP, Tee.TDX, Tee.SGX)
    assert not policy.allow_emulated and not policy.allow_debug
    assert policy.intel_tcb_statuses == ("UpToDate",)
    assert policy.patch_rule("critical").action is Action.EVICT


def test_every_field_parses() -> None:
    policy = parse_policy(
        HEADER
        + """
[tee]
accept = ["nil", "sev-snp"]
[tcb.sev-snp]
snp = 8
[tcb.sev-snp.Genoa]
microcode = 84
[advisories]
refuse = ["intel-sa-00615"]
allow = ["AMD-SB-3005"]
severity_threshold = "medium"
unknown_severity = "critical"
[flags.sev-snp]
smt = false
[identity.sev-snp]
vmpl = [0]
[identity_min.sev-snp]
guest_svn = 2
[measurements.sev-snp]
measurement = ["AABB"]
[binding]
require_report_data = true
[freshness]
max_age = "15m"
[patching]
high = "drain 2d"
"""
    )
    assert policy.tees == (Tee.NIL, Tee.SEV_SNP)
    assert [m.key for m in policy.tcb_minimums] == [
        "tcb.sev-snp.snp",
        "tcb.sev-snp.Genoa.microcode",
    ]
    assert policy.advisories_refuse == ("INTEL-SA-00615",)
    assert policy.severity_threshold is Severity.MEDIUM
    assert policy.unknown_severity is Severity.CRITICAL
    assert [(f.key, f.required) for f in policy.flags] == [("flags.sev-snp.smt", False)]
    assert [(a.key, a.allowed) for a in policy.allow_lists] == [
        ("identity.sev-snp.vmpl", ("0",)),
        ("measurements.sev-snp.measurement", ("aabb",)),
    ]
    assert [(m.key, m.minimum) for m in policy.identity_minimums] == [
        ("identity_min.sev-snp.guest_svn", 2)
    ]
    assert policy.max_age == dt.timedelta(minutes=15)
    assert policy.patch_rule("high").grace == dt.timedelta(days=2)


def test_digest_is_of_the_meaning_not_the_text() -> None:
    a = parse_policy(HEADER + '[platforms]\nrefuse = ["AMD:Milan", "amd:turin"]\n')
    b = parse_policy(
        "# reordered, with comments\n"
        + HEADER
        + '[platforms]\nrefuse = [ "AMD:Turin" , "AMD:MILAN" ]  # same set\n'
        + "[tee]\nallow_debug = false\n"
    )
    assert a == b and a.digest == b.digest
    c = parse_policy(HEADER.replace('revision = "1"', 'revision = "2"'))
    assert c.digest != parse_policy(HEADER).digest


def test_unknown_key_is_located() -> None:
    issues = _issues(HEADER + "\n[tee]\nallow_emulatd = true\n")
    assert issues == [
        "p.toml:6: tee.allow_emulatd: unknown key; allowed: accept, allow_debug, allow_emulated"
    ]


def test_unknown_top_level_table_is_located() -> None:
    assert _issues(HEADER + "[platform]\nrefuse = []\n")[0].startswith(
        "p.toml:4: platform: unknown"
    )


def test_bad_values_are_all_reported_with_lines() -> None:
    text = HEADER + (
        "[platforms]\n"  # 4
        'refuse = ["ARM:Neoverse"]\n'  # 5
        "[tcb.sev-snp]\n"  # 6
        "microcde = 3\n"  # 7
        "[tcb.sev-snp.Genoa]\n"  # 8
        "snp = -1\n"  # 9
        "[intel]\n"  # 10
        'tcb_status = ["Fine"]\n'  # 11
        "[freshness]\n"  # 12
        'max_age = "soon"\n'  # 13
        "[patching]\n"  # 14
        'high = "drain"\n'  # 15
        "[flags.tdx]\n"  # 16
        'smt = "no"\n'  # 17
    )
    issues = _issues(text)
    lines = [issue.split(":")[1] for issue in issues]
    assert lines == ["5", "7", "9", "11", "17", "13", "15"]
    assert "vendor must be AMD or Intel" in issues[0]
    assert "tcb.sev-snp.microcde: not a sev-snp TCB component" in issues[1]
    assert "out of range" in issues[2]
    assert "'Fine': not an Intel TCB status" in issues[3]


def test_syntax_error_carries_line_and_column() -> None:
    issues = _issues(HEADER + "[tee]\nallow_debug = maybe\n")
    assert issues[0].startswith("p.toml:5: TOML syntax:")
    assert "column" in issues[0]


def test_missing_and_unsupported_version() -> None:
    assert any("version: missing" in i for i in _issues('name = "x"\nrevision = "1"\n'))
    assert _issues('version = 2\nname = "x"\nrevision = "1"\n')[0].startswith(
        "p.toml:1: version: schema version 2 not supported"
    )
    assert any("name: missing" in i for i in _issues('version = 1\nrevision = "1"\n'))


def test_contradictions_are_errors() -> None:
    issues = _issues(
        HEADER + '[platforms]\naccept = ["AMD:Milan"]\nrefuse = ["amd:Milan"]\n'
        '[advisories]\nrefuse = ["X-1"]\nallow = ["x-1"]\n'
    )
    assert "AMD:Milan is both accepted and refused" in issues[0]
    assert "X-1 is both refused and allowed" in issues[1]


def test_nil_has_no_tcb_section() -> None:
    assert "expected a TEE" in _issues(HEADER + "[tcb.nil]\nsnp = 1\n")[0]


def test_hex_and_identity_values_checked() -> None:
    issues = _issues(
        HEADER + '[measurements.tdx]\nmrtd = ["xyz"]\n[identity.sgx]\nisvprodid = [true]\n'
        "[identity_min.sgx]\nisvsvn = -1\n"
    )
    assert issues[2] == "p.toml:9: identity_min.sgx.isvsvn: expected a whole number >= 0"
    assert "'xyz' is not hexadecimal" in issues[0] and issues[0].startswith("p.toml:5:")
    assert issues[1].startswith("p.toml:7: identity.sgx.isvprodid")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"version = 1\nname = '\xff'\n")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(bad)


def test_error_message_is_one_line_with_count() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(HEADER + "a = 1\nb = 2\n", "p.toml")
    assert caught.value.message == (
        "policy: p.toml:4: a: unknown key; allowed: advisories, binding, description, flags, "
        "freshness, identity, identity_min, intel, measurements, name, patching, platforms, "
        "reattestation, revision, tcb, tee, version (and 1 more)"
    )


def test_located_through_dotted_keys_inline_tables_and_multiline_values() -> None:
    text = HEADER + (
        'description = """\n'  # 4
        "[tee]\n"  # 5: inside a string, not a header
        '"""\n'  # 6
        "tee.allow_debug = 1\n"  # 7: dotted key
        "platforms = { refuse = [\n"  # 8: inline table, multi-line array
        '  "AMD:Milan",\n'  # 9
        '  "ARM:X",\n'  # 10
        "] }\n"  # 11
        "[binding]\n"  # 12
        "require_report_data = 'yes'\n"  # 13
    )
    assert _issues(text) == [
        "p.toml:7: tee.allow_debug: expected true or false, found int",
        "p.toml:8: platforms.refuse: 'ARM:X': vendor must be AMD or Intel, as 'AMD' or 'AMD:Milan'",
        "p.toml:13: binding.require_report_data: expected true or false, found str",
    ]


def test_generations_must_be_ones_the_verifiers_report() -> None:
    issues = _issues(
        HEADER + '[platforms]\nrefuse = ["AMD:Mlan", "Intel:Sapphire Rapids", "AMD:Milan-B0"]\n'
        "[tcb.sev-snp.Genao]\nsnp = 1\n"
    )
    assert issues == [
        "p.toml:5: platforms.refuse: 'Mlan': not a known AMD generation (Milan, Genoa, Turin)",
        "p.toml:5: platforms.refuse: 'Milan-B0': not a known AMD generation (Milan, Genoa, Turin)",
        "p.toml:6: tcb.sev-snp.Genao: 'Genao': not a known AMD generation (Milan, Genoa, Turin)",
    ]
    policy = parse_policy(HEADER + '[platforms]\nrefuse = ["intel:ice lake-sp", "AMD:milan"]\n')
    assert [str(p) for p in policy.platform_refuse] == ["AMD:Milan", "Intel:Ice Lake-SP"]


def test_keep_key_suites_load_and_leave_other_digests_alone() -> None:
    hybrid = parse_policy(HEADER + '[binding]\nkeep_key_suites = ["mlkem768-x25519"]\n')
    assert hybrid.keep_key_suites == ("mlkem768-x25519",)
    assert hybrid.to_json()["binding"]["keep_key_suites"] == ["mlkem768-x25519"]
    assert hybrid.digest != parse_policy(HEADER).digest
    # A policy without the key keeps the normal form (and so the digest) it had before.
    assert parse_policy(HEADER).to_json()["binding"] == {"require_report_data": False}
    for body, message in (
        ('keep_key_suites = ["p256"]', "not an HPKE suite"),
        ("keep_key_suites = []", "would refuse every keep"),
        ('keep_key_suites = "x25519"', "expected a list of strings"),
    ):
        with pytest.raises(PolicyError) as error:
            parse_policy(HEADER + f"[binding]\n{body}\n")
        assert message in str(error.value) and "binding.keep_key_suites" in str(error.value)


# The normal-form digests the hand-written loader (commit 2f42ef9) gave the examples: validating
# with pydantic must not change what any existing policy means, nor so its digest.
PINNED = {
    "demo-emulated.toml": "5309349289aa2fef69773767e56c9c3d491b3acfcdec52c889109e6fe18cb5e5"
    "7fb04d97870d6a8ed16eadcdce27bf9d",
    "refuse-milan.toml": "d3b6890669ea5418849d6d8bd958b633a8330707747f01946fdf7e115fa82d31"
    "cc2e564303eb1cd57d2929ddcf5f15e5",
    "strict-intel.toml": "4091acca1be39a1d4c938d5573c50ce83fb788514348f2abc5743da61b789d72"
    "2fb8e1f7d639cca176c74f0210483433",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_example_digests_are_unchanged(name: str) -> None:
    assert load_policy(EXAMPLES / name).digest == "sha384:" + PINNED[name]


def test_a_problem_repeated_in_one_list_is_reported_once() -> None:
    issues = _issues(HEADER + '[platforms]\nrefuse = ["ARM:X", "ARM:X", "AMD:Mlan"]\n')
    assert issues == [
        "p.toml:5: platforms.refuse: 'ARM:X': vendor must be AMD or Intel, as 'AMD' or 'AMD:Milan'",
        "p.toml:5: platforms.refuse: 'Mlan': not a known AMD generation (Milan, Genoa, Turin)",
    ]


def test_every_problem_of_every_section_at_once() -> None:
    """Problems in several tables, of several kinds, all collected in one pass."""
    issues = _issues(
        HEADER + "typo = 1\n"  # 4
        "[tee]\naccept = [1]\n"  # 5, 6
        "[tcb.nil]\nsnp = 1\n"  # 7, 8
        "[advisories]\nseverity_threshold = true\n"  # 9, 10
        '[identity_min.tdx]\n"Bad-Name" = 1\n'  # 11, 12
        "[patching]\nlow = 'soon'\n"  # 13, 14
    )
    assert [i.split(": ", 2)[:2] for i in issues] == [
        ["p.toml:4", "typo"],
        ["p.toml:6", "tee.accept"],
        ["p.toml:7", "tcb.nil"],
        ["p.toml:10", "advisories.severity_threshold"],
        ["p.toml:12", "identity_min.tdx.Bad-Name"],
        ["p.toml:14", "patching.low"],
    ]
    assert issues[1].endswith("expected a list of strings")
    assert issues[3].endswith("expected a severity, found a boolean")
