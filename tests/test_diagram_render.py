"""Rendering: the DOT source (no binary needed), the Mermaid text and the SVG carry every part,
flow, badge and legend entry of the scene, never by colour alone, with a text alternative."""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter

import pytest
from defusedxml import ElementTree

from elsewhere.diagram import ELSEWHERE
from elsewhere.diagram.dot import to_dot, to_svg
from elsewhere.diagram.labels import ENGLISH
from elsewhere.diagram.mermaid import to_mermaid
from elsewhere.diagram.model import STRENGTH, Level, View
from elsewhere.diagram.palette import PART, STRENGTH_LINE
from elsewhere.diagram.scene import build_scene
from elsewhere.diagram.table import to_table

SVG = "{http://www.w3.org/2000/svg}"
ALL = [(level, view) for level in Level for view in View]

TLS_CHANNEL = (
    "HTTP/1.1 + JSON: TLS, the server verified against the client's CA (plain HTTP only on "
    "loopback or with --insecure-http)"
)


def require_dot() -> None:
    """SVG tests need Graphviz's dot: in CI its absence is a failure, locally a skip."""
    if shutil.which("dot") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Graphviz's dot is missing (.ci/run installs it)")
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")


@pytest.mark.parametrize(("level", "view"), ALL)
def test_dot_source_has_every_part_and_flow_with_its_cues(level: Level, view: View) -> None:
    scene = build_scene(ELSEWHERE, level, view)
    source = to_dot(scene).source
    for node in scene.nodes:
        style = PART[node.provenance]
        line = next(x for x in source.splitlines() if x.strip().startswith(f"{node.id} ["))
        assert f'fillcolor="{style.fill}"' in line
        assert f'class="part prov_{node.provenance.value}"' in line
        assert ("shape=cylinder" if node.store else f"shape={style.shape}") in line
        assert node.name.split("] ")[0] + "]" in line  # the provenance badge
    for edge in scene.edges:
        line = next(x for x in source.splitlines() if f"id=flow_{edge.id} " in x)
        assert line.strip().startswith(f"{edge.source} -> {edge.target} ")
        drawn = STRENGTH_LINE[edge.strength]
        assert f'color="{drawn.colour}"' in line and f"style={drawn.style}" in line
        assert ENGLISH[f"badge.{edge.strength.value}"] in line
    # A legend entry for every provenance and strength that the drawing uses.
    for p in scene.provenances:
        assert f"id=legend_prov_{p.value} " in source
    for s in scene.strengths:
        assert f"id=legend_{s.value} " in source


def test_dot_source_is_deterministic_and_follows_the_model_order() -> None:
    first = to_dot(build_scene(ELSEWHERE, Level.COMPONENTS, View.SECURITY)).source
    again = to_dot(build_scene(ELSEWHERE, Level.COMPONENTS, View.SECURITY)).source
    assert first == again
    flows = [f.id for f in ELSEWHERE.at(Level.COMPONENTS).flows]
    positions = [first.index(f"id=flow_{f} ") for f in flows]
    assert positions == sorted(positions)


def test_views_differ_in_what_they_group_by_and_write() -> None:
    security = build_scene(ELSEWHERE, Level.CONTAINERS, View.SECURITY)
    operations = build_scene(ELSEWHERE, Level.CONTAINERS, View.OPERATIONS)
    legal = build_scene(ELSEWHERE, Level.CONTAINERS, View.LEGAL)
    assert any(g.label.startswith("UNTRUSTED") for g in security.groups)
    assert not any(g.label.startswith("UNTRUSTED") for g in operations.groups)
    assert {g.label for g in legal.groups} == {
        ENGLISH[f"provenance.{p.value}"] for p in legal.provenances
    }
    sqlite = {s.view: next(n for n in s.nodes if n.id == "sqlite") for s in (security, legal)}
    assert "licence: blessing (public domain)" in sqlite[View.LEGAL].details
    assert any(d.startswith("at rest: AES-256-GCM") for d in sqlite[View.SECURITY].details)
    release = {
        s.view: next(e for e in s.edges if e.id == "server_release")
        for s in (security, operations, legal)
    }
    assert TLS_CHANNEL in release[View.SECURITY].details
    assert release[View.OPERATIONS].details == (TLS_CHANNEL,)
    assert release[View.LEGAL].details == ("tenant secrets",)


def test_labels_that_look_like_html_or_escapes_stay_text() -> None:
    words = {**ENGLISH, "component.server": '<b>"serve"</b> \\N #1'}
    scene = build_scene(ELSEWHERE, Level.CONTAINERS, View.SECURITY, words)
    source = to_dot(scene).source
    assert '"[OWN] <b>\\"serve\\"</b> \\\\N #1' in source
    mermaid = to_mermaid(scene)
    assert "#lt;b#gt;#quot;serve#quot;#lt;/b#gt; \\N #35;1" in mermaid


