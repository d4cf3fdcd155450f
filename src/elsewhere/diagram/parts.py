"""Elsewhere's own component model: every part, what it depends on at run time, and the data
flows between them, at three levels of zoom. Names and descriptions are in `labels`.

Keep this true: tests/test_diagram_model.py fails when a module under `src/elsewhere/` or a
runtime dependency in pyproject.toml is missing here, and the README's diagram is drawn from it.
"""

from __future__ import annotations

from elsewhere.diagram.model import (
    Component,
    Kind,
    Level,
    Protection,
    Provenance,
    Trust,
    Unit,
)

_X = Level.CONTEXT
_N = Level.CONTAINERS
_P = Level.COMPONENTS


def _at(*levels: Level) -> frozenset[Level]:
    return frozenset(levels)


_EXT, _OWN, _NEW, _PARTY = Provenance.EXTERNAL, Provenance.OWN, Provenance.NEW, Provenance.PARTY
_T, _A, _U = Trust.TRUSTED, Trust.ATTESTED, Trust.UNTRUSTED


def _c(
    id: str,
    kind: Kind,
    provenance: Provenance,
    trust: Trust,
    unit: Unit,
    levels: frozenset[Level],
    licence: str,
    *,
    code: tuple[str, ...] = (),
    distributions: tuple[str, ...] = (),
    at_rest: Protection | None = None,
    in_use: Protection | None = None,
) -> Component:
    return Component(
        id, kind, provenance, trust, unit, levels, licence, code, distributions, at_rest, in_use
    )


_APACHE = "Apache-2.0"
_VENDOR = "proprietary (AMD, Intel)"
_PEOPLE = ""

