"""An in-process channel to this process's core, for the edge that `astra serve` runs beside it.

A call still goes to the method's handler through the same layers (request id, access log and metrics, errors,
auth) with its metadata, status, details and trailers, and each call runs in a task of its own as on the
network; what it skips is HTTP/2 framing, the socket and gRPC's completion queue on both sides, which were most
of the edge's own cost (gRPC Java's in-process transport and Go's bufconn serve the same purpose). The calls
behave as grpc.aio's client calls as far as the edge uses them: awaiting a unary call, `read()` or `async for`
on a stream, `cancel()`, `done()`, trailing metadata, and AioRpcError for a failure.

With tracing on (server/telemetry.py), each call gets the SERVER span grpc's instrumentation makes for a network
call, a child of the caller's current span (the edge's request). An edge in its own process (`--role edge`) uses a
real channel.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, NamedTuple, NoReturn

import grpc

from server import telemetry

Metadata = Sequence[tuple[str, str]]
# The peer RequestIdLayer trusts, like the loopback edge it is, to forward the client's address.
PEER = "unix:in-process"
# How many messages a stream runs ahead of its reader, in place of HTTP/2 flow control.
STREAM_BUFFER = 16


class _Details(NamedTuple):
    """grpc.HandlerCallDetails as generic handlers and interceptors read it."""

    method: str
    invocation_metadata: Metadata


class _Status(NamedTuple):
    code: grpc.StatusCode
    details: str
    trailers: grpc.aio.Metadata


class _Context:
    """The server side of a call: what the layers and handlers use of grpc.aio.ServicerContext."""

    def __init__(self, metadata: Metadata):
        self._metadata = tuple(metadata)
        self._trailers: tuple[tuple[str, str], ...] = ()
        self._initial: tuple[tuple[str, str], ...] | None = None
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self.was_cancelled = False

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def peer(self) -> str:
        return PEER

    def cancelled(self) -> bool:
        return self.was_cancelled

    async def send_initial_metadata(self, metadata: Metadata) -> None:
        if self._initial is not None:
            raise grpc.aio.UsageError("Send initial metadata failed: already sent")
        self._initial = tuple(metadata)

    def initial_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._initial or ()

    def set_trailing_metadata(self, metadata: Metadata) -> None:
        self._trailers = tuple(metadata)

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailers

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def set_details(self, details: str) -> None:
        self._details = details

    def details(self) -> str:
        return self._details

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()) -> NoReturn:
        self._code, self._details = code, details
        if trailing_metadata:
            self._trailers = tuple(trailing_metadata)
        raise grpc.aio.AbortError(details)

    def status(self, error: BaseException | None) -> _Status:
        """The call's final status, as grpc.aio would report it for this outcome of the handler."""
        code = self._code
        if isinstance(error, TimeoutError):
            code, self._details = grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"
        elif isinstance(error, asyncio.CancelledError):
            code, self._details = grpc.StatusCode.CANCELLED, "Cancelled"
        elif error is not None and not isinstance(error, grpc.aio.AbortError):
            code, self._details = grpc.StatusCode.UNKNOWN, f"Unexpected {type(error).__name__}"
        return _Status(code or grpc.StatusCode.OK, self._details, grpc.aio.Metadata(*self._trailers))


def _error(status: _Status) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), status.trailers, status.details)


class _Call:
    """What unary and streaming calls share: the handler's task, its deadline, its final status."""

    def __init__(
        self,
        channel: LocalChannel,
        method: str,
        handler: grpc.RpcMethodHandler | None,
        request: Any,
        metadata: Metadata,
        timeout: float | None,
    ):
        self.method = method
        self._context = _Context(metadata)
        self._timeout = timeout
        self._status: _Status | None = None
        self._task: asyncio.Task[Any] | None = None
        if handler is None:
            self._finish(_Status(grpc.StatusCode.UNIMPLEMENTED, "Method not found!", grpc.aio.Metadata()))
            return
        # A task of its own (and so a context of its own), as each RPC has on a server: the layers' context
        # variables never leak into the edge's task, and cancelling the call cancels only the handler.
        self._task = asyncio.get_running_loop().create_task(channel._run(self, self._body(handler, request)))

    async def _body(self, handler: grpc.RpcMethodHandler, request: Any) -> Any:
        raise NotImplementedError

    def _finish(self, status: _Status) -> None:
        self._status = status

    async def _deadline(self, body: Coroutine[Any, Any, Any]) -> Any:
        async with asyncio.timeout(self._timeout):
            return await body

    def cancel(self) -> bool:
        if self._task is None or self._task.done():
            return False
        self._context.was_cancelled = True
        return self._task.cancel()

    def done(self) -> bool:
        return self._task is None or self._task.done()

    async def initial_metadata(self) -> grpc.aio.Metadata:
        # What the handler sent so far: a stream's handler sends it before its first message, which is when the
        # edge asks; the rest of the core's metadata comes with the status.
        return grpc.aio.Metadata(*self._context.initial_metadata())

    async def trailing_metadata(self) -> grpc.aio.Metadata:
        return (await self._final()).trailers

    async def code(self) -> grpc.StatusCode:
        return (await self._final()).code

    async def details(self) -> str:
        return (await self._final()).details

    async def _final(self) -> _Status:
        if self._task is not None:
            await asyncio.wait((self._task,))
        assert self._status is not None
        return self._status


