"""How the model is drawn: one style per provenance, per protection strength and per trust zone.

Colours are Okabe-Ito (https://jfly.uni-koeln.de/color/) plus black and greys, chosen so that
every fill and line has at least 3:1 contrast against the white background (WCAG 1.4.11) and
every pair stays apart under simulated deuteranopia and protanopia (tests/test_diagram_palette.py).
Colour is never the only cue (WCAG 1.4.1): each provenance also has its own shape, border and
badge, each strength its own line style and badge, each zone its own border and label.
"""

from __future__ import annotations

from dataclasses import dataclass

from elsewhere.diagram.model import Provenance, Strength, Trust

BACKGROUND = "#FFFFFF"
TEXT = "#000000"


@dataclass(frozen=True)
class PartStyle:
    fill: str
    font: str  # text colour on the fill: ≥ 4.5:1 against it
    shape: str  # Graphviz shape
    border: str  # "solid", "bold", "double" or "dashed": drawn the same way in DOT and Mermaid
    mermaid_open: str  # Mermaid's brackets for the same shape
    mermaid_close: str


PART: dict[Provenance, PartStyle] = {
    Provenance.EXTERNAL: PartStyle("#0072B2", "#FFFFFF", "component", "solid", "[[", "]]"),
    Provenance.OWN: PartStyle("#009E73", "#000000", "box", "bold", "(", ")"),
    Provenance.NEW: PartStyle("#D55E00", "#000000", "hexagon", "double", "{{", "}}"),
    Provenance.PARTY: PartStyle("#555555", "#FFFFFF", "ellipse", "dashed", "([", "])"),
}

STORE_SHAPE = ("cylinder", "[(", ")]")


@dataclass(frozen=True)
class LineStyle:
    colour: str
    style: str  # Graphviz edge style
    width: float
    mermaid_arrow: str
    mermaid_dash: str  # stroke-dasharray, "" for a solid line


STRENGTH_LINE: dict[Strength, LineStyle] = {
    Strength.CONFIDENTIAL: LineStyle("#000000", "bold", 2.5, "==>", ""),
    Strength.INTEGRITY: LineStyle("#0072B2", "solid", 1.5, "-->", ""),
    Strength.NONE: LineStyle("#D55E00", "dashed", 2.0, "-.->", "8 4"),
    Strength.LOCAL: LineStyle("#666666", "dotted", 1.2, "-.->", "2 3"),
}


@dataclass(frozen=True)
class ZoneStyle:
    colour: str
    style: str  # Graphviz cluster style
    width: float
    mermaid_dash: str


ZONE: dict[Trust, ZoneStyle] = {
    Trust.TRUSTED: ZoneStyle("#009E73", "solid", 2.0, ""),
    Trust.ATTESTED: ZoneStyle("#000000", "bold", 3.5, ""),
    Trust.UNTRUSTED: ZoneStyle("#D55E00", "dashed", 2.5, "10 5"),
}
# Legal view groups by provenance, not by trust: one neutral frame.
NEUTRAL_ZONE = ZoneStyle("#555555", "solid", 1.0, "")


def part_colours() -> dict[str, str]:
    """Every colour a part's fill uses, by provenance (for the palette tests)."""
    return {p.value: s.fill for p, s in PART.items()}


def line_colours() -> dict[str, str]:
    return {s.value: line.colour for s, line in STRENGTH_LINE.items()}
