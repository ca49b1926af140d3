"""Running a tool call: arguments checked against the tool's JSON schema, a handler with a timeout, and every
failure turned into an error result the model can read (a tool never fails the turn)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jsonschema

from server.tools.catalog import ToolSpec

log = logging.getLogger(__name__)


class ToolInputError(Exception):
    """The call's arguments make no sense to the tool; the message goes back to the model."""


@dataclass(frozen=True)
class ToolContext:
    user_id: str
    workspace_id: str
    session_id: str
    agent_id: str
    timezone: str = ""


Handler = Callable[[dict[str, Any], ToolContext], Awaitable[str]]


@dataclass(frozen=True)
class ToolOutcome:
    result: str
    error: str
    duration_ms: float


MAX_RESULT_CHARS = 16_000


class ToolRunner:
    def __init__(self, specs: dict[str, ToolSpec], handlers: dict[str, Handler], timeout_s: float = 15.0):
        self.specs = specs
        self.handlers = handlers
        self.timeout_s = timeout_s

    async def run(self, name: str, arguments: str, context: ToolContext) -> ToolOutcome:
        started = time.perf_counter()
        result, error = "", ""
        try:
            result = await self._run(name, arguments, context)
        except ToolInputError as exc:
            error = str(exc)
        except TimeoutError:
            error = f"tool {name} timed out after {self.timeout_s:g}s"
        except Exception:
            log.exception("tool failed", extra={"tool": name})
            error = f"tool {name} failed"
        return ToolOutcome(result[:MAX_RESULT_CHARS], error, round((time.perf_counter() - started) * 1000, 3))

    async def _run(self, name: str, arguments: str, context: ToolContext) -> str:
        spec = self.specs.get(name)
        if spec is None:
            raise ToolInputError(f"unknown tool {name!r}")
        handler = self.handlers.get(name)
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
        async with asyncio.timeout(self.timeout_s):
            return await handler(parsed, context)
