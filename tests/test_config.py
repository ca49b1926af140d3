"""Settings from the environment: documented defaults, clear refusals, the dev secret kept across restarts."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import pytest

from server.config import ENV, ConfigError, Settings, load_settings, with_jwt_secret


def test_defaults_match_the_readme() -> None:
    settings = load_settings({})
    assert (settings.http_port, settings.grpc_port) == (3000, 50051)
    assert settings.data_dir == Path(".astra")
    assert settings.embedded_db and not settings.allow_private_urls
    assert settings.heartbeat_min_interval_s == 60
    assert settings.webhook_retry_schedule[0] == 5 and settings.webhook_retry_schedule[-1] == 86400
    assert settings.core_target == "127.0.0.1:50051"


def test_each_variable_sets_one_field_whose_default_is_written_once() -> None:
    # The defaults are the Settings fields' own: loading an empty environment changes none of them.
    assert load_settings({}) == Settings()
    names = [name for name, _ in ENV.values()]
    assert len(names) == len(set(names)) and set(names) <= {f.name for f in fields(Settings)}
    assert load_settings({"ASTRA_SSE_KEEPALIVE_S": " 2.5 ", "ASTRA_LOG_LEVEL": "DEBUG"}) == replace(
        Settings(), sse_keepalive_s=2.5, log_level="debug"
    )


def test_lists_and_flags_are_parsed() -> None:
    settings = load_settings(
        {
            "ASTRA_API_KEYS": " k1, k2 ,,",
            "ASTRA_CORS_ORIGINS": "https://a.example,https://b.example",
            "ASTRA_ALLOW_PRIVATE_URLS": "TRUE",
            "ASTRA_WEBHOOK_RETRY_SCHEDULE": "1,2,3",
            "ASTRA_GRPC_TARGET": "core:50051",
        }
    )
    assert settings.api_keys == ("k1", "k2")
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.allow_private_urls is True
    assert settings.webhook_retry_schedule == (1, 2, 3)
    assert settings.core_target == "core:50051"


@pytest.mark.parametrize(
    "env",
    [
        {"ASTRA_HTTP_PORT": "http"},
        {"ASTRA_ALLOW_PRIVATE_URLS": "maybe"},
        {"ASTRA_WEBHOOK_RETRY_SCHEDULE": "5,soon"},
        {"JWT_SECRET_PREV": "too-short"},
    ],
)
def test_bad_values_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_settings(env)


def test_secrets_are_not_in_the_settings_repr() -> None:
    settings = load_settings({"JWT_SECRET": "s" * 40, "ASTRA_API_KEYS": "very-secret-key"})
    assert "s" * 40 not in repr(settings) and "very-secret-key" not in repr(settings)


def test_embedded_dev_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = load_settings({"ASTRA_DATA_DIR": str(tmp_path / "data")})
    first = with_jwt_secret(settings).jwt_secret
    second = with_jwt_secret(settings).jwt_secret
    assert len(first.encode()) >= 32 and first == second  # tokens survive a restart


def test_external_database_needs_a_strong_secret() -> None:
    with pytest.raises(ConfigError, match="JWT_SECRET is required"):
        with_jwt_secret(load_settings({"DATABASE_URL": "postgresql://db/astra"}))
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        with_jwt_secret(load_settings({"DATABASE_URL": "postgresql://db/astra", "JWT_SECRET": "x" * 31}))
    assert with_jwt_secret(load_settings({"DATABASE_URL": "postgresql://db/a", "JWT_SECRET": "x" * 32})).jwt_secret
