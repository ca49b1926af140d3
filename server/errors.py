"""Domain errors: handlers raise these; one interceptor turns them into gRPC statuses."""

from __future__ import annotations

import grpc


class AstraError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, *, http_status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        # Set when the reference asks for an HTTP status the canonical mapping cannot give (e.g. 422).
        self.http_status = http_status
        self.retry_after = retry_after


class InvalidArgument(AstraError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(AstraError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(AstraError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(AstraError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(AstraError):
    code = grpc.StatusCode.UNAUTHENTICATED


class FailedPrecondition(AstraError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(AstraError):
    code = grpc.StatusCode.ABORTED


class ResourceExhausted(AstraError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(AstraError):
    code = grpc.StatusCode.UNAVAILABLE


class Unimplemented(AstraError):
    code = grpc.StatusCode.UNIMPLEMENTED
