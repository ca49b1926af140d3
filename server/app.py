"""The gRPC core: every contract service (real or UNIMPLEMENTED), interceptors, health and reflection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc

import contract.services
from contract.stubs import message_class
from server import workers
from server.admin.service import AdminService
from server.agents.cache import agent_cache
from server.agents.global_file import load_global_agents
from server.agents.service import AgentsService
from server.auth import passwords
from server.auth.cache import membership_cache
from server.auth.service import AuthService
from server.auth.tokens import AccessTokens
from server.autonomous.service import AutonomousService
from server.chat.pricing import Prices
from server.chat.recovery import Recovery
from server.chat.service import ChatService
from server.config import Settings
from server.costs.service import CostsService
from server.db.database import Database
from server.db.embedded import EmbeddedPostgres, restarts_source
from server.db.lease import Lease
from server.db.migrate import migrate
from server.db.notified import listen
from server.db.pool import make_pool
from server.deps import Deps
from server.diagnostics.service import DiagnosticsService
from server.errors import Unimplemented
from server.health import HealthState
from server.heartbeat.service import HeartbeatService
from server.interceptors.auth import AuthLayer
from server.interceptors.base import LayeredInterceptor
from server.interceptors.errors import ErrorLayer
from server.interceptors.observe import ObserveLayer
from server.interceptors.request_id import RequestIdLayer
from server.local_channel import LocalChannel
from server.mcp.connection import Limits
from server.mcp.hub import McpHub, mcp_server_cache
from server.mcp.service import McpServersService
from server.mcp.targets import load_servers_file
from server.memory.access import MemoryAccess
from server.memory.search import embedder_for
from server.memory.service import MemoryService
from server.metrics import EMBEDDED_DB_RESTARTS
from server.onboarding.service import OnboardingService
from server.openai.service import OpenAIService
from server.paging import PageTokens
from server.providers.registry import Providers
from server.reflection import add_reflection
from server.sessions.history import MessageSearch
from server.sessions.service import SessionsService
from server.skills.catalog import Catalog
from server.skills.service import SkillsService
from server.system.service import SystemService
from server.tools.cache import ToolCache
from server.tools.registry import load_tools
from server.tools.runtime import Capabilities, Outbound, ToolRunner
from server.webhooks.service import WebhooksService
from server.workspaces.cache import workspace_cache
from server.workspaces.service import WorkspacesService

log = logging.getLogger(__name__)

ServicerFactory = Callable[[Deps], Any]


# What implements each contract service (full name -> factory); a contract service not listed answers UNIMPLEMENTED.
SERVICES: dict[str, ServicerFactory] = {
    "astra.v1.AdminService": AdminService,
    "astra.v1.AgentsService": AgentsService,
    "astra.v1.AuthService": AuthService,
    "astra.v1.AutonomousService": AutonomousService,
    "astra.v1.ChatService": ChatService,
    "astra.v1.CostsService": CostsService,
    "astra.v1.DiagnosticsService": DiagnosticsService,
    "astra.v1.HeartbeatService": HeartbeatService,
    "astra.v1.McpServersService": McpServersService,
    "astra.v1.MemoryService": MemoryService,
    "astra.v1.OnboardingService": OnboardingService,
    "astra.v1.OpenAIService": OpenAIService,
    "astra.v1.SessionsService": SessionsService,
    "astra.v1.SkillsService": SkillsService,
    "astra.v1.SystemService": SystemService,
    "astra.v1.WebhooksService": WebhooksService,
    "astra.v1.WorkspacesService": WorkspacesService,
}


GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
]


def _unimplemented(service: ServiceDescriptor) -> grpc.GenericRpcHandler:
    handlers = {}
    for method in service.methods:
        request_cls = message_class(method.input_type)
        response_cls = message_class(method.output_type)
        detail = f"{service.name}.{method.name} is not implemented yet"
        if method.server_streaming:

            async def stream(request: Any, context: Any, detail: str = detail) -> Any:
                raise Unimplemented(detail)
                yield  # makes this an async generator, as grpc.aio expects for streams

            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                stream, request_cls.FromString, response_cls.SerializeToString
            )
        else:

            async def unary(request: Any, context: Any, detail: str = detail) -> Any:
                raise Unimplemented(detail)

            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                unary, request_cls.FromString, response_cls.SerializeToString
            )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


class GenericOnly:
    """The server as the generated `add_*Servicer_to_server` functions see it: methods are served through their
    generic handler only. grpc.aio keeps one pending future per registered method and waits on all of them for
    every incoming call: with this contract's ~74 methods that cost 10-12% of a unary call's CPU (measured).
    The handlers are also kept in `served`, for the in-process channel."""

    def __init__(self, server: grpc.aio.Server, served: list[grpc.GenericRpcHandler]):
        self._server = server
        self._served = served

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(handlers)
        self._served.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        pass


class Core:
    """Owns the database (embedded or external), the pool, health, and the grpc.aio server."""

    def __init__(
        self,
        settings: Settings,
        servicers: dict[str, ServicerFactory | None] | None = None,
        *,
        serve_api: bool = True,
        run_workers: bool = True,
        share_port: bool = False,
    ):
        self.settings = settings
        self.servicers = {**SERVICES, **(servicers or {})}
        # A worker-only process still serves gRPC health (for its probes), but no API.
        self.serve_api = serve_api
        self.run_workers = run_workers
        # Copies started by `serve --processes` bind the same port on purpose (see server/processes.py).
        self.share_port = share_port
        self.stop_workers = asyncio.Event()
        self.worker_tasks: list[asyncio.Task[None]] = []
        self.listener: asyncio.Task[None] | None = None
        self.embedded: EmbeddedPostgres | None = None
        self.lease: Lease | None = None
        self.recovery: Recovery | None = None
        self.server: grpc.aio.Server | None = None
        self.deps: Deps | None = None
        self.port = 0

    async def start(self) -> None:
        settings = self.settings
        # Bad skill manifests, tool plugins or pricing files fail start-up before anything else is touched.
        tools = load_tools()
        self.catalog = Catalog.load(settings.skills_dir, tools.specs)
        # Every replica prices turns the same way.
        prices = Prices.load(settings.pricing_file)
        # The operator's MCP servers: a bad file stops start-up too (their children start on first use).
        mcp_servers = load_servers_file(settings.mcp_servers_file)
        conninfo = settings.database_url
        if settings.embedded_db:
            # Watched from here on: a postmaster that dies is started again (server/db/embedded.py).
            self.embedded = EmbeddedPostgres(settings.data_dir)
            conninfo = await asyncio.to_thread(self.embedded.start)
        EMBEDDED_DB_RESTARTS.source = restarts_source(self.embedded) or EMBEDDED_DB_RESTARTS.source
        await migrate(conninfo)
        pool = make_pool(settings, conninfo)
        await pool.open(wait=True, timeout=30)
        services = contract.services.services()
        health = HealthState([s.full_name for s in services], settings.health_interval_s)
        tokens = AccessTokens(settings.jwt_secret, settings.jwt_secret_prev, settings.access_token_ttl_s)
        if self.embedded is not None:
            loop = asyncio.get_running_loop()
            self.embedded.on_change = lambda: loop.call_soon_threadsafe(health.poke)
        self.lease = Lease(conninfo)
        db = Database(pool, lambda: health.db_ok, self.lease, on_lost=health.poke)
        # Tool handlers get what they use, and no more: the caller's memory and messages, the outbound rules.
        capabilities = Capabilities(
            memory=MemoryAccess(db, embedder_for(settings)),
            messages=MessageSearch(db),
            outbound=Outbound(allow_private=settings.allow_private_urls),
        )
        limits = Limits(settings.mcp_call_timeout_s, settings.mcp_connect_timeout_s, settings.allow_private_urls)
        mcp = McpHub(db, mcp_servers, limits, mcp_server_cache())
        self.deps = deps = Deps(
            settings=settings,
            db=db,
            tokens=tokens,
            health=health,
            pages=PageTokens(settings.jwt_secret),
            catalog=self.catalog,
            providers=Providers(settings),
            prices=prices,
            tools=ToolRunner(
                self.catalog.tools, tools.handlers, cache=ToolCache(db), capabilities=capabilities, source=mcp
            ),
            memberships=membership_cache(),
            visible_agents=agent_cache(),
            workspace_views=workspace_cache(),
            mcp=mcp,
        )

        await health.probe(conninfo, pool)
        # Turns a crash left in flight are closed before this process serves (server/chat/recovery.py).
        await self.lease.start()
        self.recovery = Recovery(db, self.lease, health)
        await self.recovery.start()
        if settings.agents_file:
            count = await load_global_agents(db, settings.agents_file, self.catalog)
            log.info("global agents loaded", extra={"count": count, "file": settings.agents_file})

        layers = LayeredInterceptor(
            [
                RequestIdLayer(settings.trusted_proxies),
                ObserveLayer(),
                ErrorLayer(),
                AuthLayer(tokens, db, deps.memberships, settings.api_keys, deps.api_key_rows),
            ]
        )
        server = grpc.aio.server(
            interceptors=[layers],
            # A second gateway on the same port must fail loudly, not share it silently, unless it is a copy.
            options=[*GRPC_OPTIONS, ("grpc.so_reuseport", int(self.share_port))],
        )
        served: list[grpc.GenericRpcHandler] = []
        generic = GenericOnly(server, served)
        for service in services if self.serve_api else ():
            factory = self.servicers.get(service.full_name)
            if factory is None:
                generic.add_generic_rpc_handlers((_unimplemented(service),))
                continue
            module = contract.services.grpc_modules()[service.full_name]
            getattr(module, f"add_{service.name}Servicer_to_server")(factory(deps), generic)
        health_pb2_grpc.add_HealthServicer_to_server(health.servicer, generic)
        add_reflection(
            [s.full_name for s in services] + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name], generic
        )
        self.port = server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")
        # An edge in this process (`astra serve`) calls the same handlers and layers without a socket.
        self.local_channel = LocalChannel(served, layers.wrap)
        await server.start()
        self.server = server
        health.start(conninfo, pool)
        if self.serve_api:
            self.listener = asyncio.create_task(listen(conninfo, deps.caches), name="cache-listener")
        log.info("grpc core listening", extra={"port": self.port, "api": self.serve_api})
        if self.run_workers:
            for name, worker in workers.WORKERS.items():
                task = asyncio.create_task(workers.supervise(name, worker, deps, self.stop_workers), name=name)
                self.worker_tasks.append(task)
            log.info("workers running", extra={"workers": [t.get_name() for t in self.worker_tasks]})

    async def drain(self) -> None:
        if self.deps:
            await self.deps.health.start_draining()

    async def stop(self, grace: float | None = None) -> None:
        self.stop_workers.set()
        if self.worker_tasks:
            _, pending = await asyncio.wait(self.worker_tasks, timeout=grace or 1)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self.worker_tasks, return_exceptions=True)
        if self.server:
            await asyncio.gather(self.local_channel.close(grace), self.server.stop(grace))
            passwords.shutdown()  # after the calls that hash have finished
        if self.listener:
            self.listener.cancel()
            await asyncio.gather(self.listener, return_exceptions=True)
        if self.recovery is not None:
            await self.recovery.stop()
        if self.lease is not None:
            await self.lease.close()
        if self.deps:
            if self.deps.mcp is not None:
                await self.deps.mcp.close()  # after the calls in flight: stdio children exit
            await self.deps.providers.close()
            await self.deps.health.stop()
            await self.deps.db.pool.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None
