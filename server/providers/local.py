"""The built-in offline provider, `local/echo`: deterministic, free, streams word by word.

It answers "Echo: <your message>". A message of the form `/tool <name> <json arguments>` (e.g.
`/tool calculator {"expression": "6*7"}`) makes it call that tool when it is offered (the agent's own, or a client
tool of a caller of the OpenAI-compatible surface), and after the tool answers it replies "<name> returned:
<result>", so the tool loop, server-side or client-side, works without any vendor key.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

from server.providers.base import (
    ChatMessage,
    CompletionRequest,
    Finish,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCallEvent,
    ToolCallRequest,
)

_TOOL_COMMAND = re.compile(r"^/tool\s+([A-Za-z0-9_\-]+)\s*(.*)$", re.DOTALL)


def _words(text: str) -> int:
    return len(text.split())


class LocalProvider:
    name = "local"

    def _reply(self, request: CompletionRequest) -> tuple[str, ToolCallRequest | None]:
        last = request.messages[-1] if request.messages else ChatMessage(role="user")
        if last.role == "tool":
            return f"{last.name} returned: {last.content}", None
        command = _TOOL_COMMAND.match(last.content.strip())
        if command and any(t.name == command.group(1) for t in request.tools):
            arguments = command.group(2).strip() or "{}"
            call_number = sum(len(m.tool_calls) for m in request.messages) + 1
            return "", ToolCallRequest(f"call_{call_number}", command.group(1), arguments)
        return f"Echo: {last.content}", None

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        if request.model != "echo":
            raise ProviderError(self.name, f"unknown local model {request.model!r} (available: echo)", status=404)
        text, call = self._reply(request)
        prompt_tokens = sum(_words(m.content) + len(m.tool_calls) for m in request.messages)
        if call is not None:
            yield ToolCallEvent(call)
            yield Finish(prompt_tokens, len(json.loads(call.arguments or "{}")) + 1, "tool_calls")
            return
        words = text.split(" ")
        for i, word in enumerate(words):
            yield TextDelta(word if i == len(words) - 1 else word + " ")
        yield Finish(prompt_tokens, _words(text), "stop")

    async def close(self) -> None:
        pass
