"""What a turn has produced so far, round by round. It is stored when the turn ends, whether it completed, failed
or was cancelled (server/chat/saving.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from astra.v1 import common_pb2
from server.context import Principal
from server.providers.base import ChatMessage, ToolCallRequest
from server.tools.runtime import ToolOutcome


class ToolRecord(NamedTuple):
    call: ToolCallRequest
    result: str
    error: str
    duration_ms: float
    cost_usd: Decimal


def outcome_record(call: ToolCallRequest, outcome: ToolOutcome) -> ToolRecord:
    return ToolRecord(call, outcome.result, outcome.error, outcome.duration_ms, outcome.cost_usd)


@dataclass
class Round:
    text: str = ""
    calls: list[ToolCallRequest] = field(default_factory=list)
    results: list[ToolRecord] = field(default_factory=list)


@dataclass
class TurnRecord:
    """What a turn has produced so far: persisted at the end, or when it fails or is cancelled."""

    principal: Principal
    agent: common_pb2.Agent
    session_id: str
    turn_id: str
    started: float = field(default_factory=time.perf_counter)
    external_s: float = 0.0  # time waiting on the provider and running tools
    rounds: list[Round] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str = ""
    saved: bool = False
    user_message: str = ""
    # Results of client tool calls the turn answered in place of a user message: stored with the reply.
    answered: tuple[ChatMessage, ...] = ()

    @property
    def content(self) -> str:
        return "".join(r.text for r in self.rounds)

    @property
    def tools_used(self) -> list[str]:
        return [call.name for r in self.rounds for call in r.calls]

    def overhead_ms(self) -> float:
        return round(max(0.0, time.perf_counter() - self.started - self.external_s) * 1000, 3)
