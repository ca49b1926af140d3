"""The 12 diagnostic checks in 6 categories. They run concurrently (the runtime check just before the rest), each
under its own timeout, and never raise: a failure becomes a `fail` result whose detail says what is wrong and how
to fix it. The same module serves GET /diagnostics (pooled connections) and `astra doctor` (its own connections)."""

from __future__ import annotations

import asyncio
import importlib
import os
import resource
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import psycopg
from psycopg import AsyncConnection

from server.audit.log import verify
from server.config import MIN_SECRET_BYTES, Settings
from server.db.migrate import pending
from server.providers.availability import provider_configured
from server.providers.openai import DEFAULT_OPENAI_BASE_URL
from server.restrictions import DEFAULT_MODEL, split_model

PASS, WARN, FAIL = "pass", "warn", "fail"
_RANK = {PASS: 0, WARN: 1, FAIL: 2}
DEFAULT_TIMEOUT_S = 5.0
EMBEDDINGS_TIMEOUT_S = 15.0  # the first call may load the model from disk
DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"
# Worker thresholds (seconds) before warn / fail.
BACKLOG_WARN_S, BACKLOG_FAIL_S = 300, 3600
HEARTBEAT_GRACE_S = 300
LAG_WARN_MS, LAG_FAIL_MS = 100.0, 500.0


@dataclass
class Env:
    """What the checks may touch."""

    settings: Settings
    connection: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    # The JWT secret was generated under ASTRA_DATA_DIR (embedded dev default), not configured.
    generated_secret: bool = False
    # Open breakers per provider, when running inside the server.
    breaker_states: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    id: str
    category: str
    status: str
    duration_ms: float
    detail: str


