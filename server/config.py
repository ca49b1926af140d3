"""Settings from the environment (ASTRA_*, DATABASE_URL, JWT_SECRET, provider keys), with safe defaults."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from server.net.hosts import parse_entries

MIN_SECRET_BYTES = 32


class ConfigError(Exception):
    """A setting is missing or invalid; the process must not start."""


Env = Mapping[str, str]
# How one variable becomes a field's value: (environment, variable, the field's default) -> value. Each reader
# keeps the default when the variable is unset, and refuses a malformed value with ConfigError.
Reader = Callable[[Env, str, Any], Any]


def _text(env: Env, name: str, default: str) -> str:
    """Taken as written: hosts, paths, secrets and keys keep any spaces they were given."""
    return env.get(name, default)


def _trimmed(env: Env, name: str, default: str) -> str:
    return env.get(name, default).strip()


def _word(env: Env, name: str, default: str) -> str:
    """A lower-case choice (log level, embedding provider); blank keeps the default."""
    return env.get(name, default).strip().lower() or default


def _path(env: Env, name: str, default: Path) -> Path:
    return Path(env[name]) if name in env else default


def _int(env: Env, name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Env, name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _bool(env: Env, name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _list(env: Env, name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _names(env: Env, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Comma-separated; an empty list keeps the default."""
    return _list(env, name) or default


def _seconds(env: Env, name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in _list(env, name)) or default
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated seconds") from None


def _provider_keys(env: Env, name: str, default: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """ASTRA_PROVIDER_KEYS: `host[:port]=ENV_VAR` pairs; the key is read from ENV_VAR, so the setting itself holds
    no secret."""
    pairs = []
    for item in _list(env, name):
        host, _, variable = item.partition("=")
        host, variable = host.strip(), variable.strip()
        if not host or not variable:
            raise ConfigError(f"{name}: expected host[:port]=ENV_VAR, got {item!r}")
        key = env.get(variable, "").strip()
        if not key:
            raise ConfigError(f"{name}: {variable} (the key for {host}) is not set")
        pairs.append((host, key))
    return tuple(pairs) or default


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
    # YAML of the operator's MCP servers (stdio commands, streamable-HTTP URLs) whose tools agents may use.
    mcp_servers_file: str = ""
    # Seconds one MCP tool call may take, and connecting to (or starting) an MCP server may take.
    mcp_call_timeout_s: float = 30.0
    mcp_connect_timeout_s: float = 10.0
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
    # Seconds an idle kept-alive connection stays open (aiohttp's own default is an hour); longer than the usual
    # load balancer's idle timeout (60 s), so the balancer, not Astra, closes first.
    http_keepalive_s: float = 75.0
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


# Environment variable -> (Settings field, how it is read). The defaults are the fields' own, written once above.
ENV: dict[str, tuple[str, Reader]] = {
    "ASTRA_HTTP_HOST": ("http_host", _text),
    "ASTRA_HTTP_PORT": ("http_port", _int),
    "ASTRA_GRPC_HOST": ("grpc_host", _text),
    "ASTRA_GRPC_PORT": ("grpc_port", _int),
    "ASTRA_PROCESSES": ("processes", _int),
    "ASTRA_GRPC_TARGET": ("grpc_target", _trimmed),
    "ASTRA_DATA_DIR": ("data_dir", _path),
    "DATABASE_URL": ("database_url", _trimmed),
    "JWT_SECRET": ("jwt_secret", _text),
    "JWT_SECRET_PREV": ("jwt_secret_prev", _text),
    "ASTRA_API_KEYS": ("api_keys", _names),
    "ASTRA_CORS_ORIGINS": ("cors_origins", _names),
    "ASTRA_TRUSTED_PROXIES": ("trusted_proxies", _names),
    "ASTRA_ALLOW_PRIVATE_URLS": ("allow_private_urls", _bool),
    "ASTRA_AGENTS_FILE": ("agents_file", _text),
    "ASTRA_SKILLS_DIR": ("skills_dir", _text),
    "ASTRA_MCP_SERVERS_FILE": ("mcp_servers_file", _text),
    "ASTRA_MCP_CALL_TIMEOUT_S": ("mcp_call_timeout_s", _float),
    "ASTRA_MCP_CONNECT_TIMEOUT_S": ("mcp_connect_timeout_s", _float),
    "ASTRA_PRICING_FILE": ("pricing_file", _trimmed),
    "ASTRA_HEARTBEAT_MIN_INTERVAL_S": ("heartbeat_min_interval_s", _int),
    "ASTRA_WEBHOOK_RETRY_SCHEDULE": ("webhook_retry_schedule", _seconds),
    "ASTRA_WORKER_POLL_S": ("worker_poll_s", _float),
    "ASTRA_LOG_LEVEL": ("log_level", _word),
    "OPENAI_API_KEY": ("openai_api_key", _text),
    "OPENAI_BASE_URL": ("openai_base_url", _trimmed),
    "ANTHROPIC_API_KEY": ("anthropic_api_key", _text),
    "ANTHROPIC_BASE_URL": ("anthropic_base_url", _trimmed),
    "ASTRA_PROVIDER_HOSTS": ("provider_hosts", _names),
    "ASTRA_PROVIDER_KEYS": ("provider_keys", _provider_keys),
    "ASTRA_DB_POOL_MIN": ("db_pool_min", _int),
    "ASTRA_DB_POOL_MAX": ("db_pool_max", _int),
    "ASTRA_HEALTH_INTERVAL_S": ("health_interval_s", _float),
    "ASTRA_DRAIN_DELAY_S": ("drain_delay_s", _float),
    "ASTRA_SHUTDOWN_GRACE_S": ("shutdown_grace_s", _float),
    "ASTRA_SSE_KEEPALIVE_S": ("sse_keepalive_s", _float),
    "ASTRA_CHAT_RATE_PER_MIN": ("chat_rate_per_min", _int),
    "ASTRA_HTTP_HEADER_TIMEOUT_S": ("http_header_timeout_s", _float),
    "ASTRA_HTTP_KEEPALIVE_S": ("http_keepalive_s", _float),
    "ASTRA_REGISTER_MAX_PER_HOUR": ("register_max_per_hour", _int),
    "ASTRA_EMBEDDING_PROVIDER": ("embedding_provider", _word),
    "ASTRA_EMBEDDING_MODEL": ("embedding_model", _trimmed),
    "ASTRA_EMBEDDING_BASE_URL": ("embedding_base_url", _trimmed),
    "ASTRA_EMBEDDING_API_KEY": ("embedding_api_key", _text),
    "ASTRA_MEMORY_INDEX_INTERVAL_S": ("memory_index_interval_s", _float),
    "ASTRA_MEMORY_INDEX_SHARE": ("memory_index_share", _float),
}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    defaults = {f.name: f.default for f in fields(Settings)}
    settings = Settings(**{name: read(env, variable, defaults[name]) for variable, (name, read) in ENV.items()})
    if settings.log_level not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"ASTRA_LOG_LEVEL must be debug, info, warning or error, got {settings.log_level!r}")
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
    for name, value in (
        ("ASTRA_MCP_CALL_TIMEOUT_S", settings.mcp_call_timeout_s),
        ("ASTRA_MCP_CONNECT_TIMEOUT_S", settings.mcp_connect_timeout_s),
    ):
        if value <= 0:
            raise ConfigError(f"{name} must be above 0, got {value}")
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
