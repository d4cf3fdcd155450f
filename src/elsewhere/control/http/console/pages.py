"""The console's pages (GET): deployments, one deployment and its diagram, hosts, results,
the ledger and one entry with its in-browser proof check, the architecture, the operator view,
and the static assets. Every page needs a session of the right kind (signin.py)."""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ElementTree
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from elsewhere.control.http.console import views
from elsewhere.control.http.console.render import HEADERS, STATIC, ConsoleRoute, page
from elsewhere.control.http.console.signin import (
    OperatorSession,
    TenantSession,
    current_session,
)
from elsewhere.control.http.deps import Plane
from elsewhere.control.tenancy.picture import deployment_snapshot
from elsewhere.diagram import ELSEWHERE
from elsewhere.diagram.deployment_scene import deployment_scene
from elsewhere.diagram.dot import to_svg
from elsewhere.diagram.model import Level, View
from elsewhere.diagram.scene import Scene, build_scene
from elsewhere.errors import InputError, NotFound

router = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)

ASSETS = {"console.css": "text/css; charset=utf-8", "ledger.js": "text/javascript; charset=utf-8"}
_SVG_START = re.compile(r"<svg\b")


def inline_svg(scene: Scene) -> str:
    """The scene's SVG without its XML prolog, to place in a page. Its words include names
    hosts chose; dot escapes text, and the result is refused if it holds anything active."""
    svg = to_svg(scene)
    found = _SVG_START.search(svg)
    if found is None:
        raise InputError("diagram", "dot's output", "has no <svg> element")
    for element in ElementTree.fromstring(svg).iter():
        tag = element.tag.rsplit("}", 1)[-1]
        active = any(name.lower().startswith("on") for name in element.attrib)
        links = [v for k, v in element.attrib.items() if k.endswith("href")]
        if tag in ("script", "foreignObject") or active or any(":" in v for v in links):
            raise InputError("diagram", tag, "active content in the drawing; refused")
    return svg[found.start() :]


@functools.lru_cache(maxsize=len(Level) * len(View))
def _architecture_svg(level: Level, view: View) -> tuple[Scene, str]:
    scene = build_scene(ELSEWHERE, level, view)
    return scene, inline_svg(scene)


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound("console asset")
    return Response((STATIC / name).read_bytes(), media_type=ASSETS[name], headers=HEADERS)


@router.get("/deployments", response_class=HTMLResponse)
def deployment_list(request: Request, cp: Plane, session: TenantSession) -> HTMLResponse:
    rows = views.deployments(cp, session.credential)
    return page(request, "deployments.html", "Deployments", session=session, rows=rows)


@router.get("/deployments/{deployment_id}", response_class=HTMLResponse)
def deployment(
    request: Request, cp: Plane, session: TenantSession, deployment_id: str
) -> HTMLResponse:
    view = views.deployment(cp, session.credential, deployment_id)
    platforms = {d["id"]: views.platform(d["claims"]) for d in view["decisions"]}
    return page(
        request,
        "deployment.html",
        f"Deployment {view['id']}",
        session=session,
        view=view,
        platforms=platforms,
    )


@router.get("/deployments/{deployment_id}/diagram", response_class=HTMLResponse)
def deployment_diagram(
    request: Request, cp: Plane, session: TenantSession, deployment_id: str
) -> HTMLResponse:
    checked = views.checked_deployment(deployment_id)
    snapshot = deployment_snapshot(cp.engine, cp.ledger, str(session.credential.subject), checked)
    if snapshot is None:
        raise NotFound("deployment")
    scene = deployment_scene(snapshot)
    return page(
        request,
        "diagram.html",
        f"Diagram of deployment {snapshot.id}",
        session=session,
        scene=scene,
        svg=inline_svg(scene),
        back=f"/ui/deployments/{snapshot.id}",
    )


@router.get("/hosts", response_class=HTMLResponse)
def hosts(request: Request, cp: Plane, session: TenantSession) -> HTMLResponse:
    rows = views.hosts_touched(cp, session.credential)
    return page(request, "hosts.html", "Hosts your work touched", session=session, rows=rows)


@router.get("/results", response_class=HTMLResponse)
def results(request: Request, cp: Plane, session: TenantSession) -> HTMLResponse:
    shown = [
        views.deployment(cp, session.credential, d["id"])
        for d in views.deployments(cp, session.credential)
    ]
    return page(request, "results.html", "Results", session=session, deployments=shown)


@router.get("/ledger", response_class=HTMLResponse)
def ledger(request: Request, cp: Plane, session: TenantSession) -> HTMLResponse:
    rows, start = views.ledger_entries(cp, session.credential)
    return page(
        request, "ledger.html", "Your ledger entries", session=session, rows=rows, start=start
    )


@router.get("/ledger/{index}", response_class=HTMLResponse)
def ledger_entry(
    request: Request,
    cp: Plane,
    session: TenantSession,
    index: str,
    leaf: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    if leaf and not re.fullmatch(r"[0-9a-f]{64}", leaf):
        raise InputError("leaf", repr(leaf[:20]), "not 64 lowercase hex digits")
    entry = views.ledger_entry(cp, session.credential, views.checked_index(index))
    return page(
        request,
        "entry.html",
        f"Ledger entry #{entry.index}",
        session=session,
        entry=entry,
        expected_leaf=leaf,
    )


@router.get("/architecture", response_class=HTMLResponse)
def architecture(
    request: Request,
    cp: Plane,
    level: Annotated[Level, Query()] = Level.CONTAINERS,
    view: Annotated[View, Query()] = View.SECURITY,
) -> HTMLResponse:
    session = current_session(request, cp)  # either kind may read the architecture
    scene, svg = _architecture_svg(level, view)
    return page(
        request,
        "architecture.html",
        "Architecture",
        session=session,
        scene=scene,
        svg=svg,
        levels=list(Level),
        views=list(View),
        level=level,
        view=view,
    )


@router.get("/operator", response_class=HTMLResponse)
def operator(request: Request, cp: Plane, session: OperatorSession) -> HTMLResponse:
    rows = views.operator_hosts(cp, session.credential)
    return page(request, "operator.html", "Operator: hosts", session=session, rows=rows)


@router.get("/{rest:path}", response_class=HTMLResponse)
def unknown(rest: str) -> HTMLResponse:
    raise NotFound(f"console page /ui/{rest[:60]}")
