"""USD per million input/output tokens by model; unknown models cost 0 and say so in the logs once.

The shipped table can be overridden or extended at start-up with ASTRA_PRICING_FILE (YAML or JSON:
{"provider/model": {"input": usd_per_million, "output": usd_per_million}}), for negotiated rates, new models or
self-hosted ones that do cost something. Core.start builds the deployment's Prices once and hands it to the turns.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from server.config import ConfigError

log = logging.getLogger(__name__)

# (input, output) USD per 1M tokens, as published by the vendors.
SHIPPED_PRICES: dict[str, tuple[Decimal, Decimal]] = {
    "local/echo": (Decimal(0), Decimal(0)),
    "openai/gpt-4o": (Decimal("2.50"), Decimal("10.00")),
    "openai/gpt-4o-mini": (Decimal("0.15"), Decimal("0.60")),
    "openai/gpt-4.1": (Decimal("2.00"), Decimal("8.00")),
    "openai/gpt-4.1-mini": (Decimal("0.40"), Decimal("1.60")),
    "openai/gpt-4.1-nano": (Decimal("0.10"), Decimal("0.40")),
    "openai/o4-mini": (Decimal("1.10"), Decimal("4.40")),
    "anthropic/claude-3-5-haiku-latest": (Decimal("0.80"), Decimal("4.00")),
    "anthropic/claude-3-7-sonnet-latest": (Decimal("3.00"), Decimal("15.00")),
    "anthropic/claude-sonnet-4-0": (Decimal("3.00"), Decimal("15.00")),
    "anthropic/claude-opus-4-0": (Decimal("15.00"), Decimal("75.00")),
}
_MILLION = Decimal(1_000_000)


def _price(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where} must be a number (USD per million tokens)")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{where} must be a number (USD per million tokens), got {value!r}") from None
    if not price.is_finite() or price < 0:
        raise ConfigError(f"{where} must be a non-negative number, got {value!r}")
    return price


def load_overrides(path: str) -> dict[str, tuple[Decimal, Decimal]]:
    """The pricing file's entries, checked; ConfigError (the process does not start) on anything malformed."""
    source = f"ASTRA_PRICING_FILE {path}"
    try:
        data = yaml.safe_load(Path(path).read_text())  # YAML is a superset of JSON: one parser reads both
    except OSError as exc:
        raise ConfigError(f"{source} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML or JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f'{source} must map "provider/model" to {{"input": ..., "output": ...}}')
    prices: dict[str, tuple[Decimal, Decimal]] = {}
    for model, entry in data.items():
        provider, _, model_id = str(model).partition("/")
        if not provider or not model_id:
            raise ConfigError(f'{source}: {model!r} is not "provider/model-id"')
        if not isinstance(entry, dict) or set(entry) != {"input", "output"}:
            raise ConfigError(f'{source}: {model} must be {{"input": usd_per_million, "output": usd_per_million}}')
        prices[str(model)] = (
            _price(entry["input"], f"{source}: {model}.input"),
            _price(entry["output"], f"{source}: {model}.output"),
        )
    return prices


class Prices:
    """The deployment's price table: the shipped prices with the pricing file's entries over them."""

    def __init__(self, overrides: dict[str, tuple[Decimal, Decimal]] | None = None):
        self.table = {**SHIPPED_PRICES, **(overrides or {})}
        self._warned: set[str] = set()

    @classmethod
    def load(cls, pricing_file: str) -> Prices:
        """The shipped prices and the pricing file's (none: the shipped prices alone); ConfigError on a bad file."""
        overrides = load_overrides(pricing_file) if pricing_file else {}
        if overrides:
            log.info("model prices overridden", extra={"file": pricing_file, "models": sorted(overrides)})
        return cls(overrides)

    def cost_usd(self, model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
        price = self.table.get(model)
        if price is None:
            if model not in self._warned and not model.startswith("local/"):
                self._warned.add(model)
                log.warning("no price for model; its usage is recorded at 0 USD", extra={"model": model})
            return Decimal(0)
        return (price[0] * prompt_tokens + price[1] * completion_tokens) / _MILLION
