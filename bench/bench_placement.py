"""Placement of 1,000 replicas over 10,000 hosts, against a bare numpy argmin floor.

Hosts get seeded random records (0–60 completed keeps of $1–$10,000, some failures, collateral,
outstanding exposure, a few quarantined) and platforms (SNP/TDX/SGX, TCB status, advisories,
SMT). Two batches of 1,000 replicas: 250 deployments × 4 replicas, and the worst case of 1,000
single-replica deployments each with its own value (value-relative evidence is recomputed per
value). Each is timed cold (first batch in the process: the bound grid is empty) and warm (a
fresh engine, grid cells kept), on one core (single-threaded numpy).

Floor: for the same hosts and requests, the risk of every host is precomputed exactly with the
vectorised quantile (untimed); the timed loop then does only what any placement must — per
replica one fused risk expression over the 10,000 hosts and an argmin. The ratio is engine time
over floor time. The last line is one JSON object.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import datetime as dt
import json
import time

import numpy as np

from elsewhere.risk import bounds
from elsewhere.risk.baserates import PlatformSummary
from elsewhere.risk.beta import upper_bound_array
from elsewhere.risk.inputs import HostCandidate, PlacementRequest
from elsewhere.risk.placement import PlacementEngine
from elsewhere.risk.quantities import YEAR, Money, MoneyRate, Rate
from elsewhere.risk.reputation import ReputationSnapshot

HOSTS = 10_000
REPLICAS = 1_000
AT = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


def make_hosts(rng: np.random.Generator) -> list[HostCandidate]:
    tees = ["sev-snp", "tdx", "sgx"]
    statuses = [None, "UpToDate", "OutOfDate", "SWHardeningNeeded"]
    hosts = []
    for i in range(HOSTS):
        n = int(rng.integers(0, 60))
        values = np.round(10 ** rng.uniform(0, 4, n), 2).tolist()
        weights = rng.uniform(0.2, 1.0, n).tolist()
        good: dict[float, float] = {}
        for v, w in zip(values, weights, strict=True):
            good[v] = good.get(v, 0.0) + w
        snapshot = ReputationSnapshot(
            key=f"chip:{i:06x}",
            at=AT,
            currency="USD",
            good=tuple(sorted(good.items())),
            bad=float(rng.exponential(1.0)) if rng.random() < 0.4 else 0.0,
            delivered=sum(v * w for v, w in good.items()),
            max_good=max(good, default=0.0),
            confidence=0.95,
            quarantined="CUSUM alarm" if rng.random() < 0.01 else None,
        )
        platform = PlatformSummary(
            tee=tees[i % 3],
            tcb_status=statuses[int(rng.integers(0, 4))],
            advisory_ids=tuple(f"SA-{j}" for j in range(int(rng.integers(0, 3)))),
            smt=bool(rng.random() < 0.5),
        )
        hosts.append(
            HostCandidate(
                f"host-{i}",
                platform,
                snapshot,
                collateral=Money(int(rng.integers(0, 5000)), "USD"),
                outstanding=Money(int(rng.choice([0, 0, 0, 500])), "USD"),
            )
        )
    return hosts


def make_requests(rng: np.random.Generator, deployments: int) -> list[PlacementRequest]:
    per = REPLICAS // deployments
    return [
        PlacementRequest(
            deployment_id=f"dep-{j}",
            tenant=f"tenant-{j % 50}",
            impact=Money(int(10 ** rng.uniform(1, 3.5)), "USD"),
            replicas=per,
            budget=MoneyRate.of(200_000, "USD", YEAR),
            keeps_per_year=Rate(int(rng.choice([1, 12, 52])), YEAR),
        )
        for j in range(deployments)
    ]


def timed_place(hosts: list[HostCandidate], requests: list[PlacementRequest]) -> dict[str, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    engine = PlacementEngine(hosts)
    t1 = time.perf_counter()
    decisions = engine.place(requests)
    c2, t2 = time.process_time(), time.perf_counter()
    return {
        "build_s": t1 - t0,
        "place_s": t2 - t1,
        "total_s": t2 - t0,
        "total_cpu_s": c2 - c0,
        "placed": sum(d.placed for d in decisions),
    }


def floor(hosts: list[HostCandidate], requests: list[PlacementRequest]) -> float:
    """Per replica: one fused risk expression over every host and an argmin (exact q given)."""
    engine = PlacementEngine(hosts)
    p = engine.p_year
    prepared = []
    for req in requests:
        value = float(req.impact.amount)
        r = engine.evidence(value)[engine.host_key]
        q = upper_bound_array(r, engine.s[engine.host_key], 0.95)  # untimed
        prepared.append((p, float(req.keeps_per_year.value), q, value, req.replicas))
    c0 = time.process_time()
    sink = 0
    for p_, keeps, q, value, replicas in prepared:
        for _ in range(replicas):
            sink += int(np.argmin((p_ + keeps * q) * value))
    elapsed = time.process_time() - c0
    assert sink >= 0
    return elapsed


def main() -> None:
    rng = np.random.default_rng(20250601)
    t0 = time.perf_counter()
    hosts = make_hosts(rng)
    print(f"built {HOSTS} hosts in {time.perf_counter() - t0:.2f} s")
    results: dict[str, dict[str, float]] = {}
    for label, deployments in (("250x4", 250), ("1000x1", 1000)):
        requests = make_requests(np.random.default_rng(deployments), deployments)
        bounds._TABLES.clear()  # cold: empty bound grid
        cold = timed_place(hosts, requests)
        warm = timed_place(hosts, requests)
        floor_s = floor(hosts, requests)
        results[label] = {
            "cold_cpu_s": round(cold["total_cpu_s"], 4),
            "warm_cpu_s": round(warm["total_cpu_s"], 4),
            "cold_s": round(cold["total_s"], 4),
            "warm_s": round(warm["total_s"], 4),
            "warm_place_s": round(warm["place_s"], 4),
            "build_s": round(warm["build_s"], 4),
            "floor_s": round(floor_s, 4),
            "ratio_warm_cpu_to_floor": round(warm["total_cpu_s"] / floor_s, 1),
            "placed": int(warm["placed"]),
        }
        print(
            f"{label}: CPU cold {cold['total_cpu_s']:.3f} s, warm {warm['total_cpu_s']:.3f} s; "
            f"wall cold {cold['total_s']:.3f} s, warm {warm['total_s']:.3f} s "
            f"(engine build {warm['build_s']:.3f} s + place {warm['place_s']:.3f} s); "
            f"floor (CPU) {floor_s:.4f} s, ratio {warm['total_cpu_s'] / floor_s:.1f}x; "
            f"{int(warm['placed'])}/{REPLICAS} placed"
        )
    primary = results["250x4"]
    print(
        json.dumps(
            {
                "bench": "placement",
                "hosts": HOSTS,
                "replicas": REPLICAS,
                "target_s": 1.0,
                "meets_target_warm_cpu": primary["warm_cpu_s"] < 1.0,
                "meets_target_cold_cpu": primary["cold_cpu_s"] < 1.0,
                **{f"{k}_{m}": v for k, r in results.items() for m, v in r.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
