"""Appends forever to a ledger, printing each acknowledged (committed) entry and each signed
checkpoint; the crash test SIGKILLs it mid-stream. Not a test module itself."""

from __future__ import annotations

import json
import random
import sys

from elsewhere.ledger.log import Ledger


def main(url: str, key: str, origin: str, seed: int) -> None:
    ledger = Ledger.open(url, key, origin)
    rng = random.Random(seed)
    sequence = 0
    while True:
        batch = [
            {"kind": "crash", "seed": seed, "seq": sequence + i} for i in range(rng.randint(1, 25))
        ]
        indexes = ledger.append_many(batch)  # returns only after the commit
        lines = [f"ack {index} {seed} {sequence + i}" for i, index in enumerate(indexes)]
        sequence += len(batch)
        if rng.random() < 0.2:
            signed = ledger.checkpoint()
            lines.append("checkpoint " + json.dumps(signed.to_bytes().decode()))
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
