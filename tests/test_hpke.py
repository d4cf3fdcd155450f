from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elsewhere.crypto.hpke import (
    DEFAULT_SUITE,
    MLKEM768_X25519,
    SUITES,
    X25519,
    HpkeSuite,
    KeepKey,
    OpenFailed,
    PublicKey,
    SealedMessage,
    WrongRecipient,
    seal,
    seal_to_keep,
    suite_named,
)
from elsewhere.crypto.keyfile import TenantKey, load_public_key
from elsewhere.errors import ConfigError, ElsewhereError, ParseError

BOTH = pytest.mark.parametrize("suite", [MLKEM768_X25519, X25519], ids=lambda s: s.name)
INFO = b"elsewhere/secret/v1"


def test_default_suite_is_the_hybrid() -> None:
    assert DEFAULT_SUITE is MLKEM768_X25519
    assert KeepKey.generate().suite is MLKEM768_X25519
    assert suite_named("x25519") is X25519
    with pytest.raises(ParseError, match="unknown"):
        suite_named("rsa")


@BOTH
def test_round_trip(suite: HpkeSuite) -> None:
    key = KeepKey.generate(suite)
    sealed = seal_to_keep(key.public_bytes(), b"db-password", info=INFO, aad=b"assignment 7")
    assert key.open(sealed, info=INFO, aad=b"assignment 7") == b"db-password"
    # fresh ephemeral key each time
    assert seal_to_keep(key.public_bytes(), b"db-password", info=INFO) != seal_to_keep(
        key.public_bytes(), b"db-password", info=INFO
    )
    assert len(sealed) == 11 + 32 + suite.enc_len + len(b"db-password") + 16


@BOTH
def test_empty_and_large_plaintexts(suite: HpkeSuite) -> None:
    key = KeepKey.generate(suite)
    for plaintext in (b"", os.urandom(1 << 20)):
        assert key.open(seal(key.public_key, plaintext, info=INFO), info=INFO) == plaintext


@BOTH
def test_public_key_encoding_is_tagged_and_round_trips(suite: HpkeSuite) -> None:
    key = KeepKey.generate(suite)
    encoded = key.public_bytes()
    assert encoded[:4] == b"EWPK"
    assert len(encoded) == 11 + suite.public_key_len
    parsed = PublicKey.parse(encoded)
    assert parsed == key.public_key
    assert parsed.suite is suite


def test_suites_are_distinguishable_from_the_key() -> None:
    x = KeepKey.generate(X25519).public_bytes()
    h = KeepKey.generate(MLKEM768_X25519).public_bytes()
    assert PublicKey.parse(x).suite is X25519
    assert PublicKey.parse(h).suite is MLKEM768_X25519
    # An X25519 key relabelled as hybrid (or the reverse) is refused by length.
    with pytest.raises(ParseError, match="length"):
        PublicKey.parse(h[:11] + x[11:])
    with pytest.raises(ParseError, match="length"):
        PublicKey.parse(x[:11] + h[11:])


@BOTH
def test_tampered_ciphertext_fails_typed(suite: HpkeSuite) -> None:
    key = KeepKey.generate(suite)
    sealed = bytearray(seal(key.public_key, b"secret", info=INFO))
    for offset in (len(sealed) - 1, len(sealed) - 20, 11 + 32 + 3):
        changed = bytearray(sealed)
        changed[offset] ^= 0x01
        with pytest.raises(OpenFailed):
            key.open(bytes(changed), info=INFO)


@BOTH
def test_wrong_key_fails_typed(suite: HpkeSuite) -> None:
    key, other = KeepKey.generate(suite), KeepKey.generate(suite)
    sealed = seal(key.public_key, b"secret", info=INFO)
    with pytest.raises(WrongRecipient, match="sealed to key"):
        other.open(sealed, info=INFO)
    # Even with the recipient id rewritten to match, the other key cannot open it.
    forged = sealed[:11] + other.public_key.key_id() + sealed[43:]
    with pytest.raises(OpenFailed):
        other.open(forged, info=INFO)


def test_other_suite_fails_typed() -> None:
    hybrid, classic = KeepKey.generate(MLKEM768_X25519), KeepKey.generate(X25519)
    with pytest.raises(WrongRecipient, match="suite"):
        classic.open(seal(hybrid.public_key, b"s", info=INFO), info=INFO)


@BOTH
def test_wrong_info_or_aad_fails_typed(suite: HpkeSuite) -> None:
    key = KeepKey.generate(suite)
    sealed = seal(key.public_key, b"secret", info=INFO, aad=b"a1")
    with pytest.raises(OpenFailed, match="info or aad"):
        key.open(sealed, info=b"elsewhere/result/v1", aad=b"a1")
    with pytest.raises(OpenFailed):
        key.open(sealed, info=INFO, aad=b"a2")
    with pytest.raises(OpenFailed):
        key.open(sealed, info=INFO)
    assert key.open(sealed, info=INFO, aad=b"a1") == b"secret"


