"""One claimed heartbeat run: observe, record the outcome (and heartbeat.fired) in one transaction, then wake the
config's agent for its owner when it fired.

A config created or last changed with a personal API key (heartbeats.api_key_id, migration 0018) runs on that key's
authority, as a call with the key would: its agent turns are spent with the key (its budget, /costs by key), and a
run starts only while the key may spend (server/auth/keys.py refusal). A key revoked or expired can never act
again, so its config is paused; a key over its monthly budget fails each run until the month ends. Enabling the
config with an access token makes it the owner's own (the key is cleared)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from server import events, telemetry
from server.auth import keys
from server.context import Principal
from server.heartbeat import monitor, store
from server.workspaces.access import role_in

if TYPE_CHECKING:
    from server.deps import Deps

log = logging.getLogger(__name__)


async def execute(deps: Deps, config: dict[str, Any]) -> str:
    """Runs the claimed config (config["run_id"] is its open run); returns the run's status."""
    started = time.perf_counter()
    if config["api_key_id"]:
        refused = await keys.refusal(deps.db, config["api_key_id"])
        if refused:
            return await _refuse(deps, config, refused, started)
    allow_private = deps.settings.allow_private_urls
    status, items, status_code, error, new_state = "ok", [], 0, "", ""
    feed: list[monitor.FeedItem] = []
    try:
        if config["type"] == "rss":
            status_code, feed = await monitor.fetch_feed(config, allow_private)
        else:
            health = await monitor.observe_http(config, allow_private)
            status_code, new_state, error = health.status_code, health.state, health.detail
            if health.state != config["state"]:
                status = "fired"
                items = [_http_item(config, health)]
    except monitor.RunError as exc:
        status, error = "error", str(exc)
    async with deps.db.transaction() as conn:
        if feed:
            fresh = await store.unseen(conn, config["id"], [i.key for i in feed])
            items = monitor.matching(feed, fresh, config["keywords"])
            if items:
                status = "fired"
            await store.mark_seen(conn, config["id"], [i.key for i in feed if i.key in fresh])
        duration = round((time.perf_counter() - started) * 1000, 3)
        if not await store.finish_run(conn, config["run_id"], status, items, status_code, error, duration):
            # A later claim already closed this run as lost; its outcome must not count twice. Rolled back.
            raise _Superseded
        if new_state:
            await store.set_state(conn, config["id"], new_state)
        if status == "fired":
            await events.emit(conn, config["workspace_id"], "heartbeat.fired", fired_data(config, items, status_code))
    if status == "fired" and config["agent_id"]:
        await wake_agent(deps, config, items)
    return status


class _Superseded(Exception):
    pass


_WHOSE_KEY = "the API key this heartbeat was created or last changed with"
_ADOPT = "enable it with an access token to run it as yourself"
REFUSALS = {
    keys.KEY_REVOKED: f"{_WHOSE_KEY} is revoked; the heartbeat is paused ({_ADOPT})",
    keys.KEY_EXPIRED: f"{_WHOSE_KEY} has expired; the heartbeat is paused ({_ADOPT})",
    keys.KEY_BUDGET_EXCEEDED: f"the monthly budget of {_WHOSE_KEY} is spent; runs resume next month (or {_ADOPT})",
}


async def _refuse(deps: Deps, config: dict[str, Any], reason: str, started: float) -> str:
    """Closes the run as an error naming `reason` (a code first, for scripts), observing nothing and waking no
    agent; a key that can never act again also pauses the config, in the same transaction."""
    async with deps.db.transaction() as conn:
        duration = round((time.perf_counter() - started) * 1000, 3)
        error = f"{reason}: {REFUSALS[reason]}"
        if not await store.finish_run(conn, config["run_id"], "error", [], 0, error, duration):
            raise _Superseded
        if reason != keys.KEY_BUDGET_EXCEEDED:
            await store.pause_for_key(conn, config["id"], config["api_key_id"])
    log.info(
        "heartbeat run refused for its API key",
        extra={"heartbeat_id": config["id"], "api_key_id": config["api_key_id"], "reason": reason},
    )
    return "error"


async def run_claimed(deps: Deps, config: dict[str, Any]) -> None:
    # A trace of its own: its fetch carries the traceparent, and the agent turn it wakes is its child.
    attributes = {"astra.heartbeat.id": config["id"], "astra.heartbeat.type": config["type"]}
    with telemetry.span("heartbeat.run", attributes) as span:
        try:
            status = await execute(deps, config)
        except _Superseded:
            log.warning("heartbeat run superseded", extra={"heartbeat_id": config["id"], "run_id": config["run_id"]})
            status = "superseded"
        if span is not None:
            span.set_attribute("astra.heartbeat.status", status)


def fired_data(config: dict[str, Any], items: list[dict[str, Any]], status_code: int) -> dict[str, Any]:
    """The heartbeat.fired payload: {heartbeatId, runId, type, url, agentId, statusCode, items[]}."""
    return {
        "heartbeatId": config["id"],
        "runId": config["run_id"],
        "type": config["type"],
        "url": config["url"],
        "agentId": config["agent_id"],
        "statusCode": status_code,
        "items": items,
    }


def _http_item(config: dict[str, Any], health: monitor.Health) -> dict[str, Any]:
    if health.state == "up":
        return {"title": f"{config['url']} is up again", "url": config["url"], "summary": f"HTTP {health.status_code}"}
    return {"title": f"{config['url']} is down", "url": config["url"], "summary": health.detail}


def agent_message(config: dict[str, Any], items: list[dict[str, Any]]) -> str:
    lines = [config["prompt"] or f"The {config['type']} heartbeat for {config['url']} fired. Summarise what changed."]
    lines.append("")
    for item in items:
        lines.append(f"- {item['title']} {item.get('url', '')}".rstrip())
        if item.get("summary"):
            lines.append(f"  {item['summary'][:500]}")
    return "\n".join(lines)[:30_000]


async def wake_agent(deps: Deps, config: dict[str, Any], items: list[dict[str, Any]]) -> None:
    """A turn for the config's owner, in the session keyed by (surface heartbeat, the config id); its session id,
    or why it failed, is added to the run."""
    from server.chat.turn import TurnEngine, TurnRequest  # the chat engine is heavy; only a fire needs it

    session_id, error = "", ""
    try:
        async with deps.db.connection() as conn:
            role = await role_in(conn, config["workspace_id"], config["owner_id"])
        if role is None:
            raise PermissionError("the config's owner is no longer a member of the workspace")
        # With the config's key, if any, as a chat call with the key: its usage is counted against the key.
        principal = Principal(
            user_id=config["owner_id"],
            workspace_id=config["workspace_id"],
            role=role,
            api_key_id=config["api_key_id"] or "",
        )
        request = TurnRequest(config["agent_id"], agent_message(config, items), "heartbeat", config["id"])
        async for event in TurnEngine(deps, deps.providers, deps.tools).stream(principal, request):
            kind = event.WhichOneof("event")
            if kind == "session_resolved":
                session_id = event.session_resolved.session_id
            elif kind == "error":
                error = f"agent turn failed: {event.error.message}"
    except Exception as exc:
        error = f"agent turn failed: {exc}"[:500]
        log.warning("heartbeat agent turn failed", extra={"heartbeat_id": config["id"], "error": error})
    async with deps.db.transaction() as conn:
        await store.set_run_session(conn, config["run_id"], session_id, error)
