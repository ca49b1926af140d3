"""The tool runtime driven directly, without a gateway: `call` runs one built-in tool the way a turn would."""

from __future__ import annotations

import json
from typing import Any

from server.tools.catalog import BUILTIN_TOOLS
from server.tools.registry import load_tools
from server.tools.runtime import Outbound, ToolContext, ToolRunner

HANDLERS = load_tools().handlers


def context(allow_private: bool) -> ToolContext:
    return ToolContext("usr_1", "ws_1", "ses_1", "helper", outbound=Outbound(allow_private=allow_private))


def runner(timeout_s: float = 5.0, **handlers: Any) -> ToolRunner:
    return ToolRunner(dict(BUILTIN_TOOLS), {**HANDLERS, **handlers}, timeout_s)


async def call(name: str, arguments: dict[str, Any] | str, allow_private: bool = True, **kw: Any) -> Any:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return await runner(**kw).run(name, raw, context(allow_private))
