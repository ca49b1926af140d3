"""Where tool handlers register, and where they are found: every module of server.tools.handlers, plus
third-party packages that expose the `astra.tools` entry-point group."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable
from importlib.metadata import entry_points

from server.tools.catalog import ToolSpec
from server.tools.runtime import Handler

log = logging.getLogger(__name__)

HANDLERS: dict[str, Handler] = {}
# Tools that third-party packages add to the catalog (built-in specs live in server.tools.catalog).
EXTRA_SPECS: dict[str, ToolSpec] = {}


def handler(name: str, spec: ToolSpec | None = None) -> Callable[[Handler], Handler]:
    """Registers the decorated coroutine as the handler of tool `name` (and its spec, for a new tool)."""

    def register(fn: Handler) -> Handler:
        if name in HANDLERS and HANDLERS[name] is not fn:
            raise ValueError(f"tool {name!r} has two handlers")
        HANDLERS[name] = fn
        if spec is not None:
            EXTRA_SPECS[name] = spec
        return fn

    return register


def load_handlers() -> dict[str, Handler]:
    """Imports every built-in handler module and every `astra.tools` entry point (which register on import)."""
    import server.tools.handlers as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    for entry in entry_points(group="astra.tools"):
        entry.load()
        log.info("tool plugin loaded", extra={"entry_point": entry.name})
    return HANDLERS
