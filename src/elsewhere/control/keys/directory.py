"""One key directory shared by every replica: the key-encryption keys (KEKs), the
attestation-result signing keys and the ledger's checkpoint keys, each numbered.

    DIR/                      mode 0700, the operator's
      kek.0001 kek.0002 …     32 random bytes each; the highest wraps, every one unwraps
      ear.0001.pem …          ECDSA P-256 (PKCS#8); the highest signs, every one is in the JWKS
      ledger.0001.key …       Ed25519 note keys named by the log's origin; the highest signs
                              checkpoints, every one is in the log's verifier list

Every file is written owner-only through elsewhere.privatefile and refused when group or
others may read it; so is the directory. Rotation adds a file with the next number and never
deletes one: removing an old KEK is the operator's act, after `keys rewrap`. A replica reads
the directory when it starts; after a rotation every replica is restarted (docs/scale-out.md).
"""

from __future__ import annotations

import re
import secrets as random
import stat
from dataclasses import dataclass
from pathlib import Path

from elsewhere.control.broker.secrets import Kek
from elsewhere.control.broker.tokens import Signer, new_p256_pem, parse_signer
from elsewhere.errors import ConfigError
from elsewhere.ledger.keyfile import create_key_file, load_key_file
from elsewhere.ledger.note import Signer as NoteSigner
from elsewhere.privatefile import read_private, write_private

KINDS = {"kek": "kek.{:04d}", "ear": "ear.{:04d}.pem", "ledger": "ledger.{:04d}.key"}
PATTERNS = {
    kind: re.compile(re.escape(form).replace(r"\{:04d\}", r"(\d{4})") + "$")
    for kind, form in KINDS.items()
}
DEFAULT_ORIGIN = "elsewhere.local/control-plane"
MAX_SERIAL = 9999


@dataclass(frozen=True)
class KeyDirectory:
    """Every key of one directory, oldest first; the last of each kind is the current one."""

    path: Path
    keks: tuple[Kek, ...]
    result_signers: tuple[Signer, ...]
    ledger_keys: tuple[Path, ...]

    @property
    def kek(self) -> Kek:
        """The current KEK, able to unwrap under every older one too."""
        return Kek(self.keks[-1].key, older=tuple(k.key for k in self.keks[:-1]))

    @property
    def result_signer(self) -> Signer:
        return self.result_signers[-1]

    @property
    def ledger_key(self) -> Path:
        return self.ledger_keys[-1]

    def ledger_verifiers(self) -> list[str]:
        """Every checkpoint key's vkey line, newest first."""
        return [load_key_file(p).verifier.vkey() for p in reversed(self.ledger_keys)]

    def summary(self) -> dict[str, object]:
        """Ids only: safe to print and to serve in /readyz."""
        return {
            "kek": self.kek.id,
            "keks": len(self.keks),
            "result_signing": self.result_signer.kid,
            "result_signing_keys": len(self.result_signers),
            "ledger": load_key_file(self.ledger_key).verifier.vkey(),
            "ledger_keys": len(self.ledger_keys),
        }


def _check_directory(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(
            "key directory", str(path), "not found; create it with `elsewhere keys init`"
        ) from None
    except OSError as error:
        raise ConfigError("key directory", str(path), error.strerror or "unreadable") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError("key directory", str(path), "not a directory")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ConfigError("key directory", str(path), f"mode {mode:04o} lets others in; chmod 700")


def _serials(path: Path, kind: str) -> list[int]:
    found = []
    for entry in path.iterdir():
        match = PATTERNS[kind].match(entry.name)
        if match:
            found.append(int(match.group(1)))
    return sorted(found)


def _file(path: Path, kind: str, serial: int) -> Path:
    return path / KINDS[kind].format(serial)


def load_keys(path: Path) -> KeyDirectory:
    """Every key of the directory, checked (one line naming the file on any problem)."""
    _check_directory(path)
    serials = {kind: _serials(path, kind) for kind in KINDS}
    for kind, numbers in serials.items():
        if not numbers:
            raise ConfigError(
                "key directory", str(path), f"no {kind} key; run `elsewhere keys init`"
            )
    keks = []
    for n in serials["kek"]:
        file = _file(path, "kek", n)
        key = read_private(file, what="key-encryption key")
        if len(key) != 32:
            raise ConfigError(str(file), "length", f"{len(key)} bytes, expected 32")
        keks.append(Kek(key))
    signers = tuple(
        parse_signer(
            read_private(_file(path, "ear", n), what="result signing key"), _file(path, "ear", n)
        )
        for n in serials["ear"]
    )
    ledger = tuple(_file(path, "ledger", n) for n in serials["ledger"])
    names = {load_key_file(p).name for p in ledger}
    if len(names) != 1:
        raise ConfigError(
            "key directory", str(path), f"ledger keys name several origins: {sorted(names)}"
        )
    return KeyDirectory(path, tuple(keks), signers, ledger)


def init_keys(path: Path, origin: str = DEFAULT_ORIGIN) -> KeyDirectory:
    """A new directory (mode 0700) with the first key of each kind; refuses one holding keys."""
    if path.exists() and any(_serials(path, kind) for kind in KINDS if path.is_dir()):
        raise ConfigError("key directory", str(path), "already holds keys; use `keys rotate-…`")
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    write_private(_file(path, "kek", 1), random.token_bytes(32), what="key-encryption key")
    write_private(_file(path, "ear", 1), new_p256_pem(), what="result signing key")
    NoteSigner.generate(origin)  # checks the name before anything is written under it
    create_key_file(_file(path, "ledger", 1), origin)
    return load_keys(path)


def _next(path: Path, kind: str) -> Path:
    serial = max(_serials(path, kind), default=0) + 1
    if serial > MAX_SERIAL:
        raise ConfigError("key directory", str(path), f"{kind} serials exhausted")
    return _file(path, kind, serial)


def rotate_kek(path: Path) -> KeyDirectory:
    """A new current KEK; the older ones stay, to unwrap until `keys rewrap`."""
    load_keys(path)  # refuse to add to a directory that does not load
    write_private(_next(path, "kek"), random.token_bytes(32), what="key-encryption key")
    return load_keys(path)


def rotate_signing(path: Path) -> KeyDirectory:
    """New current result-signing and checkpoint keys; the older ones stay published."""
    keys = load_keys(path)
    origin = load_key_file(keys.ledger_key).name
    write_private(_next(path, "ear"), new_p256_pem(), what="result signing key")
    create_key_file(_next(path, "ledger"), origin)
    return load_keys(path)
