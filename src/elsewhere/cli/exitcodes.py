"""CLI exit codes, decided here and only here from what an error means.

0 verified / accepted, 1 evidence parsed but failed verification or was refused by policy (or
a ledger that disagrees with itself, or a module that is not the bound workload), 2 unusable
input (malformed, truncated, oversized, bad configuration), 3 an internal error, 4 the control
plane (or another server) unreachable or not trusted: nothing about the input is wrong, so a
script may retry; 5 a host whose attester cannot produce evidence on this machine (it did not
register).
"""

from __future__ import annotations

import sys

from elsewhere.errors import ElsewhereError, Refused, Unreachable, VerificationFailed

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_NETWORK = 4
# `elsewhere host`: the attester it was given cannot produce evidence on this machine (the
# start-up probe failed), so the host did not register.
EXIT_CANNOT_ATTEST = 5

# Refusals defined in modules a command may not have loaded (wasmtime, SQLAlchemy): looked up
# among the loaded modules, so `elsewhere --help` does not import them. An error of a module
# that is not loaded cannot have been raised.
_REFUSALS_ELSEWHERE = (
    ("elsewhere.ledger.store", "LedgerCorrupt"),
    ("elsewhere.keep.runtime", "WorkloadRefused"),
)


def exit_code(error: ElsewhereError) -> int:
    attest = sys.modules.get("elsewhere.attest.base")
    if attest is not None and isinstance(error, attest.CannotAttest):
        return EXIT_CANNOT_ATTEST
    if isinstance(error, VerificationFailed | Refused):
        return EXIT_REFUSED
    if isinstance(error, Unreachable):
        return EXIT_NETWORK
    for module_name, name in _REFUSALS_ELSEWHERE:
        module = sys.modules.get(module_name)
        if module is not None and isinstance(error, getattr(module, name)):
            return EXIT_REFUSED
    return EXIT_BAD_INPUT
