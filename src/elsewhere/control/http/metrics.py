"""`GET /metrics`: Prometheus text format (prometheus-client).

Counts of decisions (attestations by verdict, refusals by rule, secret releases) and the
ledger's size are read from the store at each scrape, so every worker of `serve --workers N`
answers the same. The group-commit latency histogram is measured in each worker; with several
workers `serve` sets PROMETHEUS_MULTIPROC_DIR before they start and a scrape sums every
worker's samples (prometheus-client's multiprocess mode).

Continuous attestation: a gauge of overdue keeps, and each host's last attested time
labelled by host id (`host_…`, no name).

Not protected: the endpoint needs no token (a scraper rarely holds one) and shows only
aggregates and host ids: no tenant, host or placement names; the per-host gauge says how many
hosts there are and when each last attested. Put it behind the reverse proxy when that
is too much (docs/control-plane.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from elsewhere.control.config import ControlPlane
from elsewhere.control.store.transactions import read
from elsewhere.control.tenancy.activity import decision_counts
from elsewhere.control.tenancy.hosts import last_attested, overdue_by_host
from elsewhere.timeutil import utcnow

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# One per process, registered in no global registry: each scrape builds its own (below).
COMMIT_SECONDS = Histogram(
    "elsewhere_commit_seconds",
    "Seconds from the start of a group-commit batch to its commit (one fsync for the batch)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=None,
)

router = APIRouter()


def observe_commits(cp: ControlPlane) -> None:
    """Feed this process's group committer into the histogram."""
    cp.committer.observers.append(lambda seconds, _jobs: COMMIT_SECONDS.observe(seconds))


class StoreCollector(Collector):
    """The counters kept in the database, read at scrape time."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp

    def collect(self) -> Iterator[Metric]:
        with read(self.cp.engine) as conn:
            counts = decision_counts(conn)
            overdue = overdue_by_host(conn, utcnow())
            attested = last_attested(conn)
        attests = CounterMetricFamily(
            "elsewhere_attestations", "Attestation decisions, by verdict", labels=["verdict"]
        )
        for verdict, n in sorted(counts.attestations.items()):
            attests.add_metric([verdict], n)
        yield attests
        refusals = CounterMetricFamily(
            "elsewhere_refusals",
            "Attestations refused, by the rule that refused them (one refusal may name several)",
            labels=["reason"],
        )
        for reason, n in sorted(counts.refusals.items()):
            refusals.add_metric([reason], n)
        yield refusals
        yield CounterMetricFamily(
            "elsewhere_secret_releases",
            "Placements released (secrets HPKE-wrapped to an attested keep key)",
            value=counts.releases,
        )
        yield GaugeMetricFamily(
            "elsewhere_keeps_reattest_overdue",
            "Running keeps whose re-attestation is due and not yet done (evicted at the deadline)",
            value=sum(overdue.values()),
        )
        last = GaugeMetricFamily(
            "elsewhere_host_last_attested_timestamp_seconds",
            "Unix time of each host's last accepted attestation or re-attestation",
            labels=["host"],
        )
        for host_id, at in sorted(attested.items()):
            last.add_metric([host_id], at.timestamp())
        yield last
        yield GaugeMetricFamily(
            "elsewhere_ledger_entries",
            "Entries in the tamper-evident ledger",
            value=self.cp.ledger.size,
        )


def exposition(cp: ControlPlane) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(COMMIT_SECONDS)
    registry.register(StoreCollector(cp))
    return generate_latest(registry)


@router.get("/metrics", tags=["meta"], response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics (text format 0.0.4): decisions, releases, ledger size, commit latency."""
    cp: Any = request.app.state.plane
    return Response(exposition(cp), media_type=CONTENT_TYPE)
