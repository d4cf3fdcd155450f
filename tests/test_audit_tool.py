"""tools/audit.py: pip-audit over the lock fails on a known vulnerability, warns (and passes)
when the database cannot be reached, and fails when pip-audit itself breaks."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_tool", ROOT / "tools" / "audit.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


AUDIT = _tool()

# pip-audit 2.x `--format json` for a lock with one vulnerable pin (urllib3 1.26.4's
# CVE-2021-33503), one clean pin and one it could not look up.
VULNERABLE = {
    "dependencies": [
        {
            "name": "urllib3",
            "version": "1.26.4",
            "vulns": [
                {
                    "id": "PYSEC-2021-108",
                    "fix_versions": ["1.26.5"],
                    "aliases": ["CVE-2021-33503", "GHSA-q2q7-5pp4-w6pg"],
                    "description": "catastrophic backtracking in the URL authority regex",
                }
            ],
        },
        {"name": "idna", "version": "3.10", "vulns": []},
        {"name": "private-pkg", "skip_reason": "Dependency not found on PyPI and could not be"
         " audited: private-pkg (1.0)"},
    ],
    "fixes": [],
}  # fmt: skip


def test_a_known_vulnerability_fails_and_names_the_fix() -> None:
    code, lines = AUDIT.judge(1, json.dumps(VULNERABLE), "Found 1 known vulnerability")
    assert code == 1
    assert lines[0] == (
        "audit: urllib3 1.26.4: PYSEC-2021-108 (CVE-2021-33503, GHSA-q2q7-5pp4-w6pg); "
        "fixed in 1.26.5"
    )
    assert any("1 of 3 packages could not be checked" in line for line in lines)
    assert lines[-1].startswith("audit: FAILED: 1 locked packages")


def test_a_clean_lock_passes_and_says_how_much_was_checked() -> None:
    clean = {"dependencies": VULNERABLE["dependencies"][1:2], "fixes": []}
    assert AUDIT.judge(0, json.dumps(clean), "") == (
        0,
        ["audit: no known vulnerabilities in the 1 packages checked"],
    )


def test_no_database_answer_warns_and_passes() -> None:
    offline = "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='pypi.org'): Max"
    code, lines = AUDIT.judge(1, "", "Traceback ...\n" + offline)
    assert code == 0 and lines[0].startswith("WARNING: audit: vulnerability database unreachable")
    unknown = {"dependencies": VULNERABLE["dependencies"][2:], "fixes": []}
    code, lines = AUDIT.judge(0, json.dumps(unknown), "")
    assert code == 0 and "answered for none of the 1 packages, NOT audited" in lines[0]


def test_pip_audit_breaking_otherwise_fails() -> None:
    code, lines = AUDIT.judge(2, "", "ERROR: requirement is not pinned: foo>=1")
    assert code == 2 and lines == [
        "audit: pip-audit failed (exit 2): ERROR: requirement is not pinned: foo>=1"
    ]


def test_the_real_pip_audit_with_the_network_unreachable_warns(tmp_path: Path) -> None:
    """The wrapper around the real pip-audit, its service behind a proxy that refuses: a
    WARNING line and exit 0, within one generous timeout."""
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "idna==3.10 \\\n"
        "    --hash=sha256:946d195a0d259cbba61165e88e65941f16e9b36ea6ddb97f00452bae8b1287d3\n"
    )
    env = os.environ | {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "audit.py"), str(lock)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("WARNING: audit: vulnerability database unreachable")
    assert len(done.stderr.strip().splitlines()) == 1
