"""Retention rules and the sweep that applies them (`elsewhere vault sweep`, scheduled).

A sweep first completes the pending erasures whose grace period ended, then, rule by rule,
finds the subjects due (one statement per rule) and erases them in batches of BATCH subjects,
one transaction and one ledger append per batch. A rule is the tenant's standing decision, so
its erasures need no grace period; a legal hold still blocks them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.engine import Connection

from elsewhere.control.broker.secrets import Kek
from elsewhere.control.store.ids import new_id
from elsewhere.control.store.transactions import read, write
from elsewhere.control.vault.erasure import complete_due, flush, shred
from elsewhere.control.vault.records import subject_key
from elsewhere.errors import InputError, NotFound
from elsewhere.ledger.log import Ledger
from elsewhere.timeutil import iso, utcnow
from elsewhere.vault.model import State, check_purpose
from elsewhere.vault.retention import Rule, RuleKind, Scope
from elsewhere.vault.schema import vault_purposes, vault_rules, vault_subjects

BATCH = 2000


@dataclass(frozen=True)
class SweepResult:
    grace_ended: int
    by_rule: dict[str, int]
    # PostgreSQL: dead row versions VACUUM FULL had to keep (a transaction might still see
    # them); the next sweep vacuums again while this is not 0.
    unvacuumed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "grace_ended": self.grace_ended,
            "by_rule": self.by_rule,
            "unvacuumed": self.unvacuumed,
        }


_left_over = {"rows": 0}  # per process: what the last sweep's VACUUM FULL could not remove


def add_rule(
    conn: Connection, kek: Kek, tenant_id: str, scope: str, target: str, rule: str
) -> dict[str, Any]:
    try:
        where = Scope(scope)
    except ValueError:
        raise InputError("retention rule", "scope", "purpose or subject") from None
    parsed = Rule.parse(rule)
    # A subject rule names the subject's hash: the id itself is not kept.
    key = check_purpose(target) if where is Scope.PURPOSE else subject_key(kek, tenant_id, target)
    rule_id = new_id("ret")
    conn.execute(
        insert(vault_rules).values(
            id=rule_id,
            tenant_id=tenant_id,
            scope=where.value,
            target=key,
            rule=str(parsed),
            created_at=utcnow(),
        )
    )
    return {"id": rule_id, "scope": where.value, "target": key, "rule": str(parsed)}


def list_rules(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(vault_rules).where(vault_rules.c.tenant_id == tenant_id).order_by(vault_rules.c.id)
    ).all()
    return [
        {
            "id": r.id,
            "scope": r.scope,
            "target": r.target,
            "rule": r.rule,
            "created_at": iso(r.created_at),
        }
        for r in rows
    ]


def delete_rule(conn: Connection, tenant_id: str, rule_id: str) -> None:
    done = conn.execute(
        delete(vault_rules).where(vault_rules.c.tenant_id == tenant_id, vault_rules.c.id == rule_id)
    )
    if not done.rowcount:
        raise NotFound("retention rule")


def due_subjects(conn: Connection, rule_row: Any, now: dt.datetime) -> list[str]:
    """The subjects a rule applies to now (not erased, not held)."""
    rule = Rule.parse(rule_row.rule)
    s = vault_subjects.c
    cutoff = rule.cutoff(now)
    query = select(s.subject_hash).where(
        s.tenant_id == rule_row.tenant_id,
        s.state != State.ERASED.value,
        s.hold.is_(False),
        s.born_on <= cutoff.date() if rule.kind is RuleKind.AGE else s.last_used_at <= cutoff,
    )
    if rule_row.scope == Scope.SUBJECT:
        query = query.where(s.subject_hash == rule_row.target)
    else:
        query = query.join(
            vault_purposes,
            (vault_purposes.c.tenant_id == s.tenant_id)
            & (vault_purposes.c.subject_hash == s.subject_hash),
        ).where(vault_purposes.c.purpose == rule_row.target)
    return list(conn.execute(query).scalars())


def sweep(engine: Engine, ledger: Ledger, now: dt.datetime | None = None) -> SweepResult:
    now = now or utcnow()
    with write(engine) as conn:
        grace_ended = complete_due(conn, ledger, now)
    with read(engine) as conn:
        rules = conn.execute(select(vault_rules).order_by(vault_rules.c.id)).all()
    by_rule: dict[str, int] = {}
    for rule_row in rules:
        with read(engine) as conn:
            hashes = due_subjects(conn, rule_row, now)
        count = 0
        for start in range(0, len(hashes), BATCH):
            with write(engine) as conn:
                count += len(
                    shred(
                        conn,
                        ledger,
                        rule_row.tenant_id,
                        hashes[start : start + BATCH],
                        f"retention rule {rule_row.id} ({rule_row.rule})",
                        now,
                    )
                )
        by_rule[rule_row.id] = count
    unvacuumed = 0
    if grace_ended or any(by_rule.values()) or _left_over["rows"]:
        unvacuumed = _left_over["rows"] = flush(engine, vacuum=True)
    return SweepResult(grace_ended, by_rule, unvacuumed)
