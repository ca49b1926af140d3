"""Typed async client for the Astra gateway: generated messages and stubs plus AstraClient."""

from astra_client.client import AstraClient, ChatEvent
from astra_client.gen.astra import v1

__all__ = ["AstraClient", "ChatEvent", "v1"]
