"""Nonces: authentic only for the placement and host they were issued to, and only until
they expire (the replay of a spent one is refused end to end in test_e2e_deploy)."""

from __future__ import annotations

import datetime as dt

from elsewhere.control.broker.nonces import NONCE_BYTES, NonceIssuer


def test_a_fresh_nonce_is_usable_only_by_its_placement_and_host() -> None:
    issuer = NonceIssuer(b"k" * 32)
    value, expires = issuer.issue("plc_1", "host_a")
    assert len(value) == NONCE_BYTES and expires > dt.datetime.now(dt.UTC)
    assert issuer.why_unusable(value, "plc_1", "host_a") is None
    assert "unknown" in (issuer.why_unusable(value, "plc_2", "host_a") or "")
    assert "unknown" in (issuer.why_unusable(value, "plc_1", "host_b") or "")
    assert "unknown" in (NonceIssuer(b"j" * 32).why_unusable(value, "plc_1", "host_a") or "")


def test_any_changed_byte_makes_a_nonce_unknown() -> None:
    issuer = NonceIssuer(b"k" * 32)
    value, _ = issuer.issue("plc_1", "host_a")
    for i in range(len(value)):
        changed = value[:i] + bytes([value[i] ^ 1]) + value[i + 1 :]
        assert "unknown" in (issuer.why_unusable(changed, "plc_1", "host_a") or "")
    assert "unknown" in (issuer.why_unusable(value[:-1], "plc_1", "host_a") or "")


def test_an_expired_nonce_is_refused() -> None:
    issuer = NonceIssuer(b"k" * 32)
    value, _ = issuer.issue("plc_1", "host_a", ttl=dt.timedelta(seconds=-1))
    assert issuer.why_unusable(value, "plc_1", "host_a") == "nonce expired (ask for a new one)"
