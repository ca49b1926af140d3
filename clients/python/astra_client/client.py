"""AstraClient: a grpclib channel to the core that signs every call with a fresh access token.

The generated stubs (astra_client.gen.astra.v1) are the typed API; this module only adds what every caller would
otherwise write by hand: logging in, refreshing the access token shortly before it expires, and sending
authorization / x-workspace-id / x-request-id metadata on each call.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import betterproto
from grpclib.client import Channel
from grpclib.events import SendRequest, listen

from astra_client.gen.astra import v1

# Methods that run before there is a token (or that obtain one): never sign them, never refresh for them.
_UNSIGNED = frozenset(
    {
        "/astra.v1.AuthService/Register",
        "/astra.v1.AuthService/Login",
        "/astra.v1.AuthService/Refresh",
    }
)

# A request id chosen by the caller for the calls made inside `with client.request_id(...)`.
_request_id: ContextVar[str | None] = ContextVar("astra_request_id", default=None)


@dataclass(frozen=True)
class ChatEvent:
    """One event of a streamed turn: `type` is the set oneof field (session_resolved, stream_chunk, tool_call,
    tool_result, stream_done, error), `data` its message."""

    type: str
    data: betterproto.Message


class _RequestId:
    def __init__(self, value: str):
        self.value = value
        self._token: Any = None

    def __enter__(self) -> str:
        self._token = _request_id.set(self.value)
        return self.value

    def __exit__(self, *exc: object) -> None:
        _request_id.reset(self._token)


class AstraClient:
    """Async client for the Astra core (gRPC). Use as `async with AstraClient(host, port) as client:`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 50051,
        *,
        workspace_id: str | None = None,
        ssl: bool = False,
        refresh_margin_s: float = 30.0,
        api_key: str | None = None,
    ):
        self.channel = Channel(host, port, ssl=ssl)
        self.workspace_id = workspace_id
        self.api_key = api_key
        self.refresh_margin_s = refresh_margin_s
        self.tokens: v1.TokenPair | None = None
        self.user: v1.User | None = None
        self._expires_at = 0.0  # monotonic time at which the access token expires
        self._refresh_lock = asyncio.Lock()
        listen(self.channel, SendRequest, self._sign)
        # Typed stubs over the one channel; each call is signed by _sign.
        self.auth = v1.AuthServiceStub(self.channel)
        self.workspaces = v1.WorkspacesServiceStub(self.channel)
        self.agents = v1.AgentsServiceStub(self.channel)
        self.chat = v1.ChatServiceStub(self.channel)
        self.sessions = v1.SessionsServiceStub(self.channel)
        self.memory = v1.MemoryServiceStub(self.channel)
        self.skills = v1.SkillsServiceStub(self.channel)
        self.webhooks = v1.WebhooksServiceStub(self.channel)
        self.heartbeat = v1.HeartbeatServiceStub(self.channel)
        self.costs = v1.CostsServiceStub(self.channel)
        self.autonomous = v1.AutonomousServiceStub(self.channel)
        self.diagnostics = v1.DiagnosticsServiceStub(self.channel)
        self.onboarding = v1.OnboardingServiceStub(self.channel)
        self.admin = v1.AdminServiceStub(self.channel)
        self.system = v1.SystemServiceStub(self.channel)

    async def __aenter__(self) -> AstraClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    @staticmethod
    def request_id(value: str | None = None) -> _RequestId:
        """`with client.request_id("abc"):` sends x-request-id: abc on the calls made inside the block."""
        return _RequestId(value or uuid.uuid4().hex)

    # -- sessions of the account ---------------------------------------------------------------------------------

    def _keep(self, tokens: v1.TokenPair) -> None:
        self.tokens = tokens
        self._expires_at = time.monotonic() + tokens.expires_in

    async def register(self, email: str, password: str) -> v1.RegisterResponse:
        """Creates an account, keeps its tokens, and defaults the workspace to its personal one."""
        answer = await self.auth.register(v1.RegisterRequest(email=email, password=password))
        self._keep(answer.tokens)
        self.user = answer.user
        self.workspace_id = self.workspace_id or answer.workspace_id
        return answer

    async def login(self, email: str, password: str) -> v1.LoginResponse:
        answer = await self.auth.login(v1.LoginRequest(email=email, password=password))
        self._keep(answer.tokens)
        self.user = answer.user
        return answer

    async def refresh(self) -> v1.TokenPair:
        """Trades the refresh token for a new pair (refresh tokens rotate: the old one is spent)."""
        if self.tokens is None:
            raise RuntimeError("not logged in: call login() or register() first")
        answer = await self.auth.refresh(v1.RefreshRequest(refresh_token=self.tokens.refresh_token))
        self._keep(answer.tokens)
        return answer.tokens

    async def logout(self) -> v1.LogoutResponse:
        answer = await self.auth.logout(v1.LogoutRequest())
        self.tokens = None
        return answer

    async def access_token(self) -> str | None:
        """The current access token, refreshed first when it expires within refresh_margin_s."""
        if self.tokens is None:
            return None
        if time.monotonic() >= self._expires_at - self.refresh_margin_s:
            async with self._refresh_lock:
                # Another task may have refreshed while this one waited.
                if time.monotonic() >= self._expires_at - self.refresh_margin_s:
                    await self.refresh()
        return self.tokens.access_token

    async def _sign(self, event: SendRequest) -> None:
        rid = _request_id.get()
        if rid:
            event.metadata["x-request-id"] = rid
        if self.api_key:
            event.metadata["x-api-key"] = self.api_key
        if event.method_name in _UNSIGNED:
            return
        token = await self.access_token()
        if token:
            event.metadata["authorization"] = f"Bearer {token}"
        if self.workspace_id:
            event.metadata["x-workspace-id"] = self.workspace_id

    # -- chat ------------------------------------------------------------------------------------------------------

    async def chat_stream(
        self,
        agent_id: str,
        message: str,
        *,
        surface: str = "",
        surface_id: str = "",
        session_id: str = "",
        deadline_s: float | None = None,
    ) -> AsyncIterator[ChatEvent]:
        """Streams one turn as ChatEvents, from session_resolved to stream_done (or error); deadline_s bounds the
        whole turn (a gRPC deadline)."""
        request = v1.ChatStreamRequest(
            agent_id=agent_id, message=message, surface=surface, surface_id=surface_id, session_id=session_id
        )
        async for frame in self.chat.chat_stream(request, timeout=deadline_s):
            kind, data = betterproto.which_one_of(frame, "event")
            if kind:
                yield ChatEvent(kind, data)
