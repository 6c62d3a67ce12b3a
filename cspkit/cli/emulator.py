"""``cspkit emulator``: run the local Partner Center emulator, reset it, move its clock.

``serve`` runs it in the foreground on 127.0.0.1 (``--host`` to change), keeping its state in ``--state FILE``
across restarts when given. ``reset`` and ``clock`` act on the state file: ``--state``, else
``CSPKIT_EMULATOR_STATE``, else ``$CSPKIT_HOME/emulator-state.json``, else the data directory
(``~/.local/share/cspkit/emulator-state.json``) — the same file the CLI's embedded emulator uses. Stop a ``serve``
that uses the file before changing it (or use the running server's control API, ``POST /_emulator/clock/advance``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from cspkit.cli.output import note


def _state_path(ctx: click.Context, given: Path | None) -> Path:
    if given is not None:
        return given.expanduser()
    return ctx.find_root().obj.settings.resolved_emulator_state()


def _load(path: Path):
    from cspkit.emulator import Backend
    from cspkit.emulator.state import load_file

    backend = Backend()
    if path.exists():
        try:
            backend.import_state(load_file(path))
        except (ValueError, KeyError, TypeError) as exc:
            raise click.UsageError(f"{path} is not a readable emulator state file ({exc}); "
                                   "run `cspkit emulator reset` to start over.") from exc
    return backend


def _parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    from cspkit.emulator._util import parse_dt

    try:
        return parse_dt(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}") from exc


_STATE_OPTION = click.option(
    "--state", "state_file", type=click.Path(dir_okay=False, path_type=Path),
    help="Emulator state file (default: CSPKIT_EMULATOR_STATE, else the cspkit data directory), "
    "e.g. --state emulator-state.json.",
)



@click.group("emulator")
def emulator_group() -> None:
    """The local Partner Center emulator (with the SaaS publisher side, a virtual clock and fault injection)."""


@emulator_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on, e.g. --host 127.0.0.1 (loopback only: the default).")
@click.option("--port", default=8765, show_default=True, type=int,
              help="Port (0 picks a free one), e.g. --port 8765.")
@click.option("--state", "state_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep state in this file across restarts (default: in memory only), "
                   "e.g. --state emulator-state.json.")
@click.option("--policy", type=click.Choice(["current", "legacy-2023"]), default="current", show_default=True,
              help="Cancellation policy preset (for a fresh state), e.g. --policy legacy-2023.")
@click.option("--now", help="Start time of the virtual clock, ISO 8601 (for a fresh state; default 2026-11-02T09:00Z), "
                             "e.g. --now 2026-12-01T00:00:00Z.")
@click.option("--webhook-url", help="Send SaaS webhooks here instead of the built-in publisher, "
                                     "e.g. --webhook-url http://127.0.0.1:9000/webhook.")
@click.option("--token", envvar="CSPKIT_EMULATOR_TOKEN",
              help="Bearer token to accept on /v1 (default: the built-in), e.g. --token my-test-token.")
@click.option("--control-token", envvar="CSPKIT_EMULATOR_CONTROL_TOKEN",
              help="Require this token (X-Cspkit-Control-Token or Authorization: Bearer) on the control API "
                   "/_emulator from every caller; without it only loopback callers may use the control API. "
                   "Example: --control-token s3cret")
def serve(host: str, port: int, state_file: Path | None, policy: str, now: str | None, webhook_url: str | None,
          token: str | None, control_token: str | None) -> None:
    """Run the emulator in the foreground until Ctrl-C."""
    from cspkit.emulator import EmulatorServer
    from cspkit.emulator.backend import DEFAULT_NOW

    server = EmulatorServer(now=_parse_now(now) or DEFAULT_NOW, policy=policy, state_file=state_file, host=host,
                            port=port, webhook_url=webhook_url, token=token, control_token=control_token)
    if host not in ("127.0.0.1", "localhost", "::1"):
        note(f"cspkit: warning: the emulator listens on {host}; anyone who can reach it can use the token below.")
        if not control_token:
            note("cspkit: the control API (/_emulator) answers loopback callers only; start with --control-token "
                 "TOKEN to let other hosts use it.")

    def ready(emu: EmulatorServer) -> None:
        note(f"cspkit emulator: listening on {emu.url} (Partner Center {emu.url}/v1, SaaS fulfillment /api/saas, "
             "control API /_emulator); Ctrl-C stops it")
        if control_token:
            note("cspkit emulator: the control API needs the control token (X-Cspkit-Control-Token header)")
        note(f"cspkit emulator: bearer token {emu.token!r}; "
             + (f"state in {state_file}" if state_file else "state in memory only (use --state FILE to keep it)"))

    server.serve_forever(on_ready=ready)


@emulator_group.command("reset")
@_STATE_OPTION
@click.option("--policy", type=click.Choice(["current", "legacy-2023"]), default="current", show_default=True,
              help="Cancellation policy preset, e.g. --policy legacy-2023.")
@click.option("--now", help="Start time of the virtual clock, ISO 8601 (default 2026-11-02T09:00Z), "
                             "e.g. --now 2026-12-01T00:00:00Z.")
@click.pass_context
def reset(ctx: click.Context, state_file: Path | None, policy: str, now: str | None) -> None:
    """Start the emulator's state over: seeded catalog and customers, clock at the start time."""
    from cspkit.emulator import Backend
    from cspkit.emulator.backend import DEFAULT_NOW
    from cspkit.emulator.state import save_file

    path = _state_path(ctx, state_file)
    backend = Backend(now=_parse_now(now) or DEFAULT_NOW, policy=policy)
    save_file(path, backend.export_state())
    note(f"cspkit emulator: state reset in {path} (clock {backend.now().isoformat()}, policy {policy}).")


