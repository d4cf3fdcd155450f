from __future__ import annotations

import json
from pathlib import Path

import pytest

from elsewhere.claims import Tee
from elsewhere.cli import main
from elsewhere.errors import InputError
from elsewhere.policy.advisories import parse_feed
from elsewhere.policy.model import Severity
from elsewhere.policy.store import AdvisoryStore
from policy_support import advisory_entry as _entry
from policy_support import feed_document as _feed
from policy_support import intel, snp

FEED_PATH = Path(__file__).resolve().parent.parent / "examples" / "advisories" / "example-feed.json"


def test_example_feed_is_valid_and_round_trips() -> None:
    feed = parse_feed(FEED_PATH.read_bytes())
    assert {"AMD-SB-3019", "AMD-SB-7014", "INTEL-SA-00615", "INTEL-SA-00828"} <= {
        a.id for a in feed.advisories
    }
    assert parse_feed(json.dumps(feed.to_json())) == feed
    sinkclose = feed.get("AMD-SB-7014")
    assert sinkclose is not None and sinkclose.cves == ("CVE-2023-31315",)
    assert "illustrative" in sinkclose.note


def test_amd_match_by_generation_and_tcb_below_fix() -> None:
    feed = parse_feed(_feed(_entry()))
    old = snp("Milan", tcb={"microcode": 199})
    assert feed.affecting(old) == ("AMD-SB-1",)
    assert feed.affecting(snp("Milan-B0", tcb={"microcode": 199})) == ("AMD-SB-1",)
    assert feed.affecting(snp("Milan", tcb={"microcode": 200})) == ()
    assert feed.affecting(snp("Milan", tcb={})) == ("AMD-SB-1",)  # unknown TCB: not fixed
    assert feed.affecting(snp("Genoa", tcb={"microcode": 1})) == ()
    assert feed.affecting(intel()) == ()


def test_tcb_range_and_fmspc() -> None:
    entry = _entry(
        id="INTEL-SA-1",
        vendor="Intel",
        affected=[
            {
                "tee": "sgx",
                "fmspc": "00A067110000",
                "introduced_in": {"pcesvn": 10},
                "fixed_in": {"pcesvn": 14},
            }
        ],
    )
    feed = parse_feed(_feed(entry))
    assert feed.affecting(intel(tcb={"pcesvn": 13})) == ("INTEL-SA-1",)
    assert feed.affecting(intel(tcb={"pcesvn": 9})) == ()  # before the flaw was introduced
    assert feed.affecting(intel(tcb={"pcesvn": 14})) == ()
    assert feed.affecting(intel(tcb={"pcesvn": 13}, fmspc="00606a000000")) == ()
    assert feed.affecting(intel(Tee.TDX, tcb={"pcesvn": 13})) == ()


def test_intel_ids_arrive_through_claims() -> None:
    feed = parse_feed(FEED_PATH.read_bytes())
    claims = intel(advisory_ids=("INTEL-SA-00615", "INTEL-SA-09999"))
    assert feed.affecting(claims) == ("INTEL-SA-00615", "INTEL-SA-09999")
    known = feed.get("INTEL-SA-00615")
    assert known is not None and known.severity is Severity.MEDIUM


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (b"{", "line 1"),
        (json.dumps({"schema": "other"}).encode(), "schema"),
        (_feed(_entry(severity="severe")), "advisories[0] (AMD-SB-1).severity"),
        (_feed(_entry(published="yesterday")), "advisories[0] (AMD-SB-1).published"),
        (_feed(_entry(cves=["CVE-1"])), "advisories[0] (AMD-SB-1).cves"),
        (_feed(_entry(vendor="ARM")), "advisories[0] (AMD-SB-1).vendor"),
        (_feed(_entry(extra=1)), "advisories[0].extra"),
        (_feed(_entry(affected=[{"fixed_in": {"microcode": 1}}])), "affected[0]"),
        (_feed(_entry(affected=[{"tee": "sgx", "fmspc": "xyz"}])), "affected[0].fmspc"),
        (_feed(_entry(affected=[{"tee": "sgx", "fixed_in": {"pcesvn": -1}}])), "fixed_in.pcesvn"),
        (_feed(_entry(), _entry()), "advisories[1].id"),
    ],
)
def test_invalid_feeds_say_where(document: bytes, where: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_feed(document, "feed.json")
    assert where in caught.value.message
    assert caught.value.message.startswith("advisory feed feed.json: ")


def test_store_merges_by_id(tmp_path: Path) -> None:
    store = AdvisoryStore(tmp_path)
    assert len(store.load()) == 0
    first = store.import_set(parse_feed(_feed(_entry(), _entry(id="AMD-SB-2"))))
    assert first.added == ("AMD-SB-1", "AMD-SB-2") and first.total == 2
    second = store.import_set(parse_feed(_feed(_entry(severity="critical"), _entry(id="X-3"))))
    assert (second.added, second.updated, second.unchanged) == (("X-3",), ("AMD-SB-1",), ())
    stored = store.load()
    assert len(stored) == 3
    updated = stored.get("AMD-SB-1")
    assert updated is not None and updated.severity is Severity.CRITICAL


def test_cli_import_and_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ELSEWHERE_HOME", str(tmp_path))
    assert main(["advisories", "list"]) == 0
    assert "no advisories stored" in capsys.readouterr().out
    assert main(["advisories", "import", str(FEED_PATH)]) == 0
    assert "7 added" in capsys.readouterr().out
    assert main(["advisories", "list", "--vendor", "Intel"]) == 0
    out = capsys.readouterr().out
    assert "INTEL-SA-00615" in out and "AMD-SB-3019" not in out
    assert main(["advisories", "list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 7
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "elsewhere.advisories/1", "advisories": [{"id": "X"}]}')
    assert main(["advisories", "import", str(bad)]) == 2
    assert "advisories[0] (X).vendor: expected a non-empty string" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("affected", "where", "why"),
    [
        ({"tee": None}, "affected[0].tee", "expected sev-snp, tdx or sgx"),
        ({"tee": "sgx", "fmspc": None}, "affected[0].fmspc", "expected a non-empty string"),
        ({"bogus": 1}, "affected[0].bogus", "unknown key"),  # before "needs at least one of"
        ({"introduced_in": 1}, "affected[0]", "needs at least one of tee, generation, fmspc"),
        ({"tee": "sgx", "fixed_in": {"Bad": 1}}, "fixed_in.Bad", "component names are lower"),
    ],
)
def test_affected_entries_say_where_and_why(
    affected: dict[str, object], where: str, why: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse_feed(_feed(_entry(affected=[affected])), "feed.json")
    assert where in caught.value.message
    assert why in caught.value.message
