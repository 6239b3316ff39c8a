"""The reject history of the profile store: schema version 3, known fingerprints, bounded, origins by run."""

from __future__ import annotations

from segmarketo_cli import paths
from segmarketo_cli.state import StateStore
from segmarketo_cli.state.schema import PROFILE_MIGRATIONS
from segmarketo_cli.state.sqlite import StoreFile
from tests.support.old_stores import connected, table_names, user_version


def test_a_version_2_profile_store_gains_the_reject_history_and_keeps_its_rows():
    path = paths.ensure_private_dir(paths.state_dir()) / "default.sqlite"
    StoreFile(path, PROFILE_MIGRATIONS[:2]).close()
    with connected(path) as db:
        db.execute("INSERT INTO runs (run_id, command, profile, started_at) VALUES ('r1', 'backfill-leads', 'd', 1)")
    store = StateStore(paths.state_dir(), "default")
    assert user_version(path) == PROFILE_MIGRATIONS[-1][0]
    assert {"reject_fingerprints", "reject_origins"} <= table_names(path)
    assert store.get_run("r1")["command"] == "backfill-leads"
    store.close()


def test_a_fingerprint_is_known_only_to_later_runs_of_the_same_command():
    store = StateStore(paths.state_dir(), "default")
    history = store.reject_history
    history.remember("backfill-leads", "r1", ["a", "b"])
    assert history.earlier("backfill-leads", "r1", ["a", "b", "c"]) == set()
    assert history.earlier("backfill-leads", "r2", ["a", "b", "c"]) == {"a", "b"}
    assert history.earlier("apply-events", "r2", ["a"]) == set()
    history.remember("backfill-leads", "r2", ["a", "c"])
    assert history.earlier("backfill-leads", "r3", ["a", "c"]) == {"a", "c"}
    assert history.earlier("backfill-leads", "r1", ["a", "c"]) == {"c"}  # "a" stays r1's first
    store.close()


def test_prune_keeps_the_most_recently_seen_fingerprints():
    store = StateStore(paths.state_dir(), "default")
    history = store.reject_history
    for number in range(5):
        history.remember("backfill-leads", f"r{number}", [f"f{number}"])
    history.remember("apply-events", "x", ["g"])
    history.prune("backfill-leads", keep=2)
    assert history.earlier("backfill-leads", "later", [f"f{n}" for n in range(5)]) == {"f3", "f4"}
    assert history.earlier("apply-events", "later", ["g"]) == {"g"}
    store.close()


def test_origins_are_kept_per_run():
    store = StateStore(paths.state_dir(), "default")
    history = store.reject_history
    history.record_origins("r1", [("in.jsonl", "/data/in.jsonl", 10, 20, "d1")])
    assert history.origins("r1") == {"in.jsonl": ("in.jsonl", "/data/in.jsonl", 10, 20, "d1")}
    assert history.origins("r2") == {}
    store.close()


def test_forget_drops_only_what_the_run_reported_first():
    store = StateStore(paths.state_dir(), "default")
    history = store.reject_history
    history.remember("backfill-leads", "r1", ["a"])
    history.remember("backfill-leads", "r2", ["a", "b"])
    history.forget("backfill-leads", "r2")  # r2 stopped (exit 75): "b" was never reported
    assert history.earlier("backfill-leads", "r3", ["a", "b"]) == {"a"}
    store.close()
