"""backfill executors with scripted clients: positional results, 413 halving, 607 stops, cookies, bulk jobs."""

from __future__ import annotations

import threading

import pytest

from segmarketo_cli.errors import MarketoQuotaExhausted
from segmarketo_cli.jobs.backfill_leads.execute_rest import CookieLinker, RestExecutor
from segmarketo_cli.jobs.backfill_leads.plan import Candidate
from segmarketo_cli.jobs.bulk_import import execute as backfill_bulk
from segmarketo_cli.jobs.bulk_import.execute import BulkExecutor
from segmarketo_cli.marketo.exceptions import MarketoPayloadTooLarge
from segmarketo_cli.state import StateStore


def cands(n: int, cookie_every: int = 0) -> list[Candidate]:
    return [Candidate(f"p{i}@x.io", {"email": f"p{i}@x.io"}, {}, f"h{i}", f"in:{i + 1}",
                      [f"cookie-{i}"] if cookie_every and i % cookie_every == 0 else [])
            for i in range(n)]


class FakeRest:
    instance = "https://fake"

    def __init__(self, *, quota_after: int | None = None, max_records: int = 300) -> None:
        self.calls: list[list[str]] = []
        self.quota_after = quota_after
        self.max_records = max_records
        self.in_flight: set[str] = set()
        self.overlap = False
        self.lock = threading.Lock()
        self.associated: list[tuple[int, str]] = []

    def sync_leads(self, records, *, action, lookup_field):
        keys = [r["email"] for r in records]
        with self.lock:
            if self.quota_after is not None and len(self.calls) >= self.quota_after:
                raise MarketoQuotaExhausted("Marketo error 607: Daily quota reached")
            if len(records) > self.max_records:
                raise MarketoPayloadTooLarge("/rest/v1/leads.json", 2_000_000)
            self.overlap |= bool(self.in_flight & set(keys))
            self.in_flight |= set(keys)
            self.calls.append(keys)
        rows = []
        for key in keys:
            n = int(key[1:].split("@")[0])
            if n == 3:
                rows.append({"status": "skipped", "reasons": [{"code": "1007",
                                                                "message": "Multiple lead match lookup criteria"}]})
            else:
                rows.append({"id": 1000 + n, "status": "created" if n % 2 else "updated"})
        with self.lock:
            self.in_flight -= set(keys)
        return rows[:-1] if len(keys) == 7 else rows  # a short reply for one odd batch size

    def associate_lead(self, lead_id, cookie):
        self.associated.append((lead_id, cookie))


def collect(executor_cls, client, **kw):
    results = []
    executor = executor_cls(client, lookup_field="email", on_result=results.append, **kw)
    return executor, results


def test_rest_results_map_by_position_and_skips_keep_their_code(tmp_path):
    client = FakeRest()
    store = StateStore(tmp_path, "t")
    executor, results = collect(RestExecutor, client, linker=CookieLinker(client, store), workers=3)
    assert executor.run(cands(650, cookie_every=100)) is None
    outcomes = [o for r in results for o in r.outcomes]
    assert len(outcomes) == 650
    assert [len(c) for c in client.calls] == [300, 300, 50]
    by_key = {o.candidate.key: o for o in outcomes}
    assert by_key["p1@x.io"].status == "created"
    assert by_key["p1@x.io"].lead_id == 1001
    assert by_key["p2@x.io"].status == "updated"
    assert by_key["p3@x.io"].code == "1007"
    assert "merge" in by_key["p3@x.io"].message
    assert not client.overlap
    assert sorted(client.associated) == [(1000 + i, f"cookie-{i}") for i in range(0, 650, 100)]
    # a second run associates nothing again
    executor, _ = collect(RestExecutor, client, linker=CookieLinker(client, store))
    executor.run(cands(650, cookie_every=100))
    assert len(client.associated) == 7


def test_missing_result_rows_are_rejected_not_guessed():
    client = FakeRest()
    executor, results = collect(RestExecutor, client, linker=None)
    executor.run(cands(7))
    last = results[0].outcomes[-1]
    assert last.status == "rejected"
    assert "no result" in last.message


