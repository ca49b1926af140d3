"""Auth under attack: logins that do not queue behind other blocking work, a login throttle that concurrent
guesses cannot race (on one replica or several), registrations limited per client address, and access tokens
revoked with their refresh-token family when a rotated refresh token is reused.

A module of its own, with its own database: every request comes from 127.0.0.1, so the address locks it provokes
would refuse other modules' logins; each test starts from empty login and registration counts.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import aiohttp
import grpc
import pytest

from astra.v1 import auth_pb2, auth_pb2_grpc
from server.config import ConfigError, load_settings
from tests.harness import GatewayThread
from tests.helpers.accounts import PASSWORD, register, unique_email
from tests.helpers.auth import assert_throttled, attempt, failures_by_key, login, post, refresh, rest_probe
from tests.helpers.db import sql

LOGIN_LIMIT = 10
REGISTER_LIMIT = 3
GATEWAY_OPTIONS = {"settings": {"register_max_per_hour": REGISTER_LIMIT}}
WRONG = "wrong password!"


@pytest.fixture(autouse=True)
async def no_counts(gateway: GatewayThread) -> AsyncIterator[None]:
    await sql(gateway, "DELETE FROM login_failures")
    await sql(gateway, "DELETE FROM rate_windows WHERE key LIKE 'register:%%'")
    yield


@pytest.fixture
def replica(gateway: GatewayThread) -> Iterator[GatewayThread]:
    """A second gateway on the module's database, as another replica of the core and edge."""
    other = GatewayThread(gateway.settings).start()
    yield other
    other.stop()


# ------------------------------------------------------------------------------ hashing has its own threads


async def test_a_login_answers_while_the_default_thread_pool_is_stuck(
    http: aiohttp.ClientSession, gateway: GatewayThread
) -> None:
    account = await register(http)
    release = threading.Event()

    async def jam() -> list[asyncio.Future[bool]]:
        # Far more stuck jobs than asyncio's default pool has threads (min(32, cores + 4)), as stuck feed reads
        # would leave them.
        loop = asyncio.get_running_loop()
        return [loop.run_in_executor(None, release.wait) for _ in range(64)]

    stuck = gateway.run(jam())
    try:
        started = time.monotonic()
        async with asyncio.timeout(10):
            body = await login(http, account["email"])
        assert body["user"]["id"] == account["user"]["id"]
        assert time.monotonic() - started < 10
        # A wrong password is checked (and refused) too, rather than hanging.
        async with asyncio.timeout(10):
            status, _, _ = await attempt(http, account["email"], WRONG)
        assert status == 401
    finally:
        release.set()

    async def drain() -> None:
        await asyncio.gather(*stuck)

    gateway.run(drain())


# --------------------------------------------------------------------------- the login throttle is not raced


async def test_sixty_concurrent_wrong_passwords_get_ten_checks_and_fifty_429s(
    http: aiohttp.ClientSession, gateway: GatewayThread
) -> None:
    account = await register(http)
    results = await asyncio.gather(*(attempt(http, account["email"], WRONG) for _ in range(60)))
    statuses = Counter(status for status, _, _ in results)
    assert statuses == {401: LOGIN_LIMIT, 429: 60 - LOGIN_LIMIT}, statuses
    for status, body, headers in results:
        if status == 429:
            assert_throttled(status, body, headers)
    assert await failures_by_key(gateway) == {
        f"acct:{account['email'].lower()}": LOGIN_LIMIT,
        "addr:127.0.0.1": LOGIN_LIMIT,
    }
    # Locked: even the right password waits.
    assert_throttled(*await attempt(http, account["email"], PASSWORD))


async def test_concurrent_wrong_passwords_on_two_replicas_share_the_ten_checks(
    http: aiohttp.ClientSession, gateway: GatewayThread, replica: GatewayThread
) -> None:
    account = await register(http)
    async with aiohttp.ClientSession(base_url=replica.http_url) as other:
        results = await asyncio.gather(
            *(attempt(session, account["email"], WRONG) for _ in range(30) for session in (http, other))
        )
        statuses = Counter(status for status, _, _ in results)
        assert statuses == {401: LOGIN_LIMIT, 429: 60 - LOGIN_LIMIT}, statuses
        for session in (http, other):
            assert_throttled(*await attempt(session, account["email"], PASSWORD))


async def test_a_right_password_gives_its_attempt_back_and_clears_the_account(
    http: aiohttp.ClientSession, gateway: GatewayThread
) -> None:
    account = await register(http)
    email_key = f"acct:{account['email'].lower()}"
    results = await asyncio.gather(*(attempt(http, account["email"], WRONG) for _ in range(5)))
    assert [status for status, _, _ in results] == [401] * 5
    assert (await attempt(http, account["email"], PASSWORD))[0] == 200
    # The success is not counted against the address, and the account starts over, as before.
    assert await failures_by_key(gateway) == {"addr:127.0.0.1": 5}
    assert email_key not in await failures_by_key(gateway)

    # Right and wrong passwords at once: the right ones get in, the count is only the wrong ones.
    results = await asyncio.gather(*(attempt(http, account["email"], WRONG if i % 2 else PASSWORD) for i in range(4)))
    assert sorted(status for status, _, _ in results) == [200, 200, 401, 401]
    assert (await failures_by_key(gateway))["addr:127.0.0.1"] == 7


