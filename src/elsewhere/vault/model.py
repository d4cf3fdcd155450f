"""Subjects, records, purposes and the erasure state machine (pure).

A subject is `active`, `pending` (erasure requested: every use refused until the grace period
ends or k operators approve) or `erased` (data key and records destroyed; only the tombstone —
subject hash, when — is kept so a restore never brings it back). A legal hold blocks erasure
(requesting it, and completing it) until the hold is lifted.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from enum import StrEnum

from elsewhere.errors import Conflict, InputError

PURPOSE_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-.")
MAX_PURPOSES = 16
MAX_SUBJECT_CHARS = 256
MAX_RECORD_BYTES = 64 * 1024


class State(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    ERASED = "erased"


@dataclass(frozen=True)
class VaultSettings:
    """grace: how long a requested erasure waits (every use refused meanwhile); approvals: how
    many distinct operators skip the grace; epoch: how long a backup epoch's key lives."""

    grace: dt.timedelta = dt.timedelta(days=7)
    approvals: int = 2
    epoch: dt.timedelta = dt.timedelta(days=30)

    @classmethod
    def from_env(cls) -> VaultSettings:
        def number(name: str, default: float) -> float:
            raw = os.environ.get(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise InputError(name, raw[:20], "not a number") from None
            if value < 0:
                raise InputError(name, raw[:20], "must not be negative")
            return value

        approvals = number("ELSEWHERE_VAULT_APPROVALS", 2)
        if approvals < 1 or approvals != int(approvals):
            raise InputError("ELSEWHERE_VAULT_APPROVALS", str(approvals), "a whole number ≥ 1")
        return cls(
            grace=dt.timedelta(seconds=number("ELSEWHERE_VAULT_GRACE_SECONDS", 7 * 86400)),
            approvals=int(approvals),
            epoch=dt.timedelta(seconds=number("ELSEWHERE_VAULT_EPOCH_SECONDS", 30 * 86400)),
        )


def check_subject(subject: str) -> str:
    # The id itself is never echoed: a message could end up in a log.
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_CHARS:
        raise InputError("subject", "id", f"must be 1-{MAX_SUBJECT_CHARS} characters")
    if any(ord(c) < 0x20 for c in subject):
        raise InputError("subject", "id", "control characters are not allowed")
    return subject


def check_purpose(purpose: str) -> str:
    if (
        not purpose
        or len(purpose) > 64
        or not set(purpose) <= PURPOSE_CHARS
        or not purpose[0].isalnum()
    ):
        raise InputError(
            "purpose", repr(purpose)[:40], "use 1-64 of a-z 0-9 - . (e.g. gift-matching)"
        )
    return purpose


def check_purposes(purposes: list[str]) -> tuple[str, ...]:
    if not purposes:
        raise InputError("purposes", "list", "name at least one purpose the data is for")
    if len(purposes) > MAX_PURPOSES:
        raise InputError("purposes", "list", f"at most {MAX_PURPOSES}")
    return tuple(sorted({check_purpose(p) for p in purposes}))


def check_record(value: bytes) -> bytes:
    if not value:
        raise InputError("record", "value", "empty")
    if len(value) > MAX_RECORD_BYTES:
        raise InputError("record", "value", f"larger than {MAX_RECORD_BYTES} bytes")
    return value


def usable(state: str) -> None:
    """Any use of a subject (put, release): only while active."""
    if state == State.PENDING:
        raise Conflict("subject has an erasure pending: every use is refused")
    if state == State.ERASED:
        raise Conflict("subject was erased")


def may_request_erasure(state: str, hold: bool) -> None:
    if hold:
        raise Conflict("subject is under legal hold: erasure refused until the hold is lifted")
    if state == State.ERASED:
        raise Conflict("subject was erased already")
    if state == State.PENDING:
        raise Conflict("an erasure is already pending for this subject")


def due(
    state: str,
    hold: bool,
    erase_after: dt.datetime | None,
    approvals: int,
    settings: VaultSettings,
    now: dt.datetime,
) -> bool:
    """Whether a pending erasure may complete now: not held, and the grace period has passed
    or enough distinct operators approved."""
    if state != State.PENDING or hold:
        return False
    return approvals >= settings.approvals or (erase_after is not None and erase_after <= now)
