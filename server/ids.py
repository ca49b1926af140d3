"""Prefixed random identifiers (usr_, ws_, ses_, ...): readable in logs, unguessable."""

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
