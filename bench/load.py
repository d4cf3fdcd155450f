"""The client side of the fault campaign and the scaling bench: a round-robin client that
fails over as a load balancer would, and the load (keeps doing attest-and-release, a host
heartbeat, a writer storing secrets), recording every release received and every write
acknowledged for bench/invariants.py."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from cluster import World
from elsewhere.crypto.binding import report_data
from elsewhere.crypto.hpke import KeepKey, PublicKey
from elsewhere.host.client import b64
from elsewhere.wire import digest_bytes


class Unavailable(Exception):
    """No replica answered (each refused the connection, timed out or said 5xx)."""


# 5xx: the replica is up but cannot serve (its database is down): try the next one.
RETRY_STATUSES = frozenset({500, 502, 503, 504, 507})


class RoundRobin:
    """One keep-alive connection per replica; each request goes to the next replica, and on
    a connection error, a timeout or a 5xx to the one after, until every one was tried."""

    def __init__(self, urls: list[str], token: str, timeout: float = 3.0) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.clients = [httpx.Client(base_url=u, headers=headers, timeout=timeout) for u in urls]
        self.turn = 0
        self.failovers = 0
        self.statuses: dict[int, int] = {}  # 5xx statuses seen (a replica that could not serve)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for _ in range(len(self.clients)):
            client = self.clients[self.turn % len(self.clients)]
            self.turn += 1
            try:
                response = client.request(method, path, **kwargs)
            except httpx.TransportError:
                self.failovers += 1
                continue
            if response.status_code in RETRY_STATUSES:
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                self.failovers += 1
                continue
            return response
        raise Unavailable(f"{method} {path}: no replica answered")

    def close(self) -> None:
        for client in self.clients:
            client.close()


@dataclass(frozen=True)
class Receipt:
    """A release a keep received: what the ledger must hold at `ledger_index`."""

    nonce: str
    ledger_index: int
    evidence: bytes
    keep_key_digest: str
    secrets: tuple[str, ...]
    began: float  # time.monotonic() before its nonce was asked for
    at: float  # time.monotonic() when the release arrived


@dataclass
class Tally:
    receipts: list[Receipt] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)  # secret names stored (201 received)
    replays: int = 0  # 409 on a retried attest: its first try had committed
    unavailable: int = 0
    unexpected: list[str] = field(default_factory=list)
    failovers: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # 5xx answers, by status
    lock: threading.Lock = field(default_factory=threading.Lock)

    def first_release_after(self, moment: float) -> float | None:
        """When the first release arrived whose attempt began after `moment`."""
        with self.lock:
            times = [r.at for r in self.receipts if r.began > moment]
        return min(times) if times else None


class Load:
    """`keeps` threads doing attest-and-release in a loop, a heartbeat and a secret writer,
    all through round-robin clients, until `stop()`."""

    def __init__(
        self,
        urls: list[str],
        world: World,
        keeps: int,
        writes: bool = True,
        heartbeat: bool = True,
        timeout: float = 3.0,
    ) -> None:
        self.urls, self.world, self.tally = urls, world, Tally()
        self.timeout = timeout  # past it a request fails over to the next replica
        self.halt = threading.Event()
        self.threads = [
            threading.Thread(target=self._keep, args=(p,), daemon=True)
            for p in world.placements[:keeps]
        ]
        if heartbeat:  # a host silent for heartbeat_timeout (15 s) loses its placements
            self.threads.append(threading.Thread(target=self._heartbeat, daemon=True))
        if writes:
            self.threads.append(threading.Thread(target=self._writer, daemon=True))

    def start(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> Tally:
        self.halt.set()
        for thread in self.threads:
            thread.join(60)
        return self.tally

    def _note(self, what: str) -> None:
        with self.tally.lock:
            if len(self.tally.unexpected) < 50:
                self.tally.unexpected.append(what)

    def _keep(self, placement: str) -> None:
        client = RoundRobin(self.urls, self.world.host, self.timeout)
        key = KeepKey.generate()
        public = key.public_bytes()
        digest = "sha256:" + PublicKey.parse(public).fingerprint()
        try:
            while not self.halt.is_set():
                try:
                    self._release(client, placement, key, public, digest)
                except Unavailable:
                    with self.tally.lock:
                        self.tally.unavailable += 1
                    self.halt.wait(0.1)
        finally:
            self._merge(client)

    def _release(
        self, client: RoundRobin, placement: str, key: KeepKey, public: bytes, digest: str
    ) -> None:
        began = time.monotonic()
        issued = client.request("POST", f"/v1/placements/{placement}/nonce")
        if issued.status_code != 200:
            self._note(f"nonce: {issued.status_code} {issued.text[:120]}")
            self.halt.wait(0.1)
            return
        doc = issued.json()
        nonce = bytes.fromhex(doc["nonce"])
        binding = report_data(
            nonce, public, bytes.fromhex(doc["workload_digest"]), digest_bytes(doc["policy_digest"])
        )
        evidence = self.world.attester.attest(binding)
        body = {
            "nonce": doc["nonce"],
            "keep_public_key": b64(public),
            "evidence": b64(evidence.evidence),
            "certificates": b64(evidence.aux),
        }
        # The same body to the next replica after a failure: if the first had committed, the
        # nonce is spent and the answer is 409 (replay refused), never a second release.
        answer = client.request("POST", f"/v1/placements/{placement}/attest", json=body)
        if answer.status_code == 409 and "replay" in answer.text:
            with self.tally.lock:
                self.tally.replays += 1
            return
        if answer.status_code != 200:
            self._note(f"attest: {answer.status_code} {answer.text[:120]}")
            return
        result = answer.json()
        if not result.get("secrets"):
            self._note(f"attest: no secrets ({result.get('verdict')}: {result.get('reasons')})")
            return
        receipt = Receipt(
            doc["nonce"],
            int(result["ledger_index"]),
            evidence.evidence,
            digest,
            tuple(sorted(result["secrets"])),
            began,
            time.monotonic(),
        )
        with self.tally.lock:
            self.tally.receipts.append(receipt)

    def _merge(self, client: RoundRobin) -> None:
        with self.tally.lock:
            self.tally.failovers += client.failovers
            for status, count in client.statuses.items():
                self.tally.statuses[status] = self.tally.statuses.get(status, 0) + count
        client.close()

    def _heartbeat(self) -> None:
        client = RoundRobin(self.urls, self.world.host)
        while not self.halt.wait(1.0):
            try:
                client.request("GET", "/v1/hosts/me/assignments")
            except Unavailable:
                continue
        client.close()

    def _writer(self) -> None:
        client = RoundRobin(self.urls, self.world.tenant)
        number = 0
        while not self.halt.wait(0.25):
            number += 1
            name = f"ack-{os.getpid()}-{number}"
            try:
                stored = client.request(
                    "PUT",
                    f"/v1/secrets/{name}",
                    content=name.encode(),
                    headers={"Content-Type": "application/octet-stream"},
                )
            except Unavailable:
                continue
            if stored.status_code == 201:
                with self.tally.lock:
                    self.tally.acked.append(name)
        self._merge(client)
