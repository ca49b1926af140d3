"""Memory end to end on a real gateway: the local MiniLM embedder against the reference vectors, the profile
(RFC 7396 merges, size limit), strategic notes, daily entries (stable indexes), hybrid search (a paraphrase found
by meaning, a rare token by its words, text not embedded yet), isolation between users and workspaces on every
route, the memory tools, and memory in the turn (context before inference, autoExtract after it)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import JsonbDumper

from server.foreground import LINGER_S
from server.memory.embeddings import MiniLM, single_threaded_blas
from server.memory.indexer import BATCH
from server.memory.writes import merge_patch, write_daily
from tests.harness import GatewayThread
from tests.helpers.accounts import register_users
from tests.helpers.agents import new_agent
from tests.helpers.chat import OPENAI_KEY, chat, turn
from tests.helpers.db import sql
from tests.helpers.http import api, metric_value
from tests.helpers.waiting import wait_until
from tests.helpers.workspaces import new_workspace_id
from tests.providers.fake_vendors import FakeVendor, Reply, openai_text_stream

FIXTURE = Path(__file__).parent / "fixtures" / "minilm_reference.json"
GATEWAY_OPTIONS = {"vendor_keys": {"openai": OPENAI_KEY}}


@pytest.fixture(scope="module")
def users(gateway: GatewayThread) -> list[dict]:
    return register_users(gateway, 3)


async def daily(gateway: GatewayThread, account: dict, workspace: str, category: str, content: str) -> dict:
    """A daily entry written the way the tools and autoExtract write it."""
    async with await psycopg.AsyncConnection.connect(gateway.settings.database_url, row_factory=dict_row) as conn:
        conn.adapters.register_dumper(dict, JsonbDumper)
        async with conn.transaction():
            return await write_daily(conn, account["user"]["id"], workspace, category, content)


def personal(account: dict) -> str:
    return account["workspaceId"]


async def embedded(gateway: GatewayThread) -> bool:
    rows = await sql(gateway, "SELECT count(*) AS n FROM memory_items WHERE embedding IS NULL AND embed_attempts < 5")
    return rows[0]["n"] == 0


# ---------------------------------------------------------------------------------------------------------------


def test_local_embedder_equals_the_reference_model() -> None:
    reference = json.loads(FIXTURE.read_text())
    single_threaded_blas()  # as the server runs it
    model = MiniLM()
    ours = model.encode(reference["sentences"])
    theirs = np.array(reference["vectors"], dtype=np.float32)
    cosines = (ours * theirs).sum(1) / np.linalg.norm(theirs, axis=1)
    assert ours.shape == (len(reference["sentences"]), 384)
    assert cosines.min() >= 0.9999, cosines
    # Batching (with padding) gives each text the vector it gets alone.
    alone = np.stack([model.encode([s])[0] for s in reference["sentences"][:3]])
    assert np.abs(alone - ours[:3]).max() < 1e-5


def test_merge_patch_follows_rfc_7396_examples() -> None:
    # The examples of RFC 7396 appendix A.
    cases = [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ]
    for target, patch, expected in cases:
        assert merge_patch(target, patch) == expected, (target, patch)


async def test_profile_put_merges_and_get_returns_it(http: aiohttp.ClientSession, users: list[dict]) -> None:
    me = users[0]
    status, body, _ = await api(http, "GET", "/memory/profile", me)
    assert status == 200 and body.get("profile", {}) == {} and body.get("notes", []) == []

    status, body, _ = await api(
        http, "PUT", "/memory/profile", me, json={"name": "Ada", "prefs": {"tea": "green", "coffee": "dark"}}
    )
    assert status == 200, body
    assert body["profile"] == {"name": "Ada", "prefs": {"tea": "green", "coffee": "dark"}}
    status, body, _ = await api(
        http, "PUT", "/memory/profile", me, json={"prefs": {"tea": None, "milk": False}, "city": "Paris", "name": None}
    )
    assert status == 200, body
    assert body["profile"] == {"prefs": {"coffee": "dark", "milk": False}, "city": "Paris"}
    status, body, _ = await api(http, "GET", "/memory/profile", me)
    assert body["profile"] == {"prefs": {"coffee": "dark", "milk": False}, "city": "Paris"} and body["updatedAt"]

    # 64 KiB at most, as a patch or once merged; a refused patch changes nothing.
    status, body, _ = await api(http, "PUT", "/memory/profile", me, json={"big": "x" * (65 * 1024)})
    assert status == 413, body
    for i in range(2):
        status, _, _ = await api(http, "PUT", "/memory/profile", me, json={f"half{i}": "y" * (33 * 1024)})
        assert status == (200 if i == 0 else 413)
    status, body, _ = await api(http, "GET", "/memory/profile", me)
    assert set(body["profile"]) == {"prefs", "city", "half0"}
    status, body, _ = await api(http, "PUT", "/memory/profile", me, json={"half0": None})
    assert status == 200 and set(body["profile"]) == {"prefs", "city"}
    for bad in (["not", "an", "object"], {"nul": "a\x00b"}, {"nested": {"k\x00": 1}}):
        status, _, _ = await api(http, "PUT", "/memory/profile", me, json=bad)
        assert status == 400, bad


async def test_notes_are_listed_with_the_profile_and_deleted_by_index(
    http: aiohttp.ClientSession, users: list[dict]
) -> None:
    me = users[1]
    for i, text in enumerate(["first note", "second note", "third note"]):
        status, body, _ = await api(http, "POST", "/memory/notes", me, json={"content": text})
        assert status == 200 and body["note"]["index"] == i and body["note"]["content"] == text
    for bad in ("", "   ", "x" * 4001, "nul \x00 inside"):
        status, _, _ = await api(http, "POST", "/memory/notes", me, json={"content": bad})
        assert status == 400
    status, _, _ = await api(http, "DELETE", "/memory/notes/1", me)
    assert status == 200
    _, body, _ = await api(http, "GET", "/memory/profile", me)
    assert [(n["index"], n["content"]) for n in body["notes"]] == [(0, "first note"), (1, "third note")]
    status, _, _ = await api(http, "DELETE", "/memory/notes/2", me)
    assert status == 404


async def test_daily_entries_keep_stable_indexes(
    http: aiohttp.ClientSession, gateway: GatewayThread, users: list[dict]
) -> None:
    me, ws = users[2], personal(users[2])
    # One entry through the memory_write tool in a real turn, two more written directly.
    agent = await new_agent(http, me, skills=["memory"])
    args = {"kind": "daily", "category": "decision", "content": "We picked Postgres for billing", "weight": 0.9}
    status, reply, _ = await chat(http, me, turn(agent, f"/tool memory_write {json.dumps(args)}"))
    assert status == 200 and reply["toolsUsed"] == ["memory_write"], reply
    written = json.loads(reply["content"].split("returned: ", 1)[1])
    day = written["date"]
    assert written == {"written": "daily", "date": day, "index": 0}
    await daily(gateway, me, ws, "outcome", "The migration finished without downtime")
    await daily(gateway, me, ws, "note", "Remember to rotate the keys")

    status, body, _ = await api(http, "GET", f"/memory/daily/{day}", me)
    assert status == 200, body
    entries = body["day"]["entries"]
    assert [(e["index"], e["category"]) for e in entries] == [(0, "decision"), (1, "outcome"), (2, "note")]
    assert entries[0]["weight"] == pytest.approx(0.9) and entries[0]["sessionId"] == reply["sessionId"]

    status, _, _ = await api(http, "DELETE", f"/memory/daily/{day}/1", me)
    assert status == 200
    _, body, _ = await api(http, "GET", f"/memory/daily/{day}", me)
    assert [e["index"] for e in body["day"]["entries"]] == [0, 2]  # the others keep their indexes
    for index in (1, 3, 99, -1):
        status, _, _ = await api(http, "DELETE", f"/memory/daily/{day}/{index}", me)
        assert status in (400, 404) if index < 0 else status == 404
    # A new entry never takes a freed index.
    await daily(gateway, me, ws, "strategy", "Ship small changes")
    _, body, _ = await api(http, "GET", f"/memory/daily/{day}", me)
    assert [e["index"] for e in body["day"]["entries"]] == [0, 2, 3]

    for bad in ("2026-13-01", "yesterday", "2026-1-1"):
        status, _, _ = await api(http, "GET", f"/memory/daily/{bad}", me)
        assert status == 400, bad
        status, _, _ = await api(http, "DELETE", f"/memory/daily/{bad}/0", me)
        assert status == 400, bad
    status, body, _ = await api(http, "GET", "/memory/daily/2001-02-03", me)
    assert status == 200 and body["day"]["date"] == "2001-02-03" and body["day"].get("entries", []) == []

    # The agent finds them again with memory_search (lexically at once, even before they are embedded).
    query = json.dumps({"query": "Postgres billing", "tiers": ["daily"]})
    status, reply, _ = await chat(http, me, turn(agent, f"/tool memory_search {query}"))
    assert status == 200 and reply["toolsUsed"] == ["memory_search"], reply
    found = json.loads(reply["content"].split("returned: ", 1)[1])
    assert found[0]["content"] == "We picked Postgres for billing" and found[0]["sourceId"] == f"{day}/0"

    status, body, _ = await api(http, "GET", "/memory/daily", me)
    assert status == 200 and [d["date"] for d in body["days"]] == [day]
    status, body, _ = await api(http, "GET", "/memory/daily", me, params={"days": "90", "category": "strategy"})
    assert status == 200 and [e["content"] for e in body["days"][0]["entries"]] == ["Ship small changes"]
    for bad in ({"days": "91"}, {"days": "-1"}, {"category": "gossip"}):
        status, _, _ = await api(http, "GET", "/memory/daily", me, params=bad)
        assert status == 400, bad


async def test_search_finds_paraphrases_rare_tokens_and_text_not_embedded_yet(
    http: aiohttp.ClientSession, gateway: GatewayThread
) -> None:
    (me,) = register_users_async_guard(gateway, 1)
    ws = personal(me)
    await daily(gateway, me, ws, "note", "I prefer a dark roast coffee every morning")
    await daily(gateway, me, ws, "decision", "The quarterly budget review moves to Friday")
    await daily(gateway, me, ws, "outcome", "Our football team won the regional championship")
    status, _, _ = await api(http, "POST", "/memory/notes", me, json={"content": "Launch codename is zqx7alpha"})
    assert status == 200
    await wait_until(lambda: embedded(gateway), 20, "memory items embedded")

    # Semantic: no word in common with the entry.
    status, body, _ = await api(http, "GET", "/memory/search", me, params={"q": "which hot beverage do I like"})
    assert status == 200, body
    top = body["hits"][0]
    assert top["tier"] == "daily" and "coffee" in top["content"] and top["sourceId"].endswith("/0")
    assert top["score"] > 0 and top["createdAt"]
    # Lexical: a rare token the model has never seen.
    _, body, _ = await api(http, "GET", "/memory/search", me, params={"q": "zqx7alpha"})
    assert (body["hits"][0]["tier"], body["hits"][0]["sourceId"]) == ("notes", "0")
    # Tiers filter.
    _, body, _ = await api(http, "GET", "/memory/search", me, params={"q": "coffee", "tiers": "notes", "limit": "5"})
    assert {h["tier"] for h in body.get("hits", [])} <= {"notes"}
    # An item the indexer has not reached yet is still found by its words.
    await sql(
        gateway,
        "INSERT INTO memory_items (id, user_id, workspace_id, tier, content, embed_attempts)"
        " VALUES ('mem_pending_test', %s, %s, 'notes', 'Pending flamingo inventory audit', 99)",
        (me["user"]["id"], ws),
    )
    _, body, _ = await api(http, "GET", "/memory/search", me, params={"q": "flamingo audit"})
    assert body["hits"][0]["content"] == "Pending flamingo inventory audit"
    # Bad input.
    bad_params = [{"q": ""}, {"q": "x", "tiers": "dreams"}, {"q": "x" * 2001}, {"q": "x", "limit": "-1"}]
    bad_params.append({"q": "a\x00b"})
    for params in bad_params:
        status, _, _ = await api(http, "GET", "/memory/search", me, params=params)
        assert status == 400, params


def register_users_async_guard(gateway: GatewayThread, n: int) -> list[dict]:
    """register_users runs its own event loop; from inside a test's loop, run it on a thread."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(register_users, gateway, n).result()


