"""JWT secret rotation: with JWT_SECRET=NEW and JWT_SECRET_PREV=OLD the gateway signs with NEW and accepts
tokens signed with either, and nothing else."""

from __future__ import annotations

import time

import aiohttp
import grpc
import jwt
import pytest

from tests.harness import TEST_SECRET
from tests.helpers.accounts import register
from tests.helpers.auth import ACCEPTED, ACCESS_TTL_S, forge, grpc_code, introspect, post, refresh, rest_probe

NEW_SECRET = "rotation-new-secret-0123456789-abcdefghijkl"
OLD_SECRET = "rotation-old-secret-0123456789-abcdefghijkl"
THIRD_SECRET = "rotation-third-secret-0123456789-abcdefghij"

GATEWAY_OPTIONS = {"settings": {"jwt_secret": NEW_SECRET, "jwt_secret_prev": OLD_SECRET}}


async def test_new_tokens_are_signed_with_the_new_secret(http: aiohttp.ClientSession) -> None:
    account = await register(http)
    token = account["tokens"]["accessToken"]
    assert jwt.decode(token, NEW_SECRET, algorithms=["HS256"])["sub"] == account["user"]["id"]
    for secret in (OLD_SECRET, TEST_SECRET):
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, secret, algorithms=["HS256"])
    status, body = await refresh(http, account["tokens"]["refreshToken"])
    assert status == 200
    jwt.decode(body["tokens"]["accessToken"], NEW_SECRET, algorithms=["HS256"])


@pytest.mark.parametrize(
    ("secret", "accepted"),
    [(NEW_SECRET, True), (OLD_SECRET, True), (THIRD_SECRET, False), (TEST_SECRET, False)],
    ids=["new", "previous", "third", "harness-default"],
)
async def test_tokens_signed_with_the_current_or_previous_secret_are_accepted(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel, secret: str, accepted: bool
) -> None:
    account = await register(http)
    token = forge(account["user"]["id"], secret=secret)
    status, body = await rest_probe(http, token)
    if accepted:
        assert status in ACCEPTED, body
        me = await introspect(channel, token)
        assert (me.user_id, me.workspace_id, me.role) == (account["user"]["id"], account["workspaceId"], "owner")
    else:
        assert status == 401, body
        assert body["error"]["code"] == "UNAUTHENTICATED"
        assert await grpc_code(channel, token) == grpc.StatusCode.UNAUTHENTICATED


async def test_previous_secret_tokens_still_expire_and_are_still_revoked(
    http: aiohttp.ClientSession, channel: grpc.aio.Channel
) -> None:
    account = await register(http)
    user_id = account["user"]["id"]
    past = time.time() - 60
    status, body = await rest_probe(http, forge(user_id, secret=OLD_SECRET, iat=past - ACCESS_TTL_S, exp=int(past)))
    assert status == 401
    assert "expired" in body["error"]["message"]
    for claims in ({"typ": "refresh"}, {"sub": "usr_doesnotexist"}):
        assert await grpc_code(channel, forge(user_id, secret=OLD_SECRET, **claims)) == grpc.StatusCode.UNAUTHENTICATED

    # A logout refuses tokens issued before it, whichever secret signed them.
    old_signed = forge(user_id, secret=OLD_SECRET)
    assert (await rest_probe(http, old_signed))[0] in ACCEPTED
    status, _, _ = await post(http, "/auth/logout", {}, {"Authorization": f"Bearer {old_signed}"})
    assert status == 200
    status, body = await rest_probe(http, old_signed)
    assert status == 401
    assert "revoked" in body["error"]["message"]
    assert (await rest_probe(http, account["tokens"]["accessToken"]))[0] == 401
