"""OpenAI's chat request in a turn's terms, and a turn's events in OpenAI's answer.

The request's messages become the turn's message, history, client tool results and system text; its parameters the
caller's options and client tools (server/chat/opening.py, TurnRequest). The turn's events become
chat.completion.chunk messages, or one chat.completion (Answer).
"""

from __future__ import annotations

import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2

from astra.v1 import chat_pb2, openai_pb2
from server.errors import InvalidArgument
from server.providers.base import CallerOptions, ChatMessage, ToolCallRequest, ToolSchema

SYSTEM_ROLES = frozenset({"system", "developer"})  # developer: OpenAI's newer name for system
ROLES = SYSTEM_ROLES | {"user", "assistant", "tool"}
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_STOP = 4
MAX_USER_CHARS = 256
TOOL_CHOICES = frozenset({"none", "auto", "required"})
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class Conversation:
    """The request's messages as a turn sees them."""

    message: str  # the last user message ("" when a continued session's request carries tool results only)
    history: tuple[ChatMessage, ...]  # what precedes the turn's input
    tool_results: tuple[ChatMessage, ...]  # the turn's input when the conversation ends with tool results
    system: str  # the system (and developer) messages, joined


def _text(value: struct_pb2.Value, where: str) -> str:
    """A message's content: a string, an array of text parts, or null."""
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return ""
    if kind == "string_value":
        return value.string_value
    if kind == "list_value":
        texts = []
        for part in value.list_value.values:
            fields = part.struct_value.fields if part.WhichOneof("kind") == "struct_value" else {}
            kind_of_part = fields["type"].string_value if "type" in fields else ""
            if kind_of_part != "text" or fields["text"].WhichOneof("kind") != "string_value":
                shown = kind_of_part or "a part without a type"
                raise InvalidArgument(f"{where}: only text content parts are supported, not {shown}")
            texts.append(fields["text"].string_value)
        return "".join(texts)
    raise InvalidArgument(f"{where} must be a string or an array of content parts")


def conversation(messages: Any) -> Conversation:
    """The turn's parts of the request's messages; INVALID_ARGUMENT for a conversation no turn can answer."""
    if not messages:
        raise InvalidArgument("messages must not be empty")
    system: list[str] = []
    chat: list[ChatMessage] = []
    called: dict[str, str] = {}  # tool call id -> tool name, to name the results
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if m.role not in ROLES:
            raise InvalidArgument(f"{where}.role: unknown role {m.role!r} (system, developer, user, assistant or tool)")
        text = _text(m.content, f"{where}.content")
        if m.role in SYSTEM_ROLES:
            if text:
                system.append(text)
        elif m.role == "assistant":
            calls = []
            for j, call in enumerate(m.tool_calls):
                if not call.id or not call.function.name:
                    raise InvalidArgument(f"{where}.tool_calls[{j}] needs an id and a function name")
                calls.append(ToolCallRequest(call.id, call.function.name, call.function.arguments or "{}"))
                called[call.id] = call.function.name
            chat.append(ChatMessage("assistant", text, tool_calls=tuple(calls)))
        elif m.role == "tool":
            if not m.tool_call_id:
                raise InvalidArgument(f"{where}.tool_call_id is required for a tool message")
            name = called.get(m.tool_call_id, m.name)
            chat.append(ChatMessage("tool", text, tool_call_id=m.tool_call_id, name=name))
        else:
            chat.append(ChatMessage("user", text))
    end = len(chat)
    while end and chat[end - 1].role == "tool":
        end -= 1
    if end < len(chat):  # the conversation ends with results of the model's client tool calls
        if not end or not chat[end - 1].tool_calls:
            raise InvalidArgument("tool messages must follow the assistant message whose tool_calls they answer")
        users = [m.content for m in chat[:end] if m.role == "user"]
        return Conversation(users[-1] if users else "", tuple(chat[:end]), tuple(chat[end:]), "\n\n".join(system))
    if not chat or chat[-1].role != "user":
        raise InvalidArgument("the last message must be a user message (or the results of tool calls)")
    if not chat[-1].content.strip():
        raise InvalidArgument("the last user message must not be empty")
    return Conversation(chat[-1].content, tuple(chat[:-1]), (), "\n\n".join(system))


def client_tools(request: openai_pb2.CreateChatCompletionRequest) -> tuple[ToolSchema, ...]:
    tools: list[ToolSchema] = []
    for i, tool in enumerate(request.tools):
        if tool.type not in ("", "function"):
            raise InvalidArgument(f"tools[{i}].type must be 'function'")
        name = tool.function.name
        if not TOOL_NAME.fullmatch(name):
            raise InvalidArgument(f"tools[{i}].function.name must be 1-64 letters, digits, underscores or dashes")
        if any(t.name == name for t in tools):
            raise InvalidArgument(f"tools[{i}]: a second tool named {name!r}")
        parameters = (
            json_format.MessageToDict(tool.function.parameters)
            if tool.function.HasField("parameters")
            else EMPTY_PARAMETERS
        )
        tools.append(ToolSchema(name, tool.function.description, parameters))
    return tuple(tools)


