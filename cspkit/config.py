"""Settings and profiles: ``CSPKIT_*`` environment, command-line options, a TOML config file, the emulator default.

Precedence, highest first: command-line options → ``CSPKIT_*`` environment variables → the selected profile in the
config file → defaults. When no Partner Center profile or credential is configured at all, the target is the local
emulator (``Settings.is_emulator``), and every tool says so.

Config file (``$CSPKIT_CONFIG``, else ``~/.config/cspkit/config.toml``)::

    default_profile = "contoso"

    [profiles.contoso]
    auth = "app"                      # "token" | "app" (app-only) | "user" (app+user) | "emulator"
    tenant_id = "contoso.onmicrosoft.com"
    client_id = "00000000-0000-0000-0000-000000000000"
    certificate_path = "~/keys/cspkit.pem"   # app-only with a certificate (else CSPKIT_CLIENT_SECRET)
    certificate_thumbprint = "A1B2..."
    endpoint = "https://api.partnercenter.microsoft.com"

Secrets (client secret, access token, refresh token) are read **only** from the environment
(``CSPKIT_CLIENT_SECRET``, ``CSPKIT_ACCESS_TOKEN``, ``CSPKIT_REFRESH_TOKEN``) or msal's token cache; a config file
that contains one is refused with :class:`~cspkit.errors.ConfigurationError`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cspkit.errors import ConfigurationError

__all__ = [
    "DEFAULT_ENDPOINT",
    "GRAPH_ENDPOINT",
    "PARTNER_CENTER_SCOPE",
    "PRICESHEET_ENDPOINT",
    "Settings",
    "load_settings",
]

DEFAULT_ENDPOINT = "https://api.partnercenter.microsoft.com"
PRICESHEET_ENDPOINT = "https://api.partner.microsoft.com"
GRAPH_ENDPOINT = "https://graph.microsoft.com"
PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/.default"
USER_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation"
AUTHORITY_HOST = "https://login.microsoftonline.com"

AUTH_MODES = ("token", "app", "user", "emulator")
_SECRET_KEYS = {"client_secret", "access_token", "refresh_token", "password", "secret", "token"}


def _home_from_env(env: Mapping[str, str]) -> Path:
    if env.get("CSPKIT_HOME"):
        return Path(env["CSPKIT_HOME"]).expanduser()
    base = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "cspkit"


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one client or CLI run. Never holds a secret in its ``repr``.

    Attributes:
        profile: the profile name used (None when none).
        auth: ``"token"``, ``"app"``, ``"user"`` or ``"emulator"``.
        endpoint: Partner Center base URL without ``/v1`` (e.g. ``https://api.partnercenter.microsoft.com``).
        tenant_id, client_id: the partner's Entra tenant and app registration.
        certificate_path, certificate_thumbprint: app-only certificate credential (PEM private key file).
        locale: ``X-Locale`` header value.
        home: data directory (ledger, emulator state, token cache, price-sheet cache).
        token_cache_path: msal's persistent cache for app+user sign-in (created with mode 0600).
        database_url: ledger SQLAlchemy URL (``CSPKIT_DATABASE_URL``; default SQLite in ``home``).
        emulator_state: state file of the persistent embedded emulator.
    """

    profile: str | None = None
    auth: str = "emulator"
    endpoint: str = DEFAULT_ENDPOINT
    tenant_id: str | None = None
    client_id: str | None = None
    certificate_path: str | None = None
    certificate_thumbprint: str | None = None
    locale: str = "en-US"
    home: Path = field(default_factory=lambda: _home_from_env(os.environ))
    token_cache_path: Path | None = None
    database_url: str | None = field(default=None, repr=False)  # may hold a password
    emulator_state: Path | None = None
    pricesheet_endpoint: str = PRICESHEET_ENDPOINT
    graph_endpoint: str = GRAPH_ENDPOINT
    authority_host: str = AUTHORITY_HOST
    timeout: float = 60.0
    # secrets: excluded from repr and never written anywhere by cspkit
    client_secret: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)

    @property
    def is_emulator(self) -> bool:
        """True when the target is the local emulator rather than Partner Center."""
        return self.auth == "emulator"

    def resolved_token_cache(self) -> Path:
        return self.token_cache_path or (self.home / "msal_token_cache.json")

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'ledger.db'}"

    def resolved_emulator_state(self) -> Path:
        return self.emulator_state or (self.home / "emulator-state.json")

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given non-None fields replaced."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None}).colocated()

    def colocated(self) -> Settings:
        """An endpoint on this machine (an emulator) also serves the price-sheet and Graph APIs unless they were set.

        Real Partner Center spreads them over three hosts; the emulator serves all three on one origin.
        """
        if urlsplit(self.endpoint).hostname not in ("127.0.0.1", "localhost", "::1"):
            return self
        changes = {}
        if self.pricesheet_endpoint == PRICESHEET_ENDPOINT:
            changes["pricesheet_endpoint"] = self.endpoint
        if self.graph_endpoint == GRAPH_ENDPOINT:
            changes["graph_endpoint"] = self.endpoint
        return replace(self, **changes) if changes else self

    def describe(self) -> dict[str, Any]:
        """What would be used, without secrets: identity kind, endpoint, tenant, client id, where tokens come from."""
        source = {
            "token": "static bearer token from CSPKIT_ACCESS_TOKEN",
            "app": "msal app-only (" + ("certificate" if self.certificate_path else "client secret") + ")",
            "user": "msal app+user (device code sign-in, refresh from token cache)",
            "emulator": "local emulator (no Partner Center credentials configured)",
        }[self.auth]
        return {
            "profile": self.profile,
            "target": "emulator" if self.is_emulator else "Partner Center",
            "auth": self.auth,
            "credential": source,
            "endpoint": "local emulator" if self.is_emulator else self.endpoint,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": "set (hidden)" if self.client_secret else None,
            "token_cache": str(self.resolved_token_cache()) if self.auth == "user" else None,
            "database_url": _redact_url(self.resolved_database_url()),
        }


