"""backfill-leads end to end against the sandbox: creates, updates, re-runs, rejects, dry run, bulk, 607."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from segmarketo_cli.jobs.bulk_import import execute as backfill_bulk

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "identifies.jsonl.gz"
WAREHOUSE = ROOT / "sample_data" / "warehouse_identifies.csv"
MAPPING = ROOT / "sample_data" / "mapping.toml"


def write_people(path: Path, n: int, *, start: int = 0, cookie_every: int = 0, **extra) -> Path:
    lines = []
    for i in range(start, start + n):
        msg = {"type": "identify", "userId": f"u{i}", "messageId": f"m{i}", "timestamp": "2024-05-01T00:00:00Z",
               "traits": {"email": f"person{i}@example.com", "firstName": f"P{i}", **extra}}
        if cookie_every and i % cookie_every == 0:
            msg["context"] = {"Marketo": {"marketoCookie": f"id:123-ABC-456&token:_mch-x-{i}"}}
        lines.append(json.dumps(msg))
    path.write_text("\n".join(lines) + "\n")
    return path


def run(invoke, *args):
    result = invoke("backfill-leads", *map(str, args), "--json")
    data = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    return result, data


def test_sample_export_end_to_end_then_rerun_is_free(invoke, sandbox, tmp_path):
    rejects = tmp_path / "rejects.jsonl"
    result, report = run(invoke, SAMPLE, WAREHOUSE, "--mapping", MAPPING, "--rejects", rejects)
    assert result.exit_code == 3, result.stderr
    counts = report["counts"]
    assert counts["messages_read"] == 350
    assert counts["messages_malformed"] == 3
    assert counts["messages_read"] == counts["messages_used"] + counts["messages_ignored"] + 3
    assert counts["leads_planned"] == 115
    assert counts["leads_created"] == 113
    assert counts["leads_rejected"] == 2
    assert counts["cookies_associated"] == 23
    assert "imbalances" not in report
    assert "referral_code" in report["details"]["unmapped_traits"]
    leads = {lead["email"]: lead for lead in sandbox.marketo.leads}
    assert len(leads) == 113 == len(sandbox.marketo.leads)
    ann = leads["ann.adams0@example.com"]
    assert (ann["title"], ann["lifecycleStage"], ann["company"], ann["city"], ann["numberOfEmployees"]) == (
        "Head of Data", "enterprise", "Initech", "San Francisco", 329)
    assert leads["gus.muller500@example.com"]["lastName"] == "Müller"  # from the warehouse CSV
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert {"reason": "malformed input: expected a JSON object, got list",
            "origin": f"{SAMPLE}:294"} in lines
    no_email = next(r for r in lines if r["reason"] == "no email")
    assert no_email["origin"].startswith(str(SAMPLE))
    assert no_email["fields"]["userId"] == "user-0017"
    invalid = next(r for r in lines if r["reason"].startswith("invalid value"))
    assert invalid["fields"]["productScore"]["value"] == "high"
    assert invalid["key"] == "tariq.fischer19@example.com"

    calls_before = sandbox.marketo.calls
    result, report = run(invoke, SAMPLE, WAREHOUSE, "--mapping", MAPPING)
    assert report["counts"]["leads_unchanged"] == 113
    assert report["counts"]["cookies_associated"] == 0
    assert sandbox.marketo.calls == calls_before
    assert report["api_calls"]["marketo"] == 0

    result, report = run(invoke, SAMPLE, WAREHOUSE, "--mapping", MAPPING, "--full")
    assert report["counts"]["leads_updated"] == 113
    assert report["api_calls"]["marketo"] == 1  # one Sync Leads call: before-values from the state store
    assert len(sandbox.marketo.leads) == 113


def test_changed_traits_update_only_those_leads(invoke, sandbox, tmp_path):
    first = write_people(tmp_path / "day1.jsonl", 5)
    assert run(invoke, first)[0].exit_code == 0
    day2 = tmp_path / "day2.jsonl"
    day2.write_text(json.dumps({"type": "identify", "userId": "u3", "timestamp": "2024-06-01T00:00:00Z",
                                "traits": {"title": "CEO", "company": {"name": "Acme", "industry": "Tools"}}}) + "\n")
    result, report = run(invoke, first, day2)
    assert result.exit_code == 0
    assert report["counts"]["leads_updated"] == 1
    assert report["counts"]["leads_planned"] == 1  # day2 alone is read: the 4 others are not planned again
    assert report["details"]["inputs"]["people_not_affected"] == 4
    (lead,) = sandbox.marketo.find_leads("email", "person3@example.com")
    assert (lead["title"], lead["company"], lead["industry"], lead["firstName"]) == ("CEO", "Acme", "Tools", "P3")


def test_dry_run_prints_the_plan_and_writes_nothing(invoke, sandbox, tmp_path):
    path = write_people(tmp_path / "in.jsonl", 4, favourite_colour="blue")
    result = invoke("backfill-leads", str(path), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert ("Plan: 4 lead(s): 0 to create, 0 to update, 4 new to this instance's state (created unless Marketo "
            "already has them), 0 unchanged, 0 rejected; writes via REST") in result.stdout
    assert "--before-values marketo reads them first for an exact split" in result.stdout
    assert '  upsert  person0@example.com  firstName: unknown → "P0"' in result.stdout
    assert "favourite_colour: no mapping" in result.stdout
    assert sandbox.marketo.leads == []
    result, report = run(invoke, path, "--dry-run")
    counts = report["counts"]
    assert counts["leads_to_write"] == 4
    assert (counts["leads_to_create"], counts["leads_to_update"], counts["leads_new_to_state"]) == (0, 0, 4)
    assert report["details"]["sample"][0]["firstName"] == "P0"
    assert report["details"]["before_values"] == "stored"
    assert report["api_calls"]["marketo"] == 0  # Describe cached by the first dry run; no look-up


def test_dry_run_plan_text_line_for_line(invoke, sandbox, tmp_path):
    sandbox.marketo.add_lead(email="person1@example.com", firstName="Old")
    path = write_people(tmp_path / "in.jsonl", 7, favourite_colour="blue")
    with path.open("a") as handle:
        handle.write(json.dumps({"type": "identify", "userId": "nobody", "traits": {"plan": "pro"}}) + "\n")
    result = invoke("backfill-leads", str(path), "--dry-run", "--bulk-threshold", "7", "--before-values", "marketo")
    assert result.exit_code == 3, result.stderr
    assert result.stdout.splitlines() == [
        "Plan: 8 lead(s): 6 to create, 1 to update, 0 unchanged, 1 rejected; writes via Bulk Import",
        '  create  person0@example.com  firstName: (empty) → "P0"',
        '  update  person1@example.com  firstName: "Old" → "P1"',
        *(f'  create  person{i}@example.com  firstName: (empty) → "P{i}"' for i in range(2, 5)),
        "  … and 2 more lead(s); write all rows with --plan-out FILE",
        "Unmapped traits (2):",
        "  favourite_colour: no mapping",
        "  plan: no mapping",
        f"  reject  {path}:8: no email",
    ]


def test_stored_dry_run_text_splits_known_from_new_leads(invoke, sandbox, tmp_path):
    assert run(invoke, write_people(tmp_path / "day1.jsonl", 2))[0].exit_code == 0
    path = write_people(tmp_path / "day2.jsonl", 4, favourite_colour="blue")  # person0 changed, person2/3 new
    path.write_text(path.read_text().replace('"P0"', '"Zoe"'))
    result = invoke("backfill-leads", str(path), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Plan: 4 lead(s): 0 to create, 1 to update, 2 new to this instance's state (created unless Marketo already "
        "has them), 1 unchanged, 0 rejected; writes via REST (300 per call)",
        "  before-values of those: unknown; --before-values marketo reads them first for an exact split (one Get "
        "Leads call per 300 leads)",
        '  update  person0@example.com  firstName: "P0" → "Zoe"',  # the value the first run wrote
        '  upsert  person2@example.com  firstName: unknown → "P2"',
        '  upsert  person3@example.com  firstName: unknown → "P3"',
        "  write all rows with --plan-out FILE",
        "Unmapped traits (1):",
        "  favourite_colour: no mapping",
    ]


def test_marketo_duplicates_are_rejected_with_code_1007(invoke, sandbox, tmp_path):
    sandbox.marketo.add_lead(email="person1@example.com", firstName="Dup A")
    sandbox.marketo.add_lead(email="person1@example.com", firstName="Dup B")
    rejects = tmp_path / "rej.jsonl"
    result, report = run(invoke, write_people(tmp_path / "in.jsonl", 3), "--rejects", rejects)
    assert result.exit_code == 3
    assert report["counts"]["leads_created"] == 2
    assert report["counts"]["leads_rejected"] == 1
    (line,) = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert line["code"] == "1007"
    assert line["key"] == "person1@example.com"
    assert "merge" in line["reason"]
    assert {lead["firstName"] for lead in sandbox.marketo.find_leads("email", "person1@example.com")} == {
        "Dup A", "Dup B"}


def test_bulk_import_path_with_low_threshold(invoke, sandbox, tmp_path, monkeypatch):
    monkeypatch.setattr(backfill_bulk, "POLL_FIRST_S", 0.01)
    monkeypatch.setattr(backfill_bulk, "POLL_MAX_S", 0.05)
    path = write_people(tmp_path / "in.jsonl", 40, cookie_every=10, title='Head of "Data", EMEA')
    result, report = run(invoke, path, "--bulk-threshold", "10")
    assert result.exit_code == 0, result.stderr
    counts = report["counts"]
    assert counts["leads_imported"] == 40
    assert counts["bulk_import_jobs"] == 1
    assert counts["cookies_associated"] == 4
    assert len(sandbox.marketo.leads) == 40
    assert sandbox.marketo.find_leads("email", "person7@example.com")[0]["title"] == 'Head of "Data", EMEA'
    assert len(sandbox.marketo.associations) == 4
    with path.open("a") as export:  # a changed file is planned again: its leads' stored hashes make them unchanged
        export.write('{"type": "track", "event": "Signed In", "userId": "u1"}\n')
    result, report = run(invoke, path, "--bulk-threshold", "10")
    assert report["counts"]["leads_unchanged"] == 40
    assert report["api_calls"]["marketo"] == 0


def test_bulk_failures_are_mapped_back_to_people(invoke, sandbox, tmp_path, monkeypatch):
    monkeypatch.setattr(backfill_bulk, "POLL_FIRST_S", 0.01)
    sandbox.marketo.add_lead(email="person2@example.com")
    sandbox.marketo.add_lead(email="person2@example.com")
    rejects = tmp_path / "rej.jsonl"
    result, report = run(invoke, write_people(tmp_path / "in.jsonl", 5), "--bulk-threshold", "1",
                         "--rejects", rejects)
    assert result.exit_code == 3
    assert report["counts"]["leads_imported"] == 4
    assert report["counts"]["leads_rejected"] == 1
    (line,) = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert line["key"] == "person2@example.com"
    assert line["reason"].startswith("bulk import: ")


def test_truncated_gzip_rejects_the_rest_and_keeps_going(invoke, sandbox, tmp_path):
    data = gzip.compress(write_people(tmp_path / "src.jsonl", 3000).read_bytes())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    rejects = tmp_path / "rej.jsonl"
    result, report = run(invoke, cut, "--rejects", rejects)
    assert result.exit_code == 3
    (line,) = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert "truncated" in line["reason"]
    assert line["origin"].startswith(f"{cut}:")
    assert report["counts"]["leads_created"] == len(sandbox.marketo.leads) > 1000


def test_quota_607_mid_run_exits_75_and_next_run_finishes_without_duplicates(invoke, sandbox, tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("SEGMARKETO_MAX_CONCURRENCY", "1")
    path = write_people(tmp_path / "in.jsonl", 1000)
    sandbox.limits.daily_quota = sandbox.limits.used_today() + 4  # describe, describe2, two Sync Leads calls
    result, report = run(invoke, path)
    assert result.exit_code == 75
    assert report["status"] == "deferred"
    assert "quota" in report["error"].lower()
    counts = report["counts"]
    assert counts["leads_created"] == 600
    assert counts["leads_deferred"] == 400
    assert "imbalances" not in report
    assert len(sandbox.marketo.leads) == 600
    sandbox.limits.daily_quota = 50_000
    result, report = run(invoke, path)
    assert result.exit_code == 0
    assert report["counts"]["leads_unchanged"] == 600
    assert report["counts"]["leads_created"] == 400
    emails = [lead["email"] for lead in sandbox.marketo.leads]
    assert len(emails) == 1000 == len(set(emails))


def test_lookup_field_must_be_searchable(invoke, sandbox, tmp_path):
    path = write_people(tmp_path / "in.jsonl", 2)
    result = invoke("backfill-leads", str(path), "--lookup-field", "firstName")
    assert result.exit_code == 2
    assert "not searchable" in result.stderr
    result, report = run(invoke, path, "--lookup-field", "segmentUserId", "--user-id-field", "segmentUserId")
    assert result.exit_code == 0
    assert report["counts"]["leads_created"] == 2
    assert sandbox.marketo.find_leads("segmentUserId", "u1")[0]["email"] == "person1@example.com"


def test_bad_mapping_target_is_a_usage_error_before_writes(invoke, sandbox, tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text('plan = "noSuchField"\ncreated = "createdAt"\n')
    result = invoke("backfill-leads", str(write_people(tmp_path / "in.jsonl", 2)), "--mapping", str(mapping))
    assert result.exit_code == 2
    assert "noSuchField" in result.stderr
    assert "read-only" in result.stderr
    assert sandbox.marketo.leads == []


def test_profile_mapping_and_field_ownership(invoke, sandbox, tmp_path, isolated_home):
    from segmarketo_cli import paths

    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "[profiles.default]\nuser_id_field = \"segmentUserId\"\n"
        "[profiles.default.mapping]\nstage = \"lifecycleStage\"\nunsubscribed = \"unsubscribed\"\n"
        "[profiles.default.fields]\nmarketo_owned = [\"leadScore\"]\nfill_only = [\"title\"]\n"
        "newer_only = [\"phone\"]\n"
    )
    old = sandbox.marketo.add_lead(email="person0@example.com", title="VP Sales", phone="111", leadScore=50)
    path = write_people(tmp_path / "in.jsonl", 2, title="Engineer", phone="222", lead_score=7, stage="trial",
                        unsubscribed=False)
    result, report = run(invoke, path)
    assert result.exit_code == 0, result.stderr
    counts = report["counts"]
    assert counts["leads_updated"] == 1
    assert counts["leads_created"] == 1
    assert counts["fields_skipped_marketo_owned"] == 2
    assert counts["fields_skipped_fill_only"] == 1
    assert counts["fields_skipped_newer_only"] == 1  # the lead was updated after 2024-05-01
    assert counts["consent_values_not_lowered"] == 2
    lead = sandbox.marketo.lead(old)
    assert (lead["title"], lead["phone"], lead["leadScore"], lead["lifecycleStage"], lead["segmentUserId"]) == (
        "VP Sales", "111", 50, "trial", "u0")
    (new,) = sandbox.marketo.find_leads("email", "person1@example.com")
    assert (new["title"], new["phone"], new.get("leadScore"), new.get("unsubscribed")) == (
        "Engineer", "222", None, None)  # unsubscribed=false is never sent


def test_nulls_clear_empties_the_marketo_field(invoke, sandbox, tmp_path):
    day1 = write_people(tmp_path / "day1.jsonl", 1, title="CTO")
    assert run(invoke, day1)[0].exit_code == 0
    day2 = tmp_path / "day2.jsonl"
    day2.write_text(json.dumps({"type": "identify", "userId": "u0", "timestamp": "2024-07-01T00:00:00Z",
                                "traits": {"title": None}}) + "\n")
    result, report = run(invoke, day1, day2)
    assert report["counts"]["leads_unchanged"] == 1  # keep: the null is ignored
    result, report = run(invoke, day1, day2, "--nulls", "clear")
    assert result.exit_code == 0
    assert report["counts"]["leads_updated"] == 1
    (lead,) = sandbox.marketo.find_leads("email", "person0@example.com")
    assert lead.get("title") in (None, "")
    assert lead["firstName"] == "P0"


def test_partition_from_the_profile_is_sent_on_every_create_path(invoke, sandbox, tmp_path, monkeypatch,
                                                                  isolated_home):
    monkeypatch.setattr(backfill_bulk, "POLL_FIRST_S", 0.01)
    monkeypatch.setattr(backfill_bulk, "POLL_MAX_S", 0.05)
    sandbox.marketo.add_partition("EMEA")
    sandbox.marketo.add_partition("APAC")
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "config.toml").write_text('[profiles.default]\npartition = "EMEA"\n')
    result, report = run(invoke, write_people(tmp_path / "rest.jsonl", 3))
    assert result.exit_code == 0, result.stderr
    bulk, _ = run(invoke, write_people(tmp_path / "bulk.jsonl", 4, start=10), "--bulk-threshold", "1")
    assert bulk.exit_code == 0, bulk.stderr
    flag, _ = run(invoke, write_people(tmp_path / "flag.jsonl", 1, start=20), "--partition", "APAC")
    assert flag.exit_code == 0, flag.stderr
    partitions = {lead["email"]: sandbox.marketo.lead_partition(lead["id"]) for lead in sandbox.marketo.leads}
    assert partitions == {**{f"person{i}@example.com": "EMEA" for i in (0, 1, 2, 10, 11, 12, 13)},
                          "person20@example.com": "APAC"}


def test_unknown_partition_is_one_config_error_before_any_lead_is_sent(invoke, sandbox, tmp_path, monkeypatch):
    sandbox.marketo.add_partition("EMEA")
    monkeypatch.setenv("SEGMARKETO_PARTITION", "Emea")
    result = invoke("backfill-leads", str(write_people(tmp_path / "in.jsonl", 3)))
    assert result.exit_code == 2
    assert "lead partition 'Emea' does not exist" in result.stderr
    assert "(partitions: Default, EMEA)" in result.stderr
    assert "Traceback" not in result.output
    assert sandbox.marketo.leads == []
    dry = invoke("backfill-leads", str(tmp_path / "in.jsonl"), "--dry-run")
    assert dry.exit_code == 2
    assert "lead partition 'Emea' does not exist" in dry.stderr


def test_partition_failures_are_per_record_rejects_with_advice(invoke, sandbox, tmp_path):
    sandbox.marketo.add_partition("EMEA")
    sandbox.marketo.add_partition("Restricted")
    sandbox.marketo.add_lead(email="person0@example.com")  # in Default, the run creates in EMEA
    sandbox.marketo.add_lead(email="person1@example.com", partition="Restricted")
    sandbox.marketo.restrict_partitions(["Default", "EMEA"])
    rejects = tmp_path / "rej.jsonl"
    result, report = run(invoke, write_people(tmp_path / "in.jsonl", 3), "--partition", "EMEA",
                         "--rejects", rejects)
    assert result.exit_code == 3
    assert report["counts"]["leads_created"] == 1
    assert report["counts"]["leads_rejected"] == 2
    lines = {line["key"]: line for line in map(json.loads, rejects.read_text().splitlines())}
    assert lines["person0@example.com"]["code"] == "1010"
    assert "already exists in another lead partition" in lines["person0@example.com"]["reason"]
    assert lines["person1@example.com"]["code"] == "1008"
    assert "Access denied to partition 'Restricted'" in lines["person1@example.com"]["reason"]
    assert "segmarketo doctor" in lines["person1@example.com"]["reason"]
