"""The tools a deployment has: the built-in ones (server/tools/builtin.py, server/tools/catalog.py) and those of
third-party packages that expose the `astra.tools` entry-point group.

An entry point names a module (or one function); the handlers that module defines or imports carry
`@handler(name, spec)`. The decorator only marks them, and `load_tools` collects what is marked. Nothing is
registered in module state: what start-up loads is handed to the ToolRunner and the skill catalog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from server.tools.builtin import BUILTIN_HANDLERS
from server.tools.catalog import BUILTIN_TOOLS, ToolSpec
from server.tools.runtime import Handler

log = logging.getLogger(__name__)

_MARK = "__astra_tool__"


def handler(name: str, spec: ToolSpec | None = None) -> Callable[[Handler], Handler]:
    """Marks the decorated coroutine as the handler of tool `name` (with its spec, for a tool the catalog does not
    define)."""

    def mark(fn: Handler) -> Handler:
        setattr(fn, _MARK, (name, spec))
        return fn

    return mark


@dataclass(frozen=True)
class Tools:
    """Every tool's definition (built-in and plugins') and the handlers that run them, by name."""

    specs: dict[str, ToolSpec]
    handlers: dict[str, Handler]


def _marked(found: Any) -> Iterator[tuple[str, ToolSpec | None, Handler]]:
    """The marked handlers of what an entry point loaded: a module's, in the order it defines them, or a function."""
    candidates = vars(found).values() if isinstance(found, ModuleType) else [found]
    for candidate in candidates:
        mark = getattr(candidate, _MARK, None)
        if mark is not None:
            yield mark[0], mark[1], candidate


def load_tools() -> Tools:
    """The built-in tools and every `astra.tools` plugin's; a name with two handlers stops start-up."""
    specs, handlers = dict(BUILTIN_TOOLS), dict(BUILTIN_HANDLERS)
    for entry in entry_points(group="astra.tools"):
        for name, spec, fn in _marked(entry.load()):
            if name in handlers and handlers[name] is not fn:
                raise ValueError(f"tool {name!r} has two handlers")
            handlers[name] = fn
            if spec is not None:
                specs[name] = spec
        log.info("tool plugin loaded", extra={"entry_point": entry.name})
    return Tools(specs, handlers)
