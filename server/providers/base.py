"""The one streaming interface every LLM provider implements, and the errors it may raise."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)
MAX_EXCERPT_CHARS = 500


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
    # What a caller of the OpenAI-compatible surface asked for, for providers that can honour it (others ignore it).
    stop: tuple[str, ...] = ()
    tool_choice: str | dict[str, Any] | None = None  # OpenAI's form: "auto", "none", "required" or a function
    response_format: dict[str, Any] | None = None  # OpenAI's form, e.g. {"type": "json_object"}
    user: str = ""  # the caller's end user


@dataclass(frozen=True)
class CallerOptions:
    """What the caller of a turn asked of the model, over the agent's own settings (the OpenAI-compatible surface);
    each provider passes on what it can honour."""

    temperature: float | None = None
    max_output_tokens: int | None = None  # caps the agent's own
    stop: tuple[str, ...] = ()
    tool_choice: str | dict[str, Any] | None = None  # for the turn's first model call only
    response_format: dict[str, Any] | None = None
    user: str = ""


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


class StreamParser(Protocol):
    @property
    def over(self) -> bool:
        """The vendor's end marker was read: nothing after it counts."""

    def feed(self, line: str) -> list[StreamEvent]: ...


def feed_all(parser: StreamParser, lines: list[str]) -> tuple[list[StreamEvent], ProviderError | None]:
    """The events of the lines one network read brought, up to the end marker, and the error one of them carried
    (the events before it still count: a turn keeps what was said)."""
    events: list[StreamEvent] = []
    for line in lines:
        try:
            events.extend(parser.feed(line))
        except ProviderError as exc:
            return events, exc
        if parser.over:
            break
    return events, None


def joined(events: list[StreamEvent]) -> list[StreamEvent]:
    """Adjacent text deltas as one. Applied to what one network read brought, so a burst (a fast model, or chunks
    the network delivered together) goes on as one chunk: one message to frame and relay on every transport instead
    of one per token. Nothing waits for more: chunks that arrive apart stay apart."""
    out: list[StreamEvent] = []
    for event in events:
        if isinstance(event, TextDelta) and out and isinstance(out[-1], TextDelta):
            out[-1] = TextDelta(out[-1].text + event.text)
        else:
            out.append(event)
    return out


@dataclass
class ProviderError(Exception):
    """A provider call that failed. `retryable` errors (429, 5xx, network) may be retried before the first token.

    `message` reaches callers (error frames, stored turns, provider health), so it is always the gateway's own
    fixed wording; what the far end said is kept in `excerpt`, which only goes to the log."""

    provider: str
    message: str
    status: int = 0  # the vendor's HTTP status, 0 for network errors and timeouts
    retryable: bool = False
    retry_after: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    excerpt: str = field(default="", repr=False)

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}"


def upstream_error(
    provider: str,
    message: str,
    excerpt: str,
    *,
    status: int = 0,
    retryable: bool = False,
    retry_after: float | None = None,
    details: dict[str, Any] | None = None,
) -> ProviderError:
    """A failure whose details came from the far end. Those details are logged (with the request id) and kept off
    the error's message: whatever answers a provider call, a vendor or a server an agent's baseUrl names, must not
    be able to make the gateway relay its answers to the caller."""
    excerpt = excerpt[:MAX_EXCERPT_CHARS]
    log.warning("provider call failed", extra={"provider": provider, "status": status, "excerpt": excerpt})
    return ProviderError(
        provider=provider,
        message=message,
        status=status,
        retryable=retryable,
        retry_after=retry_after,
        details=details or {},
        excerpt=excerpt,
    )


class Provider(Protocol):
    name: str

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Yields text deltas and complete tool calls as they arrive, then exactly one Finish."""
        ...

    async def close(self) -> None: ...
