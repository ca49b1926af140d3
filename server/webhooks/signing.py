"""Standard Webhooks signing: secrets are "whsec_" + base64 key; the signature is
v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from server.errors import InvalidArgument

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def key_of(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def check_secret(secret: str) -> str:
    """A caller-chosen secret, if it is a whsec_ key of 24 to 64 bytes; INVALID_ARGUMENT otherwise."""
    if not secret.startswith(PREFIX):
        raise InvalidArgument('secret must start with "whsec_"')
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("secret must be whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise InvalidArgument("secret must encode 24 to 64 bytes")
    return secret


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key_of(secret), signed, hashlib.sha256).digest()).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "Astra-Webhooks/1",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }
