"""Known rejects: a reject an earlier run of the same command reported is written (marked known) but exits 0 unless
--strict; a rejects file given as input is refused (exit 2) pointing to --retry-rejects."""

from __future__ import annotations

import json
from pathlib import Path

from segmarketo_cli import paths


def people(path: Path, rows: list[tuple[str, str | None, object]]) -> Path:
    """Identify messages (userId, email, numberOfEmployees trait); 'lots' employees is an invalid integer."""
    path.write_text("".join(json.dumps({"type": "identify", "userId": user, "traits": {
        k: v for k, v in (("email", email), ("numberOfEmployees", employees)) if v is not None}}) + "\n"
        for user, email, employees in rows))
    return path


def rejects_of(stdout: str) -> list[dict[str, object]]:
    report = json.loads(stdout)
    return [json.loads(line) for line in Path(report["rejects_file"]).read_text().splitlines()]


BAD = [("u1", "ann@example.com", "lots"), ("u2", None, 5), ("u3", "cy@example.com", 7)]


def test_the_same_rejects_again_are_known_and_exit_0(invoke, sandbox, tmp_path):
    source = people(tmp_path / "people.jsonl", BAD)
    first = invoke("backfill-leads", str(source), "--json")
    assert first.exit_code == 3
    assert json.loads(first.stdout)["status"] == "partial"
    assert all("known" not in record for record in rejects_of(first.stdout))
    source.write_text(source.read_text() + json.dumps({"type": "identify", "userId": "u4",
                                                       "traits": {"email": "dee@example.com"}}) + "\n")
    second = invoke("backfill-leads", str(source), "--json")
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert report["status"] == "ok"
    assert report["counts"]["leads_rejected"] == 2
    assert report["known_rejects"] == 2
    assert report["rejects_written"] == 2
    records = rejects_of(second.stdout)
    assert [record["known"] for record in records] == [True, True]
    assert [record["origin"] for record in records] == [f"{source}:1", f"{source}:2"]


def test_strict_keeps_exit_3_for_known_rejects(invoke, sandbox, tmp_path):
    source = people(tmp_path / "people.jsonl", BAD)
    assert invoke("backfill-leads", str(source)).exit_code == 3
    again = invoke("backfill-leads", str(source), "--full", "--strict", "--json")
    assert again.exit_code == 3
    assert json.loads(again.stdout)["known_rejects"] == 2


def test_a_new_reject_next_to_known_ones_still_exits_3(invoke, sandbox, tmp_path):
    source = people(tmp_path / "people.jsonl", BAD)
    assert invoke("backfill-leads", str(source)).exit_code == 3
    people(source, [*BAD, ("u5", "eve@example.com", "many")])
    again = invoke("backfill-leads", str(source), "--json")
    assert again.exit_code == 3
    report = json.loads(again.stdout)
    assert report["rejects_written"] == 3
    assert report["known_rejects"] == 2
    assert [record.get("known", False) for record in rejects_of(again.stdout)] == [True, True, False]


def test_changed_content_is_a_new_reject(invoke, sandbox, tmp_path):
    source = people(tmp_path / "people.jsonl", [("u1", "ann@example.com", "lots")])
    assert invoke("backfill-leads", str(source)).exit_code == 3
    people(source, [("u1", "ann@example.com", "heaps")])
    assert invoke("backfill-leads", str(source)).exit_code == 3


def test_a_dry_run_does_not_make_rejects_known(invoke, sandbox, tmp_path):
    source = people(tmp_path / "people.jsonl", BAD)
    assert invoke("backfill-leads", str(source), "--dry-run").exit_code == 3
    assert invoke("backfill-leads", str(source)).exit_code == 3


def test_the_report_says_how_many_rejects_are_known(invoke, sandbox, tmp_path):
    source = people(tmp_path / "people.jsonl", BAD)
    assert invoke("backfill-leads", str(source)).exit_code == 3
    again = invoke("backfill-leads", str(source), "--full")
    assert again.exit_code == 0
    assert "2 rejected (2 known: reported by an earlier run)" in again.stderr


def test_a_rejects_file_given_as_input_is_refused_before_any_write(invoke, sandbox, tmp_path):
    source = people(tmp_path / "people.jsonl", BAD)
    first = invoke("backfill-leads", str(source), "--json")
    report = json.loads(first.stdout)
    result = invoke("backfill-leads", report["rejects_file"])
    assert result.exit_code == 2
    assert "is a segmarketo rejects file" in result.stderr
    assert f"segmarketo backfill-leads --retry-rejects {report['run_id']}" in result.stderr
    assert len(paths_of_runs(invoke)) == 1  # the refused run was never recorded


def test_a_copied_rejects_file_is_refused_for_every_command(invoke, sandbox, tmp_path):
    copy = tmp_path / "rejected.jsonl"
    copy.write_text(json.dumps({"reason": "no email", "origin": "x.jsonl:1"}) + "\n")
    for args in (["backfill-leads", str(copy)], ["sync-audience", str(copy), "--list", "Newsletter"]):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "is a segmarketo rejects file" in result.stderr
        assert "--retry-rejects RUN" in result.stderr


def paths_of_runs(invoke) -> list[dict[str, object]]:
    return json.loads(invoke("runs", "list", "--json").stdout)


def test_rejects_are_kept_in_the_state_folder(invoke, sandbox, tmp_path):
    source = people(tmp_path / "people.jsonl", BAD)
    report = json.loads(invoke("backfill-leads", str(source), "--json").stdout)
    assert Path(report["rejects_file"]).parent == paths.state_dir() / "rejects"
