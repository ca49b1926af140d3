"""`astra serve [--role all|grpc|edge|worker]`: the gRPC core, the edge and the workers, together or apart;
`astra doctor`: the diagnostic checks, printed as a table."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from aiohttp import web

from edge.app import GATEWAY, EdgeConfig, create_app
from edge.server import EdgeRunner
from server import telemetry
from server.app import Core
from server.config import ConfigError, Settings, load_settings, with_jwt_secret
from server.logs import setup_logging

log = logging.getLogger("astra")

ROLES = ("all", "grpc", "edge", "worker")


def edge_config(settings: Settings, grpc_target: str) -> EdgeConfig:
    """The edge's part of the settings."""
    return EdgeConfig(
        grpc_target=grpc_target,
        cors_origins=settings.cors_origins,
        max_body_bytes=settings.max_body_bytes,
        sse_keepalive_s=settings.sse_keepalive_s,
    )


async def serve(settings: Settings, role: str, ready: asyncio.Event | None = None, copy: int | None = None) -> None:
    """Runs until SIGTERM/SIGINT, then drains: readiness goes 503 for drain_delay_s, in-flight calls get
    shutdown_grace_s to finish. `copy` is set when started by `--processes`: the ports are shared with the
    other copies, and only copy 0 runs the background workers."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    core: Core | None = None
    runner: web.AppRunner | None = None
    if role in ("all", "grpc", "worker"):
        settings = with_jwt_secret(settings)
        core = Core(
            settings,
            serve_api=role != "worker",
            run_workers=role != "grpc" and not copy,
            share_port=copy is not None,
        )
        await core.start()
    if role in ("all", "edge"):
        if role == "edge" and not settings.grpc_target:
            raise ConfigError("ASTRA_GRPC_TARGET is required for --role edge (host:port of the gRPC core)")
        # Beside a core in this process, the edge calls it in-process (server/local_channel.py).
        channel = core.local_channel if core is not None and role == "all" else None
        target = settings.grpc_target if role == "edge" else "in-process"
        config = edge_config(settings, target)
        runner = EdgeRunner(
            create_app(config, channel),
            header_timeout_s=settings.http_header_timeout_s,
            keepalive_timeout=settings.http_keepalive_s,
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=settings.shutdown_grace_s,
        )
        await runner.setup()
        site = web.TCPSite(runner, settings.http_host, settings.http_port, reuse_port=copy is not None)
        await site.start()
        log.info("edge listening", extra={"port": settings.http_port, "grpc_target": target})
    log.info("astra serving", extra={"role": role})
    if ready is not None:
        ready.set()

    await stop.wait()
    log.info("draining", extra={"delay_s": settings.drain_delay_s, "grace_s": settings.shutdown_grace_s})
    if runner is not None:
        runner.app[GATEWAY].draining = True
    if core is not None:
        await core.drain()
    await asyncio.sleep(settings.drain_delay_s)
    await asyncio.gather(
        runner.cleanup() if runner else asyncio.sleep(0),
        core.stop(settings.shutdown_grace_s) if core else asyncio.sleep(0),
    )
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="astra", description="Astra gateway for AI agents")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cmd = sub.add_parser("serve", help="run the gateway")
    serve_cmd.add_argument("--role", choices=ROLES, default="all", help="run one part alone (default: all)")
    serve_cmd.add_argument("--http-port", type=int, help="overrides ASTRA_HTTP_PORT")
    serve_cmd.add_argument("--grpc-port", type=int, help="overrides ASTRA_GRPC_PORT")
    serve_cmd.add_argument(
        "--processes", type=int, help="copies sharing the ports, e.g. one per core (overrides ASTRA_PROCESSES)"
    )
    # Set by --processes on the copies it starts: which copy this is (the first one runs background workers).
    serve_cmd.add_argument("--copy", type=int, default=None, help=argparse.SUPPRESS)
    doctor_cmd = sub.add_parser("doctor", help="run the diagnostic checks and print a report (exit 1 on failure)")
    doctor_cmd.add_argument("--quick", action="store_true", help="connectivity checks only")
    doctor_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        # Flags override their environment variables, so they pass the same checks.
        flags = {
            "ASTRA_HTTP_PORT": getattr(args, "http_port", None),
            "ASTRA_GRPC_PORT": getattr(args, "grpc_port", None),
            "ASTRA_PROCESSES": getattr(args, "processes", None),
        }
        settings = load_settings({**os.environ, **{k: str(v) for k, v in flags.items() if v is not None}})
        if args.command == "doctor":
            from server.diagnostics.doctor import main as doctor

            return doctor(settings, args.quick, args.json)
        setup_logging(settings.log_level)
        if settings.processes > 1 and args.copy is None:
            from server import processes

            return processes.run(settings, args.role, settings.processes)
        # Before anything it instruments is built; each --processes copy comes here and configures its own.
        telemetry.configure(settings, role=args.role)
        asyncio.run(serve(settings, args.role, copy=args.copy))
    except ConfigError as exc:
        print(f"astra: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
