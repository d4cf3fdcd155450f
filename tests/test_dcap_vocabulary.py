"""One place per constant (#14 item 5, #13): Intel's status strings and the platform families
are defined in elsewhere.claims; the verifier and policy read them from there."""

from __future__ import annotations

import ast
from pathlib import Path

from elsewhere import claims
from elsewhere.evidence.dcap import schema, tcb

SRC = Path(claims.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_policy_does_not_import_the_verifiers() -> None:
    for path in sorted((SRC / "policy").glob("*.py")):
        evidence = {m for m in _imports(path) if m.startswith("elsewhere.evidence")}
        assert not evidence, f"{path.name} imports {evidence}: use elsewhere.claims"


def test_tcb_names_are_the_claims_strings() -> None:
    names = (tcb.UP_TO_DATE, tcb.SW_HARDENING, tcb.CONFIG, tcb.CONFIG_SW, tcb.OUT_OF_DATE,
             tcb.OUT_OF_DATE_CONFIG, tcb.RELAUNCH, tcb.RELAUNCH_CONFIG, tcb.REVOKED)  # fmt: skip
    assert names == claims.INTEL_TCB_STATUSES
    assert all(a is b for a, b in zip(names, claims.INTEL_TCB_STATUSES, strict=True))
    assert schema.INTEL_LEVEL_STATUSES is claims.INTEL_LEVEL_STATUSES


def test_dcap_sources_define_no_status_string_of_their_own() -> None:
    """No module under evidence/dcap spells an Intel status; each reads claims.py."""
    for path in sorted((SRC / "evidence" / "dcap").glob("*.py")):
        literals = {
            node.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        spelled = literals & set(claims.INTEL_TCB_STATUSES)
        assert not spelled, f"{path.name} spells {sorted(spelled)}"
