"""`segmarketo doctor`: one line per check of the profile, its secrets and the Marketo/Segment set-up."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.markup import escape

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.doctor import Check, doctor_client, run_checks
from segmarketo_cli.errors import ExitCode

MARKS = {"ok": "[green]ok  [/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]", "skip": "[dim]skip[/]"}


@click.command("doctor", epilog=epilog("doctor"))
@click.option("--json", "as_json", is_flag=True, help="Print the checks as a JSON array on stdout.")
@click.pass_obj
def doctor(app: AppContext, as_json: bool) -> None:
    """Check the profile before cron does: config, secrets, token, fields, activity types, Segment, quota.

    \b
    One line per check: ok, warn, FAIL or skip (a check that needs a failed one).
    Secrets are reported by where they come from, never by value. Segment answers 200 even
    for a wrong write key, so the key cannot be validated here. Exit 1 when a check fails.
    """
    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    checks: list[Check] = []
    for check in run_checks(app.profile, doctor_client):
        checks.append(check)
        if not as_json:
            console.print(f"{MARKS[check.status]}  {escape(check.name)}: {escape(check.detail)}")
    failed = [c for c in checks if c.status == "fail"]
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        console.print(f"{len(failed)} check(s) failed" if failed else "[green]All checks passed.[/]")
    click.get_current_context().exit(ExitCode.ERROR if failed else ExitCode.OK)
