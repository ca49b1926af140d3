"""The agent's memory around a turn: the query embedding started as soon as the agent is known, memories recalled
into the context before the first round, and (memory.autoExtract) what is worth keeping extracted after a
completed turn, in the background. A memory failure costs the turn its memories, never the turn."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from astra.v1 import common_pb2
from server.chat.background import Background
from server.chat.record import TurnRecord
from server.context import Principal
from server.memory import recall as memory_recall
from server.memory.extract import extract as memory_extract
from server.memory.search import embedder_for
from server.telemetry import phase

if TYPE_CHECKING:
    from server.deps import Deps

log = logging.getLogger(__name__)


class Memories:
    def __init__(self, deps: Deps, background: Background):
        self.deps = deps
        self.background = background

    def embed(self, agent: common_pb2.Agent, message: str) -> asyncio.Future[Any] | None:
        """The query embedding, started on its own thread (None when the agent recalls nothing)."""
        if not memory_recall.wanted(agent.memory) or not message.strip():
            return None
        return asyncio.ensure_future(embedder_for(self.deps.settings).embed([message]))

    async def recall(
        self, principal: Principal, agent: common_pb2.Agent, message: str, embedding: Any, session_id: str
    ) -> str:
        """The memory section of the context."""
        if embedding is None:
            return ""
        try:
            with phase("recall"):  # the embedding's wait and the search
                vector = (await embedding)[0]
                found = await memory_recall.recall(
                    self.deps, principal.user_id, principal.workspace_id, agent.memory, message, vector, session_id
                )
            return found.render()
        except Exception:
            log.warning("memory recall failed", exc_info=True)
            return ""

    def extract_later(self, turn: TurnRecord) -> None:
        """memory.autoExtract after a completed turn, in the background: the reply is not held back by it."""

        async def run() -> None:
            p = turn.principal
            try:
                await memory_extract(
                    self.deps, turn.agent, p.user_id, p.workspace_id, turn.session_id, turn.user_message, turn.content
                )
            except Exception:
                log.warning("memory extraction failed", exc_info=True)

        self.background.hold(asyncio.create_task(run()))
