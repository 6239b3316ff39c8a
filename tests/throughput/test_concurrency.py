"""Concurrency added for throughput: the batch pool, sync-audience's parallel calls, writeback's time slices."""

from __future__ import annotations

import json
import threading
import time

import pytest

from segmarketo_cli.endpoints import munchkin_id
from segmarketo_cli.jobs.batchpool import run_batches, workers_for
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.writeback import read_rest as writeback_rest
from segmarketo_cli.jobs.writeback.lookups import LeadDirectory
from segmarketo_cli.jobs.writeback.read_rest import collapse
from segmarketo_cli.marketo.limits import Limiter
from segmarketo_cli.segment import sender as sender_module
from segmarketo_cli.sources.audience.readers import AudienceInput, AudiencePerson, Identity
from segmarketo_cli.state import StateStore
from tests.support.writeback_helpers import populate
from tests.sync_audience.harness import run_sync


# ---- the pool ---------------------------------------------------------------------------------------------
def test_pool_runs_batches_concurrently_and_returns_each_result_with_its_batch():
    both_in_flight = threading.Barrier(2, timeout=5)  # only passes when two calls run at the same time

    def call(batch: list[int]) -> list[int]:
        if batch[0] < 4:
            both_in_flight.wait()
        return [n * 10 for n in batch]

    batches = [[n, n + 1] for n in range(0, 20, 2)]
    results = list(run_batches(call, batches, workers=2))
    assert sorted(b[0] for b, _ in results) == list(range(0, 20, 2))
    assert all(rows == [n * 10 for n in batch] for batch, rows in results)


def test_pool_stops_starting_batches_after_an_error_and_yields_those_that_succeeded():
    started: list[int] = []
    lock = threading.Lock()

    def call(batch: int) -> int:
        with lock:
            started.append(batch)
        if batch == 1:
            raise RuntimeError("quota")
        return batch

    seen: list[int] = []
    with pytest.raises(RuntimeError, match="quota"):
        for _, result in run_batches(call, list(range(50)), workers=3):
            seen.append(result)
    assert 1 not in seen
    assert len(started) < 50
    assert set(seen) <= set(started)


def test_pool_in_order_yields_in_the_batches_order_and_after_an_error_what_succeeded_still_in_order():
    first_done = threading.Event()

    def call(batch: int) -> int:
        if batch == 0:
            first_done.wait(5)  # batch 0 ends last of the first three
        if batch == 1:
            raise RuntimeError("quota")
        if batch == 2:
            time.sleep(0.2)  # after batch 1 failed
            first_done.set()
        return batch * 10

    seen: list[tuple[int, int]] = []
    with pytest.raises(RuntimeError, match="quota"):
        for batch, result in run_batches(call, list(range(20)), workers=3, in_order=True):
            seen.append((batch, result))
    assert seen == [(0, 0), (2, 20)]  # batch 2 waited for batch 0; nothing started after batch 1 failed
    assert [batch for batch, _ in run_batches(lambda n: n, list(range(30)), workers=4, in_order=True)] == \
        list(range(30))


def test_workers_follow_the_clients_limiter():
    class Client:
        limiter = Limiter(calls=90, window_s=20, max_concurrency=7)

    assert workers_for(Client()) == 7
    assert workers_for(object()) == 1
    assert workers_for(Client(), cap=3) == 3


# ---- sync-audience ----------------------------------------------------------------------------------------
class ParallelListClient:
    """Answers out of order and only passes when several calls are in flight together."""

    instance = "https://parallel.example"

    def __init__(self, people: int) -> None:
        self.limiter = Limiter(calls=10_000, window_s=1, max_concurrency=4)
        self.leads = {f"p{i}@x.co": 1000 + i for i in range(people)}
        self.added: list[int] = []
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.overlap = threading.Barrier(2, timeout=5)

    def _enter(self) -> None:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)

    def _leave(self) -> None:
        with self.lock:
            self.active -= 1

    def find_list_by_name(self, name):
        return {"id": 5, "name": name}

    def iter_list_members(self, list_id, fields=("id", "email")):
        return iter([])

    def get_leads_by_filter(self, filter_type, values, fields=("id", "email")):
        assert len(values) <= 300
        self._enter()
        try:
            if values[0] in ("p0@x.co", "p300@x.co"):
                self.overlap.wait()
            return [{"id": self.leads[v], "email": v} for v in reversed(values) if v in self.leads]
        finally:
            self._leave()

    def add_to_list(self, list_id, ids):
        assert len(ids) <= 300
        self._enter()
        try:
            with self.lock:
                self.added.extend(ids)
            return [{"id": i, "status": "added"} for i in reversed(ids)]
        finally:
            self._leave()


def test_sync_audience_looks_up_and_adds_in_parallel_counting_every_id_once(tmp_path):
    client = ParallelListClient(1_000)
    people = [AudiencePerson((Identity("email", f"p{i}@x.co"),), f"a.csv:{i + 2}") for i in range(1_050)]
    audience = AudienceInput.of_people("a.csv", people)
    store = StateStore(tmp_path, "test")
    with RejectsWriter(tmp_path / "rejects.jsonl") as rejects:
        report = run_sync(client, store, rejects, audience, list_name="L")
    assert client.peak >= 2
    assert sorted(client.added) == sorted(client.leads.values())  # every lead once, nothing twice
    counts = report.counts
    assert counts["added"] == 1_000
    assert counts["resolved"] == 1_000
    assert counts["unresolved"] == 50
    assert report.imbalances() == []
    assert store.lead_ids_for(client.instance, "email", ["p999@x.co"]) == {"p999@x.co": [1999]}
    store.close()


