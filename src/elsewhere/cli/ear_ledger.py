"""Where `elsewhere ear verify` gets a decision's proof bundle: the control plane's bundle route
(`--log URL`, as the tenant) or the ledger's database (`--database URL`, read only: it never
signs a checkpoint, so an entry no checkpoint covers yet is said to be so); and the log's keys.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from elsewhere.cli.inputs import read_input
from elsewhere.ear.logged import LedgerClaim, NotYetProvable
from elsewhere.errors import ConfigError, InputError, VerificationFailed
from elsewhere.i18n import N_
from elsewhere.ledger.note import Verifier


def read_keys(text: str) -> list[Verifier]:
    """The log's keys as `--key` reads them everywhere (cli/ledger_remote.py: a vkey, a file of
    vkey lines as `/v1/ledger/key` answers, or a URL serving them); a saved JSON answer of the
    first API (`vkey`/`vkeys`) too."""
    from elsewhere.cli.ledger_remote import is_remote
    from elsewhere.cli.ledger_remote import read_keys as vkey_lines

    if is_remote(text) or not Path(text).is_file():
        return vkey_lines(text)
    body = read_input(text, "verifier key").decode("utf-8", "replace").strip()
    if not body.startswith("{"):
        return vkey_lines(text)
    try:
        doc = json.loads(body)
    except ValueError:
        raise InputError("verifier key", text, N_("not JSON and not vkey lines")) from None
    lines = [*doc.get("vkeys", []), doc.get("vkey", "")] if isinstance(doc, dict) else []
    keys = [Verifier.parse(v.strip()) for v in lines if isinstance(v, str) and v.strip()]
    if not keys:
        raise InputError("verifier key", text, N_("no vkey line in it"))
    return keys


def fetch_bundle(args: argparse.Namespace, claim: LedgerClaim) -> bytes:
    if args.log is not None:
        return _over_http(args.log, args.api_token, claim)
    return _from_database(args.database, claim)


def _over_http(url: str, token: str | None, claim: LedgerClaim) -> bytes:
    from elsewhere.host.client import ApiFailure, Client

    if not token:
        raise ConfigError(
            "--api-token", url, N_("the bundle route answers tenants: give a tenant API token")
        )
    with Client(url, token) as client:
        try:
            return client.ledger_bundle(claim.index)
        except ApiFailure as failure:
            if failure.status == 404:  # not in the log, or not this tenant's entry
                raise VerificationFailed(
                    N_("not logged: {url} has no ledger entry {index} of this tenant").format(
                        url=url, index=claim.index
                    )
                ) from None
            if "no signed checkpoint covers it" in failure.message:
                raise NotYetProvable(claim.index) from None
            raise


def _from_database(url: str, claim: LedgerClaim) -> bytes:
    from elsewhere.ledger.log import Ledger

    # Without a signing key: proves against the checkpoints the log has signed, signs none.
    ledger = Ledger.open(url, None, claim.origin, migrate=False)
    try:
        size = ledger.size
        if claim.index >= size:
            raise VerificationFailed(
                N_("not logged: the log at {url} has {size} entries, no index {index}").format(
                    url=url, size=size, index=claim.index
                )
            )
        latest = ledger.latest_checkpoint()
        if latest is None or latest.size <= claim.index:
            raise NotYetProvable(claim.index)
        return ledger.bundle(claim.index, latest)
    finally:
        ledger.close()
