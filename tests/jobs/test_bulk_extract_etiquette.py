"""Bulk Extract etiquette against the sandbox: status polled at most once a minute (fake clock, no real waiting)
and every extract file checked against the job's fileChecksum (one re-download, then a clear failure)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from segmarketo_cli.config import load_settings
from segmarketo_cli.errors import MarketoError
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.services import build_marketo
from segmarketo_cli.jobs.sync_audience import members as audience_members
from segmarketo_cli.sources.audience.readers import read_audience
from segmarketo_cli.state import StateStore
from tests.support.writeback_helpers import NOW, iso, populate
from tests.sync_audience.harness import run_sync
from tests.writeback.test_bulk import Harness

MIN_POLL_GAP_S = 60.0


class FakeClock:
    """The sandbox stamps status polls with `now`; the client's injected `sleep` moves it on instantly."""

    def __init__(self) -> None:
        self.t = 1_000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def poll_gaps(box) -> list[float]:
    gaps = []
    for job in box.bulk.exports.values():
        gaps += [later - earlier for earlier, later in zip(job.polls, job.polls[1:], strict=False)]
    return gaps


@pytest.fixture
def downloads(sandbox, monkeypatch):
    """The path of every extract file download the sandbox answers."""
    seen: list[str] = []
    original = sandbox.dispatch

    def spy(request):
        if request.path.endswith("/file.json"):
            seen.append(request.path)
        return original(request)

    monkeypatch.setattr(sandbox, "dispatch", spy)
    return seen


@pytest.fixture
def harness(sandbox, tmp_path):
    h = Harness(tmp_path)
    yield h
    h.store.close()


@pytest.fixture
def vip(sandbox, tmp_path):
    """Ten leads, list 'VIP' holding p5..p9, and an audience file of p4..p9."""
    ids = {f"p{i}": sandbox.marketo.add_lead(email=f"p{i}@example.com") for i in range(10)}
    list_id = sandbox.marketo.add_list("VIP")
    sandbox.marketo.add_to_list(list_id, [ids[f"p{i}"] for i in range(5, 10)])
    path = tmp_path / "aud.csv"
    path.write_text("key,email\n" + "".join(f"k{i},p{i}@example.com\n" for i in range(4, 10)), encoding="utf-8")
    return ids, list_id, path


def sync_audience(path, tmp_path, sleep) -> RunReport:
    """sync-audience in-process with an injected sleep, membership read by Bulk Lead Extract."""
    settings = load_settings()
    store = StateStore(tmp_path / "state", "default")
    try:
        with RejectsWriter(tmp_path / "rejects.jsonl") as rejects:
            report = run_sync(build_marketo(settings), store, rejects, read_audience(str(path)), sleep=sleep,
                              list_name="VIP", extract_threshold=1)
    finally:
        store.close()
    return report


# ---- sandbox ----------------------------------------------------------------------------------------------


def test_sandbox_status_carries_the_files_sha256_and_the_corrupt_fault_damages_only_the_download(sandbox):
    list_id = sandbox.marketo.add_list("L")
    sandbox.marketo.add_to_list(list_id, [sandbox.marketo.add_lead(email=f"c{i}@example.com") for i in range(3)])
    sandbox.faults.add("corrupt", times=1)
    client = build_marketo(load_settings())
    export_id = client.bulk_extract_create("leads", fields=["id", "email"], filter={"staticListId": list_id})
    client.bulk_extract_enqueue("leads", export_id)
    status = {}
    for _ in range(5):
        status = client.bulk_extract_status("leads", export_id)
    assert status["status"] == "Completed"
    assert len(sandbox.bulk.exports[export_id].polls) == 5
    damaged = client.bulk_extract_file("leads", export_id)
    intact = client.bulk_extract_file("leads", export_id)
    assert status["fileChecksum"] == "sha256:" + hashlib.sha256(intact).hexdigest()
    assert hashlib.sha256(damaged).hexdigest() != hashlib.sha256(intact).hexdigest()
    assert sandbox.faults.pending == 0


# ---- writeback (Bulk Activity Extract) ---------------------------------------------------------------------


def test_writeback_bulk_polls_each_job_at_most_once_a_minute(sandbox, harness):
    clock = FakeClock()
    sandbox.clock = clock.now
    populate(sandbox, 20, days=40)
    report = harness.run(sleep=clock.sleep, since="41d")
    assert report.details["bulk"]["exports_created"] == 2
    assert poll_gaps(sandbox)
    assert min(poll_gaps(sandbox)) >= MIN_POLL_GAP_S


def test_writeback_downloads_a_corrupt_extract_file_again(sandbox, harness, downloads):
    made = populate(sandbox, 20, days=10)
    sandbox.faults.add("corrupt", times=1)
    report = harness.run(since="11d")
    assert report.details["bulk"]["exports_created"] == 1
    assert len(downloads) == 2
    assert report.counts["sent"] == len(made)
    assert len(sandbox.segment.accepted) == len(made)


def test_writeback_fails_clearly_when_the_file_stays_corrupt_and_keeps_the_cursor(sandbox, harness):
    populate(sandbox, 20, days=10)
    sandbox.faults.add("corrupt", times=10)
    since = iso(NOW - timedelta(days=11))
    with pytest.raises(MarketoError) as err:
        harness.run(since=since)
    assert err.value.exit_code == 1
    assert "checksum" in str(err.value)
    assert "downloaded twice" in str(err.value)
    assert not sandbox.segment.accepted
    # The first run's start (stored before reading) is all the cursor holds: nothing of the file was passed.
    assert harness.cursor() == {"mode": "bulk", "date": since, "guid": None, "export_id": None}


# ---- sync-audience (Bulk Lead Extract) ---------------------------------------------------------------------


def test_sync_audience_polls_the_membership_extract_at_most_once_a_minute(sandbox, vip, tmp_path):
    ids, list_id, path = vip
    clock = FakeClock()
    sandbox.clock = clock.now
    report = sync_audience(path, tmp_path, clock.sleep)
    assert report.details["membership_read"] == "bulk extract"
    assert sandbox.marketo.list_members(list_id) == {ids[f"p{i}"] for i in range(4, 10)}
    assert poll_gaps(sandbox)
    assert min(poll_gaps(sandbox)) >= MIN_POLL_GAP_S


def test_sync_audience_downloads_a_corrupt_membership_file_again(sandbox, vip, tmp_path, downloads):
    ids, list_id, path = vip
    sandbox.faults.add("corrupt", times=1)
    report = sync_audience(path, tmp_path, lambda seconds: None)
    assert len(downloads) == 2
    assert report.counts["current_members"] == 5
    assert report.counts["added"] == 1
    assert report.counts["removed"] == 0
    assert sandbox.marketo.list_members(list_id) == {ids[f"p{i}"] for i in range(4, 10)}


def test_sync_audience_stops_with_exit_1_when_the_membership_file_stays_corrupt(sandbox, vip, invoke, monkeypatch):
    ids, list_id, path = vip
    monkeypatch.setattr(audience_members, "EXTRACT_POLL_S", (0.0,))
    sandbox.faults.add("corrupt", times=10)
    result = invoke("sync-audience", str(path), "--list", "VIP", "--extract-threshold", "1", "--json")
    assert result.exit_code == 1, result.output
    assert "checksum" in json.loads(result.stdout)["error"]
    assert "Traceback" not in result.stderr
    assert sandbox.marketo.list_members(list_id) == {ids[f"p{i}"] for i in range(5, 10)}
