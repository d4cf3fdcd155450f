"""docs/cli.md cannot go stale: its command reference is what the parser generates, every
command with `--json` has its shape documented, and its endpoint table lists exactly the
OpenAPI document's routes with their success status."""

from __future__ import annotations

import re
from pathlib import Path

from elsewhere.cli.reference import full_parser, leaves, rewrite
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.http.app import create_app

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`]*)` \| [^|]+ \| (\d{3}) \|", re.M)


def test_the_command_reference_is_current() -> None:
    text = DOC.read_text()
    assert rewrite(text) == text, "regenerate: python -m elsewhere.cli.reference docs/cli.md"


def test_every_json_command_has_its_shape_documented() -> None:
    shapes = DOC.read_text().split("## JSON shapes", 1)[1].split("\n## ", 1)[0]
    flat = " ".join(shapes.split())
    missing = [
        " ".join(words)
        for words, _, parser in leaves(full_parser())
        if "--json" in parser._option_string_actions
        and f"`elsewhere {' '.join(words)} --json" not in flat
    ]
    assert not missing, f"docs/cli.md, JSON shapes: document {missing}"


def test_the_endpoint_table_is_the_openapi_document(tmp_path: Path) -> None:
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path / "cp", None))
    try:
        spec = create_app(cp, background=False).openapi()
    finally:
        cp.close()
    served = {
        (method.upper(), path): next(code for code in op["responses"] if code.startswith("2"))
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }
    documented = {(m, p): code for m, p, code in ROW.findall(DOC.read_text())}
    assert set(documented) == set(served), (
        f"undocumented: {sorted(set(served) - set(documented))}; "
        f"no such route: {sorted(set(documented) - set(served))}"
    )
    wrong = {route: (documented[route], code) for route, code in served.items()}
    assert all(a == b for a, b in wrong.values()), {r: v for r, v in wrong.items() if v[0] != v[1]}
