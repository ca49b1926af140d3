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


class ObserveLayer(Layer):
    """One JSON access-log line per call (method, status, duration, caller) and per-method Prometheus metrics
    (count by status, latency histogram, in-flight gauge), whatever way the call ends."""

    def __init__(self) -> None:
        # Resolving label children costs a lock and a lookup each; a method's children never change.
        self._children: dict[str, tuple[Any, Any]] = {}
        self._counters: dict[tuple[str, str], Any] = {}

    def _metrics(self, method: str) -> tuple[Any, Any]:
        children = self._children.get(method)
        if children is None:
            children = self._children[method] = (GRPC_IN_FLIGHT.labels(method), GRPC_LATENCY.labels(method))
        return children

    def end(self, method: str, seconds: float, context: grpc.aio.ServicerContext, error: BaseException | None) -> None:
        in_flight, latency = self._metrics(method)
        in_flight.dec()
        latency.observe(seconds)
        code = final_code(context, error).name
        counter = self._counters.get((method, code))
        if counter is None:
            counter = self._counters[(method, code)] = GRPC_REQUESTS.labels(method, code)
        counter.inc()
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
        self._metrics(method)[0].inc()
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
        self._metrics(method)[0].inc()
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
