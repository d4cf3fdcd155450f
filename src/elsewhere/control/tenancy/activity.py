"""What the control plane has decided so far, counted from the store (for `/metrics`): the
same answer from every worker process, since every worker reads the one database."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from elsewhere.control.store.tables import decisions

# A refusal's reason is "rule: why" (policy/evaluate.py); the rule alone labels the counter,
# so the label set stays as small as the policy language.
MAX_REASON_LABEL = 64


def reason_label(reason: str) -> str:
    rule, sep, _ = reason.partition(":")
    label = rule.strip() if sep else "other"
    return label[:MAX_REASON_LABEL] or "other"


@dataclass(frozen=True)
class DecisionCounts:
    attestations: dict[str, int] = field(default_factory=dict)  # by verdict
    refusals: dict[str, int] = field(default_factory=dict)  # by reason (rule)
    releases: int = 0


def decision_counts(conn: Connection) -> DecisionCounts:
    attest = decisions.c.kind == "attest"
    verdicts = conn.execute(
        select(decisions.c.verdict, func.count()).where(attest).group_by(decisions.c.verdict)
    ).all()
    refused = conn.execute(
        select(decisions.c.reasons, func.count())
        .where(attest, decisions.c.action == "refuse")
        .group_by(decisions.c.reasons)
    ).all()
    releases = conn.execute(
        select(func.count()).where(attest, decisions.c.action == "release")
    ).scalar_one()
    refusals: Counter[str] = Counter()
    for reasons, count in refused:
        try:
            texts = json.loads(reasons) or ["other"]
        except ValueError:
            texts = ["other"]
        for text in {reason_label(str(t)) for t in texts}:
            refusals[text] += count
    return DecisionCounts(
        attestations={str(v): int(n) for v, n in verdicts},
        refusals=dict(refusals),
        releases=int(releases),
    )
