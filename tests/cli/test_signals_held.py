"""Ctrl-C and SIGTERM held (jobs/interrupts.py) while a batch is handed to a worker thread or its outcome recorded:
raised at the end of the held block, never between a call Marketo confirmed and its record (in-process)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from segmarketo_cli.cli.signals import Interrupted, run_signals
from segmarketo_cli.errors import MarketoQuotaExhausted
from segmarketo_cli.jobs import interrupts
from segmarketo_cli.jobs.apply_events.execute import PlanExecutor
from segmarketo_cli.jobs.batchpool import run_batches
from segmarketo_cli.jobs.interrupts import arrived, held


def signal_now(signum: int = signal.SIGTERM) -> None:
    """Send `signum` to this process and give the main thread's handler a few bytecodes to run in."""
    os.kill(os.getpid(), signum)
    for _ in range(1000):
        pass


def test_a_signal_inside_held_is_raised_at_the_end_of_the_outermost_block():
    reached: list[str] = []
    with run_signals() as signals, pytest.raises(Interrupted) as raised, signals.interruptible():
        with held():
            with held():
                signal_now()
                reached.append("inner")
                assert arrived()
            reached.append("outer")  # the inner block's end raises nothing
        reached.append("after")  # never: the outer block's end raised it
    assert reached == ["inner", "outer"]
    assert raised.value.signum == signal.SIGTERM
    assert not interrupts.holding()


def test_a_block_that_ends_with_its_own_error_lets_it_through_and_the_signal_is_not_raised_twice():
    with run_signals() as signals:
        with pytest.raises(ValueError), signals.interruptible(), held():
            signal_now()
            raise ValueError("the block's own error")
        assert signals.received == signal.SIGTERM  # the run still ends interrupted (jobrun checks `received`)
        assert not arrived()


def test_a_signal_held_and_never_raised_there_ends_the_work_interrupted():
    with run_signals() as signals, pytest.raises(Interrupted), signals.interruptible():
        try:
            with held():
                signal_now()
                raise ValueError("the block's own error, which the job handles")
        except ValueError:
            pass
            # the work goes on and ends normally: the signal is raised at its end, not lost


def test_a_held_block_left_over_from_an_earlier_run_does_not_unhold_the_next_run():
    def batches():
        with held():
            yield 1
            yield 2

    with run_signals():
        left_over = batches()
        next(left_over)  # the earlier run stops consuming it; the generator is closed later
    recorded: list[str] = []
    with run_signals() as signals, pytest.raises(Interrupted), signals.interruptible(), held():
        left_over.close()  # its held() ends inside this run's
        signal_now()
        recorded.append("the batch's record")  # still held: reached
    assert recorded == ["the batch's record"]


def test_outside_a_run_and_off_the_main_thread_held_does_nothing():
    assert not arrived()
    with held():
        assert not arrived()
    seen = {}

    def worker() -> None:
        with held():
            seen["holding"] = interrupts.holding()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == {"holding": False}


def test_run_batches_still_yields_the_call_in_flight_when_the_signal_lands_while_a_result_is_being_recorded():
    second_started = threading.Event()
    release = threading.Event()

    def call(n: int) -> int:
        if n == 2:
            second_started.set()
            release.wait(10)
        return n * 10

    got: list[tuple[int, int]] = []
    with run_signals() as signals, pytest.raises(Interrupted), signals.interruptible():
        for batch, result in run_batches(call, [1, 2, 3, 4], workers=2):
            got.append((batch, result))
            if batch == 1:
                second_started.wait(10)
                signal_now()  # while the caller records batch 1: batch 2 is out
                release.set()
    assert got == [(1, 10), (2, 20)]  # batch 2, in flight, was handed back to be recorded; 3 and 4 never started


