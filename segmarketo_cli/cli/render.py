"""Rendering of run reports: a rich table on stderr, a one-line summary with --quiet, or JSON on stdout."""

from __future__ import annotations

import datetime as dt
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


def render_report(report: RunReport, *, as_json: bool, quiet: bool = False) -> None:
    """The run report: a table on stderr for people, or JSON on stdout with --json; with `quiet` (and no
    --json), the summary line and what went wrong only."""
    data = report.to_dict()
    if quiet and not as_json:
        render_quiet(data)
    else:
        render_report_data(data, as_json=as_json)


def summary_line(data: dict[str, Any]) -> str:
    """'backfill-leads finished: partial — 1,200 created, 30 updated, 4 rejected, run 20261206T…' (the plain
    buckets that are not zero, in the report's order)."""
    plain, _grouped = split_counts(data.get("counts", {}))
    counts = ", ".join(f"{count:,} {_label(bucket)}" for bucket, count in plain.items() if count)
    if data.get("known_rejects"):
        counts += f" ({data['known_rejects']:,} of the rejects known from earlier runs)"
    dry = " (dry run)" if data.get("dry_run") else ""
    return f"{data['command']} finished: {data['status']}{dry} — {counts or 'nothing counted'}, run {data['run_id']}"


def quota_line(quota: dict[str, Any], now: dt.datetime | None = None) -> str:
    """'Marketo calls today by segmarketo: 1,204 of 50,000 (budget 20,000), resets in 7h12m'; for a report whose
    day is over (`runs show` of an old run), the day and that its quota has reset."""
    budget = f" (budget {quota['budget']:,})" if quota.get("budget") is not None else ""
    used = f"{quota['used']:,} of {quota['limit']:,}{budget}"
    left_s = int((dt.datetime.fromisoformat(quota["resets_at"]) - (now or dt.datetime.now(dt.timezone.utc)))
                 .total_seconds())
    if left_s <= 0:
        return f"Marketo calls on {quota['day']} by segmarketo: {used}; that day's quota has reset"
    hours, minutes = divmod(left_s // 60, 60)
    left = f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"
    return f"Marketo calls today by segmarketo: {used}, resets in {left}"


def render_quiet(data: dict[str, Any]) -> None:
    """--quiet: one summary line on stderr, then only what needs a look (the error, the rejects file)."""
    lines = [summary_line(data)]
    if data.get("error"):
        lines.append(f"Stopped: {data['error']}")
    lines.extend(f"Buckets do not add up: {problem}" for problem in data.get("imbalances", []))
    if data.get("rejects_file"):
        lines.append(f"Rejects: {data['rejects_file']}")
    sys.stderr.write("".join(line + "\n" for line in lines))
    sys.stderr.flush()


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
    if data.get("marketo_quota"):
        console.print(quota_line(data["marketo_quota"]), markup=False)
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
