"""Worker: keeps memory embeddings up to date (see server.memory.indexer). With the local model, embedding is
CPU-bound on the gateway's own cores, so while chat turns run in this process it paces itself to
`memory_index_share` of its time (server.foreground); new messages are found by their words meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from server.db.outage import Outage
from server.foreground import Pacer
from server.memory.embeddings import LocalEmbedder
from server.memory.indexer import index_once
from server.memory.search import embedder_for
from server.metrics import MEMORY_INDEX_YIELDED

if TYPE_CHECKING:
    from server.deps import Deps

log = logging.getLogger(__name__)


async def run(deps: Deps, stop: asyncio.Event) -> None:
    embedder = embedder_for(deps.settings)
    local = isinstance(embedder, LocalEmbedder)
    pacer = Pacer(deps.foreground, deps.settings.memory_index_share if local else 1.0)
    if local:
        # Loaded once per process, before the first turn, search or batch needs it.
        try:
            await embedder.warm(background=True)
        except Exception:
            log.warning("could not load the local embedding model", exc_info=True)
    outage = Outage("memory_indexer", deps.health)
    while not stop.is_set():
        started = time.monotonic()
        try:
            claimed = await index_once(deps)
        except Exception as exc:
            if await outage.wait_out(exc, stop):
                continue
            log.warning("memory indexing failed", exc_info=True)
            claimed = 0
        else:
            outage.over()
        if claimed:
            # More may be waiting: go on at once, unless live turns need the cores.
            MEMORY_INDEX_YIELDED.inc(await pacer.give_way(time.monotonic() - started, stop))
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=deps.settings.memory_index_interval_s)
