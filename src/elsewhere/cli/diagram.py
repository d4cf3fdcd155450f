"""`elsewhere diagram`: the architecture as Elsewhere's own model draws it.

`architecture` prints one level and view (SVG, Mermaid, DOT or a text table); `publish`
writes (or, with --check, checks) the SVGs under docs/architecture/ and the README's block.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from elsewhere.cli.exitcodes import EXIT_OK, EXIT_REFUSED
from elsewhere.errors import InputError
from elsewhere.i18n import _, localize

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


def _architecture(args: argparse.Namespace) -> int:
    from elsewhere.diagram import ELSEWHERE
    from elsewhere.diagram.dot import to_dot, to_svg
    from elsewhere.diagram.labels import translated
    from elsewhere.diagram.mermaid import to_mermaid
    from elsewhere.diagram.model import Level, View
    from elsewhere.diagram.scene import build_scene
    from elsewhere.diagram.table import to_table

    scene = build_scene(ELSEWHERE, Level(args.level), View(args.view), translated())
    if args.format == "svg":
        out = to_svg(scene)
    elif args.format == "mermaid":
        out = to_mermaid(scene)
    elif args.format == "dot":
        out = to_dot(scene).source
    else:
        out = to_table(scene)
    if args.output is None:
        sys.stdout.write(out)
        return EXIT_OK
    try:
        args.output.write_text(out, encoding="utf-8")
    except OSError as error:
        raise InputError(str(args.output), "write", str(error.strerror)) from None
    print(
        _("wrote {path} ({level}, {view}, {format})").format(
            path=args.output, level=args.level, view=args.view, format=args.format
        ),
        file=sys.stderr,
    )
    return EXIT_OK


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
