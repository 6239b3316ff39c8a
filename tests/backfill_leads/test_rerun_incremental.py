"""backfill-leads reruns where only some files are new: only those are read, merged with the people store, and the
writes, rejects and buckets that matter equal those of a rerun that reads every file."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from segmarketo_cli.sandbox.box import Sandbox
from tests.backfill_leads.test_cli import run
from tests.support.sandbox_env import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, point_cli_at

VOLATILE = {"id", "createdAt", "updatedAt"}
COOKIE = "id:123-ABC-456&token:_mch-x-anon"


def identify(ts: str, *, user: str | None = None, anon: str | None = None, **traits: object) -> dict:
    message: dict = {"type": "identify", "timestamp": ts, "traits": traits}
    if user:
        message["userId"] = user
    if anon:
        message["anonymousId"] = anon
    return message


def write(path: Path, *messages: dict) -> Path:
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    return path


def days(folder: Path) -> list[Path]:
    """Three days of an export: an anonymous visit (day 1) named in day 3, two people merged by a day-3 alias,
    people nobody touches again, a new person, and a day-2 person whose traits change in day 3."""
    folder.mkdir()
    quiet = [identify("2024-05-01T00:00:00Z", user=f"q{i}", email=f"quiet{i}@example.com", firstName=f"Q{i}")
             for i in range(20)]
    day1 = write(folder / "day=1.jsonl", *quiet,
                 identify("2024-05-01T01:00:00Z", user="u1", email="one@example.com", firstName="One", title="T1"),
                 {"type": "page", "anonymousId": "anon-1", "timestamp": "2024-05-01T02:00:00Z",
                  "context": {"Marketo": {"marketoCookie": COOKIE}}},
                 {"type": "track", "event": "Viewed", "userId": "q1", "timestamp": "2024-05-01T03:00:00Z"})
    day2 = write(folder / "day=2.jsonl",
                 identify("2024-05-02T00:00:00Z", user="u2", email="two@example.com", firstName="Two",
                          lastName="Second"),
                 identify("2024-05-02T01:00:00Z", user="u5", email="five@example.com", firstName="Five"))
    day3 = write(folder / "day=3.jsonl",
                 identify("2024-05-03T00:00:00Z", user="u-anon", anon="anon-1", email="anon@example.com",
                          firstName="Was Anonymous"),
                 {"type": "alias", "previousId": "u2", "userId": "u1", "timestamp": "2024-05-03T01:00:00Z"},
                 identify("2024-05-03T02:00:00Z", user="u5", title="Promoted"),
                 identify("2024-05-03T03:00:00Z", user="u6", email="six@example.com", firstName="Six"))
    return [day1, day2, day3]


def leads(sandbox: Sandbox) -> list[dict]:
    return sorted(({k: v for k, v in lead.items() if k not in VOLATILE} for lead in sandbox.marketo.leads),
                  key=lambda lead: str(lead.get("email")))


def cookies(sandbox: Sandbox) -> list[tuple[str, str]]:
    email_of = {lead["id"]: lead["email"] for lead in sandbox.marketo.leads}
    return sorted((email_of[lead_id], cookie) for lead_id, cookie in sandbox.marketo.associations)


def rejects(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def store_file(home: Path) -> Path:
    return home / "state" / "people" / "default.duckdb"


def store_run(home: Path) -> str:
    with duckdb.connect(str(store_file(home)), read_only=True) as con:
        return con.execute("SELECT run_id FROM meta").fetchone()[0]


def fresh_sandbox(monkeypatch, home: Path) -> Sandbox:
    box = Sandbox(client_id=SANDBOX_CLIENT_ID, client_secret=SANDBOX_CLIENT_SECRET)
    box.start(host="127.0.0.1", port=0)
    point_cli_at(monkeypatch, box.url, home)
    return box


def rerun(invoke, monkeypatch, tmp_path: Path, name: str, first: list[Path], second: list[Path], *flags: str,
          read_all: bool) -> tuple[dict, dict, Sandbox]:
    """A fresh sandbox and home: a run on `first`, then one on `second` (every file read when `read_all`, by
    removing the people store in between); the second report, what Marketo holds, and the sandbox."""
    home = tmp_path / name
    box = fresh_sandbox(monkeypatch, home)
    result, _ = run(invoke, *first, *flags)
    assert result.exit_code == 0, result.stderr
    if read_all:
        store_file(home).unlink()
    result, report = run(invoke, *second, *flags, "--rejects", tmp_path / f"{name}-rejects.jsonl")
    report["exit_code"] = result.exit_code
    held = {"leads": leads(box), "cookies": cookies(box), "rejects": rejects(tmp_path / f"{name}-rejects.jsonl")}
    box.stop()
    return report, held, box


WRITES = ("leads_created", "leads_updated", "leads_rejected", "leads_deferred", "cookies_associated")


def test_a_new_day_reads_only_the_new_file_and_writes_what_a_full_read_writes(invoke, monkeypatch, tmp_path):
    day1, day2, day3 = days(tmp_path / "export")
    incremental, got, _ = rerun(invoke, monkeypatch, tmp_path, "incremental", [day1, day2], [day1, day2, day3],
                                read_all=False)
    full, expected, _ = rerun(invoke, monkeypatch, tmp_path, "full", [day1, day2], [day1, day2, day3],
                              read_all=True)
    assert incremental["exit_code"] == full["exit_code"] == 0
    assert got == expected
    assert {b: incremental["counts"].get(b, 0) for b in WRITES} == {b: full["counts"].get(b, 0) for b in WRITES}
    assert incremental["counts"]["messages_read"] == 4  # day 3 alone
    assert full["counts"]["messages_read"] == 29
    # affected: the named visitor, the merged pair, u5, u6; the 20 quiet people and nobody else are left out
    assert incremental["counts"]["leads_planned"] == 4
    assert incremental["details"]["inputs"]["people_not_affected"] == 20
    assert "imbalances" not in incremental
    assert any(note.startswith("20 people not affected by the new files") for note in incremental["notes"])
    by_email = {lead["email"]: lead for lead in got["leads"]}
    assert by_email["anon@example.com"]["firstName"] == "Was Anonymous"
    assert ("anon@example.com", COOKIE) in got["cookies"]
    assert by_email["two@example.com"]["title"] == "T1"  # u1's trait, merged into u2's newer e-mail by the alias
    assert by_email["five@example.com"]["title"] == "Promoted"


def test_each_later_day_continues_from_the_store(invoke, sandbox, tmp_path):
    day1, day2, day3 = days(tmp_path / "export")
    run(invoke, day1)
    result, second = run(invoke, day1, day2)
    assert result.exit_code == 0, result.stderr
    assert second["counts"]["messages_read"] == 2
    assert second["counts"]["leads_created"] == 2
    result, third = run(invoke, day1, day2, day3)
    assert result.exit_code == 0, result.stderr
    assert third["counts"]["messages_read"] == 4
    assert third["counts"]["leads_created"] == 2  # the named visitor and u6
    assert third["counts"]["leads_updated"] == 2  # the merged pair and u5
    assert third["details"]["inputs"]["run"] == second["run_id"]
    assert len(sandbox.marketo.leads) == 25


def test_a_changed_old_file_reads_everything(invoke, sandbox, tmp_path):
    day1, day2, day3 = days(tmp_path / "export")
    run(invoke, day1, day2)
    write(day2, identify("2024-05-02T00:00:00Z", user="u2", email="two@example.com", firstName="Changed"),
          identify("2024-05-02T01:00:00Z", user="u5", email="five@example.com", firstName="Five"))
    result, report = run(invoke, day1, day2, day3)
    assert result.exit_code == 0, result.stderr
    assert report["counts"]["messages_read"] == 29  # every file
    assert "people_not_affected" not in report["details"]["inputs"]
    assert report["details"]["inputs"]["changed"] == [str(day2.resolve())]
    assert "every file read again" in report["notes"][0]


def test_a_new_file_before_an_old_one_reads_everything(invoke, sandbox, tmp_path):
    day1, day2, day3 = days(tmp_path / "export")
    _, first = run(invoke, day1, day2)
    assert first["status"] == "ok"
    day0 = write(day1.with_name("day=0.jsonl"), identify("2024-04-30T00:00:00Z", user="z", email="z@example.com"))
    result, report = run(invoke, day0, day1, day2)  # a late file, sorted before the others
    assert result.exit_code == 0, result.stderr
    assert report["counts"]["messages_read"] == 26
    assert any("not an append" in note for note in report["notes"])


def test_a_failed_run_leaves_the_store_as_it_was(invoke, sandbox, tmp_path, isolated_home):
    day1, day2, day3 = days(tmp_path / "export")
    _, first = run(invoke, day1, day2)
    sandbox.limits.daily_quota = sandbox.limits.used_today() + 1  # day 3: one write call, then 607
    result, failed = run(invoke, day1, day2, day3)
    assert result.exit_code == 75, result.stderr
    assert store_run(isolated_home) == first["run_id"]
    sandbox.limits.daily_quota = 50_000
    result, report = run(invoke, day1, day2, day3)
    assert result.exit_code == 0, result.stderr
    assert report["details"]["inputs"]["run"] == first["run_id"]
    assert report["counts"]["messages_read"] == 4  # still only day 3
    assert store_run(isolated_home) == report["run_id"]
    assert len(sandbox.marketo.leads) == 25


def test_a_new_person_taking_a_known_key_is_rejected_as_in_a_full_read(invoke, monkeypatch, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('[mapping]\ncrmId = "segmentUserId"\n')
    day1 = write(folder / "day=1.jsonl", identify("2024-05-01T00:00:00Z", user="a", email="a@example.com", crmId="C1"),
                 identify("2024-05-01T00:00:00Z", user="b", email="b@example.com", crmId="C2"))
    day2 = write(folder / "day=2.jsonl", identify("2024-05-02T00:00:00Z", user="c", email="c@example.com", crmId="C1"))
    flags = ("--lookup-field", "segmentUserId", "--mapping", str(mapping))
    incremental, got, _ = rerun(invoke, monkeypatch, tmp_path, "incremental", [day1], [day1, day2], *flags,
                                read_all=False)
    full, expected, _ = rerun(invoke, monkeypatch, tmp_path, "full", [day1], [day1, day2], *flags, read_all=True)
    assert incremental["exit_code"] == full["exit_code"] == 3
    assert got == expected
    assert [r["reason"] for r in got["rejects"]] == [f"duplicate segmentUserId in input (also at {day1}:1)"]
    assert incremental["counts"]["leads_planned"] == 2  # c, and a who held the key first
    assert incremental["details"]["inputs"]["people_not_affected"] == 1


@pytest.mark.parametrize("flag", ["--full", "--nulls=clear"])
def test_full_or_another_plan_key_reads_everything_and_rebuilds_the_store(invoke, sandbox, tmp_path,
                                                                         isolated_home, flag):
    day1, day2, day3 = days(tmp_path / "export")
    run(invoke, day1, day2)
    result, report = run(invoke, day1, day2, day3, flag)
    assert result.exit_code == 0, result.stderr
    assert report["counts"]["messages_read"] == 29
    assert store_run(isolated_home) == report["run_id"]
    assert oct(store_file(isolated_home).stat().st_mode & 0o777) == "0o600"
    assert oct(store_file(isolated_home).parent.stat().st_mode & 0o777) == "0o700"
