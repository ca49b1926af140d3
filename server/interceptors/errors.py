"""Domain errors and failures become gRPC statuses; nothing but a request id leaks from an unexpected one."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, NoReturn

import grpc
import psycopg
import psycopg_pool

from contract.metadata import RETRY_AFTER, http_status_trailer, retry_after_trailers
from server.context import request_id_var
from server.errors import AstraError
from server.interceptors.base import Layer, StreamBehavior, UnaryBehavior, add_trailers

log = logging.getLogger(__name__)

# The database being down or out of connections is the client's cue to retry, not a server bug.
_UNAVAILABLE = (psycopg.OperationalError, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed)


async def _abort(context: grpc.aio.ServicerContext, method: str, exc: Exception) -> NoReturn:
    if isinstance(exc, AstraError):
        trailers = []
        if exc.retry_after is not None:
            trailers.extend(retry_after_trailers(exc.retry_after))
        if exc.http_status is not None:
            trailers.append(http_status_trailer(exc.http_status))
        if trailers:
            add_trailers(context, *trailers)
        await context.abort(exc.code, exc.message)
    if isinstance(exc, psycopg.DataError):
        # Values Postgres cannot store (a NUL character, an out-of-range number) are the caller's to fix.
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT, "a value cannot be stored (e.g. it contains a NUL character)"
        )
    if isinstance(exc, _UNAVAILABLE):
        log.warning("database unavailable", extra={"method": method, "error": str(exc)})
        add_trailers(context, (RETRY_AFTER, "1"))
        await context.abort(grpc.StatusCode.UNAVAILABLE, "database unavailable, retry shortly")
    log.exception("unhandled error", extra={"method": method})
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id_var.get()})")


class ErrorLayer(Layer):
    async def unary(self, method: str, behavior: UnaryBehavior, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, method, exc)

    async def stream(
        self, method: str, behavior: StreamBehavior, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        try:
            async with aclosing(behavior(request, context)) as responses:
                async for response in responses:
                    yield response
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, method, exc)
