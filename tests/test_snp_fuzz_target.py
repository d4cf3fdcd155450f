"""The coverage-guided fuzz target (fuzz/snp_report.py) runs clean for a bounded time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from elsewhere.evidence import EvidenceOptions, verify_evidence

pytest.importorskip("atheris", reason="atheris not installed (pip install atheris)")

TARGET = REPO_ROOT / "fuzz" / "snp_report.py"


def test_fuzz_target_bounded_run(vectors: Path, tmp_path: Path) -> None:
    env = {**os.environ, "ELSEWHERE_VECTORS": str(vectors)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [
            sys.executable,
            str(TARGET),
            "-max_total_time=12",
            "-runs=200000",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    tail = done.stderr[-2000:]
    assert done.returncode == 0, tail
    assert "INITED" in done.stderr and "Done" in done.stderr, tail
    assert not list(tmp_path.glob("crash-*")), tail


def test_fuzz_seeds_are_the_real_reports(vectors: Path) -> None:
    sys.path.insert(0, str(TARGET.parent))
    try:
        import snp_report  # the target module; importing it does not start fuzzing
    finally:
        sys.path.remove(str(TARGET.parent))

    chains = snp_report._chains(vectors)
    seeds = snp_report.seeds(vectors)
    assert len(seeds) == 9  # every SNP vector that has a report and its VEK
    for seed in seeds:
        when, size = seed[0], int.from_bytes(seed[1:3], "little")
        options = EvidenceOptions(at=snp_report.TIMES[when], vek=seed[3 : 3 + size], chain=chains)
        assert verify_evidence(seed[3 + size :], options).verified
