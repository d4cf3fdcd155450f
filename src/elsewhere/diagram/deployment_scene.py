"""A deployment as a scene (pure): the tenant, the control plane, each host with its TEE,
generation and verdict, each keep, and the flows that happened, every flow and host linked to
the ledger entry that allowed it. Drawn by the same renderers and legend as the architecture.
"""

from __future__ import annotations

from collections.abc import Callable

from elsewhere.diagram.deployment import Attestation, DeploymentSnapshot, Keep, LedgerRef
from elsewhere.diagram.labels import ENGLISH, Catalogue, text
from elsewhere.diagram.model import Level, Provenance, Strength, Trust, View
from elsewhere.diagram.scene import Edge, Group, Node, Scene, described

Linker = Callable[[LedgerRef], str]


def console_link(ref: LedgerRef) -> str:
    """The console's page for an entry; the leaf hash rides along so the page can compare."""
    return f"/ui/ledger/{ref.index}?leaf={ref.leaf_hash}"


def _ref_text(words: Catalogue, ref: LedgerRef | None) -> str:
    if ref is None:
        return text(words, "deploy.unlinked")
    return text(words, "deploy.ledger", index=ref.index, kind=ref.kind, leaf=ref.leaf_hash)


def _platform(words: Catalogue, a: Attestation) -> str:
    if a.tee == "nil":
        return text(words, "deploy.nil")
    name = " ".join(p for p in (a.vendor, a.generation) if p) or text(words, "deploy.unknown")
    platform = f"{name} ({a.tee or text(words, 'deploy.unknown')})"
    return text(words, "deploy.emulated", platform=platform) if a.emulated else platform


def _verdict(words: Catalogue, a: Attestation) -> str:
    if a.accepted:
        return text(words, "deploy.accepted")
    return text(words, "deploy.refused", rule="; ".join(a.reasons) or a.verdict)


