"""The snapshot a deployment diagram is drawn from, read from the database and the ledger (the
console and `elsewhere demo`; `elsewhere diagram deployment` reads the same through the API)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine

from elsewhere.control.store.tables import tenants
from elsewhere.control.store.transactions import read
from elsewhere.control.tenancy.deployments import deployment_view
from elsewhere.diagram.deployment import DeploymentSnapshot, snapshot_from_view, wanted_indexes
from elsewhere.ledger.log import Ledger


def deployment_snapshot(
    engine: Engine, ledger: Ledger, tenant_id: str, deployment_id: str
) -> DeploymentSnapshot | None:
    """The tenant's deployment as drawn, or None when the tenant has no such deployment."""
    with read(engine) as conn:
        view = deployment_view(conn, tenant_id, deployment_id)
        name = conn.execute(select(tenants.c.name).where(tenants.c.id == tenant_id)).scalar()
    if view is None:
        return None
    size = ledger.size
    entries = {i: ledger.entry_bytes(i) for i in wanted_indexes(view) if i < size}
    return snapshot_from_view(view, str(name or tenant_id), entries)
