"""A whole commons on one machine, for the demo, the tests and the benchmark: parties' keys,
custodians initialised, a roster, and each custodian as its OWN PROCESS serving TLS on
loopback (`elsewhere custodian serve`). Everything here is on one disk, so it shows the
protocol, not the independence the real thing needs (docs/commons.md)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from elsewhere.attest.base import Attester
from elsewhere.commons.client import CustodianClient
from elsewhere.commons.roster import PartyKeys, Roster
from elsewhere.crypto.devtls import DevCA
from elsewhere.custodian.keys import init_dir
from elsewhere.errors import ConfigError

START_TIMEOUT_S = 120.0
_MAIN = "from elsewhere.cli import main; raise SystemExit(main())"


@dataclass
class Running:
    name: str
    process: subprocess.Popen[str]
    url: str


@dataclass
class LocalCommons:
    root: Path
    roster: Roster
    parties: dict[str, PartyKeys]
    ca: DevCA
    policy: Path
    anchors: tuple[Path, ...]
    database_urls: dict[str, str | None]
    running: dict[str, Running] = field(default_factory=dict)
    _clients: dict[str, CustodianClient] = field(default_factory=dict)

    def client(self, name: str) -> CustodianClient:
        """One client per custodian, kept (its connections are closed before a stop)."""
        if name not in self._clients:
            custodian = self.roster.custodian(name)
            assert custodian is not None
            self._clients[name] = CustodianClient(name, custodian.url, self.ca.cert_path)
        return self._clients[name]

    def clients(self) -> list[CustodianClient]:
        return [self.client(c.name) for c in self.roster.custodians]

    def start(self, name: str) -> Running:
        return self.start_many([name])[0]

    def start_many(self, names: Sequence[str]) -> list[Running]:
        """Start the processes together (each migrates its store), then wait for each."""
        processes = [(name, self._spawn(name)) for name in names]
        out = []
        for name, process in processes:
            line = _wait_line(process, "listening on")
            running = Running(name, process, line.rsplit(" ", 1)[1].strip())
            self.running[name] = running
            out.append(running)
        return out

    def _spawn(self, name: str) -> subprocess.Popen[str]:
        custodian_dir = self.root / "custodians" / name
        tls = self.ca.server(self.root / "tls", name)
        port = self.roster.custodian(name).url.rsplit(":", 1)[1]  # type: ignore[union-attr]
        command = [
            sys.executable,
            "-c",
            _MAIN,
            "custodian",
            "serve",
            "--dir",
            str(custodian_dir),
            "--roster",
            str(self.root / "roster.json"),
            "--policy",
            str(self.policy),
            "--port",
            port,
            "--tls-cert",
            str(tls.cert),
            "--tls-key",
            str(tls.key),
            "--peer-ca",
            str(self.ca.cert_path),
        ]
        for anchor in self.anchors:
            command += ["--trust-emulated-root", str(anchor)]
        url = self.database_urls.get(name)
        if url:
            command += ["--database-url", url]
        return subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )

    def stop(self, name: str) -> None:
        client = self._clients.pop(name, None)
        if client is not None:
            client.close()
        running = self.running.pop(name)
        running.process.send_signal(signal.SIGTERM)
        try:
            running.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def _wait_line(process: subprocess.Popen[str], marker: str) -> str:
    arrived: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            arrived.put(line)
        arrived.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    while True:
        try:
            line = arrived.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            process.kill()
            raise ConfigError(
                "custodian", "start", f"no answer in {START_TIMEOUT_S:.0f} s"
            ) from None
        if line is None:
            raise ConfigError(
                "custodian", "start", "exited: " + " | ".join(s.strip() for s in seen[-3:])
            )
        seen.append(line)
        if marker in line:
            return line  # the pump goes on reading: the child never blocks on a full pipe


def free_ports(count: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def build(
    root: Path,
    party_names: Sequence[str],
    custodian_names: Sequence[str],
    *,
    approvals_needed: int,
    shares_needed: int,
    policy_text: str,
    attesters: Sequence[Attester] = (),
    database_urls: dict[str, str | None] | None = None,
    control_plane_log_key: str | None = None,
    veto_quorum: int | None = None,
) -> LocalCommons:
    """Keys, roster and policy on disk; nothing started yet."""
    root.mkdir(parents=True, exist_ok=True)
    parties = {name: PartyKeys.generate(name) for name in party_names}
    ports = free_ports(len(custodian_names))
    publics = []
    for name, port in zip(custodian_names, ports, strict=True):
        public = init_dir(root / "custodians" / name, name)
        publics.append(public | {"url": f"https://127.0.0.1:{port}"})
    roster_doc = {
        "commons": "local-commons",
        "approvals_needed": approvals_needed,
        "shares_needed": shares_needed,
        "parties": [p.public.to_json() for p in parties.values()],
        "custodians": publics,
    } | ({"control_plane_log_key": control_plane_log_key} if control_plane_log_key else {})
    if veto_quorum is not None:
        roster_doc["veto_quorum"] = veto_quorum
    (root / "roster.json").write_text(json.dumps(roster_doc, indent=2))
    policy = root / "policy.toml"
    policy.write_text(policy_text)
    anchors = []
    for index, attester in enumerate(attesters):
        anchor = getattr(attester, "trust_anchor", None)
        if anchor is not None:
            path = root / f"emulated-root-{index}.der"
            path.write_bytes(anchor.der)
            anchors.append(path)
    return LocalCommons(
        root,
        Roster.from_json(roster_doc),
        parties,
        DevCA.create(root / "tls"),
        policy,
        tuple(anchors),
        database_urls or {},
    )


@contextlib.contextmanager
def started(commons: LocalCommons) -> Iterator[LocalCommons]:
    try:
        commons.start_many([c.name for c in commons.roster.custodians])
        yield commons
    finally:
        commons.stop_all()
