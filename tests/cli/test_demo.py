"""`segmarketo demo`: every job against the seeded sandbox, exit 0, and tables that match the sandbox's state."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from segmarketo_cli.cli.demo_steps import compare, demo_steps, patched_environment, snapshot
from segmarketo_cli.paths import sample_data_dir


def _row(stdout: str, label: str) -> list[str]:
    """The cells of the first table row whose first cell starts with `label`."""
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if cells and cells[0].startswith(label):
            return cells
    raise AssertionError(f"no row {label!r} in:\n{stdout}")


def test_demo_runs_every_job_and_reports_what_the_sandbox_holds(invoke, tmp_path):
    keep = tmp_path / "demo-home"
    result = invoke("demo", "--home", str(keep))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "every step behaved as designed" in out
    assert "✓ backfill-leads: exit 3 partial (expected" in out
    assert "✓ sync-audience: exit 0 ok" in out
    assert "✓ apply-events: exit 3 partial (expected" in out
    assert "✓ writeback: exit 0 ok" in out
    assert "✓ runs undo: exit 0 ok" in out
    assert re.search(r"runs undo · run \S+ · ok · dry run", result.stderr)
    # Each job printed the report a real run prints (on stderr).
    for command in ("backfill-leads", "sync-audience", "apply-events", "writeback"):
        assert re.search(rf"{command} · run \S+ · (ok|partial)", result.stderr), command

    state = json.loads((keep / "sandbox" / "sandbox-state.json").read_text())
    marketo, segment = state["marketo"], state["segment"]
    assert _row(out, "after")[1] == str(len(marketo["leads"]))
    assert _row(out, "before")[1] == "33"
    hvu = next(sl for sl in marketo["lists"] if sl["name"] == "High Value Users")
    name, before, after, added, removed = _row(out, "High Value Users")
    assert (before, after) == ("7", str(len(hvu["members"])))
    assert int(added) > 0
    assert int(removed) < 0
    webinar = next(p for p in marketo["programs"] if p["name"] == "2026 Spring Product Webinar")
    attended = sum(1 for status in webinar["members"].values() if status == "Attended")
    status_rows = [[c.strip() for c in line.strip("│ ").split("│")] for line in out.splitlines()
                   if line.startswith("│ 2026 Spring Product Webinar")]
    assert ["2026 Spring Product Webinar", "Attended", "1", str(attended)] in status_rows
    welcome = next(c for c in marketo["campaigns"] if c["name"] == "Send Welcome Email")
    assert _row(out, "Send Welcome Email")[1] == str(len(welcome["requests"]))
    unsubscribed = [lead["email"] for lead in marketo["leads"] if lead.get("unsubscribed")]
    assert "chen.obrien2@example.com" in unsubscribed
    assert re.search(r"chen\.obrien2@example\.com #3 +│ unsubscribed +│ +False │ +True", out)
    by_name = Counter(m["event"] for m in segment["accepted"])
    assert _row(out, "Email Delivered")[1] == str(by_name["Email Delivered"])
    assert "Email Sent" not in by_name  # a Marketo extra, outside Segment's Email spec: opt-in
    assert _row(out, "total")[1] == f"{len(segment['accepted']):,}"
    assert all(m["messageId"].startswith("mkto-") for m in segment["accepted"])
    # The kept home holds the four runs, and the user's environment is untouched afterwards.
    assert len(list((keep / "state").glob("*.sqlite*"))) >= 1
    assert not os.environ.get("SEGMARKETO_MARKETO_ENDPOINT")


def test_demo_refuses_a_home_that_is_not_empty(invoke, tmp_path):
    keep = tmp_path / "used"
    keep.mkdir()
    (keep / "config.toml").write_text("")
    result = invoke("demo", "--home", str(keep))
    assert result.exit_code == 2
    assert "must be a new or empty folder" in result.stderr
    assert "Traceback" not in result.output


def test_demo_steps_choose_a_rest_window_over_the_seeded_activities():
    samples = sample_data_dir()
    assert (samples / "sandbox" / "leads.json").is_file()
    steps = {s.command: s for s in demo_steps(samples, now=datetime(2027, 6, 1, tzinfo=timezone.utc))}
    since = steps["writeback"].args[steps["writeback"].args.index("--since") + 1]
    bulk_after = int(steps["writeback"].args[steps["writeback"].args.index("--bulk-threshold") + 1])
    assert since == "2026-10-01"
    assert bulk_after > (datetime(2027, 6, 1).date() - datetime(2026, 10, 1).date()).days
    assert steps["sync-audience"].expected == {0}


def test_compare_counts_list_moves_and_new_segment_events(sandbox):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    before = snapshot(sandbox)
    list_id = sandbox.marketo.list_id("Trial Users")
    sandbox.marketo.add_to_list(list_id, [1])
    after = snapshot(sandbox)
    changes = compare(before, after)
    assert ("Trial Users", 10, 11, 1, 0) in changes.lists
    assert changes.events == []
    assert changes.leads_created == []


def test_patched_environment_restores_the_callers_variables(monkeypatch):
    monkeypatch.setenv("SEGMARKETO_DAILY_BUDGET", "10")
    with patched_environment({"SEGMARKETO_HOME": "/x"}):
        assert "SEGMARKETO_DAILY_BUDGET" not in os.environ
        assert os.environ["SEGMARKETO_HOME"] == "/x"
    assert os.environ["SEGMARKETO_DAILY_BUDGET"] == "10"
    assert os.environ["SEGMARKETO_HOME"] != "/x"


def test_a_temporary_demo_shows_its_rejected_records_before_removing_them(invoke):
    result = invoke("demo")
    assert result.exit_code == 0, result.output
    out = result.stdout
    named = re.findall(r"Rejects: (\S+\.jsonl)", result.stderr)
    assert [Path(path).name.split("-2")[0] for path in named] == ["backfill-leads", "apply-events"]
    assert out.index("Rejected by backfill-leads") < out.index("Rejected by apply-events") < out.index(
        "is removed now")
    assert "sample_data/identifies.jsonl.gz:98" in out
    assert "malformed input" in out
    assert "sample_data/track_events.jsonl:25" in out
    assert all(not Path(path).exists() for path in named)
    assert "`segmarketo demo --home DIR` keeps them" in out
