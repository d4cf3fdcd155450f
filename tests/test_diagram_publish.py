"""The diagrams the repository carries are what the model draws now (README block exactly,
SVGs by content), and `elsewhere diagram` answers bad input with one line and exit 2."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from elsewhere.cli import main
from elsewhere.diagram.publish import BEGIN, END, landing_block, stale, write

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs" / "architecture"


def require_dot() -> None:
    """SVG checks need Graphviz's dot: in CI its absence is a failure, locally a skip."""
    if shutil.which("dot") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Graphviz's dot is missing (.ci/run installs it)")
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    readme, docs = tmp_path / "README.md", tmp_path / "docs" / "architecture"
    shutil.copy(README, readme)
    shutil.copytree(DOCS, docs)
    return readme, docs


def test_the_readme_landing_diagram_is_the_models_output() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == landing_block("docs/architecture"), "run `make diagrams`"


def test_every_generated_diagram_is_current() -> None:
    require_dot()
    assert stale(README, DOCS) == []


def test_a_changed_diagram_or_readme_is_reported_stale(tmp_path: Path) -> None:
    require_dot()
    readme, docs = _copy(tmp_path)
    readme.write_text(readme.read_text().replace("[NONE] workloads", "[SEALED] workloads", 1))
    svg = docs / "context-legal.svg"
    svg.write_text(svg.read_text().replace("Auditor", "Nobody", 1))
    other = docs / "context-security.svg"
    other.write_text(other.read_text().replace('stroke="#d55e00"', 'stroke="#cc79a7"', 1))
    (docs / "components-security.svg").unlink()
    assert stale(readme, docs) == [
        f"{readme}: stale (run `make diagrams`)",
        f"{other}: stale (run `make diagrams`)",
        f"{svg}: stale (run `make diagrams`)",
        f"{docs / 'components-security.svg'}: missing",
    ]
    write(readme, docs)
    assert stale(readme, docs) == []


def test_moved_coordinates_alone_are_not_stale(tmp_path: Path) -> None:
    # Fonts and Graphviz versions move things; only content counts.
    require_dot()
    readme, docs = _copy(tmp_path)
    svg = docs / "containers-security.svg"
    svg.write_text(re.sub(r' x="(-?[0-9.]+)"', ' x="1"', svg.read_text()))
    assert stale(readme, docs) == []


def test_architecture_prints_each_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagram", "architecture", "--level", "context", "--format", "table"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("**Elsewhere architecture**: context")
    assert "| [WHO] Tenant |" in table
    args = ["diagram", "architecture", "--level", "components", "--view", "legal"]
    assert main([*args, "--format", "mermaid"]) == 0
    assert "licence: LGPL-3.0-only" in capsys.readouterr().out
    assert main(["diagram", "architecture", "--format", "dot"]) == 0
    assert capsys.readouterr().out.startswith("digraph elsewhere {")


def test_bad_arguments_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["diagram", "architecture", "--level", "galaxy"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'galaxy'" in err


def test_unwritable_output_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing" / "x.mmd"
    assert main(["diagram", "architecture", "--format", "mermaid", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert err == f"elsewhere: {target}: write: No such file or directory\n"


def test_missing_dot_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["diagram", "architecture"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Graphviz's dot: not found on PATH" in err


def test_publish_without_markers_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no diagram here\n")
    code = main(["diagram", "publish", "--readme", str(readme), "--dir", str(tmp_path / "d")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{readme}: diagram block: needs the line" in err
    assert not (tmp_path / "d").exists()


def test_publish_check_exits_1_when_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_dot()
    readme, docs = _copy(tmp_path)
    args = ["diagram", "publish", "--readme", str(readme), "--dir", str(docs), "--check"]
    assert main(args) == 0
    (docs / "README.md").write_text("edited\n")
    assert main(args) == 1
    expected = f"elsewhere: {docs / 'README.md'}: stale (run `make diagrams`)\n"
    assert capsys.readouterr().err == expected
