"""What a turn writes while it streams, never on the way of its chunks: presence turns to "streaming" a moment after
each round's first token, and the text said so far is kept in the turn's in-flight stamp at most once a second (and
before each tool call), so a crash mid-turn keeps it (server/chat/recovery.py closes the turn with it). An answer
over within the first moment writes neither: its reply takes presence from "thinking" to "idle" and drops the stamp
in one statement. Both wait for the user's message to be stored: that statement writes the presence row and the
stamp they update."""

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

    def __init__(self, db: Database, background: Background, turn: TurnRecord, stored: asyncio.Future[bool]):
        self.db = db
        self.background = background
        self.turn = turn
        self.stored = stored
        self._streaming: asyncio.TimerHandle | None = None
        self._presence_write: asyncio.Future[None] | None = None
        self._checkpoint_due = 0.0  # no checkpoint before the first token
        self._checkpointing = False
        self._kept = ""  # the text the stamp holds

    def first_token(self) -> None:
        self._streaming = asyncio.get_running_loop().call_later(STREAMING_AFTER_S, self._start_presence)
        self._checkpoint_due = time.monotonic() + CHECKPOINT_EVERY_S

    def _start_presence(self) -> None:
        self._presence_write = self._spawn(self._presence)

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

    async def tool(self) -> None:
        """A tool call comes next: presence will say so, and a "streaming" not yet written must not land after it;
        the text said so far is kept, as the tool may take long."""
        if self._streaming is not None:
            self._streaming.cancel()
        if self._presence_write is not None:
            await asyncio.shield(self._presence_write)  # it reports its own failure
        if self.db.lease is not None and not self._checkpointing and self.turn.content != self._kept:
            self._checkpointing = True
            self._spawn(self._checkpoint)

    def _spawn(self, write: Callable[[], Coroutine[Any, Any, None]]) -> asyncio.Future[None] | None:
        if self.turn.saved:  # its reply wrote everything
            return None
        task = asyncio.ensure_future(write())
        self.background.hold(task)
        return task

    async def _written(self) -> bool:
        """Whether the user's message (with the presence row and the stamp) was stored."""
        try:
            return await asyncio.shield(self.stored)
        except Exception:  # reported where it was written
            return False

    async def _presence(self) -> None:
        p, turn = self.turn.principal, self.turn
        if not await self._written():
            return
        try:
            async with self.db.connection() as conn:
                await presence.advance(conn, p.user_id, p.workspace_id, turn.agent.id, turn.turn_id, "streaming")
        except Exception:  # presence is advisory; a failed update must not disturb the turn
            log.warning("presence update failed", exc_info=True)

    async def _checkpoint(self) -> None:
        try:
            if not await self._written():
                return
            text = self.turn.content
            async with self.db.connection() as conn:
                await conn.execute(
                    "UPDATE turns_in_flight SET partial = %s WHERE turn_id = %s", (text, self.turn.turn_id)
                )
            self._kept = text
        except Exception:  # the stamp is a safety net; the turn goes on without this copy
            log.warning("turn checkpoint failed", exc_info=True)
        finally:
            self._checkpointing = False
