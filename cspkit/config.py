"""Settings and profiles: ``CSPKIT_*`` environment, command-line options, a TOML config file, the emulator default.

Precedence, highest first: command-line options → ``CSPKIT_*`` environment variables → the selected profile in the
config file → defaults.

The target is never guessed. The embedded local emulator (``Settings.is_emulator``) is the default only when nothing
at all is configured: no ``CSPKIT_*`` credential, no endpoint, no profile and no config file defining one. Anything
partial is a :class:`~cspkit.errors.ConfigurationError` naming what is missing: half a set of credentials (a tenant
and a secret without a client id, a client id without a tenant...), an endpoint that is not on this machine with no
credential for it, a ``--profile`` / ``CSPKIT_PROFILE`` that is not defined, a ``CSPKIT_CONFIG`` that does not exist.
An endpoint on this machine (``http://127.0.0.1:8765``, a served emulator) with no credential is called with the
emulator's bearer token (``CSPKIT_EMULATOR_TOKEN`` or the built-in one). ``Settings.reason`` says which target was
chosen and why (``cspkit auth status`` prints it).

Each logical call has a total time budget, retries and back-off included: ``Settings.timeout`` (seconds, default
120; ``CSPKIT_TIMEOUT`` / ``--timeout``).

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
from cspkit.wire import EMULATOR_TOKEN

__all__ = [
    "DEFAULT_ENDPOINT",
    "GRAPH_ENDPOINT",
    "PARTNER_CENTER_SCOPE",
    "PRICESHEET_ENDPOINT",
    "DEFAULT_TIMEOUT",
    "Settings",
    "load_settings",
    "tighten_home",
]

DEFAULT_ENDPOINT = "https://api.partnercenter.microsoft.com"
PRICESHEET_ENDPOINT = "https://api.partner.microsoft.com"
GRAPH_ENDPOINT = "https://graph.microsoft.com"
PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/.default"
USER_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation"
AUTHORITY_HOST = "https://login.microsoftonline.com"

AUTH_MODES = ("token", "app", "user", "emulator")
DEFAULT_TIMEOUT = 120.0  # seconds per logical call, retries and back-off included
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
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
        timeout: total time budget of one logical call in seconds, retries and back-off included (default 120).
        reason: which target these settings point at and why, in words (``"partner-center: app-only from
            CSPKIT_TENANT_ID + CSPKIT_CLIENT_ID + CSPKIT_CLIENT_SECRET"``); never holds a secret.
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
    timeout: float = DEFAULT_TIMEOUT
    reason: str = field(default="", compare=False)
    # secrets: excluded from repr and never written anywhere by cspkit
    client_secret: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)

    @property
    def is_emulator(self) -> bool:
        """True when the target is the embedded local emulator rather than Partner Center."""
        return self.auth == "emulator"

    @property
    def target_kind(self) -> str:
        """``"emulator"`` (embedded, or an endpoint on this machine) or ``"partner-center"``."""
        if self.is_emulator or urlsplit(self.endpoint).hostname in _LOOPBACK:
            return "emulator"
        return "partner-center"

    def resolved_token_cache(self) -> Path:
        return self.token_cache_path or (self.home / "msal_token_cache.json")

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'ledger.db'}"

    def resolved_emulator_state(self) -> Path:
        return self.emulator_state or (self.home / "emulator-state.json")

    def prepare_home(self) -> Path:
        """Create ``home`` readable by the owner only (0700) and the default SQLite ledger file as 0600.

        SQLite gives its ``-wal`` and ``-shm`` files the mode of the database file, so they are 0600 too. Run
        :func:`tighten_home` after writing elsewhere in ``home`` (caches, emulator state) to bring stragglers to
        0600. Returns ``home``.
        Raises:
            ConfigurationError: ``home`` cannot be created (names the path and the reason).
        """
        home = self.home
        try:
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(home, 0o700)
            url = self.resolved_database_url()
            if not self.database_url and url.startswith("sqlite:///"):
                ledger = Path(url[len("sqlite:///"):])
                os.close(os.open(ledger, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the cspkit data directory {home}: {exc.strerror or exc}",
                hint="Set CSPKIT_HOME to a folder you can write.",
            ) from exc
        tighten_home(home)
        return home

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given non-None fields replaced."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None}).colocated()

    def colocated(self) -> Settings:
        """An endpoint on this machine (an emulator) also serves the price-sheet and Graph APIs unless they were set.

        Real Partner Center spreads them over three hosts; the emulator serves all three on one origin.
        """
        if urlsplit(self.endpoint).hostname not in _LOOPBACK:
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
            "target": self.target_kind,
            "why": self.reason or None,
            "auth": self.auth,
            "credential": source,
            "endpoint": "local emulator" if self.is_emulator else self.endpoint,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": "set (hidden)" if self.client_secret else None,
            "token_cache": str(self.resolved_token_cache()) if self.auth == "user" else None,
            "database_url": _redact_url(self.resolved_database_url()),
            "timeout": f"{self.timeout:g} s per call, retries included",
        }


def tighten_home(home: Path) -> None:
    """Make every folder under ``home`` 0700 and every file 0600 (only what this user owns; symlinks untouched).

    Everything cspkit keeps there — ledger database and its ``-wal``/``-shm``, emulator state, msal token cache,
    price-sheet cache, raw exports — holds customer or credential data. Files the user names with ``--out`` live
    elsewhere and keep the user's umask.
    """
    if not home.is_dir():
        return
    uid = os.getuid() if hasattr(os, "getuid") else None
    for root, dirs, files in os.walk(home):
        for name, mode in [*((d, 0o700) for d in dirs), *((f, 0o600) for f in files)]:
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
                if os.path.islink(path) or (uid is not None and info.st_uid != uid):
                    continue
                if info.st_mode & 0o777 != mode:
                    os.chmod(path, mode)
            except OSError:
                continue  # vanished meanwhile (a -shm file closing) or not ours to change


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


def _read_config(path: Path, *, required: str | None = None) -> dict[str, Any]:
    """The config file's tables; ``{}`` when it does not exist, unless ``required`` names who asked for it."""
    if not path.exists():
        if required:
            raise ConfigurationError(
                f"{required} names the config file {path}, which does not exist",
                hint="Fix the path, create the file, or unset it to use the default location.",
            )
        return {}
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML ({exc})") from exc
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the config file ({exc.strerror or exc})") from exc
    for name, profile in (data.get("profiles") or {}).items():
        leaked = sorted(_SECRET_KEYS & set(profile))
        if leaked:
            raise ConfigurationError(
                f"{path}: profile {name!r} contains {', '.join(leaked)}; secrets are never read from the config file",
                hint="Remove it from the file and set CSPKIT_CLIENT_SECRET / CSPKIT_ACCESS_TOKEN in the environment.",
            )
    return data


