"""Bad-input corpus (tests/data/bad/): clear messages or per-record rejections with file:line, field and value,
never a traceback, and report buckets that add up."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.support.rules import ALL_BUT_SUPPRESS

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
TEN_MB = 10 * 1024 * 1024


def run(invoke, tmp_path, *args):
    """Run with --json and a rejects file; returns (exit code, report, rejects as dicts, stderr)."""
    rejects = tmp_path / "rejects.jsonl"
    rejects.unlink(missing_ok=True)
    result = invoke(*map(str, args), "--json", "--rejects", str(rejects))
    assert "Traceback" not in result.output
    report = json.loads(result.stdout) if result.stdout.lstrip().startswith("{") else None
    if report is not None:
        assert "imbalances" not in report, report["imbalances"]
    lines = [json.loads(line) for line in rejects.read_text().splitlines()] if rejects.exists() else []
    assert all(line["reason"] for line in lines)
    assert all(line.get("origin") for line in lines)
    return result.exit_code, report, lines, result.stderr


def by_line(rejects: list[dict], path: Path) -> dict[int, dict]:
    out = {}
    for reject in rejects:
        file, _, line = reject["origin"].rpartition(":")
        assert file == str(path)
        out[int(line)] = reject
    return out


def lead(box, email: str) -> dict:
    (found,) = box.marketo.find_leads("email", email)
    return found


# backfill-leads --------------------------------------------------------------------------------------------------

def test_truncated_gzip_keeps_every_complete_line_and_rejects_the_rest(invoke, sandbox, tmp_path):
    path = BAD / "truncated.jsonl.gz"
    code, report, rejects, _ = run(invoke, tmp_path, "backfill-leads", path)
    assert code == 3
    ((line, reject),) = by_line(rejects, path).items()
    assert "truncated" in reject["reason"]
    assert f"line {line} onwards" in reject["reason"]
    counts = report["counts"]
    assert counts["messages_malformed"] == 1
    assert counts["messages_used"] == line - 1
    assert counts["leads_created"] == len(sandbox.marketo.leads) == line - 1


def test_invalid_json_lines_are_rejected_one_by_one_and_the_good_lines_written(invoke, sandbox, tmp_path):
    path = BAD / "invalid_json.jsonl"
    code, report, rejects, _ = run(invoke, tmp_path, "backfill-leads", path)
    assert code == 3
    lines = by_line(rejects, path)
    assert "invalid JSON" in lines[2]["reason"]
    assert "expected a JSON object, got list" in lines[4]["reason"]
    assert "got str" in lines[5]["reason"]
    assert "Extra data" in lines[9]["reason"]
    assert "not valid UTF-8" in lines[10]["reason"]
    counts = report["counts"]
    # line 6 uses single quotes, so it is not an identify: ignored by the fast byte test, still counted
    assert counts["messages_read"] == 10
    assert counts["messages_malformed"] == 5
    assert counts["messages_ignored"] == 1
    assert {x["email"] for x in sandbox.marketo.leads} == {f"person{i}@example.com" for i in (1, 3, 4, 6)}


def test_missing_and_invalid_emails_are_rejected_with_field_and_value(invoke, sandbox, tmp_path):
    path = BAD / "emails.jsonl"
    code, report, rejects, _ = run(invoke, tmp_path, "backfill-leads", path)
    assert code == 3
    lines = by_line(rejects, path)
    assert lines[2]["reason"] == "no email"
    assert lines[2]["fields"]["userId"] == "u-noemail"
    for number, value in ((3, "not-an-email"), (4, "two@@example.com"), (5, "a" * 64), (7, 12345)):
        assert lines[number]["fields"]["email"]["value"] == value
        assert "e-mail" in lines[number]["reason"]
    assert report["counts"]["leads_rejected"] == 5
    assert report["counts"]["leads_created"] == 2
    assert lead(sandbox, "mixed.case@example.com")  # trimmed and lower-cased, not rejected


def test_wrong_types_and_over_length_strings_are_rejected_per_record(invoke, sandbox, tmp_path):
    path = BAD / "wrong_types.jsonl"
    code, report, rejects, _ = run(invoke, tmp_path, "backfill-leads", path)
    assert code == 3
    lines = by_line(rejects, path)
    assert lines[1]["fields"]["numberOfEmployees"] == {"value": "lots", "trait": "numberOfEmployees",
                                                        "expected": "integer (whole number)"}
    assert lines[2]["fields"]["numberOfEmployees"]["value"] == 14.1
    assert lines[3]["fields"]["title"]["expected"] == "string of at most 255 characters (got 300)"
    assert lines[5]["reason"] == "malformed input: 'traits' is a string, expected an object"
    assert lines[6]["reason"] == "malformed input: 'userId' is an array, expected a string"
    assert report["counts"]["leads_rejected"] == 3
    assert report["counts"]["messages_malformed"] == 2
    assert lead(sandbox, "person7@example.com")  # an unreadable timestamp only makes the message undated
    assert lead(sandbox, "person4@example.com")["numberOfEmployees"] == 250  # "250" is a whole number
    assert "firstName.nested" in report["details"]["unmapped_traits"]  # an object where a string belongs
    assert not sandbox.marketo.find_leads("email", "person1@example.com")


def test_duplicate_people_merge_into_one_lead_each(invoke, sandbox, tmp_path):
    code, report, rejects, _ = run(invoke, tmp_path, "backfill-leads", BAD / "duplicates.jsonl")
    assert code == 0
    assert rejects == []
    assert report["counts"]["messages_used"] == 5
    assert report["counts"]["leads_planned"] == 2
    emails = sorted(x["email"] for x in sandbox.marketo.leads)
    assert emails == ["person1@example.com", "person2-new@example.com"]  # same userId, the later e-mail wins
    assert lead(sandbox, "person1@example.com")["title"] == "Later"  # same e-mail, two userIds: one person


def test_csv_with_bom_quoted_newlines_commas_and_cjk(invoke, sandbox, tmp_path):
    path = BAD / "bom_quoted_cjk.csv"
    code, report, rejects, _ = run(invoke, tmp_path, "backfill-leads", path)
    assert code == 3
    lines = by_line(rejects, path)
    assert lines[5]["reason"] == "no email"
    assert lines[5]["fields"]["userId"] == "u3"  # row 3 starts on line 5
    assert lines[6]["fields"]["email"]["value"] == "not-an-email"
    ann = lead(sandbox, "person1@example.com")
    assert (ann["firstName"], ann["lastName"], ann["title"], ann["city"]) == (
        "Ann", "O'Brien, Jr.", 'Head of "Data", EMEA', "東京")
    li = lead(sandbox, "person2@example.com")
    assert (li["firstName"], li["lastName"], li["title"], li["city"]) == ("李", "王", "Line one\nline two", "Zürich")
    assert lead(sandbox, "person5@example.com")["firstName"] == "Trailing, comma"
    assert "unmapped_traits" not in report["details"]  # the BOM did not become part of the user_id column


@pytest.mark.parametrize("name", ["empty.jsonl", "blank_lines.jsonl", "header_only.csv"])
def test_empty_inputs_write_nothing(invoke, sandbox, tmp_path, name):
    code, report, rejects, _ = run(invoke, tmp_path, "backfill-leads", BAD / name)
    assert code == 0
    assert rejects == []
    assert report["counts"]["messages_read"] == 0
    assert report["counts"]["leads_planned"] == 0
    assert sandbox.marketo.leads == []


def test_ten_megabyte_single_line_is_one_rejection_with_a_short_reason(invoke, sandbox, tmp_path):
    path = tmp_path / "huge.jsonl"
    message = {"type": "identify", "userId": "u1", "traits": {"email": "big@example.com", "title": "x" * TEN_MB}}
    path.write_text(json.dumps(message) + "\n")
    code, report, rejects, _ = run(invoke, tmp_path, "backfill-leads", path)
    assert code == 3
    assert report["counts"]["leads_rejected"] == 1
    (reject,) = rejects
    assert reject["origin"] == f"{path}:1"
    assert len(reject["reason"]) < 300
    assert reject["fields"]["title"]["expected"] == f"string of at most 255 characters (got {TEN_MB})"
    assert f"({TEN_MB:,} characters)" in reject["fields"]["title"]["value"]
    assert (tmp_path / "rejects.jsonl").stat().st_size < 2000
    assert sandbox.marketo.leads == []


def test_ten_megabyte_line_of_junk_without_newline_is_malformed(invoke, sandbox, tmp_path):
    path = tmp_path / "junk.jsonl"
    path.write_bytes(b'{"type": "identify", ' + b"z" * TEN_MB)
    code, report, rejects, _ = run(invoke, tmp_path, "backfill-leads", path)
    assert code == 3
    assert report["counts"]["messages_malformed"] == 1
    (reject,) = rejects
    assert reject["origin"] == f"{path}:1"
    assert "invalid JSON" in reject["reason"]


@pytest.mark.parametrize("content", [b"this is not gzip", b"\x1f\x8b"], ids=["not-gzip", "only-the-magic"])
def test_broken_gzip_file_is_one_clear_line_before_any_call(invoke, sandbox, tmp_path, content):
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(content)
    code, report, _, stderr = run(invoke, tmp_path, "backfill-leads", path)
    assert code == 1
    assert report is None
    (line,) = stderr.strip().splitlines()
    assert line.startswith("segmarketo: error: ")
    assert str(path) in line
    assert sandbox.marketo.calls == 0


# sync-audience -------------------------------------------------------------------------------------------------

@pytest.fixture
def vip(sandbox):
    ids = [sandbox.marketo.add_lead(email=f"person{i}@example.com") for i in range(1, 6)]
    list_id = sandbox.marketo.add_list("VIP")
    return ids, list_id


def test_audience_rows_with_bad_emails_are_rejected_with_line_field_value(invoke, sandbox, tmp_path, vip):
    ids, list_id = vip
    path = BAD / "audience_bad.csv"
    code, report, rejects, _ = run(invoke, tmp_path, "sync-audience", path, "--list", "VIP")
    assert code == 3
    lines = by_line(rejects, path)
    assert lines[3] == {"reason": "not an e-mail address", "origin": f"{path}:3", "field": "email",
                        "value": "not-an-email"}
    assert "no identifier" in lines[4]["reason"]
    assert report["counts"]["rejected"] == 2
    assert report["counts"]["added"] == 2
    assert sandbox.marketo.list_members(list_id) == {ids[0], ids[1]}


def test_audience_csv_with_bom_quotes_and_cjk(invoke, sandbox, tmp_path, vip):
    ids, list_id = vip
    code, report, _, _ = run(invoke, tmp_path, "sync-audience", BAD / "bom_quoted_cjk.csv", "--list", "VIP")
    assert code == 0
    assert sandbox.marketo.list_members(list_id) == {ids[0], ids[1], ids[4]}
    assert report["counts"]["unresolved"] == 2  # u3 (no e-mail) and u4 (invalid e-mail) have only a userId


def test_audience_header_only_is_refused_as_an_empty_audience(invoke, sandbox, tmp_path, vip):
    ids, list_id = vip
    sandbox.marketo.add_to_list(list_id, ids)
    code, report, _, _ = run(invoke, tmp_path, "sync-audience", BAD / "header_only.csv", "--list", "VIP")
    assert code == 4
    assert report["status"] == "refused"
    assert "empty" in report["error"].lower()
    assert sandbox.marketo.list_members(list_id) == set(ids)


def test_audience_invalid_and_truncated_event_files(invoke, sandbox, tmp_path, vip):
    _, list_id = vip
    for name, bad_lines in (("invalid_json.jsonl", {2, 4, 5, 6, 9, 10}), ("truncated.jsonl.gz", {90})):
        path = BAD / name
        code, report, rejects, _ = run(invoke, tmp_path, "sync-audience", path, "--list", "VIP")
        assert code == 3
        assert set(by_line(rejects, path)) == bad_lines
        assert report["counts"]["rejected"] == len(bad_lines)
    assert sandbox.marketo.list_members(list_id) == set()


def test_audience_ten_megabyte_cell(invoke, sandbox, tmp_path, vip):
    ids, list_id = vip
    path = tmp_path / "big.csv"
    path.write_text("email,name\nperson1@example.com," + "y" * TEN_MB + "\n")
    code, report, _, _ = run(invoke, tmp_path, "sync-audience", path, "--list", "VIP")
    assert code == 0
    assert report["counts"]["added"] == 1
    assert sandbox.marketo.list_members(list_id) == {ids[0]}


# apply-events --------------------------------------------------------------------------------------------------

@pytest.fixture
def rules(sandbox, tmp_path):
    sandbox.marketo.add_program("Q4 Webinar", channel="Webinar")
    sandbox.marketo.add_campaign("Trial Welcome", type="trigger")
    path = tmp_path / "rules.toml"
    path.write_text(ALL_BUT_SUPPRESS)
    return path


def test_events_with_bad_json_types_and_timestamps(invoke, sandbox, tmp_path, rules):
    lead_id = sandbox.marketo.add_lead(email="person1@example.com", productScore=1)
    path = BAD / "events_bad.jsonl"
    code, report, rejects, _ = run(invoke, tmp_path, "apply-events", path, "--rules", rules)
    assert code == 3
    lines = by_line(rejects, path)
    assert "invalid JSON" in lines[3]["reason"]
    assert (lines[5]["field"], lines[5]["value"], lines[5]["rule"]) == ("productScore", "heavy", "usage")
    assert (lines[6]["field"], lines[6]["value"], lines[6]["rule"]) == ("mrr", "lots", "stage")
    assert "timestamp" in lines[7]["reason"]
    counts = report["counts"]
    assert counts["duplicates"] == 1
    assert counts["events_unmatched"] == 1
    assert counts["usage.applied"] == 1
    assert sandbox.marketo.lead(lead_id)["productScore"] == 1 + 2  # only t1, once


@pytest.mark.parametrize("name", ["invalid_json.jsonl", "truncated.jsonl.gz", "wrong_types.jsonl", "empty.jsonl"])
def test_events_reader_on_the_backfill_corpus(invoke, sandbox, tmp_path, rules, name):
    path = BAD / name
    code, report, rejects, _ = run(invoke, tmp_path, "apply-events", path, "--rules", rules)
    assert code == (3 if rejects else 0)
    assert report["counts"]["malformed"] == len(rejects)
    assert sandbox.marketo.calls < 10
    assert sandbox.marketo.leads == []


def test_events_ten_megabyte_property(invoke, sandbox, tmp_path, rules):
    lead_id = sandbox.marketo.add_lead(email="person1@example.com", productScore=1)
    path = tmp_path / "big.jsonl.gz"
    messages = [{"type": "identify", "userId": "u1", "messageId": "i1", "traits": {"email": "person1@example.com"},
                 "timestamp": "2026-11-20T09:00:00Z"},
                {"type": "track", "userId": "u1", "messageId": "t1", "event": "Report Created",
                 "properties": {"weight": 4, "blob": "b" * TEN_MB}, "timestamp": "2026-11-20T10:00:00Z"}]
    path.write_bytes(gzip.compress("".join(json.dumps(m) + "\n" for m in messages).encode()))
    code, report, _, _ = run(invoke, tmp_path, "apply-events", path, "--rules", rules)
    assert code == 0
    assert report["counts"]["usage.applied"] == 1
    assert sandbox.marketo.lead(lead_id)["productScore"] == 5


# every reader --------------------------------------------------------------------------------------------------

DEEP = 200_000  # far past Python's recursion limit


@pytest.mark.parametrize("shape, content", [
    ("array", b"[" * DEEP + b"\n"),
    ("line", b'{"type": "identify", "traits": ' + b"[" * DEEP + b"\n"
     + b'{"type": "identify", "userId": "u1", "traits": {"email": "person1@example.com"}}\n'),
    ("csv-cell", b'user_id,traits\nu1,"' + b"[" * DEEP + b'"\nu2,"{""email"": ""person2@example.com""}"\n'),
])
@pytest.mark.parametrize("command", ["backfill-leads", "sync-audience", "apply-events"])
def test_deeply_nested_json_is_a_rejected_record_not_a_crash(invoke, sandbox, tmp_path, rules, vip, shape, content,
                                                             command):
    path = tmp_path / ("deep.csv" if shape == "csv-cell" else "deep.jsonl")
    path.write_bytes(content)
    extra = {"backfill-leads": [], "sync-audience": ["--list", "VIP"], "apply-events": ["--rules", rules]}[command]
    code, report, rejects, stderr = run(invoke, tmp_path, command, path, *extra)
    assert code == 3
    (reject,) = rejects
    assert reject["origin"] in (f"{path}:1", f"{path}:2")
    if shape == "csv-cell":
        assert "traits" in reject["reason"]
        assert "JSON" in reject["reason"]
    else:
        assert "invalid JSON: nested too deeply" in reject["reason"]
    if command == "backfill-leads" and shape != "array":  # the next line or row is still used
        assert report["counts"]["leads_updated"] == 1  # used (the lead exists already)


@pytest.mark.parametrize("command", ["backfill-leads", "sync-audience", "apply-events"])
def test_csv_that_is_not_utf8_is_one_clear_line(invoke, sandbox, tmp_path, rules, vip, command):
    extra = {"backfill-leads": [], "sync-audience": ["--list", "VIP"], "apply-events": ["--rules", rules]}[command]
    code, report, _, stderr = run(invoke, tmp_path, command, BAD / "latin1.csv", *extra)
    assert code == 1
    message = stderr.strip() if report is None else report["error"]
    assert "latin1.csv" in message
    assert "utf-8" in message.lower()
    assert "\n" not in message
    assert sandbox.marketo.list_members(vip[1]) == set()
    assert sandbox.marketo.lead(vip[0][1])["email"]


@pytest.mark.parametrize("command", ["backfill-leads", "sync-audience", "apply-events"])
def test_a_broken_first_line_and_a_5000_digit_number_lose_only_their_own_lines(invoke, sandbox, tmp_path, rules,
                                                                               vip, command):
    path = BAD / "first_line_broken.jsonl"
    extra = {"backfill-leads": [], "sync-audience": ["--list", "VIP"], "apply-events": ["--rules", rules]}[command]
    code, report, rejects, _ = run(invoke, tmp_path, command, path, *extra)
    assert code == 3
    lines = by_line(rejects, path)
    assert set(lines) == {1, 3}
    assert "invalid JSON" in lines[1]["reason"]
    assert "digits" in lines[3]["reason"]
    if command == "backfill-leads":
        assert report["counts"]["leads_updated"] == 2  # persons 1 and 3 (they exist already)
