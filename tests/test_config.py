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


# -- the target is never guessed (issue 12, item 2) ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CSPKIT_TENANT_ID": "t", "CSPKIT_CLIENT_SECRET": "hunter2-secret"}, "CSPKIT_CLIENT_ID is missing"),
        ({"CSPKIT_CLIENT_ID": "c"}, "CSPKIT_TENANT_ID is missing"),
        ({"CSPKIT_CLIENT_SECRET": "hunter2-secret"}, "CSPKIT_TENANT_ID and CSPKIT_CLIENT_ID are missing"),
        ({"CSPKIT_REFRESH_TOKEN": "r", "CSPKIT_TENANT_ID": "t"}, "CSPKIT_CLIENT_ID is missing"),
        ({"CSPKIT_CERTIFICATE_PATH": "k.pem", "CSPKIT_CLIENT_ID": "c"}, "CSPKIT_TENANT_ID is missing"),
    ],
)
def test_partial_credentials_are_refused_not_sent_to_the_emulator(tmp_path, env, named):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env=env, config_file=tmp_path / "none.toml")
    message = str(caught.value)
    assert named in message and "does not fall back to the emulator" in message
    assert "hunter2-secret" not in message + (caught.value.hint or "")
    assert "CSPKIT_CLIENT_SECRET" in (caught.value.hint or "")


def test_a_profile_with_half_its_credentials_is_refused(tmp_path):
    config = write(tmp_path, 'default_profile = "p"\n[profiles.p]\ntenant_id = "t"\n')
    with pytest.raises(ConfigurationError, match=r"profile 'p' tenant_id is set but CSPKIT_CLIENT_ID is missing"):
        load_settings(env={}, config_file=config)


def test_a_remote_endpoint_without_credentials_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match=r"CSPKIT_ENDPOINT points at https://pc\.example, which is not a "
                       r"local emulator, and no credentials are set"):
        load_settings(env={"CSPKIT_ENDPOINT": "https://pc.example"}, config_file=tmp_path / "none.toml")
    with pytest.raises(ConfigurationError, match="--endpoint points at"):
        load_settings(env={}, endpoint="https://pc.example", config_file=tmp_path / "none.toml")


def test_a_local_endpoint_without_credentials_is_that_emulator_with_its_token(tmp_path):
    settings = load_settings(env={"CSPKIT_ENDPOINT": "http://127.0.0.1:8765"}, config_file=tmp_path / "n.toml")
    assert settings.auth == "token" and settings.access_token == "cspkit-emulator-token"
    assert settings.target_kind == "emulator" and settings.endpoint == "http://127.0.0.1:8765"
    assert settings.reason.startswith("emulator at http://127.0.0.1:8765: CSPKIT_ENDPOINT is on this machine")
    served = load_settings(env={"CSPKIT_ENDPOINT": "http://localhost:9", "CSPKIT_EMULATOR_TOKEN": "own"},
                           config_file=tmp_path / "n.toml")
    assert served.access_token == "own" and "CSPKIT_EMULATOR_TOKEN" in served.reason


def test_the_emulator_token_matches_the_emulator(tmp_path):
    from cspkit.emulator import DEFAULT_TOKEN
    from cspkit.wire import EMULATOR_TOKEN

    assert EMULATOR_TOKEN == DEFAULT_TOKEN


def test_a_missing_profile_or_config_file_is_refused(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigurationError, match=r"CSPKIT_CONFIG names the config file .*missing\.toml, which does "
                       "not exist"):
        load_settings(env={"CSPKIT_CONFIG": str(missing)})
    with pytest.raises(ConfigurationError, match=r"profile 'contoso' is not defined in .*the file does not exist.*"
                       "CSPKIT_PROFILE"):
        load_settings(env={"CSPKIT_PROFILE": "contoso"}, config_file=missing)
    with pytest.raises(ConfigurationError, match=r"named by --profile"):
        load_settings(env={}, profile="contoso", config_file=missing)


def test_profiles_without_a_selection_are_not_guessed(tmp_path):
    config = write(tmp_path, '[profiles.a]\nauth = "app"\n[profiles.b]\nauth = "user"\n')
    with pytest.raises(ConfigurationError, match=r"defines profiles \(a, b\) but none is selected"):
        load_settings(env={}, config_file=config)


def test_the_reason_says_which_target_and_why(tmp_path):
    none = tmp_path / "none.toml"
    emulator = load_settings(env={}, config_file=none)
    assert emulator.reason == (
        f"emulator: nothing configured (no CSPKIT_* credentials, no endpoint, no profile, no config file at {none})"
    )
    app = load_settings(env={"CSPKIT_TENANT_ID": "t", "CSPKIT_CLIENT_ID": "c", "CSPKIT_CLIENT_SECRET": "zz-secret"},
                        config_file=none)
    assert app.reason == (
        "partner-center at https://api.partnercenter.microsoft.com: app-only (client secret) from "
        "CSPKIT_TENANT_ID + CSPKIT_CLIENT_ID + CSPKIT_CLIENT_SECRET"
    )
    assert app.describe()["why"] == app.reason and "zz-secret" not in app.reason
    explicit = write(tmp_path, 'default_profile = "e"\n[profiles.e]\nauth = "emulator"\n')
    assert load_settings(env={}, config_file=explicit).reason == (
        "emulator (embedded): auth = 'emulator' from profile 'e'"
    )


def test_the_time_budget_comes_from_option_environment_or_profile(tmp_path):
    none = tmp_path / "none.toml"
    assert load_settings(env={}, config_file=none).timeout == 120.0
    assert load_settings(env={"CSPKIT_TIMEOUT": "7.5"}, config_file=none).timeout == 7.5
    assert load_settings(env={"CSPKIT_TIMEOUT": "7.5"}, config_file=none, timeout=3).timeout == 3.0
    for bad in ("soon", "0", "-1"):
        with pytest.raises(ConfigurationError, match=f"CSPKIT_TIMEOUT is '{bad}'; expected a number of seconds"):
            load_settings(env={"CSPKIT_TIMEOUT": bad}, config_file=none)
