"""Login throttling: 429 with Retry-After after 10 failures in 10 minutes, per account and per client address,
counted in Postgres.

A module of its own, so its gateway has its own database: every request of the suite comes from 127.0.0.1,
and the per-address lock this module provokes would otherwise refuse every other module's logins. Each test
starts from an empty login_failures table.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest

from astra.v1 import auth_pb2, auth_pb2_grpc
from tests.harness import GatewayThread
from tests.helpers.accounts import PASSWORD, register, unique_email
from tests.helpers.auth import WINDOW_S, assert_throttled, attempt, failures_by_key
from tests.helpers.db import sql

LIMIT = 10
EDGE_ADDRESS = "127.0.0.1"  # what the edge sees for every test request


@pytest.fixture(autouse=True)
async def no_failures(gateway: GatewayThread) -> AsyncIterator[None]:
    await sql(gateway, "DELETE FROM login_failures")
    yield


async def fail_many(http: aiohttp.ClientSession, emails: list[str]) -> None:
    """One failed login per email, concurrently (each costs an argon2 verification)."""
    results = await asyncio.gather(*(attempt(http, email, "wrong password!") for email in emails))
    assert [status for status, _, _ in results] == [401] * len(emails)


async def test_nine_failures_do_not_lock_an_account(http: aiohttp.ClientSession) -> None:
    account = await register(http)
    await fail_many(http, [account["email"]] * (LIMIT - 1))
    status, body, _ = await attempt(http, account["email"], PASSWORD)
    assert status == 200, body


async def test_ten_failures_lock_the_account_even_for_the_right_password(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel, gateway: GatewayThread
) -> None:
    victim, bystander = await register(http), await register(http)
    await fail_many(http, [victim["email"]] * LIMIT)

    assert_throttled(*await attempt(http, victim["email"], PASSWORD))
    assert_throttled(*await attempt(http, victim["email"], "wrong password!"))
    # The lock is in the database, one row per failure and key; refusals while locked are not counted.
    assert await failures_by_key(gateway) == {f"acct:{victim['email'].lower()}": LIMIT, f"addr:{EDGE_ADDRESS}": LIMIT}

    # Forget the address (as if the attempts had come from many addresses): the account alone stays locked,
    # whatever the case of the email, over REST and over gRPC, while another account signs in.
    await sql(gateway, "DELETE FROM login_failures WHERE key LIKE 'addr:%%'")
    assert_throttled(*await attempt(http, victim["email"].upper(), PASSWORD))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await auth_pb2_grpc.AuthServiceStub(channel).Login(
            auth_pb2.LoginRequest(email=victim["email"], password=PASSWORD)
        )
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 0 < int(dict(err.value.trailing_metadata())["retry-after"]) <= WINDOW_S
    status, body, _ = await attempt(http, bystander["email"], PASSWORD)
    assert status == 200, body


async def test_ten_failures_from_one_address_lock_every_account_there(
    http: aiohttp.ClientSession, gateway: GatewayThread
) -> None:
    account = await register(http)
    # Ten different (unknown) accounts, one failure each: no account is near its limit, the address is at it.
    # A client cannot dodge the count by claiming another address: the edge sends the one it saw.
    strangers = [unique_email("stranger") for _ in range(LIMIT)]
    results = await asyncio.gather(
        *(
            attempt(http, email, "wrong password!", {"X-Forwarded-For": f"203.0.113.{i}"})
            for i, email in enumerate(strangers)
        )
    )
    assert [status for status, _, _ in results] == [401] * LIMIT

    assert_throttled(*await attempt(http, account["email"], PASSWORD))
    counts = await failures_by_key(gateway)
    assert counts[f"addr:{EDGE_ADDRESS}"] == LIMIT
    assert all(counts[f"acct:{email}"] == 1 for email in strangers)

    # The address lock is nothing but those rows: once they are gone the account signs in again.
    await sql(gateway, "DELETE FROM login_failures WHERE key LIKE 'addr:%%'")
    status, body, _ = await attempt(http, account["email"], PASSWORD)
    assert status == 200, body


async def test_the_lock_is_read_from_postgres_and_slides_with_the_ten_minute_window(
    http: aiohttp.ClientSession, gateway: GatewayThread
) -> None:
    account = await register(http)
    key = f"acct:{account['email'].lower()}"
    # Ten failures recorded by some other replica 590 s ago: locked for about ten more seconds.
    await sql(
        gateway,
        "INSERT INTO login_failures (key, failed_at)"
        " SELECT %s, now() - interval '590 seconds' FROM generate_series(1, %s)",
        (key, LIMIT),
    )
    retry_after = assert_throttled(*await attempt(http, account["email"], PASSWORD), at_most=11)
    assert retry_after >= 1
    # Once they are older than the window they no longer count.
    await sql(gateway, "UPDATE login_failures SET failed_at = now() - interval '601 seconds' WHERE key = %s", (key,))
    status, body, _ = await attempt(http, account["email"], PASSWORD)
    assert status == 200, body


async def test_a_successful_login_clears_the_account_count(http: aiohttp.ClientSession, gateway: GatewayThread) -> None:
    account = await register(http)
    await fail_many(http, [account["email"]] * 5)
    assert (await attempt(http, account["email"], PASSWORD))[0] == 200
    await sql(gateway, "DELETE FROM login_failures WHERE key LIKE 'addr:%%'")
    await fail_many(http, [account["email"]] * 5)  # 5 + 5, but the success in between reset the account
    assert (await attempt(http, account["email"], PASSWORD))[0] == 200


async def test_direct_grpc_callers_are_throttled_per_address(
    http: aiohttp.ClientSession, gateway: GatewayThread
) -> None:
    account = await register(http)

    async def login_on_a_new_connection(email: str, password: str) -> grpc.StatusCode:
        async with grpc.aio.insecure_channel(gateway.grpc_target) as ch:
            try:
                await auth_pb2_grpc.AuthServiceStub(ch).Login(auth_pb2.LoginRequest(email=email, password=password))
            except grpc.aio.AioRpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

    codes = [await login_on_a_new_connection(unique_email("stranger"), "wrong password!") for _ in range(LIMIT)]
    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * LIMIT
    # Same machine, same address: it is locked out just as a REST client would be.
    assert await login_on_a_new_connection(account["email"], PASSWORD) == grpc.StatusCode.RESOURCE_EXHAUSTED