def test_sync_audience_against_the_sandbox_with_many_batches(sandbox, invoke, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMARKETO_MAX_CONCURRENCY", "4")
    ids = [sandbox.marketo.add_lead(email=f"m{i}@example.com") for i in range(1_400)]
    list_id = sandbox.marketo.add_list("Wide")
    sandbox.marketo.add_to_list(list_id, ids[1_000:])  # 400 members of which 100 stay
    audience = tmp_path / "audience.csv"
    audience.write_text("email\n" + "".join(f"m{i}@example.com\n" for i in range(1_100)), encoding="utf-8")
    result = invoke("sync-audience", str(audience), "--list", "Wide", "--force", "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)["counts"]
    assert counts["added"] == 1_000
    assert counts["removed"] == 300
    assert counts["unchanged"] == 100
    assert sandbox.marketo.list_members(list_id) == set(ids[:1_100])


# ---- writeback time slices ---------------------------------------------------------------------------------
def test_collapse_keeps_the_earliest_unfinished_slice_of_each_stream():
    positions = {
        "6,7#0": {"token": "a", "after": "9", "done": True},
        "6,7#1": {"token": "b", "after": None},
        "6,7#2": {"token": "c", "after": "30"},
        "8#0": {"token": "x", "after": None},
        "9": {"token": "old", "after": None},
    }
    assert collapse(positions) == {"6,7": {"token": "b", "after": None}, "8": {"token": "x", "after": None},
                                   "9": {"token": "old", "after": None}}
    finished = {"6,7#0": {"token": "a", "after": None, "done": True}, "6,7#1": {"token": "d", "after": "77"}}
    assert collapse(finished) == {"6,7": {"token": "d", "after": "77"}}


@pytest.fixture
def sliced(sandbox, monkeypatch):
    """Small activity pages so a few hundred activities make enough pages to be read in time slices."""
    monkeypatch.setenv("SEGMARKETO_USER_ID_FIELD", "segmentUserId")
    monkeypatch.setenv("SEGMARKETO_MAX_CONCURRENCY", "4")
    monkeypatch.setattr(writeback_rest, "ACTIVITIES_PER_PAGE", 20)
    monkeypatch.setattr(writeback_rest, "MIN_PAGES_PER_SLICE", 4)
    # Batches (and cursor commits) during the run: small batches, and the 8 leads looked up as soon as 5 show up.
    monkeypatch.setattr(sender_module, "MAX_BATCH_MESSAGES", 25)
    monkeypatch.setattr(LeadDirectory, "per_call", 5)
    sandbox.config.activity_scan_window = 20
    return sandbox


def accepted_ids(box) -> set[str]:
    return {m["messageId"] for m in box.segment.accepted}


def test_time_slices_deliver_every_activity_once_and_leave_the_cursor_at_the_end(sliced, invoke):
    made = populate(sliced, count=400, with_noise=False)
    result = invoke("writeback", "--since", "3d", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{\n"):])
    assert report["details"]["time_slices"] == 4
    assert report["counts"]["activities_read"] == report["counts"]["sent"] == 400
    assert report["counts"]["skipped_duplicate"] == 0
    assert not sliced.segment.dropped
    assert len(accepted_ids(sliced)) == len(made) == 400
    # The cursor sits past the last activity: a run from it reads nothing and sends nothing.
    again = invoke("writeback", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout[again.stdout.index("{\n"):])["counts"]["activities_read"] == 0
    assert len(sliced.segment.accepted) == 400


def test_a_slice_failing_mid_run_leaves_a_cursor_that_misses_nothing(sliced, invoke):
    made = populate(sliced, count=400, with_noise=False)
    original = sliced.dispatch
    pages = {"n": 0}

    def fail_the_eighth_page(request):
        if request.path == "/rest/v1/activities.json":
            pages["n"] += 1
            if pages["n"] == 8:
                sliced.faults.add("607", times=1, path="/rest/v1/activities.json")
        return original(request)

    sliced.dispatch = fail_the_eighth_page
    first = invoke("writeback", "--since", "3d", "--json")
    assert first.exit_code == 75
    assert 0 < len(accepted_ids(sliced)) < 400
    sliced.dispatch = original
    second = invoke("writeback", "--json")  # from the stored cursor only
    assert second.exit_code == 0, second.output
    munchkin = munchkin_id(sliced.url)
    # Nothing missing; events the second run sent again were dropped by Segment as duplicate messageIds.
    assert accepted_ids(sliced) == {f"mkto-{munchkin}-{guid}" for guid, _, _ in made}


def test_lead_directory_prefetch_from_many_threads_looks_each_lead_up_once_in_full_calls():
    class Client:
        def __init__(self) -> None:
            self.calls: list[list[int]] = []
            self.lock = threading.Lock()

        def get_leads_by_filter(self, filter_type, values, fields):
            with self.lock:
                self.calls.append(list(values))
            return [{"id": v, "email": f"l{v}@x.co"} for v in values if v % 7]  # every 7th lead is gone

    client = Client()
    directory = LeadDirectory(client, None)  # type: ignore[arg-type]
    pages = [list(range(start, start + 300)) for start in range(0, 1_950, 150)]  # overlapping pages

    def reader(mine: list[list[int]]) -> None:
        for page in mine:
            directory.prefetch(page)

    threads = [threading.Thread(target=reader, args=(pages[k::4],)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wanted = sorted({i for page in pages for i in page})
    directory.fetch(wanted)
    looked_up = [i for call in client.calls for i in call]
    assert sorted(looked_up) == wanted  # every lead once, none twice
    assert len(client.calls) == -(-len(wanted) // 300)
    assert all(len(c) <= 300 for c in client.calls)
    assert directory.get(14) is None
    assert directory.get(15).email == "l15@x.co"
