"""Session and message rows as the contract's messages (common_pb2.Session, sessions_pb2.Message)."""

from __future__ import annotations

from typing import Any

from astra.v1 import common_pb2, sessions_pb2
from server.timestamps import to_timestamp


def session_message(row: dict[str, Any]) -> common_pb2.Session:
    return common_pb2.Session(
        id=row["id"],
        agent_id=row["agent_id"],
        workspace_id=row["workspace_id"],
        user_id=row["user_id"],
        surface=row["surface"],
        surface_id=row["surface_id"],
        status=row["status"],
        message_count=row["message_count"],
        created_at=to_timestamp(row["created_at"]),
        last_activity_at=to_timestamp(row["last_activity_at"]),
    )


def message_message(row: dict[str, Any]) -> sessions_pb2.Message:
    calls = ((row["tool_calls"] or {}).get("calls")) or []
    message = sessions_pb2.Message(
        id=row["id"],
        session_id=row["session_id"],
        role=row["role"],
        content=row["content"],
        agent_id=row["agent_id"] or "",
        tool_calls=[sessions_pb2.MessageToolCall(id=c["id"], name=c["name"], arguments=c["arguments"]) for c in calls],
        tool_call_id=row["tool_call_id"] or "",
        created_at=to_timestamp(row["created_at"]),
    )
    if row["role"] == "assistant" and (row["prompt_tokens"] or row["completion_tokens"]):
        message.usage.CopyFrom(
            common_pb2.Usage(
                prompt_tokens=row["prompt_tokens"],
                completion_tokens=row["completion_tokens"],
                total_tokens=row["prompt_tokens"] + row["completion_tokens"],
                cost_usd=float(row["cost_usd"]),
            )
        )
    return message
