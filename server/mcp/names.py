"""How MCP servers and their tools are named: a server is `[a-z0-9_-]{1,32}` (no leading or trailing `_`, no `__`,
so the separator stays unambiguous), and its tool `t` is the agent tool `mcp__<server>__<t>`. An agent names one
tool exactly or every tool of a server with `mcp__<server>__*`."""

from __future__ import annotations

import re

PREFIX = "mcp__"
SEPARATOR = "__"
WILDCARD = "*"
SERVER_NAME = re.compile(r"^(?!_)(?!.*__)(?!.*_$)[a-z0-9_-]{1,32}$")
# What the providers accept as a function name (OpenAI: ^[a-zA-Z0-9_-]{1,64}$).
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def valid_server_name(name: str) -> bool:
    return bool(SERVER_NAME.match(name))


def server_name_rule() -> str:
    return "1 to 32 of a-z, 0-9, '-' and '_' (not starting or ending with '_', no '__')"


def is_mcp(name: str) -> bool:
    return name.startswith(PREFIX)


def split(name: str) -> tuple[str, str] | None:
    """(server, tool) of `mcp__<server>__<tool>` (tool may be `*`), or None when the name is not of that form."""
    if not is_mcp(name):
        return None
    server, sep, tool = name[len(PREFIX) :].partition(SEPARATOR)
    if not sep or not tool or not valid_server_name(server):
        return None
    if tool != WILDCARD and not TOOL_NAME.match(name):
        return None
    return server, tool


def agent_tool_name(server: str, tool: str) -> str | None:
    """The agent-facing name of a server's tool: characters providers refuse become `_`; None when too long."""
    name = f"{PREFIX}{server}{SEPARATOR}{_UNSAFE.sub('_', tool)}"
    return name if TOOL_NAME.match(name) else None


def matches(pattern: str, name: str) -> bool:
    """Whether an allow/deny entry (an exact name or `mcp__<server>__*`) covers the tool `name`."""
    if pattern == name:
        return True
    parts = split(pattern)
    return parts is not None and parts[1] == WILDCARD and name.startswith(f"{PREFIX}{parts[0]}{SEPARATOR}")
