"""Diagrams Elsewhere draws of itself: a component model in code (`model`, `parts`, `flows`),
its words (`labels`), a colour-blind-safe palette (`palette`), and renderers to Graphviz SVG
and Mermaid with a text-table alternative (`scene`, `dot`, `mermaid`, `table`)."""

from __future__ import annotations

from elsewhere.diagram.flows import FLOWS
from elsewhere.diagram.model import Model
from elsewhere.diagram.parts import COMPONENTS

ELSEWHERE = Model(COMPONENTS, FLOWS)

__all__ = ["ELSEWHERE"]
