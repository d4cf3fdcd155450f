"""Operations: `/metrics` scrapes (one worker and several), a request id on every answer and
log line, host polls kept out of the INFO access log, Swagger UI served without a CDN."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from control_helpers import control_plane, settled
from elsewhere.cli import main
from elsewhere.control.serve.server import free_port
from waits import lines, remaining, wait_for


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_count_what_the_store_recorded(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        env.agent("milan", generation="Milan")
        env.agent("genoa", generation="Genoa")
        tenant, digest = env.setup_tenant()
        deployment = tenant.deploy({"workload": digest, "replicas": 2, "secrets": ["greeting-key"]})
        view = wait_for(settled(tenant, deployment["id"]))
        answer = httpx.get(f"{env.url}/metrics", timeout=remaining())
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(
            "text/plain; version=0.0.4"
        )
        got = _samples(answer.text)
        affirming = sum(d["verdict"] == "affirming" for d in view["decisions"])
        refused = sum(d["verdict"] == "contraindicated" for d in view["decisions"])
        assert affirming == 2 and refused >= 1
        assert got[("elsewhere_attestations_total", (("verdict", "affirming"),))] == affirming
        assert got[("elsewhere_attestations_total", (("verdict", "contraindicated"),))] == refused
        assert got[("elsewhere_refusals_total", (("reason", "platforms.refuse"),))] == refused
        assert got[("elsewhere_secret_releases_total", ())] == affirming
        assert got[("elsewhere_ledger_entries", ())] == env.cp.ledger.size
        assert got[("elsewhere_commit_seconds_count", ())] >= 1  # each release is a group commit


def test_every_answer_carries_a_request_id(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        kept = httpx.get(f"{env.url}/healthz", headers={"X-Request-ID": "trace-42.a:b"})
        assert kept.headers["x-request-id"] == "trace-42.a:b"
        for bad in ("has space", "x" * 65, "semi;colon"):
            made = httpx.get(f"{env.url}/healthz", headers={"X-Request-ID": bad})
            assert re.fullmatch(r"[0-9a-f]{16}", made.headers["x-request-id"]), bad
        # Refusals too: no token (401), no such route (404), refused at the edge (400).
        for path in ("/v1/secrets", "/v1/nowhere", "/v1/deployments/dep%01x"):
            answer = httpx.get(f"{env.url}{path}", headers={"X-Request-ID": "r1"})
            assert answer.status_code in (400, 401, 404) and answer.headers["x-request-id"] == "r1"


def test_swagger_ui_is_served_from_local_files(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        page = httpx.get(f"{env.url}/docs", timeout=remaining())
        assert page.status_code == 200
        sources = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
        assert sources and all(s.startswith("/") for s in sources), sources  # no CDN
        for source in sources:
            asset = httpx.get(f"{env.url}{source}", timeout=remaining())
            assert asset.status_code == 200 and len(asset.content) > 1000, source
        assert httpx.get(f"{env.url}/redoc").status_code == 200


def _serve(tmp_path: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    code = "from elsewhere.cli import main; raise SystemExit(main())"
    command = [sys.executable, "-c", code, "serve", "--data-dir", str(tmp_path / "cp")]
    command += ["--port", str(port), *extra]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=remaining()).status_code == 200
    except httpx.HTTPError:
        return False


def test_log_lines_carry_the_request_id_and_polls_stay_out_of_info(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["host-token", "create", "--data-dir", str(tmp_path / "cp")]) == 0
    token = capsys.readouterr().out.split("token: ")[1].split()[0]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _serve(tmp_path, port)
    try:
        assert server.stdout is not None
        wait_for(lambda: _up(url))
        host = {"Authorization": f"Bearer {token}"}
        body = {"name": "h1", "attester": "nil", "capacity": 1}
        assert httpx.post(f"{url}/v1/hosts/register", json=body, headers=host).status_code < 300
        for _ in range(3):
            poll = httpx.get(f"{url}/v1/hosts/me/assignments", headers=host)
            assert poll.status_code == 200
        httpx.get(f"{url}/v1/secrets", headers={"X-Request-ID": "marker-7"})
        seen = []
        for line in lines(server.stdout):
            seen.append(line)
            if "marker-7" in line:
                break
        (marked,) = [line for line in seen if "marker-7" in line]
        assert "[marker-7]" in marked and "GET /v1/secrets" in marked and "401" in marked
        assert not [line for line in seen if "/v1/hosts/me/assignments" in line], seen
        register = [line for line in seen if "/v1/hosts/register" in line]
        assert register and re.search(r"\[[0-9a-f]{16}\]", register[0]), register
    finally:
        server.terminate()
        server.wait(remaining())


@pytest.mark.skipif(not hasattr(__import__("socket"), "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_metrics_with_several_workers_sum_every_worker(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _serve(tmp_path, port, "--workers", "2", "--no-access-log")
    try:
        wait_for(lambda: _up(url))
        samples = tmp_path / "cp" / "metrics"
        # Each worker keeps its samples in its own file there: two workers, two files.
        wait_for(lambda: len(list(samples.glob("histogram_*.db"))) == 2)
        for _ in range(6):  # new connections: the kernel spreads them over both workers
            with httpx.Client() as fresh:
                got = _samples(fresh.get(f"{url}/metrics", timeout=remaining()).text)
            assert got[("elsewhere_commit_seconds_count", ())] == 0
            assert got[("elsewhere_ledger_entries", ())] == 0
    finally:
        server.terminate()
        server.wait(remaining())
