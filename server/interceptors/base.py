"""One gRPC interceptor running a fixed stack of layers, each of which only writes what it does around a call.

grpc.aio calls every interceptor's `intercept_service` for every call, and a wrapper built there is built again
per call. Here the layers are composed once per method and the composed handler is reused, so a call pays for
its layers' own work and nothing else.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from typing import Any

import grpc

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
StreamBehavior = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]


class Layer:
    """A layer that only acts before a call overrides `before`; one that wraps the call overrides `unary` and
    `stream`. Client-streaming methods (none in the contract) pass through."""

    async def before(self, method: str, context: grpc.aio.ServicerContext) -> None:
        pass

    async def unary(self, method: str, behavior: UnaryBehavior, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self.before(method, context)
        return await behavior(request, context)

    async def stream(
        self, method: str, behavior: StreamBehavior, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        await self.before(method, context)
        # Closed, not left to the garbage collector, when this stream is: the handler learns at once that it ended.
        async with aclosing(behavior(request, context)) as responses:
            async for response in responses:
                yield response


def _unary(layer: Layer, method: str, inner: UnaryBehavior) -> UnaryBehavior:
    # grpc.aio picks how to run a handler by its kind: unary wrappers stay coroutine functions...
    async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await layer.unary(method, inner, request, context)

    return unary_unary


def _stream(layer: Layer, method: str, inner: StreamBehavior) -> StreamBehavior:
    # ...and stream wrappers async generator functions.
    async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async with aclosing(layer.stream(method, inner, request, context)) as responses:
            async for response in responses:
                yield response

    return unary_stream


def _writer_as_generator(inner: Callable[[Any, grpc.aio.ServicerContext], Awaitable[None]]) -> StreamBehavior:
    """A stream handler written as a coroutine that calls `context.write` (grpc_health's Watch) as an async
    generator yielding nothing, so layers treat every stream alike; its writes still reach the caller."""

    async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await inner(request, context)
        return
        yield  # unreachable; makes this an async generator

    return unary_stream


class LayeredInterceptor(grpc.aio.ServerInterceptor):
    """Runs `layers` outermost first around every unary and server-streaming method."""

    def __init__(self, layers: Sequence[Layer]):
        self.layers = tuple(reversed(layers))
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = details.method
        try:
            return self._handlers[method]
        except KeyError:
            pass
        handler = await continuation(details)
        # Methods are fixed once the server starts; unknown ones are not kept, so probing cannot grow the map.
        return self.wrap(method, handler) if handler is not None else None

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """The method's handler inside the layers, composed once (also for calls that do not come through grpc.aio,
        from server/local_channel.py)."""
        composed = self._handlers.get(method)
        if composed is None:
            composed = self._handlers[method] = self._compose(method, handler)
        return composed

    def _compose(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if handler.unary_unary is not None:
            behavior: Any = handler.unary_unary
            for layer in self.layers:
                behavior = _unary(layer, method, behavior)
            return handler._replace(unary_unary=behavior)
        if handler.unary_stream is not None:
            behavior = handler.unary_stream
            if inspect.iscoroutinefunction(behavior):
                behavior = _writer_as_generator(behavior)
            for layer in self.layers:
                behavior = _stream(layer, method, behavior)
            return handler._replace(unary_stream=behavior)
        return handler


# The call's metadata as a dict, built on the first lookup: grpc.aio builds a fresh tuple for every
# `invocation_metadata()`, and a call looks up four to six keys. Keyed by the context, as each RPC has its own task.
_CALL_METADATA: contextvars.ContextVar[tuple[grpc.aio.ServicerContext, dict[str, str]] | None] = contextvars.ContextVar(
    "call_metadata", default=None
)


def metadata_value(context: grpc.aio.ServicerContext, key: str) -> str:
    """The first value of `key` in the call's metadata ("" when absent)."""
    cached = _CALL_METADATA.get()
    if cached is None or cached[0] is not context:
        values: dict[str, str] = {}
        for k, v in context.invocation_metadata() or ():
            values.setdefault(k, v if isinstance(v, str) else v.decode("latin-1"))
        cached = (context, values)
        _CALL_METADATA.set(cached)
    return cached[1].get(key, "")


def add_trailers(context: grpc.aio.ServicerContext, *pairs: tuple[str, str]) -> None:
    """Appends to the call's trailing metadata; `set_trailing_metadata` alone would drop the request id."""
    context.set_trailing_metadata((*context.trailing_metadata(), *pairs))
