"""Checks an agent config field by field and fills defaults; every refusal names the field."""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import json_format

from astra.v1 import common_pb2
from server.config import Settings
from server.errors import InvalidArgument
from server.mcp import names as mcp_names
from server.providers.endpoints import AgentEndpoints, BaseUrlRefused, check_form
from server.restrictions import DEFAULT_MODEL, split_model
from server.skills.catalog import Catalog

AGENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
MEMORY_TIERS = ("session", "daily", "profile", "notes")
MAX_SPAWN_DEPTH = 3
DEFAULT_MAX_OUTPUT_TOKENS = 1024
DEFAULT_MAX_CONTEXT_TOKENS = 8192
# Fields the server owns: never taken from a client, never stored in the config document.
SERVER_FIELDS = ("id", "workspace_id", "origin", "etag", "created_at", "updated_at")


def check_id(agent_id: str, field: str = "id") -> str:
    if not AGENT_ID.match(agent_id):
        raise InvalidArgument(f"{field} must match ^[a-z0-9][a-z0-9-]{{1,63}}$ (lowercase slug), got {agent_id!r}")
    return agent_id


def normalise(agent: common_pb2.Agent, catalog: Catalog, default_model: str = "", prefix: str = "") -> common_pb2.Agent:
    """A validated copy with defaults filled; `prefix` (e.g. "agents[2].") makes errors name the field in context."""

    def fail(field: str, why: str) -> InvalidArgument:
        return InvalidArgument(f"{prefix}{field}: {why}")

    original, agent = agent, common_pb2.Agent()
    agent.CopyFrom(original)
    agent.display_name = agent.display_name.strip() or agent.id
    if len(agent.display_name) > 100:
        raise fail("displayName", "must be at most 100 characters")
    agent.model = agent.model or default_model or DEFAULT_MODEL
    split_model(agent.model, f"{prefix}model")
    if len(agent.system_prompt) > 100_000:
        raise fail("systemPrompt", "must be at most 100000 characters")
    if agent.HasField("temperature") and not 0 <= agent.temperature <= 2:
        raise fail("temperature", f"must be between 0 and 2, got {agent.temperature}")
    agent.max_output_tokens = agent.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS
    if not 1 <= agent.max_output_tokens <= 200_000:
        raise fail("maxOutputTokens", "must be 1 to 200000")
    agent.max_context_tokens = agent.max_context_tokens or DEFAULT_MAX_CONTEXT_TOKENS
    if not 256 <= agent.max_context_tokens <= 2_000_000:
        raise fail("maxContextTokens", "must be 256 to 2000000")
    for skill in agent.skills:
        if skill not in catalog.skills:
            raise fail("skills", f"unknown skill {skill!r} (known: {', '.join(sorted(catalog.skills))})")
    for field, names in (("tools.allow", agent.tools.allow), ("tools.deny", agent.tools.deny)):
        for name in names:
            if mcp_names.is_mcp(name):
                # An MCP server's tool: its server may be added (or come up) later, so only the form is checked.
                if mcp_names.split(name) is None:
                    raise fail(field, f"{name!r} is not mcp__<server>__<tool> or mcp__<server>__*")
            elif name not in catalog.tools:
                raise fail(field, f"unknown tool {name!r} (known: {', '.join(sorted(catalog.tools))})")
    if not 0 <= agent.spawn.max_depth <= MAX_SPAWN_DEPTH:
        raise fail("spawn.maxDepth", f"must be 0 to {MAX_SPAWN_DEPTH}, got {agent.spawn.max_depth}")
    for target in agent.spawn.allowed_targets:
        if not AGENT_ID.match(target):
            raise fail("spawn.allowedTargets", f"{target!r} is not an agent id")
    for tier in agent.memory.tiers:
        if tier not in MEMORY_TIERS:
            raise fail("memory.tiers", f"unknown tier {tier!r} (known: {', '.join(MEMORY_TIERS)})")
    if not 0 <= agent.memory.max_context_chunks <= 50:
        raise fail("memory.maxContextChunks", "must be 0 to 50")
    if not 0 <= agent.memory.min_relevance <= 1:
        raise fail("memory.minRelevance", "must be between 0 and 1")
    if agent.base_url:
        try:
            check_form(agent.base_url)
        except BaseUrlRefused as exc:
            raise fail("baseUrl", str(exc)) from None
    return agent


async def check_base_url(agent: common_pb2.Agent, settings: Settings, prefix: str = "") -> None:
    """An agent's own baseUrl must pass the outbound guard now (it is checked again on every call): a workspace
    member must not be able to point the gateway at its own network. The operator's configured base URLs pass."""
    url = agent.base_url.rstrip("/")
    operators = {u.rstrip("/") for u in (settings.openai_base_url, settings.anthropic_base_url) if u}
    if not url or url in operators:
        return
    try:
        await AgentEndpoints.from_settings(settings).check(agent.base_url)
    except BaseUrlRefused as exc:
        hint = " (hosts of self-hosted models are allowed by the operator, in ASTRA_PROVIDER_HOSTS)"
        raise InvalidArgument(f"{prefix}baseUrl {exc}{hint if 'is refused' in str(exc) else ''}") from None


def to_document(agent: common_pb2.Agent) -> dict[str, Any]:
    """What is stored in agents.config: the client-settable fields as proto JSON."""
    document = json_format.MessageToDict(agent)
    for field in SERVER_FIELDS:
        document.pop(common_pb2.Agent.DESCRIPTOR.fields_by_name[field].json_name, None)
    return document
