"""`elsewhere demo`: an emulated SEV-SNP platform signs a report; it is verified, then a
tampered copy is refused. Everything here is EMULATED: no hardware protection."""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from typing import Any

from elsewhere.claims import EMULATED_WARNING
from elsewhere.cli.evidence import render_result
from elsewhere.errors import EXIT_OK, EXIT_REFUSED
from elsewhere.evidence import EvidenceOptions, verify_evidence
from elsewhere.evidence.snp.abi import OFFSETS
from elsewhere.evidence.snp.emulate import EmulatedSnpPlatform


def register(commands: Any) -> None:
    demo = commands.add_parser("demo", help="run the end-to-end demonstration (emulated)")
    demo.add_argument("--generation", default="Genoa", choices=("Milan", "Genoa", "Turin"))
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="elsewhere-demo-") as directory:
        print(f"1. create an emulated {args.generation} SEV-SNP platform (ARK -> ASK -> VCEK)")
        platform = EmulatedSnpPlatform.create(directory, generation=args.generation)
        print(f"   WARNING: {EMULATED_WARNING}")
        nonce = hashlib.sha256(b"elsewhere demo nonce").digest()
        report, table = platform.attest(nonce)
        print(f"2. the guest asks for a report binding report_data = {nonce.hex()[:16]}...")
        options = EvidenceOptions(cert_table=table, trusted_emulated_roots=(platform.trust_anchor,))
        result = verify_evidence(report, options)
        print("3. verify it, trusting the emulated root explicitly:\n")
        print(render_result(result))
        print("\n4. the same report without trusting the emulated root:")
        untrusted = verify_evidence(report, EvidenceOptions(cert_table=table))
        print(f"   refused because {untrusted.failures[0]}")
        tampered = bytearray(report)
        tampered[OFFSETS["measurement"]] ^= 0x01  # one bit of the launch measurement
        print("5. a copy with one bit of MEASUREMENT flipped:")
        refused = verify_evidence(bytes(tampered), options)
        for failure in refused.failures:
            print(f"   refused because {failure}")
        ok = result.verified and not untrusted.verified and not refused.verified
        return EXIT_OK if ok else EXIT_REFUSED
