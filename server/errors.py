"""Domain errors: handlers raise these; one interceptor turns them into gRPC statuses.

Each class is one code of the contract's vocabulary (contract/errors.py), which gives its gRPC status and its HTTP
status; where the reference asks for a more precise HTTP status (422 for a reused Idempotency-Key), a raise site names
one the contract allows for the code, and the interceptor passes it to the edge.
"""

from __future__ import annotations

import grpc

from contract.errors import ErrorCode


class AstraError(Exception):
    error: ErrorCode = ErrorCode.UNKNOWN
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN  # the gRPC status the contract gives `error`

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = cls.error.grpc or grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
        error: ErrorCode | None = None,
    ):
        super().__init__(message)
        self.message = message
        if error is not None:  # a code that is no gRPC status of its own (a chat turn's provider_error)
            self.error, self.code = error, error.grpc or grpc.StatusCode.UNKNOWN
        # The x-http-status the edge answers with instead of the gRPC status's own (ValueError for one the contract
        # does not allow for this code).
        self.http_status = self.error.http_override(http_status)
        self.retry_after = retry_after


class InvalidArgument(AstraError):
    error = ErrorCode.INVALID_ARGUMENT


class NotFound(AstraError):
    error = ErrorCode.NOT_FOUND


class AlreadyExists(AstraError):
    error = ErrorCode.ALREADY_EXISTS


class PermissionDenied(AstraError):
    error = ErrorCode.PERMISSION_DENIED


class Unauthenticated(AstraError):
    error = ErrorCode.UNAUTHENTICATED


class FailedPrecondition(AstraError):
    error = ErrorCode.FAILED_PRECONDITION


class Aborted(AstraError):
    error = ErrorCode.ABORTED


class ResourceExhausted(AstraError):
    error = ErrorCode.RESOURCE_EXHAUSTED


class Unavailable(AstraError):
    error = ErrorCode.UNAVAILABLE


class Unimplemented(AstraError):
    error = ErrorCode.UNIMPLEMENTED


class DeadlineExceeded(AstraError):
    error = ErrorCode.DEADLINE_EXCEEDED
