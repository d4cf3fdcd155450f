"""What an attest-and-release reads: the placement's context (deployment, workload, policy,
host, the advisory-feed count) and the sealed secrets it names, through SQLAlchemy Core on the
engine's pool (each statement under the store's statement timeout; store/transactions.py
`read_retrying`), compiled once per dialect (store/prepared.py).

The nonce request reads the context and remembers the placement's secret names; the attest
request then reads context and secrets in ONE statement, using the joined secrets only if the
names it reads again are the same (a hint, never trusted on its own).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, select

from elsewhere.control.broker.secrets import sealed_secrets
from elsewhere.control.config import ControlPlane
from elsewhere.control.scheduling import scheduler
from elsewhere.control.store import prepared
from elsewhere.control.store.tables import deployments, hosts, placements, policies, workloads
from elsewhere.control.store.tables import secrets as secrets_table
from elsewhere.control.store.transactions import read_retrying
from elsewhere.control.trust.policies import FEED_COUNT_COLUMN, advisories_at
from elsewhere.errors import Conflict, NotFound
from elsewhere.i18n import N_
from elsewhere.policy.advisories import AdvisorySet


@dataclass(frozen=True)
class Context:
    placement_id: str
    deployment_id: str
    tenant_id: str
    host_id: str
    host_name: str
    state: str
    workload_digest: str
    policy_version: int
    policy_digest: str
    policy_document: str
    secret_names: tuple[str, ...]
    advisory_feeds: int  # feeds imported when this was read: the advisory cache's version


# Built once: constructing a SQLAlchemy statement costs more than running it on this path.
_CONTEXT = (
    select(
        placements.c.id,
        placements.c.state,
        placements.c.host_id,
        deployments.c.id.label("deployment_id"),
        deployments.c.tenant_id,
        deployments.c.spec,
        deployments.c.state.label("deployment_state"),
        workloads.c.digest,
        policies.c.version,
        policies.c.digest.label("policy_digest"),
        policies.c.document,
        hosts.c.name.label("host_name"),
        FEED_COUNT_COLUMN,  # one statement less for the attest request's advisories
    )
    .join(deployments, deployments.c.id == placements.c.deployment_id)
    .join(workloads, workloads.c.id == deployments.c.workload_id)
    .join(policies, policies.c.id == deployments.c.policy_id)
    .join(hosts, hosts.c.id == bindparam("host_id"))
    .where(placements.c.id == bindparam("placement_id"))
)


_MAX_JOINED = 16  # secret names read in the context's statement; more: a statement of their own
_with_secrets: dict[int, Select[Any]] = {}


def _context_and_secrets(count: int) -> Select[Any]:
    """The context with the sealed secrets of `count` names (binds name_0…), in one statement:
    for an attest request whose placement's secret names the nonce request learned (checked
    against the row read here). Built once per count."""
    statement = _with_secrets.get(count)
    if statement is None:
        statement = _CONTEXT.add_columns(
            secrets_table.c.id.label("s_id"),
            secrets_table.c.name.label("s_name"),
            secrets_table.c.kek_id.label("s_kek_id"),
            secrets_table.c.wrapped_key.label("s_wrapped_key"),
            secrets_table.c.ciphertext.label("s_ciphertext"),
        ).outerjoin(
            secrets_table,
            and_(
                secrets_table.c.tenant_id == deployments.c.tenant_id,
                secrets_table.c.name.in_([bindparam(f"name_{i}") for i in range(count)]),
            ),
        )
        _with_secrets[count] = statement
    return statement


_KNOWN_NAMES = 4096
# placement id → its deployment's secret names, as the last nonce request read them. A hint
# only: the attest request reads the names again and uses the joined secrets only if they match.
_secret_names: dict[str, tuple[str, ...]] = {}


@dataclass(frozen=True)
class SealedRow:
    """A secret's row as `open_secrets` reads it."""

    id: str
    tenant_id: str
    name: str
    kek_id: str
    wrapped_key: bytes
    ciphertext: bytes


def _rows(cp: ControlPlane, statement: Select[Any], parameters: dict[str, str]) -> list[Any]:
    return read_retrying(cp.engine, lambda conn: list(prepared.run(conn, statement, parameters)))


def load_context(cp: ControlPlane, placement_id: str, host_id: str) -> Context:
    rows = _rows(cp, _CONTEXT, {"placement_id": placement_id, "host_id": host_id})
    return _context(rows[0] if rows else None, host_id)


def _context(row: Any, host_id: str) -> Context:
    # Another host's placement looks exactly like a missing one.
    if row is None or row.host_id != host_id:
        raise NotFound("placement")
    if row.state not in scheduler.LIVE_STATES or row.deployment_state != "active":
        raise Conflict(
            N_("placement is {state}, not assigned to this host any more").format(state=row.state)
        )
    return Context(
        placement_id=row.id,
        deployment_id=row.deployment_id,
        tenant_id=row.tenant_id,
        host_id=host_id,
        host_name=row.host_name,
        state=row.state,
        workload_digest=row.digest,
        policy_version=row.version,
        policy_digest=row.policy_digest,
        policy_document=row.document,
        secret_names=tuple(json.loads(row.spec).get("secrets", [])),
        advisory_feeds=row.advisory_feeds,
    )


def remember_secret_names(placement_id: str, names: tuple[str, ...]) -> None:
    """The nonce request's hint for the attest request that follows (bounded)."""
    if len(_secret_names) >= _KNOWN_NAMES:
        _secret_names.clear()
    _secret_names[placement_id] = names


def attest_reads(
    cp: ControlPlane, placement_id: str, host_id: str
) -> tuple[Context, AdvisorySet, list[Any]]:
    """Context, advisories and sealed secrets: one statement when this process issued the
    placement's nonce (it learned the secret names then), two when not."""
    names = _secret_names.pop(placement_id, None)
    if names is None:
        names = load_context(cp, placement_id, host_id).secret_names
    sealed: list[Any] | None = None
    if names and len(names) <= _MAX_JOINED:
        parameters = {"placement_id": placement_id, "host_id": host_id}
        parameters |= {f"name_{i}": name for i, name in enumerate(names)}
        rows = _rows(cp, _context_and_secrets(len(names)), parameters)
        context = _context(rows[0] if rows else None, host_id)
        if context.secret_names == names:
            sealed = [
                SealedRow(
                    r.s_id, context.tenant_id, r.s_name, r.s_kek_id, r.s_wrapped_key, r.s_ciphertext
                )
                for r in rows
                if r.s_id is not None
            ]
    else:
        context = load_context(cp, placement_id, host_id)
        sealed = None if context.secret_names else []
    if sealed is None:  # the names changed since the hint, or too many to join
        sealed = read_retrying(
            cp.engine,
            lambda conn: sealed_secrets(conn, context.tenant_id, list(context.secret_names)),
        )
    return context, advisories_at(cp.engine, context.advisory_feeds), sealed
