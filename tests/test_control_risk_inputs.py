"""Risk inputs at the API edge: impact, budget and their CLI text forms; tenant reports."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from control_helpers import control_plane, settled, wait_for
from elsewhere.control.scheduling.assign import budget_text, money_text
from elsewhere.errors import InputError
from elsewhere.risk.quantities import YEAR


def test_money_and_budget_text() -> None:
    assert str(money_text("10000USD", "x").amount) == "10000"
    assert money_text("10,000.50 gbp", "x").currency == "GBP"
    budget = budget_text("5000USD/yr", "x")
    assert budget.period is YEAR and str(budget.amount) == "5000"
    assert budget_text("400 EUR/month", "x").period.name == "month"
    assert budget_text("400 EUR", "x").period is YEAR
    for bad in ("", "USD", "10 dollars", "-5USD", "5USD/fortnight", "1e400USD", "5USD/keep/x"):
        with pytest.raises(InputError):
            budget_text(bad, "x")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_budget_text_answers_anything_with_a_value_or_one_line(text: str) -> None:
    try:
        budget_text(text, "risk budget")
    except InputError as error:
        assert "\n" not in error.message


def test_api_refuses_bad_impacts_and_budgets_and_takes_reports(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        env.agent("genoa", generation="Genoa")
        tenant, digest = env.setup_tenant()
        for impact, status in (
            ({"amount": "10", "currency": "EUR"}, 400),
            ({"amount": "-1", "currency": "USD"}, 400),
            ({"amount": "0", "currency": "USD"}, 400),
            ({"currency": "USD"}, 400),
            ("lots", 422),
        ):
            body = {"workload": digest, "impact": impact}
            answer = tenant.http.request("POST", "/v1/deployments", json=body)
            assert answer.status_code == status, (impact, answer.text)
        for budget in (
            {"amount": "5", "currency": "USD"},
            {"amount": "5", "currency": "USD", "per": "keep"},
            {"amount": "0", "currency": "USD", "per": "year"},
            {"amount": "5", "currency": "USD", "per": "fortnight"},
        ):
            answer = tenant.http.request("PUT", "/v1/risk-budget", json=budget)
            assert answer.status_code == 400, (budget, answer.text)
        assert tenant.json("GET", "/v1/risk-budget")["default"] is True

        deployment = tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})
        assert deployment["impact"] == {"amount": "100", "currency": "USD"}  # the default
        view = wait_for(settled(tenant, deployment["id"]))
        placement = view["placements"][0]["id"]
        path = f"/v1/placements/{placement}/reports"
        other, _ = env.setup_tenant()
        assert other.http.request("POST", path, json={"note": "x"}).status_code == 404
        assert tenant.http.request("POST", path, json={"note": "wrong output"}).status_code == 201
        assert tenant.http.request("POST", path, json={"note": "again"}).status_code == 409
        doc = tenant.json("GET", f"/v1/deployments/{deployment['id']}/risk")
        events = [e["kind"] for e in doc["hosts"][0]["events"]]
        assert events.count("tenant_report") == 1 and events.count("keep_completed") == 1
