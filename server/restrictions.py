"""Workspace restrictions on providers and models, enforced wherever a model is chosen."""

from __future__ import annotations

from collections.abc import Sequence

from server.errors import InvalidArgument, PermissionDenied

PROVIDERS = ("openai", "anthropic", "local")
DEFAULT_MODEL = "local/echo"


def split_model(model: str, field: str = "model") -> tuple[str, str]:
    """("provider", "model-id") of "provider/model-id"; INVALID_ARGUMENT naming the field otherwise."""
    provider, sep, model_id = model.partition("/")
    if not sep or not provider or not model_id:
        raise InvalidArgument(f"{field} must look like provider/model-id, got {model!r}")
    if provider not in PROVIDERS:
        raise InvalidArgument(f"{field}: unknown provider {provider!r} (known: {', '.join(PROVIDERS)})")
    return provider, model_id


def restriction_error(model: str, providers: Sequence[str] | None, models: Sequence[str] | None) -> str:
    """Why the workspace may not use model, or "" when it may."""
    provider = model.partition("/")[0]
    if providers is not None and provider not in providers:
        return f"provider {provider!r} is not allowed in this workspace (allowed: {', '.join(providers) or 'none'})"
    if models is not None and model not in models:
        return f"model {model!r} is not allowed in this workspace (allowed: {', '.join(models) or 'none'})"
    return ""


def enforce(model: str, providers: Sequence[str] | None, models: Sequence[str] | None) -> None:
    reason = restriction_error(model, providers, models)
    if reason:
        raise PermissionDenied(reason)
