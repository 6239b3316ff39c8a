"""writeback refusals before the lock: one line on stderr, the usual exit code, no call, no run recorded."""

from __future__ import annotations

import json
import textwrap

import pytest

from segmarketo_cli import paths
from segmarketo_cli.endpoints import normalize_endpoint
from segmarketo_cli.state import StateStore
from tests.support.refusals import assert_refused
from tests.support.reliability_world import RequestHook


def writeback_table(body: str) -> str:
    return "[profiles.default]\n[profiles.default.writeback]\n" + textwrap.dedent(body)


# (what is wrong, (config.toml text or None, args), what the line says)
USAGE = [
    ("since not a date", (None, ("--since", "last tuesday")), "--since 'last tuesday' is neither"),
    ("since after until", (None, ("--since", "1d", "--until", "3d")), "must be before --until"),
    ("since past retention", (None, ("--since", "2000-01-01")), "is more than 25 months ago"),
    ("type without a name", (None, ("--since", "1d", "--activity-types", "Visit Webpage")),
     "has no default event name"),
    ("drop a type not sent", (None, ("--since", "1d", "--activity-types", "-Visit Webpage")),
     "--activity-types: cannot drop 'Visit Webpage': it is not written back"),
    ("user-id-only without the field", (None, ("--since", "1d", "--identity", "user-id-only")),
     "--identity user-id-only needs the lead field"),
    ("plan file of an unknown type", (None, ("--since", "1d", "--dry-run", "--plan-out", "events.txt")),
     "--plan-out events.txt: unknown file type '.txt'"),
    ("plan and payloads into one file", (None, ("--since", "1d", "--plan-out", "e.jsonl", "--payloads-out",
                                               "e.jsonl")),
     "--plan-out and --payloads-out name the same file"),
    ("unknown table key", (writeback_table("evnts = 1\n"), ("--since", "1d")),
     "[profiles.default.writeback]: unknown key(s) evnts (known: "),
    ("extras not a boolean", (writeback_table('marketo_extras = "yes"\n'), ("--since", "1d")),
     "[profiles.default.writeback] marketo_extras must be true or false, got 'yes'"),
    ("integrations not a table", (writeback_table("integrations = 5\n"), ("--since", "1d")),
     "[profiles.default.writeback.integrations] must be a table"),
    ("unknown identity mode", (writeback_table('identity = "sometimes"\n'), ("--since", "1d")),
     "[profiles.default.writeback]: identity mode 'sometimes' is not one of auto, user-id-only"),
    ("bulk_after_days not positive", (writeback_table("bulk_after_days = 0\n"), ("--since", "1d")),
     "[profiles.default.writeback]: bulk_after_days must be a positive number of days, got 0"),
    ("first run without since", (None, ()),
     "no writeback cursor is stored for profile 'default' yet: the first run needs --since "
     "(e.g. --since 7d or --since 2025-05-01)"),
]


@pytest.fixture
def requests(sandbox):
    """Every API request the sandbox receives from here on (Marketo and Segment), as (method, path)."""
    return RequestHook(sandbox).paths


@pytest.mark.parametrize(("setup", "message"), [case[1:] for case in USAGE], ids=[case[0] for case in USAGE])
def test_bad_flags_and_config_exit_2_before_any_call(sandbox, requests, invoke, isolated_home, tmp_path, monkeypatch,
                                                      setup, message):
    config, args = setup
    if config is not None:
        isolated_home.mkdir(parents=True, exist_ok=True)
        (isolated_home / "config.toml").write_text(config)
    monkeypatch.chdir(tmp_path)
    assert_refused(invoke("writeback", *args), 2, message)
    assert requests == []
    assert sandbox.segment.requests == 0
    assert not (tmp_path / "events.jsonl").exists()


def test_an_unreadable_stored_cursor_is_refused_with_how_to_reset_it(sandbox, requests, invoke):
    store = StateStore(paths.state_dir(), "default")
    store.set_cursor(normalize_endpoint(sandbox.url, what="Marketo endpoint"), "writeback", "not json")
    store.close()
    result = invoke("writeback")
    assert_refused(result, 2, "the stored writeback cursor is unreadable ('not json'); run with --since to reset it")
    assert requests == []


@pytest.mark.parametrize("flag", ["--plan-out", "--payloads-out"])
def test_an_out_file_that_cannot_be_written_is_refused_before_any_call(sandbox, requests, invoke, tmp_path, flag):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("")
    out = not_a_folder / "events.jsonl"
    result = invoke("writeback", "--since", "1d", flag, str(out))
    assert_refused(result, 1, f"{flag} {out}: cannot be written: {not_a_folder} is a file, not a folder")
    assert requests == []


def test_doctor_checks_the_writeback_table_like_the_command(sandbox, invoke, isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    config = isolated_home / "config.toml"
    config.write_text(writeback_table("marketo_extras = true\n"))
    checks = {c["name"]: c for c in json.loads(invoke("doctor", "--json").stdout)}
    assert checks["activity types"] == {"name": "activity types", "status": "ok",
                                        "detail": "all 9 write-back activity types exist"}
    config.write_text(writeback_table('identity = "sometimes"\n'))
    checks = {c["name"]: c for c in json.loads(invoke("doctor", "--json").stdout)}
    assert checks["activity types"] == {"name": "activity types", "status": "fail",
                                        "detail": f"{config} [profiles.default.writeback]: identity mode "
                                                  "'sometimes' is not one of auto, user-id-only"}
