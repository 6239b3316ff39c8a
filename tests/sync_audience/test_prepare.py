"""sync-audience refusals before the lock: one line on stderr, the usual exit code, no call, no run recorded."""

from __future__ import annotations

import hashlib
import json

import pytest

from segmarketo_cli import paths
from tests.support.refusals import assert_refused
from tests.sync_audience.test_cli import audience_csv, calls, world  # noqa: F401  (fixtures: calls, world)

EVENTS = [
    {"type": "track", "event": "Audience Entered", "userId": "u0", "timestamp": "2024-05-06T09:00:00Z",
     "properties": {"audience_key": "vip", "vip": True}, "context": {"traits": {"email": "p0@example.com"}}},
]

# (what is wrong, extra arguments, exit code, what the line says); FILE is a snapshot CSV of p0..p2 unless the
# arguments start with a marker naming another file ("@events", "@hashed", "@missing")
REFUSALS = [
    ("no list", (), 2, "give exactly one of --list NAME or --list-id ID"),
    ("both lists", ("--list", "VIP", "--list-id", "3"), 2, "give exactly one of --list NAME or --list-id ID"),
    ("create-list without folder", ("--list", "VIP", "--create-list"), 2,
     "--create-list needs --list NAME and --folder NAME"),
    ("create-list by id", ("--list-id", "3", "--create-list", "--folder", "Audiences"), 2,
     "--create-list needs --list NAME and --folder NAME"),
    ("max-removals not a number", ("--list", "VIP", "--max-removals", "lots"), 2,
     "--max-removals must be a count (e.g. 500) or a percentage (e.g. 10%), not 'lots'"),
    ("max-removals over 100%", ("--list", "VIP", "--max-removals", "150%"), 2,
     "--max-removals must be a count (e.g. 500) or a percentage (e.g. 10%), not '150%'"),
    ("max-removals fraction", ("--list", "VIP", "--max-removals", "2.5"), 2,
     "--max-removals count must be a whole number, not '2.5'"),
    ("plan-out under a file", ("--list", "VIP", "--plan-out", "{file}/plan.csv"), 1,
     "--plan-out {file}/plan.csv: cannot be written: {file} is a file, not a folder"),
    ("unknown id column", ("--list", "VIP", "--id-column", "mail"), 2, "no column 'mail' (columns: key, email)"),
    ("mirror of events", ("@events", "--list", "VIP", "--mode", "mirror"), 2,
     "holds audience entries and exits, not full membership: use --mode delta (or add-only)"),
    ("delta of a snapshot", ("--list", "VIP", "--mode", "delta"), 2,
     "is a full membership snapshot with no exits: use --mode mirror (or add-only)"),
    ("missing file", ("@missing", "--list", "VIP"), 1, "nope.csv: cannot be read: No such file or directory"),
]


def audience_file(tmp_path, marker: str | None) -> str:
    if marker == "@events":
        path = tmp_path / "events.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS), encoding="utf-8")
        return str(path)
    if marker == "@hashed":
        path = tmp_path / "hashed.csv"
        path.write_text("email\n" + hashlib.sha256(b"p0@example.com").hexdigest() + "\n", encoding="utf-8")
        return str(path)
    if marker == "@missing":
        return str(tmp_path / "nope.csv")
    return audience_csv(tmp_path, ["p0@example.com", "p1@example.com", "p2@example.com"])


@pytest.mark.parametrize(("args", "exit_code", "message"), [case[1:] for case in REFUSALS],
                         ids=[case[0] for case in REFUSALS])
def test_refused_before_any_call_and_before_the_run_is_recorded(world, sandbox, calls, invoke,  # noqa: F811
                                                                tmp_path, args, exit_code, message):
    ids, list_id = world
    marker = args[0] if args and args[0].startswith("@") else None
    path = audience_file(tmp_path, marker)
    args = tuple(a.format(file=path) for a in (args[1:] if marker else args))
    before = sandbox.marketo.list_members(list_id)
    result = invoke("sync-audience", path, *args)
    assert_refused(result, exit_code, message.format(file=path))
    assert calls == []  # not even a read: every check of prepare is offline
    assert sandbox.marketo.list_members(list_id) == before
    assert before == {ids[f"p{i}"] for i in range(5, 10)}


def test_a_file_refused_by_its_rows_stops_the_run_before_any_call_or_reject(world, sandbox, calls, invoke,  # noqa: F811
                                                                              tmp_path):
    """The rows are read once, by the run, before it looks the list up: a file naming nobody but hashed e-mails
    fails that run (recorded, exit 1) with no call, no write and no rejects file."""
    ids, list_id = world
    before = sandbox.marketo.list_members(list_id)
    result = invoke("sync-audience", audience_file(tmp_path, "@hashed"), "--list", "VIP")
    assert result.exit_code == 1
    assert "every e-mail is a SHA-256 hash" in result.stderr
    assert calls == []
    assert sandbox.marketo.list_members(list_id) == before
    assert not (paths.state_dir() / "rejects").exists() or not any((paths.state_dir() / "rejects").iterdir())


def test_the_checks_come_in_order_flags_before_the_file(world, calls, invoke, tmp_path):  # noqa: F811
    result = invoke("sync-audience", str(tmp_path / "nope.csv"), "--list", "VIP", "--list-id", "3")
    assert result.exit_code == 2
    assert "give exactly one of --list NAME or --list-id ID" in result.stderr
