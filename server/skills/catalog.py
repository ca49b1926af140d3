"""Skill manifests: the built-ins shipped in the package, plus any in ASTRA_SKILLS_DIR."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from server.config import ConfigError
from server.mcp import names as mcp_names
from server.tools.catalog import BUILTIN_TOOLS, ToolSpec


@dataclass(frozen=True)
class Skill:
    id: str
    display_name: str
    category: str
    description: str
    tools: tuple[str, ...]
    prompt_context: str


def _parse(text: str, source: str, tools: dict[str, ToolSpec]) -> Skill:
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"skill manifest {source} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise ConfigError(f"skill manifest {source} must be a mapping with an id")
    names = data.get("tools") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"skill manifest {source}: tools must be a list of tool names")
    # An MCP server's tools (mcp__<server>__<tool>, or mcp__<server>__*) are known only at run time.
    unknown = sorted(n for n in set(names) - set(tools) if mcp_names.split(n) is None)
    if unknown:
        raise ConfigError(f"skill manifest {source} names unknown tools: {', '.join(unknown)}")
    return Skill(
        id=data["id"],
        display_name=str(data.get("displayName") or data["id"]),
        category=str(data.get("category") or "general"),
        description=str(data.get("description") or ""),
        tools=tuple(names),
        prompt_context=str(data.get("promptContext") or "").strip(),
    )


class Catalog:
    """Every skill and tool the deployment knows; agents are validated against it."""

    def __init__(self, skills: dict[str, Skill], tools: dict[str, ToolSpec]):
        self.skills = skills
        self.tools = tools

    @classmethod
    def load(cls, skills_dir: str = "", tools: dict[str, ToolSpec] | None = None) -> Catalog:
        tools = dict(tools or BUILTIN_TOOLS)
        skills: dict[str, Skill] = {}
        sources: list[tuple[str, str]] = [
            (f"builtin/{entry.name}", entry.read_text())
            for entry in sorted(resources.files("server.skills").joinpath("builtin").iterdir(), key=lambda e: e.name)
            if entry.name.endswith((".yaml", ".yml"))
        ]
        if skills_dir:
            directory = Path(skills_dir)
            if not directory.is_dir():
                raise ConfigError(f"ASTRA_SKILLS_DIR {skills_dir} is not a directory")
            sources += [(str(p), p.read_text()) for p in sorted(directory.glob("*.y*ml"))]
        for source, text in sources:
            skill = _parse(text, source, tools)
            skills[skill.id] = skill  # a manifest in ASTRA_SKILLS_DIR may replace a built-in
        return cls(skills, tools)

    def requested(self, skill_ids: list[str], allow: list[str]) -> list[str]:
        """Every tool name or pattern the skills and the allow list ask for, known here or not (MCP tools)."""
        names: dict[str, None] = {}
        for skill_id in skill_ids:
            for name in self.skills[skill_id].tools if skill_id in self.skills else ():
                names[name] = None
        for name in allow:
            names[name] = None
        return list(names)

    def resolve_tools(self, skill_ids: list[str], allow: list[str], deny: list[str]) -> list[ToolSpec]:
        """The skills' tools, plus allow, minus deny, in a stable order."""
        names: dict[str, None] = {}
        for skill_id in skill_ids:
            # A stored agent may name a skill whose manifest has since been removed: it contributes nothing.
            for name in self.skills[skill_id].tools if skill_id in self.skills else ():
                names[name] = None
        for name in allow:
            names[name] = None
        return [self.tools[n] for n in names if n not in set(deny) and n in self.tools]
