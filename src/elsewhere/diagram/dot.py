"""A scene as Graphviz DOT (via the `graphviz` package) and as accessible SVG (via `dot`).

The DOT source needs no binary, so it is what unit tests check; SVG needs Debian's `graphviz`
(`make diagrams` installs it). Every cue is doubled: colour + shape + border + badge for
parts, colour + line style + badge for flows, colour + border + label for trust zones.
"""

from __future__ import annotations

import itertools
import re
import textwrap
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

import graphviz

from elsewhere.diagram.labels import text
from elsewhere.diagram.palette import (
    BACKGROUND,
    NEUTRAL_ZONE,
    PART,
    STORE_SHAPE,
    STRENGTH_LINE,
    TEXT,
    ZONE,
    PartStyle,
)
from elsewhere.diagram.scene import Group, Node, Scene
from elsewhere.errors import InputError


def _label(first: str, rest: tuple[str, ...], width: int = 34) -> str:
    # Wrapped, so long flow labels do not push the ranks apart. graphviz.escape keeps
    # backslashes literal; nohtml keeps "<...>" from being read as an HTML-like label.
    lines = [part for line in (first, *rest) for part in textwrap.wrap(line, width) or [""]]
    return str(graphviz.nohtml("\\n".join(graphviz.escape(line) for line in lines)))


def _part_attrs(style: PartStyle, store: bool) -> dict[str, str]:
    styles = ["filled"]
    if style.border == "bold":
        styles.append("bold")
    elif style.border == "dashed":
        styles.append("dashed")
    if style.shape == "box" and not store:
        styles.append("rounded")
    return {
        "shape": STORE_SHAPE[0] if store else style.shape,
        "style": ",".join(styles),
        "fillcolor": style.fill,
        "fontcolor": style.font,
        "color": TEXT,
        "peripheries": "2" if style.border == "double" else "1",
        "penwidth": "2.5" if style.border in ("bold", "double") else "1.2",
    }


def _node(graph: graphviz.Digraph, node: Node) -> None:
    graph.node(
        node.id,
        _label(node.name, node.details),
        id=f"node_{node.id}",
        **{"class": f"part prov_{node.provenance.value}"},
        **_part_attrs(PART[node.provenance], node.store),
        **_link(node.link, node.tooltip),
    )


def _link(link: str, tooltip: str) -> dict[str, str]:
    """An SVG link (`<a xlink:href xlink:title>`) around a part or flow, when it has one."""
    if not link:
        return {}
    return {"URL": graphviz.escape(link), "tooltip": graphviz.escape(tooltip), "target": "_top"}


def _cluster(scene: Scene, group: Group, graph: graphviz.Digraph) -> None:
    zone = ZONE[group.trust] if group.trust is not None else NEUTRAL_ZONE
    with graph.subgraph(name=f"cluster_{group.id}") as sub:
        sub.attr(
            label=graphviz.escape(group.label),
            id=f"group_{group.id}",
            color=zone.colour,
            style=zone.style,
            penwidth=str(zone.width),
            fontcolor=TEXT,
            labeljust="l",
            tooltip=graphviz.escape(group.label),
        )
        sub.attr(**{"class": f"group trust_{group.trust.value if group.trust else 'none'}"})
        for node in scene.nodes:
            if node.group == group.id:
                _node(sub, node)
        for child in scene.groups:
            if child.parent == group.id:
                _cluster(scene, child, sub)


