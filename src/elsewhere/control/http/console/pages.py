"""The console's pages (GET): deployments, one deployment and its diagram, hosts, results,
the ledger and one entry with its in-browser proof check, the architecture, the operator view,
and the static assets. Every page needs a session of the right kind (signin.py)."""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ElementTree
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from elsewhere.control.http.console import language, views
from elsewhere.control.http.console.render import HEADERS, STATIC, ConsoleRoute, page
from elsewhere.control.http.console.scripts import script_messages
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
from elsewhere.diagram.labels import translated
from elsewhere.diagram.model import Level, View
from elsewhere.diagram.scene import Scene, build_scene
from elsewhere.errors import InputError, NotFound
from elsewhere.i18n import LANGUAGES, N_, _, current

router = APIRouter(prefix="/ui", route_class=ConsoleRoute, include_in_schema=False)

ASSETS = {"console.css": "text/css; charset=utf-8", "ledger.js": "text/javascript; charset=utf-8"}
# The architecture page's choices, named for the reader (the values stay the model's ids).
LEVEL_NAMES = {
    Level.CONTEXT: N_("context"),
    Level.CONTAINERS: N_("containers"),
    Level.COMPONENTS: N_("components"),
}
VIEW_NAMES = {
    View.SECURITY: N_("security"),
    View.OPERATIONS: N_("operations"),
    View.LEGAL: N_("legal"),
}
_SVG_START = re.compile(r"<svg\b")


def inline_svg(scene: Scene) -> str:
    """The scene's SVG without its XML prolog, to place in a page. Its words include names
    hosts chose; dot escapes text, and the result is refused if it holds anything active."""
    svg = to_svg(scene)
    found = _SVG_START.search(svg)
    if found is None:
        raise InputError(N_("diagram"), "dot's output", N_("has no <svg> element"))
    for element in ElementTree.fromstring(svg).iter():
        tag = element.tag.rsplit("}", 1)[-1]
        active = any(name.lower().startswith("on") for name in element.attrib)
        links = [v for k, v in element.attrib.items() if k.endswith("href")]
        if tag in ("script", "foreignObject") or active or any(":" in v for v in links):
            raise InputError(N_("diagram"), tag, N_("active content in the drawing; refused"))
    return svg[found.start() :]


@functools.lru_cache(maxsize=len(Level) * len(View) * len(LANGUAGES))
def _architecture_svg(level: Level, view: View, lang: str) -> tuple[Scene, str]:
    """Drawn once per level, view and language (`lang` is the cache's key: the labels are
    the current language's, translated())."""
    scene = build_scene(ELSEWHERE, level, view, translated())
    return scene, inline_svg(scene)


@router.get("/language/{lang}")
def switch_language(request: Request, lang: str, next: str = "/ui") -> Response:
    """The language switch on every page: remembers the choice, back to where it was made."""
    chosen = language.checked_language(lang)
    response = RedirectResponse(language.back_to(next), status_code=303, headers=HEADERS)
    language.remember(response, request, chosen)
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(N_("console asset"))
    return Response((STATIC / name).read_bytes(), media_type=ASSETS[name], headers=HEADERS)


@router.get("/deployments", response_class=HTMLResponse)
def deployment_list(request: Request, cp: Plane, session: TenantSession) -> HTMLResponse:
    rows = views.deployments(cp, session.credential)
    return page(request, "deployments.html", _("Deployments"), session=session, rows=rows)


@router.get("/deployments/{deployment_id}", response_class=HTMLResponse)
def deployment(
    request: Request, cp: Plane, session: TenantSession, deployment_id: str
) -> HTMLResponse:
    view = views.deployment(cp, session.credential, deployment_id)
    platforms = {d["id"]: views.platform(d["claims"]) for d in view["decisions"]}
    return page(
        request,
        "deployment.html",
        _("Deployment {id}").format(id=view["id"]),
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
    scene = deployment_scene(views.for_reader(snapshot), translated())
    return page(
        request,
        "diagram.html",
        _("Diagram of deployment {id}").format(id=snapshot.id),
        session=session,
        scene=scene,
        svg=inline_svg(scene),
        back=f"/ui/deployments/{snapshot.id}",
    )


@router.get("/hosts", response_class=HTMLResponse)
def hosts(request: Request, cp: Plane, session: TenantSession) -> HTMLResponse:
    rows = views.hosts_touched(cp, session.credential)
    title = _("Hosts your work touched")
    return page(request, "hosts.html", title, session=session, rows=rows)


@router.get("/results", response_class=HTMLResponse)
def results(request: Request, cp: Plane, session: TenantSession) -> HTMLResponse:
    shown = [
        views.deployment(cp, session.credential, d["id"])
        for d in views.deployments(cp, session.credential)
    ]
    return page(request, "results.html", _("Results"), session=session, deployments=shown)


@router.get("/ledger", response_class=HTMLResponse)
def ledger(request: Request, cp: Plane, session: TenantSession) -> HTMLResponse:
    rows, start = views.ledger_entries(cp, session.credential)
    return page(
        request, "ledger.html", _("Your ledger entries"), session=session, rows=rows, start=start
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
        raise InputError(N_("leaf"), repr(leaf[:20]), N_("not 64 lowercase hex digits"))
    entry = views.ledger_entry(cp, session.credential, views.checked_index(index))
    return page(
        request,
        "entry.html",
        _("Ledger entry #{index}").format(index=entry.index),
        session=session,
        entry=entry,
        expected_leaf=leaf,
        script_messages=script_messages(),
    )


@router.get("/architecture", response_class=HTMLResponse)
def architecture(
    request: Request,
    cp: Plane,
    level: Annotated[Level, Query()] = Level.CONTAINERS,
    view: Annotated[View, Query()] = View.SECURITY,
) -> HTMLResponse:
    session = current_session(request, cp)  # either kind may read the architecture
    scene, svg = _architecture_svg(level, view, current())
    return page(
        request,
        "architecture.html",
        _("Architecture"),
        session=session,
        scene=scene,
        svg=svg,
        levels=list(Level),
        views=list(View),
        level=level,
        view=view,
        level_names=LEVEL_NAMES,
        view_names=VIEW_NAMES,
    )


@router.get("/operator", response_class=HTMLResponse)
def operator(request: Request, cp: Plane, session: OperatorSession) -> HTMLResponse:
    rows = views.operator_hosts(cp, session.credential)
    return page(request, "operator.html", _("Operator: hosts"), session=session, rows=rows)


@router.get("/{rest:path}", response_class=HTMLResponse)
def unknown(rest: str) -> HTMLResponse:
    raise NotFound(N_("console page {path}").format(path=f"/ui/{rest[:60]}"))
