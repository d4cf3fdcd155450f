"""The attest-and-release hot path: lean Starlette routes (control/api_host.py) that must answer
exactly as the documented FastAPI routes would — same statuses, same one-line errors, same
bodies — and SQLite reads without a snapshot transaction where the statements are independent."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
from sqlalchemy import func, select

from control_helpers import control_plane, wait_for
from elsewhere.control.api_host import HOT_ROUTES
from elsewhere.control.auth import Kind
from elsewhere.control.config import ControlConfig, ControlPlane
from elsewhere.control.db import read, tenants, write
from elsewhere.control.tenants import create_tenant


def test_hot_routes_are_matched_first_and_answer_like_the_api(tmp_path: Path) -> None:
    with control_plane(tmp_path, heartbeat_timeout=dt.timedelta(minutes=10)) as env:
        routes = env.server.server.config.app.router.routes  # type: ignore[attr-defined]
        assert routes[: len(HOT_ROUTES)] == HOT_ROUTES
        agent = env.agent("genoa", start=False)
        tenant, digest = env.setup_tenant()
        tenant.deploy({"workload": digest, "secrets": ["greeting-key"]})
        placement = wait_for(agent.client.assignments)[0]["placement"]
        http = agent.client.http
        for path in (f"/v1/placements/{placement}/nonce", f"/v1/placements/{placement}/attest"):
            bare = httpx.post(f"{env.url}{path}")
            assert bare.status_code == 401
            assert bare.json() == {"error": "missing bearer token (Authorization: Bearer <token>)"}
            wrong = httpx.post(
                f"{env.url}{path}", headers={"Authorization": f"Bearer {env.token(Kind.TENANT)}"}
            )
            assert wrong.status_code == 403
            assert wrong.json() == {"error": "this endpoint needs a host token"}
        missing = http.post("/v1/placements/pl_nope/nonce")
        assert missing.status_code == 404 and missing.json() == {"error": "placement not found"}
        issued = http.post(f"/v1/placements/{placement}/nonce").json()
        assert set(issued) == {"nonce", "expires_at", "workload_digest", "policy_digest"}
        attest = f"/v1/placements/{placement}/attest"
        not_json = http.post(attest, content=b"{", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 422 and "\n" not in not_json.json()["error"]
        no_nonce = http.post(attest, json={"keep_public_key": "", "evidence": ""})
        assert no_nonce.status_code == 422 and no_nonce.json()["error"].startswith("nonce:")
        stale = {"nonce": "00" * 48, "keep_public_key": "", "evidence": ""}
        refused = http.post(attest, json=stale)
        assert refused.status_code in (400, 409) and "\n" not in refused.json()["error"]
        # Nothing was released or spent: the placement still waits for good evidence.
        assert agent.client.assignments()[0]["placement"] == placement


def test_sqlite_reads_keep_one_snapshot_unless_asked_not_to(tmp_path: Path) -> None:
    cp = ControlPlane.open(ControlConfig.for_dir(tmp_path))
    count = select(func.count()).select_from(tenants)
    try:
        for snapshot, expected in ((True, 0), (False, 1)):
            with read(cp.engine, snapshot=snapshot) as conn:
                before = conn.execute(count).scalar_one()
                with write(cp.engine) as other:
                    create_tenant(other, f"t-{snapshot}")
                after = conn.execute(count).scalar_one()
            assert after - before == expected
    finally:
        cp.close()
