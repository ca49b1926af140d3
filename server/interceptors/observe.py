"""Access log and per-method Prometheus metrics: both watch a call's final status and duration."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from server.context import client_address_var, principal_var
from server.interceptors.base import BehaviorInterceptor, StreamBehavior, UnaryBehavior
from server.metrics import GRPC_IN_FLIGHT, GRPC_LATENCY, GRPC_REQUESTS

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


class ObserverInterceptor(BehaviorInterceptor):
    """Calls `begin` before and `end` after every call, whatever way it ends."""

    def begin(self, method: str) -> None:
        pass

    def end(self, method: str, seconds: float, context: grpc.aio.ServicerContext, error: BaseException | None) -> None:
        pass

    async def unary(self, method: str, behavior: UnaryBehavior, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.begin(method)
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
        self.begin(method)
        started, error = time.perf_counter(), None
        try:
            async for response in behavior(request, context):
                yield response
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.end(method, time.perf_counter() - started, context, error)


class AccessLogInterceptor(ObserverInterceptor):
    """One JSON line per call: method, status, duration, caller."""

    def end(self, method: str, seconds: float, context: grpc.aio.ServicerContext, error: BaseException | None) -> None:
        principal = principal_var.get()
        log.info(
            "rpc",
            extra={
                "method": method,
                "code": final_code(context, error).name,
                "duration_ms": round(seconds * 1000, 3),
                "user_id": principal.user_id if principal else "",
                # Not context.peer(): after a client cancels, reading it crashes grpc.aio (seen with 1.85).
                "client": client_address_var.get(),
            },
        )


class MetricsInterceptor(ObserverInterceptor):
    """Count by method and status, latency histogram and in-flight gauge by method."""

    def begin(self, method: str) -> None:
        GRPC_IN_FLIGHT.labels(method).inc()

    def end(self, method: str, seconds: float, context: grpc.aio.ServicerContext, error: BaseException | None) -> None:
        GRPC_IN_FLIGHT.labels(method).dec()
        GRPC_LATENCY.labels(method).observe(seconds)
        GRPC_REQUESTS.labels(method, final_code(context, error).name).inc()
