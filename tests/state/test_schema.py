"""Schema versions: old state files migrate in place and keep their rows; a file newer than the code is refused."""

from __future__ import annotations

import json
import sqlite3

import pytest

from segmarketo_cli import paths
from segmarketo_cli.errors import StateError
from segmarketo_cli.paths import registry_file
from segmarketo_cli.state import StateStore
from segmarketo_cli.state.ledger import ledger_path
from segmarketo_cli.state.schema import LEDGER_MIGRATIONS, PROFILE_MIGRATIONS, REGISTRY_MIGRATIONS, profile_v1
from segmarketo_cli.state.sqlite import StoreFile
from tests.support.old_stores import (
    UNVERSIONED_PROFILE_SHAPES,
    connected,
    old_profile_store,
    set_user_version,
    table_names,
    user_version,
)

PROD = "https://123-ABC-456.mktorest.com"
PROFILE_VERSION = PROFILE_MIGRATIONS[-1][0]
REPORT = {"command": "apply-events", "counts": {"usage.applied": 2}}


def open_store(profile: str = "default") -> StateStore:
    return StateStore(paths.state_dir(), profile)


@pytest.mark.parametrize("migrations", [PROFILE_MIGRATIONS, LEDGER_MIGRATIONS, REGISTRY_MIGRATIONS],
                         ids=["profile", "ledger", "registry"])
def test_migrations_are_numbered_from_one_in_order(migrations):
    assert [version for version, _ in migrations] == list(range(1, len(migrations) + 1))


@pytest.mark.parametrize("shape", sorted(UNVERSIONED_PROFILE_SHAPES))
def test_an_unversioned_profile_store_migrates_in_place_and_keeps_its_rows(shape):
    ddl = UNVERSIONED_PROFILE_SHAPES[shape]
    path = old_profile_store("default", ddl)
    with connected(path) as db:
        db.execute("INSERT INTO runs VALUES ('r1', 'apply-events', 'default', 1.0, 2.0, 'ok', ?)",
                   (json.dumps(REPORT),))
        db.execute("INSERT INTO cursors VALUES (?, 'writeback', 'token-1', 1.0)", (PROD,))
        db.execute("INSERT INTO cache VALUES (?, 'describe', '{\"fields\": 3}', 9e12)", (PROD,))
        db.execute("INSERT INTO rejects VALUES ('r1', '/tmp/rejects.jsonl', 2)")
        db.execute("INSERT INTO processed_events VALUES (?, 'usage', 'm1', 1.0)", (PROD,))
        if "api_usage" in table_names(path):
            db.execute("INSERT INTO api_usage VALUES (?, '2026-11-27', 40)", (PROD,))
        if "pending_actions" in table_names(path):
            db.execute("INSERT INTO pending_actions VALUES (?, 'welcome', 'p1', 7, 'campaign', NULL, 'null', 1.0)",
                       (PROD,))
    assert user_version(path) == 0

    store = open_store()
    assert user_version(path) == PROFILE_VERSION
    assert store.get_run("r1")["report"] == REPORT
    assert store.get_cursor(PROD, "writeback") == "token-1"
    assert store.cache_get(PROD, "describe") == {"fields": 3}
    assert store._query("SELECT run_id, path, count FROM rejects") == [("r1", "/tmp/rejects.jsonl", 2)]
    assert store.processed(PROD, "usage", ["m1", "m2"]) == {"m1"}  # moved to the instance ledger
    if "api_usage" in table_names(path):
        assert store.api_calls_on(PROD, "2026-11-27") == 40
    if "pending_actions" in table_names(path):
        assert [row["message_id"] for row in store.pending(PROD)] == ["p1"]
    store.close()

    again = open_store()  # a migrated store opens as it is
    assert user_version(path) == PROFILE_VERSION
    assert [run["run_id"] for run in again.list_runs()] == ["r1"]
    assert again.processed(PROD, "usage", ["m1"]) == {"m1"}
    again.close()


def test_an_empty_ledger_file_becomes_a_current_ledger():
    # An empty file is how a person starts an instance over on purpose (the registry's advice when it is lost).
    store = open_store()
    path = ledger_path(paths.state_dir(), PROD)
    paths.ensure_private_dir(path.parent)
    path.touch()
    store.remember_hashes(PROD, "email", [("ann@example.com", "h1")])
    assert user_version(path) == 1
    assert store.pushed_hashes(PROD, "email", ["ann@example.com"]) == {"ann@example.com": "h1"}
    store.close()


