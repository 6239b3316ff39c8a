"""Rendering of run reports: a rich table on stderr, or JSON on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from segmarketo_cli.jobs.report import RunReport

STATUS_STYLE = {"ok": "green", "partial": "yellow", "refused": "red", "deferred": "yellow", "failed": "red"}


def stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def render_report(report: RunReport, *, as_json: bool) -> None:
    """The run report: a table on stderr for people, or JSON on stdout with --json."""
    render_report_data(report.to_dict(), as_json=as_json)


def _label(bucket: str) -> str:
    return bucket.replace("_", " ")


def split_counts(counts: dict[str, int]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Plain buckets, and '<group>.<bucket>' ones (e.g. per rule) folded into {group: {bucket: n}}."""
    plain: dict[str, int] = {}
    grouped: dict[str, dict[str, int]] = {}
    for bucket, count in counts.items():
        group, dot, name = bucket.rpartition(".")
        if dot and group:
            grouped.setdefault(group, {})[name] = count
        else:
            plain[bucket] = count
    return plain, grouped


def _group_table(grouped: dict[str, dict[str, int]]) -> Table:
    columns: list[str] = []
    for buckets in grouped.values():
        columns.extend(name for name in buckets if name not in columns)
    table = Table(show_header=True, header_style="bold")
    table.add_column("", no_wrap=True, min_width=max(len(group) for group in grouped))
    for name in columns:
        table.add_column(escape(_label(name)), justify="right")
    for group, buckets in grouped.items():
        table.add_row(escape(group), *(f"{buckets[name]:,}" if name in buckets else "" for name in columns))
    return table


def render_report_data(data: dict[str, Any], *, as_json: bool) -> None:
    """Render a report dict (RunReport.to_dict(), or one stored in the state store by an earlier run)."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        sys.stdout.flush()
        return
    console = stderr_console()
    status = data["status"]
    title = f"{data['command']} · run {data['run_id']} · [{STATUS_STYLE.get(status, 'white')}]{status}[/]"
    if data.get("dry_run"):
        title += " · dry run"
    plain, grouped = split_counts(data.get("counts", {}))
    table = Table(title=title, title_justify="left", show_header=True, header_style="bold")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for bucket, count in plain.items():
        table.add_row(escape(_label(bucket)), f"{count:,}")
    console.print(table)
    if grouped:
        console.print(_group_table(grouped))
    calls = data.get("api_calls", {})
    console.print(
        f"API calls: Marketo {calls.get('marketo', 0):,}, Segment {calls.get('segment', 0):,}"
        f" · {data.get('duration_s') or 0:.1f} s"
    )
    if data.get("rejects_file"):
        known = data.get("known_rejects", 0)
        console.print(f"Rejects: {data['rejects_file']}" + (
            f" · {data.get('rejects_written', known):,} rejected ({known:,} known: reported by an earlier run)"
            if known else ""), markup=False)
    for note in data.get("notes", []):
        console.print(f"Note: {note}", markup=False)
    for problem in data.get("imbalances", []):
        console.print(f"[red]Buckets do not add up:[/] {escape(problem)}")
    if data.get("error"):
        console.print(f"[red]Stopped:[/] {escape(data['error'])}")
