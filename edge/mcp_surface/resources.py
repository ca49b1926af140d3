"""The caller's conversations as MCP resources, `astra://sessions/{sessionId}`, read through the contract's RPCs:

- `resources/list`            SessionsService.ListSessions (the most recent ones)
- `resources/templates/list`  the URI template
- `resources/read`            SessionsService.GetSession: the session and its messages as proto3 JSON
"""

from __future__ import annotations

import re
from typing import Any

import grpc
import mcp_types as types
from google.protobuf import json_format
from mcp.shared.exceptions import MCPError

from contract.errors import ErrorCode
from contract.services import find_method
from contract.stubs import Channel, message_class, stub
from edge.errors import from_rpc_error

LIST_SESSIONS = "astra.v1.SessionsService.ListSessions"
GET_SESSION = "astra.v1.SessionsService.GetSession"

SCHEME = "astra://sessions/"
TEMPLATE = types.ResourceTemplate(
    name="session",
    title="Conversation",
    uri_template=SCHEME + "{sessionId}",
    description="One of your conversations with an Astra agent: the session and its messages (JSON).",
    mime_type="application/json",
)
LISTED = 50  # the most recent sessions resources/list shows
MESSAGES = 200  # the most messages a read returns
_SESSION_ID = re.compile(r"ses_[A-Za-z0-9]{1,64}")
RESOURCE_NOT_FOUND = -32002  # the spec's code for a resource that does not exist

Metadata = tuple[tuple[str, str], ...]


def _error(exc: grpc.aio.AioRpcError) -> MCPError:
    failure = from_rpc_error(exc)
    message = f"{failure.code.wire}: {failure.message or failure.code.wire.lower()}"
    if failure.code is ErrorCode.NOT_FOUND:
        return MCPError(RESOURCE_NOT_FOUND, message)
    if failure.code is ErrorCode.INVALID_ARGUMENT:
        return MCPError(types.INVALID_PARAMS, message)
    return MCPError(types.INTERNAL_ERROR, message)


class Resources:
    def __init__(self, channel: Channel, call_timeout_s: float):
        self.timeout = call_timeout_s
        self.calls: dict[str, tuple[Any, Any]] = {}
        for name in (LIST_SESSIONS, GET_SESSION):
            method = find_method(name)
            self.calls[name] = (stub(channel, method), message_class(method.input_type))

    async def _call(self, method: str, metadata: Metadata, **fields: Any) -> Any:
        call, request = self.calls[method]
        try:
            return await call(request(**fields), metadata=metadata, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None

    async def list(self, metadata: Metadata) -> types.ListResourcesResult:
        page = await self._call(LIST_SESSIONS, metadata, limit=LISTED)
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    name=session.id,
                    title=f"{session.agent_id} on {session.surface} ({session.message_count} messages)",
                    uri=SCHEME + session.id,
                    description=f"{session.status} conversation with {session.agent_id}",
                    mime_type="application/json",
                )
                for session in page.sessions
            ]
        )

    async def read(self, uri: str, metadata: Metadata) -> types.ReadResourceResult:
        session_id = uri.removeprefix(SCHEME) if uri.startswith(SCHEME) else ""
        if not _SESSION_ID.fullmatch(session_id):
            raise MCPError(RESOURCE_NOT_FOUND, f"no such resource: {uri} (expected {TEMPLATE.uri_template})")
        found = await self._call(GET_SESSION, metadata, session_id=session_id, limit=MESSAGES)
        found.ClearField("next_page_token")
        text = json_format.MessageToJson(found, indent=None, ensure_ascii=False)
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, mime_type="application/json", text=text)]
        )