async def test_session_messages_are_searchable(http: aiohttp.ClientSession, gateway: GatewayThread) -> None:
    (me,) = register_users_async_guard(gateway, 1)
    agent = await new_agent(http, me)
    status, body, _ = await chat(http, me, turn(agent, "My favourite mountain is Kilimanjaro in Tanzania"))
    assert status == 200
    await wait_until(lambda: embedded(gateway), 20, "messages embedded")
    status, body, _ = await api(
        http, "GET", "/memory/search", me, params={"q": "tallest peak in Africa", "tiers": "session"}
    )
    assert status == 200 and body["hits"], body
    rows = await sql(gateway, "SELECT id FROM messages WHERE content = %s", (body["hits"][0]["content"],))
    assert "Kilimanjaro" in body["hits"][0]["content"] and body["hits"][0]["sourceId"] in {r["id"] for r in rows}


async def test_memory_is_private_to_the_user_and_the_workspace(
    http: aiohttp.ClientSession, gateway: GatewayThread
) -> None:
    alice, bob = register_users_async_guard(gateway, 2)
    home = personal(alice)
    await api(http, "PUT", "/memory/profile", alice, json={"secret": "alice's diary key"})
    await api(http, "POST", "/memory/notes", alice, json={"content": "alice private note about walruses"})
    entry = await daily(gateway, alice, home, "decision", "alice decided to buy walruses")
    day = entry["day"].isoformat()
    await wait_until(lambda: embedded(gateway), 20, "memory items embedded")
    team = await new_workspace_id(http, alice, "Other team")

    async def views(account: dict, workspace: str | None) -> dict[str, Any]:
        _, profile, _ = await api(http, "GET", "/memory/profile", account, workspace=workspace)
        _, one_day, _ = await api(http, "GET", f"/memory/daily/{day}", account, workspace=workspace)
        _, days, _ = await api(http, "GET", "/memory/daily", account, workspace=workspace)
        _, found, _ = await api(http, "GET", "/memory/search", account, workspace=workspace, params={"q": "walruses"})
        return {
            "profile": profile.get("profile", {}),
            "notes": profile.get("notes", []),
            "day": one_day["day"].get("entries", []),
            "days": days.get("days", []),
            "hits": found.get("hits", []),
        }

    mine = await views(alice, None)
    assert mine["profile"] and mine["notes"] and mine["day"] and mine["days"] and len(mine["hits"]) >= 2
    empty = {"profile": {}, "notes": [], "day": [], "days": [], "hits": []}
    assert await views(bob, None) == empty  # another user
    assert await views(alice, team) == empty  # the same user in another workspace
    # Another user cannot touch them either, nor can alice from another workspace.
    for account, workspace in ((bob, None), (alice, team)):
        status, _, _ = await api(http, "DELETE", f"/memory/daily/{day}/0", account, workspace=workspace)
        assert status == 404
        status, _, _ = await api(http, "DELETE", "/memory/notes/0", account, workspace=workspace)
        assert status == 404
        status, _, _ = await api(http, "PUT", "/memory/profile", account, workspace=workspace, json={"secret": None})
        assert status == 200
    # Bob is not a member of alice's workspace at all.
    status, _, _ = await api(http, "GET", "/memory/profile", bob, workspace=home)
    assert status in (403, 404)
    assert await views(alice, None) == mine


