"""Who the client is, for per-address login throttling: an edge may say (x-forwarded-for), anyone else may not."""

from __future__ import annotations

import grpc
import pytest

from astra.v1 import auth_pb2, auth_pb2_grpc
from server.config import ConfigError, load_settings
from tests.harness import GatewayThread
from tests.helpers.db import sql

# Loopback is not a trusted proxy here, so this test's direct gRPC calls are untrusted callers.
GATEWAY_OPTIONS = {"settings": {"trusted_proxies": ("10.20.0.0/16",)}}


async def test_an_untrusted_caller_cannot_choose_its_address(gateway: GatewayThread) -> None:
    await sql(gateway, "DELETE FROM login_failures")
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Login(
                auth_pb2.LoginRequest(email="nobody@example.com", password="wrong password"),
                metadata=(("x-forwarded-for", "203.0.113.9"),),
            )
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    keys = {row["key"] for row in await sql(gateway, "SELECT key FROM login_failures")}
    assert "addr:127.0.0.1" in keys
    assert "addr:203.0.113.9" not in keys


def test_trusted_proxies_must_be_addresses() -> None:
    assert load_settings({"ASTRA_TRUSTED_PROXIES": "10.0.0.0/8, fd00::/8"}).trusted_proxies == (
        "10.0.0.0/8",
        "fd00::/8",
    )
    with pytest.raises(ConfigError, match="ASTRA_TRUSTED_PROXIES"):
        load_settings({"ASTRA_TRUSTED_PROXIES": "the-edge"})
