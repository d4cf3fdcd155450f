"""Hostile input to the deployment and scenario parsers: a typed one-line error, never a crash."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from elsewhere.errors import ElsewhereError
from elsewhere.risk.explain import explain, parse_deployment
from elsewhere.risk.simulate import run, scenario_from_doc

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "risk"
DEPLOYMENT = json.loads((EXAMPLES / "deployment.json").read_text())
DEPLOYMENT["hosts"] = DEPLOYMENT["hosts"][:4]
for host in DEPLOYMENT["hosts"]:
    host["events"] = host["events"][:5]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.extend(_paths(value, (*prefix, i)))
    return out


PATHS = _paths(DEPLOYMENT)[1:]


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = copy.deepcopy(doc)
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return doc


def _one_line(error: ElsewhereError) -> None:
    assert "\n" not in str(error) and str(error)


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from(PATHS), value=json_values)
def test_mutated_deployment_parses_or_fails_cleanly(path: tuple[Any, ...], value: Any) -> None:
    _explains_or_fails_cleanly(_replace(DEPLOYMENT, path, value))


def _explains_or_fails_cleanly(doc: Any) -> None:
    try:
        at, request, hosts, config = parse_deployment(doc)
        explain(at, request, hosts, config, top=2)
    except ElsewhereError as error:
        _one_line(error)


@settings(max_examples=60, deadline=None)
@given(doc=json_values)
def test_arbitrary_deployment_documents(doc: Any) -> None:
    try:
        parse_deployment(doc)
    except ElsewhereError as error:
        _one_line(error)


# The form the control plane sends a tenant: each host's evidence as one aggregate at the
# deployment's value instead of the other tenants' events.
AGGREGATE = copy.deepcopy(DEPLOYMENT)
for host in AGGREGATE["hosts"]:
    host["events"] = host["events"][:1]
    host["reputation"] = {
        "currency": AGGREGATE["deployment"]["impact"]["currency"],
        "good": [[1000.0, 3.5]],
        "bad": 0.5,
        "delivered": 2500.0,
        "max_good": 1000.0,
    }


EXTREMES = st.sampled_from([1e300, 1e-308, 5e-324, -0.0, 1e15, 1e16, 1e9, 1e10])


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(_paths(AGGREGATE)[1:]), value=json_values | EXTREMES)
def test_mutated_aggregate_deployment_parses_or_fails_cleanly(
    path: tuple[Any, ...], value: Any
) -> None:
    _explains_or_fails_cleanly(_replace(AGGREGATE, path, value))


SCENARIO: dict[str, Any] = {
    "schema": "elsewhere.risk.scenario/1",
    "currency": "USD",
    "start": "2025-01-01T00:00:00Z",
    "step_hours": 24,
    "model": {"budget": {"amount": 60, "per": "keep"}, "gamma": 2.0, "trial_allowance": 10},
    "cusum": {"p0": 0.01, "p1": 0.1, "h": 3.0},
    "block": [{"repeat": 2, "jobs": [{"count": 3, "request": 10, "outcome": "good"}]}],
}


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from(_paths(SCENARIO)[1:]), value=json_values)
def test_mutated_scenario_parses_or_fails_cleanly(path: tuple[Any, ...], value: Any) -> None:
    doc = _replace(SCENARIO, path, value)
    try:
        scenario = scenario_from_doc(doc)
        if len(scenario.jobs) <= 200:
            run(scenario)
    except ElsewhereError as error:
        _one_line(error)
