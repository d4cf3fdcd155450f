"""Reading the CLI's input files: one place for stdin ('-'), size caps and one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

from elsewhere.errors import ConfigError, InputError
from elsewhere.i18n import N_

MAX_INPUT_BYTES = 4 << 20  # evidence, certificates, feeds, proofs, keys
# Modules, secrets and stdin handed to a keep or uploaded: the keep (64 MiB) and the control
# plane (32 MiB) enforce their own caps; this only stops a huge file being read whole.
MAX_UPLOAD_BYTES = 64 << 20


def read_input(path: str | Path, what: str, *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Bytes of a file ('-' = stdin), refusing missing, unreadable or huge files in one line."""
    name = str(path)
    try:
        if name == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with Path(name).open("rb") as handle:
                data = handle.read(limit + 1)
    except OSError as error:
        raise InputError(what, name, error.strerror or N_("cannot be read")) from None
    if len(data) > limit:
        raise InputError(what, name, N_("larger than {limit} bytes").format(limit=limit))
    return data


def check_port(port: int) -> int:
    """A TCP port to listen on: 1-65535 (0 would let the OS pick one the user never sees; above
    65535 the socket layer wraps it into another port)."""
    if not 1 <= port <= 65535:
        raise ConfigError("--port", str(port), N_("expected 1 to 65535"))
    return port
