"""Intel's collateral JSON as pydantic v2 models: strict types, every error located by JSON path.

TCB Info (v2, v3), QE Identity (v2) and dcap-qvl's QuoteCollateralV3 wrapper. Members Intel
adds later are ignored (as QVL does); members the verifier reads must have exactly their type.
`validate` turns pydantic's first error into one ParseError line, e.g.
`TCB Info: tcbInfo.tcbLevels[3].tcb.sgxtcbcomponents[0].svn: expected integer`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import ErrorDetails

from elsewhere.claims import INTEL_LEVEL_STATUSES
from elsewhere.errors import ParseError

_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def _status(value: str) -> str:
    if value not in INTEL_LEVEL_STATUSES:
        raise ValueError(f"{value!r} is not a known TCB status")
    return value


def _hex(size: int) -> Callable[[object], bytes]:
    def check(value: object) -> bytes:
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            raise ValueError("expected a hex string")
        if len(value) != 2 * size:
            raise ValueError(f"is {len(value) // 2} bytes, expected {size}")
        return bytes.fromhex(value)

    return check


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


Status = Annotated[str, AfterValidator(_status)]
Time = Annotated[dt.datetime, AfterValidator(_utc)]
Hex2 = Annotated[bytes, PlainValidator(_hex(2))]
Hex4 = Annotated[bytes, PlainValidator(_hex(4))]
Hex6 = Annotated[bytes, PlainValidator(_hex(6))]
Hex8 = Annotated[bytes, PlainValidator(_hex(8))]
Hex16 = Annotated[bytes, PlainValidator(_hex(16))]
Hex32 = Annotated[bytes, PlainValidator(_hex(32))]
Hex48 = Annotated[bytes, PlainValidator(_hex(48))]


class Model(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


class Svn(Model):
    svn: int


def _sixteen(value: list[Svn]) -> list[Svn]:
    if len(value) != 16:
        raise ValueError(f"has {len(value)} components, expected 16")
    return value


Components = Annotated[list[Svn], AfterValidator(_sixteen)]


class IsvTcb(Model):
    isvsvn: int


class IsvLevelJson(Model):
    tcb: IsvTcb
    tcbDate: str
    tcbStatus: Status
    advisoryIDs: list[str] = []


class TcbV3(Model):
    sgxtcbcomponents: Components
    pcesvn: int
    tdxtcbcomponents: Components | None = None


class TcbV2(Model):
    sgxtcbcomp01svn: int
    sgxtcbcomp02svn: int
    sgxtcbcomp03svn: int
    sgxtcbcomp04svn: int
    sgxtcbcomp05svn: int
    sgxtcbcomp06svn: int
    sgxtcbcomp07svn: int
    sgxtcbcomp08svn: int
    sgxtcbcomp09svn: int
    sgxtcbcomp10svn: int
    sgxtcbcomp11svn: int
    sgxtcbcomp12svn: int
    sgxtcbcomp13svn: int
    sgxtcbcomp14svn: int
    sgxtcbcomp15svn: int
    sgxtcbcomp16svn: int
    pcesvn: int

    def components(self) -> tuple[int, ...]:
        return tuple(getattr(self, f"sgxtcbcomp{i:02d}svn") for i in range(1, 17))


class TcbLevelV3(Model):
    tcb: TcbV3
    tcbDate: str
    tcbStatus: Status
    advisoryIDs: list[str] = []


class TcbLevelV2(Model):
    tcb: TcbV2
    tcbDate: str
    tcbStatus: Status
    advisoryIDs: list[str] = []


class ModuleJson(Model):
    id: str = ""
    mrsigner: Hex48
    attributes: Hex8
    attributesMask: Hex8


class ModuleIdentityJson(ModuleJson):
    tcbLevels: list[IsvLevelJson]


class Head(Model):
    """What picks the model: TCB Info's version (and v3's id)."""

    version: int


class _TcbInfoCommon(Model):
    issueDate: Time
    nextUpdate: Time
    fmspc: Hex6
    pceId: Hex2
    tcbType: Literal[0]
    tcbEvaluationDataNumber: int


class TcbInfoV2(_TcbInfoCommon):
    version: Literal[2]
    tcbLevels: Annotated[list[TcbLevelV2], Field(min_length=1)]


class TcbInfoV3(_TcbInfoCommon):
    version: Literal[3]
    id: Literal["SGX", "TDX"]
    tcbLevels: Annotated[list[TcbLevelV3], Field(min_length=1)]
    tdxModule: ModuleJson | None = None
    tdxModuleIdentities: list[ModuleIdentityJson] | None = None


class QeIdentityV2(Model):
    id: str
    version: Literal[2]
    issueDate: Time
    nextUpdate: Time
    tcbEvaluationDataNumber: int
    miscselect: Hex4
    miscselectMask: Hex4
    attributes: Hex16
    attributesMask: Hex16
    mrsigner: Hex32
    isvprodid: int
    tcbLevels: list[IsvLevelJson]


Bytes = str | list[Annotated[int, Field(ge=0, le=255)]]  # hex, or a JSON byte list


class QuoteCollateralV3(Model):
    """dcap-qvl's QuoteCollateralV3: signed documents as their exact JSON text."""

    tcb_info: str
    qe_identity: str
    tcb_info_issuer_chain: str
    qe_identity_issuer_chain: str
    pck_crl_issuer_chain: str
    tcb_info_signature: Bytes
    qe_identity_signature: Bytes
    root_ca_crl: Bytes
    pck_crl: Bytes


M = TypeVar("M", bound=Model)

_WHY = {
    "int_type": "expected integer",
    "string_type": "expected string",
    "list_type": "expected a list",
    "model_type": "is not a JSON object",
    "model_attributes_type": "is not a JSON object",
    "dict_type": "is not a JSON object",
    "missing": "missing",
    "datetime_type": "expected an ISO 8601 time",
    "datetime_parsing": "is not an ISO 8601 time",
    "datetime_from_date_parsing": "is not an ISO 8601 time",
}


def _path(root: str, loc: tuple[int | str, ...]) -> str:
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def _why(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "value_error":  # our validators: the message after pydantic's prefix
        return str(error["msg"]).removeprefix("Value error, ")
    if kind in ("literal_error", "too_short", "too_long", "json_invalid", "greater_than_equal"):
        return (
            str(error["msg"])
            .replace("Input should", "expected")
            .replace("Invalid JSON", "not JSON")
        )
    return _WHY.get(kind, str(error["msg"]))


def located(error: ValidationError, root: str, what: str) -> ParseError:
    """pydantic's first error as one located line (the JSON path, then why)."""
    first = error.errors(include_url=False, include_input=False)[0]
    loc = tuple(part for part in first["loc"] if not str(part).startswith(("function-", "str")))
    # A union reports its member type in loc (`list[...]`, `str`); the path is what matters.
    loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("list[")))
    return ParseError(what, _path(root, loc), _why(first))


def validate(model: type[M], body: bytes | str, root: str, what: str) -> M:
    """Parse JSON text straight into `model` (pydantic's own JSON reader, depth-limited)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise located(error, root, what) from None
