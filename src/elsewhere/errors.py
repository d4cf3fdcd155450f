"""Typed errors. Each carries a one-line message a user can act on and the CLI exit code.

Exit codes: 0 verified / accepted, 1 evidence parsed but failed verification or was refused
by policy, 2 unusable input (malformed, truncated, oversized, bad configuration).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


class ElsewhereError(Exception):
    """Base of every error Elsewhere raises on purpose."""

    exit_code: int = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        # One line, always: a message with newlines would break the CLI contract.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self.args[0])


class InputError(ElsewhereError):
    """Input that cannot be used: say what, where (field, offset, key, line) and why."""

    def __init__(self, what: str, where: str, why: str) -> None:
        self.what, self.where, self.why = what, where, why
        super().__init__(f"{what}: {where}: {why}" if where else f"{what}: {why}")


class ParseError(InputError):
    """Bytes that do not have the shape of the format they claim to be."""


class ConfigError(InputError):
    """A configuration or policy file that is not valid."""


class TrustAnchorError(ElsewhereError):
    """A certificate chain or root that cannot be used to verify anything."""


class VerificationFailed(ElsewhereError):
    """Raised only where a caller asked for verified evidence and it was not verified."""

    exit_code = EXIT_REFUSED
