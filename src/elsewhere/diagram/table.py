"""The text alternative: the same scene as two Markdown tables (parts, then flows), for
readers who cannot or would rather not read the picture, and for screen readers."""

from __future__ import annotations

from elsewhere.diagram.labels import text
from elsewhere.diagram.scene import Scene


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _with_tooltip(details: tuple[str, ...], tooltip: str) -> tuple[str, ...]:
    # A part or flow's tooltip (a ledger entry, in deployment diagrams) is content too.
    return (*details, tooltip) if tooltip and tooltip not in details else details


def to_table(scene: Scene) -> str:
    words = scene.words
    groups = {g.id: g.label for g in scene.groups}
    names = {n.id: n.name for n in scene.nodes}
    out = [f"**{scene.title}**: {scene.subtitle}", ""]
    what = text(words, f"table.view.{scene.view}")
    out += [_row([text(words, "table.part"), text(words, "table.where"), what]), "|---|---|---|"]
    for n in scene.nodes:
        out.append(_row([n.name, groups[n.group], "; ".join(_with_tooltip(n.details, n.tooltip))]))
    out += [
        "",
        _row(
            [
                text(words, "table.from"),
                text(words, "table.data"),
                text(words, "table.to"),
                what,
            ]
        ),
        "|---|---|---|---|",
    ]
    for e in scene.edges:
        out.append(
            _row(
                [
                    names[e.source],
                    e.label,
                    names[e.target],
                    "; ".join(_with_tooltip(e.details, e.tooltip)),
                ]
            )
        )
    return "\n".join(out) + "\n"
