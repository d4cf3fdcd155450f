"""The commons: time from an approved proposal to sealed results, 3 parties × 1 MB each, and
share releases per second per custodian, beside the floor measured in the same run.

Three custodians run as separate `elsewhere custodian serve` processes (TLS on loopback,
SQLite each); the keep attests with an EMULATED SEV-SNP platform (no hardware protection).

- run: `run_proposal` end to end (3 nonces, evidence, 3 releases over TLS, 2-of-3 Shamir
  joins, AES-GCM open of 3 MB, the wasm analysis in a keep process, the output rule, results
  sealed to 3 parties, 3 output records). Floor: the same run's unavoidable work in process —
  3 × (evidence verify + policy + share unwrap + reseal per dataset), AES-GCM open of 3 MB
  and the analysis in a keep process on the same 3 MB.
- releases: sequential nonce + release requests to ONE custodian (one dataset each); each
  release includes that custodian's veto query to its two peers (signed answers, a fresh TLS
  connection each). Floor: evidence verify + policy + HPKE open + HPKE seal in process.

    .venv/bin/python bench/bench_commons.py [--runs 3] [--releases 30]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from elsewhere.attest.registry import make_attester
from elsewhere.commons.canon import b64
from elsewhere.commons.datasets import encrypt_dataset
from elsewhere.commons.proposals import Proposal, Verb, sign_decision
from elsewhere.commons.rules import AGGREGATE, OutputRule
from elsewhere.commons.session import EncryptedDataset, run_proposal
from elsewhere.commons.shares import split_key
from elsewhere.commons.wire import RELEASE_INFO, SHARE_INFO, combined_nonce, keep_keys, share_aad
from elsewhere.crypto.binding import report_data, workload_digest
from elsewhere.crypto.hpke import KeepKey, PrivateKey, seal
from elsewhere.custodian.local import build, started
from elsewhere.evidence.api import EvidenceOptions, verify_evidence
from elsewhere.keep.config import KeepConfig
from elsewhere.keep.limits import KeepLimits
from elsewhere.keep.runtime import run_module
from elsewhere.keep.wat import wat_to_wasm
from elsewhere.policy.evaluate import compile_policy
from elsewhere.policy.load import parse_policy
from elsewhere.timeutil import utcnow

REPO = Path(__file__).resolve().parent.parent
PARTIES = ("north", "central", "south")
POLICY = (REPO / "examples" / "policy" / "demo-emulated.toml").read_text()
MB = 1 << 20


def csv_mb(seed: int) -> bytes:
    rng = random.Random(seed)
    lines = ["region,week,cases"]
    size = 18
    while size < MB:
        line = f"{rng.randrange(16)},{rng.randrange(64)},{rng.randrange(20)}"
        lines.append(line)
        size += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--releases", type=int, default=30)
    args = parser.parse_args()
    module = wat_to_wasm((REPO / "examples" / "commons" / "cross-border.wat").read_text())
    with tempfile.TemporaryDirectory(prefix="bench-commons-") as directory:
        tmp = Path(directory)
        genoa = make_attester("emulated-snp", tmp / "genoa", generation="Genoa")
        local = build(
            tmp / "c",
            PARTIES,
            ("ca", "cb", "cc"),
            approvals_needed=3,
            shares_needed=2,
            policy_text=POLICY,
            attesters=[genoa],
        )
        with started(local):
            clients = local.clients()
            datas = {name: csv_mb(i) for i, name in enumerate(PARTIES)}
            datasets = []
            for name in PARTIES:
                sealed = encrypt_dataset(
                    local.parties[name], local.roster, f"{name}-mb", datas[name], 100.0
                )
                for d, client in zip(sealed.deposits, clients, strict=True):
                    client.post("/v1/deposits", d.to_json())
                datasets.append(EncryptedDataset(sealed.dataset_id, name, sealed.ciphertext))

            def proposal(pid: str, ds: list[EncryptedDataset]) -> Proposal:
                return Proposal(
                    pid,
                    workload_digest(module).hex(),
                    tuple(sorted(d.dataset_id for d in ds)),
                    OutputRule(AGGREGATE, 10, 0.01, 1),
                    int(time.time()) + 3600,
                    "north",
                )

            run_times = []
            for i in range(args.runs):
                p = proposal(f"run-{i}", datasets)
                decisions = [sign_decision(local.parties[n], Verb.APPROVE, p) for n in PARTIES]
                start = time.perf_counter()
                result = run_proposal(local.roster, clients, p, decisions, datasets, module, genoa)
                run_times.append(time.perf_counter() - start)
                assert len(result.released_by) == 3
            run_s = statistics.median(run_times)
            print(
                f"approved proposal → sealed results, 3 × 1 MB: median {run_s * 1000:.0f} ms "
                f"({', '.join(f'{t * 1000:.0f}' for t in run_times)})"
            )

            # share releases per second, one custodian, one dataset per release
            small = encrypt_dataset(
                local.parties["north"], local.roster, "north-small", b"0,0,1\n", 100.0
            )
            client = clients[0]
            client.post("/v1/deposits", small.deposits[0].to_json())
            key = KeepKey.generate()
            sign_key = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
            start = time.perf_counter()
            for i in range(args.releases):
                p = Proposal(
                    f"rel-{i}",
                    workload_digest(module).hex(),
                    ("north-small",),
                    OutputRule(AGGREGATE, 10, 0.0, 1),
                    int(time.time()) + 3600,
                    "north",
                )
                nonce = bytes.fromhex(client.post(f"/v1/proposals/{p.id}/nonce")["nonce"])
                evidence = genoa.attest(
                    report_data(
                        combined_nonce([nonce]),
                        keep_keys(key.public_bytes(), sign_key),
                        workload_digest(module),
                        p.digest,
                    )
                )
                client.post(
                    "/v1/releases",
                    {
                        "proposal": p.to_json(),
                        "decisions": [
                            sign_decision(local.parties[n], Verb.APPROVE, p).to_json()
                            for n in PARTIES
                        ],
                        "nonces": [nonce.hex()],
                        "keep_public_key": b64(key.public_bytes()),
                        "keep_sign_key": b64(sign_key),
                        "evidence": b64(evidence.evidence),
                        "certificates": b64(evidence.aux),
                    },
                )
            release_s = (time.perf_counter() - start) / args.releases
            print(
                f"share releases, one custodian, sequential over TLS: {1 / release_s:.1f}/s "
                f"({release_s * 1000:.1f} ms each, including the keep's attest and signing)"
            )

        # the floor, in process, in the same run
        policy = compile_policy(parse_policy(POLICY))
        anchors = (genoa.trust_anchor,)  # type: ignore[attr-defined]
        custodian = PrivateKey.generate()
        share = split_key(bytes(32), 2, 3)[0].encode()
        wrapped = seal(custodian.public_key, share, info=SHARE_INFO, aad=share_aad("d", "c"))
        nonce = bytes(32)
        bound = report_data(nonce, key.public_bytes(), workload_digest(module), bytes(32))
        evidence = genoa.attest(bound)
        n = max(10, args.releases)
        start = time.perf_counter()
        for _ in range(n):
            result = verify_evidence(
                evidence.evidence,
                EvidenceOptions(cert_table=evidence.aux, trusted_emulated_roots=anchors),
            )
            policy.evaluate(
                result, at=utcnow(), expected_report_data=bound.hex(), keep_key_suite=key.suite.name
            )
        verify_s = (time.perf_counter() - start) / n
        start = time.perf_counter()
        for _ in range(n):
            plain = custodian.open(wrapped, info=SHARE_INFO, aad=share_aad("d", "c"))
            seal(key.public_key, plain, info=RELEASE_INFO, aad=b"x")
        hpke_s = (time.perf_counter() - start) / n
        floor_release_s = verify_s + hpke_s
        print(
            "floor per release (verify + policy + HPKE open + seal, in process): "
            f"{floor_release_s * 1000:.2f} ms"
        )

        joined = []
        for name in PARTIES:
            k = AESGCM.generate_key(bit_length=256)
            ct = b"\x00" * 12 + AESGCM(k).encrypt(b"\x00" * 12, datas[name], b"")
            joined.append((k, ct))
        aes_start = time.perf_counter()
        stdin = b"".join(AESGCM(k).decrypt(ct[:12], ct[12:], b"") for k, ct in joined)
        aes_s = time.perf_counter() - aes_start
        limits = KeepLimits(max_stdin_bytes=8 * MB)
        keep_start = time.perf_counter()
        outcome = run_module(
            module, KeepConfig(workload_digest=workload_digest(module), limits=limits), stdin=stdin
        )
        keep_s = time.perf_counter() - keep_start
        assert outcome.ok
        floor_run_s = 3 * verify_s + 9 * hpke_s + aes_s + keep_s  # 3 custodians, 3 datasets each
        print(
            f"floor per run (3 verifies + 9 share rewraps + AES-GCM 3 MB {aes_s * 1000:.1f} ms "
            f"+ analysis in a keep {keep_s * 1000:.0f} ms): {floor_run_s * 1000:.0f} ms"
        )
        summary = {
            "bench": "commons",
            "run_ms": round(run_s * 1000, 1),
            "run_floor_ms": round(floor_run_s * 1000, 1),
            "run_ratio_to_floor": round(run_s / floor_run_s, 2),
            "releases_per_s_per_custodian": round(1 / release_s, 1),
            "release_floor_per_s": round(1 / floor_release_s, 1),
            "release_ratio_to_floor": round(release_s / floor_release_s, 2),
            "emulated": True,
        }
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
