"""`segmarketo demo`: every job against a seeded in-process sandbox, then what changed in Marketo and Segment."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from segmarketo_cli import paths
from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.demo_steps import Changes, DemoStep, compare, demo_sandbox, demo_steps, snapshot
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.cli.main import cli
from segmarketo_cli.errors import ExitCode
from segmarketo_cli.paths import sample_data_dir

EXIT_WORDS = {0: "ok", 1: "error", 2: "usage", 3: "partial", 4: "refused", 75: "try later", 130: "interrupted",
              143: "terminated"}


@click.command("demo", epilog=epilog("demo"))
@click.option("--home", "keep_home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the demo's state (runs, rejects files, the sandbox's final state) in this new or empty "
                   "folder [default: a temporary folder, removed at the end].")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document on stdout instead of the tables: each step's exit code and report, "
                   "what changed, and (with a temporary folder) the first rejected records.")
@click.pass_obj
def demo(app: AppContext, keep_home: Path | None, as_json: bool) -> None:
    """Run all four jobs against a local sandbox and show what changed.

    Starts the Marketo + Segment sandbox on 127.0.0.1, seeds it from the shipped samples, and runs
    backfill-leads, sync-audience, apply-events and writeback against it, each printing the report a real
    run prints, then previews undoing the audience sync (runs undo --dry-run: nothing written). Then it shows
    what changed in Marketo and what Segment received. Needs no credentials
    and no network, and never touches your configuration or keyring. Exit 0 when every step behaved
    as designed (the samples contain deliberately bad records, so two steps end "partial").
    """
    out = Console(file=io.StringIO() if as_json else sys.stdout, highlight=False, soft_wrap=True)
    samples = sample_data_dir()
    steps = demo_steps(samples)
    codes: list[int] = []
    reports: list[dict[str, Any] | None] = []
    with demo_sandbox(keep_home) as (box, home):
        out.print(f"[bold]segmarketo demo[/]: a Marketo + Segment sandbox on {box.url}, seeded from "
                  f"{escape(str(samples / 'sandbox'))}")
        out.print(f"State folder (SEGMARKETO_HOME): {escape(str(home))}"
                  + ("" if keep_home else " (temporary)"))
        before = snapshot(box)
        rules_before = before
        for number, step in enumerate(steps, 1):
            if step.command == "apply-events":
                rules_before = snapshot(box)
            out.rule(f"Step {number}/{len(steps)} · {step.name}")
            out.print(escape(step.why))
            out.print(f"[dim]$ segmarketo {escape(' '.join([step.command, *_shown(step.args, samples)]))}[/]")
            out.file.flush()
            code, report = _run_step(app, step, as_json)
            codes.append(code)
            reports.append(report)
            if codes[-1] in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
                raise KeyboardInterrupt  # Ctrl-C or SIGTERM in a step ends the demo (sandbox, temp home cleaned up)
        changes = compare(before, snapshot(box), fields_since=rules_before)
        out.rule("What changed")
        _render_changes(out, changes)
        ok = _render_verdict(out, steps, codes)
        if keep_home:
            out.print(f"Kept in {escape(str(home))}: try `SEGMARKETO_HOME={escape(str(home))} segmarketo runs list`, "
                      f"or `segmarketo sandbox serve --data {escape(str(home / 'sandbox'))}` to explore the sandbox.")
        # The rejects files named in the reports go with a temporary folder: show their records first.
        rejected = {} if keep_home else _rejected_samples(paths.state_dir() / "rejects", samples)
        if not keep_home:
            _render_rejects(out, rejected)
            out.print(f"The temporary folder {escape(str(home))} is removed now, with the runs and the rejects files "
                      "named above; `segmarketo demo --home DIR` keeps them.")
    if as_json:
        document = {
            "sandbox": box.url,
            "home": str(keep_home) if keep_home else None,
            "steps": [{"command": step.name, "arguments": _shown(step.args, samples), "exit_code": code,
                       "expected": sorted(step.expected), "as_designed": code in step.expected, "report": report}
                      for step, code, report in zip(steps, codes, reports, strict=True)],
            "changes": changes.to_dict(),
            "rejected": rejected,
            "ok": ok,
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))
    click.get_current_context().exit(ExitCode.OK if ok else ExitCode.ERROR)


def _shown(args: tuple[str, ...], samples: Path) -> list[str]:
    """Sample paths shortened to sample_data/… in the echoed command line."""
    prefix = str(samples) + "/"
    return ["sample_data/" + a[len(prefix):] if a.startswith(prefix) else a for a in args]


def _run_step(app: AppContext, step: DemoStep, as_json: bool) -> tuple[int, dict[str, Any] | None]:
    """Run one job command in this process, exactly as `segmarketo …` would: its exit code, and with `as_json`
    the report it printed (None when it stopped before one)."""
    argv: list[str] = ["-v"] * app.verbose
    if app.log_file:
        argv += ["--log-file", app.log_file]
    argv += ["--log-format", app.log_format, step.command, *step.args, *(["--json"] if as_json else [])]
    sys.stderr.flush()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed) if as_json else contextlib.nullcontext():
        try:
            code = cli.main(args=argv, prog_name="segmarketo", standalone_mode=False)
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except click.exceptions.Abort:
            code = ExitCode.INTERRUPTED
    sys.stderr.flush()
    report = json.loads(printed.getvalue()) if printed.getvalue().strip() else None
    return int(code or 0), report


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    return table


def _render_changes(out: Console, changes: Changes) -> None:
    leads = _table("Marketo leads", "", "count")
    leads.add_row("before", f"{changes.leads_before:,}")
    leads.add_row("after", f"{changes.leads_after:,}")
    leads.add_row("created", f"{len(changes.leads_created):,}")
    out.print(leads)
    lists = _table("Static list members", "list", "before", "after", "added", "removed")
    for name, old, new, added, removed in changes.lists:
        lists.add_row(escape(name), str(old), str(new), f"+{added}" if added else "", f"-{removed}" if removed else "")
    out.print(lists)
    if changes.programs:
        programs = _table("Program member statuses", "program", "status", "before", "after")
        for program, status, old, new in changes.programs:
            programs.add_row(escape(program), escape(status), str(old), str(new))
            programs.columns[1].justify = "left"
        out.print(programs)
    if changes.campaigns:
        campaigns = _table("Campaign requests", "campaign", "requests", "leads", "tokens (first request)")
        campaigns.columns[3].justify = "left"
        for name, requests, count, tokens in changes.campaigns:
            campaigns.add_row(escape(name), str(requests), str(count), escape(tokens))
        out.print(campaigns)
    if changes.fields:
        fields = _table("Scores, unsubscribes and lifecycle fields set by apply-events", "lead", "field", "before",
                        "after")
        fields.columns[1].justify = "left"
        for lead, name, old, new in changes.fields:
            fields.add_row(escape(lead), name, escape(_value(old)), escape(_value(new)))
        out.print(fields)
    events = _table("Segment received (from writeback)", "event", "messages")
    for name, count in changes.events:
        events.add_row(escape(name), f"{count:,}")
    events.add_row("[bold]total[/]", f"[bold]{sum(c for _, c in changes.events):,}[/]")
    out.print(events)
    if changes.samples:
        samples = Table(title="Sample Segment events", title_justify="left", header_style="bold")
        samples.add_column("event", no_wrap=True, min_width=22)
        samples.add_column("user", no_wrap=True, min_width=10)
        samples.add_column("date", no_wrap=True, min_width=10)
        samples.add_column("properties", no_wrap=True)
        room = max(20, out.width - 62)
        for message in changes.samples:
            who = message.get("userId") or message.get("anonymousId") or ""
            properties = " ".join(f"{k}={v}" for k, v in (message.get("properties") or {}).items())
            properties = properties if len(properties) <= room else properties[:room - 1] + "…"
            samples.add_row(escape(str(message.get("event") or message.get("type"))), escape(str(who)),
                            escape(str(message.get("timestamp", ""))[:10]), escape(properties))
        out.print(samples)
    out.print(f"Marketo API calls made by the four jobs: {changes.marketo_calls:,}")


def _rejected_samples(folder: Path, samples: Path, sample: int = 5) -> dict[str, list[dict[str, str]]]:
    """Per command, in run order, the first records of its rejects file: origin (file:line) and reason."""
    found: dict[str, list[dict[str, str]]] = {}
    # Run ids start with the second the run started; two runs in one second are told apart by the file's age.
    for path in sorted(folder.glob("*.jsonl"), key=lambda rejects: (rejects.name.rsplit("-", 2)[1],
                                                                     rejects.stat().st_mtime_ns)):
        with path.open(encoding="utf-8") as lines:
            records = [json.loads(line) for line in itertools.islice(lines, sample)]
        found[path.name.rsplit("-", 2)[0]] = [
            {"origin": _shown((str(record.get("origin") or record.get("key") or ""),), samples)[0],
             "reason": str(record.get("reason", ""))} for record in records]
    return found


def _render_rejects(out: Console, rejected: dict[str, list[dict[str, str]]]) -> None:
    for command, records in rejected.items():
        table = Table(title=f"Rejected by {command} (first records)", title_justify="left", header_style="bold")
        table.add_column("origin", no_wrap=True)
        table.add_column("reason")
        for record in records:
            table.add_row(escape(record["origin"]), escape(record["reason"]))
        out.print(table)


def _value(value: object) -> str:
    return "" if value is None else str(value)


def _render_verdict(out: Console, steps: list[DemoStep], codes: list[int]) -> bool:
    """One line per step: its exit code, and whether that is what the samples are designed to give."""
    out.rule("Result")
    ok = True
    for step, code in zip(steps, codes, strict=True):
        word = EXIT_WORDS.get(code, "?")
        if code in step.expected:
            note = " (expected: the samples contain deliberately bad records)" if code == ExitCode.PARTIAL else ""
            out.print(f"[green]✓[/] {step.name}: exit {code} {word}{note}")
        else:
            ok = False
            out.print(f"[red]✗[/] {step.name}: exit {code} {word}, expected "
                      + " or ".join(str(c) for c in sorted(step.expected)))
    out.print("[green]Demo finished: every step behaved as designed.[/]" if ok
              else "[red]Demo finished, but a step did not behave as designed (see above).[/]")
    return ok
