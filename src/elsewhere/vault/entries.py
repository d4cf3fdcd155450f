"""The vault's ledger entries. Subjects appear only as their keyed hash; no value, no key."""

from __future__ import annotations

import datetime as dt
from typing import Any

from elsewhere.ledger.entries import SCHEMA
from elsewhere.timeutil import iso

RELEASE = "vault.release"
ERASURE_REQUESTED = "vault.erasure-requested"
HOLD = "vault.hold"
APPROVAL = "vault.approval"
ERASED = "vault.erased"
EPOCH_EXPIRED = "vault.epoch-expired"


def entry(kind: str, at: dt.datetime, **fields: Any) -> dict[str, Any]:
    return {"schema": SCHEMA, "kind": kind, "at": iso(at)} | {
        k: v for k, v in fields.items() if v is not None
    }
