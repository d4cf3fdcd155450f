"""The vault's endpoints (docs/vault.md). A subject id travels only in request bodies, never
in a path or query, so no access-log line holds one; answers name subjects by their hash."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from elsewhere.control.http.deps import HostCred, Operator, Plane, Tenant
from elsewhere.control.http.host_routes import host_of
from elsewhere.control.store.transactions import read, write
from elsewhere.control.vault import erasure, release, retention
from elsewhere.control.vault import records as vault_records
from elsewhere.errors import InputError
from elsewhere.vault.model import MAX_RECORD_BYTES, MAX_SUBJECT_CHARS, VaultSettings
from elsewhere.vault.retention import parse_birth_date

router = APIRouter(prefix="/v1/vault", tags=["vault"])
Subject = Annotated[str, Field(min_length=1, max_length=MAX_SUBJECT_CHARS)]


def settings() -> VaultSettings:
    return VaultSettings.from_env()  # read per request: a few environment lookups


class PutRecord(BaseModel):
    subject: Subject
    purposes: list[str] = Field(min_length=1, max_length=16)
    value: str = Field(description="base64", max_length=(MAX_RECORD_BYTES * 4) // 3 + 8)
    born_on: str | None = Field(None, description="YYYY-MM-DD, for age-based retention")


class SubjectRequest(BaseModel):
    subject: Subject


class HoldRequest(BaseModel):
    subject: Subject
    hold: bool = True
    reason: str = Field(min_length=1, max_length=200)


class Purposes(BaseModel):
    purposes: list[str] = Field(min_length=1, max_length=16)


class RuleRequest(BaseModel):
    scope: str = Field(description="purpose or subject")
    target: str = Field(min_length=1, max_length=MAX_SUBJECT_CHARS)
    rule: str = Field(description="age:YEARS or idle:DAYSd", max_length=32)


class Approval(BaseModel):
    tenant: str = Field(min_length=1, max_length=64)
    subject_hash: str = Field(pattern="^[0-9a-f]{64}$")


class ReleaseRequest(BaseModel):
    placement: str = Field(min_length=1, max_length=64)
    subject: Subject
    purpose: str = Field(min_length=1, max_length=64)
    keep_public_key: str = Field(description="base64 tagged HPKE public key of the keep")


def _tenant(cred: Any) -> str:
    return str(cred.subject)


@router.post("/records", status_code=201)
def put_record(cp: Plane, cred: Tenant, body: PutRecord) -> dict[str, str]:
    """Store one record for a subject, encrypted under the subject's data key."""
    try:
        value = base64.b64decode(body.value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("record", "value", "not base64") from None
    born = parse_birth_date(body.born_on)
    with write(cp.engine) as conn:
        stored = vault_records.put_record(
            conn, cp.kek, _tenant(cred), body.subject, body.purposes, value, born
        )
    return {"subject": stored.subject_hash, "record": stored.record_id}


@router.post("/subjects/meta")
def subject_meta(cp: Plane, cred: Tenant, body: SubjectRequest) -> dict[str, Any]:
    """State and record metadata; never a value."""
    hashed = vault_records.subject_key(cp.kek, _tenant(cred), body.subject)
    with read(cp.engine) as conn:
        return vault_records.subject_meta(conn, _tenant(cred), hashed)


@router.get("/subjects")
def list_subjects(
    cp: Plane, cred: Tenant, state: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    with read(cp.engine) as conn:
        return vault_records.list_subjects(conn, _tenant(cred), state, limit)


@router.post("/erase")
def erase(cp: Plane, cred: Tenant, body: SubjectRequest) -> dict[str, Any]:
    """Request erasure: every use is refused from now; the data key and records are destroyed
    when the grace period ends (or k operators approve)."""
    hashed = vault_records.subject_key(cp.kek, _tenant(cred), body.subject)
    with write(cp.engine) as conn:
        answer = erasure.request_erasure(conn, cp.ledger, settings(), _tenant(cred), hashed)
    if answer["state"] == "erased":
        erasure.flush(cp.engine)
    return answer


@router.post("/hold")
def hold(cp: Plane, cred: Tenant, body: HoldRequest) -> dict[str, Any]:
    """Set or lift a legal hold (it blocks erasure; lifting it erases what is due by then)."""
    hashed = vault_records.subject_key(cp.kek, _tenant(cred), body.subject)
    with write(cp.engine) as conn:
        answer = erasure.set_hold(
            conn, cp.ledger, settings(), _tenant(cred), hashed, body.hold, body.reason
        )
    if answer["state"] == "erased":
        erasure.flush(cp.engine)
    return answer


@router.post("/receipt")
def receipt(cp: Plane, cred: Tenant, body: SubjectRequest) -> Response:
    """The subject's signed erasure receipt, with its ledger inclusion proof."""
    with read(cp.engine) as conn:
        data = erasure.receipt(conn, cp.ledger, cp.kek, _tenant(cred), body.subject)
    return Response(data, media_type="application/json")


@router.put("/deployments/{deployment}/purposes")
def declare(cp: Plane, cred: Tenant, deployment: str, body: Purposes) -> dict[str, Any]:
    """The purposes the deployment's keeps may receive subjects' data keys for."""
    with write(cp.engine) as conn:
        granted = vault_records.declare_purposes(conn, _tenant(cred), deployment, body.purposes)
    return {"deployment": deployment, "purposes": list(granted)}


@router.post("/rules", status_code=201)
def add_rule(cp: Plane, cred: Tenant, body: RuleRequest) -> dict[str, Any]:
    with write(cp.engine) as conn:
        return retention.add_rule(conn, cp.kek, _tenant(cred), body.scope, body.target, body.rule)


@router.get("/rules")
def list_rules(cp: Plane, cred: Tenant) -> list[dict[str, Any]]:
    with read(cp.engine) as conn:
        return retention.list_rules(conn, _tenant(cred))


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(cp: Plane, cred: Tenant, rule_id: str) -> Response:
    with write(cp.engine) as conn:
        retention.delete_rule(conn, _tenant(cred), rule_id)
    return Response(status_code=204)


@router.post("/approve")
def approve(cp: Plane, cred: Operator, body: Approval) -> dict[str, Any]:
    """One operator's approval to erase before the grace period ends (k distinct needed)."""
    with write(cp.engine) as conn:
        answer = erasure.approve(
            conn, cp.ledger, settings(), body.tenant, body.subject_hash, cred.id
        )
    if answer["state"] == "erased":
        erasure.flush(cp.engine)
    return answer


@router.post("/sweep")
def sweep(cp: Plane, cred: Operator) -> dict[str, Any]:
    """Complete erasures whose grace ended and apply every retention rule now."""
    return retention.sweep(cp.engine, cp.ledger).to_json()


@router.post("/release")
def release_key(cp: Plane, cred: HostCred, body: ReleaseRequest) -> dict[str, Any]:
    """A subject's data key, HPKE-wrapped to the placement's attested keep, for one purpose."""
    return release.release(
        cp, host_of(cp, cred), body.placement, body.subject, body.purpose, body.keep_public_key
    )
