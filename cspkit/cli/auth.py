"""``cspkit auth``: which identity and endpoint would be used; device-code sign-in for app+user profiles."""

from __future__ import annotations

import click

from cspkit.cli.output import emit, note


@click.group()
def auth() -> None:
    """Credentials and the target Partner Center.

    \b
    How cspkit finds credentials (secrets only from the environment or msal's token cache):
      static token   CSPKIT_ACCESS_TOKEN=...            (a token obtained elsewhere)
      app-only       CSPKIT_TENANT_ID, CSPKIT_CLIENT_ID, CSPKIT_CLIENT_SECRET (or a certificate in the profile)
      app+user       CSPKIT_TENANT_ID, CSPKIT_CLIENT_ID, then `cspkit auth login` (device code), or
                     CSPKIT_REFRESH_TOKEN from your secure-application-model consent
      nothing set    the local emulator (only when nothing at all is set: half a set is refused, exit 2)
    Profiles live in ~/.config/cspkit/config.toml ([profiles.NAME] with auth, tenant_id, client_id, endpoint...).
    `cspkit auth status` says which target would be used and why.
    """


@auth.command("status")
@click.pass_obj
def status(state) -> None:
    """Say which target, identity and endpoint would be used and why ("why"), without printing any secret."""
    settings = state.settings
    info = settings.describe()
    if not settings.is_emulator and settings.auth == "user":
        from cspkit.auth import credential_from_settings

        info["signed_in_as"] = credential_from_settings(settings).describe().get("signed_in_as")
    rows = [{"setting": k, "value": v} for k, v in info.items() if v is not None]
    emit(rows, columns=["setting", "value"], fmt=state.output, wire=[info])


@auth.command("login")
@click.pass_obj
def login(state) -> None:
    """Sign in with a device code (app+user profiles); the token cache is saved with mode 0600."""
    from cspkit.auth import UserCredential, credential_from_settings

    settings = state.settings
    if settings.auth != "user":
        raise click.UsageError(
            f"`auth login` is for app+user profiles; this one uses {settings.auth!r}. "
            "Set CSPKIT_TENANT_ID and CSPKIT_CLIENT_ID (and no client secret) or a profile with auth = \"user\"."
        )
    credential = credential_from_settings(settings)
    assert isinstance(credential, UserCredential)
    claims = credential.sign_in_device_code(lambda message: note(message))
    note(f"Signed in as {claims.get('preferred_username') or claims.get('name') or 'unknown user'}; "
         f"token cache {credential.cache_path}.")