async def test_memory_goes_into_the_turn_and_auto_extract_writes_entries(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor
) -> None:
    (me,) = register_users_async_guard(gateway, 1)
    ws = personal(me)
    await api(http, "PUT", "/memory/profile", me, json={"name": "Ada Lovelace"})
    await daily(gateway, me, ws, "note", "I prefer a dark roast coffee every morning")
    await daily(gateway, me, ws, "note", "Cats are better than dogs at climbing")
    await wait_until(lambda: embedded(gateway), 20, "memory items embedded")
    memory = {"tiers": ["daily", "profile", "notes"], "maxContextChunks": 1, "minRelevance": 0.3, "autoExtract": True}
    agent = await new_agent(http, me, model="openai/gpt-4o-mini", memory=memory)
    plain = await new_agent(http, me, model="openai/gpt-4o-mini")

    vendor.reset()
    extraction = '```json\n[{"category": "decision", "content": "Ada chose Rust for the backend", "weight": 0.8}]\n```'
    vendor.script(Reply(chunks=openai_text_stream(["Sure."])), Reply(chunks=openai_text_stream([extraction])))
    status, body, _ = await chat(http, me, turn(agent, "Which hot beverage should I order?"))
    assert status == 200 and body["content"] == "Sure.", body
    system = vendor.requests[0].body["messages"][0]
    assert system["role"] == "system"
    assert "Ada Lovelace" in system["content"] and "dark roast coffee" in system["content"]
    assert "Cats" not in system["content"]  # maxContextChunks = 1, and it is not relevant anyway

    async def extracted() -> list[dict]:
        _, body, _ = await api(http, "GET", "/memory/daily", me)
        return [e for d in body.get("days", []) for e in d["entries"] if "Rust" in e["content"]]

    (entry,) = await wait_until(extracted, 10, "extracted entry")
    assert entry["category"] == "decision" and entry["sessionId"] == body["sessionId"]
    written = await sql(
        gateway,
        "SELECT payload FROM events WHERE workspace_id = %s AND type = 'memory.written' ORDER BY created_at",
        (ws,),
    )
    assert any(e["payload"]["data"]["content"] == "Ada chose Rust for the backend" for e in written)

    # An agent without memory tiers gets no memory in its context, and extracts nothing.
    vendor.reset()
    vendor.script(Reply(chunks=openai_text_stream(["Plain."])))
    status, body, _ = await chat(http, me, turn(plain, "Which hot beverage should I order?"))
    assert status == 200
    assert all("Ada Lovelace" not in m.get("content", "") for m in vendor.requests[0].body["messages"])
    assert len(vendor.requests) == 1


