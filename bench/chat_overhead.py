"""What the gateway adds to a streamed chat turn, as a user gets it, measured on one clock with the provider.

`astra serve` on its defaults (log level info, rate limits on, the memory indexer running) in front of a fake
OpenAI-compatible provider on loopback (bench/fake_openai.py: 30-40 content chunks, no sleeps) that records when
each request arrived and when it wrote its first and last chunk, keyed by a marker in the user message. The client
records when it sent the turn, received the first content chunk and saw the turn end, on the same clock
(CLOCK_MONOTONIC), so the provider's own time is subtracted exactly:

  gateway share of the first token = (client first chunk - sent) - (provider first chunk - provider arrival)
  request in → provider called     = provider arrival - sent
  relay                            = client first chunk - provider first chunk written
  gateway share of the whole turn  = (client done - sent) - (provider last chunk - provider arrival)

Each run starts a fresh gateway and measures, for the provider reached through OPENAI_BASE_URL (`operator`) and
through an agent's own `baseUrl` (`agent_base_url`, allowed by ASTRA_PROVIDER_HOSTS): 200 turns per transport (SSE
/agent/chat/stream, /ws, gRPC ChatStream, OpenAI /v1/chat/completions streamed with a personal API key) as
conversations of 25 turns with seeded 100-400-character messages, every conversation's turns interleaved with the
others' so that drift touches every transport alike; then one conversation over SSE driven past the history window
(figures per 25 turns); then /agent/chat at 50 concurrent clients for a bounded number of turns (turns/s and the
CPU of the gateway's process tree, its embedded PostgreSQL included, per turn). Every run counts: each figure is
printed as the median of the runs and their [min-max] range, beside its target. Loopback only; every loop is
bounded; the gateway and the fake are stopped on exit.

Users: one per conversation slot and provider mode (its REST/gRPC turns stay under ASTRA_CHAT_RATE_PER_MIN's 120 a
minute and its /ws turns under 30), so no chat limit is switched off; only registrations are unlimited
(ASTRA_REGISTER_MAX_PER_HOUR=0: every user comes from 127.0.0.1; no turn touches it). A 429 is waited out and the
turn sent again; the waits are reported. The agent is `--agent plain` (model and system prompt, what POST /agents
gives: no memory recall, no skills) unless `--agent memory`. The old three-way comparison of the memory indexer is
gone: `--env ASTRA_MEMORY_INDEX_SHARE=1` or `--env ASTRA_MEMORY_INDEX_INTERVAL_S=3600` measures either variant.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chat_sessions import (
    SESSIONS,
    TIMEOUT,
    ChatSession,
    DirectSession,
    RateLimited,
    SseSession,
    Talk,
    Turn,
    TurnFailed,
)
from bench.common import Gateway, clock_ns, cpu_check_s, free_port, percentiles, save, settle, spread, tree_cpu_s

MODEL = "openai/gpt-4o-mini"
PASSWORD = "bench password 123"
TRANSPORTS = ("sse", "ws", "grpc", "openai")
MODES = ("operator", "agent_base_url")
# REST and gRPC turns a user may start in a minute is 120 (ASTRA_CHAT_RATE_PER_MIN): bench users stay below.
TURNS_PER_USER = 100
SYSTEM_PROMPT = (
    "You are Nova, the operations assistant of a small software company. Answer in plain English, briefly, and say "
    "when you are unsure. Prefer concrete steps over general advice, name the settings or commands involved, and "
    "never invent log lines, numbers or incidents you were not told about. When a question touches production, "
    "mention the risk and how to roll back. Keep answers under 200 words unless asked for more."
)
# The agent a user creates: `plain` is what POST /agents gives with a model and a system prompt (no memory recall,
# no skills); `memory` adds recall from every memory tier and two built-in skills (their prompt context and tools).
AGENTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "memory": {"skills": ["memory", "conversations"], "memory": {"tiers": ["session", "daily", "profile", "notes"]}},
}
# (label, target in ms or None, figure in a transport's per-run figures, percentile)
ROWS = (
    ("gateway share of first token p50", 2.0, "gateway_first_token", "p50_ms"),
    ("gateway share of first token p99", 5.0, "gateway_first_token", "p99_ms"),
    ("request in -> provider called p50", None, "request_to_provider", "p50_ms"),
    ("provider 1st chunk -> client 1st chunk p50", 0.5, "relay", "p50_ms"),
    ("gateway share of whole turn p50", 4.0, "gateway_turn", "p50_ms"),
    ("client first token p50 (raw)", None, "client_first_token", "p50_ms"),
    ("client whole turn p50 (raw)", None, "client_turn", "p50_ms"),
    ("gateway's own overheadMs p50", None, "reported_overhead", "p50_ms"),
)
CPU_TARGET_MS = 3.0


def history_window_turns() -> int:
    """Turns whose messages a turn reads back (server/chat/opening.py HISTORY_LIMIT: user + assistant each)."""
    try:
        from server.chat.opening import HISTORY_LIMIT
    except ImportError:
        HISTORY_LIMIT = 200
    return HISTORY_LIMIT // 2


def start_fake(ports: list[int], chunks: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, str(Path(__file__).parent / "fake_openai.py"), "--chunks", chunks]
    proc = subprocess.Popen([*args, *(f"--port={port}" for port in ports)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if all(urllib.request.urlopen(f"http://127.0.0.1:{p}/", timeout=1).status == 200 for p in ports):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("fake provider did not start")


class Fake:
    """The fake provider's two doors (one per provider mode) and its table of timings."""

    def __init__(self, operator_port: int, agent_port: int):
        self.operator_url = f"http://127.0.0.1:{operator_port}"
        self.agent_host = f"127.0.0.1:{agent_port}"
        self.agent_url = f"http://{self.agent_host}"

    async def timings(self) -> dict[str, dict[str, int]]:
        """Every request recorded since the last call, which forgets them."""
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            async with http.get(f"{self.operator_url}/timings") as resp:
                found = (await resp.json())["timings"]
            async with http.delete(f"{self.operator_url}/timings") as resp:
                resp.raise_for_status()
        return found


