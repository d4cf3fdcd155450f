"""Periodic work: re-queue keeps of silent hosts, end drain periods, evict keeps past their
re-attestation deadline (control/trust/reattest.py), place pending replicas
(by risk: control/scheduling/assign.py), sign a checkpoint over new ledger entries. Every
replica runs the loop; only the holder of each lease (control/scheduling/leases.py) does
that lease's work, so a round is done once per cluster, not once per replica."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.engine import Connection

from elsewhere.control.broker.nonces import purge
from elsewhere.control.config import ControlPlane
from elsewhere.control.scheduling import leases, scheduler
from elsewhere.control.scheduling.assign import assigner
from elsewhere.control.scheduling.eligibility import eligibility
from elsewhere.control.store.transactions import write
from elsewhere.control.trust.policies import current_advisories
from elsewhere.control.trust.reattest import expire_overdue
from elsewhere.ledger.store import Store

log = logging.getLogger("elsewhere.control")


def tick(cp: ControlPlane) -> None:
    """One round, in one transaction, never beside another round (`scheduler.serialise`);
    any replica may run one (a deployment is placed by the replica that received it)."""
    with write(cp.engine) as conn:
        _round(conn, cp)


def leased_tick(cp: ControlPlane) -> bool:
    """The periodic round: only while this replica holds the scheduler lease, renewed in the
    round's own transaction (so a holder paused past its lease commits nothing)."""
    with write(cp.engine) as conn:
        if not leases.hold(conn, leases.SCHEDULER, cp.replica_id):
            return False
        _round(conn, cp)
    return True


def _round(conn: Connection, cp: ControlPlane) -> None:
    scheduler.serialise(conn)
    for host_id in scheduler.reap(conn, cp.config.heartbeat_timeout):
        log.warning("host %s lost: its keeps are rescheduled", host_id)
    scheduler.expire_drains(conn)
    for placement_id in expire_overdue(cp, conn):
        log.warning("placement %s evicted: re-attestation deadline missed", placement_id)
    scheduler.schedule(
        conn,
        cp.config.heartbeat_timeout,
        eligible=eligibility(current_advisories(conn)),
        assign=assigner(cp),
        refusal_limit=cp.config.attest_refusal_limit,
    )
    purge(conn)


def sign_round(cp: ControlPlane) -> bool:
    """The checkpoint-signer lease holder signs the committed tree when a checkpoint does not
    cover it yet; True if it signed. (The ledger never signs two roots for one size, whoever
    signs: the lease only keeps the replicas from all doing the same work.)"""
    with write(cp.engine) as conn:
        if not leases.hold(conn, leases.CHECKPOINTS, cp.replica_id):
            return False
        state = Store.state(conn)
        last = Store.latest_checkpoint(conn)
    if state is None or state.size == 0 or (last is not None and last.size >= state.size):
        return False
    cp.ledger.checkpoint()
    return True


async def loop(cp: ControlPlane) -> None:
    while True:
        await asyncio.sleep(cp.config.maintenance_interval)
        for duty in (leased_tick, sign_round):
            try:
                await asyncio.to_thread(duty, cp)
            except Exception as error:  # keep the loop alive; the next round retries
                log.error("maintenance %s failed: %s", duty.__name__, type(error).__name__)
