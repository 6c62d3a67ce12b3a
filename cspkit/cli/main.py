"""The ``cspkit`` command: global options, the one error boundary, and the area command groups.

Exit codes (DESIGN.md): 0 success, 1 operation failed, 2 bad usage or bad input (including settings that leave the
target unclear, :class:`~cspkit.errors.ConfigurationError`), 3 batch partly failed.
Without ``--debug`` no traceback ever reaches the user: a :class:`~cspkit.errors.CspkitError` becomes one paragraph
(what failed, why, what to do, the request and correlation ids).

Global options (``--profile``, ``--endpoint``, ``--timeout``, ``-o/--output``, ``--yes``, ``--debug``) are accepted
before the subcommand and after it (``cspkit -o json customers list`` = ``cspkit customers list -o json``). When a
call waits at least :data:`WAIT_NOTICE_SECONDS` before a retry, stderr says so (attempt, reason, next try).
"""

from __future__ import annotations

import logging
import sys
import traceback
import uuid
from typing import Any
from urllib.parse import urlsplit

import click

from cspkit._version import __version__
from cspkit.cli import auth as auth_cli
from cspkit.cli import (
    billing,
    catalog,
    customers,
    demo,
    emulator,
    exports,
    ledger,
    orders,
    pricelist,
    subscriptions,
    usage,
)
from cspkit.cli.output import OUTPUT_FORMATS, note
from cspkit.config import Settings, load_settings, tighten_home
from cspkit.errors import EXIT_FAILED, EXIT_USAGE, APIError, CspkitError

__all__ = ["CliState", "cli", "main"]


#: A wait before a retry at least this long (seconds) is announced on stderr, without --debug.
WAIT_NOTICE_SECONDS = 3.0


class CliState:
    """What every command receives through ``@click.pass_obj``.

    Attributes:
        output: ``"table"``, ``"json"`` or ``"csv"``.
        yes: answer yes to confirmations.
        debug: show tracebacks and debug logs.
        timeout: seconds per call to Partner Center, retries included (None: the settings').
        wide: tables show every column whatever the terminal's width (:func:`cspkit.cli.output.emit`).
        correlation_id: one MS-CorrelationId pinned for the whole CLI run.
    """

    def __init__(
        self, *, profile: str | None, endpoint: str | None, output: str, yes: bool, debug: bool,
        timeout: float | None = None, wide: bool = False,
    ) -> None:
        self.profile = profile
        self.endpoint = endpoint
        self.output = output
        self.yes = yes
        self.debug = debug
        self.timeout = timeout
        self.wide = wide
        self.correlation_id = str(uuid.uuid4())
        self._settings: Settings | None = None
        self._client: Any = None
        self._emulator: Any = None
        self._closers: list[Any] = []

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            settings = load_settings(profile=self.profile, endpoint=self.endpoint, timeout=self.timeout)
            settings.prepare_home()
            if not self._closers or self._closers[0] != self._tighten_home:
                self._closers.insert(0, self._tighten_home)  # runs last, after the ledger and emulator closed
            self._settings = settings
        return self._settings

    def _tighten_home(self) -> None:
        if self._settings is not None:
            tighten_home(self._settings.home)

    def set_global(self, name: str, value: Any) -> None:
        """A global option given after the subcommand (it wins over the same option before it)."""
        setattr(self, name, value)
        if name in ("profile", "endpoint", "timeout"):
            self._settings = None
        if name == "debug" and value:
            _debug_logging()

    def announce_wait(self, notice: Any) -> None:
        """The transport's ``on_retry`` hook: say on stderr when a retry makes us wait a while."""
        if notice.wait < WAIT_NOTICE_SECONDS:
            return
        path = urlsplit(notice.url).path or notice.url
        note(f"cspkit: {notice.method} {path} got {notice.reason} (attempt {notice.attempt} of at most "
             f"{notice.max_attempts}); next try in {_seconds(notice.wait)} s.")

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

    def client(self, *, rate_limit: float | bool | None = None) -> Any:
        """The :class:`~cspkit.client.PartnerCenter` for this run; the embedded emulator when no profile is set.

        Args:
            rate_limit: when the client is first built, spend at most this many requests a minute (``True``: the
                default, ``CSPKIT_RATE_LIMIT`` or 475; :func:`cspkit.workflows.ratelimit.rate_limited_session`).
        """
        if self._client is None:
            from cspkit.client import PartnerCenter

            options: dict[str, Any] = {"correlation_id": self.correlation_id, "on_retry": self.announce_wait}
            if rate_limit:
                from cspkit.workflows.ratelimit import rate_limited_session

                options["session"] = rate_limited_session(None if rate_limit is True else float(rate_limit))
            settings = self.settings
            if settings.is_emulator:
                emu = self.emulator_server()
                settings = settings.with_overrides(
                    endpoint=emu.url, pricesheet_endpoint=emu.url, graph_endpoint=emu.url
                )
                options["access_token"] = emu.token
            self._client = PartnerCenter(settings=settings, **options)
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


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _debug_logging() -> None:
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


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
@click.option("--profile", envvar="CSPKIT_PROFILE", help="Named profile from the config file, e.g. --profile contoso.")
@click.option("--endpoint", help="Partner Center base URL (default: the profile's, or the public service), "
                                     "e.g. --endpoint http://127.0.0.1:8765 for a served emulator.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Time budget of each call to Partner Center, retries included (default CSPKIT_TIMEOUT or 120), "
                   "e.g. --timeout 300.")
