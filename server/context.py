"""Per-call state carried in context variables, so logs and domain code see it without threading it."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a verified user acting in one workspace, or an API-key holder (user_id empty)."""

    user_id: str = ""
    workspace_id: str = ""
    role: str = ""
    token_expires_at: float = 0.0  # 0: a credential that does not expire (a personal API key without expiry)
    api_key: bool = False  # an operator key from ASTRA_API_KEYS
    # The personal API key (server/auth/keys.py) the user called with, "" for an access token: usage made with
    # it is attributed to it.
    api_key_id: str = ""


principal_var: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)
client_address_var: contextvars.ContextVar[str] = contextvars.ContextVar("client_address", default="")


def current_principal() -> Principal:
    """The caller of the current RPC; the auth interceptor sets it before any handler runs."""
    principal = principal_var.get()
    if principal is None:
        raise RuntimeError("no principal bound: is the method's auth option NONE?")
    return principal
