"""Settings come from LOOKOUT_* variables; bad values are one clear line."""

from __future__ import annotations

import pytest

from lookout.errors import ConfigError
from lookout.settings import Settings


def test_defaults_match_the_contract():
    s = Settings.from_env({})
    assert s.database_url == "sqlite+aiosqlite:///./lookout.db"
    assert s.base_url == "http://127.0.0.1:8000"
    assert s.eval_interval == 15 and s.retention_days == 30
    assert s.slack_bot_token is None and s.is_sqlite


def test_values_are_parsed():
    s = Settings.from_env({"LOOKOUT_RETENTION_DAYS": "7", "LOOKOUT_EVAL_INTERVAL": "0.5",
                           "LOOKOUT_DATABASE_URL": "postgresql+asyncpg://u@h/db",
                           "LOOKOUT_SLACK_CHANNEL": "#ops", "LOOKOUT_UNRELATED": "x"})
    assert (s.retention_days, s.eval_interval, s.slack_channel) == (7, 0.5, "#ops")
    assert not s.is_sqlite


@pytest.mark.parametrize("env,words", [
    ({"LOOKOUT_RETENTION_DAYS": "soon"}, "LOOKOUT_RETENTION_DAYS must be a number"),
    ({"LOOKOUT_RETENTION_DAYS": "0"}, "LOOKOUT_RETENTION_DAYS must be greater than 0"),
    ({"LOOKOUT_DATABASE_URL": "mysql://x"}, "LOOKOUT_DATABASE_URL must start with"),
    ({"LOOKOUT_BASE_URL": "ftp://x"}, "LOOKOUT_BASE_URL"),
    ({"LOOKOUT_LOG_LEVEL": "chatty"}, "LOOKOUT_LOG_LEVEL"),
])
def test_bad_values_name_the_variable(env, words):
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_trusted_proxies_default_to_nobody_and_take_ips_and_networks():
    assert Settings.from_env({}).trusted_proxy_list == []
    s = Settings.from_env({"LOOKOUT_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,,::1 "})
    assert s.trusted_proxy_list == ["127.0.0.1", "10.0.0.0/8", "::1"]


@pytest.mark.parametrize("value", ["nginx.local", "10.0.0.0/33", "*", "127.0.0.1;10.0.0.1"])
def test_trusted_proxies_must_be_addresses(value):
    with pytest.raises(ConfigError, match="LOOKOUT_TRUSTED_PROXIES entries must be IP"):
        Settings.from_env({"LOOKOUT_TRUSTED_PROXIES": value})

def test_repr_masks_secrets_and_the_database_password() -> None:
    settings = Settings(database_url="postgresql+asyncpg://app:hunter2@db:5432/lookout",
                        secret_key="sk-1", slack_bot_token="xoxb-2",
                        slack_signing_secret="sig-3", slack_app_token="xapp-4")
    text = repr(settings)
    for secret in ("hunter2", "sk-1", "xoxb-2", "sig-3", "xapp-4"):
        assert secret not in text
    assert "postgresql+asyncpg://app:***@db:5432/lookout" in text and "slack_channel=None" in text


def test_label_and_route_bytes_must_fit_the_index_limit():
    s = Settings.from_env({"LOOKOUT_MAX_LABEL_BYTES": "800", "LOOKOUT_MAX_ROUTE_BYTES": "1000"})
    assert (s.max_label_bytes, s.max_route_bytes) == (800, 1000)
    with pytest.raises(ConfigError, match="LOOKOUT_MAX_LABEL_BYTES \\* 2"):
        Settings.from_env({"LOOKOUT_MAX_LABEL_BYTES": "800", "LOOKOUT_MAX_ROUTE_BYTES": "2000"})
    with pytest.raises(ConfigError, match="LOOKOUT_MAX_COLLECTION_ITEMS must be greater"):
        Settings.from_env({"LOOKOUT_MAX_COLLECTION_ITEMS": "0"})