COMPONENTS: tuple[Component, ...] = (
    # People and organisations.
    _c("tenant", Kind.ACTOR, _PARTY, _T, Unit.TENANT, _at(_X), _PEOPLE),
    _c("operator", Kind.ACTOR, _PARTY, _T, Unit.CONTROL_PLANE, _at(_X), _PEOPLE),
    _c("auditor", Kind.ACTOR, _PARTY, _U, Unit.PUBLIC, _at(_X, _N, _P), _PEOPLE),
    _c("vendor", Kind.ACTOR, _EXT, _T, Unit.VENDOR, _at(_X, _N, _P), _VENDOR),
    # The system as a whole (context level).
    _c("control_plane", Kind.PROCESS, _OWN, _T, Unit.CONTROL_PLANE, _at(_X), _APACHE),
    _c("host_machine", Kind.PROCESS, _OWN, _U, Unit.HOST, _at(_X), _APACHE),
    _c("keep_tee", Kind.PROCESS, _OWN, _A, Unit.TEE, _at(_X), _APACHE, in_use=Protection.TEE),
    _c("cpu_firmware", Kind.FIRMWARE, _EXT, _T, Unit.TEE, _at(_X, _N, _P), _VENDOR),
    # Running parts (containers level).
    _c("tenant_cli", Kind.PROCESS, _OWN, _T, Unit.TENANT, _at(_N), _APACHE),
    _c(
        "tenant_key",
        Kind.STORE,
        _OWN,
        _T,
        Unit.TENANT,
        _at(_N, _P),
        _APACHE,
        at_rest=Protection.OWNER_ONLY,
    ),
    _c("server", Kind.PROCESS, _OWN, _T, Unit.CONTROL_PLANE, _at(_N), _APACHE),
    _c(
        "key_files",
        Kind.STORE,
        _OWN,
        _T,
        Unit.CONTROL_PLANE,
        _at(_N, _P),
        _APACHE,
        at_rest=Protection.OWNER_ONLY,
    ),
    _c(
        "sqlite",
        Kind.STORE,
        _EXT,
        _T,
        Unit.CONTROL_PLANE,
        _at(_N, _P),
        "blessing (public domain)",
        at_rest=Protection.AES_GCM_KEK,
    ),
    _c(
        "postgresql",
        Kind.STORE,
        _EXT,
        _T,
        Unit.CONTROL_PLANE,
        _at(_N, _P),
        "PostgreSQL",
        at_rest=Protection.AES_GCM_KEK,
    ),
    _c("host_agent", Kind.PROCESS, _OWN, _U, Unit.HOST, _at(_N), _APACHE),
    _c(
        "emulated_attester",
        Kind.PROCESS,
        _OWN,
        _U,
        Unit.HOST,
        _at(_N),
        _APACHE,
        in_use=Protection.NO_HARDWARE,
    ),
    _c("keep_sandbox", Kind.PROCESS, _OWN, _A, Unit.TEE, _at(_N), _APACHE, in_use=Protection.TEE),
    # This project's packages (components level).
    _c("cli", Kind.LIBRARY, _OWN, _T, Unit.TENANT, _at(_P), _APACHE, code=("cli",)),
    _c("control", Kind.LIBRARY, _OWN, _T, Unit.CONTROL_PLANE, _at(_P), _APACHE, code=("control",)),
    _c(
        "evidence", Kind.LIBRARY, _OWN, _T, Unit.CONTROL_PLANE, _at(_P), _APACHE, code=("evidence",)
    ),
    _c("claims", Kind.LIBRARY, _OWN, _T, Unit.CONTROL_PLANE, _at(_P), _APACHE, code=("claims",)),
    _c("policy", Kind.LIBRARY, _OWN, _T, Unit.CONTROL_PLANE, _at(_P), _APACHE, code=("policy",)),
    _c("risk", Kind.LIBRARY, _OWN, _T, Unit.CONTROL_PLANE, _at(_P), _APACHE, code=("risk",)),
    _c("ledger", Kind.LIBRARY, _OWN, _T, Unit.CONTROL_PLANE, _at(_P), _APACHE, code=("ledger",)),
    _c("db", Kind.LIBRARY, _OWN, _T, Unit.CONTROL_PLANE, _at(_P), _APACHE, code=("db",)),
    _c("host", Kind.LIBRARY, _OWN, _U, Unit.HOST, _at(_P), _APACHE, code=("host",)),
    _c("attest", Kind.LIBRARY, _OWN, _U, Unit.HOST, _at(_P), _APACHE, code=("attest",)),
    _c(
        "keep",
        Kind.LIBRARY,
        _OWN,
        _A,
        Unit.TEE,
        _at(_P),
        _APACHE,
        code=("keep",),
        in_use=Protection.TEE,
    ),
    _c("crypto", Kind.LIBRARY, _OWN, _T, Unit.LIBRARIES, _at(_P), _APACHE, code=("crypto",)),
    _c(
        "support",
        Kind.LIBRARY,
        _OWN,
        _T,
        Unit.LIBRARIES,
        _at(_P),
        _APACHE,
        code=("errors", "paths", "privatefile", "timeutil"),
    ),
    _c("diagram", Kind.LIBRARY, _NEW, _T, Unit.DOCS, _at(_P), _APACHE, code=("diagram",)),
    _c("ear", Kind.LIBRARY, _NEW, _T, Unit.CONTROL_PLANE, _at(_P), _APACHE, code=("ear",)),
    _c("wire", Kind.LIBRARY, _NEW, _T, Unit.LIBRARIES, _at(_P), _APACHE, code=("wire",)),
    _c("commons", Kind.LIBRARY, _NEW, _T, Unit.LIBRARIES, _at(_P), _APACHE, code=("commons",)),
    _c("custodian", Kind.LIBRARY, _NEW, _T, Unit.TENANT, _at(_P), _APACHE, code=("custodian",)),
    # Other projects' libraries (components level).
    _c(
        "cryptography",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.LIBRARIES,
        _at(_P),
        "Apache-2.0 OR BSD-3-Clause",
        distributions=("cryptography",),
    ),
    _c(
        "wasmtime",
        Kind.LIBRARY,
        _EXT,
        _A,
        Unit.TEE,
        _at(_P),
        "Apache-2.0 WITH LLVM-exception",
        distributions=("wasmtime",),
        in_use=Protection.TEE,
    ),
    _c(
        "uvicorn",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.CONTROL_PLANE,
        _at(_P),
        "BSD-3-Clause; MIT; MIT OR Apache-2.0",
        distributions=("uvicorn", "httptools", "uvloop"),
    ),
    _c(
        "fastapi",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.CONTROL_PLANE,
        _at(_P),
        "MIT",
        distributions=("fastapi",),
    ),
    _c(
        "sqlalchemy",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.CONTROL_PLANE,
        _at(_P),
        "MIT",
        distributions=("sqlalchemy", "alembic"),
    ),
    _c(
        "psycopg",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.CONTROL_PLANE,
        _at(_P),
        "LGPL-3.0-only",
        distributions=("psycopg",),
    ),
    _c(
        "httpx",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.LIBRARIES,
        _at(_P),
        "BSD-3-Clause",
        distributions=("httpx",),
    ),
    _c(
        "asn1crypto",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.LIBRARIES,
        _at(_P),
        "MIT",
        distributions=("asn1crypto",),
    ),
    _c(
        "pydantic",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.LIBRARIES,
        _at(_P),
        "MIT",
        distributions=("pydantic",),
    ),
    _c(
        "joserfc",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.LIBRARIES,
        _at(_P),
        "BSD-3-Clause",
        distributions=("joserfc",),
    ),
    _c(
        "numpy",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.LIBRARIES,
        _at(_P),
        "BSD-3-Clause",
        distributions=("numpy",),
    ),
    _c(
        "scipy",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.LIBRARIES,
        _at(_P),
        "BSD-3-Clause",
        distributions=("scipy",),
    ),
    _c(
        "rfc8785",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.LIBRARIES,
        _at(_P),
        _APACHE,
        distributions=("rfc8785",),
    ),
    _c(
        "matplotlib",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.LIBRARIES,
        _at(_P),
        "PSF-based (Matplotlib)",
        distributions=("matplotlib",),
    ),
    _c(
        "opendp",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.LIBRARIES,
        _at(_P),
        "MIT",
        distributions=("opendp",),
    ),
    _c(
        "pycryptodome",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.LIBRARIES,
        _at(_P),
        "BSD-2-Clause; Unlicense",
        distributions=("pycryptodome",),
    ),
    _c(
        "graphviz",
        Kind.LIBRARY,
        _EXT,
        _T,
        Unit.DOCS,
        _at(_P),
        "MIT; dot: EPL-1.0",
        distributions=("graphviz",),
    ),
)
