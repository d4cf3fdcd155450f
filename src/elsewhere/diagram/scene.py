"""From the model to what a drawing shows: the parts, groups and flows of one level and view,
with every word already chosen. Both renderers (`dot`, `mermaid`) and the text table draw the
same scene, so they cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass, replace

from elsewhere.diagram.labels import ENGLISH, Catalogue, text
from elsewhere.diagram.model import (
    STRENGTH,
    UNIT_PARENT,
    UNIT_TRUST,
    Component,
    Flow,
    Kind,
    Level,
    Model,
    Protection,
    Provenance,
    Strength,
    Trust,
    Unit,
    View,
)


@dataclass(frozen=True)
class Node:
    id: str
    name: str  # with its provenance badge
    details: tuple[str, ...]
    provenance: Provenance
    store: bool
    group: str
    link: str = ""  # where the part links to (a ledger entry), "" for none
    tooltip: str = ""


@dataclass(frozen=True)
class Group:
    id: str
    label: str
    parent: str | None
    trust: Trust | None  # None: a neutral frame (legal view)


@dataclass(frozen=True)
class Edge:
    id: str
    source: str
    target: str
    label: str  # with its strength badge
    details: tuple[str, ...]
    strength: Strength
    link: str = ""  # the ledger entry that allowed the flow, "" for none
    tooltip: str = ""
    back: bool = False  # laid out from target to source (an answer), arrow still to target


@dataclass(frozen=True)
class Scene:
    level: Level
    view: View
    title: str
    subtitle: str
    sentences: tuple[str, ...]  # the long description, one sentence per part and per flow
    groups: tuple[Group, ...]
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    provenances: tuple[Provenance, ...]  # present, in legend order
    strengths: tuple[Strength, ...]
    zones: tuple[Trust, ...]  # trust frames drawn, in legend order (none in the legal view)
    words: Catalogue

    @property
    def description(self) -> str:
        return " ".join(self.sentences)


def _node_details(c: Component, view: View, words: Catalogue) -> tuple[str, ...]:
    role = text(words, f"component.{c.id}.role")
    if view is View.SECURITY:
        lines = [role, text(words, "trust_line", trust=text(words, f"trust.{c.trust}"))]
        if c.at_rest is not None:
            lines.append(text(words, "at_rest", protection=text(words, f"protection.{c.at_rest}")))
        if c.in_use is not None:
            lines.append(text(words, "in_use", protection=text(words, f"protection.{c.in_use}")))
        return tuple(lines)
    if view is View.LEGAL:
        if not c.licence:  # people and organisations have no licence
            return (role,)
        return (role, text(words, "licence", licence=c.licence))
    return (role,)


def _edge_details(f: Flow, view: View, words: Catalogue) -> tuple[str, ...]:
    if view is View.SECURITY:
        lines = [text(words, f"protection.{f.protection}")]
        if f.channel_protection not in (f.protection, Protection.IN_PROCESS):
            channel = text(words, f"protection.{f.channel_protection}")
            lines.append(f"{text(words, f'channel.{f.channel}')}: {channel}")
        return tuple(lines)
    if view is View.LEGAL:
        return (text(words, f"data.{f.data}"),)
    channel = text(words, f"channel.{f.channel}")
    if f.channel_protection is Protection.IN_PROCESS:
        return (channel,)
    return (f"{channel}: {text(words, f'protection.{f.channel_protection}')}",)


def _groups(model: Model, view: View, words: Catalogue) -> tuple[Group, ...]:
    if view is View.LEGAL:
        present = [p for p in Provenance if any(c.provenance is p for c in model.components)]
        return tuple(
            Group(f"prov_{p.value}", text(words, f"provenance.{p}"), None, None) for p in present
        )
    units = {c.unit for c in model.components}
    units |= {UNIT_PARENT[u] for u in units if u in UNIT_PARENT}
    key = "zone" if view is View.SECURITY else "unit"
    return tuple(
        Group(
            f"unit_{u.value.replace('-', '_')}",
            text(words, f"{key}.{u}"),
            f"unit_{UNIT_PARENT[u].value.replace('-', '_')}" if u in UNIT_PARENT else None,
            UNIT_TRUST[u],
        )
        for u in sorted(units, key=list(Unit).index)
    )


def build_scene(model: Model, level: Level, view: View, words: Catalogue = ENGLISH) -> Scene:
    """The scene of `model` at `level` for `view`, labelled from `words`."""
    shown = model.at(level)
    nodes = tuple(
        Node(
            c.id,
            f"{text(words, f'badge.{c.provenance}')} {text(words, f'component.{c.id}')}",
            _node_details(c, view, words),
            c.provenance,
            c.kind is Kind.STORE,
            f"prov_{c.provenance.value}"
            if view is View.LEGAL
            else f"unit_{c.unit.value.replace('-', '_')}",
        )
        for c in shown.components
    )
    edges = tuple(
        Edge(
            f.id,
            f.source,
            f.target,
            f"{text(words, f'badge.{STRENGTH[f.protection]}')} {text(words, f'flow.{f.id}')}",
            _edge_details(f, view, words),
            STRENGTH[f.protection],
        )
        for f in shown.flows
    )
    groups = _groups(shown, view, words)
    title = text(words, "title")
    subtitle = f"{text(words, f'level.{level}')}; {text(words, f'view.{view}')}"
    scene = Scene(
        level,
        view,
        title,
        subtitle,
        (),
        groups,
        nodes,
        edges,
        tuple(p for p in Provenance if any(n.provenance is p for n in nodes)),
        tuple(s for s in Strength if any(e.strength is s for e in edges)),
        tuple(t for t in Trust if any(g.trust is t for g in groups)),
        words,
    )
    return described(scene)


def described(scene: Scene) -> Scene:
    """The scene with its long description: every part and every flow in one sentence each,
    generated from the same scene so the text alternative says what the picture shows."""
    words = scene.words
    names = {n.id: n.name for n in scene.nodes}
    sentences = [
        text(
            words,
            "desc.intro",
            title=scene.title,
            level=text(words, f"level.{scene.level}"),
            view=text(words, f"view.{scene.view}"),
            parts=len(scene.nodes),
            flows=len(scene.edges),
        )
    ]
    groups = {g.id: g.label for g in scene.groups}
    for n in scene.nodes:
        sentences.append(
            text(words, "desc.part", name=n.name, group=groups[n.group], note="; ".join(n.details))
        )
    for e in scene.edges:
        sentences.append(
            text(
                words,
                "desc.flow",
                source=names[e.source],
                data=e.label,
                target=names[e.target],
                note="; ".join(e.details),
            )
        )
    return replace(scene, sentences=tuple(sentences))
