"""The wire protocol the host agent and the control plane share: HPKE info labels, AAD
strings and the digest encodings bound into report_data.

Both sides import this module and nothing else of each other: the host agent runs on a host
nobody trusts, and must not pull in the control plane's tables, web framework or store.
Changing a value here changes the protocol (a keep of the old version cannot open a secret
wrapped with the new one); version the label instead.
"""

from __future__ import annotations

SECRET_INFO = b"elsewhere/secret/v1"
RESULT_INFO = b"elsewhere/result/v1"


def secret_aad(placement_id: str, name: str) -> bytes:
    """What a released secret is bound to: this placement and this secret's name."""
    return b"elsewhere/secret-aad/v1\x00" + placement_id.encode() + b"\x00" + name.encode()


def result_aad(placement: str, stream: str) -> bytes:
    """What a sealed result stream is bound to: its placement and stream name."""
    return b"elsewhere/result-aad/v1\x00" + placement.encode() + b"\x00" + stream.encode()


def digest_bytes(digest: str) -> bytes:
    """The bytes bound into report_data for a policy digest ("sha384:<hex>")."""
    return bytes.fromhex(digest.split(":", 1)[-1])
