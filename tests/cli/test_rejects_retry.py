"""--retry-rejects RUN re-reads exactly the rejected records from their origin files; `rejects list|show`."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from segmarketo_cli.jobs.retry_rejects import write_lines
from tests.apply_events.test_run import MESSAGES, world, write_export  # noqa: F401  (fixture: world)
from tests.cli.test_rejects_known import BAD, people, rejects_of


def fix_mapping(isolated_home: Path) -> None:
    """'lots' no longer reaches numberOfEmployees: the trait is mapped to a text field instead."""
    (isolated_home / "config.toml").parent.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text('[profiles.default.mapping]\nnumberOfEmployees = "title"\n')


def test_retry_reads_exactly_the_rejected_records_after_the_fix(invoke, sandbox, tmp_path, isolated_home):
    source = people(tmp_path / "people.jsonl", [*BAD, ("u4", "dee@example.com", "many")])
    first = json.loads(invoke("backfill-leads", str(source), "--json").stdout)
    assert first["counts"]["leads_rejected"] == 3
    fix_mapping(isolated_home)
    retry = invoke("backfill-leads", "--retry-rejects", first["run_id"], "--json")
    assert retry.exit_code == 0, retry.output  # u2 has no e-mail: rejected again, but known now
    assert f"Retrying 3 rejected record(s) of run {first['run_id']}" in retry.stderr
    report = json.loads(retry.stdout)
    assert report["counts"]["messages_read"] == 3
    assert report["counts"]["leads_created"] == 2
    assert report["counts"]["leads_rejected"] == 1
    (again,) = rejects_of(retry.stdout)
    assert again["origin"] == f"{source}:2"
    assert again["reason"] == "no email"
    titles = sorted(lead["title"] for lead in sandbox.marketo.leads if lead.get("title"))
    assert titles == ["lots", "many"]


def test_retry_of_only_known_rejects_exits_0(invoke, sandbox, tmp_path):
    source = people(tmp_path / "people.jsonl", [("u2", None, 5)])
    first = json.loads(invoke("backfill-leads", str(source), "--json").stdout)
    retry = invoke("backfill-leads", "--retry-rejects", first["run_id"][:12])
    assert retry.exit_code == 0, retry.output


def test_retry_refuses_an_origin_file_that_changed(invoke, sandbox, tmp_path):
    changed = people(tmp_path / "changed.jsonl", [("u1", "ann@example.com", "lots")])
    kept = people(tmp_path / "kept.jsonl", [("u3", "cy@example.com", "heaps")])
    first = json.loads(invoke("backfill-leads", str(changed), str(kept), "--json").stdout)
    changed.write_text(changed.read_text().replace("lots", "LOTS"))
    retry = invoke("backfill-leads", "--retry-rejects", first["run_id"], "--json")
    assert f"segmarketo: warning: {changed}: changed since run {first['run_id']}" in retry.stderr
    assert "its 1 rejected record(s) are not retried" in retry.stderr
    assert json.loads(retry.stdout)["counts"]["messages_read"] == 1


def test_retry_with_every_origin_changed_is_a_usage_error(invoke, sandbox, tmp_path):
    source = people(tmp_path / "people.jsonl", BAD)
    first = json.loads(invoke("backfill-leads", str(source), "--json").stdout)
    stat = source.stat()
    source.write_text(source.read_text().replace("lots", "LOTS"))
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime: the digest tells
    retry = invoke("backfill-leads", "--retry-rejects", first["run_id"])
    assert retry.exit_code == 2
    assert "no rejected record can be re-read from its origin" in retry.stderr
    assert "changed since run" in retry.stderr


def test_retry_refuses_another_commands_run_and_files_with_it(invoke, sandbox, tmp_path):
    source = people(tmp_path / "people.jsonl", BAD)
    first = json.loads(invoke("backfill-leads", str(source), "--json").stdout)
    other = invoke("apply-events", "--retry-rejects", first["run_id"])
    assert other.exit_code == 2
    assert "that run was backfill-leads, not apply-events" in other.stderr
    both = invoke("backfill-leads", str(source), "--retry-rejects", first["run_id"])
    assert both.exit_code == 2
    assert "give no FILE" in both.stderr
    unknown = invoke("backfill-leads", "--retry-rejects", "19990101")
    assert unknown.exit_code == 2
    assert "no run with that id wrote rejects" in unknown.stderr
    neither = invoke("backfill-leads")
    assert neither.exit_code == 2
    assert "Missing argument 'FILE...'" in neither.stderr


def test_retry_of_a_csv_audience_keeps_header_and_lines(invoke, sandbox, tmp_path):
    sandbox.marketo.add_list("Newsletter")
    for email in ("ann@example.com", "bob@example.com"):
        sandbox.marketo.add_lead(email=email)
    audience = tmp_path / "audience.csv"
    audience.write_text('email,note\nann@example.com,"two\nlines"\nnot-an-email,x\nbob@example.com,y\n')
    first = invoke("sync-audience", str(audience), "--list", "Newsletter", "--json")
    report = json.loads(first.stdout)
    assert first.exit_code == 3, first.output
    (rejected,) = rejects_of(first.stdout)
    assert rejected["origin"] == f"{audience}:4"
    retry = invoke("sync-audience", "--retry-rejects", report["run_id"], "--list", "Newsletter", "--mode", "add-only",
                   "--json")
    assert retry.exit_code == 0, retry.output  # the same reject again: known
    again = json.loads(retry.stdout)
    assert again["counts"]["audience_rows"] == 1
    assert [record["origin"] for record in rejects_of(retry.stdout)] == [f"{audience}:4"]


def test_rejects_list_and_show(invoke, sandbox, tmp_path):
    source = people(tmp_path / "people.jsonl", BAD)
    first = json.loads(invoke("backfill-leads", str(source), "--json").stdout)
    listed = invoke("rejects", "list")
    assert listed.exit_code == 0
    line = listed.stdout.splitlines()[0]
    assert line.startswith(first["run_id"])
    assert "backfill-leads" in line
    assert first["rejects_file"] in line
    rows = json.loads(invoke("rejects", "list", "--json").stdout)
    assert rows[0]["count"] == 2
    shown = invoke("rejects", "show", first["run_id"])
    assert shown.exit_code == 0
    assert "2 rejected (0 known)" in shown.stderr
    assert "no email" in shown.stderr
    assert "ann@example.com" not in shown.output
    assert "a***@example.com" in shown.stdout
    assert len(shown.stdout.splitlines()) == 2
    plain = invoke("rejects", "show", first["run_id"], "--show-pii", "--limit", "1")
    assert "ann@example.com" in plain.stdout
    assert "1 more record(s)" in plain.stderr
    missing = invoke("rejects", "show", "nope")
    assert missing.exit_code == 1
    assert "no rejects recorded for run 'nope'" in missing.stderr


def test_the_copy_keeps_each_wanted_line_at_its_number():
    source = [b"email,note\n", b'ann@example.com,"two\n', b'lines"\n', b"bob@example.com,y\n", b"cy@example.com,z"]
    out = io.BytesIO()
    write_lines(iter(source), out, iter([2, 5]), keep_header=True)
    assert out.getvalue() == b'email,note\nann@example.com,"two\nlines"\n\ncy@example.com,z\n'
    jsonl = io.BytesIO()
    write_lines(iter([b"{}\n", b'{"a": 1}\n', b"{}\n"]), jsonl, iter([2]), keep_header=False)
    assert jsonl.getvalue() == b'\n{"a": 1}\n'


def test_apply_events_retry_reads_only_the_rejected_events(world, invoke, tmp_path):  # noqa: F811
    _, _, rules = world
    export = write_export(tmp_path, MESSAGES)
    first = invoke("apply-events", str(export), "--rules", str(rules), "--json")
    assert first.exit_code == 3, first.output
    rejected = rejects_of(first.stdout)
    assert rejected != []
    run_id = json.loads(first.stdout)["run_id"]
    retry = invoke("apply-events", "--retry-rejects", run_id, "--rules", str(rules), "--json")
    assert retry.exit_code == 0, retry.output  # the same events, rejected again for the same reasons: known
    again = rejects_of(retry.stdout)
    assert [record["origin"] for record in again] == [record["origin"] for record in rejected]
    assert all(record["known"] for record in again)