@click.option(
    "--output", "-o", type=click.Choice(OUTPUT_FORMATS), default="table", show_default=True,
    help="How lists are printed: a table for people, JSON (Partner Center wire shape) or CSV for pipes, "
    "e.g. -o csv.",
)
@click.option("--wide", "--full-ids", "wide", is_flag=True,
              help="Tables show every column, however wide (ids are always whole; without it, columns that do not "
                   "fit the terminal are left out and named on stderr). Example: cspkit --wide ledger list")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation before writes. Example: cspkit --yes "
                                                 "subscriptions cancel ...")
@click.option("--debug", is_flag=True, help="Show debug logs and tracebacks.")
@click.version_option(__version__, prog_name="cspkit")
@click.pass_context
def cli(
    ctx: click.Context, profile: str | None, endpoint: str | None, timeout: float | None, output: str, wide: bool,
    yes: bool, debug: bool,
) -> None:
    """cspkit: order for customers, reconcile invoices and study price lists in Microsoft Partner Center.

    With nothing at all configured, every command runs against the local emulator and says so on stderr; half a
    configuration is refused (exit 2), never replaced by the emulator. Configure Partner Center with CSPKIT_*
    environment variables or ~/.config/cspkit/config.toml (see `cspkit auth --help`; `cspkit auth status` says
    which target would be used and why). The options above may also follow the subcommand.
    """
    if debug:
        _debug_logging()
    state = CliState(profile=profile, endpoint=endpoint, output=output, yes=yes, debug=debug, timeout=timeout,
                     wide=wide)
    ctx.obj = state
    ctx.call_on_close(state.close)


billing.invoices_group.add_command(exports.export_command)
for _command in (demo.demo, auth_cli.auth, emulator.emulator_group, customers.customers_group,
                 catalog.catalog_group,
                 orders.order_group, orders.orders_group, subscriptions.subscriptions_group, ledger.ledger_group,
                 ledger.audit_cmd, billing.invoices_group, billing.reconcile_cmd, pricelist.pricelist_group,
                 usage.usage_group):
    cli.add_command(_command)


def _late_option(name: str, *decls: str, **kwargs: Any) -> click.Option:
    """A hidden copy of a global option for subcommands: given after the subcommand, it sets the run's state."""

    def apply(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        state = ctx.find_object(CliState)
        if state is not None and value is not None and value is not False:
            state.set_global(name, value)

    return click.Option(list(decls), expose_value=False, hidden=True, callback=apply, **kwargs)


def _late_options() -> list[click.Option]:
    return [
        _late_option("profile", "--profile"),
        _late_option("endpoint", "--endpoint"),
        _late_option("timeout", "--timeout", type=click.FloatRange(min=0, min_open=True)),
        _late_option("output", "--output", "-o", type=click.Choice(OUTPUT_FORMATS)),
        _late_option("wide", "--wide", "--full-ids", is_flag=True, default=None),
        _late_option("yes", "--yes", "-y", is_flag=True, default=None),
        _late_option("debug", "--debug", is_flag=True, default=None),
    ]


def _accept_global_options_after(command: click.Command) -> None:
    """Give every subcommand (and sub-group) the global options, unless it has an option of the same name."""
    taken = {opt for param in command.params for opt in getattr(param, "opts", [])}
    command.params.extend(o for o in _late_options() if not taken.intersection(o.opts))
    for sub in getattr(command, "commands", {}).values():
        _accept_global_options_after(sub)


for _command in cli.commands.values():
    _accept_global_options_after(_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="cspkit")
