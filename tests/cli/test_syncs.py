"""Declared syncs: [profiles.NAME.syncs.SYNC] checked like the job's own flags, `run` equal to the command line,
`run --all` in declaration order with one combined exit code, `run --list`."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli.cli.run_sync import combined_exit_code
from segmarketo_cli.paths import sample_data_dir
from tests.support.local_servers import LocalServer, Seen

IDENTIFIES = str(sample_data_dir() / "identifies.jsonl.gz")
AUDIENCE = str(sample_data_dir() / "engage_audience_formatted.csv")


# Two syncs that both ask for JSON: writeback (ends ok) declared before backfill-leads (partial: bad sample rows).
WRITEBACK_THEN_LEADS = f"""
[profiles.default.syncs.write-back]
job = "writeback"
since = "3d"
json = true

[profiles.default.syncs.leads]
job = "backfill-leads"
inputs = "{IDENTIFIES}"
json = true
"""


def write_profile(home, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


def comparable(report: dict) -> dict:
    """A run report without what differs between two runs of the same thing (the second run finds the field
    catalog cached, so it makes fewer API calls, and the day's quota count includes the first run's calls)."""
    skip = ("run_id", "duration_s", "rejects_file", "api_calls", "marketo_quota")
    return {key: value for key, value in report.items() if key not in skip}


@pytest.mark.parametrize(("table", "message"), [
    ('job = "backfill"', "[profiles.default.syncs.s1]: 'job' must be one of backfill-leads, sync-audience, "
                         "writeback, apply-events, got 'backfill'"),
    ('inputs = ["a.csv"]', "[profiles.default.syncs.s1]: 'job' must be one of"),
    ('job = "backfill-leads"\ninputs = 5', "[profiles.default.syncs.s1]: 'inputs' must be a file, folder or glob"),
    ('job = "backfill-leads"\ninputs = "a"\nnulls = {x = 1}', "[profiles.default.syncs.s1]: 'nulls' must be a "
                                                              "string, number, true/false or a list of them"),
])
def test_a_broken_sync_table_is_a_config_error_at_load(invoke, isolated_home, table, message):
    write_profile(isolated_home, f"[profiles.default.syncs.s1]\n{table}\n")
    result = invoke("run", "s1")
    assert result.exit_code == 2
    assert message in result.stderr
    assert "config.toml" in result.stderr


@pytest.mark.parametrize(("table", "message"), [
    ('nulls = "clear"\nful = true', "[profiles.default.syncs.s1]: unknown option 'ful' for backfill-leads "
                                    "(did you mean 'full'?)"),
    ('full = "yes"', "[profiles.default.syncs.s1]: 'full' must be true or false, got 'yes'"),
    ('nulls = true', "[profiles.default.syncs.s1]: 'nulls' takes a value"),
    ('nulls = "wipe"', "[profiles.default.syncs.s1]: 'nulls': 'wipe' is not one of 'keep', 'clear'"),
    ('bulk_threshold = 0', "[profiles.default.syncs.s1]: 'bulk_threshold': 0 is not in the range x>=1"),
    ('bulk_threshold = [1, 2]', "[profiles.default.syncs.s1]: 'bulk_threshold' takes one value, got a list"),
])
def test_an_option_the_job_does_not_take_is_a_config_error(invoke, isolated_home, table, message):
    write_profile(isolated_home, f'[profiles.default.syncs.s1]\njob = "backfill-leads"\ninputs = "x.jsonl"\n{table}\n')
    result = invoke("run", "s1")
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(("table", "message"), [
    ('job = "writeback"\ninputs = "x.csv"', "'inputs': writeback reads no input files"),
    ('job = "sync-audience"\ninputs = ["a.csv", "b.csv"]\nlist = "VIP"', "'inputs': sync-audience reads one file"),
    ('job = "apply-events"', "'inputs' is required for apply-events"),
])
def test_inputs_must_fit_the_job(invoke, isolated_home, table, message):
    write_profile(isolated_home, f"[profiles.default.syncs.s1]\n{table}\n")
    result = invoke("run", "s1")
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_bad_sync_name_and_an_unknown_sync_are_config_errors(invoke, isolated_home):
    write_profile(isolated_home, '[profiles.default.syncs."my sync"]\njob = "writeback"\n')
    assert invoke("run", "--list").exit_code == 2
    write_profile(isolated_home, '[profiles.default.syncs.nightly]\njob = "writeback"\nsince = "1d"\n')
    result = invoke("run", "weekly")
    assert result.exit_code == 2
    assert "no sync named 'weekly' in this profile (syncs: nightly)" in result.stderr


def test_run_needs_a_sync_or_all_but_not_both(invoke, isolated_home):
    write_profile(isolated_home, '[profiles.default.syncs.nightly]\njob = "writeback"\nsince = "1d"\n')
    assert invoke("run").exit_code == 2
    assert invoke("run", "nightly", "--all").exit_code == 2
    assert invoke("run", "--list", "--all").exit_code == 2


def test_run_all_without_syncs_is_a_config_error(invoke, isolated_home):
    write_profile(isolated_home, "[profiles.default]\n")
    result = invoke("run", "--all")
    assert result.exit_code == 2
    assert "declares no syncs" in result.stderr


def test_list_shows_each_sync_as_its_command_line_in_declaration_order(invoke, isolated_home):
    write_profile(isolated_home, f"""