class User:
    """A registered user with an agent per provider mode and a personal API key."""

    def __init__(self, name: str):
        self.name = name
        self.token = ""
        self.api_key = ""
        self.agents: dict[str, str] = {}


async def set_up(gw: Gateway, fake: Fake, users: list[User], modes: list[str], agent: str, run: int) -> None:
    """Registers the users (two at a time: password hashing has two threads), then their agents and keys."""
    gate = asyncio.Semaphore(2)

    async def one(http: aiohttp.ClientSession, user: User) -> None:
        email = f"{user.name}-{uuid.uuid4().hex[:8]}@example.com"
        async with gate, http.post(f"{gw.http_url}/auth/register", json={"email": email, "password": PASSWORD}) as r:
            assert r.ok, await r.text()
            user.token = (await r.json())["tokens"]["accessToken"]
        auth = {"Authorization": f"Bearer {user.token}"}
        for mode in modes:
            agent_id = f"r{run}-{user.name}-{'op' if mode == 'operator' else 'url'}"
            body = {"id": agent_id, "model": MODEL, "systemPrompt": SYSTEM_PROMPT, **AGENTS[agent]}
            if mode == "agent_base_url":
                body["baseUrl"] = f"{fake.agent_url}/v1"
            async with http.post(f"{gw.http_url}/agents", json=body, headers=auth) as r:
                assert r.ok, await r.text()
            user.agents[mode] = agent_id
        async with http.post(f"{gw.http_url}/auth/keys", json={"name": "bench"}, headers=auth) as r:
            assert r.ok, await r.text()
            user.api_key = (await r.json())["secret"]

    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        await asyncio.gather(*(one(http, user) for user in users))


def session_for(gw: Gateway, transport: str, key: str, user: User, mode: str, surface_id: str) -> ChatSession:
    credential = user.api_key if transport == "openai" else user.token
    base = gw.grpc_target if transport == "grpc" else gw.http_url
    return SESSIONS[transport](key, base, credential, user.agents[mode], surface_id)


async def take(session: ChatSession, talk: Talk, index: int, waits: list[float]) -> Turn:
    """One turn, sent again after a 429's wait (at most 3 times); a turn that fails stops the bench."""
    marker, text = talk.next()
    for _ in range(4):
        turn = Turn(session.key, index, marker)
        try:
            await session.turn(turn, text)
        except RateLimited as exc:
            waits.append(exc.seconds)
            await asyncio.sleep(min(exc.seconds, 65))
            continue
        if not (turn.first and turn.done):
            raise TurnFailed(f"{session.key} turn {index}: no content chunk or no end of turn")
        return turn
    raise TurnFailed(f"{session.key} turn {index}: still rate limited")


