"""Audit a lock file with pip-audit: fail on a known vulnerability, warn when it cannot tell.

    python tools/audit.py requirements/dev.txt [--ignore-vuln ID ...]

pip-audit checks each pinned, hashed requirement against PyPI's vulnerability data
(--disable-pip: no resolution, no install). Exit 1 when a pinned version has a known
vulnerability (each printed on one line with its fixed versions); exit 0 with a WARNING line
when the database cannot be reached or answers for no package (offline, a mirror without the
JSON API) — an audit that could not run is reported, never passed off as clean; exit 2 when
pip-audit itself fails for another reason (bad lock file, not installed).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

# What requests / urllib3 say when the service cannot be reached at all.
_UNREACHABLE = re.compile(
    r"ConnectionError|ProxyError|ConnectTimeout|ReadTimeout|Max retries exceeded|"
    r"Failed to establish a new connection|Temporary failure in name resolution|"
    r"NameResolutionError|Network is unreachable|timed out|SSLError"
)


def judge(returncode: int, stdout: str, stderr: str) -> tuple[int, list[str]]:
    """Exit code and lines to print, from one pip-audit run with `--format json`."""
    try:
        report = json.loads(stdout)
        dependencies = report["dependencies"]
    except (ValueError, KeyError, TypeError):
        last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "")
        if _UNREACHABLE.search(stderr):
            return 0, [f"WARNING: audit: vulnerability database unreachable, NOT audited: {last}"]
        return 2, [f"audit: pip-audit failed (exit {returncode}): {last or 'no output'}"]
    lines: list[str] = []
    vulnerable = [d for d in dependencies if d.get("vulns")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version"
            aliases = ", ".join(vuln.get("aliases") or [])
            known = f"{vuln['id']}" + (f" ({aliases})" if aliases else "")
            version = dep.get("version", "?")
            lines.append(f"audit: {dep['name']} {version}: {known}; fixed in {fixes}")
    skipped = [d for d in dependencies if d.get("skip_reason")]
    checked = len(dependencies) - len(skipped)
    if skipped and not checked:
        reason = skipped[0]["skip_reason"]
        return 0, [
            f"WARNING: audit: the vulnerability database answered for none of the "
            f"{len(dependencies)} packages, NOT audited (e.g. {reason})"
        ]
    if skipped:
        lines.append(
            f"WARNING: audit: {len(skipped)} of {len(dependencies)} packages could not be "
            f"checked (e.g. {skipped[0]['skip_reason']})"
        )
    if vulnerable:
        lines.append(f"audit: FAILED: {len(vulnerable)} locked packages have known vulnerabilities")
        return 1, lines
    lines.append(f"audit: no known vulnerabilities in the {checked} packages checked")
    return 0, lines


def main(argv: list[str]) -> int:
    if not argv or not Path(argv[0]).is_file():
        print("audit: usage: audit.py LOCK_FILE [pip-audit options]", file=sys.stderr)
        return 2
    beside = Path(sys.executable).with_name("pip-audit")  # the venv's own, first
    tool = str(beside) if beside.exists() else shutil.which("pip-audit")
    if tool is None:
        print("audit: pip-audit is not installed (it is a dev dependency)", file=sys.stderr)
        return 2
    command = [tool, "-r", argv[0], "--disable-pip", "--require-hashes", "--format", "json"]
    command += ["--progress-spinner", "off", "--timeout", "15", *argv[1:]]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    code, lines = judge(done.returncode, done.stdout, done.stderr)
    for line in lines:
        print(line, file=sys.stderr if code or line.startswith("WARNING") else sys.stdout)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
