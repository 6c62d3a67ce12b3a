"""The ``cspkit`` command: global options, the one error boundary, and the area command groups.

Exit codes (DESIGN.md): 0 success, 1 operation failed, 2 bad usage or bad input, 3 batch partly failed.
Without ``--debug`` no traceback ever reaches the user: a :class:`~cspkit.errors.CspkitError` becomes one paragraph
(what failed, why, what to do, the request and correlation ids).
"""

from __future__ import annotations

import logging
import sys
import traceback
import uuid
from typing import Any

import click

from cspkit._version import __version__
from cspkit.cli import auth as auth_cli
from cspkit.cli import billing, demo, emulator, exports, ordering, pricelist, usage
from cspkit.cli.output import OUTPUT_FORMATS, note
from cspkit.config import Settings, load_settings
from cspkit.errors import APIError, CspkitError

__all__ = ["CliState", "cli", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


class CliState:
    """What every command receives through ``@click.pass_obj``.

    Attributes:
        output: ``"table"``, ``"json"`` or ``"csv"``.
        yes: answer yes to confirmations.
        debug: show tracebacks and debug logs.
        correlation_id: one MS-CorrelationId pinned for the whole CLI run.
    """

    def __init__(self, *, profile: str | None, endpoint: str | None, output: str, yes: bool, debug: bool) -> None:
        self.profile = profile
        self.endpoint = endpoint
        self.output = output
        self.yes = yes
        self.debug = debug
        self.correlation_id = str(uuid.uuid4())
        self._settings: Settings | None = None
        self._client: Any = None
        self._emulator: Any = None
        self._closers: list[Any] = []

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(profile=self.profile, endpoint=self.endpoint)
        return self._settings

    def emulator_server(self) -> Any:
        """The persistent embedded emulator for this run (started on first use, state saved on exit)."""
        if self._emulator is None:
            from cspkit.emulator import EmulatorServer

            state = self.settings.resolved_emulator_state()
            state.parent.mkdir(parents=True, exist_ok=True)
            self._emulator = EmulatorServer(state_file=state)
            self._emulator.start()
            self._closers.append(self._emulator.stop)
            note(f"cspkit: using the local Partner Center emulator (state {state}), not real Partner Center.")
        return self._emulator

    def client(self) -> Any:
        """The :class:`~cspkit.client.PartnerCenter` for this run; the embedded emulator when no profile is set."""
        if self._client is None:
            from cspkit.client import PartnerCenter

            settings = self.settings
            if settings.is_emulator:
                emu = self.emulator_server()
                settings = settings.with_overrides(
                    endpoint=emu.url, pricesheet_endpoint=emu.url, graph_endpoint=emu.url
                )
                self._client = PartnerCenter(
                    settings=settings, access_token=emu.token, correlation_id=self.correlation_id
                )
            else:
                self._client = PartnerCenter(settings=settings, correlation_id=self.correlation_id)
            self._closers.append(self._client.close)
        return self._client

    def close(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:  # noqa: BLE001 - closing must not hide the command's own result
                if self.debug:
                    traceback.print_exc()

    def confirm(self, question: str) -> bool:
        """Ask on the terminal unless ``--yes``; refuse (False) when stdin is not a terminal."""
        if self.yes:
            return True
        if not sys.stdin.isatty():
            note("Not asking on a non-interactive input: pass --yes to confirm.")
            return False
        return click.confirm(question, default=False, err=True)


def format_error(exc: CspkitError) -> str:
    """One paragraph: what failed and why, what to do, the ids for a support ticket."""
    text = f"Error: {exc}"
    if exc.hint:
        text += f"\n{exc.hint}"
    if isinstance(exc, APIError) and not (exc.request_id and exc.request_id in text):
        if exc.request_id or exc.correlation_id:
            text += f"\n(request id {exc.request_id}, correlation id {exc.correlation_id})"
    return text


class CspkitGroup(click.Group):
    """The error boundary: every command runs inside it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except CspkitError as exc:
            state = ctx.find_object(CliState)
            if state is not None and state.debug:
                traceback.print_exc()
            click.echo(format_error(exc), err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except OSError as exc:  # a file the user named: say which and why, no traceback
            state = ctx.find_object(CliState)
            if state is not None and state.debug:
                traceback.print_exc()
            where = f" {exc.filename}" if exc.filename else ""
            click.echo(f"Error: cannot use{where}: {exc.strerror or exc}", err=True)
            missing = isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError))
            ctx.exit(EXIT_USAGE if missing else EXIT_FAILED)
        except Exception as exc:  # noqa: BLE001 - the one boundary: no traceback without --debug
            state = ctx.find_object(CliState)
            if state is not None and state.debug:
                traceback.print_exc()
            else:
                click.echo(
                    f"Error: unexpected {type(exc).__name__}: {exc}\nRun again with --debug to see the traceback, "
                    "and report it.",
                    err=True,
                )
            ctx.exit(EXIT_FAILED)


@click.group(cls=CspkitGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--profile", envvar="CSPKIT_PROFILE", help="Named profile from the config file.")
@click.option("--endpoint", help="Partner Center base URL (default: the profile's, or the public service).")
@click.option(
    "--output", "-o", type=click.Choice(OUTPUT_FORMATS), default="table", show_default=True,
    help="How lists are printed: a table for people, JSON (Partner Center wire shape) or CSV for pipes.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation before writes.")
@click.option("--debug", is_flag=True, help="Show debug logs and tracebacks.")
@click.version_option(__version__, prog_name="cspkit")
@click.pass_context
def cli(ctx: click.Context, profile: str | None, endpoint: str | None, output: str, yes: bool, debug: bool) -> None:
    """cspkit: order for customers, reconcile invoices and study price lists in Microsoft Partner Center.

    With no Partner Center profile configured, every command runs against the local emulator and says so on
    stderr. Configure a real profile with CSPKIT_* environment variables or ~/.config/cspkit/config.toml
    (see `cspkit auth --help`).
    """
    if debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    state = CliState(profile=profile, endpoint=endpoint, output=output, yes=yes, debug=debug)
    ctx.obj = state
    ctx.call_on_close(state.close)


for _area in (demo, auth_cli, emulator, ordering, billing, exports, pricelist, usage):  # exports extends `invoices`
    _area.register(cli)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cspkit")
