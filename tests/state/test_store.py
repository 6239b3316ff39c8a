"""StateStore: private files, runs, cursors, cache expiry, lead ids, pushed hashes, processed events, cookies."""

from __future__ import annotations

import os
import socket
import stat
import threading

from segmarketo_cli import paths
from segmarketo_cli.state import StateStore
from segmarketo_cli.state.change_log import Change

INSTANCE = "https://123-ABC-456.mktorest.com"


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def open_store(profile: str = "default") -> StateStore:
    return StateStore(paths.state_dir(), profile)


def test_directory_0700_and_files_0600():
    state = paths.state_dir()
    state.mkdir(parents=True, mode=0o755)
    state.chmod(0o755)
    store = open_store()
    store.set_cursor(INSTANCE, "x", "1")
    assert mode(state) == 0o700
    assert store.path == state / "default.sqlite"
    assert mode(store.path) == 0o600
    for side in state.glob("default.sqlite-*"):
        assert mode(side) == 0o600, side.name
    store.close()


def test_profiles_are_separate_files():
    prod, dev = open_store("prod"), open_store("dev")
    prod.set_cursor(INSTANCE, "writeback", "token-p")
    assert dev.get_cursor(INSTANCE, "writeback") is None
    assert prod.path.name == "prod.sqlite"
    assert dev.path.name == "dev.sqlite"
    prod.close()
    dev.close()


def test_runs_lifecycle_and_persistence():
    store = open_store()
    store.start_run("20260101T000000Z-aaaaaa", "backfill-leads", 1000.0)
    store.start_run("20260102T000000Z-bbbbbb", "writeback", 2000.0)
    assert store.get_run("20260101T000000Z-aaaaaa")["status"] == "running"
    report = {"command": "writeback", "counts": {"sent": 3, "rejected": 1}, "rejects_file": "/r.jsonl"}
    store.finish_run("20260102T000000Z-bbbbbb", "partial", report, rejected=1)
    store.close()
    again = open_store()
    runs = again.list_runs()
    assert [r["run_id"] for r in runs] == ["20260102T000000Z-bbbbbb", "20260101T000000Z-aaaaaa"]
    assert runs[0]["status"] == "partial"
    assert runs[0]["report"] == report
    assert runs[0]["finished_at"] >= 2000
    assert again.list_runs(limit=1)[0]["command"] == "writeback"
    assert again.get_run("20260101")["run_id"] == "20260101T000000Z-aaaaaa"
    assert [r["run_id"] for r in again.find_runs("2026")] == ["20260102T000000Z-bbbbbb", "20260101T000000Z-aaaaaa"]
    assert again.find_runs("2026_") == []
    assert again.get_run("nope") is None
    assert again._query("SELECT run_id, path, count FROM rejects") == [("20260102T000000Z-bbbbbb", "/r.jsonl", 1)]
    again.close()


def test_a_run_records_its_process_and_only_unfinished_runs_are_abandoned():
    store = open_store()
    store.start_run("20260101T000000Z-aaaaaa", "backfill-leads", 1000.0)
    store.start_run("20260102T000000Z-bbbbbb", "writeback", 2000.0)
    store.start_run("20260103T000000Z-cccccc", "apply-events", 3000.0)
    store.finish_run("20260102T000000Z-bbbbbb", "interrupted", {"command": "writeback", "counts": {}})
    run = store.get_run("20260101T000000Z-aaaaaa")
    assert run["pid"] == os.getpid()
    assert run["host"] == socket.gethostname()
    assert store.abandon_unfinished_runs() == ["20260101T000000Z-aaaaaa", "20260103T000000Z-cccccc"]
    statuses = {r["run_id"]: r["status"] for r in store.list_runs()}
    assert statuses == {"20260101T000000Z-aaaaaa": "abandoned", "20260102T000000Z-bbbbbb": "interrupted",
                        "20260103T000000Z-cccccc": "abandoned"}
    assert store.get_run("20260101T000000Z-aaaaaa")["finished_at"] is None  # when it died is not known
    store.close()


def test_cursors_are_per_instance_and_replaceable():
    store = open_store()
    store.set_cursor(INSTANCE, "writeback", "t1")
    store.set_cursor(INSTANCE, "writeback", "t2")
    store.set_cursor("http://127.0.0.1:9", "writeback", "other")
    assert store.get_cursor(INSTANCE, "writeback") == "t2"
    store.delete_cursor(INSTANCE, "writeback")
    assert store.get_cursor(INSTANCE, "writeback") is None
    assert store.get_cursor("http://127.0.0.1:9", "writeback") == "other"
    store.close()


