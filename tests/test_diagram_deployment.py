"""The deployment diagram (#16 item 3): drawn from a live deployment and its ledger, each host
with its TEE and verdict, each keep, each flow that happened, and every link naming the ledger
entry (index and leaf hash) that allowed it; emulated and nil parts say they give no hardware
protection. Through the API (`elsewhere diagram deployment`) and at the end of `elsewhere demo`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from console_support import demo_deployment
from control_helpers import control_plane
from elsewhere.cli import main
from elsewhere.control.tenancy.picture import deployment_snapshot
from elsewhere.diagram.deployment import snapshot_from_view, wanted_indexes
from elsewhere.diagram.deployment_scene import deployment_scene
from elsewhere.diagram.dot import to_dot
from elsewhere.diagram.model import Strength, Trust

LINK = re.compile(r"^/ui/ledger/(\d+)\?leaf=([0-9a-f]{64})$")


def _leaf(data: bytes) -> str:
    return hashlib.sha256(b"\x00" + data).hexdigest()


def test_the_demo_deployment_is_drawn_with_its_verdicts_and_ledger_links(tmp_path: Path) -> None:
    with control_plane(tmp_path) as env:
        demo = demo_deployment(env)
        tenant_id = str(demo.tenant.json("GET", "/v1/whoami")["tenant"])
        snapshot = deployment_snapshot(env.cp.engine, env.cp.ledger, tenant_id, demo.deployment)
        assert snapshot is not None and snapshot.tenant == "acme"
        scene = deployment_scene(snapshot)
        nodes = {n.id: n for n in scene.nodes}
        by_name = {n.name.split(" ", 1)[1]: n for n in scene.nodes}
        milan, genoa, nil = by_name["host milan"], by_name["host genoa"], by_name["host nil"]
        assert "EMULATED AMD Milan (sev-snp)" in milan.details
        assert any(
            d.startswith("REFUSED: platforms.refuse: platform is AMD:Milan") for d in milan.details
        )
        assert "EMULATED AMD Genoa (sev-snp)" in genoa.details and "ACCEPTED" in genoa.details
        assert "nil host: no TEE" in nil.details
        assert any(d.startswith("REFUSED: tee.accept") for d in nil.details)
        keeps = [n for n in scene.nodes if n.id.startswith("keep_")]
        assert len(keeps) == 3 and all(k.group == genoa.group.replace("host", "tee") for k in keeps)
        for part in (milan, genoa, nil, *keeps):
            assert "no hardware protection" in part.details, part.name
        # Emulated keeps sit in a frame that says they are not attested by hardware.
        frames = {g.id: g for g in scene.groups}
        assert frames[keeps[0].group].trust is Trust.UNTRUSTED
        assert "NOT ATTESTED BY HARDWARE" in frames[keeps[0].group].label
        # Every link names an entry by index and leaf hash; both are the ledger's own.
        linked = [*(n for n in scene.nodes if n.link), *(e for e in scene.edges if e.link)]
        assert len(linked) >= 3 + 3 + 3 * 3  # hosts, keeps, evidence, secrets, results
        for item in linked:
            found = LINK.match(item.link)
            assert found, item.link
            index, leaf = int(found[1]), found[2]
            assert leaf == _leaf(env.cp.ledger.entry_bytes(index))
            assert f"ledger #{index}" in item.tooltip and leaf in item.tooltip
        edges = [e for e in scene.edges]
        secrets = [e for e in edges if "wrapped secrets down" in e.label]
        assert len(secrets) == 3 and all(e.target.startswith("keep_") for e in secrets)
        for e in secrets:  # each linked to the secret.release entry of its keep
            index = int(LINK.match(e.link)[1])  # type: ignore[index]
            assert env.cp.ledger.entry(index)["kind"] == "secret.release"
            assert e.strength is Strength.NONE  # emulated: the host holds the keep key
        evidence = [
            e
            for e in edges
            if e.label.endswith(("ACCEPTED", "REFUSED")) or "evidence up" in e.label
        ]
        assert {e.source for e in evidence} == {milan.id, genoa.id, nil.id}
        results = [e for e in edges if "results back" in e.label]
        assert len(results) == 3 and all(nodes[e.source].id.startswith("keep_") for e in results)
        # The DOT carries each link and tooltip into the SVG (<a xlink:href xlink:title>).
        source = to_dot(scene).source
        for item in linked:
            assert f'URL="{item.link}"' in source


def _view(emulated: bool, entries: dict[int, bytes]) -> dict[str, Any]:
    claims = {"tee": "sev-snp", "vendor": "AMD", "generation": "Turin", "emulated": emulated}
    return {
        "id": "dep_0123456789abcdef",
        "workload": "ab" * 48,
        "state": "active",
        "spec": {"secrets": ["k"]},
        "placements": [
            {
                "id": "pl_1",
                "replica": 0,
                "state": "completed",
                "host": "turin",
                "keep_key_digest": "sha256:kk",
                "result": {"sealed": True},
            },
        ],
        "decisions": [
            {
                "kind": "attest",
                "placement": "pl_1",
                "host": "turin",
                "verdict": "affirming",
                "reasons": [],
                "claims": claims,
                "ledger_index": 7,
            },
        ],
    }


def test_a_hardware_attested_keep_is_drawn_attested_and_its_flows_sealed() -> None:
    entries = {
        7: b'{"kind":"attestation.decision","evidence_digest":"sha256:ev"}',
        8: b'{"kind":"secret.release","evidence_digest":"sha256:ev","keep_key_digest":"sha256:kk"}',
    }
    view = _view(False, entries)
    assert wanted_indexes(view) == [7, 8]
    scene = deployment_scene(snapshot_from_view(view, "acme", entries))
    keep = next(n for n in scene.nodes if n.id == "keep_pl_1")
    frame = next(g for g in scene.groups if g.id == keep.group)
    assert frame.trust is Trust.ATTESTED
    assert "no hardware protection" not in keep.details
    secret = next(e for e in scene.edges if "wrapped secrets" in e.label)
    assert secret.strength is Strength.CONFIDENTIAL and secret.link.startswith("/ui/ledger/8?")
    result = next(e for e in scene.edges if "results back" in e.label)
    assert result.strength is Strength.CONFIDENTIAL  # sealed to the tenant's key
    # The same view without its entries: drawn, but nothing claims a ledger entry.
    bare = deployment_scene(snapshot_from_view(view, "acme", {}))
    assert not any(e.link for e in bare.edges) and not any(n.link for n in bare.nodes)
    assert all("no ledger entry" in e.tooltip for e in bare.edges)


def test_an_entry_that_is_not_json_is_one_clear_error() -> None:
    from elsewhere.errors import InputError

    with pytest.raises(InputError, match=r"ledger entry: #7: not JSON"):
        snapshot_from_view(_view(False, {}), "acme", {7: b"{"})


def test_the_cli_draws_a_deployment_through_the_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with control_plane(tmp_path) as env:
        demo = demo_deployment(env)
        api = ["--control", env.url, "--token", demo.token]
        assert main(["diagram", "deployment", demo.deployment, "--format", "table", *api]) == 0
        table = capsys.readouterr().out
        assert "REFUSED: platforms.refuse: platform is AMD:Milan" in table
        assert "[OWN] host genoa" in table and "no hardware protection" in table
        assert re.search(r"ledger #\d+ \(secret\.release\), leaf hash [0-9a-f]{64}", table)
        svg = tmp_path / "d.svg"
        assert main(["diagram", "deployment", demo.deployment, "-o", str(svg), *api]) == 0
        drawn = svg.read_text()
        assert f'xlink:href="{env.url}/ui/ledger/' in drawn and 'xlink:title="ledger #' in drawn
        assert '<desc id="diagram_desc">' in drawn
        # Another tenant's deployment, or none: one line, exit 2.
        other = str(env.tenant("bob").http.headers["Authorization"])[7:]
        bob = ["--control", env.url, "--token", other]
        assert main(["diagram", "deployment", demo.deployment, *bob]) == 2
        assert "404: deployment not found" in capsys.readouterr().err


def test_the_demo_ends_by_writing_its_deployment_diagram(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"(/\S+/elsewhere-demo-(dep_[0-9a-f]{16})\.(svg|md))\s*$", out, re.M)
    assert found, out[-500:]
    path = Path(found[1])
    try:
        drawn = path.read_text()
        assert f"Deployment {found[2]}" in drawn and "no hardware protection" in drawn
    finally:
        path.unlink()