def _stop(value: struct_pb2.Value) -> tuple[str, ...]:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return ()
    if kind == "string_value":
        return (value.string_value,) if value.string_value else ()
    if kind == "list_value" and all(v.WhichOneof("kind") == "string_value" for v in value.list_value.values):
        stops = tuple(v.string_value for v in value.list_value.values if v.string_value)
        if len(stops) <= MAX_STOP:
            return stops
    raise InvalidArgument(f"stop must be a string or an array of up to {MAX_STOP} strings")


def _tool_choice(value: struct_pb2.Value) -> str | dict[str, Any] | None:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "string_value" and value.string_value in TOOL_CHOICES:
        return value.string_value
    if kind == "struct_value":
        choice = json_format.MessageToDict(value.struct_value)
        function = choice.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str) and function["name"]:
            return choice
    raise InvalidArgument("tool_choice must be 'none', 'auto', 'required' or {'type': 'function', 'function': {...}}")


def caller_options(request: openai_pb2.CreateChatCompletionRequest) -> CallerOptions:
    temperature = request.temperature if request.HasField("temperature") else None
    if temperature is not None and not (math.isfinite(temperature) and 0 <= temperature <= 2):
        raise InvalidArgument("temperature must be between 0 and 2")
    if request.HasField("max_completion_tokens"):
        max_tokens: int | None = request.max_completion_tokens
    else:
        max_tokens = request.max_tokens if request.HasField("max_tokens") else None
    if max_tokens is not None and max_tokens < 1:
        raise InvalidArgument("max_tokens (max_completion_tokens) must be at least 1")
    if len(request.user) > MAX_USER_CHARS:
        raise InvalidArgument(f"user must be at most {MAX_USER_CHARS} characters")
    return CallerOptions(
        temperature=temperature,
        max_output_tokens=max_tokens,
        stop=_stop(request.stop),
        tool_choice=_tool_choice(request.tool_choice),
        response_format=(
            json_format.MessageToDict(request.response_format) if request.HasField("response_format") else None
        ),
        user=request.user,
    )


# -- the answer ----------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    """Builds the answer of one completion from the turn's events: chunks as they come, or the whole completion."""

    model: str
    include_usage: bool = False
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))
    calls: list[openai_pb2.ChatCompletionMessageToolCall] = field(default_factory=list)
    session_id: str = ""  # the session the turn ran in, once known

    def _chunk(self, **choice: Any) -> openai_pb2.CreateChatCompletionResponse:
        chunk = openai_pb2.ChatCompletionChunk(
            id=self.id,
            object="chat.completion.chunk",
            created=self.created,
            model=self.model,
            choices=[openai_pb2.ChatCompletionChunkChoice(index=0, **choice)],
        )
        return openai_pb2.CreateChatCompletionResponse(chunk=chunk)

    def role(self) -> openai_pb2.CreateChatCompletionResponse:
        """The first chunk: the role, and no content yet."""
        return self._chunk(delta=openai_pb2.ChatCompletionChunkDelta(role="assistant", content=""))

    def text(self, delta: str) -> openai_pb2.CreateChatCompletionResponse:
        return self._chunk(delta=openai_pb2.ChatCompletionChunkDelta(content=delta))

    def tool_call(self, call: chat_pb2.ToolCall) -> openai_pb2.CreateChatCompletionResponse:
        """Keeps a client tool call; its chunk carries it whole."""
        function = openai_pb2.FunctionCall(name=call.name, arguments=call.arguments)
        self.calls.append(openai_pb2.ChatCompletionMessageToolCall(id=call.id, type="function", function=function))
        delta = openai_pb2.ChatCompletionChunkDelta(
            tool_calls=[
                openai_pb2.ChatCompletionChunkToolCall(
                    index=len(self.calls) - 1, id=call.id, type="function", function=function
                )
            ]
        )
        return self._chunk(delta=delta)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.calls else "stop"

    @staticmethod
    def _usage(done: chat_pb2.StreamDone) -> openai_pb2.CompletionUsage:
        u = done.usage
        return openai_pb2.CompletionUsage(
            prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens, total_tokens=u.total_tokens
        )

    def last_chunks(self, done: chat_pb2.StreamDone) -> list[openai_pb2.CreateChatCompletionResponse]:
        """The chunk with the finish reason, and the usage chunk when asked for."""
        last = [self._chunk(delta=openai_pb2.ChatCompletionChunkDelta(), finish_reason=self.finish_reason)]
        if self.include_usage:
            usage = openai_pb2.ChatCompletionChunk(
                id=self.id,
                object="chat.completion.chunk",
                created=self.created,
                model=self.model,
                usage=self._usage(done),
            )
            last.append(openai_pb2.CreateChatCompletionResponse(chunk=usage))
        return last

    def completion(self, done: chat_pb2.StreamDone) -> openai_pb2.CreateChatCompletionResponse:
        message = openai_pb2.ChatCompletionMessage(role="assistant", tool_calls=self.calls)
        if done.content or not self.calls:
            message.content = done.content
        whole = openai_pb2.ChatCompletion(
            id=self.id,
            object="chat.completion",
            created=self.created,
            model=self.model,
            choices=[openai_pb2.ChatCompletionChoice(index=0, message=message, finish_reason=self.finish_reason)],
            usage=self._usage(done),
        )
        return openai_pb2.CreateChatCompletionResponse(completion=whole)
