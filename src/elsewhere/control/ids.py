"""Identifiers: a short kind prefix and 64 random bits, e.g. `dep_3f9a0c1e2b4d5a6f`."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"