@emulator_group.group("clock")
def clock_group() -> None:
    """Show or move the emulator's virtual clock (in the state file)."""


@clock_group.command("show")
@_STATE_OPTION
@click.pass_context
def clock_show(ctx: click.Context, state_file: Path | None) -> None:
    """Print the emulator's current time and what is due next."""
    backend = _load(_state_path(ctx, state_file))
    click.echo(backend.now().isoformat().replace("+00:00", "Z"))
    for event in backend.clock.pending[:10]:
        note(f"  due {event.due.isoformat().replace('+00:00', 'Z')}: {event.kind}")


@clock_group.command("advance")
@click.argument("duration")
@_STATE_OPTION
@click.pass_context
def clock_advance(ctx: click.Context, duration: str, state_file: Path | None) -> None:
    """Move the clock forward by an ISO 8601 DURATION (P1M, P7D, PT36H), firing everything due in order."""
    from cspkit.emulator.state import save_file

    path = _state_path(ctx, state_file)
    backend = _load(path)
    before = len(backend.event_log)
    try:
        backend.clock.advance(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="DURATION") from exc
    save_file(path, backend.export_state())
    for entry in backend.event_log[before:]:
        details = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("at", "kind"))
        note(f"  {entry['at'].isoformat().replace('+00:00', 'Z')} {entry['kind']} {details}")
    click.echo(backend.now().isoformat().replace("+00:00", "Z"))


@emulator_group.command("follow-link")
@click.argument("uri")
@click.pass_obj
def follow_link(state, uri: str) -> None:
    """Follow a marketplace activation link as the customer would: landing page → Resolve → Activate.

    Links printed by `cspkit orders activation-links` point into the embedded emulator, which runs only while a
    command runs; this command starts it on the same state, opens the link's landing page and submits its
    activation form. (With `cspkit emulator serve` running, you can open the link in a browser instead.)
    """
    from cspkit.workflows.activation import follow_activation_link, rebase_link

    server = state.emulator_server()
    try:
        click.echo(follow_activation_link(rebase_link(uri.strip(), server.url)))
    except ValueError as exc:  # not a link at all: bad usage
        raise click.BadParameter(str(exc), param_hint="URI") from None
