"""`elsewhere risk explain` and `elsewhere risk simulate`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from elsewhere.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "risk"


def test_explain_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["risk", "explain", str(EXAMPLES / "deployment.json")]) == 0
    out, err = capsys.readouterr()
    assert "replica 0: placed on genoa-veteran" in out
    assert "bound used" in out and "binding bound" in out
    assert "penny-farmer" in out and "growth cap" in out
    assert "emulated — no hardware protection" in err


def test_explain_json_matches_the_records(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["risk", "explain", str(EXAMPLES / "deployment.json"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "elsewhere.risk.explanation/1"
    first = doc["decisions"][0]
    assert first["decision"] == "placed" and first["host_id"] == doc["hosts"][0]["host_id"]
    assert first["bound"]["q"] == pytest.approx(doc["hosts"][0]["q"], rel=1e-9)
    binding = {h["host_id"]: h["max_exposure"]["binding"] for h in doc["hosts"]}
    assert binding["newcomer"] == "growth cap" and binding["quarantined"] == "quarantine"


def test_explain_refusal_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads((EXAMPLES / "deployment.json").read_text())
    doc["deployment"]["budget"]["amount"] = "100"
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    assert main(["risk", "explain", str(path)]) == 1
    assert "refused because risk budget" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"schema": "x"}', "schema"),
        ('{"schema": "elsewhere.risk.deployment/1", "at": "2025-01-01"}', "deployment"),
    ],
)
def test_explain_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert main(["risk", "explain", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert main(["risk", "explain", str(tmp_path / "missing.json")]) == 2


def test_explain_mixed_currency_is_refused_as_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads((EXAMPLES / "deployment.json").read_text())
    doc["deployment"]["budget"]["currency"] = "USD"
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    assert main(["risk", "explain", str(path)]) == 2
    assert "different currencies" in capsys.readouterr().err


def test_simulate_con_man_writes_csv_and_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv, png = tmp_path / "t.csv", tmp_path / "t.png"
    code = main(
        ["risk", "simulate", str(EXAMPLES / "con-man.toml"), "--csv", str(csv), "--png", str(png)]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "7,612.80 USD" in out and "400.00 USD" in out and "job 20" in out
    lines = csv.read_text().splitlines()
    assert lines[0].startswith("step,time,strategy,request,granted")
    assert len(lines) == 1 + 3 * 200
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_simulate_png_without_matplotlib_says_which_extra_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """matplotlib is the optional `charts` extra: its absence is one line and exit 2, before
    the simulation runs, and nothing is written."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what `import` sees when absent
    png = tmp_path / "t.png"
    code = main(["risk", "simulate", str(EXAMPLES / "con-man.toml"), "--png", str(png)])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "elsewhere: --png: needs matplotlib, which is not installed "
        "(pip install 'elsewhere[charts]')"
    ]
    assert captured.out == "" and not png.exists()


def test_simulate_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["risk", "simulate", str(EXAMPLES / "honest-host.toml"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {s["strategy"] for s in doc["summary"]} == {"count", "guard", "guard+cusum"}
    assert all(s["loss"] == 0 and s["alarm_step"] is None for s in doc["summary"])


def test_simulate_bad_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.toml"
    path.write_text('schema = "elsewhere.risk.scenario/1"\n[[block]]\njobs = "nine"\n')
    assert main(["risk", "simulate", str(path)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_explain_takes_the_control_planes_aggregate_reputation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A host given as the control plane gives it (evidence at the deployment's value, no
    events of other tenants) is explained; a malformed aggregate is one line, exit 2."""
    doc = json.loads((EXAMPLES / "deployment.json").read_text())
    for host in doc["hosts"]:
        host["events"] = []
        currency = doc["deployment"]["impact"]["currency"]
        host["reputation"] = {"currency": currency, "good": [[1.0, 4.0]], "bad": 0.0}
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc))
    assert main(["risk", "explain", str(path), "--json"]) in (0, 1)
    assert json.loads(capsys.readouterr().out)
    doc["hosts"][0]["reputation"]["good"] = [[1.0, "many"]]
    path.write_text(json.dumps(doc))
    assert main(["risk", "explain", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hosts[0].reputation.good[0]" in err
