"""The host side of a keep's `elsewhere.vault_read` (keep/vault.py): ask the control plane for
a subject's data key with the keep's attested key, open it with that key, decrypt the
subject's records for the purpose, wipe the data key. The control plane refuses unless the
placement is released to this very key and the deployment declared the purpose
(control/vault/release.py); each release it grants is a ledger entry."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from elsewhere.crypto.hpke import KeepKey
from elsewhere.errors import ElsewhereError
from elsewhere.host.client import ApiFailure, Client
from elsewhere.keep.vault import VaultAnswer
from elsewhere.vault import keys

log = logging.getLogger("elsewhere.host")

# What the control plane answers when it says no (as opposed to cannot answer).
_REFUSALS = frozenset({400, 403, 404, 409, 422})


@dataclass(frozen=True)
class VaultRead:
    client: Client
    placement: str
    key: KeepKey

    def __call__(self, subject: str, purpose: str) -> VaultAnswer:
        try:
            answer = self.client.vault_release(
                self.placement, subject, purpose, self.key.public_bytes()
            )
        except ApiFailure as failure:
            kind = "refused" if failure.status in _REFUSALS else "unavailable"
            log.info("vault_read for %s on %s: %s", purpose, self.placement, failure.message)
            if kind == "refused":
                return VaultAnswer(refused=failure.message)
            return VaultAnswer(unavailable=failure.message)
        except ElsewhereError as failure:  # the control plane could not be reached
            return VaultAnswer(unavailable=failure.message)
        try:
            return VaultAnswer(records=self._open(answer, purpose))
        except (ElsewhereError, KeyError, TypeError, ValueError) as error:
            why = f"the vault's answer could not be opened: {error}"
            return VaultAnswer(unavailable=why)

    def _open(self, answer: dict[str, object], purpose: str) -> tuple[bytes, ...]:
        tenant, subject = str(answer["tenant"]), str(answer["subject"])
        data_key = bytearray(
            self.key.open(
                base64.b64decode(str(answer["wrapped_key"])),
                info=keys.VAULT_INFO,
                aad=keys.release_aad(self.placement, subject, purpose),
            )
        )
        try:
            records = answer["records"]
            if not isinstance(records, list):
                raise ValueError("records is not a list")
            return tuple(
                keys.open_record(
                    data_key,
                    base64.b64decode(str(r["ciphertext"])),
                    keys.record_aad(tenant, subject, str(r["id"])),
                )
                for r in records
            )
        finally:
            keys.wipe(data_key)
