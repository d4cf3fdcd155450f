"""Typed errors. Each carries a one-line message a user can act on; what it means to a
caller is decided at the edge, in ONE place each: HTTP statuses in `control/http/errors.py`,
CLI exit codes in `cli/exitcodes.py`. Library code raises by meaning, never by status.
"""

from __future__ import annotations

from elsewhere.i18n import N_

# Only for keep/runtime.py's `WorkloadRefused.exit_code` (that module is another change's to
# edit); nothing reads the attribute: cli/exitcodes.py maps WorkloadRefused itself.
EXIT_REFUSED = 1


class ElsewhereError(Exception):
    """Base of every error Elsewhere raises on purpose."""

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
        template = N_("{what}: {where}: {why}") if where else N_("{what}: {why}")
        super().__init__(template.format(what=what, where=where, why=why))


class ParseError(InputError):
    """Bytes that do not have the shape of the format they claim to be."""


class ConfigError(InputError):
    """A configuration or policy file that is not valid."""


class Unreachable(ElsewhereError):
    """A server that could not be reached or would not be trusted: the URL and the reason in
    words (connection refused, TLS certificate not trusted, timed out, name not resolved)."""

    def __init__(self, url: str, why: str) -> None:
        self.url, self.why = url, why
        super().__init__(N_("{url} unreachable: {why}").format(url=url, why=why))


class VerificationFailed(ElsewhereError):
    """Raised only where a caller asked for verified evidence and it was not verified."""


# Domain errors of the control plane's services: what went wrong, by meaning.


class NotFound(ElsewhereError):
    """No such object for this caller (another tenant's or host's object looks the same)."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(N_("{what} not found").format(what=what))


class Conflict(ElsewhereError):
    """The object exists but its state forbids the request (a used nonce, a placement no
    longer assigned, a result already reported)."""


class Unauthenticated(ElsewhereError):
    """No credential, or one that is invalid or revoked."""


class Forbidden(ElsewhereError):
    """A valid credential of the wrong kind for this request."""


class Refused(Forbidden):
    """A request understood and refused by a rule (a commons release without the approvals,
    the evidence or the budget it needs): 403 over HTTP, exit 1 on the command line."""


class TooLarge(ElsewhereError):
    """A request or value larger than the limit that applies to it."""
