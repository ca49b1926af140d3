"""Whether a provider can be called with the configuration this deployment has."""

from __future__ import annotations

from server.config import Settings


def provider_configured(settings: Settings, provider: str, base_url: str = "") -> tuple[bool, str]:
    """(usable, why not) for a provider, given an agent's own base URL override."""
    if provider == "local":
        return True, ""
    if provider == "openai":
        # Keyless OpenAI-compatible servers (vLLM, Ollama, llama.cpp) only need a base URL.
        if settings.openai_api_key or base_url or settings.openai_base_url:
            return True, ""
        return False, "provider openai is not configured (set OPENAI_API_KEY or a base URL)"
    if provider == "anthropic":
        if settings.anthropic_api_key:
            return True, ""
        return False, "provider anthropic is not configured (set ANTHROPIC_API_KEY)"
    return False, f"unknown provider {provider!r}"
