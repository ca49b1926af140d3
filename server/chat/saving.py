"""What a turn writes. First the user's message, with the turn's in-flight stamp (server/chat/recovery.py), committed
before any of the reply reaches the client. Then, when the turn ends (completed, failed or cancelled), the reply:
assistant and tool messages, usage and tool-call records, the session's activity, presence back to idle, the stamp
deleted and the agent.completed or agent.failed event, in one statement (server/chat/writes.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from astra.v1 import common_pb2
from server.chat import writes
from server.chat.pricing import Prices
from server.chat.record import TurnRecord
from server.context import Principal
from server.db.database import Database
from server.restrictions import split_model
from server.sessions import store as sessions


class Saving:
    def __init__(self, db: Database, prices: Prices):
        self.db = db
        self.prices = prices

    def begin(self, turn_id: str) -> None:
        """The turn runs in this process from now on: until `settled`, its stamp is not an orphan."""
        if self.db.lease is not None:
            self.db.lease.live_turns.add(turn_id)

    def settled(self, turn_id: str) -> None:
        """The turn is over in this process (its stamp, if still there, is an orphan for recovery to close)."""
        if self.db.lease is not None:
            self.db.lease.live_turns.discard(turn_id)

    async def user_message(
        self, principal: Principal, session_id: str, agent_id: str, text: str, turn_id: str, store: bool = True
    ) -> bool:
        """Stores the user's message (with `store` false, only the session's activity and the agent's presence: a
        turn that answers client tool calls has no new message); False when the session was archived meanwhile."""
        lease = self.db.lease
        async with self.db.connection() as conn:
            # With a lease, the in-flight stamp rides the same statement: if the process dies before the reply is
            # stored, another one closes the turn as interrupted.
            return await writes.user_message(
                conn,
                session_id=session_id,
                user_id=principal.user_id,
                workspace_id=principal.workspace_id,
                agent_id=agent_id,
                content=text,
                turn_id=turn_id,
                instance_id=lease.instance_id if lease is not None else None,
                store=store,
            )

    def cost(self, turn: TurnRecord) -> Decimal:
        return self.prices.cost_usd(turn.agent.model, turn.prompt_tokens, turn.completion_tokens)

    def usage(self, turn: TurnRecord) -> common_pb2.Usage:
        return common_pb2.Usage(
            prompt_tokens=turn.prompt_tokens,
            completion_tokens=turn.completion_tokens,
            total_tokens=turn.prompt_tokens + turn.completion_tokens,
            cost_usd=float(self.cost(turn)),
        )

    async def reply(self, turn: TurnRecord) -> str:
        """Assistant and tool messages, usage and tool-call records, in one statement (server/chat/writes.py);
        returns the id of the final assistant message."""
        p, agent = turn.principal, turn.agent
        provider, _ = split_model(agent.model)
        cost = self.cost(turn)
        turn.saved = True
        # The client's results of its tools come first: they answer the calls of the turn before.
        rows: list[dict[str, Any]] = [
            sessions.message_row(
                turn.session_id, "tool", m.content, agent.id, tool_call_id=m.tool_call_id, tool_name=m.name or None
            )
            for m in turn.answered
        ]
        tool_rows: list[dict[str, Any]] = []
        for i, current in enumerate(turn.rounds):
            last = i == len(turn.rounds) - 1
            if not (current.text or current.calls or last):
                continue
            calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in current.calls]
            rows.append(
                sessions.message_row(
                    turn.session_id,
                    "assistant",
                    current.text,
                    agent.id,
                    tool_calls={"calls": calls} if calls else None,
                    prompt_tokens=turn.prompt_tokens if last else 0,
                    completion_tokens=turn.completion_tokens if last else 0,
                    cost_usd=cost if last else Decimal(0),
                    error=(turn.error or None) if last else None,
                )
            )
            for call, result, error, duration_ms, tool_cost in current.results:
                content = result if not error else json.dumps({"error": error})
                rows.append(
                    sessions.message_row(
                        turn.session_id, "tool", content, agent.id, tool_call_id=call.id, tool_name=call.name
                    )
                )
                tool_rows.append(
                    {
                        "workspace_id": p.workspace_id,
                        "session_id": turn.session_id,
                        "agent_id": agent.id,
                        "tool": call.name,
                        "status": "error" if error else "ok",
                        "duration_ms": duration_ms,
                        "cost_usd": tool_cost,
                    }
                )
        message_id = next(r["id"] for r in reversed(rows) if r["role"] == "assistant")
        async with self.db.connection() as conn:
            await writes.reply(
                conn,
                turn_id=turn.turn_id,
                session_id=turn.session_id,
                user_id=p.user_id,
                workspace_id=p.workspace_id,
                agent_id=agent.id,
                messages=rows,
                tool_calls=tool_rows,
                usage={
                    "provider": provider,
                    "model": agent.model,
                    "prompt_tokens": turn.prompt_tokens,
                    "completion_tokens": turn.completion_tokens,
                    "cost_usd": cost,
                    "api_key_id": p.api_key_id,  # a personal API key's spend counts against its budget
                },
                event_type="agent.failed" if turn.error else "agent.completed",
                event={
                    "agentId": agent.id,
                    "sessionId": turn.session_id,
                    "userId": p.user_id,
                    "messageId": message_id,
                    "content": turn.content,
                    "toolsUsed": turn.tools_used,
                    "usage": {
                        "promptTokens": turn.prompt_tokens,
                        "completionTokens": turn.completion_tokens,
                        "costUsd": float(cost),
                    },
                    **({"error": turn.error} if turn.error else {}),
                },
            )
        return message_id
