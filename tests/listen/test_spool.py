"""The spool on its own: group commits, duplicates, the disk bound, done events, a reopened file."""

from __future__ import annotations

import sqlite3
import stat
from concurrent.futures import wait

import pytest

from segmarketo_cli.listen.spool import Event, Spool, SpoolFull


def _event(n: int, size: int = 10) -> Event:
    return Event(f"m-{n}", "identify", "x" * size)


def test_concurrent_requests_are_committed_and_counted_once(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite", max_bytes=1_000_000)
    futures = [spool.append([_event(n), _event(n + 1000)]) for n in range(200)]
    wait(futures)
    assert sum(future.result() for future in futures) == 400
    assert spool.pending == 400
    assert spool.append([_event(5)]).result() == 0
    assert spool.duplicates == 1
    spool.close()
    assert stat.S_IMODE((tmp_path / "spool.sqlite").stat().st_mode) == 0o600


def test_the_disk_bound_refuses_without_writing(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite", max_bytes=25)
    assert spool.append([_event(1), _event(2)]).result() == 2
    with pytest.raises(SpoolFull):
        spool.append([_event(3)])
    assert spool.pending == 2
    spool.close()


def test_done_events_free_the_bound_but_still_turn_retries_away(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite", max_bytes=25)
    spool.append([_event(1), _event(2)]).result()
    spool.mark_done([event.seq for event in spool.oldest(10)])
    assert spool.pending == 0
    assert spool.pending_bytes == 0
    assert spool.append([_event(1)]).result() == 0
    assert spool.append([_event(3)]).result() == 1
    spool.close()


def test_a_reopened_spool_knows_what_waits(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite", max_bytes=1000)
    spool.append([_event(1), _event(2, size=30)]).result()
    spool.close()
    again = Spool(tmp_path / "spool.sqlite", max_bytes=1000)
    assert (again.pending, again.pending_bytes) == (2, 40)
    assert [event.message_id for event in again.oldest(10)] == ["m-1", "m-2"]
    again.close()


def test_requests_that_arrive_during_a_commit_share_the_next_one(tmp_path):
    spool = Spool(tmp_path / "spool.sqlite", max_bytes=1_000_000)
    blocker = sqlite3.connect(tmp_path / "spool.sqlite", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the writer's first transaction waits for it
    futures = [spool.append([_event(n)]) for n in range(100)]
    blocker.execute("COMMIT")
    blocker.close()
    wait(futures)
    assert sum(future.result() for future in futures) == 100
    assert spool.commits <= 2  # the group the writer took before it waited, then every other request at once
    spool.close()
