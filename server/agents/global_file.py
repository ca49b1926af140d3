"""Global agents from ASTRA_AGENTS_FILE (YAML), synced at start-up: the file is the source of truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format

from astra.v1 import common_pb2
from server.agents import store
from server.agents.validate import check_id, normalise, to_document
from server.config import ConfigError
from server.db.database import Database
from server.errors import AstraError
from server.skills.catalog import Catalog

_LOCK_KEY = 0x41474E54  # "AGNT": replicas starting together sync one at a time


def parse_agents_file(path: str, catalog: Catalog) -> list[common_pb2.Agent]:
    """Agents listed under `agents:` (or as a top-level list), in proto JSON spelling (camelCase or snake_case)."""
    try:
        data: Any = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"ASTRA_AGENTS_FILE {path}: {exc}") from None
    entries = data.get("agents") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ConfigError(f"ASTRA_AGENTS_FILE {path}: expected a list of agents under 'agents:'")
    agents = []
    for i, entry in enumerate(entries):
        try:
            agent = json_format.ParseDict(entry, common_pb2.Agent())
            check_id(agent.id, f"agents[{i}].id")
            agents.append(normalise(agent, catalog, prefix=f"agents[{i}]."))
        except (json_format.ParseError, AstraError) as exc:
            raise ConfigError(f"ASTRA_AGENTS_FILE {path}: {exc}") from None
    ids = [a.id for a in agents]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"ASTRA_AGENTS_FILE {path}: agent ids must be unique")
    return agents


async def load_global_agents(db: Database, path: str, catalog: Catalog) -> int:
    agents = parse_agents_file(path, catalog)
    async with db.transaction() as conn:
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        try:
            await store.sync_global(conn, [(a.id, a.model, to_document(a)) for a in agents])
        except AstraError as exc:
            raise ConfigError(f"ASTRA_AGENTS_FILE {path}: {exc}") from None
    return len(agents)
