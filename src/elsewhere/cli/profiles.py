"""Connection profiles: `~/.config/elsewhere/config.toml` ($XDG_CONFIG_HOME honoured).

    [profiles.acme]                                   # `--profile acme` or ELSEWHERE_PROFILE
    url = "https://control.example.net:8443"
    ca = "ca.pem"                                     # relative: to the config file's directory
    token_file = "~/.config/elsewhere/acme.token"     # mode 0600; the token never on a command line

A profile named `default` applies when none is asked for. A file that cannot be used is one
line naming the file, the key and the reason.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from elsewhere.errors import ConfigError
from elsewhere.i18n import N_

KEYS = ("url", "ca", "token_file")
DEFAULT = "default"


@dataclass(frozen=True)
class Profile:
    name: str
    source: Path
    url: str | None = None
    ca: Path | None = None
    token_file: Path | None = None


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "elsewhere" / "config.toml"


def _resolve(path: str, relative_to: Path) -> Path:
    expanded = Path(path).expanduser()
    return expanded if expanded.is_absolute() else relative_to / expanded


def load_profile(name: str | None) -> Profile | None:
    """The profile `name` (None: `default` if the file has one); a named profile that is not
    there is an error, the absent default is not."""
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if name is None:
            return None
        raise ConfigError(str(path), f"profiles.{name}", N_("no such file")) from None
    except (OSError, UnicodeDecodeError) as error:
        why = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ConfigError(str(path), "", why) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), "", f"not TOML: {error}") from None
    unknown = sorted(set(document) - {"profiles"})
    if unknown:
        raise ConfigError(str(path), unknown[0], N_("unknown key (expected [profiles.NAME])"))
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(str(path), "profiles", N_("expected tables [profiles.NAME]"))
    chosen = name or DEFAULT
    table = profiles.get(chosen)
    if table is None:
        if name is None:
            return None
        have = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(str(path), f"profiles.{chosen}", f"no such profile (have: {have})")
    if not isinstance(table, dict):
        raise ConfigError(str(path), f"profiles.{chosen}", N_("expected a table"))
    values: dict[str, str] = {}
    for key, value in table.items():
        where = f"profiles.{chosen}.{key}"
        if key not in KEYS:
            raise ConfigError(str(path), where, f"unknown key (expected {', '.join(KEYS)})")
        if not isinstance(value, str) or not value:
            raise ConfigError(str(path), where, N_("expected a non-empty string"))
        values[key] = value
    base = path.parent
    return Profile(
        chosen,
        path,
        url=values.get("url"),
        ca=_resolve(values["ca"], base) if "ca" in values else None,
        token_file=_resolve(values["token_file"], base) if "token_file" in values else None,
    )
