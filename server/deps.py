"""What every domain servicer is built from: settings, the database, token signing, health state,
page tokens, the skill/tool catalog, model prices, the tool runner and the caches of who may call as whom, agents and
workspaces. Core.start (server/app.py) builds it once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from server.auth.cache import api_key_cache
from server.auth.tokens import AccessTokens
from server.chat.pricing import Prices
from server.config import Settings
from server.db.database import Database
from server.db.notified import NotifiedCache
from server.foreground import Foreground
from server.health import HealthState
from server.mcp.hub import McpHub
from server.paging import PageTokens
from server.providers.registry import Providers
from server.skills.catalog import Catalog
from server.tools.runtime import ToolRunner


@dataclass
class Deps:
    settings: Settings
    db: Database
    tokens: AccessTokens
    health: HealthState
    pages: PageTokens
    catalog: Catalog
    providers: Providers
    prices: Prices
    tools: ToolRunner
    # Per-process caches that NOTIFY keeps in step with the database (server/db/notified.py).
    memberships: NotifiedCache
    visible_agents: NotifiedCache
    workspace_views: NotifiedCache
    # Chat turns in flight in this process, which the memory indexer's local embedding gives way to.
    foreground: Foreground = field(default_factory=Foreground)
    # Personal API key rows by secret hash (server/auth/cache.py), dropped when a key is revoked.
    api_key_rows: NotifiedCache = field(default_factory=api_key_cache)
    # The MCP client runtime (server/mcp/hub.py): the tools of the operator's and the workspaces' MCP servers.
    mcp: McpHub | None = None

    @property
    def caches(self) -> tuple[NotifiedCache, ...]:
        mcp = (self.mcp.cache,) if self.mcp is not None else ()
        return (self.memberships, self.visible_agents, self.workspace_views, self.api_key_rows, *mcp)