# ------------------------------------------------------------------------------- registrations per address


async def test_registrations_are_limited_per_client_address(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel
) -> None:
    first = await register(http)
    await register(http)
    # A taken email counts too: the answer tells whether an account exists, and its hash was paid for.
    status, body, _ = await post(http, "/auth/register", {"email": first["email"], "password": PASSWORD})
    assert status == 409, body

    status, body, headers = await post(http, "/auth/register", {"email": unique_email(), "password": PASSWORD})
    assert status == 429, body
    assert body["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert 3000 < int(headers["Retry-After"]) <= 3600
    # Bad input is still a 400, and logins are not affected.
    status, body, _ = await post(http, "/auth/register", {"email": unique_email(), "password": "short"})
    assert status == 400, body
    assert (await attempt(http, first["email"], PASSWORD))[0] == 200

    # The count is per address: a trusted edge forwarding another client's address registers it; this one is
    # refused over gRPC as over REST.
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    request = auth_pb2.RegisterRequest(email=unique_email(), password=PASSWORD)
    other = await stub.Register(request, metadata=(("x-forwarded-for", "198.51.100.7"),))
    assert other.user.email == request.email
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Register(auth_pb2.RegisterRequest(email=unique_email(), password=PASSWORD))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 0 < float(dict(err.value.trailing_metadata())["retry-after"]) <= 3600


async def test_the_registration_limit_holds_across_replicas(
    http: aiohttp.ClientSession, replica: GatewayThread
) -> None:
    async with aiohttp.ClientSession(base_url=replica.http_url) as other:
        results = await asyncio.gather(
            *(
                post(session, "/auth/register", {"email": unique_email(), "password": PASSWORD})
                for _ in range(3)
                for session in (http, other)
            )
        )
    assert Counter(status for status, _, _ in results) == {200: REGISTER_LIMIT, 429: 6 - REGISTER_LIMIT}


def test_the_registration_limit_is_configurable() -> None:
    assert load_settings({}).register_max_per_hour == 20
    assert load_settings({"ASTRA_REGISTER_MAX_PER_HOUR": "0"}).register_max_per_hour == 0
    assert load_settings({"ASTRA_REGISTER_MAX_PER_HOUR": "500"}).register_max_per_hour == 500
    for bad in ("-1", "many"):
        with pytest.raises(ConfigError, match="ASTRA_REGISTER_MAX_PER_HOUR"):
            load_settings({"ASTRA_REGISTER_MAX_PER_HOUR": bad})


# --------------------------------------------------------------- reuse revokes the family's access tokens too


async def test_reusing_a_refresh_token_revokes_the_access_tokens_of_its_family(
    http: aiohttp.ClientSession, gateway: GatewayThread, replica: GatewayThread
) -> None:
    account = await register(http)  # family A
    first = (await login(http, account["email"]))["tokens"]  # family B
    status, body = await refresh(http, first["refreshToken"])
    assert status == 200
    rotated = body["tokens"]
    family_b = (first["accessToken"], rotated["accessToken"])
    family_a = account["tokens"]["accessToken"]

    async with aiohttp.ClientSession(base_url=replica.http_url) as other:
        # Both replicas have accepted (and cached what authenticates) every token.
        for session in (http, other):
            for token in (*family_b, family_a):
                assert (await rest_probe(session, token))[0] == 200

        status, body = await refresh(http, first["refreshToken"])  # already rotated: a reuse
        assert status == 401, body
        assert "reused" in body["error"]["message"]

        # On this replica at once, on the other one as soon as its NOTIFY arrives.
        for token in family_b:
            status, body = await rest_probe(http, token)
            assert status == 401, body
            assert "revoked" in body["error"]["message"]
        deadline = time.monotonic() + 5
        while True:
            statuses = [(await rest_probe(other, token))[0] for token in family_b]
            if statuses == [401, 401] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert statuses == [401, 401]

        # Another login of the same user is untouched, access and refresh token alike.
        for session in (http, other):
            assert (await rest_probe(session, family_a))[0] == 200
        status, body = await refresh(other, account["tokens"]["refreshToken"])
        assert status == 200, body
        assert (await rest_probe(http, body["tokens"]["accessToken"]))[0] == 200


async def test_an_overlong_email_at_login_is_a_400(http: aiohttp.ClientSession) -> None:
    # Random, so it does not compress: it used to reach the throttle's index and fail as 503.
    email = secrets.token_hex(3000) + "@example.com"
    status, body, _ = await post(http, "/auth/login", {"email": email, "password": PASSWORD})
    assert status == 400, body
    assert body["error"]["code"] == "INVALID_ARGUMENT"
