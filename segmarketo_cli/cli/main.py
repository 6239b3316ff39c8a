"""The `segmarketo` group: global options, lazily loaded commands, and the one error-to-exit-code ladder."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from segmarketo_cli import __version__
from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.global_options import hoist
from segmarketo_cli.cli.helptext import HELP_OPTION_NAMES, epilog
from segmarketo_cli.cli.run_context import remember_arguments
from segmarketo_cli.errors import ExitCode, OutputError, SegmarketoError
from segmarketo_cli.http import redact

# command name -> (module under segmarketo_cli.cli, attribute). Loaded only when used.
COMMANDS: dict[str, tuple[str, str]] = {
    "backfill-leads": ("backfill_leads", "backfill_leads"),
    "sync-audience": ("sync_audience", "sync_audience"),
    "writeback": ("writeback", "writeback"),
    "apply-events": ("apply_events", "apply_events"),
    "auth": ("auth", "auth"),
    "doctor": ("doctor", "doctor"),
    "runs": ("runs", "runs"),
    "rejects": ("rejects", "rejects"),
    "init": ("init", "init"),
    "sandbox": ("sandbox", "sandbox"),
    "demo": ("demo", "demo"),
    "run": ("run_sync", "run"),
    "schedule": ("schedule", "schedule"),
    "listen": ("listen", "listen"),
}


def _load(name: str) -> click.Command | None:
    module_name, attr = COMMANDS[name]
    try:
        module = importlib.import_module(f"segmarketo_cli.cli.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"segmarketo_cli.cli.{module_name}":
            return None
        raise
    command: click.Command = getattr(module, attr)
    return command


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, keeping start-up fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if _load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _load(cmd_name) if cmd_name in COMMANDS else None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Global options may also follow the command: `segmarketo backfill-leads --profile prod FILE`."""
        remember_arguments(ctx, args)
        return super().parse_args(ctx, hoist(self, ctx, args))

    def invoke(self, ctx: click.Context) -> Any:  # click.Group.invoke returns the command's result, untyped
        """The one error ladder: our errors and Ctrl-C become one clear line and an exit code."""
        try:
            return super().invoke(ctx)
        except SegmarketoError as exc:
            show_error(exc)
            ctx.exit(exc.exit_code)
        except (KeyboardInterrupt, click.exceptions.Abort):
            click.echo("segmarketo: interrupted", err=True)
            ctx.exit(ExitCode.INTERRUPTED)
        except BrokenPipeError:
            ctx.exit(ExitCode.OK)
        except OSError as exc:  # e.g. stdout redirected to a full disk: the output is lost, so never exit 0
            _drop_stdout()
            where = f"{exc.filename}: " if exc.filename else "output "
            show_error(OutputError(f"{where}could not be written: {exc.strerror or exc}"))
            ctx.exit(ExitCode.ERROR)


@click.group(
    "segmarketo",
    cls=LazyGroup,
    context_settings={"help_option_names": HELP_OPTION_NAMES, "max_content_width": 100},
    epilog=epilog(""),
)
@click.version_option(__version__, "--version", prog_name="segmarketo")
@click.option("--profile", "-p", envvar="SEGMARKETO_PROFILE", show_envvar=True, default=None, metavar="NAME",
              help="Configuration profile (default: 'default').")
@click.option("-v", "--verbose", count=True, help="Log each HTTP call (secrets redacted) to stderr; -vv for more.")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None, envvar="SEGMARKETO_LOG_FILE",
              show_envvar=True, help="Also append log lines to this file (one line per batch and a summary).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Format of log lines.")
@click.option("-q", "--quiet", is_flag=True, envvar="SEGMARKETO_QUIET", show_envvar=True,
              help="For cron: only errors and a one-line summary on stderr; no report table, progress or info logs "
              "(SEGMARKETO_QUIET=1). With --json, only the JSON report.")
@click.pass_context
def cli(ctx: click.Context, profile: str | None, verbose: int, log_file: str | None, log_format: str,
        quiet: bool) -> None:
    """Keep Twilio Segment and Adobe Marketo Engage in step, in batch.

    \b
    Jobs:  backfill-leads, sync-audience, writeback, apply-events
    Syncs: run, schedule (jobs declared in the profile, for cron and systemd)
    Live:  listen (Segment Webhooks destination -> micro-batches)
    Setup: init, auth, doctor, runs, rejects, sandbox, demo

    Exit status: 0 ok, 1 error, 2 usage/config, 3 partial (records rejected),
    4 refused by a safety guard, 75 try again later, 130 interrupted (Ctrl-C),
    143 terminated (SIGTERM).
    """
    app = AppContext(profile=profile, verbose=verbose, log_file=log_file, log_format=log_format, quiet=quiet)
    app.setup_logging()
    ctx.obj = app
    ctx.call_on_close(app.close)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI as a program and return its exit code."""
    try:
        cli.main(args=argv, prog_name="segmarketo", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else ExitCode.ERROR
    return ExitCode.OK


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so the final flush at exit does not fail a second time."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def show_error(exc: SegmarketoError) -> None:
    line = f"segmarketo: error: {redact(exc.message)}"
    if exc.hint:
        line += f" ({redact(exc.hint)})"
    click.echo(line, err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
