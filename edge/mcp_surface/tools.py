"""The tools Astra offers MCP clients, each a call of the contract's RPCs as the caller (no second implementation):

- `list_agents`     AgentsService.ListAgents (every page)
- `chat`            ChatService.ChatStream (a progress notification per streamed piece of the answer)
- `search_sessions` SessionsService.SearchMessages
- `memory_search`   MemoryService.SearchMemory

A failed call (an unknown agent, a refused credential, a turn that failed) is a tool error (`isError`) carrying the
contract's error code and message, never a protocol error: the model that called the tool can read it and act.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
import mcp_types as types
from jsonschema import Draft202012Validator

from contract.services import find_method
from contract.stubs import Channel, message_class, stub
from edge.errors import from_rpc_error

LIST_AGENTS = "astra.v1.AgentsService.ListAgents"
CHAT_STREAM = "astra.v1.ChatService.ChatStream"
SEARCH_MESSAGES = "astra.v1.SessionsService.SearchMessages"
SEARCH_MEMORY = "astra.v1.MemoryService.SearchMemory"

# Sessions started over MCP are told apart from the REST API's by their surface.
SURFACE = "mcp"
PAGE = 200  # the largest page ListAgents gives
MAX_AGENT_PAGES = 10

Metadata = tuple[tuple[str, str], ...]
Progress = Callable[[float, str], Awaitable[None]]

_STRING = {"type": "string", "minLength": 1}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": 200, "description": "At most this many results (default 20)."}


def _limit(arguments: dict[str, Any]) -> int:
    # Validated against _LIMIT already; JSON Schema counts 5.0 as an integer, a proto int field does not.
    return int(arguments.get("limit", 20))


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _listing(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"hits": {"type": "array", "items": item}}, "required": ["hits"]}


READ_ONLY = types.ToolAnnotations(read_only_hint=True, open_world_hint=False)

TOOLS = [
    types.Tool(
        name="list_agents",
        title="List agents",
        description="The Astra agents you can chat with in this workspace: their ids, names and models.",
        input_schema=_object({}, []),
        output_schema={
            "type": "object",
            "properties": {
                "agents": {
                    "type": "array",
                    "items": _object(
                        {k: {"type": "string"} for k in ("id", "displayName", "model", "origin")}, ["id", "model"]
                    ),
                }
            },
            "required": ["agents"],
        },
        annotations=READ_ONLY,
    ),
    types.Tool(
        name="chat",
        title="Chat with an agent",
        description=(
            "Sends a message to an Astra agent and returns its answer. Without sessionId a new conversation starts; "
            "pass the sessionId of an earlier answer to continue that conversation."
        ),
        input_schema=_object(
            {
                "agentId": {**_STRING, "description": "The agent's id (see list_agents)."},
                "message": {**_STRING, "description": "What to say to the agent."},
                "sessionId": {**_STRING, "description": "Continue this conversation (ses_…)."},
            },
            ["agentId", "message"],
        ),
        output_schema=_object(
            {
                "reply": {"type": "string"},
                "sessionId": {"type": "string"},
                "messageId": {"type": "string"},
                "toolsUsed": {"type": "array", "items": {"type": "string"}},
                "model": {"type": "string"},
            },
            ["reply", "sessionId"],
        ),
        annotations=types.ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True),
    ),
    types.Tool(
        name="search_sessions",
        title="Search conversations",
        description=(
            "Full-text search over the messages of your conversations with Astra agents "
            '(web search syntax: words, "phrases", -excluded). Matches are marked **like this**.'
        ),
        input_schema=_object({"q": {**_STRING, "description": "What to look for."}, "limit": _LIMIT}, ["q"]),
        output_schema=_listing(
            _object(
                {k: {"type": "string"} for k in ("sessionId", "messageId", "agentId", "role", "snippet")},
                ["sessionId", "snippet"],
            )
        ),
        annotations=READ_ONLY,
    ),
    types.Tool(
        name="memory_search",
        title="Search memory",
        description="Searches what Astra remembers about you (sessions, daily notes, profile, notes), best first.",
        input_schema=_object({"query": {**_STRING, "description": "What to recall."}, "limit": _LIMIT}, ["query"]),
        output_schema=_listing(
            _object(
                {
                    "tier": {"type": "string"},
                    "sourceId": {"type": "string"},
                    "content": {"type": "string"},
                    "score": {"type": "number"},
                },
                ["tier", "content"],
            )
        ),
        annotations=READ_ONLY,
    ),
]

INPUT_SCHEMAS: dict[str, dict[str, Any]] = {tool.name: tool.input_schema for tool in TOOLS}
_VALIDATORS = {name: Draft202012Validator(schema) for name, schema in INPUT_SCHEMAS.items()}
_MARK = re.compile(r"</?mark>")


def _text(*parts: str) -> list[types.ContentBlock]:
    return [types.TextContent(text=part) for part in parts if part]


def tool_error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=_text(message), is_error=True)


def _done(text: str, structured: dict[str, Any]) -> types.CallToolResult:
    # Clients that do not read structuredContent still get it, as the spec recommends, in a text block.
    return types.CallToolResult(
        content=_text(text, json.dumps(structured, ensure_ascii=False)), structured_content=structured
    )


def _plain_snippet(snippet: str) -> str:
    """The API's HTML snippet as text: the <mark> tags (the only ones it holds) as **, the escaping undone."""
    return html.unescape(_MARK.sub("**", snippet))


