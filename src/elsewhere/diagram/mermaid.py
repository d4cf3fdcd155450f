"""A scene as Mermaid flowchart text, for Markdown (the README's landing diagram).

Mermaid draws it in the reader's browser; `accTitle` / `accDescr` become the SVG's
`<title>` / `<desc>`. The same cues as the Graphviz drawing: a shape, border, fill and badge
per provenance; an arrow, dash, colour and badge per protection strength.
"""

from __future__ import annotations

from elsewhere.diagram.labels import text
from elsewhere.diagram.palette import (
    BACKGROUND,
    NEUTRAL_ZONE,
    PART,
    STORE_SHAPE,
    STRENGTH_LINE,
    TEXT,
    ZONE,
)
from elsewhere.diagram.scene import Group, Scene

_BORDER_WIDTH = {"solid": "1px", "bold": "3px", "double": "4px", "dashed": "1px"}


def _quote(value: str) -> str:
    # Inside "...", Mermaid reads entity codes; these characters would end or break the label.
    for raw, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        value = value.replace(raw, code)
    return value


def _lines(first: str, rest: tuple[str, ...]) -> str:
    return '"' + "<br/>".join(_quote(line) for line in (first, *rest)) + '"'


def _group(scene: Scene, group: Group, out: list[str], depth: int) -> None:
    pad = "  " * depth
    out.append(f'{pad}subgraph {group.id}["{_quote(group.label)}"]')
    for node in scene.nodes:
        if node.group == group.id:
            style = PART[node.provenance]
            opening, closing = (
                (STORE_SHAPE[1], STORE_SHAPE[2])
                if node.store
                else (style.mermaid_open, style.mermaid_close)
            )
            label = _lines(node.name, node.details)
            out.append(f"{pad}  {node.id}{opening}{label}{closing}:::{node.provenance.value}")
    for child in scene.groups:
        if child.parent == group.id:
            _group(scene, child, out, depth + 1)
    out.append(f"{pad}end")


def to_mermaid(scene: Scene) -> str:
    """Mermaid source, deterministic: groups, parts and flows in the model's order."""
    words = scene.words
    out = [
        "flowchart LR",
        f"  accTitle: {_quote(scene.title)}: {_quote(scene.subtitle)}",
        "  accDescr {",
        *(f"    {_quote(sentence)}" for sentence in scene.sentences),
        "  }",
    ]
    for group in scene.groups:
        if group.parent is None:
            _group(scene, group, out, 1)
    links: list[str] = []
    for edge in scene.edges:
        arrow = STRENGTH_LINE[edge.strength].mermaid_arrow
        out.append(f"  {edge.source} {arrow}|{_lines(edge.label, edge.details)}| {edge.target}")
        links.append(edge.strength.value)
    out.append(f'  subgraph legend["{_quote(text(words, "legend"))}"]')
    for p in scene.provenances:
        style = PART[p]
        badge = f"{text(words, f'badge.{p}')} {text(words, f'provenance.{p}')}"
        out.append(
            f"    legend_{p.value}{style.mermaid_open}{_lines(badge, ())}"
            f"{style.mermaid_close}:::{p.value}"
        )
    for s in scene.strengths:
        arrow = STRENGTH_LINE[s].mermaid_arrow
        meaning = _lines(text(words, f"strength.{s}"), ())
        out.append(f'    legend_{s.value}_a[" "] {arrow}|{meaning}| legend_{s.value}_b[" "]')
        links.append(s.value)
    for trust in scene.zones:
        meaning = _lines(text(words, f"legend.zone.{trust}"), ())
        out.append(f"    legend_zone_{trust.value}[{meaning}]")
    out.append("  end")
    for p, style in PART.items():
        width = _BORDER_WIDTH[style.border]
        dash = ",stroke-dasharray:5 3" if style.border == "dashed" else ""
        out.append(
            f"  classDef {p.value} fill:{style.fill},color:{style.font},"
            f"stroke:{TEXT},stroke-width:{width}{dash}"
        )
    for index, strength in enumerate(links):
        line = STRENGTH_LINE[next(s for s in STRENGTH_LINE if s.value == strength)]
        dash = f",stroke-dasharray:{line.mermaid_dash}" if line.mermaid_dash else ""
        out.append(f"  linkStyle {index} stroke:{line.colour},stroke-width:{line.width}px{dash}")
    for group in scene.groups:
        zone = ZONE[group.trust] if group.trust is not None else NEUTRAL_ZONE
        dash = f",stroke-dasharray:{zone.mermaid_dash}" if zone.mermaid_dash else ""
        stroke = f"stroke:{zone.colour},stroke-width:{zone.width}px{dash}"
        out.append(f"  style {group.id} fill:{BACKGROUND},{stroke}")
    for trust in scene.zones:
        zone = ZONE[trust]
        dash = f",stroke-dasharray:{zone.mermaid_dash}" if zone.mermaid_dash else ""
        stroke = f"stroke:{zone.colour},stroke-width:{zone.width}px{dash}"
        out.append(f"  style legend_zone_{trust.value} fill:{BACKGROUND},color:{TEXT},{stroke}")
    return "\n".join(out) + "\n"