def test_a_plan_read_that_fails_still_has_the_batch_in_flight_recorded_first():
    client = FakeRest()
    failure = MarketoQuotaExhausted("Marketo error 607: Daily quota reached")

    def plan():
        yield from cands(300)
        raise failure  # reading the next leads of the plan from Marketo failed, the first batch still out

    executor, results = collect(RestExecutor, client, linker=None, workers=2)
    with pytest.raises(MarketoQuotaExhausted) as raised:
        executor.run(plan())
    assert raised.value is failure
    assert [len(result.outcomes) for result in results] == [300]  # what Marketo answered is recorded


def test_payload_too_large_halves_the_batch():
    client = FakeRest(max_records=80)
    executor, results = collect(RestExecutor, client, linker=None, workers=1)
    assert executor.run(cands(300)) is None
    assert sum(len(r.outcomes) for r in results) == 300
    assert max(len(c) for c in client.calls) <= 80


def test_quota_stop_counts_every_unconfirmed_candidate():
    client = FakeRest(quota_after=2)
    executor, results = collect(RestExecutor, client, linker=None, workers=1)
    stopped = executor.run(iter(cands(1000)))
    confirmed = {o.candidate.key for r in results for o in r.outcomes}
    assert len(confirmed) == 600
    assert isinstance(stopped.error, MarketoQuotaExhausted)
    assert stopped.deferred == 400  # every candidate is confirmed or deferred, never both
    assert confirmed == {f"p{i}@x.io" for i in range(600)}


class FakeBulk:
    def __init__(self, *, fail_job: int | None = None, quota_on_status: int | None = None) -> None:
        self.jobs: dict[int, dict] = {}
        self.max_running = 0
        self.fail_job = fail_job
        self.quota_on_status = quota_on_status
        self.status_calls = 0

    def bulk_import_leads(self, data, *, lookup_field, list_id=None):
        batch_id = len(self.jobs) + 1
        rows = data.decode().split("\r\n")[1:-1]
        self.jobs[batch_id] = {"rows": rows, "polls": 0}
        running = sum(1 for j in self.jobs.values() if j["polls"] < 2)
        self.max_running = max(self.max_running, running)
        return {"batchId": batch_id, "status": "Queued"}

    def bulk_import_status(self, batch_id):
        self.status_calls += 1
        if self.quota_on_status is not None and self.status_calls > self.quota_on_status:
            raise MarketoQuotaExhausted("607")
        job = self.jobs[batch_id]
        job["polls"] += 1
        if job["polls"] < 2:
            return {"batchId": batch_id, "status": "Importing"}
        if batch_id == self.fail_job:
            return {"batchId": batch_id, "status": "Failed", "message": "file corrupt"}
        return {"batchId": batch_id, "status": "Complete", "numOfRowsFailed": 1, "numOfRowsWithWarning": 1}

    def bulk_import_failures(self, batch_id):
        return f"email,Import Failure Reason\n{self.jobs[batch_id]['rows'][0]},Invalid email\n"

    def bulk_import_warnings(self, batch_id):
        return f"email,Import Warning Reason\n{self.jobs[batch_id]['rows'][1]},Value truncated\n"


def test_bulk_keeps_two_jobs_in_flight_and_maps_failures(monkeypatch):
    monkeypatch.setattr(backfill_bulk, "POLL_FIRST_S", 0.0)
    client = FakeBulk(fail_job=3)
    executor, results = collect(BulkExecutor, client, sleep=lambda s: None, max_bytes=250)
    assert executor.run(cands(100)) is None
    assert executor.jobs == len(client.jobs) > 3
    assert client.max_running <= 2
    imported = [c for r in results for c in r.imported]
    rejected = [(c, why) for r in results for c, why in r.rejected]
    assert len(imported) + len(rejected) == 100
    assert any(why == "Invalid email" for _, why in rejected)
    assert any(why.startswith("bulk import 3 failed: file corrupt") for _, why in rejected)
    assert sum(len(r.warnings) for r in results) == len(client.jobs) - 1


def test_bulk_quota_stop_defers_what_was_not_confirmed(monkeypatch):
    monkeypatch.setattr(backfill_bulk, "POLL_FIRST_S", 0.0)
    client = FakeBulk(quota_on_status=3)
    executor, results = collect(BulkExecutor, client, sleep=lambda s: None, max_bytes=400)
    error, unconfirmed = executor.run(iter(cands(100)))
    done = sum(len(r.imported) + len(r.rejected) for r in results)
    assert isinstance(error, MarketoQuotaExhausted)
    assert done + unconfirmed == 100
    assert unconfirmed
