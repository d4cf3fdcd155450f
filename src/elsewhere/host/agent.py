"""The host agent: register, poll for assignments, and run each one in a fresh keep.

Per assignment: fetch the module (its SHA-384 must be the assigned digest), generate a fresh
HPKE key pair held only in the keep's memory, ask for a single-use nonce, obtain evidence whose
report_data = binding(nonce, keep public key, workload digest, policy digest), submit it; on
"affirming", open the wrapped secrets with the keep key, run the module with its args, env,
stdin, secrets (read-only files under /secrets) and limits, and report the result with the
keep's isolation report — output sealed to the tenant's key when the deployment gave one.
Polling is the heartbeat: each keep runs in its own process (keep/runtime.py), watched by a
worker thread, so a long run never silences the host, and a withdrawn or timed-out keep is
killed even when its guest is blocked in a WASI call. A running keep the heartbeat lists under
`reattest` re-attests: a fresh nonce, fresh evidence, the SAME keep key (kept while the keep
runs); one the control plane evicts for it is stopped at once. A re-attestation that fails
(the attester, the network, a refusal) is tried again at the heartbeats after a wait that
doubles with each failure in a row, up to REATTEST_RETRY_MAX: a host that cannot attest does
not ask for a nonce at every heartbeat; the control plane evicts the keep at its deadline.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from elsewhere.attest import Attester, AttestError
from elsewhere.claims import VerificationResult
from elsewhere.crypto.binding import report_data
from elsewhere.crypto.hpke import DEFAULT_SUITE, HpkeSuite, KeepKey, seal
from elsewhere.errors import ElsewhereError, Unauthenticated
from elsewhere.host.client import ApiFailure, Client, b64
from elsewhere.host.vaultread import VaultRead
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.isolation import isolation_report
from elsewhere.keep.limits import KeepLimits
from elsewhere.keep.runtime import KeepResult, run_module
from elsewhere.keep.stop import KeepStop
from elsewhere.wire import RESULT_INFO, SECRET_INFO, digest_bytes, result_aad, secret_aad

log = logging.getLogger("elsewhere.host")
REATTEST_RETRY_MAX = 60.0  # seconds between two tries of a failing re-attestation, at most


@dataclass
class Outcome:
    """What happened to one assignment (for logs, the demo and tests)."""

    placement: str
    verdict: str
    reasons: list[str] = field(default_factory=list)
    exit_code: int | None = None
    error: str | None = None


class HostAgent:
    def __init__(
        self,
        client: Client,
        attester: Attester,
        *,
        name: str,
        capacity: int = 4,
        on_outcome: Callable[[Outcome], None] | None = None,
        suite: HpkeSuite = DEFAULT_SUITE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.attester, self.name, self.capacity = client, attester, name, capacity
        self.suite = suite  # each keep's HPKE key pair: ML-KEM-768 + X25519 unless asked
        self.on_outcome = on_outcome
        self.host_id: str | None = None
        self.interval = 1.0
        self._busy: dict[str, KeepStop] = {}  # placements in hand, each with its stop
        self._keys: dict[str, KeepKey] = {}  # running keeps' keys, for their re-attestations
        # placement → (re-attestations failed in a row, the clock's time before which not to
        # try again); `clock` is injectable so that tests need not wait for it
        self._retry: dict[str, tuple[int, float]] = {}
        self._clock = clock
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=capacity, thread_name_prefix=f"keep-{name}")
        self.stopping = threading.Event()
        self._stop_requested = False  # set by a signal handler: a plain flag, no lock

    def register(self) -> str:
        answer = self.client.register(self.name, self.attester.kind, self.capacity)
        self.host_id = str(answer["host"])
        self.interval = float(answer.get("heartbeat_seconds", 1.0))
        return self.host_id

    def poll_once(self) -> list[Future[Outcome]]:
        """Heartbeat, start a keep for each new assignment, and stop each keep whose placement
        the control plane no longer lists (evicted, drained, or its deployment stopped)."""
        answer = self.client.poll()
        started = []
        for assignment in answer["assignments"]:
            placement = assignment["placement"]
            with self._lock:
                if placement in self._busy:
                    continue
                stop = self._busy[placement] = KeepStop()
            started.append(self._pool.submit(self._guarded, assignment, stop))
        if "running" in answer:  # a control plane that predates it withdraws nothing here
            listed = {a["placement"] for a in answer["assignments"]} | set(answer["running"])
            with self._lock:
                withdrawn = [(p, s) for p, s in self._busy.items() if p not in listed]
            for placement, stop in withdrawn:
                if stop.reason is None:
                    log.warning(
                        "%s: placement %s withdrawn: stopping its keep", self.name, placement
                    )
                stop.stop("the control plane withdrew the placement")
        for placement in answer.get("reattest", []):
            with self._lock:
                key = self._keys.get(placement)
            if key is None:
                continue  # not running here (any more): the control plane will withdraw it
            self._reattest_when_due(placement, key)
        return started

    def _reattest_when_due(self, placement: str, key: KeepKey) -> None:
        """Re-attest now unless the last tries failed and their wait has not passed."""
        now = self._clock()
        with self._lock:  # the keep's thread drops its entry when the keep ends
            failures, not_before = self._retry.get(placement, (0, now))
        if now < not_before:
            return
        try:
            self.reattest(placement, key)
        except ElsewhereError as error:
            failures += 1
            wait = min(REATTEST_RETRY_MAX, self.interval * 2**failures)
            with self._lock:
                if placement in self._keys:  # still running: not re-added after its end
                    self._retry[placement] = (failures, now + wait)
            log.warning(
                "%s: re-attesting %s failed (%d in a row; next try in %.0f s): %s",
                self.name,
                placement,
                failures,
                wait,
                error.message,
            )
            return
        with self._lock:
            self._retry.pop(placement, None)

    def reattest(self, placement: str, key: KeepKey) -> dict[str, Any]:
        """Fresh evidence for a running keep with the key it was released to; an eviction
        stops the keep now (the next heartbeat would withdraw it anyway)."""
        _, body = self._evidence(key, self.client.nonce(placement))
        answer = self.client.reattest(placement, body)
        if answer.get("action") == "evict":
            log.warning("%s: placement %s evicted at re-attestation", self.name, placement)
            with self._lock:
                stop = self._busy.get(placement)
            if stop is not None:
                stop.stop("evicted at re-attestation")
        return answer

    def _evidence(self, key: KeepKey, issued: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        """The binding of a nonce answer and the attest (or re-attest) request body."""
        nonce = bytes.fromhex(issued["nonce"])
        # Bind what the control plane says now (a policy change re-issues the digest).
        binding = report_data(
            nonce,
            key.public_bytes(),
            bytes.fromhex(issued["workload_digest"]),
            digest_bytes(issued["policy_digest"]),
        )
        evidence = self.attester.attest(binding)
        none = evidence.format == "none"
        return binding, {
            "nonce": nonce.hex(),
            "keep_public_key": b64(key.public_bytes()),
            "evidence": b64(evidence.evidence),
            "certificates": b64(evidence.aux) if evidence.aux else None,
            "format": evidence.format if none else None,
            "report_data": evidence.report_data.hex() if none else None,
        }

    def run(self, poll_interval: float | None = None) -> None:
        """Poll until `stop()`; the control plane unreachable is logged and retried, this
        host's token refused (revoked) ends it: no retry can succeed."""
        if self.host_id is None:
            self.register()
        while not (self.stopping.is_set() or self._stop_requested):
            try:
                self.poll_once()
            except ApiFailure as failure:
                if failure.status == 401:
                    raise Unauthenticated(
                        f"host token refused: {failure.message}; the agent stops "
                        "(a new token: elsewhere host-token create)"
                    ) from None
                log.warning("%s: poll failed: %s", self.name, failure.message)
            except ElsewhereError as error:
                log.warning("%s: poll failed: %s", self.name, error.message)
            self.stopping.wait(poll_interval or min(self.interval, 1.0))

    def request_stop(self) -> None:
        """Ask `run()` to return after its current poll (at most one interval). Safe from a
        signal handler: it takes no lock, so it cannot deadlock with the interrupted code."""
        self._stop_requested = True

    def stop(self) -> None:
        """Stop polling, stop the keeps still running (their placements are re-queued when
        the control plane misses this host's heartbeat), and wait for them to end: at most
        KILL_GRACE_S per keep, after which its process is killed and its secrets removed."""
        self.stopping.set()
        with self._lock:
            running = list(self._busy.values())
        for keep in running:
            keep.stop("the host is shutting down")
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _guarded(self, assignment: dict[str, Any], stop: KeepStop) -> Outcome:
        placement = assignment["placement"]
        try:
            outcome = self.run_assignment(assignment, stop)
        except ElsewhereError as error:
            outcome = Outcome(placement, "error", error=error.message)
            log.warning("%s: placement %s: %s", self.name, placement, error.message)
        except Exception as error:  # a bug or a malformed answer: the type only (no secrets)
            outcome = Outcome(placement, "error", error=type(error).__name__)
            log.error("%s: placement %s failed: %s", self.name, placement, type(error).__name__)
        finally:
            with self._lock:
                self._busy.pop(placement, None)
                self._keys.pop(placement, None)
                self._retry.pop(placement, None)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    def run_assignment(self, assignment: dict[str, Any], stop: KeepStop | None = None) -> Outcome:
        placement = assignment["placement"]
        stop = stop or KeepStop()
        limits = KeepLimits.from_json(assignment.get("limits") or {})
        wasm = self.client.workload(placement)
        # Fresh per keep; the private half never leaves this process.
        key = KeepKey.generate(self.suite)
        issued = self.client.nonce(placement)
        workload_digest = bytes.fromhex(issued["workload_digest"])
        try:
            binding, body = self._evidence(key, issued)
        except AttestError as failed:
            # Say so rather than hold the work: the control plane re-places the replica.
            why = failed.message
            log.warning("%s: placement %s: cannot attest: %s", self.name, placement, why)
            self.client.refuse(placement, why)
            return Outcome(placement, "refused", error=why)
        answer = self.client.attest(placement, body)
        if not answer["accepted"]:
            return Outcome(placement, answer["verdict"], list(answer["reasons"]))
        with self._lock:
            self._keys[placement] = key
        secrets = {
            name: key.open(
                base64.b64decode(sealed), info=SECRET_INFO, aad=secret_aad(placement, name)
            )
            for name, sealed in answer["secrets"].items()
        }
        config = KeepConfig(
            workload_digest=workload_digest,
            args=tuple(assignment.get("args") or ()),
            env=dict(assignment.get("env") or {}),
            limits=limits,
            secret_names=tuple(sorted(secrets)),
            attester_kind=self.attester.kind,
        )
        stdin = base64.b64decode(assignment.get("stdin") or "")
        error: str | None = None
        try:
            result: KeepResult | None = run_module(
                wasm,
                config,
                stdin=stdin,
                secrets=secrets,
                stop=stop,
                vault=VaultRead(self.client, placement, key),
            )
        except ElsewhereError as failure:
            result, error = None, failure.message
        finally:
            secrets.clear()
        if result is not None and result.outcome == "stopped":
            # The placement is no longer this host's: a result would be refused (409).
            return Outcome(placement, "stopped", exit_code=None, error=result.trap)
        report = self._report(assignment, config, key, binding, answer, result, error)
        self.client.result(placement, report)
        return Outcome(
            placement,
            answer["verdict"],
            exit_code=None if result is None else result.exit_code,
            error=error,
        )

    def _report(
        self,
        assignment: dict[str, Any],
        config: KeepConfig,
        key: KeepKey,
        binding: bytes,
        answer: dict[str, Any],
        result: KeepResult | None,
        error: str | None,
    ) -> dict[str, Any]:
        placement = assignment["placement"]
        stdout = result.stdout if result else b""
        stderr = result.stderr if result else b""
        sealed = assignment.get("result_key") is not None
        if sealed:
            tenant_key = base64.b64decode(assignment["result_key"])
            stdout = seal(tenant_key, stdout, info=RESULT_INFO, aad=result_aad(placement, "stdout"))
            stderr = seal(tenant_key, stderr, info=RESULT_INFO, aad=result_aad(placement, "stderr"))
        if error is None and result is not None and not result.ok:
            error = f"{result.outcome}" + (f": {result.trap}" if result.trap else "")
        return {
            "exit_code": None if result is None else result.exit_code,
            "error": error if (result is None or not result.ok) else None,
            "stdout": b64(stdout),
            "stderr": b64(stderr),
            "sealed": sealed,
            "isolation": keep_isolation(config, answer, binding, key),
            "duration_ms": None if result is None else int(result.wall_time_s * 1000),
        }


def keep_isolation(
    config: KeepConfig, answer: dict[str, Any], binding: bytes, key: KeepKey
) -> dict[str, Any]:
    """The keep module's isolation report, from the verification the control plane did."""
    report = isolation_report(
        config, VerificationResult.from_json(answer["verification"]), report_data=binding
    ).to_json()
    report["keep_key_digest"] = "sha256:" + key.public_key.fingerprint()
    return report
