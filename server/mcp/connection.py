"""One live MCP session (the official `mcp` SDK's Client) and the task that keeps it: it connects on first use,
lists the server's tools (again whenever the server says they changed), and when the session dies (a stdio child
exits, an HTTP server goes away) it reconnects with backoff, 0.5 s doubling to 30 s, for as long as someone has used it
in the last IDLE_S; then it rests until the next use. An HTTP session unused for IDLE_S is closed.

The SDK's Client lives inside anyio task groups that must be entered and left by one task, and whose failure cancels
that task's body: so one supervising task per connection owns it, and turns call through it from their own tasks
(JSON-RPC requests are multiplexed on the session). A call on a server that is down fails at once with a tool error;
only a connection being made is waited for, at most ASTRA_MCP_CONNECT_TIMEOUT_S."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import IO, Any

import anyio
import jsonschema
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ListenNotSupportedError
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage

from server import telemetry
from server.mcp import guard
from server.mcp.names import agent_tool_name
from server.mcp.results import render
from server.mcp.targets import Target
from server.tools.catalog import ToolSpec
from server.tools.runtime import ToolError

log = logging.getLogger(__name__)

BACKOFF_MIN_S, BACKOFF_MAX_S = 0.5, 30.0
IDLE_S = 300.0
LISTEN_AGAIN_S = 1.0
MAX_TOOLS, MAX_PAGES, MAX_DESCRIPTION = 200, 20, 2000
CLIENT_INFO = types.Implementation(name="astra", version="0.1.0")


@dataclass(frozen=True)
class Limits:
    call_timeout_s: float
    connect_timeout_s: float
    allow_private: bool


@dataclass(frozen=True)
class McpTool:
    spec: ToolSpec
    remote: str  # the tool's name on its server


OPERATOR_ERROR = "unavailable (the reason is in the gateway's log)"


def describe(exc: BaseException) -> str:
    """A short account of why a connection failed (the first leaf of an exception group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


class Connection:
    def __init__(self, target: Target, limits: Limits):
        self.target = target
        self.limits = limits
        self.state = "idle"  # idle (not started or resting), connecting, up, down (waiting to retry)
        self.last_error = ""
        self.tools: dict[str, McpTool] = {}
        self.listed = False  # tools/list has answered at least once
        self.last_used = time.monotonic()
        self.retired = False
        self._was_up = False  # the current attempt got as far as "up"
        self._client: Client | None = None
        self._changed = asyncio.Event()
        self._broken = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._refresh: asyncio.Task[None] | None = None
        self._refresh_again = False
        self._stderr: collections.deque[str] = collections.deque(maxlen=5)
        self._stderr_task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def shown_error(self) -> str:
        """last_error as members and models may see it: an operator's server may fail with internal hosts, paths
        or stderr in its reason, which only the log gets."""
        if self.target.source == "workspace" or not self.last_error:
            return self.last_error
        return OPERATOR_ERROR

    def _set(self, state: str) -> None:
        self.state = state
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def start(self) -> None:
        """Connects in the background unless connected, connecting, or waiting to retry."""
        self.last_used = time.monotonic()
        if self._task is None and not self._stop.is_set():
            self._set("connecting")
            self._task = asyncio.create_task(self._supervise(), name=f"mcp-{self.name}")

    async def settle(self, timeout_s: float) -> None:
        """Starts the connection if needed and waits, at most timeout_s, while it is being made."""
        self.start()
        try:
            async with asyncio.timeout(timeout_s):
                while self.state == "connecting":
                    await self._changed.wait()
        except TimeoutError:
            pass

    async def call(self, remote: str, arguments: dict[str, Any]) -> str:
        """The tool's answer as text for the model; ToolError for anything else (server down, error answer). Traced
        as `mcp.call`; the SDK sends the traceparent on in the request's `_meta` (and guard.py's client in the HTTP
        headers)."""
        attributes = {"astra.mcp.server": self.name, "astra.mcp.tool": remote, "mcp.method.name": "tools/call"}
        with telemetry.span("mcp.call", attributes):
            return await self._call(remote, arguments)

    async def _call(self, remote: str, arguments: dict[str, Any]) -> str:
        client = await self._ready()
        try:
            result = await client.call_tool(remote, arguments)
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                self._broken.set()
                raise ToolError(f"MCP server {self.name} closed the connection") from None
            raise ToolError(f"MCP server {self.name} answered an error: {exc.message}") from None
        except Exception as exc:
            log.warning("mcp call failed", extra={"server": self.name, "tool": remote, "error": describe(exc)})
            reason = describe(exc) if self.target.source == "workspace" else OPERATOR_ERROR
            raise ToolError(f"MCP server {self.name} could not run {remote}: {reason}") from None
        text, is_error = render(result)
        if is_error:
            raise ToolError(text or f"{remote} failed on MCP server {self.name}")
        return text

    async def _ready(self) -> Client:
        if self.state != "up":
            if self.state == "down":
                self.last_used = time.monotonic()
                raise ToolError(f"MCP server {self.name} is unavailable: {self.shown_error or 'reconnecting'}")
            await self.settle(self.limits.connect_timeout_s)
        self.last_used = time.monotonic()
        if self.state != "up" or self._client is None:
            raise ToolError(f"MCP server {self.name} is unavailable: {self.shown_error or 'still connecting'}")
        return self._client

    async def close(self) -> None:
        """Ends the session (a stdio child is asked to exit, then killed) and stops reconnecting."""
        self._stop.set()
        self._broken.set()
        task = self._task
        if task is not None and self.state != "up":
            task.cancel()  # connecting or waiting to retry: nothing to end gracefully
        if task is not None:
            try:
                async with asyncio.timeout(10):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            except BaseException:  # the task's own end (cancelled above, or failed): it is over either way
                if not task.done():
                    raise
        for extra in (self._refresh, self._stderr_task):
            if extra is not None:
                extra.cancel()
                await asyncio.gather(extra, return_exceptions=True)
        self._set("idle")

    # ----------------------------------------------------------------------------------------------- the session

    async def _supervise(self) -> None:
        delay = BACKOFF_MIN_S
        try:
            while not self._stop.is_set():
                if self.state != "connecting":
                    self._set("connecting")
                self._broken = asyncio.Event()
                self._was_up, rested, error = False, False, ""
                try:
                    rested = await self._session()
                except Exception as exc:
                    error = describe(exc)
                    if self._stderr_task is not None:  # a child that died has said why on stderr, maybe
                        await asyncio.wait([self._stderr_task], timeout=0.5)
                    if self._stderr:
                        error = f"{error} (stderr: {self._stderr[-1]})"[:400]
                if self._stop.is_set() or rested:
                    break  # closed, or an HTTP session unused for IDLE_S: made again on the next use
                if self._was_up:
                    delay = BACKOFF_MIN_S  # it worked: the first retry comes soon
                    error = error or "the connection closed"
                    log.warning("mcp server connection lost", extra={"server": self.name, "error": error})
                elif error != self.last_error:
                    log.warning("mcp server unavailable", extra={"server": self.name, "error": error})
                self.last_error = error
                if time.monotonic() - self.last_used > IDLE_S:
                    break  # nobody has used it for a while: connect again on the next use
                self._set("down")
                try:
                    async with asyncio.timeout(delay):
                        await self._stop.wait()
                except TimeoutError:
                    pass
                delay = min(delay * 2, BACKOFF_MAX_S)
        finally:
            self._task = None
            self._client = None
            if not self._stop.is_set():
                self._set("idle")

    async def _session(self) -> bool:
        """Runs one session until it breaks or is stopped (False), or rests (True)."""
        async with AsyncExitStack() as stack:
            async with asyncio.timeout(self.limits.connect_timeout_s):
                transport = await self._transport(stack)
                client = Client(transport, cache=None, message_handler=self._on_message, client_info=CLIENT_INFO)
                client = await stack.enter_async_context(client)
                await self._list(client)
            self._client = client
            self.last_error = ""
            self._was_up = True
            self._set("up")
            log.info("mcp server up", extra={"server": self.name, "tools": len(self.tools)})
            listener = None
            capabilities = client.server_capabilities
            if capabilities.tools is not None and capabilities.tools.list_changed:
                listener = asyncio.create_task(self._listen(client))
            try:
                return await self._serve()
            finally:
                self._client = None
                if listener is not None:
                    listener.cancel()
                    await asyncio.gather(listener, return_exceptions=True)

    async def _serve(self) -> bool:
        """Waits until the session breaks or is stopped (False), or an HTTP session has rested long enough (True)."""
        while True:
            try:
                async with asyncio.timeout(min(IDLE_S / 4, 60.0)):
                    await self._broken.wait()
                return False
            except TimeoutError:
                idle = time.monotonic() - self.last_used > IDLE_S
                if self.retired or (idle and self.target.transport == "streamable_http"):
                    return True

    async def _transport(self, stack: AsyncExitStack) -> Any:
        target = self.target
        if target.command:
            errlog = self._stderr_pipe(stack)
            command, *args = target.command
            params = StdioServerParameters(command=command, args=args, env=dict(target.env))
            inner = stdio_client(params, errlog=errlog)
        else:
            http = guard.http_client(
                dict(target.headers), self.limits.connect_timeout_s, target.guarded, self.limits.allow_private
            )
            stack.push_async_callback(http.aclose)
            inner = streamable_http_client(target.url, http_client=http)
        return self._watched(inner)

    @asynccontextmanager
    async def _watched(self, inner: Any) -> AsyncIterator[tuple[Any, Any]]:
        """The transport, with its incoming stream relayed so that its end (the child exited, the HTTP transport
        gave up) marks the session broken at once, without waiting for a call to find out."""
        async with inner as (read, write):
            send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)

            async def relay() -> None:
                try:
                    async with send:
                        async for item in read:
                            await send.send(item)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
                    pass
                finally:
                    self._broken.set()

            async with anyio.create_task_group() as group:
                group.start_soon(relay)
                try:
                    yield receive, write
                finally:
                    group.cancel_scope.cancel()

    def _stderr_pipe(self, stack: AsyncExitStack) -> IO[str]:
        """A pipe for the child's stderr: its lines go to the debug log, the last few into the error shown when it
        dies. This process's copy of the write end is closed once the child has it."""
        read_fd, write_fd = os.pipe()
        writer = os.fdopen(write_fd, "w")
        stack.callback(writer.close)
        if self._stderr_task is not None:
            self._stderr_task.cancel()
        self._stderr.clear()
        self._stderr_task = asyncio.create_task(self._read_stderr(read_fd))
        return writer

    async def _read_stderr(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        pipe = os.fdopen(fd, "rb")
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        try:
            while line := await reader.readline():
                text = line.decode(errors="replace").strip()
                if text:
                    self._stderr.append(text[:300])
                    log.debug("mcp server stderr", extra={"server": self.name, "line": text[:1000]})
        except (ValueError, OSError):  # a line beyond the reader's limit, or the pipe torn down
            pass
        finally:
            transport.close()

    # --------------------------------------------------------------------------------------------------- tools

    async def _list(self, client: Client) -> None:
        tools: dict[str, McpTool] = {}
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = await client.list_tools(cursor=cursor)
            for tool in page.tools:
                found = self._tool(tool)
                if found is not None and len(tools) < MAX_TOOLS:
                    tools.setdefault(found.spec.name, found)
            cursor = page.next_cursor
            if not cursor:
                break
        self.tools, self.listed = tools, True

    def _tool(self, tool: types.Tool) -> McpTool | None:
        name = agent_tool_name(self.name, tool.name)
        schema = tool.input_schema or {"type": "object"}
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError:
            name = None
        if name is None:
            log.warning("mcp tool skipped", extra={"server": self.name, "tool": tool.name[:100]})
            return None
        description = (tool.description or tool.title or tool.name)[:MAX_DESCRIPTION]
        return McpTool(ToolSpec(name, description, schema, timeout_s=self.limits.call_timeout_s), tool.name)

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._refresh_soon()
        elif isinstance(message, Exception):
            log.debug("mcp transport error", extra={"server": self.name, "error": describe(message)})

    async def _listen(self, client: Client) -> None:
        """2026-era servers send list changes on a subscriptions/listen stream, only to clients that open one; a
        stream that ends (a proxy's timeout, a server's restart of it) is opened again, and the list read again in
        case a change was missed meanwhile. Earlier servers send them on the session (see _on_message)."""
        while True:
            try:
                async with client.listen(tools_list_changed=True) as subscription:
                    async for _ in subscription:
                        self._refresh_soon()
            except (ListenNotSupportedError, MCPError, TimeoutError) as exc:  # not offered after all, or refused
                log.debug("mcp listen refused", extra={"server": self.name, "error": describe(exc)})
                return
            except Exception as exc:
                log.debug("mcp listen ended", extra={"server": self.name, "error": describe(exc)})
            await asyncio.sleep(LISTEN_AGAIN_S)
            self._refresh_soon()

    def _refresh_soon(self) -> None:
        """Lists the tools again (changes arriving meanwhile make it list once more, not once each)."""
        if self._refresh is not None and not self._refresh.done():
            self._refresh_again = True
            return

        async def refresh() -> None:
            while True:
                self._refresh_again = False
                client = self._client
                if client is None:
                    return
                try:
                    async with asyncio.timeout(self.limits.connect_timeout_s):
                        await self._list(client)
                    log.info("mcp tools changed", extra={"server": self.name, "tools": len(self.tools)})
                except Exception as exc:
                    log.warning("mcp tools/list failed", extra={"server": self.name, "error": describe(exc)})
                if not self._refresh_again:
                    return

        self._refresh = asyncio.create_task(refresh())
