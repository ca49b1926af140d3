"""What every domain servicer is built from: settings, the database, token signing, health state."""

from __future__ import annotations

from dataclasses import dataclass

from server.auth.tokens import AccessTokens
from server.config import Settings
from server.db.database import Database
from server.health import HealthState


@dataclass
class Deps:
    settings: Settings
    db: Database
    tokens: AccessTokens
    health: HealthState
