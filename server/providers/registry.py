"""One instance of each provider per process, with its circuit breaker and retry policy."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from server.config import Settings
from server.providers.anthropic import AnthropicProvider
from server.providers.availability import provider_configured
from server.providers.base import CompletionRequest, Provider, ProviderError, StreamEvent
from server.providers.endpoints import AgentEndpoints
from server.providers.local import LocalProvider
from server.providers.openai import OpenAIProvider
from server.providers.resilience import CircuitBreaker, stream_with_retries

NAMES = ("local", "openai", "anthropic")


class Providers:
    def __init__(self, settings: Settings, overrides: dict[str, Provider] | None = None):
        self.settings = settings
        agents = AgentEndpoints.from_settings(settings)
        self._providers: dict[str, Provider] = {
            "local": LocalProvider(),
            "openai": OpenAIProvider(settings.openai_api_key, settings.openai_base_url, agent_endpoints=agents),
            "anthropic": AnthropicProvider(
                settings.anthropic_api_key, settings.anthropic_base_url, agent_endpoints=agents
            ),
            **(overrides or {}),
        }
        self.breakers = {name: CircuitBreaker() for name in self._providers}

    def stream(self, provider: str, request: CompletionRequest) -> AsyncGenerator[StreamEvent, None]:
        if provider not in self._providers:
            raise ProviderError(provider, f"unknown provider {provider!r}", status=400)
        return stream_with_retries(self._providers[provider], request, self.breakers[provider])

    def configured(self, provider: str, base_url: str = "") -> tuple[bool, str]:
        return provider_configured(self.settings, provider, base_url)

    async def close(self) -> None:
        for provider in self._providers.values():
            await provider.close()
