"""The built-in tools' handlers, by name; their definitions are in server/tools/catalog.py. A new built-in tool is a
spec there and a handler here."""

from __future__ import annotations

from server.tools.handlers import basic, memory, sessions, web
from server.tools.runtime import Handler

BUILTIN_HANDLERS: dict[str, Handler] = {
    "memory_search": memory.memory_search,
    "memory_write": memory.memory_write,
    "http_fetch": web.http_fetch,
    "rss_read": web.rss_read,
    "current_time": basic.current_time,
    "calculator": basic.calculator,
    "session_search": sessions.session_search,
}