def test_cache_round_trip_and_expiry():
    store = open_store()
    store.cache_put(INSTANCE, "activity_types", [{"id": 6, "name": "Send Email"}], ttl_s=60)
    store.cache_put(INSTANCE, "describe", {"email": "string"}, ttl_s=-1)
    assert store.cache_get(INSTANCE, "activity_types") == [{"id": 6, "name": "Send Email"}]
    assert store.cache_get(INSTANCE, "describe") is None
    assert store.cache_get("elsewhere", "activity_types") is None
    store.close()


def test_lead_ids_cache_handles_duplicates_and_large_key_sets():
    store = open_store()
    pairs = [(f"user{i}@example.com", [i]) for i in range(1200)]
    pairs[0] = ("user0@example.com", [10, 11])  # email is not unique in Marketo
    store.remember_lead_ids(INSTANCE, "email", pairs)
    found = store.lead_ids_for(INSTANCE, "email", [k for k, _ in pairs] + ["unknown@example.com"])
    assert len(found) == 1200
    assert sorted(found["user0@example.com"]) == [10, 11]
    assert "unknown@example.com" not in found
    store.remember_lead_ids(INSTANCE, "email", [("user0@example.com", [12])])
    assert store.lead_ids_for(INSTANCE, "email", ["user0@example.com"]) == {"user0@example.com": [12]}
    store.forget_lead_ids(INSTANCE, "email", ["user1@example.com"])
    assert store.lead_ids_for(INSTANCE, "email", ["user1@example.com"]) == {}
    assert store.lead_ids_for(INSTANCE, "id", ["user2@example.com"]) == {}
    store.close()


def test_pushed_hashes():
    store = open_store()
    store.remember_hashes(INSTANCE, "email", [(f"k{i}", f"h{i}") for i in range(700)])
    store.remember_hashes(INSTANCE, "email", [("k1", "changed")])
    found = store.pushed_hashes(INSTANCE, "email", ["k0", "k1", "k699", "missing"])
    assert found == {"k0": "h0", "k1": "changed", "k699": "h699"}
    store.close()


def test_knows_leads_once_a_run_left_a_hash_a_lead_id_or_a_logged_write():
    store = open_store()
    assert store.knows_leads(INSTANCE, "email") is False
    store.remember_hashes(INSTANCE, "email", [("k0", "h0")])
    assert store.knows_leads(INSTANCE, "email") is True
    assert store.knows_leads(INSTANCE, "segmentUserId") is False  # another lookup field
    store.remember_lead_ids(INSTANCE, "segmentUserId", [("u1", [7])])
    assert store.knows_leads(INSTANCE, "segmentUserId") is True
    other = "https://999-XYZ-000.mktorest.com"
    assert store.knows_leads(other, "email") is False
    writer = store.change_log.writer("run1", other)
    writer.record([Change("add", "k", 3, target="list 1")])
    assert store.knows_leads(other, "email") is False  # a list add is not a lead write
    writer.record([Change("update", "k", 3, fields={"title": ("a", "b")})])
    assert store.knows_leads(other, "email") is True
    store.close()


def test_processed_events_by_scope():
    store = open_store()
    store.mark_processed(INSTANCE, "rules", [f"m{i}" for i in range(600)])
    assert store.processed(INSTANCE, "rules", ["m0", "m599", "m600"]) == {"m0", "m599"}
    assert store.processed(INSTANCE, "other-rules", ["m0"]) == set()
    store.close()


def test_cookies():
    store = open_store()
    store.remember_cookie(INSTANCE, "id:123-ABC-456&token:_mch-x", 5)
    assert store.associated_cookies(INSTANCE, [("id:123-ABC-456&token:_mch-x", 5), ("id:other", 5)]) == {
        ("id:123-ABC-456&token:_mch-x", 5)}
    store.close()


def test_concurrent_writers_from_threads():
    store = open_store()

    def work(n: int) -> None:
        store.mark_processed(INSTANCE, "t", [f"{n}-{i}" for i in range(50)])
        store.set_cursor(INSTANCE, f"c{n}", str(n))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.processed(INSTANCE, "t", [f"{n}-{i}" for n in range(8) for i in range(50)])) == 400
    assert [store.get_cursor(INSTANCE, f"c{n}") for n in range(8)] == [str(n) for n in range(8)]
    store.close()


def test_transaction_rolls_back_on_error():
    store = open_store()
    try:
        with store.transaction() as db:
            db.execute("INSERT INTO cursors VALUES (?, ?, ?, ?)", (INSTANCE, "half", "v", 0))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert store.get_cursor(INSTANCE, "half") is None
    store.close()