class Outcome(Exception):
    """Raised by a check to end with a status other than pass."""

    def __init__(self, status: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


CheckFn = Callable[[Env], Awaitable[str]]  # returns the pass detail, or raises Outcome / any error (fail)


async def _scalar(env: Env, sql: str, params: Any = ()) -> Any:
    async with env.connection() as conn:
        cur = await conn.execute(sql, params)
        row = await cur.fetchone()
    return next(iter(row.values())) if row else None


# --- database -------------------------------------------------------------------------------------------------


async def database_connect(env: Env) -> str:
    started = time.perf_counter()
    version = await _scalar(env, "SELECT current_setting('server_version')")
    return f"connected to PostgreSQL {version} in {(time.perf_counter() - started) * 1000:.1f} ms"


async def database_migrations(env: Env) -> str:
    if not await _scalar(env, "SELECT to_regclass('schema_migrations') IS NOT NULL"):
        raise Outcome(FAIL, "the database has no schema yet: start `astra serve` once to apply the migrations")
    async with env.connection() as conn:
        missing = await pending(conn)
    if missing:
        raise Outcome(FAIL, f"pending migrations: {', '.join(missing)}; restart `astra serve` to apply them")
    return "all migrations applied"


async def database_pgvector(env: Env) -> str:
    version = await _scalar(env, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    if not version:
        raise Outcome(FAIL, "extension vector is not installed: install pgvector and run CREATE EXTENSION vector")
    return f"pgvector {version}"


# --- search ---------------------------------------------------------------------------------------------------


async def search_fulltext(env: Env) -> str:
    async with env.connection() as conn:
        cur = await conn.execute(
            "SELECT to_regclass('messages_tsv_idx') IS NOT NULL AS indexed,"
            " to_tsvector('english', 'diagnostics running') @@ plainto_tsquery('english', 'run') AS matches"
        )
        row = await cur.fetchone()
    assert row is not None
    if not row["indexed"]:
        raise Outcome(FAIL, "GIN index messages_tsv_idx is missing: message search will scan every row")
    if not row["matches"]:
        raise Outcome(FAIL, "full-text search does not match (english text search configuration broken?)")
    return "GIN index present, english stemming works"


async def search_embeddings(env: Env) -> str:
    try:
        # Imported here: the memory domain (and its numpy model) is optional for the rest of the checks.
        search = importlib.import_module("server.memory.search")
        embedder = search.embedder_for(env.settings)
    except (ImportError, AttributeError) as exc:
        raise Outcome(WARN, f"embedding model unavailable ({exc}); memory search uses full text only") from None
    vectors = await embedder.embed(["astra diagnostics"])
    dims = len(vectors[0])
    return f"{getattr(embedder, 'name', 'embedder')} loads and encodes ({dims} dimensions)"


# --- providers ------------------------------------------------------------------------------------------------


def _configured_providers(settings: Settings) -> list[str]:
    return [p for p in ("local", "openai", "anthropic") if provider_configured(settings, p)[0]]


async def providers_default(env: Env) -> str:
    provider, _ = split_model(DEFAULT_MODEL)
    ok, why = provider_configured(env.settings, provider)
    if not ok:
        raise Outcome(FAIL, why)
    configured = _configured_providers(env.settings)
    open_breakers = [p for p, state in env.breaker_states.items() if p in configured and state != "closed"]
    if open_breakers:
        raise Outcome(WARN, f"circuit breaker not closed for: {', '.join(open_breakers)} (recent provider failures)")
    return f"default model {DEFAULT_MODEL}; configured providers: {', '.join(configured)}"


async def _probe(session: aiohttp.ClientSession, name: str, url: str, headers: dict[str, str]) -> str:
    """'' when the vendor answered and accepted the key; otherwise what went wrong."""
    try:
        async with session.get(url, headers=headers) as resp:
            if resp.status in (401, 403):
                return f"{name}: key rejected (HTTP {resp.status})"
            if resp.status >= 500:
                return f"{name}: HTTP {resp.status}"
            return ""
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"{name}: unreachable ({type(exc).__name__} {exc})".replace(" )", ")")


async def providers_reachable(env: Env) -> str:
    s = env.settings
    targets: list[tuple[str, str, dict[str, str]]] = []
    if provider_configured(s, "openai")[0]:
        base = (s.openai_base_url or DEFAULT_OPENAI_BASE_URL).rstrip("/")
        targets.append(
            ("openai", f"{base}/models", {"Authorization": f"Bearer {s.openai_api_key}"} if s.openai_api_key else {})
        )
    if provider_configured(s, "anthropic")[0]:
        base = (s.anthropic_base_url or DEFAULT_ANTHROPIC_BASE_URL).rstrip("/")
        targets.append(
            ("anthropic", f"{base}/v1/models", {"x-api-key": s.anthropic_api_key, "anthropic-version": "2023-06-01"})
        )
    if not targets:
        return "only the offline local provider is configured (nothing to reach)"
    timeout = aiohttp.ClientTimeout(total=DEFAULT_TIMEOUT_S - 1)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        problems = [p for p in await asyncio.gather(*(_probe(session, *t) for t in targets)) if p]
    if problems:
        raise Outcome(FAIL, "; ".join(problems))
    return f"reachable: {', '.join(t[0] for t in targets)}"


# --- security -------------------------------------------------------------------------------------------------


async def security_secrets(env: Env) -> str:
    s = env.settings
    secret_bytes = len(s.jwt_secret.encode())
    if secret_bytes < MIN_SECRET_BYTES:
        raise Outcome(FAIL, f"JWT_SECRET is {secret_bytes} bytes; it must be at least {MIN_SECRET_BYTES}")
    warnings = []
    if env.generated_secret:
        warnings.append("JWT_SECRET is the generated development secret; set your own in production")
    if len(set(s.jwt_secret)) < 8:
        warnings.append("JWT_SECRET has very few distinct characters")
    if not s.api_keys:
        warnings.append("ASTRA_API_KEYS is empty: admin, diagnostics and autonomous routes are unusable")
    short = sum(1 for k in s.api_keys if len(k) < 16)
    if short:
        warnings.append(f"{short} API key(s) shorter than 16 characters")
    if warnings:
        raise Outcome(WARN, "; ".join(warnings))
    return f"JWT secret {secret_bytes} bytes; {len(s.api_keys)} API key(s) set"


async def security_audit_chain(env: Env) -> str:
    if not await _scalar(env, "SELECT to_regclass('audit_log') IS NOT NULL"):
        raise Outcome(FAIL, "table audit_log is missing: apply the migrations (start `astra serve`)")
    async with env.connection() as conn:
        report = await verify(conn)
    if report.broken_at is not None:
        raise Outcome(
            FAIL,
            f"audit chain broken at entry {report.broken_at}: {report.reason}; "
            f"{report.entries} entries before it verify",
        )
    return f"{report.entries} entries, chain intact"


# --- workers --------------------------------------------------------------------------------------------------


_UNKNOWN_SCHEMA = (psycopg.errors.UndefinedColumn, psycopg.errors.UndefinedTable)


async def _table(env: Env, *names: str) -> str | None:
    for name in names:
        if await _scalar(env, "SELECT to_regclass(%s)::text", (name,)):
            return name
    return None


def _age(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


async def workers_webhook_backlog(env: Env) -> str:
    table = await _table(env, "webhook_deliveries")
    if table is None:
        raise Outcome(WARN, "webhook delivery is not installed")
    try:
        # How long the oldest due delivery has waited for a worker to attempt it.
        oldest = await _scalar(
            env,
            "SELECT extract(epoch FROM now() - min(due_at)) FROM webhook_deliveries"
            " WHERE status = 'pending' AND due_at <= now()",
        )
    except _UNKNOWN_SCHEMA as exc:
        raise Outcome(WARN, f"webhook_deliveries has an unexpected schema ({exc}); check not applicable") from None
    if oldest is None:
        return "no deliveries due"
    oldest = float(oldest)
    if oldest > BACKLOG_FAIL_S:
        raise Outcome(FAIL, f"oldest due delivery has waited {_age(oldest)}: is any worker running?")
    if oldest > BACKLOG_WARN_S:
        raise Outcome(WARN, f"oldest due delivery has waited {_age(oldest)}")
    return f"oldest due delivery has waited {_age(oldest)}"


async def workers_heartbeat(env: Env) -> str:
    table = await _table(env, "heartbeats")
    if table is None:
        raise Outcome(WARN, "heartbeat monitors are not installed")
    try:
        overdue = await _scalar(
            env,
            f"SELECT count(*) FROM {table} WHERE enabled AND next_run_at < now() - make_interval(secs => %s)",
            (HEARTBEAT_GRACE_S,),
        )
    except _UNKNOWN_SCHEMA as exc:
        raise Outcome(WARN, f"{table} has an unexpected schema ({exc}); check not applicable") from None
    if overdue:
        raise Outcome(WARN, f"{overdue} heartbeat monitor(s) overdue by more than {_age(HEARTBEAT_GRACE_S)}")
    return "no heartbeat monitor overdue"


# --- runtime --------------------------------------------------------------------------------------------------


async def event_loop_lag_ms(samples: int = 3, interval_s: float = 0.02) -> float:
    """How late the event loop wakes a sleeper, worst of a few samples."""
    worst = 0.0
    for _ in range(samples):
        started = time.perf_counter()
        await asyncio.sleep(interval_s)
        worst = max(worst, (time.perf_counter() - started - interval_s) * 1000)
    return round(worst, 3)


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak, in KiB on Linux


def _memory_limit() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            raw = f.read().strip()
        return None if raw == "max" else int(raw)
    except (OSError, ValueError):
        return None


async def runtime_process(env: Env) -> str:
    lag = await event_loop_lag_ms()
    rss = rss_bytes()
    limit = _memory_limit()
    detail = f"event-loop lag {lag:.1f} ms; RSS {rss / 2**20:.0f} MiB" + (
        f" of {limit / 2**20:.0f} MiB limit" if limit else ""
    )
    share = rss / limit if limit else 0.0
    if lag > LAG_FAIL_MS or share > 0.95:
        raise Outcome(FAIL, detail + ": the process is overloaded")
    if lag > LAG_WARN_MS or share > 0.8:
        raise Outcome(WARN, detail)
    return detail


# --- running --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    id: str
    category: str
    fn: CheckFn
    timeout_s: float = DEFAULT_TIMEOUT_S
    quick: bool = False


CHECKS: tuple[Check, ...] = (
    Check("database.connect", "database", database_connect, quick=True),
    Check("database.migrations", "database", database_migrations),
    Check("database.pgvector", "database", database_pgvector),
    Check("search.fulltext", "search", search_fulltext),
    Check("search.embeddings", "search", search_embeddings, EMBEDDINGS_TIMEOUT_S),
    Check("providers.default", "providers", providers_default),
    Check("providers.reachable", "providers", providers_reachable, quick=True),
    Check("security.secrets", "security", security_secrets),
    Check("security.audit_chain", "security", security_audit_chain),
    Check("workers.webhook_backlog", "workers", workers_webhook_backlog),
    Check("workers.heartbeat", "workers", workers_heartbeat),
    Check("runtime.process", "runtime", runtime_process),
)


async def run_check(check: Check, env: Env) -> Result:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(check.timeout_s):
            status, detail = PASS, await check.fn(env)
    except Outcome as outcome:
        status, detail = outcome.status, outcome.detail
    except TimeoutError:
        status, detail = FAIL, f"timed out after {check.timeout_s:g} s"
    except Exception as exc:  # a check never breaks the run: what it hit is its result
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        status, detail = FAIL, f"{type(exc).__name__}: {first_line}".rstrip(": ")
    return Result(check.id, check.category, status, round((time.perf_counter() - started) * 1000, 3), detail)


@dataclass(frozen=True)
class Run:
    kind: str  # full or quick
    started_at: datetime
    duration_ms: float
    results: list[Result]

    @property
    def status(self) -> str:
        return max((r.status for r in self.results), key=_RANK.__getitem__, default=PASS)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


async def run_all(env: Env, quick: bool = False) -> Run:
    started_at, started = datetime.now(UTC), time.perf_counter()
    checks = [c for c in CHECKS if c.quick or not quick]
    # The runtime check goes first, alone: measured during the others, the event loop's lag would be the run's own
    # (the embedding model loading in a thread holds the GIL), not the process's.
    alone = [await run_check(c, env) for c in checks if c.category == "runtime"]
    together = await asyncio.gather(*(run_check(c, env) for c in checks if c.category != "runtime"))
    by_id = {r.id: r for r in [*alone, *together]}
    results = [by_id[c.id] for c in checks]
    return Run("quick" if quick else "full", started_at, round((time.perf_counter() - started) * 1000, 3), results)


def format_table(run: Run) -> str:
    """The run as a terminal table (`astra doctor`)."""
    marks = {PASS: "PASS", WARN: "WARN", FAIL: "FAIL"}
    width = max(len(r.id) for r in run.results)
    lines = [f"astra doctor: {run.kind} run, {len(run.results)} checks in {run.duration_ms:.0f} ms", ""]
    for r in run.results:
        lines.append(f"  {marks[r.status]}  {r.id:<{width}}  {r.duration_ms:8.1f} ms  {r.detail}")
    lines += [
        "",
        f"{run.count(PASS)} passed, {run.count(WARN)} warned, {run.count(FAIL)} failed: {run.status.upper()}",
    ]
    return "\n".join(lines)
