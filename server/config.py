"""Settings from the environment (ASTRA_*, DATABASE_URL, JWT_SECRET, provider keys), with safe defaults."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from server.net.hosts import parse_entries

MIN_SECRET_BYTES = 32


class ConfigError(Exception):
    """A setting is missing or invalid; the process must not start."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _provider_keys(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """ASTRA_PROVIDER_KEYS: `host[:port]=ENV_VAR` pairs; the key is read from ENV_VAR, so the setting itself holds
    no secret."""
    pairs = []
    for item in _list(env, "ASTRA_PROVIDER_KEYS"):
        host, _, variable = item.partition("=")
        host, variable = host.strip(), variable.strip()
        if not host or not variable:
            raise ConfigError(f"ASTRA_PROVIDER_KEYS: expected host[:port]=ENV_VAR, got {item!r}")
        key = env.get(variable, "").strip()
        if not key:
            raise ConfigError(f"ASTRA_PROVIDER_KEYS: {variable} (the key for {host}) is not set")
        pairs.append((host, key))
    return tuple(pairs)


@dataclass(frozen=True)
class Settings:
    http_host: str = "0.0.0.0"
    http_port: int = 3000
    grpc_host: str = "0.0.0.0"
    grpc_port: int = 50051
    processes: int = 1
    # Where the edge role finds the core; in one process it is the local gRPC port.
    grpc_target: str = ""
    data_dir: Path = Path(".astra")
    database_url: str = ""
    jwt_secret: str = field(default="", repr=False)
    jwt_secret_prev: str = field(default="", repr=False)
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    cors_origins: tuple[str, ...] = ()
    # gRPC peers whose x-forwarded-for is believed (the edge); in Kubernetes, the pod network's CIDR.
    trusted_proxies: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    allow_private_urls: bool = False
    agents_file: str = ""
    skills_dir: str = ""
    # YAML/JSON {"provider/model": {"input": usd_per_million, "output": usd_per_million}} over the shipped prices.
    pricing_file: str = ""
    heartbeat_min_interval_s: int = 60
    webhook_retry_schedule: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    # Seconds a background worker (webhook dispatcher, heartbeat scheduler) sleeps when it finds no due work.
    worker_poll_s: float = 1.0
    log_level: str = "info"
    openai_api_key: str = field(default="", repr=False)
    openai_base_url: str = ""
    anthropic_api_key: str = field(default="", repr=False)
    anthropic_base_url: str = ""
    # Hosts (`host` or `host:port`) an agent's own baseUrl may reach on a private network (self-hosted models).
    provider_hosts: tuple[str, ...] = ()
    # (host[:port], key) for agents' own baseUrls: the only key such a call carries (ASTRA_PROVIDER_KEYS).
    provider_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    db_pool_min: int = 2
    db_pool_max: int = 10
    # Seconds between database probes that drive gRPC health and readiness.
    health_interval_s: float = 2.0
    # After SIGTERM: readiness answers 503 for drain_delay_s so load balancers stop sending traffic,
    # then in-flight calls get shutdown_grace_s to finish.
    drain_delay_s: float = 5.0
    shutdown_grace_s: float = 25.0
    sse_keepalive_s: float = 15.0
    # Seconds a client has to send a request's headers (from connecting, or from the next request's first byte).
    http_header_timeout_s: float = 10.0
    max_body_bytes: int = 1024 * 1024
    # Chat turns per user per minute over REST and gRPC, across replicas (/ws has its own 30); 0: no limit.
    chat_rate_per_min: int = 120
    login_max_failures: int = 10
    login_window_s: int = 600
    # Registrations per client address per hour, across replicas; 0: no limit.
    register_max_per_hour: int = 20
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 7 * 24 * 3600
    # Memory embeddings: "local" (all-MiniLM-L6-v2 in-process) or "openai" (any OpenAI-compatible /embeddings
    # returning 384-dimensional vectors; the dimension is fixed by the schema).
    embedding_provider: str = "local"
    embedding_model: str = ""
    embedding_base_url: str = ""
    embedding_api_key: str = field(default="", repr=False)
    # Seconds the memory indexer sleeps when nothing is waiting for an embedding.
    memory_index_interval_s: float = 0.5
    # The share of its time the local indexer may spend embedding while chat turns are running in its process.
    memory_index_share: float = 0.25

    @property
    def embedded_db(self) -> bool:
        return not self.database_url

    @property
    def core_target(self) -> str:
        return self.grpc_target or f"127.0.0.1:{self.grpc_port}"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    schedule_raw = _list(env, "ASTRA_WEBHOOK_RETRY_SCHEDULE")
    try:
        schedule = tuple(int(s) for s in schedule_raw) if schedule_raw else Settings.webhook_retry_schedule
    except ValueError:
        raise ConfigError("ASTRA_WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds") from None
    log_level = env.get("ASTRA_LOG_LEVEL", "info").strip().lower() or "info"
    if log_level not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"ASTRA_LOG_LEVEL must be debug, info, warning or error, got {log_level!r}")
    settings = Settings(
        http_host=env.get("ASTRA_HTTP_HOST", "0.0.0.0"),
        http_port=_int(env, "ASTRA_HTTP_PORT", 3000),
        grpc_host=env.get("ASTRA_GRPC_HOST", "0.0.0.0"),
        grpc_port=_int(env, "ASTRA_GRPC_PORT", 50051),
        processes=_int(env, "ASTRA_PROCESSES", 1),
        grpc_target=env.get("ASTRA_GRPC_TARGET", "").strip(),
        data_dir=Path(env.get("ASTRA_DATA_DIR", ".astra")),
        database_url=env.get("DATABASE_URL", "").strip(),
        jwt_secret=env.get("JWT_SECRET", ""),
        jwt_secret_prev=env.get("JWT_SECRET_PREV", ""),
        api_keys=_list(env, "ASTRA_API_KEYS"),
        cors_origins=_list(env, "ASTRA_CORS_ORIGINS"),
        trusted_proxies=_list(env, "ASTRA_TRUSTED_PROXIES") or Settings.trusted_proxies,
        allow_private_urls=_bool(env, "ASTRA_ALLOW_PRIVATE_URLS", False),
        agents_file=env.get("ASTRA_AGENTS_FILE", ""),
        skills_dir=env.get("ASTRA_SKILLS_DIR", ""),
        pricing_file=env.get("ASTRA_PRICING_FILE", "").strip(),
        heartbeat_min_interval_s=_int(env, "ASTRA_HEARTBEAT_MIN_INTERVAL_S", 60),
        webhook_retry_schedule=schedule,
        worker_poll_s=_float(env, "ASTRA_WORKER_POLL_S", 1.0),
        log_level=log_level,
        openai_api_key=env.get("OPENAI_API_KEY", ""),
        openai_base_url=env.get("OPENAI_BASE_URL", "").strip(),
        anthropic_api_key=env.get("ANTHROPIC_API_KEY", ""),
        anthropic_base_url=env.get("ANTHROPIC_BASE_URL", "").strip(),
        provider_hosts=_list(env, "ASTRA_PROVIDER_HOSTS"),
        provider_keys=_provider_keys(env),
        db_pool_min=_int(env, "ASTRA_DB_POOL_MIN", 2),
        db_pool_max=_int(env, "ASTRA_DB_POOL_MAX", 10),
        health_interval_s=_float(env, "ASTRA_HEALTH_INTERVAL_S", 2.0),
        drain_delay_s=_float(env, "ASTRA_DRAIN_DELAY_S", 5.0),
        shutdown_grace_s=_float(env, "ASTRA_SHUTDOWN_GRACE_S", 25.0),
        sse_keepalive_s=_float(env, "ASTRA_SSE_KEEPALIVE_S", 15.0),
        chat_rate_per_min=_int(env, "ASTRA_CHAT_RATE_PER_MIN", 120),
        http_header_timeout_s=_float(env, "ASTRA_HTTP_HEADER_TIMEOUT_S", 10.0),
        register_max_per_hour=_int(env, "ASTRA_REGISTER_MAX_PER_HOUR", 20),
        embedding_provider=env.get("ASTRA_EMBEDDING_PROVIDER", "local").strip().lower() or "local",
        embedding_model=env.get("ASTRA_EMBEDDING_MODEL", "").strip(),
        embedding_base_url=env.get("ASTRA_EMBEDDING_BASE_URL", "").strip(),
        embedding_api_key=env.get("ASTRA_EMBEDDING_API_KEY", ""),
        memory_index_interval_s=_float(env, "ASTRA_MEMORY_INDEX_INTERVAL_S", 0.5),
        memory_index_share=_float(env, "ASTRA_MEMORY_INDEX_SHARE", 0.25),
    )
    if settings.processes < 1:
        raise ConfigError(f"ASTRA_PROCESSES must be at least 1, got {settings.processes}")
    if settings.chat_rate_per_min < 0:
        raise ConfigError(f"ASTRA_CHAT_RATE_PER_MIN must be 0 (no limit) or more, got {settings.chat_rate_per_min}")
    if settings.register_max_per_hour < 0:
        raise ConfigError(
            f"ASTRA_REGISTER_MAX_PER_HOUR must be 0 (no limit) or more, got {settings.register_max_per_hour}"
        )
    if not 0 < settings.memory_index_share <= 1:
        raise ConfigError(f"ASTRA_MEMORY_INDEX_SHARE must be above 0 and at most 1, got {settings.memory_index_share}")
    if settings.embedding_provider not in ("local", "openai"):
        raise ConfigError(f"ASTRA_EMBEDDING_PROVIDER must be local or openai, got {settings.embedding_provider!r}")
    for cidr in settings.trusted_proxies:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(f"ASTRA_TRUSTED_PROXIES: {cidr!r} is not an address or CIDR range") from None
    hosts = {"ASTRA_PROVIDER_HOSTS": settings.provider_hosts, "ASTRA_PROVIDER_KEYS": dict(settings.provider_keys)}
    for name, entries in hosts.items():
        try:
            parse_entries(entries)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    if settings.jwt_secret_prev and len(settings.jwt_secret_prev.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"JWT_SECRET_PREV must be at least {MIN_SECRET_BYTES} bytes")
    return settings


def with_jwt_secret(settings: Settings) -> Settings:
    """Checks JWT_SECRET; in the embedded dev default, generates one once and keeps it under the data dir."""
    from dataclasses import replace

    if settings.jwt_secret:
        if len(settings.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return settings
    if not settings.embedded_db:
        raise ConfigError("JWT_SECRET is required when DATABASE_URL is set (at least 32 bytes)")
    path = settings.data_dir / "jwt_secret"
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return replace(settings, jwt_secret=path.read_text().strip())
