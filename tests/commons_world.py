"""A commons for the tests: three parties, three custodians (k = 2) as separate processes
over TLS on loopback, an emulated Genoa keep (accepted) and an emulated Milan keep (refused
by every custodian's policy). EMULATED: no hardware protection."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from elsewhere.attest.base import Attester
from elsewhere.attest.registry import make_attester
from elsewhere.commons.client import CustodianClient
from elsewhere.commons.datasets import encrypt_dataset
from elsewhere.commons.proposals import Decision, Proposal, Verb, sign_decision
from elsewhere.commons.rules import OutputRule
from elsewhere.commons.session import EncryptedDataset, RunResult, run_proposal
from elsewhere.crypto.binding import workload_digest
from elsewhere.custodian.local import LocalCommons, build, started
from elsewhere.keep.wat import wat_to_wasm
from tls_support import DevCA  # noqa: F401 - the CA the world's custodians serve under

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "commons"
PARTIES = ("north", "central", "south")
CUSTODIANS = ("cust-a", "cust-b", "cust-c")
POLICY = (REPO / "examples" / "policy" / "demo-emulated.toml").read_text()


def analysis() -> bytes:
    return wat_to_wasm((EXAMPLE / "cross-border.wat").read_text())


@dataclass
class World:
    local: LocalCommons
    genoa: Attester
    milan: Attester
    module: bytes

    @property
    def clients(self) -> list[CustodianClient]:
        return self.local.clients()

    def deposit(self, tag: str, budget: float = 1.0) -> list[EncryptedDataset]:
        """Each party's dataset (ids <party>-<tag>), deposited with every custodian."""
        out = []
        clients = self.clients
        for name in PARTIES:
            data = (EXAMPLE / f"{name}.csv").read_bytes()
            sealed = encrypt_dataset(
                self.local.parties[name], self.local.roster, f"{name}-{tag}", data, budget
            )
            for deposit, client in zip(sealed.deposits, clients, strict=True):
                client.post("/v1/deposits", deposit.to_json())
            out.append(EncryptedDataset(sealed.dataset_id, name, sealed.ciphertext))
        return out

    def proposal(
        self,
        pid: str,
        datasets: list[EncryptedDataset],
        *,
        epsilon: float = 0.0,
        module: bytes | None = None,
        min_group: int = 10,
    ) -> Proposal:
        return Proposal(
            id=pid,
            analysis_digest=workload_digest(module or self.module).hex(),
            datasets=tuple(sorted(d.dataset_id for d in datasets)),
            rule=OutputRule("aggregate", min_group, epsilon, 1),
            expires_at=int(time.time()) + 600,
            proposer="north",
        )

    def approvals(self, proposal: Proposal, parties: tuple[str, ...] = PARTIES) -> list[Decision]:
        return [sign_decision(self.local.parties[p], Verb.APPROVE, proposal) for p in parties]

    def run(
        self,
        proposal: Proposal,
        decisions: list[Decision],
        datasets: list[EncryptedDataset],
        *,
        attester: Attester | None = None,
        module: bytes | None = None,
    ) -> RunResult:
        return self.run_with(
            self.clients, proposal, decisions, datasets, attester=attester, module=module
        )

    def run_with(
        self,
        clients: list[CustodianClient],
        proposal: Proposal,
        decisions: list[Decision],
        datasets: list[EncryptedDataset],
        *,
        attester: Attester | None = None,
        module: bytes | None = None,
    ) -> RunResult:
        """A run whose keep asks only these custodians."""
        return run_proposal(
            self.local.roster,
            clients,
            proposal,
            decisions,
            datasets,
            module or self.module,
            attester or self.genoa,
        )


@contextlib.contextmanager
def world(
    tmp: Path,
    database_urls: dict[str, str | None] | None = None,
    control_plane_log_key: str | None = None,
    veto_quorum: int | None = None,
) -> Iterator[World]:
    genoa = make_attester("emulated-snp", tmp / "genoa", generation="Genoa")
    milan = make_attester("emulated-snp", tmp / "milan", generation="Milan")
    local = build(
        tmp / "commons",
        PARTIES,
        CUSTODIANS,
        approvals_needed=2,
        shares_needed=2,
        policy_text=POLICY,
        attesters=[genoa, milan],
        database_urls=database_urls,
        control_plane_log_key=control_plane_log_key,
        veto_quorum=veto_quorum,
    )
    with started(local):
        yield World(local, genoa, milan, analysis())
