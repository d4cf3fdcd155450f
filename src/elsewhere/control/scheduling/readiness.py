"""What a load balancer asks before sending a replica work (`GET /readyz`): can it reach the
database, is the schema the one its code expects, are its keys loaded, and who holds the
cluster's leases. `/healthz` only says the process answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from elsewhere.control.config import ControlPlane
from elsewhere.control.scheduling import leases
from elsewhere.db.current import missing_heads


@dataclass(frozen=True)
class Readiness:
    ready: bool
    document: dict[str, Any]


def check(cp: ControlPlane) -> Readiness:
    """Every check, each with a one-line reason when it fails; ready only when all pass."""
    doc: dict[str, Any] = {"replica": cp.replica_id}
    problems: list[str] = []
    try:
        with cp.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            missing = missing_heads(conn)
            held = leases.current(conn)
        doc["database"] = "reachable"
        if missing:
            problems.append(f"schema not current: missing {', '.join(missing)}")
        doc["migrations"] = "current" if not missing else "behind"
        doc["leases"] = {
            lease.name: {
                "holder": lease.holder,
                "mine": lease.holder == cp.replica_id,
                "expires_in": round(lease.expires_in, 3),
                "held_for": round(lease.held_for, 3),
            }
            for lease in held
        }
    except SQLAlchemyError as error:
        why = str(getattr(error, "orig", error)).strip().splitlines() or ["unknown error"]
        problems.append(f"database unreachable: {why[0][:200]}")
        doc["database"] = "unreachable"
    doc["keys"] = (
        cp.keys.summary()
        if cp.keys is not None
        else {"kek": cp.kek.id, "result_signing": cp.signer.kid, "source": "data directory"}
    )
    doc["ready"] = not problems
    if problems:
        doc["error"] = "; ".join(problems)
    return Readiness(not problems, doc)
