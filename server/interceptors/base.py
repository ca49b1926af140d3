"""Wrapping a method's behaviour, so each interceptor only writes what it does around one call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
StreamBehavior = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]


class BehaviorInterceptor(grpc.aio.ServerInterceptor):
    """Subclasses implement `unary` and `stream`; client-streaming methods (none in the contract) pass through.

    grpc.aio picks how to run a handler by its kind, so the unary wrapper stays a coroutine function and the
    stream wrapper an async generator function.
    """

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return None
        method: str = details.method
        if handler.unary_unary is not None:
            inner_unary = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                return await self.unary(method, inner_unary, request, context)

            return handler._replace(unary_unary=unary_unary)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                async for response in self.stream(method, inner_stream, request, context):
                    yield response

            return handler._replace(unary_stream=unary_stream)
        return handler

    async def unary(self, method: str, behavior: UnaryBehavior, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await behavior(request, context)

    async def stream(
        self, method: str, behavior: StreamBehavior, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        async for response in behavior(request, context):
            yield response


def metadata_value(context: grpc.aio.ServicerContext, key: str) -> str:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else v.decode("latin-1")
    return ""
