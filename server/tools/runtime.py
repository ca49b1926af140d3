"""Running a tool call: arguments checked against the tool's JSON schema, a cached result reused when the tool
allows it, otherwise the handler under a timeout, and every failure turned into an error result the model can
read (a tool never fails the turn)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import jsonschema

from server.tools.cache import ToolCache, cache_key
from server.tools.catalog import ToolSpec

if TYPE_CHECKING:
    from server.memory.access import MemoryAccess
    from server.sessions.history import MessageSearch

log = logging.getLogger(__name__)


class ToolError(Exception):
    """The tool could not do what was asked (a remote tool answered an error, its server is down); the message goes
    back to the model as the call's error."""


class ToolInputError(ToolError):
    """The call's arguments make no sense to the tool; the message goes back to the model."""


@dataclass(frozen=True)
class Outbound:
    """What the web tools may reach: private and loopback addresses only when the operator allows them."""

    allow_private: bool = False


@dataclass(frozen=True)
class Capabilities:
    """What handlers may use beyond their arguments, and nothing more: the caller's memory, full-text search over
    their messages, the outbound rules. Missing ones (None) make the tools that need them answer an error."""

    memory: MemoryAccess | None = None
    messages: MessageSearch | None = None
    outbound: Outbound | None = None


@dataclass(frozen=True)
class ToolContext:
    user_id: str
    workspace_id: str
    session_id: str
    agent_id: str
    timezone: str = ""
    # The names the model was offered in this turn; a tool of the runner's source (an MCP server's) runs only when
    # it is one of them. None: no such check (built-in tools run by name, as they always have).
    offered: frozenset[str] | None = field(default=None, compare=False, repr=False)
    # The runner fills in those left None from its Capabilities.
    memory: MemoryAccess | None = field(default=None, compare=False, repr=False)
    messages: MessageSearch | None = field(default=None, compare=False, repr=False)
    outbound: Outbound | None = field(default=None, compare=False, repr=False)


Handler = Callable[[dict[str, Any], ToolContext], Awaitable[str]]


class ToolSource(Protocol):
    """Tools known only at run time and per workspace (the tools of MCP servers, server/mcp/): names it claims are
    never the catalog's."""

    def claims(self, name: str) -> bool: ...

    async def specs(self, workspace_id: str, wanted: Sequence[str], deny: Sequence[str]) -> list[ToolSpec]:
        """The tools that `wanted` (names or patterns the source claims) ask for in this workspace, minus `deny`."""
        ...

    async def find(self, workspace_id: str, name: str) -> tuple[ToolSpec, Handler] | None: ...


@dataclass(frozen=True)
class ToolOutcome:
    result: str
    error: str
    duration_ms: float
    # Served from the result cache (the handler did not run, so the call cost nothing).
    cached: bool = False
    cost_usd: Decimal = Decimal(0)


MAX_RESULT_CHARS = 16_000


@dataclass(frozen=True)
class _Result:
    text: str
    cached: bool = False
    cost_usd: Decimal = Decimal(0)


class ToolRunner:
    def __init__(
        self,
        specs: dict[str, ToolSpec],
        handlers: dict[str, Handler],
        timeout_s: float = 15.0,
        *,
        cache: ToolCache | None = None,
        capabilities: Capabilities = Capabilities(),
        source: ToolSource | None = None,
    ):
        self.specs = specs
        self.handlers = handlers
        self.timeout_s = timeout_s
        # The shared result cache (server/tools/cache.py); without one every call runs its handler.
        self.cache = cache
        self.capabilities = capabilities
        self.source = source

    async def source_specs(self, workspace_id: str, names: Sequence[str], deny: Sequence[str]) -> list[ToolSpec]:
        """The source's tools among `names` (exact names or patterns) for this workspace, minus `deny`; nothing is
        awaited when no name is the source's, so agents without such tools pay nothing."""
        claimed = [n for n in names if self.source is not None and self.source.claims(n)]
        if not claimed or self.source is None:
            return []
        try:
            return await self.source.specs(workspace_id, claimed, deny)
        except Exception:  # a source in trouble offers nothing; the turn goes on with the other tools
            log.exception("tool source failed", extra={"workspace_id": workspace_id})
            return []

    async def run(self, name: str, arguments: str, context: ToolContext) -> ToolOutcome:
        started = time.perf_counter()
        outcome, error = _Result(""), ""
        try:
            outcome = await self._run(name, arguments, context)
        except ToolError as exc:
            error = str(exc)
        except TimeoutError:
            error = f"tool {name} timed out after {self.timeout_s:g}s"
        except Exception:
            log.exception("tool failed", extra={"tool": name})
            error = f"tool {name} failed"
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        return ToolOutcome(outcome.text[:MAX_RESULT_CHARS], error, duration_ms, outcome.cached, outcome.cost_usd)

    async def _run(self, name: str, arguments: str, context: ToolContext) -> _Result:
        spec, handler = self.specs.get(name), self.handlers.get(name)
        if spec is None and self.source is not None and self.source.claims(name):
            if context.offered is not None and name not in context.offered:
                raise ToolInputError(f"tool {name} is not one this agent has")
            found = await self.source.find(context.workspace_id, name)
            if found is not None:
                spec, handler = found
        if spec is None:
            raise ToolInputError(f"unknown tool {name!r}")
        if handler is None:
            raise ToolInputError(f"tool {name} is not available in this deployment")
        try:
            parsed = json.loads(arguments or "{}")
        except ValueError:
            raise ToolInputError("arguments are not valid JSON") from None
        try:
            jsonschema.validate(parsed, spec.parameters)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "arguments"
            raise ToolInputError(f"invalid arguments ({where}): {exc.message}") from None
        context = self._equip(context)
        cache = self.cache if spec.cache_ttl_s > 0 else None
        key = cache_key(spec, parsed, context.user_id, context.workspace_id) if cache else ""
        if cache is not None:
            hit = await self._cache_call(cache.get(name, key), name)
            if hit is not None:
                return _Result(hit, cached=True)  # the handler did not run: nothing to pay
        limit = spec.timeout_s or self.timeout_s
        try:
            async with asyncio.timeout(limit):
                text = await handler(parsed, context)
        except TimeoutError:
            raise ToolError(f"tool {name} timed out after {limit:g}s") from None
        if cache is not None:
            await self._cache_call(cache.put(name, key, text[:MAX_RESULT_CHARS], spec.cache_ttl_s), name)
        return _Result(text, cost_usd=spec.cost_usd_per_call)

    def _equip(self, context: ToolContext) -> ToolContext:
        given = self.capabilities
        return replace(
            context,
            memory=context.memory or given.memory,
            messages=context.messages or given.messages,
            outbound=context.outbound or given.outbound,
        )

    @staticmethod
    async def _cache_call(call: Awaitable[Any], tool: str) -> Any:
        """The cache is an optimisation: when it cannot be reached the tool simply runs uncached."""
        try:
            return await call
        except Exception:
            log.warning("tool cache unavailable", extra={"tool": tool}, exc_info=True)
            return None