class _UnaryCall(_Call):
    async def _body(self, handler: grpc.RpcMethodHandler, request: Any) -> Any:
        response, error = None, None
        try:
            response = await self._deadline(handler.unary_unary(request, self._context))
        except BaseException as exc:  # every outcome becomes the call's status
            error = exc
        self._finish(self._context.status(error))
        return response

    def __await__(self) -> Any:
        return self._response().__await__()

    async def _response(self) -> Any:
        try:
            status = await self._final()
        except asyncio.CancelledError:
            self.cancel()  # as a cancelled grpc.aio call: the caller went away (an HTTP client that disconnected)
            raise
        if status.code is not grpc.StatusCode.OK:
            raise _error(status)
        assert self._task is not None
        return self._task.result()


_END = object()


class _StreamCall(_Call):
    def __init__(self, *args: Any):
        self._messages: asyncio.Queue[Any] = asyncio.Queue(STREAM_BUFFER)
        super().__init__(*args)

    async def _body(self, handler: grpc.RpcMethodHandler, request: Any) -> None:
        error = None
        try:
            await self._deadline(self._produce(handler.unary_stream(request, self._context)))
        except BaseException as exc:  # every outcome becomes the call's status
            error = exc
        self._finish(self._context.status(error))

    def _finish(self, status: _Status) -> None:
        self._status = status
        with contextlib.suppress(asyncio.QueueFull):
            self._messages.put_nowait(_END)  # a full buffer: the reader finds the status once it has drained it

    async def _produce(self, messages: AsyncGenerator[Any, None]) -> None:
        # Closed explicitly, not left to the garbage collector: a call cancelled while the reader is behind stops
        # here, at `put`, and the handler must still learn that its stream ended (a turn keeps what it said).
        async with contextlib.aclosing(messages):
            async for message in messages:
                await self._messages.put(message)

    async def read(self) -> Any:
        # Once the end was read, every further read reports it again.
        if self._status is not None and self._messages.empty():
            return self._end()
        message = await self._messages.get()
        return self._end() if message is _END else message

    def read_ready(self) -> list[Any]:
        """The messages already produced, without waiting (a burst the edge writes at once); the end stays for
        `read`, which reports it once they are gone (the status is set before the end is queued)."""
        ready = []
        while not self._messages.empty():
            message = self._messages.get_nowait()
            if message is _END:
                break
            ready.append(message)
        return ready

    def _end(self) -> Any:
        assert self._status is not None
        if self._status.code is grpc.StatusCode.OK:
            return grpc.aio.EOF
        raise _error(self._status)

    async def __aiter__(self) -> AsyncIterator[Any]:
        while (message := await self.read()) is not grpc.aio.EOF:
            yield message


class _MultiCallable:
    def __init__(self, channel: LocalChannel, method: str, call: type[_UnaryCall] | type[_StreamCall]):
        self._channel = channel
        self._method = method
        self._call = call

    def __call__(self, request: Any, *, metadata: Metadata = (), timeout: float | None = None, **_: Any) -> Any:
        return self._call(self._channel, self._method, self._channel._handler(self._method), request, metadata, timeout)


Compose = Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler]


class LocalChannel:
    """The subset of grpc.aio.Channel the edge uses, over the core's generic handlers, each method wrapped by
    `compose` (the layers). Calls made after `close` starts fail UNAVAILABLE, as a stopping server refuses them;
    close waits for calls in flight up to the grace period, then cancels them."""

    def __init__(self, handlers: Sequence[grpc.GenericRpcHandler], compose: Compose):
        self._generic = handlers
        self._compose = compose
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._closing = False

    def _handler(self, method: str) -> grpc.RpcMethodHandler | None:
        try:
            return self._handlers[method]
        except KeyError:
            pass
        found = None
        for generic in self._generic:
            handler = generic.service(_Details(method, ()))  # type: ignore[arg-type]
            if handler is not None:
                found = self._compose(method, handler)
                break
        # Only the contract's methods are kept, so probing cannot grow the map.
        if found is not None:
            self._handlers[method] = found
        return found

    async def _run(self, call: _Call, body: Coroutine[Any, Any, Any]) -> Any:
        if self._closing:
            body.close()
            call._finish(_Status(grpc.StatusCode.UNAVAILABLE, "the gateway is shutting down", grpc.aio.Metadata()))
            return None
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            if not telemetry.tracing():
                return await body
            # grpc's instrumentation does not see these calls: the call gets the SERVER span it would have made.
            served = telemetry.serve_span(call.method, call._context.invocation_metadata())
            try:
                with telemetry.as_current(served):
                    return await body
            finally:
                telemetry.end_served(served, call._status.code if call._status else None)
        finally:
            self._in_flight.discard(task)

    # Messages cross as objects: serializers are accepted (generated stubs pass them) and not needed.
    def unary_unary(self, method: str, *_: Any, **__: Any) -> Any:
        return _MultiCallable(self, method, _UnaryCall)

    def unary_stream(self, method: str, *_: Any, **__: Any) -> Any:
        return _MultiCallable(self, method, _StreamCall)

    async def close(self, grace: float | None = None) -> None:
        self._closing = True
        if self._in_flight and grace:
            await asyncio.wait(self._in_flight, timeout=grace)
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