[profiles.default.syncs.zeta-leads]
job = "backfill-leads"
inputs = ["{IDENTIFIES}", "/data/more/*.jsonl.gz"]
nulls = "clear"
auto_map = false
full = true
dry_run = false

[profiles.default.syncs.alpha-vip]
job = "sync-audience"
inputs = "{AUDIENCE}"
list = "VIP"
max_removals = "5%"
""")
    result = invoke("run", "--list")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"zeta-leads  segmarketo backfill-leads --nulls clear --no-auto-map --full -- {IDENTIFIES} "
        "'/data/more/*.jsonl.gz'",
        f"alpha-vip   segmarketo sync-audience --list VIP --max-removals 5% -- {AUDIENCE}",
    ]


def test_run_gives_the_same_report_and_exit_code_as_the_command_line(invoke, sandbox, isolated_home):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    write_profile(isolated_home, f"""
[profiles.default.syncs.leads]
job = "backfill-leads"
inputs = ["{IDENTIFIES}"]
nulls = "clear"
on_invalid = "drop-field"
dry_run = true
json = true
""")
    by_hand = invoke("backfill-leads", "--nulls", "clear", "--on-invalid", "drop-field", "--dry-run", "--json",
                     IDENTIFIES)
    declared = invoke("run", "leads")
    assert declared.exit_code == by_hand.exit_code
    assert comparable(json.loads(declared.stdout)) == comparable(json.loads(by_hand.stdout))


def test_run_writes_like_the_command_line(invoke, sandbox, isolated_home):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    write_profile(isolated_home, f'[profiles.default.syncs.leads]\njob = "backfill-leads"\ninputs = "{IDENTIFIES}"\n'
                                 'json = true\n')
    first = invoke("run", "leads")
    assert first.exit_code == 3, first.output
    counts = json.loads(first.stdout)["counts"]
    assert counts["leads_created"] > 0
    again = invoke("backfill-leads", IDENTIFIES, "--json")  # the same job by hand: nothing left to create
    assert json.loads(again.stdout)["counts"].get("leads_created", 0) == 0


def test_run_all_runs_in_declaration_order_with_one_report_each_and_the_worst_exit(invoke, sandbox, isolated_home):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    write_profile(isolated_home, WRITEBACK_THEN_LEADS)
    result = invoke("run", "--all")
    assert result.exit_code == 3, result.output  # ok + partial
    document = json.loads(result.stdout)  # one JSON document for both syncs
    assert document["exit_code"] == 3
    assert [(s["sync"], s["exit_code"]) for s in document["syncs"]] == [("write-back", 0), ("leads", 3)]
    reports = [s["report"] for s in document["syncs"]]
    assert [(r["command"], r["status"]) for r in reports] == [("writeback", "ok"), ("backfill-leads", "partial")]


def test_run_json_without_json_in_the_syncs_is_one_document_too(invoke, sandbox, isolated_home):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    write_profile(isolated_home, f"""
[profiles.default.syncs.leads]
job = "backfill-leads"
inputs = "{IDENTIFIES}"
dry_run = true

