"""The waits a run is in are named on the wait board: Marketo's rate window, bulk import and bulk extract polls."""

from __future__ import annotations

from segmarketo_cli.jobs.bulk_import import execute as backfill_bulk
from segmarketo_cli.jobs.bulk_import.execute import BulkExecutor
from segmarketo_cli.jobs.sync_audience.members import poll
from segmarketo_cli.marketo.limits import RATE_WINDOW_WAIT, Limiter
from segmarketo_cli.waits import BOARD, WaitBoard
from tests.backfill_leads.test_execute_rest import FakeBulk, cands, collect
from tests.support.writeback_helpers import populate
from tests.writeback.test_bulk import Harness


def current_label() -> str | None:
    wait = BOARD.current()
    return wait.label if wait else None


def test_board_shows_the_oldest_wait_until_it_ends():
    board = WaitBoard()
    assert board.current() is None
    with board.waiting("bulk extract queued", since=5.0):
        with board.waiting("waiting for Marketo's rate window", since=9.0):
            assert board.current().label == "bulk extract queued"
        assert board.current().since == 5.0
    assert board.current() is None


def test_limiter_names_the_rate_window_wait_only_while_it_waits():
    now = [0.0]
    seen: list[str | None] = []

    def sleep(seconds: float) -> None:
        seen.append(current_label())
        now[0] += seconds

    limiter = Limiter(calls=2, window_s=10.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        with limiter.slot():
            pass
    assert seen
    assert set(seen) == {RATE_WINDOW_WAIT}
    assert current_label() is None


def test_bulk_import_waits_are_named_by_the_oldest_jobs_status(monkeypatch):
    monkeypatch.setattr(backfill_bulk, "POLL_FIRST_S", 0.0)
    seen: list[str | None] = []
    executor, results = collect(BulkExecutor, FakeBulk(), sleep=lambda s: seen.append(current_label()),
                                max_bytes=250)
    assert executor.run(cands(20)) is None
    assert seen[0] == "bulk import queued"
    assert "bulk import importing" in seen
    assert current_label() is None


def test_bulk_extract_poll_is_named_by_the_jobs_status():
    states = iter(["Queued", "Processing", "Completed"])
    seen: list[str | None] = []
    row = poll(lambda: {"status": next(states)}, [0.0], done=("Completed",),
               sleep=lambda s: seen.append(current_label()))
    assert row["status"] == "Completed"
    assert seen == ["bulk extract queued", "bulk extract processing"]


def test_writeback_bulk_extract_waits_are_named(sandbox, tmp_path):
    populate(sandbox, 10, days=20)
    harness = Harness(tmp_path)
    seen: list[str | None] = []
    try:
        report = harness.run(since="21d", sleep=lambda s: seen.append(current_label()))
    finally:
        harness.store.close()
    assert report.details["mode"] == "bulk"
    assert seen
    assert all(label is not None and label.startswith("bulk extract ") for label in seen)
    assert current_label() is None
