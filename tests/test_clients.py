"""The generated clients end to end against a live gateway: the Python AstraClient (betterproto over grpclib)
in-process, the TypeScript one (protobuf-es + Connect over gRPC) through `npm test` in a subprocess. Each
registers, creates an agent, streams a chat and reads the session back; the Python one also checks token refresh,
request ids and that another account is refused."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from tests.harness import GatewayThread

CLIENTS = Path(__file__).resolve().parent.parent / "clients"
TYPESCRIPT = CLIENTS / "typescript"
try:
    from astra_client import AstraClient, ChatEvent, v1
except ImportError:  # not pip-installed: the same sources from the tree (betterproto and grpclib come with .[dev])
    sys.path.insert(0, str(CLIENTS / "python"))
    from astra_client import AstraClient, ChatEvent, v1
PASSWORD = "correct horse battery"


def email() -> str:
    return f"client-{uuid.uuid4().hex[:10]}@example.com"


def client_for(gateway: GatewayThread, **options: object) -> AstraClient:
    return AstraClient("127.0.0.1", gateway.grpc_port, **options)  # type: ignore[arg-type]


async def test_python_client_registers_creates_an_agent_streams_and_reads_the_session(
    gateway: GatewayThread,
) -> None:
    async with client_for(gateway) as client:
        account = await client.register(email(), PASSWORD)
        assert client.workspace_id == account.workspace_id
        agent_id = f"py-{uuid.uuid4().hex[:8]}"
        created = await client.agents.create_agent(
            v1.CreateAgentRequest(agent=v1.Agent(id=agent_id, model="local/echo"))
        )
        assert created.agent.id == agent_id

        events: list[ChatEvent] = [e async for e in client.chat_stream(agent_id, "hello from python")]
        kinds = [e.type for e in events]
        assert kinds[0] == "session_resolved" and kinds[-1] == "stream_done", kinds
        assert "hello from python" in "".join(e.data.delta for e in events if e.type == "stream_chunk")
        session_id = events[0].data.session_id

        read = await client.sessions.get_session(v1.GetSessionRequest(session_id=session_id))
        assert read.session.id == session_id
        assert [m.role for m in read.messages] == ["user", "assistant"]
        assert read.messages[0].content == "hello from python"

        # Someone else cannot read it.
        async with client_for(gateway) as stranger:
            await stranger.register(email(), PASSWORD)
            with pytest.raises(GRPCError) as denied:
                await stranger.sessions.get_session(v1.GetSessionRequest(session_id=session_id))
            assert denied.value.status == Status.NOT_FOUND


async def test_python_client_refreshes_before_expiry_and_sends_request_ids(gateway: GatewayThread) -> None:
    async with client_for(gateway, refresh_margin_s=0) as client:
        await client.register(email(), PASSWORD)
        first = client.tokens
        assert first is not None
        # Pretend the access token is about to expire: the next call refreshes first, then succeeds.
        client._expires_at = time.monotonic() - 1
        with client.request_id("client-rid-0001"):
            listed = await client.agents.list_agents(v1.ListAgentsRequest())
        assert listed is not None
        assert client.tokens is not None and client.tokens.refresh_token != first.refresh_token
        logged = gateway.logs.with_request_id("client-rid-0001")
        assert logged, "the core logged no line with the client's request id"

        # Concurrent calls share one refresh (a second one would spend an already rotated refresh token).
        client._expires_at = time.monotonic() - 1
        await asyncio.gather(*(client.agents.list_agents(v1.ListAgentsRequest()) for _ in range(4)))

    async with client_for(gateway) as anonymous:
        with pytest.raises(GRPCError) as refused:
            await anonymous.agents.list_agents(v1.ListAgentsRequest())
        assert refused.value.status == Status.UNAUTHENTICATED


def test_typescript_client_end_to_end(gateway: GatewayThread) -> None:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("node/npm are not installed: the TypeScript client cannot run")
    if not (TYPESCRIPT / "node_modules").is_dir():
        pytest.fail("clients/typescript/node_modules is missing: run `npm ci` in clients/typescript")
    env = {**os.environ, "ASTRA_GRPC_URL": f"http://{gateway.grpc_target}"}
    done = subprocess.run([npm, "test"], cwd=TYPESCRIPT, env=env, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "# pass 1" in output and "# fail 0" in output, output
