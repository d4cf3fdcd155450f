"""`elsewhere diagram`: the architecture as Elsewhere's own model draws it, and one deployment
as the control plane and its ledger record it.

`architecture` prints one level and view (SVG, Mermaid, DOT or a text table); `publish`
writes (or, with --check, checks) the SVGs under docs/architecture/ and the README's block;
`deployment` draws one of the caller's deployments through the API (tenant token).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.cli.serve import add_client_args, client
from elsewhere.errors import InputError
from elsewhere.i18n import _, localize

if TYPE_CHECKING:
    from elsewhere.diagram.scene import Scene

FORMATS = ("svg", "mermaid", "dot", "table")


def register(commands: Any) -> None:
    from elsewhere.diagram.model import Level, View

    group = commands.add_parser("diagram", help=_("diagrams of Elsewhere's own architecture"))
    sub = group.add_subparsers(title=_("diagram commands"), metavar="COMMAND")

    arch = sub.add_parser(
        "architecture",
        help=_("every part, its provenance and trust, and what protects each data flow"),
        description=_(
            "Draw the component model (src/elsewhere/diagram/) at one level and for "
            "one audience. SVG needs Graphviz's dot; Mermaid, DOT and the text table do not."
        ),
    )
    arch.add_argument(
        "--level",
        choices=[level.value for level in Level],
        default=Level.CONTAINERS.value,
        help=_(
            "zoom: the system and its people, processes and stores, or packages "
            "(default containers)"
        ),
    )
    arch.add_argument(
        "--view",
        choices=[view.value for view in View],
        default=View.SECURITY.value,
        help=_(
            "security: trust zones and protection; operations: where parts run and how "
            "data travels; legal: provenance, licences, data categories (default security)"
        ),
    )
    arch.add_argument("--format", choices=FORMATS, default="svg", help=_("default svg"))
    arch.add_argument("-o", "--output", type=Path, help=_("write to this file (default stdout)"))
    arch.set_defaults(handler=_architecture)

    publish = sub.add_parser(
        "publish",
        help=_("write every level and view under docs/architecture/ and the README's diagram"),
        description=_(
            "Regenerate docs/architecture/*.svg, docs/architecture/README.md (the "
            "text alternatives) and the README's block between its diagram markers. With "
            "--check, write nothing and exit 1 when any of them is stale. With --lang ja, "
            "the labels are Japanese (README.ja.md, docs/ja/architecture)."
        ),
    )
    publish.add_argument("--readme", type=Path, default=Path("README.md"))
    publish.add_argument("--dir", type=Path, default=Path("docs/architecture"))
    publish.add_argument("--check", action="store_true", help=_("report stale files, exit 1"))
    publish.set_defaults(handler=_publish)

    deployment = sub.add_parser(
        "deployment",
        help="one deployment: each host's verdict, each keep, each flow, linked to the ledger",
        description="Draw one of your deployments from the control plane's state and its "
        "ledger (through the API, with your tenant token): the hosts with their TEE and "
        "verdict (refusals with the rule), the keeps, and the flows that happened, each linked "
        "to the ledger entry (index and leaf hash) that allowed it.",
    )
    deployment.add_argument("deployment", help="deployment id (dep_…)")
    deployment.add_argument("--format", choices=FORMATS, default="svg", help="default svg")
    deployment.add_argument("-o", "--output", type=Path, help="write to this file (default stdout)")
    deployment.add_argument(
        "--link-base",
        help="URL the ledger links start with (default: the control plane's console, --control)",
    )
    add_client_args(deployment)
    deployment.set_defaults(handler=_deployment)


def _architecture(args: argparse.Namespace) -> int:
    from elsewhere.diagram import ELSEWHERE
    from elsewhere.diagram.labels import translated
    from elsewhere.diagram.model import Level, View
    from elsewhere.diagram.scene import build_scene

    scene = build_scene(ELSEWHERE, Level(args.level), View(args.view), translated())
    return _emit(scene, args, f"{args.level}, {args.view}, {args.format}")


def render(scene: Scene, form: str) -> str:
    """The scene in one of FORMATS."""
    from elsewhere.diagram.dot import to_dot, to_svg
    from elsewhere.diagram.mermaid import to_mermaid
    from elsewhere.diagram.table import to_table

    if form == "svg":
        return to_svg(scene)
    if form == "mermaid":
        return to_mermaid(scene)
    if form == "dot":
        return str(to_dot(scene).source)
    return to_table(scene)


def _emit(scene: Scene, args: argparse.Namespace, what: str) -> int:
    out = render(scene, args.format)
    if args.output is None:
        sys.stdout.write(out)
        return EXIT_OK
    try:
        args.output.write_text(out, encoding="utf-8")
    except OSError as error:
        raise InputError(str(args.output), "write", str(error.strerror)) from None
    print(_("wrote {path} ({what})").format(path=args.output, what=what), file=sys.stderr)
    return EXIT_OK


def _deployment(args: argparse.Namespace) -> int:
    from elsewhere.diagram.deployment import snapshot_from_view, wanted_indexes
    from elsewhere.diagram.deployment_scene import console_link, deployment_scene
    from elsewhere.host.client import ApiFailure
    from elsewhere.ledger.bundle import parse_bundle

    base = (args.link_base or args.control).rstrip("/")
    with client(args) as api:
        view = api.deployment(args.deployment)
        tenant = str(api.json("GET", "/v1/whoami").get("name") or "").removeprefix("tenant ")
        entries: dict[int, bytes] = {}
        for index in wanted_indexes(view):
            try:
                bundle = parse_bundle(api.ledger_bundle(index))
            except ApiFailure as failure:
                if failure.status == 404:  # not the caller's entry (or not yet written)
                    continue
                raise
            if bundle.entry is not None:
                entries[index] = bundle.entry
    snapshot = snapshot_from_view(view, tenant, entries)
    scene = deployment_scene(snapshot, link=lambda ref: base + console_link(ref))
    return _emit(scene, args, f"deployment {snapshot.id}, {args.format}")


def _publish(args: argparse.Namespace) -> int:
    from elsewhere.diagram.labels import translated
    from elsewhere.diagram.publish import stale, write

    words = translated()  # --lang ja: Japanese labels (README.ja.md, docs/ja/architecture)
    if args.check:
        found = stale(args.readme, args.dir, words)
        for line in found:
            print(f"elsewhere: {localize(line)}", file=sys.stderr)
        return EXIT_REFUSED if found else EXIT_OK
    for path in write(args.readme, args.dir, words):
        print(_("wrote {path}").format(path=path), file=sys.stderr)
    return EXIT_OK