async def conversations(
    plan: list[tuple[ChatSession, Talk, int]], waits: list[float], on_turn: Any = None
) -> list[Turn]:
    """Drives every conversation one turn at a time, round-robin (the starting one rotating), so consecutive turns
    of a conversation are apart as a person's are, and drift in the machine's speed touches every one alike."""
    turns: list[Turn] = []
    opened: list[ChatSession] = []
    try:
        for session, _, _ in plan:
            await session.open()
            opened.append(session)
        for index in range(max(n for _, _, n in plan)):
            shift = index % len(plan)
            for session, talk, n in plan[shift:] + plan[:shift]:
                if index < n:
                    turns.append(await take(session, talk, index + 1, waits))
    finally:
        for session in opened:
            await session.close()
    return turns


def shares(turn: Turn, provider: dict[str, int]) -> dict[str, float]:
    """The figures of one turn, in seconds."""
    own_first = provider["first_ns"] - provider["arrived_ns"]
    own_turn = provider["last_ns"] - provider["arrived_ns"]
    ns = {
        "gateway_first_token": (turn.first - turn.sent) - own_first,
        "request_to_provider": provider["arrived_ns"] - turn.sent,
        "relay": turn.first - provider["first_ns"],
        "gateway_turn": (turn.done - turn.sent) - own_turn,
        "client_first_token": turn.first - turn.sent,
        "client_turn": turn.done - turn.sent,
        "provider_first_token": own_first,
        "provider_turn": own_turn,
    }
    return {name: value / 1e9 for name, value in ns.items()}