def _redact_url(url: str) -> str:
    """Hide a password in a database URL (``postgresql://u:secret@h/db`` → ``postgresql://u:***@h/db``)."""
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        return f"{scheme}://{creds}@{host}"
    return url


def normalize_endpoint(url: str) -> str:
    """Strip a trailing ``/`` and ``/v1`` so paths can be appended (``…/v1/`` → ``…``)."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"endpoint {url!r} is not an http(s) URL", hint="Set CSPKIT_ENDPOINT or --endpoint to a full URL."
        )
    return url


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("CSPKIT_CONFIG"):
        return Path(env["CSPKIT_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "cspkit" / "config.toml"


def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML ({exc})") from exc
    for name, profile in (data.get("profiles") or {}).items():
        leaked = sorted(_SECRET_KEYS & set(profile))
        if leaked:
            raise ConfigurationError(
                f"{path}: profile {name!r} contains {', '.join(leaked)}; secrets are never read from the config file",
                hint="Remove it from the file and set CSPKIT_CLIENT_SECRET / CSPKIT_ACCESS_TOKEN in the environment.",
            )
    return data


def load_settings(
    *,
    profile: str | None = None,
    endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Resolve settings from options, environment and config file.

    Args:
        profile: profile name (``--profile``); else ``CSPKIT_PROFILE``; else the file's ``default_profile``.
        endpoint: Partner Center base URL (``--endpoint``); else ``CSPKIT_ENDPOINT``; else the profile's.
        env: environment mapping (default ``os.environ``).
        config_file: config file path (default ``$CSPKIT_CONFIG`` or ``~/.config/cspkit/config.toml``).
        overrides: any other :class:`Settings` field.
    Returns:
        :class:`Settings`. The auth mode is the profile's ``auth`` or, failing that, inferred: a
        ``CSPKIT_ACCESS_TOKEN`` → ``token``; tenant + client id + secret/certificate → ``app``; tenant + client id →
        ``user``; nothing → ``emulator``.
    Raises:
        ConfigurationError: unknown profile, unknown auth mode, a secret in the config file, a bad endpoint, or an
            auth mode whose required settings are missing.
    """
    env = os.environ if env is None else env
    path = config_file or config_path(env)
    data = _read_config(path)
    profiles = data.get("profiles") or {}
    name = profile or env.get("CSPKIT_PROFILE") or data.get("default_profile")
    prof: dict[str, Any] = {}
    if name:
        if name not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigurationError(
                f"profile {name!r} is not defined in {path} (profiles: {known})",
                hint="Add a [profiles.NAME] table to the config file or drop --profile.",
            )
        prof = dict(profiles[name])

    def pick(key: str, env_key: str) -> Any:
        value = overrides.pop(key, None)
        if value is None:
            value = env.get(env_key) or None
        if value is None:
            value = prof.get(key)
        return value

    values: dict[str, Any] = {"profile": name}
    values["home"] = Path(overrides.pop("home", None) or _home_from_env(env))
    for key, env_key in [
        ("tenant_id", "CSPKIT_TENANT_ID"),
        ("client_id", "CSPKIT_CLIENT_ID"),
        ("certificate_path", "CSPKIT_CERTIFICATE_PATH"),
        ("certificate_thumbprint", "CSPKIT_CERTIFICATE_THUMBPRINT"),
        ("locale", "CSPKIT_LOCALE"),
        ("token_cache_path", "CSPKIT_TOKEN_CACHE"),
        ("database_url", "CSPKIT_DATABASE_URL"),
        ("emulator_state", "CSPKIT_EMULATOR_STATE"),
        ("pricesheet_endpoint", "CSPKIT_PRICESHEET_ENDPOINT"),
        ("graph_endpoint", "CSPKIT_GRAPH_ENDPOINT"),
        ("authority_host", "CSPKIT_AUTHORITY_HOST"),
    ]:
        value = pick(key, env_key)
        if value is not None:
            values[key] = value
    for key in ("token_cache_path", "emulator_state"):
        if key in values:
            values[key] = Path(values[key]).expanduser()
    # secrets: environment (or explicit Python arguments) only
    values["client_secret"] = overrides.pop("client_secret", None) or env.get("CSPKIT_CLIENT_SECRET") or None
    values["access_token"] = overrides.pop("access_token", None) or env.get("CSPKIT_ACCESS_TOKEN") or None
    values["refresh_token"] = overrides.pop("refresh_token", None) or env.get("CSPKIT_REFRESH_TOKEN") or None
    raw_endpoint = endpoint or overrides.pop("endpoint", None) or env.get("CSPKIT_ENDPOINT") or prof.get("endpoint")

    auth = overrides.pop("auth", None) or env.get("CSPKIT_AUTH") or prof.get("auth")
    if auth is None:
        if values["access_token"]:
            auth = "token"
        elif values.get("tenant_id") and values.get("client_id") and (
            values["client_secret"] or values.get("certificate_path")
        ) and not values["refresh_token"]:
            auth = "app"
        elif values.get("tenant_id") and values.get("client_id"):
            auth = "user"
        else:
            auth = "emulator"
    if auth not in AUTH_MODES:
        raise ConfigurationError(f"unknown auth mode {auth!r}; expected one of {', '.join(AUTH_MODES)}")
    values["auth"] = auth
    if raw_endpoint:
        values["endpoint"] = normalize_endpoint(str(raw_endpoint))
    if "timeout" in overrides:
        values["timeout"] = float(overrides.pop("timeout"))
    known = {f.name for f in fields(Settings)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigurationError(f"unknown settings: {', '.join(sorted(unknown))}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values).colocated()
    _check_complete(settings)
    return settings


def _check_complete(s: Settings) -> None:
    missing: list[str] = []
    if s.auth == "token" and not s.access_token:
        missing.append("CSPKIT_ACCESS_TOKEN")
    if s.auth in ("app", "user"):
        if not s.tenant_id:
            missing.append("tenant_id (CSPKIT_TENANT_ID)")
        if not s.client_id:
            missing.append("client_id (CSPKIT_CLIENT_ID)")
    if s.auth == "app" and not (s.client_secret or s.certificate_path):
        missing.append("CSPKIT_CLIENT_SECRET or certificate_path")
    if s.auth == "app" and s.certificate_path and not s.certificate_thumbprint:
        missing.append("certificate_thumbprint (CSPKIT_CERTIFICATE_THUMBPRINT)")
    if missing:
        raise ConfigurationError(
            f"auth mode {s.auth!r} needs {', '.join(missing)}",
            hint="Set them in the environment or the profile (secrets in the environment only); "
            "see `cspkit auth --help`.",
        )