class Tools:
    """The tools on one channel to the core; every call runs with the caller's metadata."""

    def __init__(self, channel: Channel, call_timeout_s: float):
        self.timeout = call_timeout_s
        self.calls: dict[str, tuple[Any, Any]] = {}
        for name in (LIST_AGENTS, CHAT_STREAM, SEARCH_MESSAGES, SEARCH_MEMORY):
            method = find_method(name)
            self.calls[name] = (stub(channel, method), message_class(method.input_type))

    async def call(
        self, name: str, arguments: Mapping[str, Any] | None, metadata: Metadata, progress: Progress
    ) -> types.CallToolResult:
        """Runs tool `name` (a known one) with `arguments`; a bad argument or a failed call is a tool error."""
        arguments = dict(arguments or {})
        invalid = next(iter(_VALIDATORS[name].iter_errors(arguments)), None)
        if invalid is not None:
            where = "/".join(str(p) for p in invalid.absolute_path)
            return tool_error(f"INVALID_ARGUMENT: {where + ': ' if where else ''}{invalid.message}")
        try:
            if name == "list_agents":
                return await self._list_agents(metadata)
            if name == "chat":
                return await self._chat(arguments, metadata, progress)
            if name == "search_sessions":
                return await self._search_sessions(arguments, metadata)
            return await self._memory_search(arguments, metadata)
        except grpc.aio.AioRpcError as exc:
            failure = from_rpc_error(exc)
            return tool_error(f"{failure.code.wire}: {failure.message or failure.code.wire.lower()}")

    async def _unary(self, method: str, metadata: Metadata, **fields: Any) -> Any:
        call, request = self.calls[method]
        return await call(request(**fields), metadata=metadata, timeout=self.timeout)

    async def _list_agents(self, metadata: Metadata) -> types.CallToolResult:
        agents: list[dict[str, Any]] = []
        token = ""
        for _ in range(MAX_AGENT_PAGES):
            page = await self._unary(LIST_AGENTS, metadata, limit=PAGE, page_token=token)
            for agent in page.agents:
                agents.append(
                    {"id": agent.id, "displayName": agent.display_name, "model": agent.model, "origin": agent.origin}
                )
            token = page.next_page_token
            if not token:
                break
        lines = [f"- {a['id']}: {a['displayName'] or a['id']} ({a['model']}, {a['origin']})" for a in agents]
        text = "\n".join(lines) if lines else "No agents are available in this workspace."
        return _done(text, {"agents": agents})

    async def _chat(self, arguments: dict[str, Any], metadata: Metadata, progress: Progress) -> types.CallToolResult:
        call, request_class = self.calls[CHAT_STREAM]
        fields: dict[str, Any] = {"agent_id": arguments["agentId"], "message": arguments["message"]}
        if arguments.get("sessionId"):
            fields["session_id"] = arguments["sessionId"]
        else:
            # A new conversation each time: the surface id of a session nobody else opens.
            fields.update(surface=SURFACE, surface_id=uuid.uuid4().hex)
        stream = call(request_class(**fields), metadata=metadata, timeout=self.timeout)
        step = 0
        try:
            async for event in stream:
                kind = event.WhichOneof("event")
                if kind == "stream_chunk":
                    step += 1
                    await progress(step, event.stream_chunk.delta)
                elif kind == "tool_call":
                    step += 1
                    await progress(step, f"[calling tool {event.tool_call.name}]")
                elif kind == "stream_done":
                    done = event.stream_done
                    structured = {
                        "reply": done.content,
                        "sessionId": done.session_id,
                        "messageId": done.message_id,
                        "toolsUsed": list(done.tools_used),
                        "model": done.model,
                    }
                    return _done(done.content, structured)
                elif kind == "error":
                    return tool_error(f"{event.error.code}: {event.error.message}")
        finally:
            if not stream.done():
                stream.cancel()  # the MCP request was cancelled: the turn keeps what was said, as on SSE
        return tool_error("UNAVAILABLE: the turn ended without an answer")

    async def _search_sessions(self, arguments: dict[str, Any], metadata: Metadata) -> types.CallToolResult:
        found = await self._unary(SEARCH_MESSAGES, metadata, q=arguments["q"], limit=_limit(arguments))
        hits = [
            {
                "sessionId": hit.session_id,
                "messageId": hit.message_id,
                "agentId": hit.agent_id,
                "role": hit.role,
                "snippet": _plain_snippet(hit.snippet),
            }
            for hit in found.hits
        ]
        lines = [f"- [{h['sessionId']}] {h['role']} ({h['agentId']}): {h['snippet']}" for h in hits]
        return _done("\n".join(lines) if lines else "No message matches.", {"hits": hits})

    async def _memory_search(self, arguments: dict[str, Any], metadata: Metadata) -> types.CallToolResult:
        found = await self._unary(SEARCH_MEMORY, metadata, q=arguments["query"], limit=_limit(arguments))
        hits = [
            {"tier": hit.tier, "sourceId": hit.source_id, "content": hit.content, "score": round(hit.score, 6)}
            for hit in found.hits
        ]
        lines = [f"- ({h['tier']}) {h['content']}" for h in hits]
        return _done("\n".join(lines) if lines else "Nothing remembered matches.", {"hits": hits})