async def test_openai_compatible_embedder_posts_to_embeddings_and_checks_the_dimension() -> None:
    from aiohttp import web

    from server.memory.embeddings import OpenAIEmbedder

    seen: list[dict] = []
    dims = {"n": 384}

    async def embeddings(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"body": body, "auth": request.headers.get("Authorization")})
        data = [{"index": i, "embedding": [float(i + 1)] * dims["n"]} for i in range(len(body["input"]))]
        return web.json_response({"data": list(reversed(data)), "model": body["model"]})

    app = web.Application()
    app.router.add_post("/v1/embeddings", embeddings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        embedder = OpenAIEmbedder(f"http://127.0.0.1:{port}/v1", "sk-embed", "text-embedding-3-small")
        vectors = await embedder.embed(["a", "b"])
        assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1)
        assert seen[0] == {
            "body": {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 384},
            "auth": "Bearer sk-embed",
        }
        dims["n"] = 1536  # a model of another dimension is refused, not stored
        with pytest.raises(RuntimeError, match="384"):
            await embedder.embed(["a"])
    finally:
        await runner.cleanup()


async def test_the_indexer_gives_way_to_turns_in_flight_and_still_embeds_everything(
    http: aiohttp.ClientSession, gateway: GatewayThread, vendor: FakeVendor
) -> None:
    """Local embedding shares the gateway's cores: while a turn streams it waits between batches
    (ASTRA_MEMORY_INDEX_SHARE), and the wait shows in /metrics; with no turn running it does not wait."""
    (me,) = register_users_async_guard(gateway, 1)
    ws = personal(me)
    agent = await new_agent(http, me, model="openai/gpt-4o-mini")
    yielded = "astra_memory_index_yielded_seconds_total"

    async def write_and_embed(label: str) -> None:
        for i in range(BATCH + 8):  # two batches
            await daily(gateway, me, ws, "note", f"{label}, entry number {i}")
        await wait_until(lambda: embedded(gateway), 30, f"entries written {label} embedded")

    await daily(gateway, me, ws, "note", "the embedding model is loaded before the turn")
    await wait_until(lambda: embedded(gateway), 30, "earlier items embedded")

    # Two batches' worth of entries written while a turn streams for about three seconds.
    vendor.reset()
    vendor.script(Reply(chunks=openai_text_stream(["word "] * 26), chunk_delay=0.1))
    before = await metric_value(http, yielded)
    streaming = asyncio.ensure_future(chat(http, me, turn(agent, "Tell me a long story")))

    async def reached_vendor() -> bool:
        return bool(vendor.requests)

    await wait_until(reached_vendor, 5, "the turn reached the vendor")
    await write_and_embed("while the turn streams")
    assert await metric_value(http, yielded) > before
    status, body, _ = await streaming
    assert status == 200 and body["content"] == "word " * 26

    # No turn running, nor one just ended: the same work goes without a pause.
    await wait_until(lambda: embedded(gateway), 30, "the turn's messages embedded")
    await asyncio.sleep(LINGER_S + 0.2)
    before = await metric_value(http, yielded)
    await write_and_embed("with nothing else running")
    assert await metric_value(http, yielded) == before
