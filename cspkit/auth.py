"""Credentials: where the bearer token for Partner Center comes from.

* :class:`StaticTokenCredential` — a token obtained elsewhere (``CSPKIT_ACCESS_TOKEN``); cannot refresh.
* :class:`AppOnlyCredential` — msal ``ConfidentialClientApplication.acquire_token_for_client`` with a client secret
  or a certificate, scope ``https://api.partnercenter.microsoft.com/.default`` (partner-center-api.md §1.1).
* :class:`UserCredential` — app+user (secure application model, §1.2): device-code sign-in once
  (``cspkit auth login``), or a refresh token from ``CSPKIT_REFRESH_TOKEN``; afterwards silent refresh from msal's
  persistent token cache, a file created with mode 0600.

Every credential has ``get_token(force_refresh=False) -> str`` and ``describe() -> dict`` (never a secret), and its
``repr`` shows no secret. Failures raise :class:`~cspkit.errors.CredentialError` with msal's error and description.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from cspkit.config import PARTNER_CENTER_SCOPE, USER_SCOPE, Settings
from cspkit.errors import ConfigurationError, CredentialError

__all__ = [
    "AppOnlyCredential",
    "Credential",
    "StaticTokenCredential",
    "UserCredential",
    "credential_from_settings",
]


class Credential(Protocol):
    def get_token(self, *, force_refresh: bool = False) -> str: ...

    def describe(self) -> dict[str, Any]: ...


class StaticTokenCredential:
    """A bearer token obtained elsewhere. ``force_refresh`` cannot help: a 401 surfaces as AuthenticationError."""

    def __init__(self, token: str, *, label: str = "static bearer token") -> None:
        if not token:
            raise ConfigurationError("an empty access token was given")
        self._token = token
        self.label = label

    def get_token(self, *, force_refresh: bool = False) -> str:
        return self._token

    def describe(self) -> dict[str, Any]:
        return {"kind": self.label}

    def __repr__(self) -> str:
        return f"StaticTokenCredential(label={self.label!r}, token=***)"


def _msal_error(result: dict[str, Any] | None, what: str) -> CredentialError:
    result = result or {}
    error = result.get("error")
    description = (result.get("error_description") or "").splitlines()[0] if result.get("error_description") else None
    message = f"could not obtain a token ({what})"
    if error:
        message += f": {error}"
    if description:
        message += f" — {description}"
    return CredentialError(
        message,
        error=error,
        description=description,
        hint="Check the tenant id, client id and secret/certificate, and the app's Partner Center API permission.",
    )


def _msal_call(call: Callable[[], Any], what: str) -> Any:
    """Run an msal call, turning its authority/network failures into CredentialError."""
    import requests

    try:
        return call()
    except (ValueError, requests.exceptions.RequestException) as exc:
        raise CredentialError(
            f"could not obtain a token ({what}): {str(exc).splitlines()[0][:200]}",
            error=type(exc).__name__,
            hint="Check the tenant id and the network path to the sign-in authority.",
        ) from exc


class AppOnlyCredential:
    """App-only token (client credentials) through msal.

    Args:
        tenant_id: partner tenant (GUID or ``*.onmicrosoft.com``).
        client_id: app registration id.
        client_secret: the secret (from the environment), or
        certificate_path + certificate_thumbprint: a PEM private key and its thumbprint.
        authority_host: ``https://login.microsoftonline.com`` unless a sovereign cloud.
        scopes: default ``["https://api.partnercenter.microsoft.com/.default"]``.
    Raises:
        ConfigurationError: neither a secret nor a certificate, or the certificate cannot be read.
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str | None = None,
        certificate_path: str | None = None,
        certificate_thumbprint: str | None = None,
        authority_host: str = "https://login.microsoftonline.com",
        scopes: list[str] | None = None,
        http_client: Any = None,
    ) -> None:
        import msal

        if client_secret:
            credential: Any = client_secret
            self._kind = "client secret"
        elif certificate_path:
            try:
                key = Path(certificate_path).expanduser().read_text()
            except OSError as exc:
                raise ConfigurationError(f"cannot read certificate {certificate_path}: {exc.strerror}") from exc
            credential = {"private_key": key, "thumbprint": certificate_thumbprint}
            self._kind = "certificate"
        else:
            raise ConfigurationError("app-only sign-in needs CSPKIT_CLIENT_SECRET or a certificate")
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.scopes = scopes or [PARTNER_CENTER_SCOPE]
        self._lock = threading.Lock()
        self._factory = lambda: _msal_call(
            lambda: msal.ConfidentialClientApplication(
                client_id,
                client_credential=credential,
                authority=f"{authority_host.rstrip('/')}/{tenant_id}",
                http_client=http_client,
            ),
            "app-only",
        )
        self._app: Any = None

    def get_token(self, *, force_refresh: bool = False) -> str:
        with self._lock:
            if force_refresh or self._app is None:  # msal serves client-credential tokens from its cache
                self._app = self._factory()
            result = _msal_call(lambda: self._app.acquire_token_for_client(scopes=self.scopes), "app-only")
        if not result or "access_token" not in result:
            raise _msal_error(result, "app-only")
        return result["access_token"]

    def describe(self) -> dict[str, Any]:
        return {"kind": f"app-only ({self._kind})", "tenant_id": self.tenant_id, "client_id": self.client_id}

    def __repr__(self) -> str:
        return f"AppOnlyCredential(tenant_id={self.tenant_id!r}, client_id={self.client_id!r}, credential=***)"