def figures(turns: list[Turn], timings: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Percentiles of each figure over the turns; every turn must have reached the provider."""
    lost = [t.marker for t in turns if "last_ns" not in timings.get(t.marker, {})]
    if lost:
        raise TurnFailed(f"{len(lost)} turns have no provider timings (e.g. marker {lost[0]})")
    per_turn = [shares(t, timings[t.marker]) for t in turns]
    result: dict[str, Any] = {name: percentiles([s[name] for s in per_turn]) for name in per_turn[0]}
    reported = [t.reported_ms / 1000 for t in turns if t.reported_ms is not None]
    if reported:
        result["reported_overhead"] = percentiles(reported)
    result["provider_calls_beyond_one"] = sum(timings[t.marker]["calls"] - 1 for t in turns)
    return result


async def turn_phases(gw: Gateway) -> dict[str, tuple[float, float]]:
    """The gateway's astra_turn_phase_seconds histogram (server/telemetry.py): (sum, count) per phase."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(f"{gw.http_url}/metrics") as resp:
        text = await resp.text()
    found: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "astra_turn_phase_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith(("_sum", "_count")):
                pair = found.setdefault(sample.labels["phase"], [0.0, 0.0])
                pair[sample.name.endswith("_count")] += sample.value
    return {name: (total, count) for name, (total, count) in found.items()}


def phase_means(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Mean ms per occurrence of each turn phase between two readings (the measured turns, all transports)."""
    means = {}
    for name, (total, count) in after.items():
        total0, count0 = before.get(name, (0.0, 0.0))
        if count > count0:
            means[name] = round((total - total0) * 1000 / (count - count0), 3)
    return means


def by_key(turns: list[Turn]) -> dict[str, list[Turn]]:
    groups: dict[str, list[Turn]] = {}
    for turn in turns:
        groups.setdefault(turn.key, []).append(turn)
    return groups


def bins(total: int, width: int = 25) -> list[tuple[int, int]]:
    return [(low, min(low + width - 1, total)) for low in range(1, total + 1, width)]


async def chat_unary(gw: Gateway, users: list[User], clients: int, total: int, seed: int, waits: list[float]) -> dict:
    """POST /agent/chat from `clients` concurrent clients, `total` turns in all: turns/s, the client's latency, and
    CPU of the gateway's process tree per turn (`python`: the gateway and its embedding worker; `postgres`)."""
    latencies: list[float] = []

    async def client(i: int, http: aiohttp.ClientSession, n: int) -> None:
        user, talk = users[i % len(users)], Talk(f"{seed}/chat/{i}")
        headers = {"Authorization": f"Bearer {user.token}"}
        for _ in range(n):
            _, text = talk.next()
            body = {"agentId": user.agents["operator"], "message": text, "surfaceId": f"chat-{clients}-{i}"}
            for _ in range(4):
                sent = clock_ns()
                async with http.post(f"{gw.http_url}/agent/chat", json=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status == 429:
                        waits.append(float(resp.headers.get("Retry-After", "1")))
                        await asyncio.sleep(min(waits[-1], 65))
                        continue
                    if resp.status != 200:
                        raise TurnFailed(f"/agent/chat: HTTP {resp.status}")
                latencies.append((clock_ns() - sent) / 1e9)
                break

    per_client = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as http:
        cpu_before, started = tree_cpu_s(gw.proc.pid), time.perf_counter()
        await asyncio.gather(*(client(i, http, n) for i, n in enumerate(per_client) if n))
        elapsed, cpu_after = time.perf_counter() - started, tree_cpu_s(gw.proc.pid)
    cpu = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
    postgres = sum(v for name, v in cpu.items() if name.startswith("postgres"))
    python = sum(cpu.values()) - postgres
    return {
        "clients": clients,
        "turns": total,
        "turns_per_s": round(total / elapsed, 1),
        "gateway_cpu_ms_per_turn": round((python + postgres) * 1000 / total, 3),
        "python_cpu_ms_per_turn": round(python * 1000 / total, 3),
        "postgres_cpu_ms_per_turn": round(postgres * 1000 / total, 3),
        "latency": percentiles(latencies),
    }


async def one_run(run: int, fake: Fake, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    speed = cpu_check_s()
    slots = math.ceil(args.turns / args.session_turns)
    chat_users = max(1, min(max(args.concurrency), math.ceil(args.chat_turns / TURNS_PER_USER)))
    with Gateway(env=env) as gw:
        latency_users = {(mode, s): User(f"s{s}-{mode[:2]}") for mode in args.modes for s in range(slots)}
        warm, curve_user = User("warm"), User("curve")
        chat = [User(f"chat{i}") for i in range(chat_users)]
        await set_up(gw, fake, [*latency_users.values(), warm, curve_user, *chat], args.modes, args.agent, run)
        waits: list[float] = []

        # Start-up (connections, caches, the embedding model) is not what a turn costs: a few turns each way, then
        # the gateway settles. These turns are the only ones not counted.
        warm_plan = [
            (session_for(gw, t, f"warm/{m}/{t}", warm, m, f"warm-{t}"), Talk(f"{args.seed}/warm/{m}/{t}"), args.warmup)
            for m in args.modes
            for t in args.transports
        ]
        await conversations(warm_plan, waits)
        await fake.timings()
        settle(gw.proc.pid)

        plan = []
        for s in range(slots):
            n = min(args.session_turns, args.turns - s * args.session_turns)
            for mode in args.modes:
                for transport in args.transports:
                    key = f"{mode}/{transport}"
                    session = session_for(gw, transport, key, latency_users[(mode, s)], mode, f"{transport}-{s}")
                    plan.append((session, Talk(f"{args.seed}/{key}/{s}"), n))
        phases_before = await turn_phases(gw)
        latency = by_key(await conversations(plan, waits))
        timings = await fake.timings()
        result: dict[str, Any] = {"cpu_check_s": speed, "latency": {}}
        result["phases"] = phase_means(phases_before, await turn_phases(gw))
        for mode in args.modes:
            result["latency"][mode] = {t: figures(latency[f"{mode}/{t}"], timings) for t in args.transports}

        # The client library and loopback alone, no gateway: the floor under every figure above.
        direct = DirectSession("direct", fake.operator_url, "bench-key", "", "")
        floor = await conversations([(direct, Talk(f"{args.seed}/direct"), args.turns)], waits)
        result["floor"] = figures(floor, await fake.timings())

        curve_session = SseSession("curve", gw.http_url, curve_user.token, curve_user.agents[args.modes[0]], "curve")
        curve = await conversations([(curve_session, Talk(f"{args.seed}/curve"), args.curve_turns)], waits)
        timings = await fake.timings()
        result["curve"] = {f"{low}-{high}": figures(curve[low - 1 : high], timings) for low, high in bins(len(curve))}

        result["chat"] = {}
        for clients in args.concurrency:
            settle(gw.proc.pid)
            figures_c = await chat_unary(gw, chat, clients, args.chat_turns, args.seed, waits)
            result["chat"][f"c{clients}"] = figures_c
            await fake.timings()
        result["rate_limit_waits_s"] = [round(w, 2) for w in waits]
    return result


def summarise(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Each figure over the runs: median and range. Nothing is left out."""

    def over(path: list[str]) -> dict[str, float] | None:
        values = []
        for run in runs:
            node: Any = run
            for step in path:
                node = node.get(step) if isinstance(node, dict) else None
            if node is not None:
                values.append(node)
        return spread(values) if values else None

    latency = {
        mode: {
            t: {f"{fig}_{q[:3]}": over(["latency", mode, t, fig, q]) for _, _, fig, q in ROWS} for t in args.transports
        }
        for mode in args.modes
    }
    floor = {f"{fig}_{q[:3]}": over(["floor", fig, q]) for _, _, fig, q in ROWS[:5]}
    curve_bins = list(runs[0]["curve"])
    curve = {
        b: {
            name: over(["curve", b, fig, q])
            for name, fig, q in (
                ("gateway_first_token_p50", "gateway_first_token", "p50_ms"),
                ("gateway_first_token_p99", "gateway_first_token", "p99_ms"),
                ("request_to_provider_p50", "request_to_provider", "p50_ms"),
                ("gateway_turn_p50", "gateway_turn", "p50_ms"),
            )
        }
        for b in curve_bins
    }
    chat_figures = ("turns_per_s", "gateway_cpu_ms_per_turn", "python_cpu_ms_per_turn", "postgres_cpu_ms_per_turn")
    chat = {
        c: {name: over(["chat", c, name]) for name in chat_figures}
        | {f"latency_{q}": over(["chat", c, "latency", q]) for q in ("p50_ms", "p99_ms")}
        for c in runs[0]["chat"]
    }
    phases = {name: over(["phases", name]) for name in runs[0].get("phases", {})}
    return {"latency": latency, "floor": floor, "curve": curve, "chat": chat, "phases": phases}


def cell(s: dict[str, float] | None, target: float | None = None) -> str:
    if s is None:
        return "-"
    mark = "" if target is None else (" ok" if s["median"] <= target else " OVER")
    return f"{s['median']:.2f} [{s['min']:.2f}-{s['max']:.2f}]{mark}"


def report(summary: dict[str, Any], args: argparse.Namespace, runs: list[dict[str, Any]]) -> str:
    n = len(runs)
    lines = [
        f"chat_overhead: {n} run(s), each a fresh `astra serve`; figures are the median of the runs [min-max], in ms;"
        f" {args.turns} turns per transport as {args.session_turns}-turn conversations, model {MODEL},"
        f" agent '{args.agent}', answers of {args.chunks} chunks.",
        f"machine speed per run (s for a fixed loop; higher is slower): {[r['cpu_check_s'] for r in runs]}",
    ]
    width = 44
    for mode, transports in summary["latency"].items():
        how = "OPENAI_BASE_URL" if mode == "operator" else "the agent's own baseUrl (ASTRA_PROVIDER_HOSTS)"
        lines += ["", f"Provider reached through {how} [{mode}]"]
        lines.append(f"{'':{width}}{'target':>8}  " + "".join(f"{t:<26}" for t in transports))
        for label, target, fig, q in ROWS:
            key = f"{fig}_{q[:3]}"
            goal = f"<= {target:g}" if target is not None else ""
            row = "".join(f"{cell(transports[t][key], target):<26}" for t in transports)
            lines.append(f"{label:<{width}}{goal:>8}  {row}")
    if summary["phases"]:
        lines += [
            "",
            "Where a measured turn's time goes (the gateway's astra_turn_phase_seconds, mean ms per occurrence; the"
            " provider phase includes the provider's own time):",
            "  " + ", ".join(f"{name} {cell(value)}" for name, value in summary["phases"].items()),
        ]
    floor = summary["floor"]
    lines += [
        "",
        "Floor (the same client calling the fake directly, no gateway): share of first token p50"
        f" {cell(floor['gateway_first_token_p50'])}, relay p50 {cell(floor['relay_p50'])}, share of whole turn p50"
        f" {cell(floor['gateway_turn_p50'])}",
        "",
        f"One conversation over SSE [{args.modes[0]}], {args.curve_turns} turns (the history window is"
        f" {history_window_turns()} turns; the model sees what fits the agent's 8192-token context):",
        f"{'turns':<10}"
        + "".join(f"{h:<26}" for h in ("first token p50", "first token p99", "in->provider p50"))
        + "whole turn p50",
    ]
    for b, row in summary["curve"].items():
        values = ("gateway_first_token_p50", "gateway_first_token_p99", "request_to_provider_p50", "gateway_turn_p50")
        lines.append(f"{b:<10}" + "".join(f"{cell(row[v]):<26}" for v in values))
    for c, row in summary["chat"].items():
        turns = runs[0]["chat"][c]["turns"]
        lines += [
            "",
            f"/agent/chat at {c[1:]} clients, {turns} turns: {cell(row['turns_per_s'])} turns/s; gateway CPU per turn"
            f" {cell(row['gateway_cpu_ms_per_turn'], CPU_TARGET_MS)} (target <= {CPU_TARGET_MS:g}; Python"
            f" {cell(row['python_cpu_ms_per_turn'])}, its PostgreSQL {cell(row['postgres_cpu_ms_per_turn'])});"
            f" latency p50 {cell(row['latency_p50_ms'])}, p99 {cell(row['latency_p99_ms'])}",
        ]
    waits = [w for r in runs for w in r["rate_limit_waits_s"]]
    lines.append(f"\nrate-limit waits: {len(waits)} ({sum(waits):.1f} s)")
    return "\n".join(lines)


def fake_provider(chunks: str) -> tuple[subprocess.Popen[bytes], Fake, dict[str, str]]:
    """The fake provider started on its two doors, and the gateway settings that reach it as OPENAI_BASE_URL, at the
    gateway's default log level (bench.common.Gateway would quieten it)."""
    operator_port, agent_port = free_port(), free_port()
    proc = start_fake([operator_port, agent_port], chunks)
    fake = Fake(operator_port, agent_port)
    env = {"OPENAI_BASE_URL": f"{fake.operator_url}/v1", "OPENAI_API_KEY": "bench-key", "ASTRA_LOG_LEVEL": "info"}
    return proc, fake, env


async def main(args: argparse.Namespace) -> None:
    fake_proc, fake, provider_env = fake_provider(args.chunks)
    env = {
        **provider_env,
        "ASTRA_PROVIDER_HOSTS": fake.agent_host,
        "ASTRA_REGISTER_MAX_PER_HOUR": "0",  # the bench registers its users from one address
        **dict(pair.split("=", 1) for pair in args.env),
    }
    runs = []
    try:
        for run in range(args.runs):
            runs.append(await one_run(run, fake, args, env))
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    finally:
        fake_proc.terminate()
        fake_proc.wait(10)
    summary = summarise(runs, args)
    config = {
        "runs": args.runs,
        "turns_per_transport": args.turns,
        "session_turns": args.session_turns,
        "curve_turns": args.curve_turns,
        "history_window_turns": history_window_turns(),
        "chat_turns": args.chat_turns,
        "model": MODEL,
        "agent": args.agent,
        "chunks": args.chunks,
        "seed": args.seed,
        "gateway_env": {k: v for k, v in env.items() if k != "OPENAI_API_KEY"},
    }
    result = {"config": config, "summary": summary, "runs": runs}
    save("chat_overhead", result, report(summary, args, runs), print_json=False)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh gateways; every run counts")
    parser.add_argument("-n", "--turns", type=int, default=200, help="turns per transport and provider mode")
    parser.add_argument("--session-turns", type=int, default=25, help="turns per conversation")
    parser.add_argument("--curve-turns", type=int, default=history_window_turns() + 20)
    parser.add_argument("-c", "--concurrency", type=int, nargs="+", default=[50], help="/agent/chat clients")
    parser.add_argument("--chat-turns", type=int, default=1000, help="/agent/chat turns in all, per concurrency")
    parser.add_argument("--warmup", type=int, default=5, help="uncounted turns per transport and mode, per run")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--transports", nargs="+", choices=TRANSPORTS, default=list(TRANSPORTS))
    parser.add_argument("--agent", choices=list(AGENTS), default="plain")
    parser.add_argument("--chunks", default="30-40", help="content chunks per answer: N or A-B")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra gateway setting, e.g. ASTRA_MEMORY_INDEX_SHARE=1 or ASTRA_MEMORY_INDEX_INTERVAL_S=3600",
    )
    args = parser.parse_args(argv)
    for name in ("runs", "turns", "session_turns", "curve_turns", "chat_turns"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if any(c < 1 for c in args.concurrency) or args.warmup < 0:
        parser.error("--concurrency must be at least 1 and --warmup at least 0")
    if any("=" not in pair for pair in args.env):
        parser.error("--env takes KEY=VALUE")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
