"""`segmarketo run`: run declared syncs ([profiles.NAME.syncs.SYNC]) exactly as their command lines would."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shlex
import sys
import time
from collections.abc import Iterable

import click

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.cli.main import show_error
from segmarketo_cli.cli.options import notify_option
from segmarketo_cli.cli.sync_argv import check_sync
from segmarketo_cli.config.syncs import SyncDefinition
from segmarketo_cli.errors import ConfigError, ExitCode, SegmarketoError
from segmarketo_cli.notify import RunOutcome, SyncRun, current_sync, send_alert

# Which exit code `run --all` ends with when syncs disagree: the first of these that any sync returned
# (docs/syncs.md). 75 comes last, so it is the result only when every sync that did not succeed was deferred.
EXIT_PRECEDENCE = (ExitCode.ERROR, ExitCode.USAGE, ExitCode.REFUSED, ExitCode.PARTIAL, ExitCode.TEMPFAIL)


def combined_exit_code(codes: Iterable[int]) -> int:
    """One exit code for several syncs' codes: 0 when all were 0, else the worst by EXIT_PRECEDENCE (an
    unknown non-zero code counts as an error)."""
    failed = {code for code in codes if code != ExitCode.OK}
    if not failed:
        return ExitCode.OK
    return next((code for code in EXIT_PRECEDENCE if code in failed), ExitCode.ERROR)


def job_command(ctx: click.Context, job: str) -> click.Command:
    """The Click command of a job, from the top-level group (the same one `segmarketo JOB` runs)."""
    group = ctx.find_root().command
    command = group.get_command(ctx, job) if isinstance(group, click.Group) else None
    if command is None:
        raise ConfigError(f"job '{job}' is not available in this installation")
    return command


@click.command("run", epilog=epilog("run"))
@click.argument("names", nargs=-1, metavar="[SYNC]...")
@click.option("--all", "run_all", is_flag=True, help="Run every sync of the profile, in declaration order.")
@click.option("--list", "list_only", is_flag=True, help="List the profile's syncs and their command lines.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON on stdout: one sync's report, or for several one document "
                   "{exit_code, syncs: [{sync, job, exit_code, report}]}.")
@notify_option
@click.pass_context
def run(ctx: click.Context, names: tuple[str, ...], run_all: bool, list_only: bool, as_json: bool) -> None:
    """Run the declared sync SYNC (a [profiles.NAME.syncs.SYNC] table in config.toml).

    \b
    A sync runs exactly as its job's command line would, with its inputs and options:
      [profiles.default.syncs.nightly-leads]
      job = "backfill-leads"
      inputs = ["/data/segment/identifies/*.jsonl.gz"]
      nulls = "clear"
    runs as `segmarketo backfill-leads --nulls clear /data/segment/identifies/*.jsonl.gz`.

    Several syncs (or --all) run one after the other, each with its own report. The exit code is 0 when
    all succeeded, else the worst of theirs: 1, then 2, 4, 3, and 75 only when every sync that did not
    succeed was deferred (run again later). An interruption stops the rest (130).

    With --json, or when several syncs run and one of them declares json = true, stdout holds one JSON
    document with every sync's report.
    """
    app: AppContext = ctx.obj
    syncs = app.settings.sections.syncs
    if list_only:
        if names or run_all:
            raise click.UsageError("--list takes no SYNC and no --all")
        _list(ctx, syncs.syncs)
        return
    if run_all == bool(names):
        raise click.UsageError("name a SYNC to run, or give --all (see the profile's syncs: segmarketo run --list)")
    chosen = syncs.syncs if run_all else tuple(syncs.get(name) for name in names)
    if not chosen:
        raise ConfigError(f"profile '{app.settings.profile}' declares no syncs",
                          hint="add [profiles.NAME.syncs.SYNC] tables; see docs/syncs.md")
    planned = [(sync, check_sync(sync, job_command(ctx, sync.job))) for sync in chosen]  # every one, before any runs
    # Several syncs asking for JSON print one document together: each report captured under its sync's name.
    combined = len(planned) > 1 and (as_json or any(sync.options.get("json") is True for sync, _ in planned))
    if as_json and not combined:
        planned = [(sync, argv if "--json" in argv else ["--json", *argv]) for sync, argv in planned]
    results: list[dict[str, object]] = []
    codes: list[int] = []
    for sync, argv in planned:
        if combined:
            code, report = _run_captured(ctx, app, sync, argv)
            results.append({"sync": sync.name, "job": sync.job, "exit_code": code, "report": report})
        else:
            code = _run_one(ctx, app, sync, argv)
        codes.append(code)
        if code >= ExitCode.INTERRUPTED:  # Ctrl-C or a stop signal: the rest must not start
            break
    exit_code = codes[-1] if codes[-1] >= ExitCode.INTERRUPTED else combined_exit_code(codes)
    if combined:
        sys.stdout.write(json.dumps({"exit_code": exit_code, "syncs": results}, indent=2) + "\n")
        sys.stdout.flush()
    ctx.exit(exit_code)


def _run_captured(ctx: click.Context, app: AppContext, sync: SyncDefinition,
                  argv: list[str]) -> tuple[int, object]:
    """`_run_one` with --json, its report taken from stdout instead of printed (None when it stopped before
    its run, having said why on stderr)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = _run_one(ctx, app, sync, argv if "--json" in argv else ["--json", *argv])
    try:
        return code, json.loads(out.getvalue())
    except ValueError:
        return code, None


def _list(ctx: click.Context, syncs: tuple[SyncDefinition, ...]) -> None:
    if not syncs:
        click.echo("No syncs declared in this profile (see docs/syncs.md).")
        return
    lines = [(sync.name, shlex.join([sync.job, *check_sync(sync, job_command(ctx, sync.job))])) for sync in syncs]
    width = max(len(name) for name, _ in lines)
    for name, command_line in lines:
        click.echo(f"{name:<{width}}  segmarketo {command_line}")


def _run_one(ctx: click.Context, app: AppContext, sync: SyncDefinition, argv: list[str]) -> int:
    """Invoke the job's command on `argv` under a fresh AppContext (flags of one sync must not leak into the
    next); its exit code, or the code of the error that stopped it before its run began."""
    command = job_command(ctx, sync.job)
    child = dataclasses.replace(app, overrides=dict(app.overrides), _settings=None, _store=None)
    started = time.time()
    running = SyncRun(sync.name)
    token = current_sync.set(running)
    try:
        with command.make_context(sync.job, list(argv), parent=ctx, obj=child) as sub:
            command.invoke(sub)
        return ExitCode.OK
    except click.exceptions.Exit as done:  # run_job ends every job with ctx.exit(code)
        return done.exit_code
    except SegmarketoError as exc:
        show_error(exc)
        if not running.recorded:
            _alert_before_run(child, sync, exc, started)
        return exc.exit_code
    finally:
        current_sync.reset(token)
        child.close()


def _alert_before_run(app: AppContext, sync: SyncDefinition, exc: SegmarketoError, started: float) -> None:
    """A sync stopped before its run was recorded (bad input, config): still worth an alert under cron."""
    try:
        url, profile = app.settings.notify, app.settings.profile
    except SegmarketoError:
        return
    if url:
        send_alert(url, RunOutcome(command=sync.job, status="failed", exit_code=int(exc.exit_code), profile=profile,
                                   started_at=started, finished_at=time.time(), sync=sync.name))
