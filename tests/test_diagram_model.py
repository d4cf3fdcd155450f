"""The component model stays complete and honest: every package under src/elsewhere/ and
every runtime dependency is in it, every word it shows is in the label table, and no flow
claims a protection that does not exist yet."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace

import pytest
from packaging.requirements import Requirement

from conftest import REPO_ROOT
from elsewhere.diagram import ELSEWHERE
from elsewhere.diagram.labels import ENGLISH
from elsewhere.diagram.model import (
    STRENGTH,
    Channel,
    Level,
    Model,
    Protection,
    Provenance,
    Strength,
    Trust,
    Unit,
    View,
)
from elsewhere.diagram.scene import build_scene

SRC = REPO_ROOT / "src" / "elsewhere"


def _on_disk() -> set[str]:
    """Direct sub-packages and modules of src/elsewhere/ (what the lead may add to)."""
    names = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    names |= {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    return names


def _runtime_dependencies() -> set[str]:
    """The dependencies and every optional extra but the dev tools (`charts` runs in production)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    lines = list(project["dependencies"])
    lines += [line for name, group in extras.items() if name != "dev" for line in group]
    return {Requirement(line).name.lower() for line in lines}


def test_every_package_under_src_elsewhere_is_in_the_model() -> None:
    modelled = {name for c in ELSEWHERE.components for name in c.code}
    missing = _on_disk() - modelled
    assert not missing, f"add these to src/elsewhere/diagram/parts.py: {sorted(missing)}"
    gone = modelled - _on_disk()
    assert not gone, f"the model names modules that do not exist: {sorted(gone)}"


def test_every_runtime_dependency_in_pyproject_is_in_the_model() -> None:
    modelled = {name for c in ELSEWHERE.components for name in c.distributions}
    missing = _runtime_dependencies() - modelled
    assert not missing, f"add these to src/elsewhere/diagram/parts.py: {sorted(missing)}"
    assert modelled <= _runtime_dependencies(), "the model names packages pyproject lacks"
    for c in ELSEWHERE.components:
        if c.distributions:
            assert c.provenance is Provenance.EXTERNAL, c.id


def test_a_flow_to_an_unknown_part_is_refused() -> None:
    flow = replace(ELSEWHERE.flows[0], target="nowhere")
    with pytest.raises(ValueError, match="unknown component 'nowhere'"):
        Model(ELSEWHERE.components, (*ELSEWHERE.flows, replace(flow, id="new")))
    with pytest.raises(ValueError, match="not unique"):
        Model((*ELSEWHERE.components, ELSEWHERE.components[0]), ())


def test_a_flow_drawn_where_its_end_is_not_is_refused() -> None:
    flow = replace(ELSEWHERE.flows[0], id="new", levels=frozenset(Level))
    with pytest.raises(ValueError, match="not drawn at all its levels"):
        Model(ELSEWHERE.components, (*ELSEWHERE.flows, flow))


def test_every_level_has_parts_and_flows_and_every_part_a_flow() -> None:
    for level in Level:
        shown = ELSEWHERE.at(level)
        assert len(shown.components) >= 6 and len(shown.flows) >= 6, level
        ends = {f.source for f in shown.flows} | {f.target for f in shown.flows}
        lonely = [c.id for c in shown.components if c.id not in ends]
        assert not lonely, f"{level}: parts with no flow: {lonely}"


def test_every_key_the_model_needs_is_in_the_label_table_and_none_is_unused() -> None:
    needed = {"title", "legend"}
    for c in ELSEWHERE.components:
        needed |= {f"component.{c.id}", f"component.{c.id}.role"}
    needed |= {f"flow.{f.id}" for f in ELSEWHERE.flows}
    for enum, prefix in (
        (Provenance, "provenance"),
        (Provenance, "badge"),
        (Trust, "trust"),
        (Trust, "legend.zone"),
        (Strength, "strength"),
        (Strength, "badge"),
        (Protection, "protection"),
        (Channel, "channel"),
        (Unit, "unit"),
        (Unit, "zone"),
        (Level, "level"),
        (View, "view"),
        (View, "table.view"),
    ):
        needed |= {f"{prefix}.{member.value}" for member in enum}
    assert needed - ENGLISH.keys() == set()
    # Keys of a flow or part that no longer exists are dead text a translator would still do.
    stale = {
        k
        for k in ENGLISH
        if re.match(r"(component|flow)\.", k) and k.removesuffix(".role") not in needed
    }
    assert stale == set()


def test_a_catalogue_replaces_every_word_it_has_and_falls_back_for_the_rest() -> None:
    catalogue = {key: f"«{value}»" for key, value in ENGLISH.items() if key != "flow.cli_upload"}
    scene = build_scene(ELSEWHERE, Level.CONTAINERS, View.SECURITY, catalogue)
    assert scene.title == "«Elsewhere architecture»"
    server = next(n for n in scene.nodes if n.id == "server")
    assert server.name == "«[OWN]» «elsewhere serve»"
    upload = next(e for e in scene.edges if e.id == "cli_upload")
    assert upload.label == "«[NONE]» workloads, secrets, policy"


def test_every_http_flow_is_drawn_over_tls_and_says_when_it_is_not() -> None:
    # serve --tls-cert/--tls auto; clients refuse plain HTTP beyond loopback without
    # --insecure-http: every HTTP flow's channel is TLS, and its label names the exception.
    for f in ELSEWHERE.flows:
        if f.channel is Channel.HTTP:
            assert f.channel_protection is Protection.TLS, f.id
    assert "--insecure-http" in ENGLISH["protection.tls"]
    assert "loopback" in ENGLISH["protection.tls"]


def test_secrets_uploaded_by_the_tenant_are_shown_unprotected() -> None:
    # The CLI sends secrets in clear inside TLS (the control plane reads them): drawn so.
    for flow_id in ("tenant_upload", "cli_upload", "httpx_wire"):
        flow = next(f for f in ELSEWHERE.flows if f.id == flow_id)
        assert STRENGTH[flow.protection] is Strength.NONE, flow_id


def test_emulated_and_nil_evidence_is_shown_without_hardware_protection() -> None:
    emulated = ELSEWHERE.component("emulated_attester")
    assert emulated.in_use is Protection.NO_HARDWARE and emulated.trust is Trust.UNTRUSTED
    for f in ELSEWHERE.flows:
        if "emulated" in f.id:
            assert f.protection is Protection.NO_HARDWARE, f.id
    assert "no hardware protection" in ENGLISH["protection.no-hardware"]
    assert "real SEV-SNP / TDX only" in ENGLISH["protection.tee"]


def test_the_host_is_untrusted_and_only_the_tee_attested() -> None:
    for c in ELSEWHERE.components:
        if c.unit is Unit.HOST:
            assert c.trust is Trust.UNTRUSTED, c.id
        if c.trust is Trust.ATTESTED:
            assert c.unit is Unit.TEE, c.id
