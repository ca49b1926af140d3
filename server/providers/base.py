"""The one streaming interface every LLM provider implements, and the errors it may raise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ToolCallRequest:
    """A complete tool call the model asked for (assembled from streamed deltas)."""

    id: str
    name: str
    arguments: str  # JSON text, as the model wrote it


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system, user, assistant or tool
    content: str = ""
    tool_calls: tuple[ToolCallRequest, ...] = ()  # assistant messages that called tools
    tool_call_id: str = ""  # tool messages: which call this answers
    name: str = ""  # tool messages: the tool's name


@dataclass(frozen=True)
class ToolSchema:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class CompletionRequest:
    model: str  # the model id without the provider prefix, e.g. "gpt-4o-mini"
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSchema, ...] = ()
    temperature: float | None = None
    max_output_tokens: int = 1024
    base_url: str = ""  # the agent's own override; "" means the provider's configured default


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallEvent:
    call: ToolCallRequest


@dataclass(frozen=True)
class Finish:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stop_reason: str = ""  # stop, tool_calls, length, ...


StreamEvent = TextDelta | ToolCallEvent | Finish


@dataclass
class ProviderError(Exception):
    """A provider call that failed. `retryable` errors (429, 5xx, network) may be retried before the first token."""

    provider: str
    message: str
    status: int = 0  # the vendor's HTTP status, 0 for network errors and timeouts
    retryable: bool = False
    retry_after: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}"


class Provider(Protocol):
    name: str

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Yields text deltas and complete tool calls as they arrive, then exactly one Finish."""
        ...

    async def close(self) -> None: ...
