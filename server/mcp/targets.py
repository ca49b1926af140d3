"""The MCP servers a workspace's agents may reach, as `Target`s: the operator's, read once at start from
ASTRA_MCP_SERVERS_FILE (the only place a stdio command may be named: it is the operator's machine), and each
workspace's own streamable-HTTP servers (rows of mcp_servers, reached through the outbound guard).

The file:

    servers:
      - name: time                                   # [a-z0-9_-]{1,32}
        command: ["python", "-m", "mcp_server_time"] # stdio
        env: {TZ: UTC}                               # optional
      - name: everything
        url: http://127.0.0.1:3001/mcp               # streamable HTTP
        headers: {Authorization: "Bearer …"}         # optional
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from server.config import ConfigError
from server.mcp.names import server_name_rule, valid_server_name


@dataclass(frozen=True)
class Target:
    """One MCP server as the client runtime reaches it."""

    name: str
    source: Literal["operator", "workspace"]
    command: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    url: str = ""
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    # Workspace servers: their row's id and workspace, and the outbound guard applies to every connection.
    id: str = ""
    workspace_id: str = ""
    created_at: datetime | None = None

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "streamable_http"

    @property
    def guarded(self) -> bool:
        return self.source == "workspace"

    def key(self, workspace_id: str) -> tuple[str, ...]:
        """What one live connection serves: a stdio child is shared by the whole process; an HTTP session is
        pooled per server and workspace."""
        if self.source == "workspace":
            return ("workspace", self.id)
        if self.command:
            return ("operator", self.name)
        return ("operator", self.name, workspace_id)


def workspace_target(row: dict[str, Any]) -> Target:
    return Target(
        name=row["name"],
        source="workspace",
        url=row["url"],
        headers=tuple(sorted((row["headers"] or {}).items())),
        id=row["id"],
        workspace_id=row["workspace_id"],
        created_at=row["created_at"],
    )


def _strings(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping of names to strings")
    pairs = []
    for key, item in value.items():
        if not isinstance(key, str) or not key or isinstance(item, dict | list) or item is None:
            raise ConfigError(f"{where} must be a mapping of names to strings (see {key!r})")
        pairs.append((key, str(item)))
    return tuple(sorted(pairs))


def _server(entry: Any, where: str) -> Target:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a mapping with name and command or url")
    unknown = sorted(set(entry) - {"name", "command", "env", "url", "headers"})
    if unknown:
        raise ConfigError(f"{where} has unknown keys: {', '.join(map(str, unknown))}")
    name = entry.get("name")
    if not isinstance(name, str) or not valid_server_name(name):
        raise ConfigError(f"{where}.name must be {server_name_rule()}, got {name!r}")
    command, url = entry.get("command"), entry.get("url")
    if (command is None) == (url is None):
        raise ConfigError(f"{where} ({name}) must have either command (stdio) or url (streamable HTTP)")
    if command is not None:
        if not isinstance(command, list) or not command or not all(isinstance(c, str) and c for c in command):
            raise ConfigError(f"{where} ({name}).command must be a non-empty list of strings")
        if "headers" in entry:
            raise ConfigError(f"{where} ({name}): headers go with url, not command")
        return Target(name, "operator", command=tuple(command), env=_strings(entry.get("env"), f"{where}.env"))
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where} ({name}).url must be an http(s) URL, got {url!r}")
    if "env" in entry:
        raise ConfigError(f"{where} ({name}): env goes with command, not url")
    return Target(name, "operator", url=url, headers=_strings(entry.get("headers"), f"{where}.headers"))


def load_servers_file(path: str) -> dict[str, Target]:
    """The operator's servers by name; ConfigError (start-up stops) for anything malformed."""
    if not path:
        return {}
    source = Path(path)
    try:
        data: Any = yaml.safe_load(source.read_text())
    except OSError as exc:
        raise ConfigError(f"ASTRA_MCP_SERVERS_FILE {path} cannot be read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"ASTRA_MCP_SERVERS_FILE {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("servers"), list) or set(data) != {"servers"}:
        raise ConfigError(f"ASTRA_MCP_SERVERS_FILE {path} must be a mapping with one key, servers: a list")
    servers: dict[str, Target] = {}
    for index, entry in enumerate(data["servers"]):
        target = _server(entry, f"ASTRA_MCP_SERVERS_FILE servers[{index}]")
        if target.name in servers:
            raise ConfigError(f"ASTRA_MCP_SERVERS_FILE names server {target.name!r} twice")
        servers[target.name] = target
    return servers