class _Builder:
    def __init__(self, snapshot: DeploymentSnapshot, words: Catalogue, link: Linker) -> None:
        self.s, self.words, self.link = snapshot, words, link
        self.groups: list[Group] = []
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []

    def t(self, key: str, **values: object) -> str:
        return text(self.words, key, **values)

    def linked(self, ref: LedgerRef | None) -> tuple[str, str]:
        return (self.link(ref) if ref else "", _ref_text(self.words, ref))

    def edge(
        self,
        source: str,
        target: str,
        label: str,
        details: tuple[str, ...],
        strength: Strength,
        ref: LedgerRef | None,
        back: bool = False,
    ) -> None:
        link, tip = self.linked(ref)
        badge = self.t(f"badge.{strength}")
        edge_id = f"e{len(self.edges)}"
        # The drawn label names the entry by index; its leaf hash is in the link and tooltip.
        short = (*details, self.t("deploy.ledger.short", index=ref.index)) if ref else details
        label = f"{badge} {label}"
        self.edges.append(Edge(edge_id, source, target, label, short, strength, link, tip, back))

    def node(self, node: Node) -> None:
        self.nodes.append(node)

    def build(self) -> None:
        s, t = self.s, self.t
        self.groups += [
            Group("unit_tenant", t("zone.tenant"), None, Trust.TRUSTED),
            Group("unit_control_plane", t("zone.control-plane"), None, Trust.TRUSTED),
        ]
        party, own = Provenance.PARTY, Provenance.OWN
        tenant_name = f"{t('badge.party')} {t('deploy.tenant', tenant=s.tenant)}"
        self.node(
            Node("tenant", tenant_name, (t("deploy.tenant.role"),), party, False, "unit_tenant")
        )
        server = f"{t('badge.own')} {t('component.server')}"
        details = (t("deploy.server.role", id=s.id, state=s.state),)
        self.node(Node("server", server, details, own, False, "unit_control_plane"))
        secrets = ", ".join(s.secrets) or t("deploy.none")
        self.edge(
            "tenant",
            "server",
            t("deploy.flow.deploy"),
            (t("deploy.flow.deploy.what", secrets=secrets),),
            Strength.NONE,
            None,
        )
        for number, host in enumerate(s.host_names()):
            self.host(number, host)
        self.edge(
            "server",
            "tenant",
            t("deploy.flow.report"),
            (t("deploy.flow.report.what"),),
            Strength.INTEGRITY,
            None,
            back=True,
        )

    def host(self, number: int, host: str) -> None:
        s, t = self.s, self.t
        seen = [a for a in s.attestations if a.host == host]
        keeps = [k for k in s.keeps if k.host == host]
        group, node_id = f"host_{number}", f"host_{number}"
        self.groups.append(Group(group, t("deploy.zone.host", host=host), None, Trust.UNTRUSTED))
        last = seen[-1] if seen else None
        unprotected = last is None or last.unprotected
        lines = [_platform(self.words, last) if last else t("deploy.unknown")]
        lines += [_verdict(self.words, a) for a in seen]
        if last is not None and last.tcb_status:
            lines.append(t("deploy.tcb", status=last.tcb_status))
        if unprotected:
            lines.append(t("deploy.no_hardware"))
        link, tip = self.linked(last.decision if last else None)
        name = f"{t('badge.own')} {t('deploy.host', host=host)}"
        self.node(Node(node_id, name, tuple(lines), Provenance.OWN, False, group, link, tip))
        for a in seen:
            strength = Strength.NONE if a.unprotected else Strength.INTEGRITY
            protection = "protection.no-hardware" if a.unprotected else "protection.signed"
            self.edge(
                node_id,
                "server",
                t("deploy.flow.evidence", verdict=_verdict(self.words, a)),
                (t(protection),),
                strength,
                a.decision,
                back=True,
            )
        if keeps:
            tee = f"tee_{number}"
            attested = any(a.accepted and not a.unprotected for a in seen)
            label = t("zone.tee") if attested else t("deploy.zone.emulated")
            trust = Trust.ATTESTED if attested else Trust.UNTRUSTED
            self.groups.append(Group(tee, label, group, trust))
            for keep in keeps:
                self.keep(tee, keep)

    def keep(self, group: str, keep: Keep) -> None:
        t = self.t
        allowed = self.s.allowed_by(keep)
        keep_id = f"keep_{keep.placement}"
        lines = [t("deploy.keep.role", state=keep.state, digest=keep.key_digest[:23])]
        if allowed is None or allowed.unprotected:
            lines.append(t("deploy.no_hardware"))
        link, tip = self.linked(allowed.decision if allowed else None)
        name = f"{t('badge.own')} {t('deploy.keep', replica=keep.replica)}"
        self.node(Node(keep_id, name, tuple(lines), Provenance.OWN, False, group, link, tip))
        if allowed is not None and allowed.releases:
            unprotected = allowed.unprotected
            self.edge(
                "server",
                keep_id,
                t("deploy.flow.secrets", count=len(allowed.releases)),
                (t("deploy.flow.secrets.emulated" if unprotected else "protection.hpke-keep"),),
                Strength.NONE if unprotected else Strength.CONFIDENTIAL,
                allowed.releases[0],
            )
        if keep.returned:
            sealed = keep.sealed
            self.edge(
                keep_id,
                "server",
                t("deploy.flow.result"),
                (t("protection.hpke-tenant" if sealed else "protection.clear"),),
                Strength.CONFIDENTIAL if sealed else Strength.NONE,
                allowed.decision if allowed else None,
                back=True,
            )


def deployment_scene(
    snapshot: DeploymentSnapshot, words: Catalogue = ENGLISH, link: Linker = console_link
) -> Scene:
    """The scene of one deployment; `link` makes each ledger reference a URL."""
    builder = _Builder(snapshot, words, link)
    builder.build()
    nodes, edges, groups = tuple(builder.nodes), tuple(builder.edges), tuple(builder.groups)
    scene = Scene(
        Level.CONTAINERS,
        View.SECURITY,
        text(words, "deploy.title", id=snapshot.id),
        text(words, "deploy.subtitle"),
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
