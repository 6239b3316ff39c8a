"""`runs show` says what a run was started with: arguments (secrets redacted), inputs, profile, version."""

from __future__ import annotations

import json
import sqlite3

from segmarketo_cli import __version__, paths
from segmarketo_cli.cli.run_context import redact_arguments
from segmarketo_cli.paths import sample_data_dir
from segmarketo_cli.state import StateStore
from segmarketo_cli.state.schema import PROFILE_MIGRATIONS, PROFILE_TABLES, profile_v2

SAMPLES = sample_data_dir()


def test_show_has_the_arguments_inputs_profile_and_version(sandbox, invoke, tmp_path):
    sandbox.load_seed(SAMPLES / "sandbox")
    mapping = SAMPLES / "mapping.toml"
    identifies = SAMPLES / "identifies.jsonl.gz"
    ran = invoke("backfill-leads", str(identifies), "--mapping", str(mapping), "--rejects",
                 str(tmp_path / "r.jsonl"), "--profile", "default", "--dry-run", "--json")
    run_id = json.loads(ran.stdout)["run_id"]
    shown = json.loads(invoke("runs", "show", run_id, "--json").stdout)
    assert shown["invocation"] == {
        "arguments": ["backfill-leads", str(identifies), "--mapping", str(mapping), "--rejects",
                      str(tmp_path / "r.jsonl"), "--profile", "default", "--dry-run", "--json"],
        "inputs": [str(identifies), str(mapping)],
        "profile": "default",
        "version": __version__,
    }
    text = invoke("runs", "show", run_id).stderr
    assert "profile default · segmarketo " + __version__ in text
    assert f"arguments: segmarketo backfill-leads {identifies} --mapping {mapping}" in text
    assert f"input: {identifies}\ninput: {mapping}\n" in text


def test_secrets_in_arguments_are_redacted():
    assert redact_arguments(["--client-secret", "s3cr3t", "--notify=https://hooks.slack.com/services/T/B/x",
                             "--list", "VIP", "--write-key", "wk"]) == [
        "--client-secret", "***", "--notify=***", "--list", "VIP", "--write-key", "***"]


def test_a_store_from_before_the_context_column_is_migrated_and_old_runs_show(invoke):
    path = paths.state_dir() / "default.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    for statement in PROFILE_TABLES:
        db.execute(statement)
    profile_v2(db)
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO runs (run_id, command, profile, started_at, finished_at, status, report) "
               "VALUES ('20261101T100000Z-aaaaaa', 'writeback', 'default', 1793527200.0, 1793527202.0, 'ok', NULL)")
    db.commit()
    db.close()
    store = StateStore(paths.state_dir(), "default")
    try:
        assert store.list_runs()[0]["context"] is None
        store.start_run("20261102T100000Z-bbbbbb", "writeback", 1_793_613_600.0, context={"profile": "default"})
        assert store.get_run("20261102T100000Z-bbbbbb")["context"] == {"profile": "default"}
    finally:
        store.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == PROFILE_MIGRATIONS[-1][0]
    shown = invoke("runs", "show", "20261101")
    assert shown.exit_code == 0
    assert "arguments:" not in shown.stderr
