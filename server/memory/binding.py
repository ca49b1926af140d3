"""The process's dependencies for code that is not handed them (tool handlers receive only a ToolContext).
Bound by MemoryService and the memory indexer when they start."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.deps import Deps

_deps: Deps | None = None


def bind(deps: Deps) -> None:
    global _deps
    _deps = deps


def bound() -> Deps:
    if _deps is None:
        raise RuntimeError("memory is not bound to the process's dependencies yet")
    return _deps
