"""The error vocabulary: every code a client may see, with its gRPC status and its HTTP status, in one table.

The codes are astra.v1.ErrorCode (proto/astra/v1/errors.proto, where each is documented for clients); this module
gives each its wire spelling, the gRPC status the core answers with and the HTTP status the edge answers with, and
checks at import that the two lists agree. The core raises errors by code (server/errors.py); the edge renders
them (edge/errors.py); neither chooses a status of its own.
"""

from __future__ import annotations

import enum

import grpc

from astra.v1 import errors_pb2

_S = grpc.StatusCode
_PREFIX = "ERROR_CODE_"


class ErrorCode(enum.Enum):
    """(wire spelling, gRPC status or None for the edge's own refusals, HTTP status, more precise HTTP statuses the
    core may ask for in x-http-status)."""

    # gRPC statuses: HTTP per google/rpc/code.proto's table.
    CANCELLED = ("CANCELLED", _S.CANCELLED, 499)
    UNKNOWN = ("UNKNOWN", _S.UNKNOWN, 500)
    INVALID_ARGUMENT = ("INVALID_ARGUMENT", _S.INVALID_ARGUMENT, 400, (413, 422))
    DEADLINE_EXCEEDED = ("DEADLINE_EXCEEDED", _S.DEADLINE_EXCEEDED, 504)
    NOT_FOUND = ("NOT_FOUND", _S.NOT_FOUND, 404)
    ALREADY_EXISTS = ("ALREADY_EXISTS", _S.ALREADY_EXISTS, 409)
    PERMISSION_DENIED = ("PERMISSION_DENIED", _S.PERMISSION_DENIED, 403)
    RESOURCE_EXHAUSTED = ("RESOURCE_EXHAUSTED", _S.RESOURCE_EXHAUSTED, 429, (402,))
    FAILED_PRECONDITION = ("FAILED_PRECONDITION", _S.FAILED_PRECONDITION, 400, (409, 412))
    ABORTED = ("ABORTED", _S.ABORTED, 409)
    OUT_OF_RANGE = ("OUT_OF_RANGE", _S.OUT_OF_RANGE, 400)
    UNIMPLEMENTED = ("UNIMPLEMENTED", _S.UNIMPLEMENTED, 501)
    INTERNAL = ("INTERNAL", _S.INTERNAL, 500)
    UNAVAILABLE = ("UNAVAILABLE", _S.UNAVAILABLE, 503)
    DATA_LOSS = ("DATA_LOSS", _S.DATA_LOSS, 500)
    UNAUTHENTICATED = ("UNAUTHENTICATED", _S.UNAUTHENTICATED, 401)
    # The edge's refusals before any call.
    METHOD_NOT_ALLOWED = ("METHOD_NOT_ALLOWED", None, 405)
    PAYLOAD_TOO_LARGE = ("PAYLOAD_TOO_LARGE", None, 413)
    UNSUPPORTED_MEDIA_TYPE = ("UNSUPPORTED_MEDIA_TYPE", None, 415)
    # A chat turn's error event.
    PROVIDER_ERROR = ("provider_error", _S.UNAVAILABLE, 502)  # the vendor refused: a bad gateway, not the caller
    PROVIDER_UNAVAILABLE = ("provider_unavailable", _S.UNAVAILABLE, 503)
    RATE_LIMITED = ("rate_limited", _S.RESOURCE_EXHAUSTED, 429)
    # /ws frames (no call behind them; their statuses are what a call refused the same way would get).
    BUSY = ("busy", _S.FAILED_PRECONDITION, 409)
    INVALID_FRAME = ("invalid_frame", _S.INVALID_ARGUMENT, 400)

    def __init__(self, wire: str, status: grpc.StatusCode | None, http: int, precise: tuple[int, ...] = ()):
        self.wire = wire
        self.grpc = status
        self.http = http
        self.precise = frozenset(precise)

    @property
    def number(self) -> int:
        """The value of astra.v1.ErrorCode."""
        return errors_pb2.ErrorCode.Value(_PREFIX + self.name)

    @classmethod
    def of_status(cls, status: grpc.StatusCode) -> ErrorCode:
        """The code of a gRPC status (UNKNOWN for OK, which is no error)."""
        return _BY_STATUS.get(status, cls.UNKNOWN)

    @classmethod
    def of_wire(cls, wire: str) -> ErrorCode | None:
        return _BY_WIRE.get(wire)

    def http_override(self, asked: int | None = None) -> int | None:
        """The x-http-status the core sends with this code's gRPC status, if the HTTP status is not that status's
        own: `asked` (one of `precise`), or the code's own status where it differs (provider_error's 502)."""
        if asked is not None and asked != self.http:
            if asked not in self.precise:
                raise ValueError(f"{self.name} is never answered with HTTP {asked} (contract/errors.py)")
            return asked
        if self.grpc is not None and self.http != ErrorCode.of_status(self.grpc).http:
            return self.http
        return None


_BY_STATUS = {code.grpc: code for code in ErrorCode if code.grpc is not None and code.wire == code.grpc.name}
_BY_WIRE = {code.wire: code for code in ErrorCode}


def _check() -> None:
    documented = {name.removeprefix(_PREFIX) for name, number in errors_pb2.ErrorCode.items() if number}
    mapped = {code.name for code in ErrorCode}
    if documented != mapped or any(code.wire.upper() != code.name for code in ErrorCode):
        raise RuntimeError(f"astra.v1.ErrorCode and contract/errors.py disagree: {sorted(documented ^ mapped)}")
    if set(_BY_STATUS) != set(_S) - {_S.OK}:
        raise RuntimeError("every gRPC status but OK needs its code in contract/errors.py")


_check()
