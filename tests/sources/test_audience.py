"""Audience readers: Engage CSV shapes, id-column CSVs, S3 (Actions) CSVs and audience events."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from segmarketo_cli.errors import ConfigError, InputError
from segmarketo_cli.sources.audience.readers import Identity
from segmarketo_cli.sources.audience.readers import read_audience as check_audience
from tests.sync_audience.engine_plan import loaded

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
HASH = "b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def read_audience(path, **options):
    """The file checked, then loaded as a run loads it (people and rejects in order)."""
    return loaded(check_audience(path, **options))


def keys(result) -> list[str]:
    return [p.key.value for p in result.people]


def test_unformatted_engage_csv_with_curly_quotes_and_short_rows(tmp_path):
    path = write(tmp_path, "aud.csv", (
        "key,external_ids,anonymous_id,email,email_1\n"
        'segment_id_1,"{""anonymous_id"":[""anon_1""], ""email"": [\u201cLuke@Force.com\u201d, '
        '\u201cchosen_one@force.com\u201d]}",anon_1,luke@force.com,chosen_one@force.com\n'
        'segment_id_2,"{\u201canonymous_id"":[""anon_2""], ""email"": [\u201cgreen@force.com\u201d]}",anon_2,'
        "green@force.com\n"
    ))
    result = read_audience(path)
    assert result.shape == "engage-unformatted"
    assert result.kind == "snapshot"
    assert result.rows == 2
    assert not result.rejects
    assert result.people[0].identities == (Identity("email", "luke@force.com"),
                                           Identity("email", "chosen_one@force.com"))
    assert keys(result) == ["luke@force.com", "green@force.com"]


def test_unformatted_traits_json_and_bad_json_is_rejected_with_reason(tmp_path):
    path = write(tmp_path, "aud.csv", (
        "key,external_ids,traits\n"
        'u1,"{""user_id"":[""u-1""]}","{""email"":""ann@example.com"",""plan"":""pro""}"\n'
        'u2,"{not json","{}"\n'
        'u3,"{""user_id"":[""u-3""]}","{}"\n'
    ))
    result = read_audience(path)
    assert keys(result) == ["ann@example.com", "u-3"]
    assert result.people[0].user_id == "u-1"
    assert result.people[1].key == Identity("userId", "u-3")
    [reject] = result.rejects
    assert reject.origin.endswith("aud.csv:3")
    assert reject.field == "external_ids"
    assert reject.reason.startswith("external_ids: invalid JSON")


def test_formatted_csv_rejects_hashed_and_invalid_emails_and_counts_repeats(tmp_path):
    path = write(tmp_path, "aud.csv", (
        "key,email,first_name\n"
        "a,Ann@Example.com,Ann\n"
        f"b,{HASH},Bob\n"
        "c,not-an-email,Cy\n"
        "d,ann@example.com ,Ann again\n"
        "e,,nobody\n"
    ))
    result = read_audience(path)
    assert result.shape == "engage-formatted"
    assert keys(result) == ["ann@example.com"]
    assert result.repeated == 1
    assert result.rows == 5
    reasons = {r.origin.rsplit(":", 1)[1]: r.reason for r in result.rejects}
    assert reasons["3"].startswith("hashed e-mail")
    assert reasons["4"] == "not an e-mail address"
    assert reasons["6"].startswith("no identifier")
    assert result.rows == len(result.people) + result.repeated + len(result.rejects)


def test_all_hashed_file_is_refused_with_a_clear_message(tmp_path):
    path = write(tmp_path, "hashed.csv", f"email\n{HASH}\n{HASH[::-1]}\n")
    with pytest.raises(InputError, match="SHA-256 hash"):
        read_audience(path)


def test_id_column_and_id_type(tmp_path):
    path = write(tmp_path, "ids.csv", "Lead Number,name\n17,A\nx9,B\n0018,C\n")
    result = read_audience(path, id_column="lead number", id_type="marketo-id")
    assert [p.key for p in result.people] == [Identity("marketo-id", "17"), Identity("marketo-id", "18")]
    assert result.rejects[0].reason == "not a Marketo lead id"
    users = read_audience(write(tmp_path, "u.csv", "customer,uid\nx,U1\ny,U2\n"), id_column="uid",
                          id_type="userId")
    assert [p.key for p in users.people] == [Identity("userId", "U1"), Identity("userId", "U2")]
    auto = read_audience(write(tmp_path, "e.csv", "Email Address,x\nA@B.co,1\n"), id_column="Email Address")
    assert auto.people[0].key == Identity("email", "a@b.co")


def test_unknown_columns_and_bad_options_are_config_errors(tmp_path):
    path = write(tmp_path, "x.csv", "name,city\nAnn,Paris\n")
    with pytest.raises(ConfigError, match="no identifier column"):
        read_audience(path)
    with pytest.raises(ConfigError, match="no column 'nope'"):
        read_audience(path, id_column="nope")
    with pytest.raises(ConfigError, match="cannot tell"):
        read_audience(path, id_column="city")


@pytest.mark.parametrize("delimiter", [",", "|", "\t", ";", ":"])
def test_s3_actions_csv_all_delimiters_picks_audience_and_replays(tmp_path, delimiter):
    header = delimiter.join(["audience_name", "audience_action", "email", "user_id", "timestamp"])
    rows = [
        ["vip", "true", "a@x.com", "u1", "2024-01-01T00:00:00Z"],
        ["vip", "false", "a@x.com", "u1", "2024-01-02T00:00:00Z"],
        ["other", "true", "b@x.com", "", "2024-01-01T00:00:00Z"],
        ["vip", "true", "c@x.com", "", "2024-01-03T00:00:00Z"],
        ["vip", "true", "c@x.com", "", "2024-01-02T00:00:00Z"],
        ["vip", "maybe", "d@x.com", "", ""],
    ]
    body = "\n".join(delimiter.join(f'"{v}"' for v in row) for row in rows)  # no newline after the last row
    result = read_audience(write(tmp_path, "s3.csv", header + "\n" + body), audience="vip")
    assert result.shape == "s3-actions"
    assert result.kind == "events"
    assert result.audience == "vip"
    assert [(p.key.value, p.member) for p in result.people] == [("a@x.com", False), ("c@x.com", True)]
    assert result.ignored == 1
    assert result.repeated == 2
    assert len(result.rejects) == 1
    assert result.rows == len(result.people) + result.repeated + result.ignored + len(result.rejects)


def test_s3_actions_several_audiences_need_audience_flag(tmp_path):
    path = write(tmp_path, "s3.csv", 'audience_name,audience_action,email\n"a","true","x@y.co"\n"b","true","z@y.co"\n')
    with pytest.raises(ConfigError, match="several audiences"):
        read_audience(path)


def _events(tmp_path: Path) -> Path:
    messages = [
        {"type": "track", "event": "Audience Entered", "userId": "u1", "timestamp": "2024-05-06T09:00:00Z",
         "properties": {"audience_key": "vip", "vip": True}, "context": {"traits": {"email": "Ann@x.com"}}},
        {"type": "identify", "userId": "u2", "timestamp": "2024-05-06T08:00:00Z",
         "traits": {"vip": True, "email": "bob@x.com"},
         "context": {"personas": {"computation_key": "vip", "computation_class": "audience"}}},
        {"type": "track", "event": "Audience Exited", "userId": "u1", "timestamp": "2024-05-06T10:00:00Z",
         "properties": {"audience_key": "vip", "vip": False}, "context": {"traits": {"email": "ann@x.com"}}},
        {"type": "identify", "userId": "u2", "timestamp": "2024-05-06T07:00:00Z", "traits": {"vip": False,
         "email": "bob@x.com"}},
        {"type": "track", "event": "Order Completed", "userId": "u3", "properties": {}},
        {"type": "track", "event": "Audience Entered", "userId": "u9", "properties": {"audience_key": "vip"},
         "timestamp": "2024-05-06T11:00:00Z"},
    ]
    lines = [json.dumps(m) for m in messages] + ["{broken"]
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def test_events_jsonl_replayed_in_timestamp_order(tmp_path):
    result = read_audience(_events(tmp_path), audience="vip")
    assert result.kind == "events"
    assert result.audience == "vip"
    states = {p.key.value: p.member for p in result.people}
    # ann: entered 09:00, exited 10:00 -> out. bob: exited 07:00 (identify), entered 08:00 -> in.
    assert states == {"ann@x.com": False, "bob@x.com": True, "u9": True}
    assert result.ignored == 1
    assert result.repeated == 2
    assert [r.reason.startswith("invalid JSON") for r in result.rejects] == [True]
    assert result.rows == 7


def test_events_audience_key_detected_when_alone(tmp_path):
    result = read_audience(_events(tmp_path))
    assert result.audience == "vip"
    # Without --audience a bare identify trait cannot be recognised as an audience event.
    assert {p.key.value for p in result.people} == {"ann@x.com", "bob@x.com", "u9"}


@pytest.mark.parametrize("name,shape,people", [("engage_audience_formatted.csv", "engage-formatted", 11),
                                               ("engage_audience_unformatted.csv", "engage-unformatted", 11),
                                               ("audience_events.jsonl", "events-jsonl", 6)])
def test_sample_files_read_cleanly(name, shape, people):
    result = read_audience(SAMPLES / name)
    assert result.shape == shape
    assert len(result.people) == people
    assert not result.rejects
    assert result.rows == len(result.people) + result.repeated + result.ignored + len(result.rejects)
    bo = next(p for p in result.people if p.key.value == "bo.haddad1@example.com")
    assert bo.member  # entered after an earlier exit (events), or present (snapshots)


@pytest.mark.parametrize("header", ["email,EMAIL", "userId|email|email"])
def test_duplicate_audience_csv_header_is_an_input_error_naming_the_column(tmp_path, header):
    delimiter = "|" if "|" in header else ","
    path = write(tmp_path, "dup.csv", header + "\n" + delimiter.join(["a@example.com"] * (header.count(delimiter) + 1))
                 + "\n")
    with pytest.raises(InputError, match="duplicate column 'email'"):
        read_audience(path)
