"""A subject's data key to an attested keep, for one declared purpose.

Allowed only when all hold: the placement is this host's and was released (its evidence
verified and its policy accepted it: control/broker/attest.py recorded the keep's key digest
then), the key the request names is that very key, the deployment declared the purpose, the
subject's records carry it, and the subject is active (not pending erasure, not erased).
The data key is HPKE-wrapped to the keep's key (bound to placement, subject and purpose) and
sent with the purpose's record ciphertexts; the control plane opens no record. The release's
ledger entry (subject hash, purpose, keep key, placement) and the subject's last-use time are
written in one transaction, and the answer is given only after it committed.
"""

from __future__ import annotations

import base64
import json
from typing import Any, cast

from sqlalchemy import select, update

from elsewhere.control.config import ControlPlane
from elsewhere.control.store.ids import from_b64
from elsewhere.control.store.tables import deployments, placements
from elsewhere.control.store.transactions import read, write
from elsewhere.control.vault.records import subject_key, subject_row, unwrap
from elsewhere.crypto.hpke import PublicKey, seal
from elsewhere.errors import Conflict, Forbidden, NotFound
from elsewhere.timeutil import utcnow
from elsewhere.vault import entries, keys
from elsewhere.vault.model import State, check_purpose, usable
from elsewhere.vault.schema import vault_grants, vault_purposes, vault_records, vault_subjects


def release(
    cp: ControlPlane,
    host_id: str,
    placement_id: str,
    subject: str,
    purpose: str,
    keep_public_key: str,
) -> dict[str, Any]:
    check_purpose(purpose)
    keep_key = PublicKey.parse(from_b64("keep_public_key", keep_public_key))
    keep_digest = "sha256:" + keep_key.fingerprint()
    with read(cp.engine) as conn:
        placement = conn.execute(
            select(
                placements.c.host_id,
                placements.c.state,
                placements.c.keep_key_digest,
                deployments.c.id.label("deployment_id"),
                deployments.c.tenant_id,
            )
            .join(deployments, deployments.c.id == placements.c.deployment_id)
            .where(placements.c.id == placement_id)
        ).first()
        if placement is None or placement.host_id != host_id:
            raise NotFound("placement")
        if placement.state != "released" or placement.keep_key_digest is None:
            raise Conflict(f"placement is {placement.state}: no attested keep holds it")
        if placement.keep_key_digest != keep_digest:
            raise Forbidden("this key is not the attested keep's key for the placement")
        tenant_id = placement.tenant_id
        granted = conn.execute(
            select(vault_grants.c.purpose).where(
                vault_grants.c.deployment_id == placement.deployment_id,
                vault_grants.c.purpose == purpose,
            )
        ).first()
        if granted is None:
            raise Forbidden(f"the deployment did not declare the purpose {purpose}")
        hashed = subject_key(cp.kek, tenant_id, subject)
        row = subject_row(conn, tenant_id, hashed)
        if row is None:
            raise NotFound("subject")
        usable(row.state)
        collected = conn.execute(
            select(vault_purposes.c.purpose).where(
                vault_purposes.c.tenant_id == tenant_id,
                vault_purposes.c.subject_hash == hashed,
                vault_purposes.c.purpose == purpose,
            )
        ).first()
        if collected is None:
            raise Forbidden(f"the subject's data was not collected for {purpose}")
        records = [
            r
            for r in conn.execute(
                select(vault_records.c.id, vault_records.c.purposes, vault_records.c.ciphertext)
                .where(
                    vault_records.c.tenant_id == tenant_id,
                    vault_records.c.subject_hash == hashed,
                )
                .order_by(vault_records.c.created_at, vault_records.c.id)
            )
            if purpose in json.loads(r.purposes)
        ]
    with keys.wiped() as data_key:
        unwrap(cp.kek, row, data_key)
        # The bytearray itself (cryptography takes any buffer): no immutable copy of the key.
        wrapped = seal(
            keep_key,
            cast(bytes, data_key),
            info=keys.VAULT_INFO,
            aad=keys.release_aad(placement_id, hashed, purpose),
        )
    now = utcnow()
    with write(cp.engine) as conn:
        # Still active at commit time: an erasure requested meanwhile wins.
        moved = conn.execute(
            update(vault_subjects)
            .where(
                vault_subjects.c.tenant_id == tenant_id,
                vault_subjects.c.subject_hash == hashed,
                vault_subjects.c.state == State.ACTIVE.value,
            )
            .values(last_used_at=now)
        )
        if moved.rowcount != 1:
            raise Conflict("subject is no longer active: release refused")
        index = cp.ledger.append(
            entries.entry(
                entries.RELEASE,
                now,
                tenant=tenant_id,
                subject=hashed,
                purpose=purpose,
                keep_key_digest=keep_digest,
                placement=placement_id,
            ),
            connection=conn,
        )
    return {
        "tenant": tenant_id,  # the records' associated data names it (vault/keys.py)
        "subject": hashed,
        "purpose": purpose,
        "wrapped_key": base64.b64encode(wrapped).decode(),
        "records": [
            {"id": r.id, "ciphertext": base64.b64encode(bytes(r.ciphertext)).decode()}
            for r in records
        ],
        "ledger_index": index,
    }