# what each credential setting is called in the environment (the names users see in messages)
_CREDENTIAL_NAMES = {
    "tenant_id": "CSPKIT_TENANT_ID",
    "client_id": "CSPKIT_CLIENT_ID",
    "client_secret": "CSPKIT_CLIENT_SECRET",
    "certificate_path": "CSPKIT_CERTIFICATE_PATH",
    "certificate_thumbprint": "CSPKIT_CERTIFICATE_THUMBPRINT",
    "refresh_token": "CSPKIT_REFRESH_TOKEN",
    "access_token": "CSPKIT_ACCESS_TOKEN",
}


def _parse_timeout(value: Any, where: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigurationError(
            f"{where} is {value!r}; expected a number of seconds greater than 0 (e.g. 120)",
            hint="It is the total time budget of one call to Partner Center, retries included.",
        )
    return seconds


def load_settings(
    *,
    profile: str | None = None,
    endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Resolve settings from options, environment and config file; never guess the target.

    Args:
        profile: profile name (``--profile``); else ``CSPKIT_PROFILE``; else the file's ``default_profile``.
        endpoint: Partner Center base URL (``--endpoint``); else ``CSPKIT_ENDPOINT``; else the profile's.
        env: environment mapping (default ``os.environ``).
        config_file: config file path (default ``$CSPKIT_CONFIG`` or ``~/.config/cspkit/config.toml``).
        overrides: any other :class:`Settings` field (``timeout`` in seconds; else ``CSPKIT_TIMEOUT``; else the
            profile's; else 120).
    Returns:
        :class:`Settings` with ``reason`` saying why. The auth mode is the profile's ``auth`` (or ``CSPKIT_AUTH``)
        or, failing that, inferred: a ``CSPKIT_ACCESS_TOKEN`` → ``token``; tenant + client id + secret/certificate →
        ``app``; tenant + client id → ``user``; an endpoint on this machine and no credential → ``token`` with the
        emulator's token; nothing at all → ``emulator``.
    Raises:
        ConfigurationError: a ``CSPKIT_CONFIG`` that does not exist; an unknown profile; a config file defining
            profiles with none selected; partial credentials; an endpoint off this machine with no credential; an
            unknown auth mode; a secret in the config file; a bad endpoint or timeout; an auth mode whose required
            settings are missing. The message names what is missing and how to fix it.
    """
    env = os.environ if env is None else env
    path = config_file or config_path(env)
    data = _read_config(path, required=None if config_file or not env.get("CSPKIT_CONFIG") else "CSPKIT_CONFIG")
    profiles = data.get("profiles") or {}
    name, prof = _select_profile(data, path, profile=profile, env=env)

    origin: dict[str, str] = {}  # where each setting came from, for ``reason`` (never a value)

    def pick(key: str, env_key: str) -> Any:
        value = overrides.pop(key, None)
        origin[key] = "argument"
        if value is None:
            value = env.get(env_key) or None
            origin[key] = env_key
        if value is None:
            value = prof.get(key)
            origin[key] = f"profile {name!r} {key}"
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
    _take_credentials(values, origin, overrides, env)
    raw_endpoint = endpoint or overrides.pop("endpoint", None) or env.get("CSPKIT_ENDPOINT") or prof.get("endpoint")
    origin["endpoint"] = (
        "--endpoint" if endpoint else "argument" if "endpoint" in overrides
        else "CSPKIT_ENDPOINT" if env.get("CSPKIT_ENDPOINT") else f"profile {name!r} endpoint"
    )
    overrides.pop("endpoint", None)
    if raw_endpoint:
        values["endpoint"] = normalize_endpoint(str(raw_endpoint))

    timeout = overrides.pop("timeout", None)
    if timeout is not None:
        values["timeout"] = _parse_timeout(timeout, "the timeout")
    elif env.get("CSPKIT_TIMEOUT"):
        values["timeout"] = _parse_timeout(env["CSPKIT_TIMEOUT"], "CSPKIT_TIMEOUT")
    elif prof.get("timeout") is not None:
        values["timeout"] = _parse_timeout(prof["timeout"], f"{path}: profile {name!r} timeout")

    auth = overrides.pop("auth", None) or env.get("CSPKIT_AUTH") or prof.get("auth")
    if auth is not None:
        auth_from = "CSPKIT_AUTH" if env.get("CSPKIT_AUTH") else f"profile {name!r}" if prof.get("auth") else "argument"
        values["auth"], values["reason"] = auth, f"auth = {auth!r} from {auth_from}"
    else:
        values.update(_infer_target(values, origin, raw_endpoint=raw_endpoint, env=env, path=path,
                                    profiles=profiles, profile=name))
    if values["auth"] not in AUTH_MODES:
        raise ConfigurationError(f"unknown auth mode {values['auth']!r}; expected one of {', '.join(AUTH_MODES)}")
    known = {f.name for f in fields(Settings)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigurationError(f"unknown settings: {', '.join(sorted(unknown))}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values).colocated()
    _check_complete(settings)
    return _with_target_reason(settings)


def _select_profile(
    data: Mapping[str, Any], path: Path, *, profile: str | None, env: Mapping[str, str]
) -> tuple[str | None, dict[str, Any]]:
    """The profile name (``--profile``, else ``CSPKIT_PROFILE``, else the file's ``default_profile``) and its table
    (empty when no profile is named).

    Raises:
        ConfigurationError: the name is not a profile of the file (the message names the file and its profiles).
    """
    profiles = data.get("profiles") or {}
    chosen_by = "--profile" if profile else "CSPKIT_PROFILE" if env.get("CSPKIT_PROFILE") else "default_profile"
    name = profile or env.get("CSPKIT_PROFILE") or data.get("default_profile")
    if not name:
        return name, {}
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        where = f"{path}" if path.exists() else f"{path} (the file does not exist)"
        raise ConfigurationError(
            f"profile {name!r} is not defined in {where} (profile named by {chosen_by}; profiles: {known})",
            hint="Add a [profiles.NAME] table to the config file, point CSPKIT_CONFIG at the right file, "
            "or drop --profile / CSPKIT_PROFILE.",
        )
    return name, dict(profiles[name])


def _take_credentials(
    values: dict[str, Any], origin: dict[str, str], overrides: dict[str, Any], env: Mapping[str, str]
) -> None:
    """Fill the secrets (client secret, access and refresh token) from explicit Python arguments or the
    environment only, never the config file; ``origin`` records where each came from (a name, never the value)."""
    for key in ("client_secret", "access_token", "refresh_token"):
        given = overrides.pop(key, None)
        values[key] = given or env.get(_CREDENTIAL_NAMES[key]) or None
        origin[key] = "argument" if given else _CREDENTIAL_NAMES[key]


def _with_target_reason(settings: Settings) -> Settings:
    """Prefix ``reason`` with the target (``emulator (embedded)``/``partner-center at URL``) unless it says it."""
    if settings.reason.startswith(("emulator", "partner-center")):
        return settings
    where = "(embedded)" if settings.is_emulator else f"at {settings.endpoint}"
    return replace(settings, reason=f"{settings.target_kind} {where}: {settings.reason}")


def _infer_target(
    values: dict[str, Any], origin: dict[str, str], *, raw_endpoint: Any, env: Mapping[str, str], path: Path,
    profiles: Mapping[str, Any], profile: str | None,
) -> dict[str, Any]:
    """The auth mode the credentials imply, and why; refuse anything partial (never fall back to the emulator)."""
    have = [key for key in _CREDENTIAL_NAMES if values.get(key)]
    names = " + ".join(origin.get(key, _CREDENTIAL_NAMES[key]) for key in have)
    fix = ("Set CSPKIT_TENANT_ID + CSPKIT_CLIENT_ID + CSPKIT_CLIENT_SECRET (app-only), CSPKIT_TENANT_ID + "
           "CSPKIT_CLIENT_ID (app+user, then `cspkit auth login`) or CSPKIT_ACCESS_TOKEN; or unset them all to use "
           "the local emulator. See `cspkit auth --help`.")
    if values.get("access_token"):
        return {"auth": "token", "reason": f"static bearer token from {origin['access_token']}"}
    tenant, client = values.get("tenant_id"), values.get("client_id")
    if tenant and client:
        if (values.get("client_secret") or values.get("certificate_path")) and not values.get("refresh_token"):
            kind = "certificate" if not values.get("client_secret") else "client secret"
            return {"auth": "app", "reason": f"app-only ({kind}) from {names}"}
        return {"auth": "user", "reason": f"app+user from {names}"}
    if have:
        missing = [_CREDENTIAL_NAMES[key] for key in ("tenant_id", "client_id") if not values.get(key)]
        raise ConfigurationError(
            f"incomplete credentials: {names} {'is' if len(have) == 1 else 'are'} set but {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing; cspkit does not fall back to the emulator",
            hint=fix,
        )
    if raw_endpoint:
        endpoint = normalize_endpoint(str(raw_endpoint))
        if urlsplit(endpoint).hostname in _LOOPBACK:
            token_from = "CSPKIT_EMULATOR_TOKEN" if env.get("CSPKIT_EMULATOR_TOKEN") else "the built-in emulator token"
            return {
                "auth": "token",
                "access_token": env.get("CSPKIT_EMULATOR_TOKEN") or EMULATOR_TOKEN,
                "reason": f"emulator at {endpoint}: {origin['endpoint']} is on this machine and no credential is "
                f"set, so {token_from} is used",
            }
        raise ConfigurationError(
            f"{origin['endpoint']} points at {endpoint}, which is not a local emulator, and no credentials are set "
            "(CSPKIT_TENANT_ID, CSPKIT_CLIENT_ID, CSPKIT_CLIENT_SECRET or CSPKIT_ACCESS_TOKEN)",
            hint=fix,
        )
    if profiles and not profile:
        raise ConfigurationError(
            f"{path} defines profiles ({', '.join(sorted(profiles))}) but none is selected and no credentials are "
            "set; cspkit does not guess the target",
            hint="Pass --profile NAME, set CSPKIT_PROFILE or default_profile in the file, "
            'or use a profile with auth = "emulator".',
        )
    file_note = f"config file {path} has no profile" if path.exists() else f"no config file at {path}"
    return {
        "auth": "emulator",
        "reason": f"emulator: nothing configured (no CSPKIT_* credentials, no endpoint, no profile, {file_note})",
    }


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