def _open_private(path: Path) -> None:
    """Create ``path`` (and its parent) readable by the owner only; tighten an existing file to 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class UserCredential:
    """App+user token through msal with a persistent cache (mode 0600).

    Sign in once with :meth:`sign_in_device_code` (or give a refresh token from the secure application model's
    consent), then :meth:`get_token` refreshes silently from the cache.

    Args:
        tenant_id, client_id: partner tenant and app registration.
        cache_path: msal token cache file; created with mode 0600.
        client_secret: for a web (confidential) app; a native app has none.
        refresh_token: a refresh token to redeem when the cache has no account yet.
        scopes: default ``["https://api.partnercenter.microsoft.com/user_impersonation"]``.
    """

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        cache_path: Path,
        client_secret: str | None = None,
        refresh_token: str | None = None,
        authority_host: str = "https://login.microsoftonline.com",
        scopes: list[str] | None = None,
        http_client: Any = None,
    ) -> None:
        import msal

        self.tenant_id = tenant_id
        self.client_id = client_id
        self.cache_path = Path(cache_path)
        self.scopes = scopes or [USER_SCOPE]
        self._refresh_token = refresh_token
        self._lock = threading.Lock()
        self._cache = msal.SerializableTokenCache()
        if self.cache_path.exists():
            self._cache.deserialize(self.cache_path.read_text() or "{}")
        authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        def build() -> Any:
            if client_secret:
                return msal.ConfidentialClientApplication(
                    client_id, client_credential=client_secret, authority=authority, token_cache=self._cache,
                    http_client=http_client,
                )
            return msal.PublicClientApplication(
                client_id, authority=authority, token_cache=self._cache, http_client=http_client
            )

        self._build = build
        self._app_instance: Any = None

    @property
    def _app(self) -> Any:
        """The msal application, built on first use (building it contacts the authority)."""
        if self._app_instance is None:
            self._app_instance = _msal_call(self._build, "app+user")
        return self._app_instance

    def _save(self) -> None:
        if not self._cache.has_state_changed:
            return
        _open_private(self.cache_path)
        tmp = self.cache_path.with_suffix(self.cache_path.suffix + ".tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self._cache.serialize())
        os.replace(tmp, self.cache_path)
        os.chmod(self.cache_path, 0o600)

    def get_token(self, *, force_refresh: bool = False) -> str:
        with self._lock:
            accounts = self._app.get_accounts()
            result = None
            if accounts:
                result = _msal_call(
                    lambda: self._app.acquire_token_silent_with_error(
                        self.scopes, account=accounts[0], force_refresh=force_refresh
                    ),
                    "app+user refresh",
                )
            if (not result or "access_token" not in result) and self._refresh_token:
                token = self._refresh_token
                result = _msal_call(
                    lambda: self._app.acquire_token_by_refresh_token(token, scopes=self.scopes), "app+user refresh"
                )
                if result and "access_token" in result:
                    self._refresh_token = None  # now in the cache
            self._save()
        if result is None:
            raise CredentialError(
                "not signed in: no account in the token cache",
                hint="Run `cspkit auth login` (device code) or set CSPKIT_REFRESH_TOKEN.",
            )
        if "access_token" not in result:
            raise _msal_error(result, "app+user refresh")
        return result["access_token"]

    def sign_in_device_code(self, prompt: Callable[[str], None]) -> dict[str, Any]:
        """Interactive device-code sign-in; ``prompt`` receives msal's instruction text. Returns id-token claims."""
        flow = self._app.initiate_device_flow(scopes=self.scopes)
        if "user_code" not in flow:
            raise _msal_error(flow, "device code")
        prompt(flow["message"])
        result = self._app.acquire_token_by_device_flow(flow)
        self._save()
        if "access_token" not in result:
            raise _msal_error(result, "device code")
        return dict(result.get("id_token_claims") or {})

    def describe(self) -> dict[str, Any]:
        accounts = self._cache.find(self._cache.CredentialType.ACCOUNT)  # offline: read the cache, not the authority
        return {
            "kind": "app+user",
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "signed_in_as": accounts[0].get("username") if accounts else None,
            "token_cache": str(self.cache_path),
        }

    def __repr__(self) -> str:
        return f"UserCredential(tenant_id={self.tenant_id!r}, client_id={self.client_id!r}, cache={self.cache_path})"


def credential_from_settings(
    settings: Settings, *, scopes: list[str] | None = None, http_client: Any = None
) -> Credential:
    """Build the credential the settings ask for (not for ``auth="emulator"``: the emulator supplies its token).

    Args:
        scopes: token scopes for another audience (Graph billing exports, the price-sheet API); default Partner
            Center's. A static token is used as it is, whatever the audience.
    Raises:
        ConfigurationError: the auth mode is ``emulator`` or its settings are incomplete.
    """
    if settings.auth == "token":
        return StaticTokenCredential(settings.access_token or "")
    if settings.auth == "app":
        return AppOnlyCredential(
            tenant_id=settings.tenant_id or "",
            client_id=settings.client_id or "",
            client_secret=settings.client_secret,
            certificate_path=settings.certificate_path,
            certificate_thumbprint=settings.certificate_thumbprint,
            authority_host=settings.authority_host,
            scopes=scopes,
            http_client=http_client,
        )
    if settings.auth == "user":
        return UserCredential(
            tenant_id=settings.tenant_id or "",
            client_id=settings.client_id or "",
            cache_path=settings.resolved_token_cache(),
            client_secret=settings.client_secret,
            refresh_token=settings.refresh_token,
            authority_host=settings.authority_host,
            scopes=scopes,
            http_client=http_client,
        )
    raise ConfigurationError("the emulator target has no Partner Center credential")