@pytest.mark.parametrize(("migrations", "table", "row"), [
    (PROFILE_MIGRATIONS, "cursors", (PROD, "writeback", "token-1", 1.0)),
    (LEDGER_MIGRATIONS, "api_usage", (PROD, "2026-12-01", 5)),
    (REGISTRY_MIGRATIONS, "instances", ("123-ABC-456", PROD, "/home/a/state/instances/123-ABC-456.sqlite", 1.0)),
], ids=["profile", "ledger", "registry"])
def test_each_migration_only_adds_what_is_missing(tmp_path, migrations, table, row):
    path = tmp_path / "state.sqlite"
    with connected(path) as db:
        for _, migrate in migrations:
            migrate(db)
        db.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    tables = table_names(path)
    set_user_version(path, 0)  # the tables exist but the version was never recorded
    StoreFile(path, migrations).close()
    assert user_version(path) == migrations[-1][0]
    assert table_names(path) == tables
    with connected(path) as db:
        assert db.execute(f"SELECT * FROM {table}").fetchall() == [row]


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path):
    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half_made (x)")
        raise sqlite3.OperationalError("disk I/O error")

    path = tmp_path / "state.sqlite"
    with pytest.raises(StateError, match="disk I/O error"):
        StoreFile(path, ((1, profile_v1), (2, broken)))
    assert user_version(path) == 0
    assert table_names(path) == set()


def _refused_line(result, path, version: int, known: int = 1) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0] == (f"segmarketo: error: state store {path} has schema version {version}, newer than this "
                        f"segmarketo knows ({known}): upgrade segmarketo")
    return lines[0]


def test_a_profile_store_newer_than_this_segmarketo_is_refused_in_one_line(invoke):
    path = paths.ensure_private_dir(paths.state_dir()) / "default.sqlite"
    with connected(path) as db:
        db.execute("CREATE TABLE runs_v2 (run_id TEXT PRIMARY KEY)")
        db.execute("INSERT INTO runs_v2 VALUES ('from-the-future')")
    set_user_version(path, PROFILE_VERSION + 1)
    _refused_line(invoke("runs", "list"), path, PROFILE_VERSION + 1, known=PROFILE_VERSION)
    assert user_version(path) == PROFILE_VERSION + 1  # never downgraded
    assert table_names(path) == {"runs_v2"}


def test_a_ledger_newer_than_this_segmarketo_is_refused_before_any_write(invoke, sandbox, tmp_path):
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text(json.dumps({"type": "identify", "userId": "u1", "traits": {"email": "ann@example.com"}}) + "\n")
    second.write_text(json.dumps({"type": "identify", "userId": "u2", "traits": {"email": "bob@example.com"}}) + "\n")
    assert invoke("backfill-leads", str(first)).exit_code == 0
    [ledger] = (paths.state_dir() / "instances").glob("*.sqlite")
    set_user_version(ledger, 2)
    _refused_line(invoke("backfill-leads", str(second)), ledger, 2)
    assert [lead["email"] for lead in sandbox.marketo.leads] == ["ann@example.com"]
    assert user_version(ledger) == 2


def test_a_registry_newer_than_this_segmarketo_is_refused_naming_it():
    StoreFile(registry_file(), REGISTRY_MIGRATIONS).close()
    set_user_version(registry_file(), 2)
    store = open_store()
    with pytest.raises(StateError) as refused:
        store.processed(PROD, "usage", ["m1"])
    assert str(refused.value) == (f"state store {registry_file()} has schema version 2, newer than this segmarketo "
                                  "knows (1): upgrade segmarketo")
    assert "instance registry" in refused.value.hint
    assert user_version(registry_file()) == 2
    store.close()


def test_a_version_1_profile_store_gains_the_input_history_and_keeps_its_rows():
    path = paths.ensure_private_dir(paths.state_dir()) / "default.sqlite"
    StoreFile(path, PROFILE_MIGRATIONS[:1]).close()
    with connected(path) as db:
        db.execute("INSERT INTO runs VALUES ('r1', 'backfill-leads', 'default', 1.0, 2.0, 'ok', ?)",
                   (json.dumps(REPORT),))
        db.execute("INSERT INTO cursors VALUES (?, 'writeback', 'token-1', 1.0)", (PROD,))
    assert user_version(path) == 1
    assert "input_runs" not in table_names(path)

    store = open_store()
    assert user_version(path) == PROFILE_VERSION
    assert {"input_runs", "input_files"} <= table_names(path)
    assert store.get_run("r1")["report"] == REPORT
    assert store.get_cursor(PROD, "writeback") == "token-1"
    assert store.input_history.last("backfill-leads") is None  # r1 ran before the history existed
    store.input_history.record("r1", "backfill-leads", "key-1", [("/data/day=1.jsonl", 3, 7, "d1")])
    assert store.input_history.last("backfill-leads") == ("r1", "key-1", [("/data/day=1.jsonl", 3, 7, "d1")])
    store.close()
