"""What the console's pages show, read through the API's own route functions (so a page sees
exactly what the API would answer the same credential: another tenant's things are 404), and
shaped for templates. No HTML here."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

from elsewhere.control.config import ControlPlane
from elsewhere.control.http import tenant_routes as api
from elsewhere.control.tenancy.auth import Credential
from elsewhere.diagram.deployment import DeploymentSnapshot, leaf_hash
from elsewhere.errors import InputError, NotFound
from elsewhere.i18n import N_, _, localize

DEPLOYMENT_ID = re.compile(r"dep_[0-9a-f]{16}")
LEDGER_SCAN = 5000  # the ledger page searches this many of the newest entries
SHOWN_OUTPUT = 4096  # characters of a result's output shown on a page
# The states the store gives deployments, placements and hosts, in words (render.state).
STATES = {
    "pending": N_("pending"),
    "assigned": N_("assigned"),
    "released": N_("released"),
    "completed": N_("completed"),
    "failed": N_("failed"),
    "stopped": N_("stopped"),
    "active": N_("active"),
    "lost": N_("lost"),
}


def state_words(state: str) -> str:
    """A state the store names (pending, completed, …), in words; an unknown one as it is."""
    return _(STATES[state]) if state in STATES else state


def for_reader(snapshot: DeploymentSnapshot) -> DeploymentSnapshot:
    """The snapshot a diagram on a page draws: its states and refusal reasons in the reader's
    words (the diagram writes them as it gets them; the rule codes stay as they are)."""
    return dataclasses.replace(
        snapshot,
        state=state_words(snapshot.state),
        attestations=tuple(
            dataclasses.replace(a, reasons=tuple(localize(r) for r in a.reasons))
            for a in snapshot.attestations
        ),
        keeps=tuple(dataclasses.replace(k, state=state_words(k.state)) for k in snapshot.keeps),
    )


def checked_deployment(text: str) -> str:
    if not DEPLOYMENT_ID.fullmatch(text):
        raise InputError(
            N_("deployment id"), repr(text[:40]), N_("not a deployment id (dep_ + 16 hex)")
        )
    return text


def checked_index(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 18 or text != str(int(text)):
        raise InputError(
            N_("ledger index"), repr(text[:40]), N_("not a plain decimal entry number")
        )
    return int(text)


def _output(result: dict[str, Any], stream: str) -> str:
    if result.get("sealed"):
        return _("(sealed to your key: open it with `elsewhere results --key`)")
    data = base64.b64decode(result.get(stream) or "")
    shown = data.decode("utf-8", errors="replace")
    if len(shown) <= SHOWN_OUTPUT:
        return shown
    return _("{output} … (cut)").format(output=shown[:SHOWN_OUTPUT])


def deployments(cp: ControlPlane, cred: Credential) -> list[dict[str, Any]]:
    return api.get_deployments(cp, cred)


def deployment(cp: ControlPlane, cred: Credential, deployment_id: str) -> dict[str, Any]:
    view = api.get_deployment(cp, cred, checked_deployment(deployment_id))
    for p in view["placements"]:
        if p["result"]:
            p["result"]["stdout_text"] = _output(p["result"], "stdout")
            p["result"]["stderr_text"] = _output(p["result"], "stderr")
    return view


@dataclass(frozen=True)
class HostRow:
    name: str
    platform: str
    unprotected: bool  # emulated evidence or the nil host
    tcb_status: str
    verdict: str
    reasons: tuple[str, ...]
    at: str
    ledger_index: int | None
    decisions: int


def platform(claims: dict[str, Any] | None) -> tuple[str, bool]:
    """The platform a decision's claims name, and whether no hardware protects it."""
    claims = claims or {}
    tee = str(claims.get("tee") or _("unknown"))
    if tee == "nil":
        return _("nil host: no TEE"), True
    name = " ".join(str(claims[k]) for k in ("vendor", "generation") if claims.get(k))
    text = f"{name} ({tee})" if name else tee
    emulated = bool(claims.get("emulated"))
    return (_("EMULATED {platform}").format(platform=text) if emulated else text), emulated


def hosts_touched(cp: ControlPlane, cred: Credential) -> list[HostRow]:
    """Every host that attested for one of the caller's deployments, with its latest verdict."""
    latest: dict[str, tuple[dict[str, Any], int]] = {}
    for listed in api.get_deployments(cp, cred):
        for d in api.get_deployment(cp, cred, listed["id"])["decisions"]:
            seen = latest.get(d["host"], (d, 0))[1]
            if d["kind"] == "attest":
                latest[d["host"]] = (d, seen + 1)
    rows = []
    for host, (d, count) in sorted(latest.items()):
        name, unprotected = platform(d["claims"])
        rows.append(
            HostRow(
                name=host,
                platform=name,
                unprotected=unprotected,
                tcb_status=str((d["claims"] or {}).get("tcb_status") or _("not evaluated")),
                verdict=d["verdict"],
                reasons=tuple(d["reasons"]),
                at=d["at"],
                ledger_index=d["ledger_index"],
                decisions=count,
            )
        )
    return rows


@dataclass(frozen=True)
class EntryRow:
    index: int
    kind: str
    at: str
    summary: str


def _summary(entry: dict[str, Any]) -> str:
    parts = [str(entry[k]) for k in ("verdict", "host", "chosen", "version") if k in entry]
    return " ".join(parts)


def ledger_entries(cp: ControlPlane, cred: Credential) -> tuple[list[EntryRow], int]:
    """The caller's entries among the newest LEDGER_SCAN, newest first, and where the search
    started."""
    size = cp.ledger.size
    start = max(0, size - LEDGER_SCAN)
    tenant = str(cred.subject)
    rows = []
    for index, data in enumerate(cp.ledger.entries_bytes(start, size), start):
        entry = json.loads(data)
        if entry.get("tenant") == tenant:
            rows.append(
                EntryRow(index, str(entry.get("kind")), str(entry.get("at")), _summary(entry))
            )
    return rows[::-1], start


@dataclass(frozen=True)
class EntryView:
    index: int
    entry: str  # pretty JSON
    leaf_hash: str
    bundle: str
    vkey: str  # what this server says its key is (the page tells the user not to rely on it)


def ledger_entry(cp: ControlPlane, cred: Credential, index: int) -> EntryView:
    """One of the caller's entries with its proof bundle (the API's check decides whose)."""
    if index >= cp.ledger.size:
        raise NotFound(N_("ledger entry"))
    bundle = api.ledger_bundle(cp, cred, index).body
    data = cp.ledger.entry_bytes(index)
    pretty = json.dumps(json.loads(data), indent=2, ensure_ascii=False)
    vkey = str(api.ledger_key(cp)["vkey"])
    return EntryView(index, pretty, leaf_hash(data), bytes(bundle).decode(), vkey)


def operator_hosts(cp: ControlPlane, cred: Credential) -> list[dict[str, Any]]:
    hosts = api.list_hosts(cp, cred)
    for h in hosts:
        name, unprotected = platform(h.get("last_claims"))
        h["platform"], h["unprotected"] = name, unprotected or h.get("attester") in ("nil",)
    return hosts
