"""How long `elsewhere --version`, `--help` and a command's `--help` take, against the floor.

Each is a fresh process (`python -c` running the CLI's `main`, with this tree's `src` first),
run REPEATS times interleaved with the floor, a bare `python -c pass` of the same interpreter,
so that both see the same machine load. The figure is the median wall time; the ratio is to
the floor's median; the import cost is the difference. One command that needs the control
plane (`serve --help`, FastAPI and SQLAlchemy not imported for help) and one that loads the
store for real (`tenant list` on an empty data directory) are measured for scale.
Last line: one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = 15
SRC = Path(__file__).resolve().parent.parent / "src"
MAIN = "from elsewhere.cli import main; raise SystemExit(main())"


def wall(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> None:
    env = os.environ | {"PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    data = tempfile.mkdtemp(prefix="bench-cli-")
    env["ELSEWHERE_HOME"] = data
    cases = {
        "--version": ["--version"],
        "--help": ["--help"],
        "deploy --help": ["deploy", "--help"],
        "results --help": ["results", "--help"],
        "serve --help": ["serve", "--help"],
        "tenant list (opens the store)": ["tenant", "list", "--data-dir", f"{data}/cp"],
    }
    floor_argv = [sys.executable, "-c", "pass"]
    times: dict[str, list[float]] = {name: [] for name in cases}
    floor: list[float] = []
    for _ in range(REPEATS):
        for name, argv in cases.items():
            floor.append(wall(floor_argv, env))
            times[name].append(wall([sys.executable, "-c", MAIN, *argv], env))
    base = statistics.median(floor)
    print(f"floor `python -c pass`: {base * 1000:.1f} ms (median of {len(floor)})")
    figures = {}
    for name, samples in times.items():
        median = statistics.median(samples)
        figures[name] = {
            "median_ms": round(median * 1000, 1),
            "ratio_to_floor": round(median / base, 2),
            "import_ms": round((median - base) * 1000, 1),
        }
        print(
            f"{name:32s} {median * 1000:7.1f} ms  ({median / base:5.2f}× the floor, "
            f"+{(median - base) * 1000:.1f} ms)"
        )
    print(
        json.dumps(
            {
                "bench": "cli_startup",
                "repeats": REPEATS,
                "floor_ms": round(base * 1000, 1),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "figures": figures,
            }
        )
    )


if __name__ == "__main__":
    main()