@pytest.mark.parametrize(("level", "view"), ALL)
def test_mermaid_has_accessible_text_classes_and_one_style_per_link(
    level: Level, view: View
) -> None:
    scene = build_scene(ELSEWHERE, level, view)
    text = to_mermaid(scene)
    assert text.startswith("flowchart LR\n  accTitle: Elsewhere architecture: ")
    assert "  accDescr {\n" in text
    for sentence in scene.sentences:
        assert sentence.replace('"', "#quot;") in text
    for node in scene.nodes:
        line = next(x for x in text.splitlines() if re.match(rf"\s*{node.id}[\[(\{{]", x))
        assert line.endswith(f":::{node.provenance.value}")
    links = [x for x in text.splitlines() if "|" in x and ("->" in x or "==>" in x)]
    styles = [x for x in text.splitlines() if x.strip().startswith("linkStyle ")]
    assert len(links) == len(styles) == len(scene.edges) + len(scene.strengths)
    for index, edge in enumerate(scene.edges):
        assert STRENGTH_LINE[edge.strength].mermaid_arrow in links[index]
        assert f"stroke:{STRENGTH_LINE[edge.strength].colour}" in styles[index]
    assert f'subgraph legend["{ENGLISH["legend"]}"]' in text


def test_the_text_table_lists_every_part_and_flow() -> None:
    scene = build_scene(ELSEWHERE, Level.CONTAINERS, View.SECURITY)
    table = to_table(scene)
    for node in scene.nodes:
        assert f"| {node.name} |" in table
    rows = [x for x in table.splitlines() if x.startswith("| ") and " | " in x]
    assert len(rows) == len(scene.nodes) + len(scene.edges) + 2  # two header rows
    upload = next(e for e in ELSEWHERE.flows if e.id == "cli_upload")
    assert STRENGTH[upload.protection].value == "none"
    assert (
        "| [OWN] elsewhere CLI | [NONE] workloads, secrets, policy | [OWN] elsewhere serve | "
        f"none (in clear); {TLS_CHANNEL} |"
    ) in table


@pytest.mark.parametrize(("level", "view"), ALL)
def test_svg_has_title_desc_unique_ids_and_classes(level: Level, view: View) -> None:
    require_dot()
    scene = build_scene(ELSEWHERE, level, view)
    root = ElementTree.fromstring(to_svg(scene))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "diagram_title diagram_desc"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and title.get("id") == "diagram_title"
    assert desc is not None and desc.text == scene.description
    ids = Counter(e.get("id") for e in root.iter() if e.get("id"))
    assert [i for i, n in ids.items() if n > 1] == []
    groups = {e.get("id"): e for e in root.iter(f"{SVG}g")}
    for node in scene.nodes:
        g = groups[f"node_{node.id}"]
        assert f"prov_{node.provenance.value}" in (g.get("class") or "")
        fills = {e.get("fill", "").upper() for e in g.iter()}
        assert PART[node.provenance].fill in fills
        texts = " ".join(t.strip() for t in g.itertext())
        assert node.name.split("] ")[0] + "]" in texts
    for edge in scene.edges:
        g = groups[f"flow_{edge.id}"]
        assert f"strength_{edge.strength.value}" in (g.get("class") or "")
        strokes = {e.get("stroke", "").upper() for e in g.iter()}
        assert STRENGTH_LINE[edge.strength].colour in strokes
    assert "group_legend" in groups


def test_svg_without_dot_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from elsewhere.errors import InputError

    monkeypatch.setenv("PATH", "/nonexistent")
    scene = build_scene(ELSEWHERE, Level.CONTEXT, View.SECURITY)
    with pytest.raises(InputError, match="Graphviz's dot: not found on PATH"):
        to_svg(scene)


def test_every_provenance_and_strength_has_its_own_badge() -> None:
    # The text cue of WCAG 1.4.1: a badge shared by two meanings would leave colour alone.
    from elsewhere.diagram.model import Provenance, Strength

    for enum in (Provenance, Strength):
        badges = [ENGLISH[f"badge.{member.value}"] for member in enum]
        assert len(set(badges)) == len(badges), badges
        for member in enum:
            legend = ENGLISH[f"strength.{member.value}"] if enum is Strength else None
            if legend is not None:  # the legend names the badge the lines carry
                assert legend.startswith(ENGLISH[f"badge.{member.value}"] + " ")
