"""Hosts: registration with a host token, heartbeats, and the work each host is given.

Design: the operator creates a host token (`elsewhere host-token create`); the first host
agent to register with it becomes that token's host, and the token stays its credential (an
agent that restarts registers again and gets the same host back). A token never names two
hosts; revoking it cuts the host off.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from elsewhere.attest import AttesterKind
from elsewhere.control.store.ids import new_id
from elsewhere.control.store.tables import (
    credentials,
    deployments,
    hosts,
    placements,
    policies,
    workloads,
)
from elsewhere.control.tenancy.auth import Credential
from elsewhere.errors import InputError
from elsewhere.i18n import N_
from elsewhere.timeutil import iso, utcnow

ATTESTERS = tuple(kind.value for kind in AttesterKind)


def register(
    conn: Connection, credential: Credential, name: str, attester: str, capacity: int
) -> str:
    if attester not in ATTESTERS:
        raise InputError(
            "attester",
            attester,
            N_("unknown TEE; one of {names}").format(names=", ".join(ATTESTERS)),
        )
    if not name or len(name) > 200 or not name.isprintable():
        raise InputError("host name", repr(name)[:40], N_("give 1 to 200 printable characters"))
    if not 1 <= capacity <= 1024:
        raise InputError("capacity", str(capacity), N_("between 1 and 1024"))
    now = utcnow()
    existing = conn.execute(
        select(hosts.c.id).where(hosts.c.credential_id == credential.id)
    ).scalar()
    values = {
        "name": name,
        "attester": attester,
        "capacity": capacity,
        "state": "active",
        "last_seen": now,
        # A host registering again (its TEE fixed, its agent restarted) is given work again.
        "attest_refusals": 0,
        "attest_refusal": None,
    }
    if existing:
        conn.execute(update(hosts).where(hosts.c.id == existing).values(**values))
        return str(existing)
    host_id = new_id("host")
    conn.execute(
        hosts.insert().values(id=host_id, credential_id=credential.id, registered_at=now, **values)
    )
    conn.execute(
        update(credentials).where(credentials.c.id == credential.id).values(subject=host_id)
    )
    return host_id


def host_of(conn: Connection, credential: Credential) -> str:
    host_id = conn.execute(
        select(hosts.c.id).where(hosts.c.credential_id == credential.id)
    ).scalar()
    if host_id is None:
        raise InputError(
            "host",
            "token",
            N_(
                "not registered yet: start `elsewhere host` with this token, which registers "
                "it (POST /v1/hosts/register)"
            ),
        )
    return str(host_id)


def heartbeat(conn: Connection, host_id: str) -> None:
    conn.execute(
        update(hosts).where(hosts.c.id == host_id).values(last_seen=utcnow(), state="active")
    )


def assignments(conn: Connection, host_id: str) -> list[dict[str, Any]]:
    """Work assigned to this host that it has not finished, with what the keep must bind."""
    rows = conn.execute(
        select(
            placements.c.id,
            placements.c.state,
            placements.c.deployment_id,
            deployments.c.spec,
            deployments.c.result_key,
            workloads.c.digest,
            policies.c.digest.label("policy_digest"),
        )
        .join(deployments, deployments.c.id == placements.c.deployment_id)
        .join(workloads, workloads.c.id == deployments.c.workload_id)
        .join(policies, policies.c.id == deployments.c.policy_id)
        .where(placements.c.host_id == host_id, placements.c.state == "assigned")
        .order_by(placements.c.updated_at)
    ).all()
    out = []
    for r in rows:
        spec = json.loads(r.spec)
        out.append(
            {
                "placement": r.id,
                "deployment": r.deployment_id,
                "workload_digest": r.digest,
                "policy_digest": r.policy_digest,
                "args": spec.get("args", []),
                "env": spec.get("env", {}),
                "stdin": spec.get("stdin", ""),
                "secrets": spec.get("secrets", []),
                "limits": spec.get("limits", {}),
                "result_key": (
                    base64.b64encode(r.result_key).decode() if r.result_key is not None else None
                ),
            }
        )
    return out


def running(conn: Connection, host_id: str) -> list[str]:
    """The placements whose keeps this host may keep running (released to it, draining
    included). A keep whose placement is not here any more was withdrawn: evicted by a
    re-check, its drain period over, or its deployment stopped; the host stops it."""
    rows = conn.execute(
        select(placements.c.id).where(
            placements.c.host_id == host_id, placements.c.state == "released"
        )
    ).all()
    return [r.id for r in rows]


def workload_for(conn: Connection, host_id: str, placement_id: str) -> bytes | None:
    row = conn.execute(
        select(workloads.c.wasm)
        .join(deployments, deployments.c.workload_id == workloads.c.id)
        .join(placements, placements.c.deployment_id == deployments.c.id)
        .where(placements.c.id == placement_id, placements.c.host_id == host_id)
    ).first()
    return None if row is None else bytes(row.wasm)


def overdue_by_host(conn: Connection, now: dt.datetime) -> dict[str, int]:
    """Host id → its running keeps whose re-attestation is overdue (due, not yet done)."""
    rows = conn.execute(
        select(placements.c.host_id, func.count())
        .where(placements.c.state == "released", placements.c.reattest_due < now)
        .group_by(placements.c.host_id)
    ).all()
    return {str(host): int(n) for host, n in rows}


def host_views(conn: Connection, refusal_limit: int) -> list[dict[str, Any]]:
    """Every host as the operator sees it; `refusal_limit`: the attestations in a row a host
    may fail to make before it is assigned nothing (ControlConfig.attest_refusal_limit)."""
    rows = conn.execute(select(hosts).order_by(hosts.c.registered_at)).all()
    overdue = overdue_by_host(conn, utcnow())
    return [
        {
            "id": r.id,
            "name": r.name,
            "attester": r.attester,
            "state": r.state,
            "capacity": r.capacity,
            "last_seen": iso(r.last_seen),
            "last_claims": json.loads(r.last_claims) if r.last_claims else None,
            "last_attested": None if r.last_attested is None else iso(r.last_attested),
            "overdue_keeps": overdue.get(r.id, 0),  # keeps whose re-attestation is late
            # attestations in a row it could not make (broker/refusals.py), the last one's why
            "attest_refusals": r.attest_refusals,
            "attest_refusal": r.attest_refusal,
            "assignable": r.attest_refusals < refusal_limit,
        }
        for r in rows
    ]


def last_attested(conn: Connection) -> dict[str, dt.datetime]:
    """Host id → its last accepted attestation, for hosts that have one (/metrics)."""
    rows = conn.execute(
        select(hosts.c.id, hosts.c.last_attested).where(hosts.c.last_attested.is_not(None))
    ).all()
    return {str(r.id): r.last_attested for r in rows}
