"""Options shared by the job commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from segmarketo_cli.cli.alerts import notify_option
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


def _set_memory_limit(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(AppContext).override(memory_limit=value)


def memory_limit_option(f: F) -> F:
    """--memory-limit: a settings flag, so it goes straight into the profile's settings."""
    return click.option(
        "--memory-limit",
        metavar="SIZE",
        default=None,
        expose_value=False,
        callback=_set_memory_limit,
        help="Memory the planning engine may use before it spills to the state folder, e.g. 512MB or 4GB "
        f"[default: the profile's memory_limit, else 1GB] [env var: {setting_variable('memory_limit')}].",
    )(f)


def job_options(f: F) -> F:
    """--dry-run, --json, --rejects, --memory-limit and --notify, in that order in --help."""
    return dry_run_option(json_option(rejects_option(memory_limit_option(notify_option(f)))))
