"""CORS with an explicit origin allow-list (ASTRA_CORS_ORIGINS); "*" allows any origin without credentials."""

from __future__ import annotations

from aiohttp import web

EXPOSED = "X-Request-ID, Retry-After, Idempotent-Replayed, ETag, X-Astra-Overhead-Ms"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Request-ID, X-Api-Key, X-Workspace-ID, Idempotency-Key, If-Match"


class Cors:
    def __init__(self, origins: tuple[str, ...]):
        self.any = "*" in origins
        self.origins = frozenset(origins)

    def allows(self, origin: str) -> bool:
        return bool(origin) and (self.any or origin in self.origins)

    def decorate(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin", "")
        if self.allows(origin):
            response.headers["Access-Control-Allow-Origin"] = "*" if self.any else origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED
            if not self.any:
                response.headers["Access-Control-Allow-Credentials"] = "true"
        if self.origins:
            response.headers.add("Vary", "Origin")

    def is_preflight(self, request: web.BaseRequest) -> bool:
        return (
            request.method == "OPTIONS"
            and "Origin" in request.headers
            and "Access-Control-Request-Method" in request.headers
        )

    def preflight(self, request: web.BaseRequest, allowed_methods: list[str]) -> web.Response:
        """204 with the allowed methods and headers, or 403 for an origin not on the list."""
        if not self.allows(request.headers["Origin"]):
            raise PermissionError("origin not allowed")
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": ", ".join(allowed_methods),
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
            },
        )
