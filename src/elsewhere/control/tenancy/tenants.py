"""Tenants: created by the operator (`elsewhere tenant create`), each with its own API token."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from elsewhere.control.store.ids import new_id
from elsewhere.control.store.tables import tenants
from elsewhere.control.tenancy.auth import Kind, create_credential
from elsewhere.errors import InputError
from elsewhere.i18n import N_
from elsewhere.timeutil import iso, utcnow

NAME_MAX = 200


@dataclass(frozen=True)
class NewTenant:
    id: str
    name: str
    token: str


def create_tenant(conn: Connection, name: str) -> NewTenant:
    name = name.strip()
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise InputError(
            "tenant name",
            repr(name),
            N_("give 1 to {limit} printable characters").format(limit=NAME_MAX),
        )
    if conn.execute(select(tenants.c.id).where(tenants.c.name == name)).first():
        raise InputError("tenant name", name, N_("a tenant with this name exists"))
    tenant_id = new_id("ten")
    conn.execute(tenants.insert().values(id=tenant_id, name=name, created_at=utcnow()))
    token = create_credential(conn, Kind.TENANT, name=f"tenant {name}", subject=tenant_id)
    return NewTenant(id=tenant_id, name=name, token=token)


def new_tenant_token(conn: Connection, name: str) -> str:
    """An additional API token for an existing tenant."""
    row = conn.execute(select(tenants.c.id).where(tenants.c.name == name)).first()
    if row is None:
        raise InputError("tenant", name, N_("no such tenant"))
    return create_credential(conn, Kind.TENANT, name=f"tenant {name}", subject=row.id)


def list_tenants(conn: Connection) -> list[dict[str, str]]:
    rows = conn.execute(select(tenants).order_by(tenants.c.created_at)).all()
    return [{"id": r.id, "name": r.name, "created_at": iso(r.created_at)} for r in rows]


def set_risk_budget(conn: Connection, tenant_id: str, budget: dict[str, Any]) -> None:
    """Store the tenant's risk budget (a checked money rate, as JSON)."""
    conn.execute(
        update(tenants).where(tenants.c.id == tenant_id).values(risk_budget=json.dumps(budget))
    )
