"""What a turn writes while it streams, never on the way of its chunks: presence turns to "streaming" a moment after
the first token, and the text said so far is kept in the turn's in-flight stamp at most once a second, so a crash
mid-turn keeps it (server/chat/recovery.py closes the turn with it). An answer over within the first moment writes
neither: its reply takes presence from "thinking" to "idle" and drops the stamp in one statement."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from server.chat import presence
from server.chat.background import Background
from server.chat.record import TurnRecord
from server.db.database import Database

log = logging.getLogger(__name__)

# How long after the first token presence says "streaming".
STREAMING_AFTER_S = 0.05
# How often, at most, the text said so far is written to the turn's stamp.
CHECKPOINT_EVERY_S = 1.0


class Progress:
    """One turn's writes while it streams; `first_token`, `text` and `tool` are cheap calls on the chunk path, the
    writes run as background tasks."""

    def __init__(self, db: Database, background: Background, turn: TurnRecord):
        self.db = db
        self.background = background
        self.turn = turn
        self._streaming: asyncio.TimerHandle | None = None
        self._checkpoint_due = 0.0  # no checkpoint before the first token
        self._checkpointing = False

    def first_token(self) -> None:
        self._streaming = asyncio.get_running_loop().call_later(STREAMING_AFTER_S, self._spawn, self._presence)
        self._checkpoint_due = time.monotonic() + CHECKPOINT_EVERY_S

    def text(self) -> None:
        """The turn's text grew: kept when a checkpoint is due and none is being written."""
        if self.db.lease is None or self._checkpointing or not self._checkpoint_due:
            return
        now = time.monotonic()
        if now < self._checkpoint_due:
            return
        self._checkpoint_due = now + CHECKPOINT_EVERY_S
        self._checkpointing = True
        self._spawn(self._checkpoint)

    def tool(self) -> None:
        """A tool call comes next: presence says so, and a late "streaming" must not overwrite it."""
        if self._streaming is not None:
            self._streaming.cancel()

    def _spawn(self, write: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if not self.turn.saved:  # once it is, its reply wrote everything
            self.background.hold(asyncio.ensure_future(write()))

    async def _presence(self) -> None:
        p, turn = self.turn.principal, self.turn
        try:
            async with self.db.connection() as conn:
                await presence.advance(conn, p.user_id, p.workspace_id, turn.agent.id, turn.turn_id, "streaming")
        except Exception:  # presence is advisory; a failed update must not disturb the turn
            log.warning("presence update failed", exc_info=True)

    async def _checkpoint(self) -> None:
        try:
            async with self.db.connection() as conn:
                await conn.execute(
                    "UPDATE turns_in_flight SET partial = %s WHERE turn_id = %s",
                    (self.turn.content, self.turn.turn_id),
                )
        except Exception:  # the stamp is a safety net; the turn goes on without this copy
            log.warning("turn checkpoint failed", exc_info=True)
        finally:
            self._checkpointing = False
