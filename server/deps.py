"""What every domain servicer is built from: settings, the database, token signing, health state,
page tokens, the skill/tool catalog and the cache of who may call as whom."""

from __future__ import annotations

from dataclasses import dataclass

from server.auth.cache import MembershipCache
from server.auth.tokens import AccessTokens
from server.config import Settings
from server.db.database import Database
from server.health import HealthState
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
    tools: ToolRunner
    memberships: MembershipCache