def test_apply_events_starts_no_batch_once_a_signal_came_and_records_the_ones_out():
    executor = PlanExecutor.__new__(PlanExecutor)  # only what _each uses
    executor.workers, executor.calls = 2, {}
    executor.log = executor.ledger = SimpleNamespace(record=lambda changes: None, flush=lambda: None)
    started: list[int] = []
    recorded: list[int] = []
    fourth_out = threading.Event()

    def call(batch: list[int]) -> list[dict[str, object]]:
        started.append(batch[0])
        if len(started) == 4:
            fourth_out.set()
        time.sleep(0.3)  # two calls at a time: 0 and 1, then 2 and 3 when the signal comes
        return [{"id": batch[0], "status": "updated"}]

    def handle(batch: list[int], rows: list[dict[str, object]]) -> list[object]:
        recorded.append(batch[0])
        return []

    def interrupt() -> None:
        fourth_out.wait(10)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=interrupt).start()
    with run_signals() as signals, pytest.raises(Interrupted), signals.interruptible():
        executor._each("lead_update", [[n] for n in range(10)], call, handle)
    assert sorted(started) == [0, 1, 2, 3]  # none started once it came
    assert recorded == [0, 1, 2, 3]  # every call out was recorded, in batch order
    assert executor.calls == {"lead_update": 4}


def test_apply_events_starts_no_batch_once_one_failed_and_records_the_ones_that_succeeded():
    executor = PlanExecutor.__new__(PlanExecutor)
    executor.workers, executor.calls = 2, {}
    executor.log = executor.ledger = SimpleNamespace(record=lambda changes: None, flush=lambda: None)
    started: list[int] = []
    recorded: list[int] = []

    def call(batch: list[int]) -> list[dict[str, object]]:
        started.append(batch[0])
        if batch[0] == 1:
            raise MarketoQuotaExhausted("Marketo error 607: Daily quota reached")
        time.sleep(0.3 if batch[0] == 0 else 0.0)  # the failure is seen while batch 0 is still out
        return [{"id": batch[0], "status": "updated"}]

    def handle(batch: list[int], rows: list[dict[str, object]]) -> list[object]:
        recorded.append(batch[0])
        return []

    with pytest.raises(MarketoQuotaExhausted):
        executor._each("lead_update", [[n] for n in range(10)], call, handle)
    assert sorted(started) == [0, 1]  # nothing started after batch 1 failed, though batch 0 was still out
    assert recorded == [0]


@pytest.fixture
def people(tmp_path):
    path = tmp_path / "people.jsonl"
    lines = (json.dumps({"type": "identify", "userId": f"u{i}", "traits": {"email": f"p{i}@example.com"}})
             for i in range(900))
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_a_signal_while_a_backfill_batch_is_handed_to_the_pool_still_records_what_marketo_created(
        invoke, sandbox, people, monkeypatch):
    submit = ThreadPoolExecutor.submit
    signalled: list[bool] = []

    def submitting(self, fn, /, *args, **kwargs):
        future = submit(self, fn, *args, **kwargs)  # the batch is queued and its thread runs ...
        if not signalled and getattr(fn, "__name__", "") == "sync_batch":
            signalled.append(True)
            signal_now(signal.SIGINT)  # ... and Ctrl-C lands before submit has returned its future
        return future

    monkeypatch.setattr(ThreadPoolExecutor, "submit", submitting)
    env = {"SEGMARKETO_MAX_CONCURRENCY": "2"}
    stopped = invoke("backfill-leads", str(people), "--json", env=env)
    assert stopped.exit_code == 130, stopped.stderr
    assert signalled
    counts = json.loads(stopped.stdout)["counts"]
    in_marketo = len(sandbox.marketo.leads)
    assert in_marketo > 0  # the batch handed over when the signal came was sent
    assert counts["leads_created"] == in_marketo  # ... and recorded as Marketo answered it

    monkeypatch.setattr(ThreadPoolExecutor, "submit", submit)
    again = invoke("backfill-leads", str(people), "--json", env=env)
    assert again.exit_code == 0, again.stderr
    counts = json.loads(again.stdout)["counts"]
    assert counts["leads_unchanged"] == in_marketo  # not sent a second time
    assert counts["leads_created"] == 900 - in_marketo
    assert len(sandbox.marketo.leads) == 900
