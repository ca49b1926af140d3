"""Background embedding of memory items: claim rows without an embedding (FOR UPDATE SKIP LOCKED, so replicas
share the work), embed them in one batch off the event loop, store the vectors. Writers never wait for this;
until a row is embedded, full-text search still finds it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from server.memory import store
from server.memory.search import embedder_for
from server.metrics import MEMORY_EMBEDDED

if TYPE_CHECKING:
    from server.deps import Deps

log = logging.getLogger(__name__)

BATCH = 32


async def index_once(deps: Deps, batch: int = BATCH) -> int:
    """Embeds up to `batch` pending items; returns how many were claimed."""
    embedder = embedder_for(deps.settings)
    async with deps.db.transaction() as conn:
        rows = await store.claim_pending(conn, batch)
        if not rows:
            return 0
        try:
            texts = [r["content"] for r in rows]
            background = getattr(embedder, "embed_background", None)
            vectors = await (background(texts) if background else embedder.embed(texts))
        except Exception:
            # A failing provider must not spin on the same rows forever: count the attempt and move on.
            log.warning("embedding failed", exc_info=True, extra={"items": len(rows)})
            await store.count_failed_attempt(conn, [r["id"] for r in rows])
            return len(rows)
        await store.set_embeddings(conn, [(r["id"], v) for r, v in zip(rows, vectors, strict=True)])
    MEMORY_EMBEDDED.inc(len(rows))
    return len(rows)
