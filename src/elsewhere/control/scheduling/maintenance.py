"""Periodic work: re-queue keeps of silent hosts, end drain periods, place pending replicas
(by risk: control/scheduling/assign.py)."""

from __future__ import annotations

import asyncio
import logging

from elsewhere.control.broker.nonces import purge
from elsewhere.control.config import ControlPlane
from elsewhere.control.scheduling import scheduler
from elsewhere.control.scheduling.assign import assigner
from elsewhere.control.scheduling.eligibility import eligibility
from elsewhere.control.store.transactions import write
from elsewhere.control.trust.policies import current_advisories

log = logging.getLogger("elsewhere.control")


def tick(cp: ControlPlane) -> None:
    """One round, in one transaction, never beside another round (`scheduler.serialise`)."""
    with write(cp.engine) as conn:
        scheduler.serialise(conn)
        for host_id in scheduler.reap(conn, cp.config.heartbeat_timeout):
            log.warning("host %s lost: its keeps are rescheduled", host_id)
        scheduler.expire_drains(conn)
        scheduler.schedule(
            conn,
            cp.config.heartbeat_timeout,
            eligible=eligibility(current_advisories(conn)),
            assign=assigner(cp),
        )
        purge(conn)


async def loop(cp: ControlPlane) -> None:
    while True:
        await asyncio.sleep(cp.config.maintenance_interval)
        try:
            await asyncio.to_thread(tick, cp)
        except Exception as error:  # keep the loop alive; the next round retries
            log.error("maintenance round failed: %s", type(error).__name__)
