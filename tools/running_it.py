"""The READMEs' "Running it" commands are examples/running-it.sh's: one source of truth.

    python tools/running_it.py            # rewrite the READMEs' block from the script
    python tools/running_it.py --check    # exit 1 (one line) when a README's block is stale

README.md and README.ja.md hold the same block (the commands are the same in any language).

The block is the script's lines between its two README markers, verbatim, so pasting it into
a shell runs what the script runs. tests/test_running_it.py fails on drift and runs the script.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "running-it.sh"
README = ROOT / "README.md"
READMES = (README, ROOT / "README.ja.md")

SCRIPT_BEGIN = "# ---- README: begin ----"
SCRIPT_END = "# ---- README: end ----"
BEGIN = (
    "<!-- running-it: generated from examples/running-it.sh by `python tools/running_it.py`;"
    " do not edit -->"
)
END = "<!-- /running-it -->"


def script_lines(script: str) -> list[str]:
    """The lines between the script's README markers."""
    lines = script.splitlines()
    try:
        start, end = lines.index(SCRIPT_BEGIN), lines.index(SCRIPT_END)
    except ValueError:
        raise SystemExit(f"{SCRIPT}: no '{SCRIPT_BEGIN}' … '{SCRIPT_END}' markers") from None
    return lines[start + 1 : end]


def block(script: str) -> str:
    return "\n".join([BEGIN, "```sh", *script_lines(script), "```", END])


def readme_block(readme: str) -> str:
    """The README's generated block, markers included ('' when it has none)."""
    start = readme.find(BEGIN)
    end = readme.find(END, start)
    return readme[start : end + len(END)] if start >= 0 and end >= 0 else ""


def commands(text: str) -> list[str]:
    """The command lines of a shell text, in order: comments and blank lines dropped, a line
    continued with a backslash joined to the next."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", "```", "<!--"))):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        out.append(pending + line)
        pending = ""
    return out


def main(argv: list[str]) -> int:
    script = SCRIPT.read_text(encoding="utf-8")
    wanted = block(script)
    for readme_path in READMES:
        readme = readme_path.read_text(encoding="utf-8")
        current = readme_block(readme)
        if not current:
            print(f"{readme_path}: no '{BEGIN}' … '{END}' block", file=sys.stderr)
            return 1
        if current == wanted:
            continue
        if "--check" in argv:
            print(
                f"{readme_path}: 'Running it' is stale (run `python tools/running_it.py`)",
                file=sys.stderr,
            )
            return 1
        readme_path.write_text(readme.replace(current, wanted), encoding="utf-8")
        print(f"wrote {readme_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