[profiles.default.syncs.missing]
job = "backfill-leads"
inputs = "/nonexistent/file.jsonl"
""")
    result = invoke("run", "--all", "--json")
    assert result.exit_code == 1, result.output  # the second sync's input does not exist
    document = json.loads(result.stdout)
    assert document["exit_code"] == 1
    assert document["syncs"][0]["report"]["dry_run"] is True
    assert document["syncs"][1]["report"] is None
    assert "no such file" in result.stderr
    single = invoke("run", "leads", "--json")
    assert json.loads(single.stdout)["command"] == "backfill-leads"


def test_a_sync_that_stops_before_its_run_does_not_stop_the_others(invoke, sandbox, isolated_home):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    write_profile(isolated_home, f"""
[profiles.default.syncs.missing]
job = "backfill-leads"
inputs = "{isolated_home}/no-such-file.jsonl"

[profiles.default.syncs.write-back]
job = "writeback"
since = "3d"
""")
    result = invoke("run", "--all")
    assert result.exit_code == 1, result.output  # error beats ok
    assert "no-such-file.jsonl" in result.stderr
    assert "writeback" in result.output


def test_a_sync_alert_names_the_sync(invoke, sandbox, isolated_home):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    seen: list[Seen] = []
    with LocalServer(lambda request: (seen.append(request), (200, {}, b"ok"))[1]) as receiver:
        write_profile(isolated_home, f'[profiles.default]\nnotify = "{receiver.url}/hook"\n'
                                     f'[profiles.default.syncs.missing]\njob = "backfill-leads"\n'
                                     f'inputs = "{isolated_home}/none.jsonl"\n'
                                     f'[profiles.default.syncs.leads]\njob = "backfill-leads"\n'
                                     f'inputs = "{IDENTIFIES}"\n')
        result = invoke("run", "--all")
    assert result.exit_code == 1, result.output
    bodies = [json.loads(request.body) for request in seen]
    assert [(b["sync"], b["status"], b["exit_code"]) for b in bodies] == [("missing", "failed", 1),
                                                                          ("leads", "partial", 3)]
    assert bodies[0]["run_id"] is None


def test_flags_of_one_sync_do_not_leak_into_the_next(invoke, sandbox, isolated_home):
    sandbox.load_seed(sample_data_dir() / "sandbox")
    write_profile(isolated_home, f"""
[profiles.default.syncs.by-city]
job = "backfill-leads"
inputs = "{IDENTIFIES}"
lookup_field = "noSuchField"

[profiles.default.syncs.plain]
job = "backfill-leads"
inputs = "{IDENTIFIES}"
json = true
dry_run = true
""")
    result = invoke("run", "--all")
    first, second = json.loads(result.stdout)["syncs"]  # one sync asks for JSON: one document for both
    assert "noSuchField" in json.dumps(first) + result.stderr  # the first sync's lookup field is refused...
    assert second["report"]["command"] == "backfill-leads"  # ...and the second one plans with the profile's own
    assert second["report"]["dry_run"] is True
    assert result.exit_code == 2


@pytest.mark.parametrize(("codes", "combined"), [
    ([], 0), ([0, 0], 0), ([0, 75], 75), ([75, 75], 75), ([75, 3], 3), ([3, 4], 4), ([4, 2], 2), ([2, 1], 1),
    ([0, 143], 1),
])
def test_combined_exit_code(codes, combined):
    assert combined_exit_code(codes) == combined


def test_an_interrupted_sync_stops_the_rest(invoke, sandbox, isolated_home, monkeypatch):
    sandbox.load_seed(sample_data_dir() / "sandbox")

    def interrupted(ctx, prepared):
        raise KeyboardInterrupt

    monkeypatch.setattr("segmarketo_cli.cli.writeback.run", interrupted)
    write_profile(isolated_home, WRITEBACK_THEN_LEADS)
    result = invoke("run", "--all")
    assert result.exit_code == 130, result.output
    document = json.loads(result.stdout)
    assert document["exit_code"] == 130
    [only] = document["syncs"]  # the second sync never started
    assert (only["report"]["command"], only["report"]["status"]) == ("writeback", "interrupted")
