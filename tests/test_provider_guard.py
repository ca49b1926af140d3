"""An agent's own `baseUrl` is written by any workspace member, so the gateway treats it as untrusted: it must pass
the outbound (SSRF) guard when the agent is saved and again on every call, it never receives the operator's
provider keys (only a key the operator configured for its host), redirects are not followed, and what any provider
answers in an error stays in the log instead of being echoed to the caller.

Two gateways share one database, as replicas would: `strict` runs with the default guard plus an allow-list
(ASTRA_PROVIDER_HOSTS) and a per-host key (ASTRA_PROVIDER_KEYS); `open` runs with ASTRA_ALLOW_PRIVATE_URLS. Each
fake vendor on loopback records the headers it received."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from server.config import ConfigError, load_settings
from server.net.hosts import parse_entries
from server.providers.base import ChatMessage, CompletionRequest, ProviderError
from server.providers.endpoints import AgentEndpoints
from server.providers.openai import OpenAIProvider
from tests.harness import GatewayThread, test_settings
from tests.helpers.accounts import register
from tests.helpers.chat import STREAM, chat, kinds, messages_of, sse, turn
from tests.helpers.db import Postgres, sql
from tests.helpers.http import api
from tests.helpers.waiting import wait_until
from tests.providers.fake_vendors import (
    FakeVendor,
    Reply,
    VendorThread,
    anthropic_text_stream,
    collect_until_error,
    openai_error,
    openai_text_stream,
)

OPENAI_KEY = "sk-operator-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-operator-0123456789abcdef"
HOST_KEY = "sk-self-hosted-only-for-its-host-42"
OPENAI, ANTHROPIC = "openai/gpt-4o-mini", "anthropic/claude-sonnet-4"


def host_port(url: str) -> str:
    return url.removeprefix("http://")


@dataclass
class Vendors:
    operator: FakeVendor  # OPENAI_BASE_URL / ANTHROPIC_BASE_URL of both gateways
    allowed: FakeVendor  # in ASTRA_PROVIDER_HOSTS of `strict`, without a key
    keyed: FakeVendor  # in ASTRA_PROVIDER_HOSTS of `strict`, with HOST_KEY in ASTRA_PROVIDER_KEYS
    outside: FakeVendor  # on no list: only `open` lets agents reach it

    def all(self) -> list[FakeVendor]:
        return [self.operator, self.allowed, self.keyed, self.outside]


@pytest.fixture(scope="module")
def vendors() -> Iterator[Vendors]:
    threads = [VendorThread() for _ in range(4)]
    started = [thread.start().vendor for thread in threads]
    yield Vendors(*started)
    for thread in threads:
        thread.stop()


@pytest.fixture(autouse=True)
def fresh_vendors(vendors: Vendors) -> Iterator[None]:
    for vendor in vendors.all():
        vendor.reset()
    yield
    for vendor in vendors.all():
        vendor.reset()


@pytest.fixture(autouse=True)
def closed_circuits(gateways: dict[str, GatewayThread]) -> Iterator[None]:
    """Vendor failures count against each gateway's circuit breakers (five within a minute open one): tests must
    not add up."""
    yield
    for gateway in gateways.values():
        assert gateway.core is not None and gateway.core.deps is not None
        breakers = list(gateway.core.deps.providers.breakers.values())

        async def close(breakers: list = breakers) -> None:
            for breaker in breakers:
                breaker.record_success()

        gateway.run(close())


@pytest.fixture(scope="module")
def gateways(postgres: Postgres, vendors: Vendors) -> Iterator[dict[str, GatewayThread]]:
    url = postgres.fresh_database("provider_guard")
    operator = {"openai_base_url": f"{vendors.operator.url}/v1", "openai_api_key": OPENAI_KEY}
    strict = test_settings(
        url,
        **operator,  # no Anthropic key: an agent with its own server needs none
        provider_hosts=(host_port(vendors.allowed.url), host_port(vendors.keyed.url)),
        provider_keys=((host_port(vendors.keyed.url), HOST_KEY),),
    )
    open_ = test_settings(
        url,
        **operator,
        anthropic_base_url=vendors.operator.url,
        anthropic_api_key=ANTHROPIC_KEY,
        allow_private_urls=True,
    )
    started = {"strict": GatewayThread(strict).start()}
    try:
        started["open"] = GatewayThread(open_).start()
        yield started
    finally:
        for gateway in started.values():
            gateway.stop()


@pytest.fixture
async def strict(gateways: dict[str, GatewayThread]) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=gateways["strict"].http_url) as session:
        yield session


@pytest.fixture
async def open_(gateways: dict[str, GatewayThread]) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=gateways["open"].http_url) as session:
        yield session


@pytest.fixture(scope="module")
def user(gateways: dict[str, GatewayThread]) -> dict:
    async def go() -> dict:
        async with aiohttp.ClientSession(base_url=gateways["strict"].http_url) as session:
            return await register(session)

    return asyncio.run(go())


def slug() -> str:
    return f"guard-{uuid.uuid4().hex[:10]}"


async def create(http: aiohttp.ClientSession, user: dict, **fields: Any) -> tuple[int, Any]:
    status, body, _ = await api(http, "POST", "/agents", user, json={"id": slug(), **fields})
    return status, body


async def created(http: aiohttp.ClientSession, user: dict, **fields: Any) -> str:
    status, body = await create(http, user, **fields)
    assert status == 200, body
    return body["agent"]["id"]


async def onboard(http: aiohttp.ClientSession, user: dict, agents: list[dict]) -> tuple[int, Any]:
    status, body, _ = await api(
        http, "POST", "/onboarding/setup", user, json={"workspace": {"name": "Guarded"}, "agents": agents}
    )
    return status, body


def assert_refused(status: int, body: Any, field: str = "baseUrl") -> None:
    assert (status, body["error"]["code"]) == (400, "INVALID_ARGUMENT"), body
    assert field in body["error"]["message"], body


# ---------------------------------------------------------------------------------------------------------------
# Saving an agent


PRIVATE = [
    "http://127.0.0.1:8000/v1",
    "http://localhost:11434/v1",
    "http://10.0.3.7/v1",
    "http://169.254.169.254/latest",
    "http://[::1]:8000/v1",
    "http://100.64.0.1/v1",
]


@pytest.mark.parametrize("url", PRIVATE)
async def test_a_private_base_url_is_refused_when_an_agent_is_saved(
    strict: aiohttp.ClientSession, gateways: dict[str, GatewayThread], user: dict, url: str
) -> None:
    agent_id = slug()
    status, body, _ = await api(strict, "POST", "/agents", user, json={"id": agent_id, "model": OPENAI, "baseUrl": url})
    assert_refused(status, body)
    assert "ASTRA_PROVIDER_HOSTS" in body["error"]["message"]  # tells the operator's way out
    assert await sql(gateways["strict"], "SELECT 1 FROM agents WHERE id = %s", (agent_id,)) == []

    # Changing an existing agent to point there is refused the same way, and leaves it as it was.
    existing = await created(strict, user, model=OPENAI)
    status, body, _ = await api(strict, "PUT", f"/agents/{existing}", user, json={"model": OPENAI, "baseUrl": url})
    assert_refused(status, body)
    rows = await sql(gateways["strict"], "SELECT config FROM agents WHERE id = %s", (existing,))
    assert "baseUrl" not in rows[0]["config"]

    # Onboarding names the agent, and creates nothing.
    first, second = slug(), slug()
    status, body = await onboard(strict, user, [{"id": first}, {"id": second, "model": OPENAI, "baseUrl": url}])
    assert_refused(status, body, "agents[1].baseUrl")
    assert await sql(gateways["strict"], "SELECT 1 FROM agents WHERE id = ANY(%s)", ([first, second],)) == []


async def test_a_loopback_port_not_on_the_allow_list_is_refused(
    strict: aiohttp.ClientSession, vendors: Vendors, user: dict
) -> None:
    status, body = await create(strict, user, model=OPENAI, baseUrl=f"{vendors.outside.url}/v1")
    assert_refused(status, body)
    # The allow-list names host:port: the same host is accepted on the allowed vendor's port only.
    assert await created(strict, user, model=OPENAI, baseUrl=f"{vendors.allowed.url}/v1")


@pytest.mark.parametrize(
    ("suffix", "why"),
    [
        ("/v1?x=", "query"),
        ("/v1?", "query"),
        ("/v1#top", "fragment"),
        ("USERINFO", "user name or password"),
    ],
)
@pytest.mark.parametrize("gateway_name", ["strict", "open"])
async def test_query_strings_fragments_and_credentials_are_refused_even_for_allowed_hosts(
    gateways: dict[str, GatewayThread], vendors: Vendors, user: dict, suffix: str, why: str, gateway_name: str
) -> None:
    base = vendors.allowed.url
    url = f"http://probe:secret@{host_port(base)}/v1" if suffix == "USERINFO" else f"{base}{suffix}"
    async with aiohttp.ClientSession(base_url=gateways[gateway_name].http_url) as http:
        status, body = await create(http, user, model=OPENAI, baseUrl=url)
        assert_refused(status, body)
        assert why in body["error"]["message"], body
        status, body = await onboard(http, user, [{"id": slug(), "model": OPENAI, "baseUrl": url}])
        assert_refused(status, body, "agents[0].baseUrl")
    assert vendors.allowed.requests == []


# ---------------------------------------------------------------------------------------------------------------
# Keys


async def test_with_private_urls_allowed_an_agents_own_server_never_gets_the_operators_keys(
    open_: aiohttp.ClientSession, vendors: Vendors, user: dict
) -> None:
    own_openai = await created(open_, user, model=OPENAI, baseUrl=f"{vendors.outside.url}/v1")
    own_anthropic = await created(open_, user, model=ANTHROPIC, baseUrl=vendors.outside.url)
    vendors.outside.script(
        Reply(chunks=openai_text_stream(["From my own server."])),
        Reply(chunks=anthropic_text_stream(["Mine too."])),
    )
    status, body, _ = await chat(open_, user, turn(own_openai, "hi"))
    assert (status, body["content"]) == (200, "From my own server."), body
    status, body, _ = await chat(open_, user, turn(own_anthropic, "hi"))
    assert (status, body["content"]) == (200, "Mine too."), body
    to_openai, to_anthropic = vendors.outside.requests
    assert to_openai.path == "/v1/chat/completions" and "Authorization" not in to_openai.headers
    assert to_anthropic.path == "/v1/messages" and "x-api-key" not in to_anthropic.headers
    for request in (to_openai, to_anthropic):
        assert OPENAI_KEY not in str(request.headers) and ANTHROPIC_KEY not in str(request.headers)

    # The operator's own base URL still gets the operator's keys.
    operator_openai = await created(open_, user, model=OPENAI)
    operator_anthropic = await created(open_, user, model=ANTHROPIC)
    vendors.operator.script(
        Reply(chunks=openai_text_stream(["Operator."])), Reply(chunks=anthropic_text_stream(["Operator too."]))
    )
    assert (await chat(open_, user, turn(operator_openai, "hi")))[0] == 200
    assert (await chat(open_, user, turn(operator_anthropic, "hi")))[0] == 200
    to_openai, to_anthropic = vendors.operator.requests
    assert to_openai.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert to_anthropic.headers["x-api-key"] == ANTHROPIC_KEY


async def test_an_allow_listed_host_works_without_private_urls_and_gets_only_its_own_key(
    strict: aiohttp.ClientSession, vendors: Vendors, user: dict
) -> None:
    keyless = await created(strict, user, model=OPENAI, baseUrl=f"{vendors.allowed.url}/v1")
    keyed_openai = await created(strict, user, model=OPENAI, baseUrl=f"{vendors.keyed.url}/v1")
    # No ANTHROPIC_API_KEY on this gateway: an agent with its own server needs none.
    keyed_anthropic = await created(strict, user, model=ANTHROPIC, baseUrl=vendors.keyed.url)
    status, caps, _ = await api(strict, "GET", f"/agents/{keyed_anthropic}/capabilities", user)
    assert status == 200 and caps["canChat"] is True, caps

    vendors.allowed.script(Reply(chunks=openai_text_stream(["Keyless."])))
    vendors.keyed.script(Reply(chunks=openai_text_stream(["Keyed."])), Reply(chunks=anthropic_text_stream(["Yes."])))
    for agent, answer in ((keyless, "Keyless."), (keyed_openai, "Keyed."), (keyed_anthropic, "Yes.")):
        status, body, _ = await chat(strict, user, turn(agent, "hi"))
        assert (status, body.get("content")) == (200, answer), body

    (to_allowed,) = vendors.allowed.requests
    assert "Authorization" not in to_allowed.headers
    to_openai, to_anthropic = vendors.keyed.requests
    assert to_openai.headers["Authorization"] == f"Bearer {HOST_KEY}"
    assert to_anthropic.headers["x-api-key"] == HOST_KEY and "Authorization" not in to_anthropic.headers
    assert vendors.operator.requests == []

    # Without a server of its own, an Anthropic agent still needs the operator's key, which this gateway lacks.
    operators = await created(strict, user, model=ANTHROPIC)
    status, caps, _ = await api(strict, "GET", f"/agents/{operators}/capabilities", user)
    assert status == 200 and caps["canChat"] is False and "ANTHROPIC_API_KEY" in caps["cannotChatReason"], caps


# ---------------------------------------------------------------------------------------------------------------
# The check on every call


async def test_an_agent_saved_where_its_host_was_allowed_is_refused_at_call_time(
    open_: aiohttp.ClientSession, strict: aiohttp.ClientSession, vendors: Vendors, user: dict
) -> None:
    # Saved through the replica that allows private URLs; called through one that does not (as after the operator
    # tightened the rules, or after the host's DNS moved onto the private network).
    agent = await created(open_, user, model=OPENAI, baseUrl=f"{vendors.outside.url}/v1")
    vendors.outside.script(*[Reply(chunks=openai_text_stream(["must not happen"]))] * 3)

    status, events = await sse(strict, user, turn(agent, "hello"))
    assert status == 200, events
    assert kinds(events) == ["session_resolved", "error"]
    error = events[-1][1]
    assert error["code"] == "provider_error" and "baseUrl" in error["message"], error

    status, body, _ = await chat(strict, user, turn(agent, "hello"))
    assert status == 502 and "baseUrl" in body["error"]["message"], body
    assert vendors.outside.requests == []  # nothing was sent, not even without a key


async def test_an_agent_whose_stored_base_url_was_changed_behind_the_guard_is_refused(
    strict: aiohttp.ClientSession, gateways: dict[str, GatewayThread], vendors: Vendors, user: dict
) -> None:
    agent = await created(strict, user, model=OPENAI, baseUrl=f"{vendors.allowed.url}/v1")
    await sql(
        gateways["strict"],
        "UPDATE agents SET config = jsonb_set(config, '{baseUrl}', to_jsonb(%s::text)), version = version + 1,"
        " updated_at = now() WHERE id = %s",
        (f"{vendors.outside.url}/v1", agent),
    )

    async def changed() -> bool:  # each replica's agent cache hears of the change through NOTIFY
        status, body, _ = await api(strict, "GET", f"/agents/{agent}", user)
        return status == 200 and body["agent"]["baseUrl"] == f"{vendors.outside.url}/v1"

    await wait_until(changed, what="the changed agent")
    status, body, _ = await chat(strict, user, turn(agent, "hello"))
    assert status == 502 and "baseUrl" in body["error"]["message"], body
    assert vendors.outside.requests == [] and vendors.allowed.requests == []


async def test_a_redirect_from_an_agents_server_is_not_followed(vendors: Vendors) -> None:
    endpoints = AgentEndpoints(hosts=parse_entries([host_port(vendors.allowed.url)]))
    provider = OpenAIProvider(OPENAI_KEY, f"{vendors.operator.url}/v1", agent_endpoints=endpoints)
    vendors.allowed.script(Reply(status=307, body="", headers={"Location": f"{vendors.outside.url}/v1/x"}))
    request = turn_request(f"{vendors.allowed.url}/v1")
    try:
        _, error = await collect_until_error(provider.stream(request))
    finally:
        await provider.close()
    assert error.status == 307 and "HTTP 307" in error.message
    assert vendors.outside.requests == [] and vendors.operator.requests == []


async def test_the_call_time_check_refuses_without_sending_anything(vendors: Vendors) -> None:
    provider = OpenAIProvider(OPENAI_KEY, f"{vendors.operator.url}/v1")  # default rules: no private hosts
    try:
        _, error = await collect_until_error(provider.stream(turn_request(f"{vendors.outside.url}/v1")))
    finally:
        await provider.close()
    assert isinstance(error, ProviderError)
    assert (error.status, error.retryable) == (400, False)  # the agent's configuration: no retry, no circuit count
    assert "baseUrl" in error.message and "loopback" in error.message
    assert vendors.outside.requests == [] and vendors.operator.requests == []


def turn_request(base_url: str) -> CompletionRequest:
    return CompletionRequest(model="m", messages=(ChatMessage("user", "hi"),), base_url=base_url)


# ---------------------------------------------------------------------------------------------------------------
# Error bodies


async def test_a_vendors_error_body_reaches_the_log_not_the_caller(
    strict: aiohttp.ClientSession, gateways: dict[str, GatewayThread], vendors: Vendors, user: dict
) -> None:
    agent = await created(strict, user, model=OPENAI)
    logs = gateways["strict"].logs

    marker = f"internal-{uuid.uuid4().hex}"
    vendors.operator.script(Reply(status=401, body=openai_error(f"{marker} from the admin console")))
    rid = f"guard-{uuid.uuid4().hex[:8]}"
    status, body, _ = await chat(strict, user, turn(agent, "hello"), headers={"X-Request-ID": rid})
    assert status == 502, body
    assert body["error"]["message"] == "openai: the provider answered HTTP 401"
    assert marker not in json.dumps(body)
    assert any(marker in line.get("excerpt", "") for line in logs.with_request_id(rid)), logs.with_request_id(rid)

    # A 500 (retried, then given up) over SSE: the error frame names the status, the log keeps the body.
    marker = f"stacktrace-{uuid.uuid4().hex}"
    vendors.operator.script(*[Reply(status=500, body=f"{marker}: db password is hunter2")] * 3)
    rid = f"guard-{uuid.uuid4().hex[:8]}"
    status, events = await sse(strict, user, turn(agent, "hello"), headers={"X-Request-ID": rid})
    assert status == 200 and kinds(events) == ["session_resolved", "error"], events
    error = events[-1][1]
    assert "HTTP 500" in error["message"] and marker not in json.dumps(error), error
    assert len(vendors.operator.requests) == 4
    assert sum(marker in line.get("excerpt", "") for line in logs.with_request_id(rid)) == 3  # one per attempt
    # The failure stored with the turn is the same short message.
    rows = await messages_of(gateways["strict"], events[0][1]["sessionId"])
    assert rows[-1]["error"] and marker not in rows[-1]["error"]


async def test_an_agents_server_cannot_be_read_through_error_messages(
    strict: aiohttp.ClientSession, vendors: Vendors, user: dict
) -> None:
    # The probe's shape: an allowed self-hosted server answering with something the caller must not see.
    agent = await created(strict, user, model=OPENAI, baseUrl=f"{vendors.allowed.url}/v1")
    vendors.allowed.script(Reply(status=404, body="<html>internal wiki: root password</html>"))
    async with strict.post(STREAM, json=turn(agent, "x"), headers=_bearer(user)) as resp:
        raw = await resp.text()
    assert "provider_error" in raw and "HTTP 404" in raw and "internal wiki" not in raw


def _bearer(user: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['tokens']['accessToken']}"}


# ---------------------------------------------------------------------------------------------------------------
# Settings


def test_provider_hosts_and_keys_are_read_from_the_environment_and_keys_stay_out_of_reprs() -> None:
    settings = load_settings(
        {
            "ASTRA_PROVIDER_HOSTS": "localhost:11434, 10.0.3.7",
            "ASTRA_PROVIDER_KEYS": "10.0.3.7:8000=VLLM_KEY",
            "VLLM_KEY": "sk-vllm-secret-value",
        }
    )
    assert settings.provider_hosts == ("localhost:11434", "10.0.3.7")
    assert settings.provider_keys == (("10.0.3.7:8000", "sk-vllm-secret-value"),)
    assert "sk-vllm-secret-value" not in repr(settings)
    endpoints = AgentEndpoints.from_settings(settings)
    assert "sk-vllm-secret-value" not in repr(endpoints)
    assert endpoints.key_for("http://10.0.3.7:8000/v1") == "sk-vllm-secret-value"
    assert endpoints.key_for("http://10.0.3.7:8001/v1") == ""  # the key is for that port only


@pytest.mark.parametrize(
    "env",
    [
        {"ASTRA_PROVIDER_HOSTS": "http://10.0.3.7/"},
        {"ASTRA_PROVIDER_HOSTS": "10.0.3.7:notaport"},
        {"ASTRA_PROVIDER_KEYS": "10.0.3.7"},
        {"ASTRA_PROVIDER_KEYS": "10.0.3.7=UNSET_VARIABLE_FOR_THIS_TEST"},
    ],
)
def test_bad_provider_settings_stop_the_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="ASTRA_PROVIDER_"):
        load_settings(env)
