"""SkillsService: the skill catalogue and the tool result cache's statistics and clearing (no auth, as the
reference says: nothing here is per user).

The cache lives in Postgres (server.tools.cache), so stats and a clear answered by any replica hold for all.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import struct_pb2

from astra.v1 import common_pb2, skills_pb2, skills_pb2_grpc
from server.deps import Deps
from server.errors import NotFound
from server.paging import page_limit
from server.skills.catalog import Skill
from server.tools.cache import ToolCache


def _tool_definition(deps: Deps, name: str, skill_id: str) -> common_pb2.ToolDefinition:
    spec = deps.catalog.tools.get(name)
    if spec is None:  # an MCP server's tool (or all of a server's): what it is depends on the workspace's servers
        return common_pb2.ToolDefinition(name=name, description="Tools of an MCP server", skill_id=skill_id)
    parameters = struct_pb2.Struct()
    parameters.update(spec.parameters)
    return common_pb2.ToolDefinition(
        name=spec.name, description=spec.description, parameters=parameters, skill_id=skill_id
    )


def _cache_stats(row: dict[str, Any], tool: str) -> skills_pb2.ToolCacheStats:
    hits, misses = int(row["hits"]), int(row["misses"])
    return skills_pb2.ToolCacheStats(
        tool=tool,
        entries=int(row["entries"]),
        hits=hits,
        misses=misses,
        hit_ratio=hits / (hits + misses) if hits + misses else 0.0,
        bytes=int(row["bytes"]),
    )


class SkillsService(skills_pb2_grpc.SkillsServiceServicer):
    def __init__(self, deps: Deps):
        self.deps = deps
        self.cache: ToolCache = deps.tools.cache or ToolCache(deps.db)

    def _skill(self, skill: Skill, full: bool) -> skills_pb2.Skill:
        return skills_pb2.Skill(
            id=skill.id,
            display_name=skill.display_name,
            category=skill.category,
            description=skill.description,
            tools=[_tool_definition(self.deps, name, skill.id) for name in skill.tools] if full else [],
            prompt_context=skill.prompt_context if full else "",
            tool_count=len(skill.tools),
        )

    async def ListSkills(
        self, request: skills_pb2.ListSkillsRequest, context: grpc.aio.ServicerContext
    ) -> skills_pb2.ListSkillsResponse:
        limit = page_limit(request.limit)
        category = request.category.strip()
        scope = f"skills:{category}"
        cursor = self.deps.pages.decode(scope, request.page_token)
        after = cursor["id"] if cursor else ""
        skills = [
            s
            for _, s in sorted(self.deps.catalog.skills.items())
            if s.id > after and (not category or s.category == category)
        ]
        page, more = skills[:limit], len(skills) > limit
        return skills_pb2.ListSkillsResponse(
            skills=[self._skill(s, full=False) for s in page],
            next_page_token=self.deps.pages.encode(scope, {"id": page[-1].id}) if more else "",
        )

    async def GetSkill(
        self, request: skills_pb2.GetSkillRequest, context: grpc.aio.ServicerContext
    ) -> skills_pb2.GetSkillResponse:
        skill = self.deps.catalog.skills.get(request.skill_id)
        if skill is None:
            raise NotFound(f"skill {request.skill_id} not found")
        return skills_pb2.GetSkillResponse(skill=self._skill(skill, full=True))

    async def GetSkillCacheStats(
        self, request: skills_pb2.GetSkillCacheStatsRequest, context: grpc.aio.ServicerContext
    ) -> skills_pb2.GetSkillCacheStatsResponse:
        rows = {row["tool"]: row for row in await self.cache.stats()}
        # Every cacheable tool is listed, with zeros until it is first called.
        empty = {"entries": 0, "bytes": 0, "hits": 0, "misses": 0}
        for name, spec in self.deps.catalog.tools.items():
            if spec.cache_ttl_s > 0:
                rows.setdefault(name, {"tool": name, **empty})
        tools = [_cache_stats(rows[name], name) for name in sorted(rows)]
        total = {key: sum(int(row[key]) for row in rows.values()) for key in empty}
        return skills_pb2.GetSkillCacheStatsResponse(tools=tools, total=_cache_stats(total, ""))

    async def ClearSkillCache(
        self, request: skills_pb2.ClearSkillCacheRequest, context: grpc.aio.ServicerContext
    ) -> skills_pb2.ClearSkillCacheResponse:
        tool = request.tool.strip()
        if tool and tool not in self.deps.catalog.tools:
            raise NotFound(f"tool {tool} not found")
        cleared = await self.cache.clear(tool)
        return skills_pb2.ClearSkillCacheResponse(cleared_entries=cleared, tool=tool)