def _legend(scene: Scene, graph: graphviz.Digraph) -> None:
    """One sample of every provenance (a column) and every strength (a short arrow)."""
    words = scene.words
    with graph.subgraph(name="cluster_legend") as legend:
        legend.attr(
            label=text(words, "legend"),
            id="group_legend",
            color=TEXT,
            style="solid",
            penwidth="1",
            labeljust="l",
            tooltip=text(words, "legend"),
        )
        column: list[str] = []
        for p in scene.provenances:
            node_id = f"legend_prov_{p.value}"
            legend.node(
                node_id,
                _label(f"{text(words, f'badge.{p}')} {text(words, f'provenance.{p}')}", ()),
                id=node_id,
                **{"class": f"legend prov_{p.value}"},
                **_part_attrs(PART[p], False),
            )
            column.append(node_id)
        for s in scene.strengths:
            # A sample line in the line's own colour and dash, drawn with box-drawing glyphs:
            # a real edge would need a second rank and pull the legend across the drawing.
            line = STRENGTH_LINE[s]
            node_id = f"legend_{s.value}"
            sample = xml_escape(SAMPLE_LINE[line.style])
            meaning = xml_escape(text(words, f"strength.{s}"))
            legend.node(
                node_id,
                f'<<FONT COLOR="{line.colour}">{sample}</FONT> {meaning}>',
                id=node_id,
                shape="plaintext",
                **{"class": f"legend strength_{s.value}"},
            )
            column.append(node_id)
        for trust in scene.zones:
            # A small frame drawn like the trust zones (HTML table borders take a dash style).
            zone = ZONE[trust]
            node_id = f"legend_zone_{trust.value}"
            border = "2" if zone.width < 3 else "4"
            style = "" if zone.style in ("solid", "bold") else f' STYLE="{zone.style}"'
            meaning = xml_escape(text(words, f"legend.zone.{trust}"))
            legend.node(
                node_id,
                f'<<TABLE BORDER="{border}" CELLBORDER="0" COLOR="{zone.colour}"{style}>'
                f"<TR><TD>{meaning}</TD></TR></TABLE>>",
                id=node_id,
                shape="plaintext",
                **{"class": f"legend zone_{trust.value}"},
            )
            column.append(node_id)
        # One column (minlen 0: the same rank), read downwards: in LR, flat edges run
        # bottom to top, so each invisible link goes from the lower entry to the upper one.
        for upper, lower in itertools.pairwise(column):
            legend.edge(lower, upper, style="invis", minlen="0")


def to_dot(scene: Scene) -> graphviz.Digraph:
    """The scene as a Graphviz digraph; nodes and flows in the model's order (deterministic)."""
    graph = graphviz.Digraph(name="elsewhere")
    font = text(scene.words, "svg.font")
    graph.attr(
        rankdir="LR",
        bgcolor=BACKGROUND,
        fontname=font,
        fontsize="12",
        label=graphviz.escape(f"{scene.title}\n{scene.subtitle}").replace("\n", "\\n"),
        labelloc="t",
        nodesep="0.35",
        ranksep="0.7",
        newrank="true",
    )
    graph.attr("node", fontname=font, fontsize="11", margin="0.12,0.06")
    graph.attr("edge", fontname=font, fontsize="9", arrowsize="0.8")
    for group in scene.groups:
        if group.parent is None:
            _cluster(scene, group, graph)
    for edge in scene.edges:
        line = STRENGTH_LINE[edge.strength]
        # An answer flowing back is laid out like its request (dir=back), so the drawing reads
        # left to right from the tenant to the hosts; its arrow still points where data goes.
        ends = (edge.target, edge.source) if edge.back else (edge.source, edge.target)
        graph.edge(
            *ends,
            **({"dir": "back"} if edge.back else {}),
            label=_label(edge.label, edge.details, 30),
            id=f"flow_{edge.id}",
            color=line.colour,
            fontcolor=TEXT,
            style=line.style,
            penwidth=str(line.width),
            **{"class": f"flow strength_{edge.strength.value}"},
            **_link(edge.link, edge.tooltip),
        )
    _legend(scene, graph)
    return graph


# What each edge style looks like, in text (legend only).
SAMPLE_LINE = {"bold": "━━━━▶", "solid": "────▶", "dashed": "╌╌╌╌▶", "dotted": "┈┈┈┈▶"}

_SVG_OPEN = re.compile(r"<svg\b[^>]*>")


def to_svg(scene: Scene) -> str:
    """SVG with a root `<title>`/`<desc>` (the scene's description) for screen readers.

    Raises InputError when Graphviz's `dot` is not installed."""
    try:
        svg = str(to_dot(scene).pipe(format="svg", encoding="utf-8"))
    except graphviz.ExecutableNotFound:
        raise InputError(
            "diagram",
            "Graphviz's dot",
            "not found on PATH; install it (apt-get install graphviz) or use --format mermaid",
        ) from None
    opening = _SVG_OPEN.search(svg)
    if opening is None:  # dot always writes one; refuse rather than write a broken file
        raise InputError("diagram", "dot's output", "has no <svg> element")
    tag = opening.group(0)
    accessible = (
        tag[:-1]
        + ' role="img" aria-labelledby="diagram_title diagram_desc"'
        + f" xml:lang={quoteattr(text(scene.words, 'svg.lang'))}>"
        + f'\n<title id="diagram_title">{xml_escape(f"{scene.title}: {scene.subtitle}")}</title>'
        + f'\n<desc id="diagram_desc">{xml_escape(scene.description)}</desc>'
    )
    return svg[: opening.start()] + accessible + svg[opening.end() :]
