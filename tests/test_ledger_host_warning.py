"""The typed `host.warning` entry (a re-check's "keep" action) and the placement's tenant."""

from __future__ import annotations

import datetime as dt

import pytest

from elsewhere.errors import InputError
from elsewhere.ledger.entries import Candidate, HostWarning, Placement, from_entry

AT = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)


def test_host_warning_round_trips_and_refuses_other_actions() -> None:
    entry = HostWarning(at=AT, host="milan", reason="advisory", workloads=("dep_1",))
    doc = entry.to_entry()
    assert doc["kind"] == "host.warning" and doc["action"] == "keep"
    assert from_entry(doc) == entry
    with pytest.raises(InputError):
        from_entry(doc | {"action": "evict"})
    with pytest.raises(InputError):
        from_entry(doc | {"extra": 1})


def test_placement_carries_its_tenant() -> None:
    chosen = Candidate("genoa", 1.95, 500.0, 975.0)
    entry = Placement(at=AT, workload="dep_1", chosen="genoa", candidates=(chosen,), tenant="t1")
    assert from_entry(entry.to_entry()) == entry
    with pytest.raises(InputError):
        Placement(at=AT, workload="dep_1", chosen="milan", candidates=(chosen,))
