"""The built-in tools' definitions (name, description, JSON-schema parameters).

These are what agents are validated against and what capabilities report; how each tool runs lives with
its handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    # Seconds a successful result is reused for the same arguments; 0 = never cached (tools whose answer
    # changes by the second or depends on the caller's data).
    cache_ttl_s: int = 0
    # Who may share a cached result: everyone ("global": public web content), or only the same workspace/user.
    cache_scope: Literal["global", "workspace", "user"] = "global"
    # What one call costs beyond the model's tokens (a paid third-party API); ToolOutcome.cost_usd carries it
    # (0 for a cached or failed call) to the tool_calls row of the turn.
    cost_usd_per_call: Decimal = Decimal(0)
    # Seconds one call may take; 0: the runner's default.
    timeout_s: float = 0.0


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


BUILTIN_TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in [
        ToolSpec(
            "memory_search",
            "Search the user's memories (session messages, daily entries, profile, notes) by meaning and words.",
            _object(
                {
                    "query": {"type": "string", "minLength": 1},
                    "tiers": {"type": "array", "items": {"enum": ["session", "daily", "profile", "notes"]}},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50},
                },
                ["query"],
            ),
        ),
        ToolSpec(
            "memory_write",
            "Remember something: a daily entry with a category, or a strategic note.",
            _object(
                {
                    "kind": {"enum": ["daily", "note"]},
                    "content": {"type": "string", "minLength": 1, "maxLength": 4000},
                    "category": {"enum": ["decision", "outcome", "strategy", "note", "interaction"]},
                    "weight": {"type": "number", "minimum": 0, "maximum": 1},
                },
                ["kind", "content"],
            ),
        ),
        ToolSpec(
            "http_fetch",
            "Fetch a public web page or API over HTTP(S) and return its text.",
            _object(
                {
                    "url": {"type": "string", "format": "uri"},
                    "max_bytes": {"type": "integer", "minimum": 1, "maximum": 1048576},
                },
                ["url"],
            ),
            cache_ttl_s=300,
        ),
        ToolSpec(
            "rss_read",
            "Read the latest items of an RSS or Atom feed.",
            _object(
                {"url": {"type": "string", "format": "uri"}, "limit": {"type": "integer", "minimum": 1, "maximum": 50}},
                ["url"],
            ),
            cache_ttl_s=300,
        ),
        ToolSpec(
            "current_time",
            "The current date and time in a time zone.",
            _object({"timezone": {"type": "string", "description": "IANA name, e.g. Europe/Paris"}}, []),
        ),
        ToolSpec(
            "calculator",
            "Evaluate an arithmetic expression (+ - * / // % **, parentheses, decimals).",
            _object({"expression": {"type": "string", "minLength": 1, "maxLength": 500}}, ["expression"]),
        ),
        ToolSpec(
            "session_search",
            "Full-text search over the user's past conversation messages.",
            _object(
                {
                    "query": {"type": "string", "minLength": 1},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50},
                },
                ["query"],
            ),
        ),
    ]
}
