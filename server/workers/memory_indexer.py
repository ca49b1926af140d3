"""Worker: keeps memory embeddings up to date (see server.memory.indexer)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from server.memory import binding
from server.memory.embeddings import LocalEmbedder
from server.memory.indexer import index_once
from server.memory.search import embedder_for

if TYPE_CHECKING:
    from server.deps import Deps

log = logging.getLogger(__name__)


async def run(deps: Deps, stop: asyncio.Event) -> None:
    binding.bind(deps)
    embedder = embedder_for(deps.settings)
    if isinstance(embedder, LocalEmbedder):
        # Loaded once per process, before the first turn or search needs it.
        try:
            await embedder.warm()
        except Exception:
            log.warning("could not load the local embedding model", exc_info=True)
    while not stop.is_set():
        try:
            claimed = await index_once(deps)
        except Exception:
            log.warning("memory indexing failed", exc_info=True)
            claimed = 0
        if claimed:
            continue  # more may be waiting: keep going while there is work
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=deps.settings.memory_index_interval_s)
