"""The auth domain as users see it, through the edge (REST) and the core (gRPC): register, login, access and
refresh tokens, logout, workspace selection, request ids and what never reaches the logs.

Login throttling lives in test_auth_throttle.py (it needs a database of its own: every request here comes
from 127.0.0.1, so ten failures would lock every other login of this module out), and JWT secret rotation in
test_auth_rotation.py (it needs a gateway configured with two secrets). This module keeps its own failed
logins well under the limit of ten.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import grpc
import jwt
import pytest

from astra.v1 import auth_pb2, auth_pb2_grpc
from tests.harness import TEST_SECRET, GatewayThread
from tests.helpers.accounts import PASSWORD, bearer, register, unique_email
from tests.helpers.auth import ACCEPTED, ACCESS_TTL_S, forge, grpc_code, introspect, login, post, refresh, rest_probe
from tests.helpers.db import sql

REFRESH_TTL_S = 7 * 24 * 3600
OTHER_SECRET = "another-secret-that-is-long-enough-0123456789"


# --------------------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def shared(gateway: GatewayThread) -> Iterator[auth_pb2.RegisterResponse]:
    """One account for the tests that only read with it (never logged out, never used for failed logins)."""
    with grpc.insecure_channel(gateway.grpc_target) as ch:
        yield auth_pb2_grpc.AuthServiceStub(ch).Register(
            auth_pb2.RegisterRequest(email=unique_email("shared"), password=PASSWORD), timeout=30
        )


async def count(gateway: GatewayThread, table: str) -> int:
    rows = await sql(gateway, f"SELECT count(*) FROM {table}")
    return rows[0]["count"]


def unsigned(user_id: str) -> str:
    """An `alg: none` token with otherwise perfect claims."""

    def b64(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = time.time()
    claims = {"sub": user_id, "iat": now, "exp": int(now) + ACCESS_TTL_S, "jti": uuid.uuid4().hex, "typ": "access"}
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def assert_token_pair(tokens: dict[str, Any]) -> None:
    assert tokens["tokenType"] == "Bearer"
    assert tokens["expiresIn"] == ACCESS_TTL_S
    assert tokens["refreshExpiresIn"] == REFRESH_TTL_S
    assert tokens["accessToken"] and tokens["refreshToken"]
    assert tokens["accessToken"] != tokens["refreshToken"]


# -------------------------------------------------------------------------------------------- register


async def test_register_returns_user_personal_workspace_and_tokens(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel, gateway: GatewayThread
) -> None:
    email = unique_email("reg")
    status, body, _ = await post(http, "/auth/register", {"email": email, "password": PASSWORD, "displayName": "Ada"})
    assert status == 200, body
    user = body["user"]
    assert user["id"].startswith("usr_")
    assert user["email"] == email
    assert user["displayName"] == "Ada"
    assert user["createdAt"].endswith("Z")
    assert body["workspaceId"].startswith("ws_")
    assert_token_pair(body["tokens"])

    # The personal workspace exists and the new user owns it: it is where the token acts by default.
    me = await introspect(channel, body["tokens"]["accessToken"])
    assert me.user_id == user["id"]
    assert me.workspace_id == body["workspaceId"]
    assert me.role == "owner"
    rows = await sql(gateway, "SELECT personal, created_by FROM workspaces WHERE id = %s", (body["workspaceId"],))
    assert rows == [{"personal": True, "created_by": user["id"]}]
    # ...and the tokens are usable at once through the edge as well.
    assert (await rest_probe(http, body["tokens"]["accessToken"]))[0] in ACCEPTED


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "",
        "   ",
        "two@@example.com",
        "no-dot@example",
        "spaces in@example.com",
        "a" * 243 + "@example.com",  # 255 characters
        "a" * 300 + "@example.com",
    ],
    ids=["no-at", "empty", "blank", "double-at", "no-tld", "space", "255-chars", "312-chars"],
)
async def test_register_rejects_an_invalid_email(http: aiohttp.ClientSession, email: str) -> None:
    status, body, _ = await post(http, "/auth/register", {"email": email, "password": PASSWORD})
    assert status == 400, body
    assert body["error"]["code"] == "INVALID_ARGUMENT"
    assert "email" in body["error"]["message"]


async def test_register_accepts_a_254_character_email(http: aiohttp.ClientSession) -> None:
    email = uuid.uuid4().hex + "a" * 210 + "@example.com"
    assert len(email) == 254
    account = await register(http, email)
    assert account["user"]["email"] == email


@pytest.mark.parametrize("length", [0, 7, 129, 1000])
async def test_register_rejects_a_password_outside_8_to_128_characters(
    http: aiohttp.ClientSession, gateway: GatewayThread, length: int
) -> None:
    email = unique_email("pw")
    status, body, _ = await post(http, "/auth/register", {"email": email, "password": "p" * length})
    assert status == 400, body
    assert body["error"]["code"] == "INVALID_ARGUMENT"
    assert "password" in body["error"]["message"]
    assert await sql(gateway, "SELECT id FROM users WHERE lower(email) = lower(%s)", (email,)) == []


async def test_register_accepts_passwords_of_8_and_128_characters_and_they_sign_in(
    http: aiohttp.ClientSession,
) -> None:
    # Multi-byte characters count as one: the limit is in characters, not bytes.
    for password in ["8charsOK", "é" * 64 + "x" * 64]:
        account = await register(http, password=password)
        again = await login(http, account["email"], password)
        assert again["user"]["id"] == account["user"]["id"]


async def test_duplicate_email_is_409_case_insensitively_and_leaves_no_orphan_workspace(
    http: aiohttp.ClientSession, gateway: GatewayThread
) -> None:
    email = unique_email("dup")
    await register(http, email)
    before = {table: await count(gateway, table) for table in ("users", "workspaces", "workspace_members")}
    for variant in [email.upper(), f"  {email.capitalize()} "]:
        status, body, _ = await post(http, "/auth/register", {"email": variant, "password": "another password"})
        assert status == 409, (variant, body)
        assert body["error"]["code"] == "ALREADY_EXISTS"
    # The user, its workspace and the membership are one transaction: a refused account leaves nothing behind.
    after = {table: await count(gateway, table) for table in ("users", "workspaces", "workspace_members")}
    assert after == before
    # The first account is untouched and still signs in with its own password.
    await login(http, email)


async def test_register_over_grpc_gives_grpc_status_codes(channel: grpc.aio.Channel) -> None:
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    for request, expected in [
        (auth_pb2.RegisterRequest(email="not-an-email", password=PASSWORD), grpc.StatusCode.INVALID_ARGUMENT),
        (auth_pb2.RegisterRequest(email=unique_email(), password="short"), grpc.StatusCode.INVALID_ARGUMENT),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Register(request)
        assert err.value.code() == expected
    email = unique_email("grpc")
    created = await stub.Register(auth_pb2.RegisterRequest(email=email, password=PASSWORD))
    assert created.tokens.token_type == "Bearer"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Register(auth_pb2.RegisterRequest(email=email.upper(), password=PASSWORD))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


# ----------------------------------------------------------------------------------------------- login


async def test_login_with_the_right_password_returns_a_working_pair(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel, shared: auth_pb2.RegisterResponse
) -> None:
    body = await login(http, shared.user.email)
    assert body["user"]["id"] == shared.user.id
    assert body["user"]["email"] == shared.user.email
    assert_token_pair(body["tokens"])
    me = await introspect(channel, body["tokens"]["accessToken"])
    assert (me.user_id, me.workspace_id, me.role) == (shared.user.id, shared.workspace_id, "owner")
    status, _ = await refresh(http, body["tokens"]["refreshToken"])
    assert status == 200


async def test_login_matches_the_email_case_insensitively(
    http: aiohttp.ClientSession, shared: auth_pb2.RegisterResponse
) -> None:
    for variant in [shared.user.email.upper(), f" {shared.user.email.title()} "]:
        body = await login(http, variant)
        assert body["user"]["id"] == shared.user.id


async def test_wrong_password_and_unknown_email_get_the_same_401(
    http: aiohttp.ClientSession, shared: auth_pb2.RegisterResponse
) -> None:
    answers = []
    for email, password in [(shared.user.email, "wrong password!"), (unique_email("nobody"), PASSWORD)]:
        async with http.post("/auth/login", json={"email": email, "password": password}) as resp:
            assert resp.status == 401
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            answers.append((await resp.json())["error"])
    # Nothing in the answer tells an existing account from a missing one.
    assert answers[0] == answers[1]
    assert answers[0]["code"] == "UNAUTHENTICATED"
    assert answers[0]["message"] == "invalid email or password"


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "someone@example.com"}, {"password": PASSWORD}, {"email": "", "password": ""}],
    ids=["empty", "no-password", "no-email", "blank"],
)
async def test_login_without_email_or_password_is_400(http: aiohttp.ClientSession, body: dict) -> None:
    status, answer, _ = await post(http, "/auth/login", body)
    assert status == 400, answer
    assert answer["error"]["code"] == "INVALID_ARGUMENT"


# --------------------------------------------------------------------------------------- access tokens


async def test_access_token_is_an_hs256_jwt_with_the_documented_claims(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel, shared: auth_pb2.RegisterResponse
) -> None:
    token = (await login(http, shared.user.email))["tokens"]["accessToken"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    claims = jwt.decode(token, options={"verify_signature": False})
    # fam: the refresh-token family (one login) the token was issued with, revoked with it on reuse.
    assert set(claims) == {"sub", "iat", "exp", "jti", "typ", "fam"}
    assert claims["typ"] == "access"
    assert claims["fam"] != jwt.decode(shared.tokens.access_token, options={"verify_signature": False})["fam"]
    assert claims["sub"] == shared.user.id
    assert abs(claims["iat"] - time.time()) < 30
    assert claims["exp"] - claims["iat"] == pytest.approx(ACCESS_TTL_S, abs=1)
    # Signed with the configured secret, and every token gets its own id.
    jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
    assert claims["jti"] != jwt.decode(shared.tokens.access_token, options={"verify_signature": False})["jti"]
    # Introspect reports the same expiry the token carries.
    me = await introspect(channel, token)
    assert me.expires_at.seconds == claims["exp"]


def _invalid_tokens(user_id: str, valid: str) -> dict[str, str]:
    past = time.time() - 3600
    header, _, signature = valid.split(".")
    someone_elses_claims = forge("usr_someone_else").split(".")[1]
    return {
        "expired": forge(user_id, iat=past - ACCESS_TTL_S, exp=int(past)),
        "garbled": "not.a.jwt",
        "random-text": "hello",
        "tampered-signature": valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB"),
        # Another user's claims under this token's header and signature.
        "tampered-payload": f"{header}.{someone_elses_claims}.{signature}",
        "alg-none": unsigned(user_id),
        "alg-hs512-same-secret": forge(user_id, algorithm="HS512"),
        "other-secret": forge(user_id, secret=OTHER_SECRET),
        "typ-refresh": forge(user_id, typ="refresh"),
        "typ-missing": forge(user_id, drop=("typ",)),
        "sub-missing": forge(user_id, drop=("sub",)),
        "sub-not-a-string": forge(user_id, sub=12345),
        "sub-unknown-user": forge("usr_doesnotexist"),
        "exp-missing": forge(user_id, drop=("exp",)),
        "iat-missing": forge(user_id, drop=("iat",)),
        "jti-missing": forge(user_id, drop=("jti",)),
    }


INVALID_TOKEN_CASES = list(_invalid_tokens("usr_x", forge("usr_x")))


@pytest.mark.parametrize("case", INVALID_TOKEN_CASES)
async def test_an_invalid_access_token_is_refused_with_401(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel, shared: auth_pb2.RegisterResponse, case: str
) -> None:
    token = _invalid_tokens(shared.user.id, shared.tokens.access_token)[case]
    status, body = await rest_probe(http, token)
    assert status == 401, (case, body)
    assert body["error"]["code"] == "UNAUTHENTICATED"
    assert await grpc_code(channel, token) == grpc.StatusCode.UNAUTHENTICATED


async def test_a_forged_token_with_the_right_secret_and_claims_is_accepted(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel, shared: auth_pb2.RegisterResponse
) -> None:
    # The control for the refusals above: they fail because of what each one changes, not because of forge().
    token = forge(shared.user.id)
    assert (await rest_probe(http, token))[0] in ACCEPTED
    assert (await introspect(channel, token)).user_id == shared.user.id
    assert (await rest_probe(http, shared.tokens.access_token))[0] in ACCEPTED


async def test_an_expired_token_says_so(http: aiohttp.ClientSession, shared: auth_pb2.RegisterResponse) -> None:
    past = time.time() - 60
    status, body = await rest_probe(http, forge(shared.user.id, iat=past - ACCESS_TTL_S, exp=int(past)))
    assert status == 401
    assert "expired" in body["error"]["message"]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "Token abc"],
    ids=["absent", "empty", "scheme-only", "blank-token", "basic", "other-scheme"],
)
async def test_a_jwt_route_without_a_bearer_token_is_401(
    http: aiohttp.ClientSession, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with http.get("/agents", headers=headers) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await resp.json())["error"]["code"] == "UNAUTHENTICATED"


# --------------------------------------------------------------------------------------------- refresh


async def test_refresh_returns_a_new_pair_and_the_chain_keeps_working(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel, shared: auth_pb2.RegisterResponse
) -> None:
    first = (await login(http, shared.user.email))["tokens"]
    status, body = await refresh(http, first["refreshToken"])
    assert status == 200, body
    second = body["tokens"]
    assert_token_pair(second)
    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    assert (await introspect(channel, second["accessToken"])).user_id == shared.user.id
    # The new refresh token is itself good for one rotation.
    status, body = await refresh(http, second["refreshToken"])
    assert status == 200, body
    assert body["tokens"]["refreshToken"] not in (first["refreshToken"], second["refreshToken"])


async def test_refresh_over_grpc_rotates_too(channel: grpc.aio.Channel, shared: auth_pb2.RegisterResponse) -> None:
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    pair = (await stub.Login(auth_pb2.LoginRequest(email=shared.user.email, password=PASSWORD))).tokens
    rotated = (await stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token))).tokens
    assert rotated.refresh_token != pair.refresh_token
    assert rotated.expires_in == ACCESS_TTL_S
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_reusing_a_rotated_refresh_token_revokes_its_whole_family_only(
    http: aiohttp.ClientSession, gateway: GatewayThread
) -> None:
    account = await register(http)  # family A: the registration's own refresh token
    family_a = account["tokens"]["refreshToken"]
    b0 = (await login(http, account["email"]))["tokens"]["refreshToken"]  # family B
    status, body = await refresh(http, b0)
    assert status == 200
    b1 = body["tokens"]["refreshToken"]
    status, body = await refresh(http, b1)
    assert status == 200
    b2 = body["tokens"]["refreshToken"]

    # b0 was already exchanged: whoever presents it again may be a thief.
    status, body = await refresh(http, b0)
    assert status == 401, body
    assert body["error"]["code"] == "UNAUTHENTICATED"
    assert "reused" in body["error"]["message"]
    # So the newest token of that chain, held by the legitimate client, is dead as well...
    status, body = await refresh(http, b2)
    assert status == 401, body
    status, _ = await refresh(http, b1)
    assert status == 401
    # ...while another login of the same user (another family) is untouched.
    status, body = await refresh(http, family_a)
    assert status == 200, body
    status, _ = await refresh(http, body["tokens"]["refreshToken"])
    assert status == 200
    live = await sql(
        gateway,
        "SELECT count(*) FROM refresh_tokens WHERE user_id = %s AND revoked_at IS NULL AND rotated_at IS NULL",
        (account["user"]["id"],),
    )
    assert live == [{"count": 1}]


async def test_concurrent_refreshes_of_one_token_give_one_pair(
    http: aiohttp.ClientSession, shared: auth_pb2.RegisterResponse
) -> None:
    token = (await login(http, shared.user.email))["tokens"]["refreshToken"]
    results = await asyncio.gather(*(refresh(http, token) for _ in range(4)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 401, 401, 401]
    # The second presentation is a reuse: the pair the winner got is revoked with its family.
    winner = next(body for status, body in results if status == 200)
    assert (await refresh(http, winner["tokens"]["refreshToken"]))[0] == 401


@pytest.mark.parametrize("token", ["garbage", "rt_" + "A" * 43, "x" * 2000], ids=["garbage", "lookalike", "long"])
async def test_an_unknown_refresh_token_is_401(http: aiohttp.ClientSession, token: str) -> None:
    status, body = await refresh(http, token)
    assert status == 401, body
    assert body["error"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("body", [{"refreshToken": ""}, {}], ids=["empty", "missing"])
async def test_refresh_without_a_token_is_400(http: aiohttp.ClientSession, body: dict) -> None:
    status, answer, _ = await post(http, "/auth/refresh", body)
    assert status == 400, answer
    assert answer["error"]["code"] == "INVALID_ARGUMENT"


async def test_an_access_token_is_not_a_refresh_token(
    http: aiohttp.ClientSession, shared: auth_pb2.RegisterResponse
) -> None:
    status, _ = await refresh(http, shared.tokens.access_token)
    assert status == 401


async def test_an_expired_refresh_token_is_401(
    http: aiohttp.ClientSession, gateway: GatewayThread, shared: auth_pb2.RegisterResponse
) -> None:
    token = (await login(http, shared.user.email))["tokens"]["refreshToken"]
    digest = hashlib.sha256(token.encode()).hexdigest()
    # Only the hash is stored, never the token itself.
    assert await sql(gateway, "SELECT count(*) FROM refresh_tokens WHERE token_hash = %s", (token,)) == [{"count": 0}]
    updated = await sql(
        gateway,
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = %s RETURNING id",
        (digest,),
    )
    assert len(updated) == 1
    status, body = await refresh(http, token)
    assert status == 401, body
    assert "expired" in body["error"]["message"]


# ---------------------------------------------------------------------------------------------- logout


async def test_logout_revokes_every_refresh_token_and_earlier_access_token(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel
) -> None:
    account = await register(http)
    at1, rt1 = account["tokens"]["accessToken"], account["tokens"]["refreshToken"]  # family A
    second = (await login(http, account["email"]))["tokens"]  # family B
    at2, rt2 = second["accessToken"], second["refreshToken"]
    status, body = await refresh(http, rt2)
    assert status == 200
    at3, rt3 = body["tokens"]["accessToken"], body["tokens"]["refreshToken"]
    for token in (at1, at2, at3):
        assert (await rest_probe(http, token))[0] in ACCEPTED

    status, body, _ = await post(http, "/auth/logout", {}, {"Authorization": f"Bearer {at2}"})
    assert status == 200, body
    assert body == {"revokedRefreshTokens": 2}  # rt1 and rt3; rt2 had already been rotated

    for token in (rt1, rt2, rt3):
        assert (await refresh(http, token))[0] == 401
    # The access token used to log out and the others issued before it stop working at once.
    for token in (at1, at2, at3):
        status, body = await rest_probe(http, token)
        assert status == 401
        assert "revoked" in body["error"]["message"]
        assert await grpc_code(channel, token) == grpc.StatusCode.UNAUTHENTICATED
    status, body, _ = await post(http, "/auth/logout", {}, {"Authorization": f"Bearer {at2}"})
    assert status == 401

    # Signing in again works straight away, and the new tokens are accepted.
    fresh = (await login(http, account["email"]))["tokens"]
    assert (await rest_probe(http, fresh["accessToken"]))[0] in ACCEPTED
    assert (await introspect(channel, fresh["accessToken"])).user_id == account["user"]["id"]
    status, body = await refresh(http, fresh["refreshToken"])
    assert status == 200
    assert (await rest_probe(http, body["tokens"]["accessToken"]))[0] in ACCEPTED
    # ...and what was revoked stays revoked.
    assert (await rest_probe(http, at2))[0] == 401


async def test_logout_touches_only_the_caller(http: aiohttp.ClientSession, shared: auth_pb2.RegisterResponse) -> None:
    other = await register(http)
    status, body, _ = await post(http, "/auth/logout", {}, bearer(other))
    assert status == 200
    assert body == {"revokedRefreshTokens": 1}
    assert (await rest_probe(http, shared.tokens.access_token))[0] in ACCEPTED
    status, body, _ = await post(http, "/auth/logout", {}, {})
    assert status == 401
    assert body["error"]["code"] == "UNAUTHENTICATED"


async def test_logout_over_grpc(channel: grpc.aio.Channel, http: aiohttp.ClientSession) -> None:
    account = await register(http)
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    metadata = (("authorization", f"Bearer {account['tokens']['accessToken']}"),)
    answer = await stub.Logout(auth_pb2.LogoutRequest(), metadata=metadata)
    assert answer.revoked_refresh_tokens == 1
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Logout(auth_pb2.LogoutRequest(), metadata=metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in (err.value.details() or "")


# ------------------------------------------------------------------------------------------- workspaces


async def test_x_workspace_id_selects_only_workspaces_the_user_belongs_to(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel, gateway: GatewayThread, shared: auth_pb2.RegisterResponse
) -> None:
    token = shared.tokens.access_token
    other = await register(http)
    # The caller's own workspace, named explicitly or implied, is fine.
    assert (await rest_probe(http, token, shared.workspace_id))[0] in ACCEPTED
    assert (await introspect(channel, token, shared.workspace_id)).workspace_id == shared.workspace_id

    # Someone else's workspace and one that does not exist get the same 404: ids cannot be probed.
    answers = {}
    for label, workspace in [("foreign", other["workspaceId"]), ("missing", "ws_doesnotexist0000")]:
        status, body = await rest_probe(http, token, workspace)
        assert status == 404, body
        assert body["error"]["code"] == "NOT_FOUND"
        answers[label] = body["error"]["message"].replace(workspace, "<id>")
        assert await grpc_code(channel, token, workspace) == grpc.StatusCode.NOT_FOUND
    assert answers["foreign"] == answers["missing"]

    # Once the user is a member there, the same header works and carries the role of that membership.
    await sql(
        gateway,
        "INSERT INTO workspace_members (workspace_id, user_id, role) VALUES (%s, %s, 'viewer')",
        (other["workspaceId"], shared.user.id),
    )
    me = await introspect(channel, token, other["workspaceId"])
    assert (me.workspace_id, me.role) == (other["workspaceId"], "viewer")
    assert (await rest_probe(http, token, other["workspaceId"]))[0] in ACCEPTED
    # Without the header it is still the personal workspace.
    assert (await introspect(channel, token)).workspace_id == shared.workspace_id


# ------------------------------------------------------------------------------------------ request ids


async def _lines_for(gateway: GatewayThread, request_id: str, want: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while True:
        lines = gateway.logs.with_request_id(request_id)
        if len(lines) >= want or time.monotonic() > deadline:
            return lines
        await asyncio.sleep(0.05)


async def test_request_id_crosses_from_rest_to_grpc_and_comes_back(
    http: aiohttp.ClientSession, gateway: GatewayThread, shared: auth_pb2.RegisterResponse
) -> None:
    rid = "test-rid-123"
    headers = {"X-Request-ID": rid}
    status, _, response_headers = await post(
        http, "/auth/login", {"email": shared.user.email, "password": PASSWORD}, headers
    )
    assert status == 200
    assert response_headers["X-Request-ID"] == rid

    status, body, response_headers = await post(
        http, "/auth/login", {"email": shared.user.email, "password": "not the password"}, headers
    )
    assert status == 401
    assert response_headers["X-Request-ID"] == rid
    assert body["requestId"] == rid

    lines = await _lines_for(gateway, rid, 4)
    http_lines = [line for line in lines if line["msg"] == "http"]
    rpc_lines = [line for line in lines if line["msg"] == "rpc"]
    assert sorted(line["status"] for line in http_lines) == [200, 401]
    assert {line["path"] for line in http_lines} == {"/auth/login"}
    assert sorted(line["code"] for line in rpc_lines) == ["OK", "UNAUTHENTICATED"]
    assert {line["method"] for line in rpc_lines} == {"/astra.v1.AuthService/Login"}


async def test_an_unusable_request_id_is_replaced(http: aiohttp.ClientSession, gateway: GatewayThread) -> None:
    status, body, headers = await post(http, "/auth/login", {}, {"X-Request-ID": "x" * 129})
    assert status == 400
    rid = headers["X-Request-ID"]
    assert rid != "x" * 129
    assert uuid.UUID(rid).version == 4
    assert body["requestId"] == rid
    lines = await _lines_for(gateway, rid, 2)
    assert {line["msg"] for line in lines} >= {"http", "rpc"}


# ------------------------------------------------------------------------------------------------- logs


async def test_no_password_or_token_reaches_the_logs(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel, gateway: GatewayThread
) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    wrong = f"wrong-{uuid.uuid4().hex}"
    account = await register(http, password=password)
    logged_in = (await login(http, account["email"], password))["tokens"]
    async with http.post("/auth/login", json={"email": account["email"], "password": wrong}) as resp:
        assert resp.status == 401
    status, body = await refresh(http, logged_in["refreshToken"])
    assert status == 200
    rotated = body["tokens"]
    await introspect(channel, rotated["accessToken"])
    await rest_probe(http, rotated["accessToken"])
    status, _, _ = await post(http, "/auth/logout", {}, {"Authorization": f"Bearer {rotated['accessToken']}"})
    assert status == 200
    stored_hash = (await sql(gateway, "SELECT password_hash FROM users WHERE id = %s", (account["user"]["id"],)))[0][
        "password_hash"
    ]

    secrets = {
        "password": password,
        "wrong password": wrong,
        "password hash": stored_hash,
        "register access token": account["tokens"]["accessToken"],
        "register refresh token": account["tokens"]["refreshToken"],
        "login access token": logged_in["accessToken"],
        "login refresh token": logged_in["refreshToken"],
        "rotated access token": rotated["accessToken"],
        "rotated refresh token": rotated["refreshToken"],
        # A JWT's signature part is the secret-bearing bit; catch it even if the token was cut up.
        "access token signature": logged_in["accessToken"].rsplit(".", 1)[1],
    }
    logged = [json.dumps(line) for line in gateway.logs.lines]
    assert logged, "the gateway logged nothing at all"
    assert any(account["user"]["id"] in line or "/auth/login" in line for line in logged)
    for name, secret in secrets.items():
        leaks = [line for line in logged if secret in line]
        assert not leaks, f"{name} found in logs: {leaks[:1]}"
