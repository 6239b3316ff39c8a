"""Options shared by the job commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import setting_variable

F = Callable[..., Any]


def dry_run_option(f: F) -> F:
    return click.option("--dry-run", is_flag=True, help="Print the plan; make no write call.")(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON on stdout.")(f)


def rejects_option(f: F) -> F:
    return click.option(
        "--rejects",
        "rejects_path",
        type=click.Path(dir_okay=False, writable=True),
        default=None,
        help="Write rejected records (JSONL with reasons) here [default: state dir/rejects/].",
    )(f)


def partition_option(f: F) -> F:
    return click.option(
        "--partition",
        metavar="NAME",
        default=None,
        help="Lead partition new leads are created in (sent as partitionName) [default: the profile's 'partition', "
        f"else Marketo's default partition] [env var: {setting_variable('partition')}].",
    )(f)


def settings_flag(flag: str, setting: str, *, metavar: str, help: str) -> Callable[[F], F]:
    """An option that overrides the profile setting `setting`: its value goes straight into the settings (so every
    check of that setting applies to it) and is not passed to the command."""

    def override(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value is not None:
            ctx.ensure_object(AppContext).override(**{setting: value})

    return click.option(flag, metavar=metavar, default=None, expose_value=False, callback=override, help=help)


memory_limit_option = settings_flag(
    "--memory-limit", "memory_limit", metavar="SIZE",
    help="Memory the planning engine may use before it spills to the state folder, e.g. 512MB or 4GB "
    f"[default: the profile's memory_limit, else 1GB] [env var: {setting_variable('memory_limit')}].")

notify_option = settings_flag(
    "--notify", "notify", metavar="URL",
    help="Webhook (e.g. a Slack incoming webhook) to POST a short JSON to when the run is failed, partial, "
    "deferred or refused [default: the profile's notify; env SEGMARKETO_NOTIFY].")


def job_options(f: F) -> F:
    """--dry-run, --json, --rejects, --memory-limit and --notify, in that order in --help."""
    return dry_run_option(json_option(rejects_option(memory_limit_option(notify_option(f)))))
