"""When a flush is due and how many events it takes: full batches at the count, everything that waits at the age."""

from __future__ import annotations

import json

from segmarketo_cli.listen.drain import Drainer, FlushResult
from segmarketo_cli.listen.metrics import Metrics
from segmarketo_cli.listen.spool import Event, Spool, Spooled
from tests.listen.receiver import Receiver, identify, spool_rows, wait_until, write_profile


def _spool(tmp_path, events: int) -> Spool:
    spool = Spool(tmp_path / "spool.sqlite", max_bytes=10_000_000)
    spool.append([Event(f"m-{n}", "identify", "{}") for n in range(events)]).result()
    return spool


def _drainer(spool: Spool, sizes: list[int], *, flush_seconds: float, flush_events: int) -> Drainer:
    def flush(batch_id: str, batch: list[Spooled]) -> FlushResult:
        sizes.append(len(batch))
        return FlushResult(done=[event.seq for event in batch])

    return Drainer(spool, flush, Metrics(), flush_seconds=flush_seconds, flush_events=flush_events)


def test_a_full_count_is_due_and_each_flush_takes_exactly_flush_events(tmp_path):
    spool = _spool(tmp_path, 700)
    sizes: list[int] = []
    drainer = _drainer(spool, sizes, flush_seconds=3600, flush_events=300)
    assert drainer.due()
    drainer.drain_once()
    drainer.drain_once()
    assert sizes == [300, 300]
    assert spool.pending == 100
    assert not drainer.due()  # 100 wait, and none has waited an hour
    spool.close()


def test_an_old_enough_event_makes_a_flush_due_that_takes_what_waits(tmp_path):
    spool = _spool(tmp_path, 100)
    sizes: list[int] = []
    drainer = _drainer(spool, sizes, flush_seconds=1e-9, flush_events=300)
    assert drainer.due()
    drainer.drain_once()
    assert sizes == [100]
    assert spool.pending == 0
    assert not drainer.due()
    spool.close()


def test_600_identifies_at_flush_events_300_are_two_runs_of_300_leads(box, isolated_home, invoke):
    write_profile(isolated_home, flush_seconds=3600, flush_events=300)
    receiver = Receiver(box, isolated_home)
    for start in range(0, 600, 100):
        reply = receiver.post({"batch": [identify(n) for n in range(start, start + 100)]})
        assert reply.status_code == 200
    wait_until(lambda: not spool_rows(isolated_home, pending_only=True), what="the spool drained")
    assert receiver.stop() == 0
    listed = json.loads(invoke("runs", "list", "--json", "--command", "backfill-leads",
                               env={"SEGMARKETO_HOME": str(isolated_home)}).stdout)
    runs = listed if isinstance(listed, list) else listed["runs"]
    assert [run["status"] for run in runs] == ["ok", "ok"]
    assert [run["counts"]["leads_created"] for run in runs] == [300, 300]
