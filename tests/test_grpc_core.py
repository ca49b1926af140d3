"""The gRPC core as direct callers see it: health, reflection, request ids, auth levels, UNIMPLEMENTED."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from astra.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    agents_pb2,
    agents_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    chat_pb2,
    chat_pb2_grpc,
    costs_pb2,
    costs_pb2_grpc,
    system_pb2,
    system_pb2_grpc,
)
from contract.services import services
from tests.harness import API_KEY, GatewayThread
from tests.helpers.accounts import unique_email

# A deployment may leave a domain out; its methods then answer UNIMPLEMENTED (HTTP 501) after auth.
GATEWAY_SERVICERS = {"astra.v1.CostsService": None}


async def test_health_service_serves_overall_and_per_service(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    overall = await stub.Check(health_pb2.HealthCheckRequest(service=""))
    assert overall.status == health_pb2.HealthCheckResponse.SERVING
    for service in services():
        answer = await stub.Check(health_pb2.HealthCheckRequest(service=service.full_name))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING, service.full_name
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Check(health_pb2.HealthCheckRequest(service="astra.v1.NoSuchService"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_every_contract_service(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def requests():
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names = set()
    async for answer in stub.ServerReflectionInfo(requests()):
        names |= {s.name for s in answer.list_services_response.service}
    expected = {
        f"astra.v1.{name}Service"
        for name in (
            "Auth",
            "Chat",
            "Agents",
            "Sessions",
            "Memory",
            "Workspaces",
            "Webhooks",
            "Heartbeat",
            "Skills",
            "Costs",
            "Autonomous",
            "Onboarding",
            "Admin",
            "Diagnostics",
            "System",
        )
    }
    assert expected <= names
    assert "grpc.health.v1.Health" in names


async def reflect(channel: grpc.aio.Channel, service: str, *requests: reflection_pb2.ServerReflectionRequest) -> list:
    """Answers of the reflection service under `service` (v1 and v1alpha share their messages, field for field)."""
    call = channel.stream_stream(
        f"/{service}/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )(iter(requests))
    return [answer async for answer in call]


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_answers_as_v1_and_v1alpha(channel: grpc.aio.Channel, version: str) -> None:
    service = f"grpc.reflection.{version}.ServerReflection"
    listing, symbol, itself = await reflect(
        channel,
        service,
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="astra.v1.AgentsService"),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=service),
    )
    names = {s.name for s in listing.list_services_response.service}
    assert {
        "astra.v1.AgentsService",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(b) for b in symbol.file_descriptor_response.file_descriptor_proto
    ]
    assert "astra/v1/agents.proto" in {f.name for f in files}
    own = [
        descriptor_pb2.FileDescriptorProto.FromString(b) for b in itself.file_descriptor_response.file_descriptor_proto
    ]
    assert f"grpc.reflection.{version}" in {f.package for f in own}, itself


BUF = Path(__file__).resolve().parents[1] / ".venv/node/node_modules/.bin/buf"


@pytest.mark.skipif(not BUF.exists(), reason="buf is installed by `make lint` (npm)")
async def test_buf_curl_lists_methods_over_reflection_v1(gateway: GatewayThread) -> None:
    """buf curl, a client nobody here wrote, asked to use v1 only."""
    proc = await asyncio.create_subprocess_exec(
        str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect-protocol", "grpc-v1",
        "--list-methods", f"http://{gateway.grpc_target}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "astra.v1.AgentsService/GetAgent" in out.decode().split()


async def test_network_callers_get_the_request_id_in_initial_metadata(channel: grpc.aio.Channel) -> None:
    """A streaming caller sees it before the first message; a unary one as well as in the trailers."""
    # Health's Watch sends its first message only when asked to read: the id must already be there.
    watch = health_pb2_grpc.HealthStub(channel).Watch(
        health_pb2.HealthCheckRequest(), metadata=(("x-request-id", "early-1"),)
    )
    assert dict(await watch.initial_metadata())["x-request-id"] == "early-1"
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()
    call = system_pb2_grpc.SystemServiceStub(channel).Readiness(system_pb2.ReadinessRequest())
    await call
    generated = dict(await call.initial_metadata())["x-request-id"]
    assert len(generated) == 36 and dict(await call.trailing_metadata())["x-request-id"] == generated


async def test_unary_calls_return_the_request_id_in_trailing_metadata(channel: grpc.aio.Channel) -> None:
    stub = system_pb2_grpc.SystemServiceStub(channel)
    call = stub.Readiness(system_pb2.ReadinessRequest(), metadata=(("x-request-id", "direct-caller-42"),))
    assert (await call).ready
    assert dict(await call.trailing_metadata())["x-request-id"] == "direct-caller-42"

    call = stub.Readiness(system_pb2.ReadinessRequest())
    await call
    generated = dict(await call.trailing_metadata())["x-request-id"]
    assert len(generated) == 36 and generated.count("-") == 4

    # An id that is not 1-128 visible ASCII characters is replaced, not trusted.
    call = stub.Readiness(system_pb2.ReadinessRequest(), metadata=(("x-request-id", "x" * 129),))
    await call
    assert dict(await call.trailing_metadata())["x-request-id"] != "x" * 129


async def test_request_id_survives_an_error(channel: grpc.aio.Channel) -> None:
    stub = agents_pb2_grpc.AgentsServiceStub(channel)
    call = stub.ListAgents(agents_pb2.ListAgentsRequest(), metadata=(("x-request-id", "err-1"),))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert dict(err.value.trailing_metadata())["x-request-id"] == "err-1"


async def test_health_watch_streams(channel: grpc.aio.Channel) -> None:
    # A stream handler that writes with context.write (grpc_health's) rather than yielding.
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


async def test_streams_return_the_request_id_with_the_status(channel: grpc.aio.Channel) -> None:
    call = chat_pb2_grpc.ChatServiceStub(channel).ChatStream(
        chat_pb2.ChatStreamRequest(), metadata=(("x-request-id", "stream-8"),)
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call.read()
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert dict(err.value.trailing_metadata())["x-request-id"] == "stream-8"


async def test_jwt_methods_refuse_missing_and_garbled_tokens(channel: grpc.aio.Channel) -> None:
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    for metadata in [(), (("authorization", "Bearer not.a.jwt"),), (("authorization", "Basic abc"),)]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Logout(auth_pb2.LogoutRequest(), metadata=metadata)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_api_key_methods_check_the_key_before_anything_else(channel: grpc.aio.Channel) -> None:
    stub = admin_pb2_grpc.AdminServiceStub(channel)
    request = admin_pb2.GetServerHealthRequest()
    for metadata in [(), (("x-api-key", "wrong"),), (("x-api-key", API_KEY[:-1]),)]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetServerHealth(request, metadata=metadata)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    health = await stub.GetServerHealth(request, metadata=(("x-api-key", API_KEY),))
    assert health.uptime_seconds > 0


async def test_a_jwt_is_not_an_api_key(channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    account = await auth.Register(auth_pb2.RegisterRequest(email=unique_email(), password="correct horse battery"))
    token = account.tokens.access_token
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin_pb2_grpc.AdminServiceStub(channel).GetServerHealth(
            admin_pb2.GetServerHealthRequest(), metadata=(("authorization", f"Bearer {token}"),)
        )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_domain_left_out_answers_unimplemented_after_auth(channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    account = await auth.Register(auth_pb2.RegisterRequest(email=unique_email(), password="correct horse battery"))
    metadata = (("authorization", f"Bearer {account.tokens.access_token}"),)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await costs_pb2_grpc.CostsServiceStub(channel).GetCostSummary(
            costs_pb2.GetCostSummaryRequest(), metadata=metadata
        )
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "GetCostSummary" in err.value.details()


async def test_introspect_names_the_caller_and_workspace(channel: grpc.aio.Channel) -> None:
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    account = await auth.Register(auth_pb2.RegisterRequest(email=unique_email(), password="correct horse battery"))
    me = await auth.Introspect(
        auth_pb2.IntrospectRequest(), metadata=(("authorization", f"Bearer {account.tokens.access_token}"),)
    )
    assert me.user_id == account.user.id
    assert me.workspace_id == account.workspace_id
    assert me.role == "owner"
    # Another user's workspace is not found for this caller, whatever it holds.
    other = await auth.Register(auth_pb2.RegisterRequest(email=unique_email(), password="correct horse battery"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await auth.Introspect(
            auth_pb2.IntrospectRequest(),
            metadata=(
                ("authorization", f"Bearer {account.tokens.access_token}"),
                ("x-workspace-id", other.workspace_id),
            ),
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_metrics_count_calls_per_method(channel: grpc.aio.Channel) -> None:
    stub = system_pb2_grpc.SystemServiceStub(channel)
    await stub.Readiness(system_pb2.ReadinessRequest())
    body = await stub.Metrics(system_pb2.MetricsRequest())
    text = body.data.decode()
    assert body.content_type.startswith("text/plain")
    assert 'astra_grpc_requests_total{code="OK",method="/astra.v1.SystemService/Readiness"}' in text
    assert "astra_grpc_request_duration_seconds_bucket" in text
    assert "process_resident_memory_bytes" in text
