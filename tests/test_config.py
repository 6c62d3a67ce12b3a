"""Settings resolution: precedence, profiles, secrets only from the environment, the emulator default."""

from __future__ import annotations

from pathlib import Path

import pytest

from cspkit.config import DEFAULT_ENDPOINT, load_settings
from cspkit.errors import ConfigurationError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_nothing_configured_targets_the_emulator(tmp_path):
    settings = load_settings(env={"CSPKIT_HOME": str(tmp_path)}, config_file=tmp_path / "missing.toml")
    assert settings.is_emulator and settings.auth == "emulator"
    assert settings.resolved_database_url() == f"sqlite:///{tmp_path / 'ledger.db'}"
    assert settings.describe()["target"] == "emulator"


def test_precedence_option_over_environment_over_profile(tmp_path):
    config = write(tmp_path, """
default_profile = "contoso"
[profiles.contoso]
auth = "app"
tenant_id = "profile-tenant"
client_id = "profile-client"
endpoint = "https://profile.example/v1/"
""")
    env = {"CSPKIT_CLIENT_SECRET": "s", "CSPKIT_TENANT_ID": "env-tenant"}
    settings = load_settings(env=env, config_file=config)
    assert settings.profile == "contoso" and settings.auth == "app"
    assert settings.tenant_id == "env-tenant"  # environment beats the profile
    assert settings.client_id == "profile-client"
    assert settings.endpoint == "https://profile.example"  # trailing /v1 and / removed
    assert load_settings(env=env, config_file=config, endpoint="https://option.example").endpoint == (
        "https://option.example"
    )


def test_inferred_auth_modes(tmp_path):
    none = tmp_path / "none.toml"
    assert load_settings(env={"CSPKIT_ACCESS_TOKEN": "t"}, config_file=none).auth == "token"
    app = {"CSPKIT_TENANT_ID": "t", "CSPKIT_CLIENT_ID": "c", "CSPKIT_CLIENT_SECRET": "s"}
    assert load_settings(env=app, config_file=none).auth == "app"
    assert load_settings(env={**app, "CSPKIT_REFRESH_TOKEN": "r"}, config_file=none).auth == "user"
    user = load_settings(env={"CSPKIT_TENANT_ID": "t", "CSPKIT_CLIENT_ID": "c"}, config_file=none)
    assert user.auth == "user" and user.endpoint == DEFAULT_ENDPOINT


def test_a_secret_in_the_config_file_is_refused(tmp_path):
    config = write(tmp_path, '[profiles.bad]\nauth = "app"\nclient_secret = "oops"\n')
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env={}, config_file=config, profile="bad")
    assert "client_secret" in str(caught.value) and "oops" not in str(caught.value)


def test_unknown_profile_and_incomplete_auth_are_clear_errors(tmp_path):
    config = write(tmp_path, '[profiles.a]\nauth = "app"\ntenant_id = "t"\n')
    with pytest.raises(ConfigurationError, match="profile 'b' is not defined"):
        load_settings(env={}, config_file=config, profile="b")
    with pytest.raises(ConfigurationError, match="client_id"):
        load_settings(env={}, config_file=config, profile="a")


def test_secrets_never_appear_in_repr_or_describe(tmp_path):
    env = {"CSPKIT_TENANT_ID": "t", "CSPKIT_CLIENT_ID": "c", "CSPKIT_CLIENT_SECRET": "hunter2-secret",
           "CSPKIT_DATABASE_URL": "postgresql://ledger:dbpass@db/cspkit"}
    settings = load_settings(env=env, config_file=tmp_path / "none.toml")
    text = repr(settings) + str(settings.describe())
    assert "hunter2-secret" not in text and "dbpass" not in text
    assert settings.describe()["client_secret"] == "set (hidden)"


def test_bad_endpoint_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="not an http"):
        load_settings(env={"CSPKIT_ACCESS_TOKEN": "t"}, endpoint="ftp://x", config_file=tmp_path / "n.toml")


def test_an_emulator_endpoint_also_serves_price_sheets_and_graph(tmp_path):
    none = tmp_path / "none.toml"
    local = load_settings(env={"CSPKIT_ACCESS_TOKEN": "t", "CSPKIT_ENDPOINT": "http://127.0.0.1:8765/v1"},
                          config_file=none)
    assert local.pricesheet_endpoint == local.graph_endpoint == "http://127.0.0.1:8765"
    explicit = load_settings(env={"CSPKIT_ACCESS_TOKEN": "t", "CSPKIT_ENDPOINT": "http://127.0.0.1:8765",
                                  "CSPKIT_GRAPH_ENDPOINT": "http://127.0.0.1:9999"}, config_file=none)
    assert explicit.graph_endpoint == "http://127.0.0.1:9999" and explicit.pricesheet_endpoint == explicit.endpoint
    remote = load_settings(env={"CSPKIT_ACCESS_TOKEN": "t"}, config_file=none, endpoint="https://pc.example")
    assert remote.graph_endpoint == "https://graph.microsoft.com"
    assert remote.with_overrides(endpoint="http://localhost:1").graph_endpoint == "http://localhost:1"
