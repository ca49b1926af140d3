"""Access log and per-method Prometheus metrics: both watch a call's final status and duration."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import grpc

from server.context import client_address_var, principal_var
from server.interceptors.base import Layer, StreamBehavior, UnaryBehavior
from server.metrics import grpc_in_flight, grpc_latency, grpc_requests

log = logging.getLogger("astra.access")


def final_code(context: grpc.aio.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


class ObserveLayer(Layer):
    """One JSON access-log line per call (method, status, duration, caller) and per-method Prometheus metrics
    (count by status, latency histogram, in-flight gauge), whatever way the call ends."""

    def end(self, method: str, seconds: float, context: grpc.aio.ServicerContext, error: BaseException | None) -> None:
        grpc_in_flight(method).dec()
        grpc_latency(method).observe(seconds)
        code = final_code(context, error).name
        grpc_requests(method, code).inc()
        if log.isEnabledFor(logging.INFO):
            principal = principal_var.get()
            log.info(
                "rpc",
                extra={
                    "method": method,
                    "code": code,
                    "duration_ms": round(seconds * 1000, 3),
                    "user_id": principal.user_id if principal else "",
                    # Not context.peer(): after a client cancels, reading it crashes grpc.aio (seen with 1.85).
                    "client": client_address_var.get(),
                },
            )

    async def unary(self, method: str, behavior: UnaryBehavior, request: Any, context: grpc.aio.ServicerContext) -> Any:
        grpc_in_flight(method).inc()
        started, error = time.perf_counter(), None
        try:
            return await behavior(request, context)
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.end(method, time.perf_counter() - started, context, error)

    async def stream(
        self, method: str, behavior: StreamBehavior, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        grpc_in_flight(method).inc()
        started, error = time.perf_counter(), None
        try:
            async with aclosing(behavior(request, context)) as responses:
                async for response in responses:
                    yield response
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.end(method, time.perf_counter() - started, context, error)
