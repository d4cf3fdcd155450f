"""The vocabulary of the component model: what a part is, where it comes from, how far it is
trusted, and what protects each flow of data between parts.

Pure data: no user-facing text (names and descriptions live in `labels`, keyed by the ids
used here, so a translated catalogue can replace them) and nothing about drawing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Provenance(StrEnum):
    """Where a part comes from: who wrote it and answers for it."""

    EXTERNAL = "external"  # another project or vendor: wasmtime, PostgreSQL, AMD firmware
    OWN = "own"  # this project's code, released before
    NEW = "new"  # this project's code, new in this release
    PARTY = "party"  # a person or organisation, not software


class Trust(StrEnum):
    TRUSTED = "trusted"  # its failure breaks the guarantees; nothing checks it
    ATTESTED = "attested"  # trusted only after its hardware evidence verified
    UNTRUSTED = "untrusted"  # assumed hostile: the host


class Kind(StrEnum):
    ACTOR = "actor"
    PROCESS = "process"
    LIBRARY = "library"
    STORE = "store"
    FIRMWARE = "firmware"


class Level(StrEnum):
    """C4-style zoom: the system among people, its running parts, the code inside them."""

    CONTEXT = "context"
    CONTAINERS = "containers"
    COMPONENTS = "components"


class View(StrEnum):
    """Who the drawing is for: what it groups by and what it writes on each part and flow."""

    SECURITY = "security"  # trust zones; protection of every flow
    OPERATIONS = "operations"  # where each part runs; protocol of every flow
    LEGAL = "legal"  # provenance and licence; category of data in every flow


class Unit(StrEnum):
    """Where a part runs or lives: a machine, a process, or an organisation."""

    TENANT = "tenant"
    CONTROL_PLANE = "control-plane"
    HOST = "host"
    TEE = "tee"  # inside the host, but attested
    VENDOR = "vendor"  # AMD / Intel: roots, collateral, bulletins
    PUBLIC = "public"  # anyone who verifies the ledger
    LIBRARIES = "libraries"  # loaded into each process that uses them
    DOCS = "docs"  # wherever the documentation and its diagrams are built


# Units drawn inside another unit.
UNIT_PARENT: dict[Unit, Unit] = {Unit.TEE: Unit.HOST}

UNIT_TRUST: dict[Unit, Trust] = {
    Unit.TENANT: Trust.TRUSTED,
    Unit.CONTROL_PLANE: Trust.TRUSTED,
    Unit.HOST: Trust.UNTRUSTED,
    Unit.TEE: Trust.ATTESTED,
    Unit.VENDOR: Trust.TRUSTED,
    Unit.PUBLIC: Trust.UNTRUSTED,
    Unit.LIBRARIES: Trust.TRUSTED,
    Unit.DOCS: Trust.TRUSTED,
}


class Protection(StrEnum):
    """What protects data, and against what. Several say plainly that nothing does."""

    HPKE_KEEP = "hpke-keep"  # sealed to a keep key bound into verified evidence
    HPKE_TENANT = "hpke-tenant"  # sealed to the tenant's key, when the deployment gives one
    AES_GCM_KEK = "aes-gcm-kek"  # at rest: AES-256-GCM, data key wrapped under the KEK
    TEE = "tee"  # in use: the TEE's memory encryption (real SEV-SNP / TDX only)
    SIGNED = "signed"  # integrity and origin, not confidentiality
    HASHED = "hashed"  # only a hash is stored (tokens)
    OWNER_ONLY = "owner-only"  # a 0600 file: the OS's permissions, no encryption
    TLS = "tls"  # the channel: TLS to a server the client verified (plain HTTP: loopback only)
    NO_HARDWARE = "no-hardware"  # none: emulated attester or nil host
    CLEAR = "clear"  # none: in clear
    IN_PROCESS = "in-process"  # a call inside one process: no boundary crossed


class Strength(StrEnum):
    """How a protection is drawn: it keeps data secret, keeps it honest, or neither."""

    CONFIDENTIAL = "confidential"
    INTEGRITY = "integrity"
    NONE = "none"
    LOCAL = "local"


STRENGTH: dict[Protection, Strength] = {
    Protection.HPKE_KEEP: Strength.CONFIDENTIAL,
    Protection.HPKE_TENANT: Strength.CONFIDENTIAL,
    Protection.AES_GCM_KEK: Strength.CONFIDENTIAL,
    Protection.TEE: Strength.CONFIDENTIAL,
    Protection.SIGNED: Strength.INTEGRITY,
    Protection.HASHED: Strength.INTEGRITY,
    Protection.OWNER_ONLY: Strength.LOCAL,
    Protection.TLS: Strength.CONFIDENTIAL,
    Protection.NO_HARDWARE: Strength.NONE,
    Protection.CLEAR: Strength.NONE,
    Protection.IN_PROCESS: Strength.LOCAL,
}


class Channel(StrEnum):
    """How the bytes travel (the operations view's word for a flow)."""

    HTTP = "http"  # HTTP/1.1, JSON, over TLS beyond loopback
    SQL = "sql"  # SQLite in process or PostgreSQL over its socket
    FILE = "file"
    CALL = "call"  # a Python call in one process
    CONFIGFS = "configfs"  # Linux configfs-tsm, to the CPU's firmware
    OFFLINE = "offline"  # files carried by hand: downloads, bundles


class Data(StrEnum):
    """The category of data a flow carries (the legal view's word for a flow)."""

    SECRET = "secret"  # the tenant's secrets
    WORKLOAD = "workload"  # the tenant's code, inputs and outputs
    HARDWARE_ID = "hardware-id"  # evidence: chip id, TCB, measurements
    DECISION = "decision"  # trust decisions and their reasons
    CREDENTIAL = "credential"  # API tokens, keys
    PUBLIC = "public"  # roots, collateral, bulletins, proofs


@dataclass(frozen=True)
class Component:
    """One part. `code` names the modules of `src/elsewhere/` it is made of, `distributions`
    the runtime packages (pyproject names) it is; the completeness test checks both."""

    id: str
    kind: Kind
    provenance: Provenance
    trust: Trust
    unit: Unit
    levels: frozenset[Level]
    licence: str  # SPDX expression, a short vendor term, or "" for people
    code: tuple[str, ...] = ()
    distributions: tuple[str, ...] = ()
    at_rest: Protection | None = None  # stores only
    in_use: Protection | None = None  # parts whose memory the TEE may protect


@dataclass(frozen=True)
class Flow:
    """Data moving from `source` to `target`. `protection` is what protects the data itself,
    `channel_protection` what protects the channel it travels on (often: nothing yet)."""

    id: str
    source: str
    target: str
    levels: frozenset[Level]
    data: Data
    channel: Channel
    protection: Protection
    channel_protection: Protection


@dataclass(frozen=True)
class Model:
    components: tuple[Component, ...]
    flows: tuple[Flow, ...]

    def __post_init__(self) -> None:
        ids = [c.id for c in self.components]
        if len(set(ids)) != len(ids):
            raise ValueError("component ids are not unique")
        known = set(ids)
        by_id = {c.id: c for c in self.components}
        flow_ids = [f.id for f in self.flows]
        if len(set(flow_ids)) != len(flow_ids):
            raise ValueError("flow ids are not unique")
        for flow in self.flows:
            for end in (flow.source, flow.target):
                if end not in known:
                    raise ValueError(f"flow {flow.id}: unknown component {end!r}")
                if not flow.levels <= by_id[end].levels:
                    raise ValueError(f"flow {flow.id}: {end!r} is not drawn at all its levels")

    def at(self, level: Level) -> Model:
        """Only the parts and flows drawn at `level`, in the model's order."""
        return Model(
            tuple(c for c in self.components if level in c.levels),
            tuple(f for f in self.flows if level in f.levels),
        )

    def component(self, component_id: str) -> Component:
        return next(c for c in self.components if c.id == component_id)
