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
    ({"LOOKOUT_HEADER_TIMEOUT": "nan"}, "LOOKOUT_HEADER_TIMEOUT must be greater than 0"),
    ({"LOOKOUT_BODY_TIMEOUT": "inf"}, "LOOKOUT_BODY_TIMEOUT must be greater than 0"),
    ({"LOOKOUT_MAX_HEADERS": "0"}, "LOOKOUT_MAX_HEADERS must be greater than 0"),
    ({"LOOKOUT_MAX_CONNECTIONS": "-1"}, "LOOKOUT_MAX_CONNECTIONS must be greater than 0"),
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


def test_slack_response_url_origins_default_to_slack_hooks_and_take_origins():
    assert Settings.from_env({}).slack_response_url_origin_list == {"https://hooks.slack.com"}
    s = Settings.from_env({"LOOKOUT_SLACK_RESPONSE_URL_ORIGINS":
                           "https://HOOKS.slack.com:443, http://127.0.0.1:8080/,"})
    assert s.slack_response_url_origin_list == {"https://hooks.slack.com",
                                                "http://127.0.0.1:8080"}


@pytest.mark.parametrize("value", ["hooks.slack.com", "ftp://hooks.slack.com",
                                   "https://hooks.slack.com/actions", "https://u@hooks.slack.com",
                                   "https://hooks.slack.com?x=1"])
def test_slack_response_url_origins_must_be_origins(value):
    with pytest.raises(ConfigError, match="LOOKOUT_SLACK_RESPONSE_URL_ORIGINS entries must be"):
        Settings.from_env({"LOOKOUT_SLACK_RESPONSE_URL_ORIGINS": value})


def test_search_limits_default_to_safe_values_and_reject_nonsense():
    from collector.search_budget import SearchLimits

    assert SearchLimits.from_settings(Settings.from_env({})) == SearchLimits(2.0, 256, 10)
    s = Settings.from_env({"LOOKOUT_SEARCH_TIME_BUDGET": "0.5",
                           "LOOKOUT_SEARCH_MAX_TERM_LENGTH": "64", "LOOKOUT_SEARCH_MAX_TERMS": "3"})
    assert SearchLimits.from_settings(s) == SearchLimits(0.5, 64, 3)
    for name, value in (("TIME_BUDGET", "nan"), ("TIME_BUDGET", "inf"), ("TIME_BUDGET", "0"),
                        ("MAX_TERM_LENGTH", "0"), ("MAX_TERMS", "-1")):
        with pytest.raises(ConfigError, match=f"LOOKOUT_SEARCH_{name}"):
            Settings.from_env({f"LOOKOUT_SEARCH_{name}": value})


def test_alert_flood_limits_default_and_validate():
    s = Settings.from_env({})
    assert (s.alert_max_groups, s.alert_max_new_groups, s.slack_lease_seconds) == (50, 10, 120)
    s = Settings.from_env({"LOOKOUT_ALERT_MAX_GROUPS": "5", "LOOKOUT_SLACK_LEASE_SECONDS": "2.5"})
    assert (s.alert_max_groups, s.slack_lease_seconds) == (5, 2.5)
    for env, words in [({"LOOKOUT_ALERT_MAX_GROUPS": "0"}, "LOOKOUT_ALERT_MAX_GROUPS"),
                       ({"LOOKOUT_ALERT_MAX_NEW_GROUPS": "-1"}, "LOOKOUT_ALERT_MAX_NEW_GROUPS"),
                       ({"LOOKOUT_SLACK_LEASE_SECONDS": "nan"}, "LOOKOUT_SLACK_LEASE_SECONDS"),
                       ({"LOOKOUT_SLACK_LEASE_SECONDS": "inf"}, "LOOKOUT_SLACK_LEASE_SECONDS")]:
        with pytest.raises(ConfigError) as err:
            Settings.from_env(env)
        assert f"{words} must be a finite number above 0" in str(err.value)


def test_label_and_route_bytes_must_fit_the_index_limit():
    s = Settings.from_env({"LOOKOUT_MAX_LABEL_BYTES": "800", "LOOKOUT_MAX_ROUTE_BYTES": "1000"})
    assert (s.max_label_bytes, s.max_route_bytes) == (800, 1000)
    with pytest.raises(ConfigError, match="LOOKOUT_MAX_LABEL_BYTES \\* 2"):
        Settings.from_env({"LOOKOUT_MAX_LABEL_BYTES": "800", "LOOKOUT_MAX_ROUTE_BYTES": "2000"})
    with pytest.raises(ConfigError, match="LOOKOUT_MAX_COLLECTION_ITEMS must be greater"):
        Settings.from_env({"LOOKOUT_MAX_COLLECTION_ITEMS": "0"})


def test_clock_and_tag_count_limits_default_and_validate():
    s = Settings.from_env({})
    assert (s.clock_drift_seconds, s.max_past_seconds) == (300.0, 30 * 86400.0)
    assert (s.max_issue_tag_keys, s.max_issue_tag_values) == (50, 100)
    for name in ("CLOCK_DRIFT_SECONDS", "MAX_PAST_SECONDS", "MAX_ISSUE_TAG_KEYS",
                 "MAX_ISSUE_TAG_VALUES"):
        with pytest.raises(ConfigError, match=f"LOOKOUT_{name} must be greater than 0"):
            Settings.from_env({f"LOOKOUT_{name}": "0"})


def test_the_past_window_never_exceeds_retention():
    from lookout.services import Services

    svc = Services.build(Settings(retention_days=7, max_past_seconds=90 * 86400.0,
                                  database_url="sqlite+aiosqlite:///:memory:"))
    assert svc.limits.max_past_seconds == 7 * 86400.0
    assert svc.writer.tag_limits.max_keys == 50
