"""USD per million input/output tokens by model; unknown models cost 0 and say so in the logs once."""

from __future__ import annotations

import logging
from decimal import Decimal

log = logging.getLogger(__name__)

# (input, output) USD per 1M tokens, as published by the vendors.
PRICES: dict[str, tuple[Decimal, Decimal]] = {
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
_warned: set[str] = set()


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> Decimal:
    price = PRICES.get(model)
    if price is None:
        if model not in _warned and not model.startswith("local/"):
            _warned.add(model)
            log.warning("no price for model; its usage is recorded at 0 USD", extra={"model": model})
        return Decimal(0)
    return (price[0] * prompt_tokens + price[1] * completion_tokens) / _MILLION
