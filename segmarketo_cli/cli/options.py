"""Options shared by the job commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

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
        "else Marketo's default partition].",
    )(f)


def job_options(f: F) -> F:
    """--dry-run, --json and --rejects, in that order in --help."""
    return dry_run_option(json_option(rejects_option(f)))
