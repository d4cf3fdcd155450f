"""Tenant policies and operator advisories as the control plane stores them.

The policy module owns the language (parse, digest, evaluate, patching); here a tenant's policy
versions are kept verbatim (TOML) with their digests, the advisory feeds verbatim, and compiled
evaluators are cached per (policy digest, advisory feeds) so evaluation on the hot path is a
dictionary look-up plus the policy's own set look-ups.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection

from elsewhere.control.store.ids import new_id
from elsewhere.control.store.tables import advisory_feeds, policies
from elsewhere.control.store.transactions import read_retrying
from elsewhere.policy.advisories import AdvisorySet, parse_feed
from elsewhere.policy.evaluate import Evaluator, compile_policy
from elsewhere.policy.load import parse_policy
from elsewhere.policy.model import Policy
from elsewhere.timeutil import utcnow

MAX_POLICY_BYTES = 1 << 20


@functools.lru_cache(maxsize=256)
def parse_cached(document: str) -> Policy:
    return parse_policy(document, file="policy")


def store_policy(conn: Connection, tenant_id: str, document: str) -> dict[str, Any]:
    """Validate and store a new policy version (raises PolicyError with file:line:key)."""
    policy = parse_policy(document, file="policy")
    latest = current_policy(conn, tenant_id)
    if latest is not None and latest["digest"] == policy.digest:
        return latest | {"unchanged": True}
    version = 1 + (
        conn.execute(
            select(func.max(policies.c.version)).where(policies.c.tenant_id == tenant_id)
        ).scalar()
        or 0
    )
    row = {
        "id": new_id("pol"),
        "tenant_id": tenant_id,
        "version": version,
        "digest": policy.digest,
        "document": document,
        "created_at": utcnow(),
    }
    conn.execute(policies.insert().values(**row))
    return row | {"unchanged": False}


def current_policy(conn: Connection, tenant_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(policies)
        .where(policies.c.tenant_id == tenant_id)
        .order_by(policies.c.version.desc())
        .limit(1)
    ).first()
    return None if row is None else dict(row._mapping)


# -- advisories ------------------------------------------------------------------------------

_advisory_lock = threading.Lock()
_advisory_cache: dict[str, tuple[int, AdvisorySet]] = {}
_database_names: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _database(engine: Engine) -> str:
    """The cache's key for an engine's database: its URL, rendered once per engine."""
    name = _database_names.get(engine)
    if name is None:
        name = _database_names[engine] = str(engine.url)
    return name


def import_feed(conn: Connection, body: str, source: str) -> AdvisorySet:
    """Validate and keep a feed; returns the feed's own advisories."""
    parsed = parse_feed(body, source=source)
    conn.execute(
        advisory_feeds.insert().values(
            id=new_id("adv"), source=source[:200], body=body, imported_at=utcnow()
        )
    )
    return parsed


_FEED_COUNT = select(func.count()).select_from(advisory_feeds)
# For a statement that reads the cache's version along with its own columns.
FEED_COUNT_COLUMN = _FEED_COUNT.scalar_subquery().label("advisory_feeds")


def current_advisories(conn: Connection, count: int | None = None) -> AdvisorySet:
    """The merge of every imported feed, later feeds replacing earlier advisories by ID.
    `count`: the number of feeds, if the caller already read it (FEED_COUNT_COLUMN)."""
    if count is None:
        count = conn.execute(_FEED_COUNT).scalar_one()
    key = _database(conn.engine)
    with _advisory_lock:
        cached = _advisory_cache.get(key)
        if cached is not None and cached[0] == count:
            return cached[1]
    merged = AdvisorySet()
    for body in conn.execute(
        select(advisory_feeds.c.body).order_by(advisory_feeds.c.imported_at, advisory_feeds.c.id)
    ).scalars():
        merged = merged.merged(parse_feed(body).advisories)
    with _advisory_lock:
        _advisory_cache[key] = (count, merged)
    return merged


def advisories_at(engine: Engine, count: int) -> AdvisorySet:
    """`current_advisories` when `count` feeds have been imported: from the cache if it holds
    that many, else read (a hot path's read of the count comes with its other columns)."""
    with _advisory_lock:
        cached = _advisory_cache.get(_database(engine))
    if cached is not None and cached[0] == count:
        return cached[1]
    return read_retrying(engine, lambda conn: current_advisories(conn, count))


def evaluator(document: str, advisories: AdvisorySet) -> Evaluator:
    return compile_policy(parse_cached(document), advisories)


# -- claims as stored (JSON) back to Claims ---------------------------------------------------
