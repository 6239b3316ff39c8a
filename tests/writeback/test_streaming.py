"""The chunked pipeline (seen GUIDs and looked-up leads in DuckDB tables) gives the events, batches, cursor
commits, buckets and rejects of the pipeline that kept them in Python sets, also with a 64 MB memory_limit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from segmarketo_cli.endpoints import munchkin_id
from segmarketo_cli.engine import open_engine
from segmarketo_cli.jobs.extract_file import csv_rows
from segmarketo_cli.jobs.rejects import RejectsWriter
from segmarketo_cli.jobs.report import RunReport
from segmarketo_cli.jobs.writeback import execute, keyset, read_bulk
from segmarketo_cli.jobs.writeback.activity import Activity, BadActivity, safe_date
from segmarketo_cli.jobs.writeback.events import EventBuilder
from segmarketo_cli.jobs.writeback.execute import Pipeline, SegmentSink
from segmarketo_cli.jobs.writeback.keyset import BloomFilter, KeyTable
from segmarketo_cli.jobs.writeback.lookups import AssetNames, LeadDirectory
from segmarketo_cli.jobs.writeback.plan import DEFAULT_EVENTS
from segmarketo_cli.segment import sender as sender_module
from segmarketo_cli.segment.sender import BatchResult, BatchSender
from segmarketo_cli.state import StateStore
from tests.support.writeback_helpers import populate

TYPES = {10: "Open Email", 11: "Click Email", 12: "Email Bounced", 1: "Visit Webpage"}
# sha256 of the scenario's record (batches, commits, buckets, skip reasons, rejects, lead lookups) as the
# pipeline with whole-run Python sets produced it (main at c13c6be, before the chunked pipeline).
BEFORE = "5505ae8c04adb4751114667f01f1f95eca3bda540034b9cac22e204bd49335b6"


class Leads:
    """Get Leads by Filter without HTTP: ids divisible by 97 are not in Marketo, one in three has no userId."""

    instance = "https://123-ABC-456.mktorest.com"

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def get_leads_by_filter(self, field, values, fields):
        self.calls.append([int(v) for v in values])
        return [{"id": int(v), "email": f" P{v}@Example.com", "segmentUserId": f"u{v}" if int(v) % 3 else None}
                for v in values if int(v) % 97]

    def get_campaigns(self, name=None):
        return [{"id": 2211, "name": "Welcome"}]


class Recording(SegmentSink):
    def __init__(self) -> None:
        super().__init__(BatchSender("http://127.0.0.1:1", "-"))
        self.batches: list[list[dict]] = []

    def deliver(self, batch):
        self.batches.append([{k: v for k, v in m.items() if k != "sentAt"} for m in batch])
        return BatchResult(True, 200, 1, 1000, [m["messageId"] for m in batch])


def activities(count: int, offset: int) -> list[Activity | BadActivity]:
    """Hard cases: repeated GUIDs near and far, unmapped types, bad records, an oversize event, leads Marketo does
    not have, and 1,111 leads looked up, so that the last 211 wait for the final flush."""
    made: list[Activity | BadActivity] = []
    for n in range(offset, offset + count):
        if n % 997 == 5:
            made.append(BadActivity("leadId is not an integer", "leadId", f"x{n}"))
            continue
        guid = str(n - 3 if n % 50 == 7 else 17 if n % 1_201 == 9 else n)
        attributes = {"Form Fields": "x" * 40_000} if n % 4_999 == 11 else {"Step": n % 5}
        made.append(Activity(guid=guid, lead_id=1 + (n * 7_919) % 1_500, date=f"2026-05-16T10:{n // 60 % 60:02d}:"
                             f"{n % 60:02d}Z", type_id=(10, 11, 12, 1)[n % 4], campaign_id=2211,
                             primary_id=1042, attributes=attributes))
    return made


def scenario(tmp_path: Path, con=None) -> tuple[dict, Pipeline]:
    """Pages of 300 (drained after each, as the REST reader does) then 8,000 rows read as one extract file."""
    store = StateStore(tmp_path / "state", "default")
    leads = Leads()
    report = RunReport("writeback")
    commits: list[dict] = []
    sink = Recording()
    builder = EventBuilder(events=DEFAULT_EVENTS, type_names=TYPES, munchkin="123-ABC-456",
                           integrations={"Marketo V2": False}, user_id_field="segmentUserId")
    with RejectsWriter(tmp_path / "rejects.jsonl") as rejects:
        pipeline = Pipeline(builder, LeadDirectory(leads, "segmentUserId", con),
                            AssetNames(leads, store, "campaigns", lambda client: {2211: "Welcome"}),
                            AssetNames(leads, store, "subjects", lambda client: {1042: "Hello"}),
                            sink, report, rejects, commits.append, con=con)
        for page in range(40):
            items = activities(300, page * 300)
            for index, item in enumerate(items):
                pipeline.add("rest", {"token": f"T{page}", "after": index}, item, f"activities page {page + 1}")
                pipeline.advance("rest", {"token": f"T{page}", "after": index + 1})
            pipeline.advance("rest", {"token": f"T{page + 1}", "after": None})
            pipeline.drain()
        for line, item in enumerate(activities(8_000, 12_000), start=2):
            pipeline.add("bulk", {"date": "2026-05-16T10:00:00Z", "guid": line}, item, f"export E line {line}")
            pipeline.advance("bulk", {"date": "2026-05-16T10:00:00Z", "guid": line + 1})
        pipeline.flush()
    store.close()
    record = {"batches": sink.batches, "commits": commits, "counts": report.counts,
              "skipped": pipeline.skip_reasons, "rejects": (tmp_path / "rejects.jsonl").read_text(),
              "lead_calls": leads.calls}
    return record, pipeline


def digest(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(sender_module, "MAX_BATCH_MESSAGES", 100)


def test_the_chunked_pipeline_gives_what_the_whole_run_sets_gave(tmp_path, small_batches):
    record, pipeline = scenario(tmp_path)
    assert record["counts"]["activities_read"] == 20_000
    assert record["counts"]["skipped_duplicate"] > 0
    assert record["counts"]["rejected"] > 0
    assert len(pipeline.leads) == 1_111
    assert digest(record) == BEFORE


def test_tiny_caches_and_a_64mb_engine_give_the_identical_record(tmp_path, small_batches, monkeypatch):
    """Every spill path at once: chunks of 700, a 100-lead cache, key sets that move to the engine past 500 keys,
    table inserts every 200 keys, and a Bloom filter so small that nearly every key is probed in DuckDB, with the
    engine capped at 64 MB."""
    monkeypatch.setattr(execute, "DRAIN_ROWS", 700)
    monkeypatch.setattr(keyset, "MEMORY_KEYS", 500)
    monkeypatch.setattr(LeadDirectory, "cache_size", 100)
    monkeypatch.setattr(keyset, "FLUSH_ROWS", 200)
    monkeypatch.setattr(keyset, "BLOOM_BITS", 1 << 10)
    with open_engine("64MB", tmp_path / "engine-state", "default") as engine:
        record, _ = scenario(tmp_path, lambda: engine.con)
        tables = engine.con.execute("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()
    assert digest(record) == BEFORE
    assert [name.rsplit("_", 1)[0] for (name,) in tables] == ["writeback_leads", "writeback_seen_guids"]


def test_a_long_wait_for_a_few_unknown_leads_no_longer_holds_everything_read_after_them(tmp_path, small_batches,
                                                                                        monkeypatch):
    """Past MAX_OPEN unsettled activities the waiting leads are looked up in a short call: the same events go
    out, memory stays bounded and the cursor moves on."""
    expected, _ = scenario(tmp_path / "unbounded")
    monkeypatch.setattr(execute, "MAX_OPEN", 1_000)
    record, _ = scenario(tmp_path / "bounded")
    sent = sorted(json.dumps(m, sort_keys=True) for batch in record["batches"] for m in batch)
    assert sent == sorted(json.dumps(m, sort_keys=True) for batch in expected["batches"] for m in batch)
    assert record["counts"] == expected["counts"]
    assert max(len(batch) for batch in record["batches"]) <= 100
    assert sorted(sum(record["lead_calls"], [])) == sorted(sum(expected["lead_calls"], []))  # each lead once
    assert [len(call) for call in expected["lead_calls"]] == [300, 300, 300, 211]
    assert any(len(call) < 211 for call in record["lead_calls"])  # a short call before the end
    # The cursor no longer waits for the final flush: it moves through the extract part as batches go out.
    reached = [commit["bulk"]["guid"] for commit in record["commits"] if "bulk" in commit]
    held = [commit["bulk"]["guid"] for commit in expected["commits"] if "bulk" in commit]
    assert held[len(held) // 2] < 100
    assert reached[len(reached) // 2] > 1_000


@pytest.mark.parametrize("memory_keys", [5, 100], ids=["moved-to-the-engine", "in-memory"])
def test_key_table_answers_a_chunk_with_the_keys_added_before(tmp_path, monkeypatch, memory_keys):
    monkeypatch.setattr(keyset, "FLUSH_ROWS", 3)
    monkeypatch.setattr(keyset, "MEMORY_KEYS", memory_keys)
    opened = []

    def connect():
        opened.append(open_engine("64MB", tmp_path, "default"))
        return opened[-1].con

    table = KeyTable(connect, "t", "BIGINT", [("email", "VARCHAR")])
    for key in range(10):
        table.add(key, f"p{key}@example.com")
    assert table.lookup([3, 42, 9, 3]) == {3: ("p3@example.com",), 9: ("p9@example.com",)}
    assert len(table) == 10
    assert len(opened) == (1 if memory_keys < 10 else 0)
    for engine in opened:
        engine.close()


def test_bloom_filter_never_forgets_a_key():
    bloom = BloomFilter(1 << 12)
    keys = [str(n) for n in range(2_000)] + list(range(2_000))
    for key in keys:
        bloom.add(key)
    assert all(key in bloom for key in keys)


def test_the_extract_file_floor_per_block_is_the_floor_per_row(monkeypatch, tmp_path):
    """The resume date of each extract row (the earliest date at or after it) comes out the same when only one
    block of rows is held at a time, on a file not sorted by date."""
    monkeypatch.setattr(read_bulk, "FLOOR_BLOCK", 7)
    dates = [f"2026-05-{1 + (n * 11) % 28:02d}T00:00:00Z" if n % 9 else "null" for n in range(50)]
    path = tmp_path / "extract.csv"
    path.write_text("marketoGUID,activityDate\n" + "".join(f"{n},{date}\n" for n, date in enumerate(dates)))
    begin, later = read_bulk.BulkReader._scan(path, "20")
    floors = [floor for _, _, _, _, floor in read_bulk._with_floor(csv_rows(path), later)]
    assert begin == 21
    assert floors == read_bulk._suffix_min([safe_date(date) for date in dates])


def test_a_run_stopped_midway_with_a_64mb_limit_resumes_without_loss_or_duplicates(sandbox, invoke, monkeypatch):
    from segmarketo_cli.errors import ServiceUnavailable

    made = populate(sandbox, 120, with_noise=False)
    monkeypatch.setattr(sender_module, "MAX_BATCH_MESSAGES", 10)
    monkeypatch.setattr(execute, "DRAIN_ROWS", 7)
    monkeypatch.setattr(LeadDirectory, "cache_size", 2)
    monkeypatch.setattr(keyset, "MEMORY_KEYS", 20)  # the key sets move to the 64 MB engine midway
    monkeypatch.setattr(keyset, "BLOOM_BITS", 1 << 10)
    real_send = BatchSender.send_batch
    batches = {"n": 0}

    def fourth_batch_fails(self, messages):
        batches["n"] += 1
        if batches["n"] == 4:
            raise ServiceUnavailable("Segment kept failing (HTTP 503)")
        return real_send(self, messages)

    monkeypatch.setattr(BatchSender, "send_batch", fourth_batch_fails)
    first = invoke("writeback", "--since", "3d", "--memory-limit", "64MB", "--json")
    assert first.exit_code == 75, first.output
    assert len(sandbox.segment.accepted) == 30
    monkeypatch.setattr(BatchSender, "send_batch", real_send)
    second = invoke("writeback", "--memory-limit", "64MB", "--json")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout[second.stdout.index("{\n"):])["counts"]["sent"] == 90
    assert sandbox.segment.dropped == []
    assert sorted(m["messageId"] for m in sandbox.segment.accepted) == sorted(
        f"mkto-{munchkin_id(sandbox.url)}-{guid}" for guid, _, _ in made)
