"""Whether a provider can be called with the configuration this deployment has."""

from __future__ import annotations

from server.config import Settings
from server.providers.anthropic import DEFAULT_ANTHROPIC_BASE_URL
from server.providers.endpoints import BaseUrlRefused, check_form
from server.providers.openai import DEFAULT_OPENAI_BASE_URL


def _own_base_url(settings: Settings, provider: str, base_url: str) -> bool:
    """An agent's base URL other than the operator's: the call goes there, without the server's key."""
    configured = settings.openai_base_url if provider == "openai" else settings.anthropic_base_url
    default = DEFAULT_OPENAI_BASE_URL if provider == "openai" else DEFAULT_ANTHROPIC_BASE_URL
    return bool(base_url) and base_url.rstrip("/") != (configured or default).rstrip("/")


def provider_configured(settings: Settings, provider: str, base_url: str = "") -> tuple[bool, str]:
    """(usable, why not) for a provider, given an agent's own base URL override. An agent with its own server
    needs no server key (it never gets one); whether the operator's rules let its base URL through is decided when
    the agent is saved and again on every call (a refusal then is a provider error), not here."""
    if provider == "local":
        return True, ""
    if provider in ("openai", "anthropic") and _own_base_url(settings, provider, base_url):
        try:
            check_form(base_url)
        except BaseUrlRefused as exc:
            return False, f"baseUrl {exc}"
        return True, ""
    if provider == "openai":
        # Keyless OpenAI-compatible servers (vLLM, Ollama, llama.cpp) only need a base URL.
        if settings.openai_api_key or settings.openai_base_url:
            return True, ""
        return False, "provider openai is not configured (set OPENAI_API_KEY or a base URL)"
    if provider == "anthropic":
        if settings.anthropic_api_key:
            return True, ""
        return False, "provider anthropic is not configured (set ANTHROPIC_API_KEY)"
    return False, f"unknown provider {provider!r}"
