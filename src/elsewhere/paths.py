"""Where Elsewhere keeps local state: $ELSEWHERE_HOME, default ~/.elsewhere.

Sub-directories by component (collateral cache, ledger keys, control-plane data) are created
on first use with owner-only permissions, because they can hold signing keys.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    configured = os.environ.get("ELSEWHERE_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".elsewhere"


def state_dir(component: str, base: Path | None = None) -> Path:
    """Return (creating it, mode 0700) the state directory of one component."""
    path = (base or home()) / component
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