def test_errors_are_one_line_elsewhere_errors() -> None:
    key = KeepKey.generate(X25519)
    with pytest.raises(ElsewhereError) as info:
        key.open(b"EWSL\x01" + b"\x00" * 6, info=INFO)
    assert "\n" not in str(info.value)


def test_private_key_repr_does_not_leak_secret() -> None:
    key = KeepKey.generate(X25519)
    assert key.secret_bytes().hex() not in repr(key)
    assert "X25519" in repr(key).upper()


@BOTH
def test_tenant_key_file_round_trip(tmp_path: Path, suite: HpkeSuite) -> None:
    path = tmp_path / "tenant.key"
    key = TenantKey.create(path, suite)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN ELSEWHERE HPKE PRIVATE KEY-----")
    loaded = TenantKey.load(path)
    assert loaded.public_bytes() == key.public_bytes()
    assert loaded.open(seal(key.public_key, b"result", info=INFO), info=INFO) == b"result"

    raw = tmp_path / "tenant.raw"
    key.save(raw, pem=False)
    assert TenantKey.load(raw).public_bytes() == key.public_bytes()

    pub = tmp_path / "tenant.pub"
    key.save_public(pub)
    assert load_public_key(pub) == key.public_key
    key.save_public(tmp_path / "tenant.pub.raw", pem=False)
    assert load_public_key(tmp_path / "tenant.pub.raw") == key.public_key


def test_tenant_key_file_refusals(tmp_path: Path) -> None:
    path = tmp_path / "tenant.key"
    TenantKey.create(path)
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        TenantKey.create(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        TenantKey.load(path)
    with pytest.raises(ConfigError, match=r"missing\.key"):
        TenantKey.load(tmp_path / "missing.key")
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"-----BEGIN ELSEWHERE HPKE PRIVATE KEY-----\n!!!\n")
    bad.chmod(0o600)
    with pytest.raises(ParseError):
        TenantKey.load(bad)
    wrong_label = tmp_path / "pub-as-priv.key"
    TenantKey.generate().save_public(wrong_label)
    wrong_label.chmod(0o600)
    with pytest.raises(ParseError, match="not a ELSEWHERE HPKE PRIVATE KEY"):
        TenantKey.load(wrong_label)


# -- fuzzing the parsers: any bytes give a parsed value or a one-line ParseError -------------

_SAMPLE_KEYS = {name: KeepKey.generate(suite) for name, suite in SUITES.items()}


def _mutations(base: bytes) -> st.SearchStrategy[bytes]:
    def mutate(data: bytes, positions: list[tuple[int, int]], cut: int) -> bytes:
        out = bytearray(data)
        for pos, value in positions:
            if out:
                out[pos % len(out)] = value
        return bytes(out[: max(0, len(out) - cut)])

    return st.builds(
        mutate,
        st.just(base),
        st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=4),
        st.integers(0, 40),
    )


_KEY_INPUTS = st.one_of(
    st.binary(max_size=2000),
    *(_mutations(k.public_bytes()) for k in _SAMPLE_KEYS.values()),
)
_SEALED_INPUTS = st.one_of(
    st.binary(max_size=2000),
    *(_mutations(seal(k.public_key, b"payload", info=INFO)) for k in _SAMPLE_KEYS.values()),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_KEY_INPUTS)
def test_fuzz_public_key_parser(data: bytes) -> None:
    try:
        key = PublicKey.parse(data)
    except ParseError as error:
        assert "\n" not in str(error)
    else:
        assert key.encode() == data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SEALED_INPUTS)
def test_fuzz_sealed_parser_and_open(data: bytes) -> None:
    try:
        message = SealedMessage.parse(data)
    except ParseError as error:
        assert "\n" not in str(error)
        return
    assert message.encode() == data
    key = _SAMPLE_KEYS[message.suite.name]
    try:
        plaintext = key.open(data, info=INFO)
    except (OpenFailed, ParseError) as error:
        assert "\n" not in str(error)
    else:
        assert plaintext == b"payload"


_PRIVATE_INPUTS = st.one_of(
    st.binary(max_size=200),
    *(_mutations(TenantKey.generate(suite).private_encoding()) for suite in SUITES.values()),
)


@settings(max_examples=300, deadline=None)
@given(_PRIVATE_INPUTS)
def test_fuzz_private_key_parser(data: bytes) -> None:
    try:
        key = TenantKey.from_private_encoding(data)
    except ParseError as error:
        assert "\n" not in str(error)
    else:
        assert key.private_encoding() == data
