"""The run's signal handlers, the job frame on a signal, and the report of an interrupted run (in-process)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import click
import duckdb
import pytest

from segmarketo_cli import paths
from segmarketo_cli.cli.jobrun import run_job
from segmarketo_cli.cli.signals import Interrupted, run_signals
from segmarketo_cli.errors import ExitCode
from segmarketo_cli.jobs.batchpool import run_batches
from segmarketo_cli.jobs.report import RunReport
from tests.cli.test_basics import register  # noqa: F401 - the fixture that adds a probe command


def test_a_signal_outside_the_work_is_held_and_raised_when_the_work_starts():
    before = signal.getsignal(signal.SIGTERM)
    with run_signals() as signals:
        os.kill(os.getpid(), signal.SIGTERM)  # taking the locks, recording the start: nothing is raised
        assert signals.received == signal.SIGTERM
        with pytest.raises(Interrupted) as raised, signals.interruptible():
            pytest.fail("the work must not start once a signal came")
        assert raised.value.signum == signal.SIGTERM
        assert signals.exit_code == ExitCode.TERMINATED == 143
        assert signals.reason == "interrupted by SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_first_signal_interrupts_the_work_and_later_ones_are_held():
    with run_signals() as signals:
        with pytest.raises(KeyboardInterrupt), signals.interruptible():  # what every job's interrupt path catches
            os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)  # during the cleanup: held
        os.kill(os.getpid(), signal.SIGINT)
        assert signals.received == signal.SIGINT
        assert signals.exit_code == ExitCode.INTERRUPTED == 130
        assert signals.reason == "interrupted by SIGINT (Ctrl-C)"


def test_off_the_main_thread_nothing_is_installed():
    seen = {}

    def worker() -> None:
        with run_signals() as signals:
            seen["handler"] = signal.getsignal(signal.SIGTERM)
            seen["received"] = signals.received

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["handler"] is signal.getsignal(signal.SIGTERM)
    assert seen["received"] is None


def test_sigterm_during_an_engine_query_ends_the_run_interrupted_not_failed(invoke, register):  # noqa: F811
    @click.command("probe-query")
    @click.pass_obj
    def probe(app):
        def body(env):
            env.report.expect_balance("read", "done")
            env.report.add("read", 10)
            env.report.add("done", 4)
            env.rejects.write("not an e-mail", file="a.csv", line=3, field="email", value="x")
            env.engine()  # the run's engine folder, removed at the end however the run ends
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
            # DuckDB notices the signal between its tasks and ends the query with its own error ("Query
            # interrupted"), having run the handler itself: no Interrupted reaches the job
            duckdb.connect().execute("SELECT count(*) FROM range(100000000) a, range(10) b "
                                     "WHERE a.range * b.range % 7 = 3").fetchall()

        run_job(app, "probe-query", body, as_json=True)

    register(probe)
    before = signal.getsignal(signal.SIGTERM)
    result = invoke("probe-query")
    assert result.exit_code == 143
    report = json.loads(result.stdout)
    assert report["status"] == "interrupted"
    assert report["error"] == "interrupted by SIGTERM"
    assert report["not_reached"] == {"read": 6}
    rejects = Path(report["rejects_file"])  # what was written before the signal is flushed
    assert json.loads(rejects.read_text())["reason"] == "not an e-mail"
    assert not paths.engine_dir(paths.state_dir(), "default").exists()
    assert "internal error" not in result.stderr
    assert signal.getsignal(signal.SIGTERM) is before
    statuses = [run["status"] for run in json.loads(invoke("runs", "list", "--json").stdout)]
    assert statuses == ["interrupted"]


def test_run_batches_yields_the_calls_in_flight_when_interrupted_then_re_raises():
    started: list[int] = []
    release = threading.Event()

    def call(n: int) -> int:
        started.append(n)
        release.wait(10)
        return n * 10

    def interrupt_once_two_calls_are_in_flight() -> None:
        while len(started) < 2:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)  # the main thread is waiting for the calls: the handler runs there
        release.set()

    got = []
    with run_signals() as signals:
        threading.Thread(target=interrupt_once_two_calls_are_in_flight).start()
        with pytest.raises(Interrupted), signals.interruptible():
            for batch, result in run_batches(call, [1, 2, 3, 4, 5, 6], workers=2):
                got.append((batch, result))
    assert sorted(started) == [1, 2]  # nothing new started after the signal
    assert sorted(got) == [(1, 10), (2, 20)]  # the calls in flight were handed back to be recorded


def interrupted_report() -> RunReport:
    report = RunReport(command="backfill-leads")
    report.expect_balance("messages_read", "kept", "ignored")
    report.expect_balance("leads_planned", "leads_created", "leads_updated")
    report.add("messages_read", 1500)
    report.add("kept", 1500)
    report.add("leads_planned", 1500)
    report.add("leads_created", 300)
    report.error = "interrupted by SIGTERM"
    report.forced_status = "interrupted"
    return report


def test_an_interrupted_report_says_what_was_not_reached_instead_of_imbalances():
    data = interrupted_report().to_dict()
    assert data["status"] == "interrupted"
    assert "imbalances" not in data
    assert data["not_reached"] == {"leads_planned": 1200}
    assert data["notes"] == ["stopped before the end: 1,200 of leads planned not reached (a re-run takes them up)"]


def test_an_interrupted_report_that_adds_up_has_no_not_reached_and_a_finished_one_keeps_its_imbalances():
    report = interrupted_report()
    report.add("leads_updated", 1200)
    data = report.to_dict()
    assert "not_reached" not in data
    assert "notes" not in data
    report.add("leads_updated", -1300)
    report.forced_status = None
    report.error = None
    data = report.to_dict()
    assert data["imbalances"] == ["leads_planned=1500 but leads_created + leads_updated=200"]
    assert "not_reached" not in data
