"""msal credentials against mocked Entra endpoints: app-only, refresh-token redemption, silent refresh, cache mode."""

from __future__ import annotations

import json
import os
import re
import stat
from urllib.parse import parse_qs

import pytest
import responses

from cspkit.auth import AppOnlyCredential, StaticTokenCredential, UserCredential
from cspkit.errors import CredentialError

TENANT = "contoso.onmicrosoft.com"
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"
TOKEN_URL = f"{AUTHORITY}/oauth2/v2.0/token"
SECRET = "s3cr3t-never-shown"


def openid_config(rs):
    rs.get(
        re.compile(r"https://login\.microsoftonline\.com/common/discovery/instance.*"),
        json={"tenant_discovery_endpoint": f"{AUTHORITY}/v2.0/.well-known/openid-configuration",
              "api-version": "1.1", "metadata": []},
    )
    rs.get(
        f"{AUTHORITY}/v2.0/.well-known/openid-configuration",
        json={
            "authorization_endpoint": f"{AUTHORITY}/oauth2/v2.0/authorize",
            "token_endpoint": TOKEN_URL,
            "device_authorization_endpoint": f"{AUTHORITY}/oauth2/v2.0/devicecode",
            "issuer": f"https://login.microsoftonline.com/{TENANT}/v2.0",
        },
    )


def token_body(access: str, refresh: str | None = None) -> dict:
    body = {"token_type": "Bearer", "expires_in": 3600, "access_token": access}
    if refresh:
        body["refresh_token"] = refresh
        body["client_info"] = "eyJ1aWQiOiJ1aWQxIiwidXRpZCI6InV0aWQxIn0"  # {"uid":"uid1","utid":"utid1"}
        body["scope"] = "https://api.partnercenter.microsoft.com/user_impersonation"
    return body


def form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


@responses.activate
def test_app_only_client_secret_flow_and_forced_refresh():
    openid_config(responses)
    responses.post(TOKEN_URL, json=token_body("app-token-1"))
    responses.post(TOKEN_URL, json=token_body("app-token-2"))
    credential = AppOnlyCredential(tenant_id=TENANT, client_id="cid", client_secret=SECRET)

    assert credential.get_token() == "app-token-1"
    assert credential.get_token() == "app-token-1"  # served from msal's cache
    assert credential.get_token(force_refresh=True) == "app-token-2"

    posts = [c for c in responses.calls if c.request.method == "POST"]
    assert len(posts) == 2
    body = form(posts[0])
    assert body["grant_type"] == "client_credentials"
    assert body["scope"] == "https://api.partnercenter.microsoft.com/.default"
    assert body["client_id"] == "cid"
    assert SECRET not in repr(credential) and SECRET not in json.dumps(credential.describe())


@responses.activate
def test_app_only_error_becomes_credential_error_without_the_secret():
    openid_config(responses)
    description = "AADSTS7000215: Invalid client secret provided.\nTrace ID: x"
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": description})
    credential = AppOnlyCredential(tenant_id=TENANT, client_id="cid", client_secret=SECRET)
    with pytest.raises(CredentialError) as caught:
        credential.get_token()
    assert caught.value.error == "invalid_client"
    assert "AADSTS7000215" in str(caught.value) and SECRET not in str(caught.value)


@responses.activate
def test_refresh_token_is_redeemed_then_silent_refresh_uses_the_private_cache(tmp_path):
    openid_config(responses)
    responses.post(TOKEN_URL, json=token_body("user-token-1", refresh="rt-2"))
    responses.post(TOKEN_URL, json=token_body("user-token-2", refresh="rt-3"))
    cache = tmp_path / "cache" / "msal.json"
    credential = UserCredential(tenant_id=TENANT, client_id="cid", cache_path=cache, refresh_token="rt-1")

    assert credential.get_token() == "user-token-1"
    first = form([c for c in responses.calls if c.request.method == "POST"][0])
    assert first["grant_type"] == "refresh_token" and first["refresh_token"] == "rt-1"
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600

    # a new process: the cache alone signs in silently, refreshing with the stored refresh token
    again = UserCredential(tenant_id=TENANT, client_id="cid", cache_path=cache)
    assert again.get_token(force_refresh=True) == "user-token-2"
    second = form([c for c in responses.calls if c.request.method == "POST"][1])
    assert second["grant_type"] == "refresh_token" and second["refresh_token"] == "rt-2"
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600


def test_user_credential_without_account_or_refresh_token_asks_to_sign_in(tmp_path):
    credential = UserCredential(tenant_id=TENANT, client_id="cid", cache_path=tmp_path / "c.json")
    with responses.RequestsMock() as rs:
        openid_config(rs)
        with pytest.raises(CredentialError) as caught:
            credential.get_token()
    assert "cspkit auth login" in caught.value.hint


def test_unreachable_authority_is_a_credential_error():
    credential = AppOnlyCredential(tenant_id=TENANT, client_id="cid", client_secret=SECRET)
    with responses.RequestsMock():  # nothing registered: every call is refused
        with pytest.raises(CredentialError):
            credential.get_token()


def test_static_token_is_hidden_in_repr():
    credential = StaticTokenCredential("eyJ-secret-token")
    assert credential.get_token() == "eyJ-secret-token"
    assert "eyJ" not in repr(credential)
