"""List paging: limits (default 50, max 200) and opaque page tokens that are signed, so an altered or
borrowed token is refused instead of silently reading from the wrong place."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from server.errors import InvalidArgument

DEFAULT_LIMIT, MAX_LIMIT = 50, 200


def page_limit(limit: int) -> int:
    if limit < 0:
        raise InvalidArgument("limit must not be negative")
    return min(limit or DEFAULT_LIMIT, MAX_LIMIT)


def keyset(column: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The cursor of a list ordered by (column, id): what `PageTokens.page` stores for the next page."""
    return lambda row: {"t": row[column].isoformat(), "id": row["id"]}


def after(cursor: dict[str, Any] | None) -> tuple[str, str] | None:
    """The (column value, id) a keyset cursor continues after; None for the first page."""
    return (cursor["t"], cursor["id"]) if cursor else None


class PageTokens:
    def __init__(self, secret: str):
        self._key = hashlib.sha256(b"astra page tokens\0" + secret.encode()).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, scope: str, cursor: dict[str, Any]) -> str:
        """A token for the next page of the list named by scope (e.g. "workspaces:<user id>")."""
        payload = json.dumps({"s": scope, "c": cursor}, separators=(",", ":"), default=str).encode()
        return base64.urlsafe_b64encode(self._mac(payload) + payload).decode().rstrip("=")

    def page(
        self, scope: str, rows: list[dict[str, Any]], limit: int, cursor: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], str]:
        """The first `limit` of rows fetched with LIMIT limit + 1, and the token of the next page ("" when these
        were the last), made from the cursor of the page's last row."""
        if len(rows) <= limit:
            return rows, ""
        rows = rows[:limit]
        return rows, self.encode(scope, cursor(rows[-1]))

    def decode(self, scope: str, token: str) -> dict[str, Any] | None:
        """The cursor in token, None for no token; INVALID_ARGUMENT for a token altered or made for another list."""
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            mac, payload = raw[:16], raw[16:]
            if not hmac.compare_digest(mac, self._mac(payload)):
                raise ValueError("bad signature")
            data = json.loads(payload)
            if data.get("s") != scope:
                raise ValueError("other list")
            return data["c"]
        except (ValueError, KeyError, TypeError):
            raise InvalidArgument("page_token is invalid; request the first page again") from None
