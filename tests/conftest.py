"""Shared fixtures: one embedded PostgreSQL (pgvector) per test session, a fresh database per module,
and a running gateway per module on loopback ports. Helpers that are plain functions live in tests/helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import grpc
import pytest

from tests.harness import GatewayThread, test_settings
from tests.helpers.db import Postgres
from tests.helpers.mcp import LoopbackServer
from tests.providers.fake_vendors import FakeVendor, VendorThread
from tests.receivers import Receiver


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


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    """tests/fixtures/mcp_loopback_server.py over streamable HTTP, one per test module."""
    server = LoopbackServer().start()
    yield server
    server.stop()
