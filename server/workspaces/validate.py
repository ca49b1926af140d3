"""A workspace's name, plan and settings, checked before they are stored."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf import json_format

from astra.v1 import common_pb2
from server.errors import InvalidArgument
from server.restrictions import split_model

PLANS = ("free", "pro", "team", "enterprise")


def check_workspace_spec(name: str, plan: str) -> tuple[str, str]:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidArgument("name must be 1 to 100 characters")
    plan = plan or "free"
    if plan not in PLANS:
        raise InvalidArgument(f"plan must be one of {', '.join(PLANS)}")
    return name, plan


def check_settings(settings: common_pb2.WorkspaceSettings) -> dict[str, Any]:
    """The settings as stored (proto JSON), after checking each field."""
    if settings.default_model:
        split_model(settings.default_model, "settings.defaultModel")
    if settings.timezone:
        try:
            ZoneInfo(settings.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidArgument(f"settings.timezone: unknown time zone {settings.timezone!r}") from None
    if settings.HasField("session_idle_timeout_minutes") and not 1 <= settings.session_idle_timeout_minutes <= 43200:
        raise InvalidArgument("settings.sessionIdleTimeoutMinutes must be 1 to 43200")
    if settings.HasField("daily_reset_hour") and not 0 <= settings.daily_reset_hour <= 23:
        raise InvalidArgument("settings.dailyResetHour must be 0 to 23")
    if settings.HasField("memory_retention_days") and not 0 <= settings.memory_retention_days <= 3650:
        raise InvalidArgument("settings.memoryRetentionDays must be 0 (keep forever) to 3650")
    return json_format.MessageToDict(settings)
