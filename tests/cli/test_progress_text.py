"""Progress text on a terminal: clock, ETA, counting bars with the read percentage, the named wait line."""

from __future__ import annotations

import io

import pytest
from tqdm import tqdm

from segmarketo_cli.cli import progress as progress_module
from segmarketo_cli.cli.progress import (
    CountBar,
    WaitLine,
    clock,
    count_text,
    eta,
    progress_factory,
    showing_waits,
    wait_text,
)
from segmarketo_cli.sources.meter import ReadPosition
from segmarketo_cli.waits import Wait, WaitBoard


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0:00"), (7.9, "0:07"), (70, "1:10"), (3600 + 2 * 60 + 3, "1:02:03"), (-5, "0:00"),
])
def test_clock(seconds, text):
    assert clock(seconds) == text


def test_eta_extrapolates_the_pace_so_far():
    assert eta(0.25, 30) == "1:30"
    assert eta(1.0, 30) == "0:00"
    assert eta(0.0, 30) is None
    assert eta(0.5, 0) is None


def test_count_text_with_and_without_a_read_position():
    assert count_text("reading", 120_000, "msg", None, 5.0) == "reading 120,000 msg"
    assert count_text("reading", 120_000, "msg", ReadPosition(43, 100), 43.0) == "reading 120,000 msg · 43% · ETA 0:57"
    assert count_text("reading", 5, "msg", ReadPosition(0, 100), 0.0) == "reading 5 msg · 0%"
    assert count_text("activities", 9, "act", ReadPosition(0, 0), 1.0) == "activities 9 act"


def test_wait_text_names_the_wait_and_its_length():
    assert wait_text(Wait("bulk import queued", 100.0), 142.5) == "bulk import queued 0:42"
    assert wait_text(Wait("waiting for Marketo's rate window", 10.0), 17.0) == "waiting for Marketo's rate window 0:07"
    assert wait_text(Wait("bulk extract processing", 0.0), 70.0) == "bulk extract processing 1:10"


def test_count_bar_shows_count_percentage_and_eta(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(progress_module, "tqdm", lambda **kw: tqdm(file=out, mininterval=0, **kw))
    with CountBar("reading", "msg", position=lambda: ReadPosition(50, 100)) as bar:
        bar.update(10_000)
        bar.update(10_000)
    assert "reading 20,000 msg · 50% · ETA " in out.getvalue()


def test_factory_bars_are_silent_when_disabled(capsys):
    progress = progress_factory(False)
    with progress(None, "reading", unit="msg") as bar:
        bar.update(5)
    with progress(10, "upserting", unit="lead") as bar:
        bar.update(10)
    assert capsys.readouterr().err == ""


def test_factory_gives_a_count_bar_only_when_the_total_is_unknown():
    progress = progress_factory(True)
    with progress(None, "reading", unit="msg") as counting:
        assert isinstance(counting, CountBar)
    with progress(3, "upserting", unit="lead") as known:
        assert isinstance(known, tqdm)


def test_wait_line_shows_a_wait_after_a_second_and_clears_it(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(progress_module, "tqdm", lambda **kw: tqdm(file=out, mininterval=0, **kw))
    board = WaitBoard()
    line = WaitLine(board)
    with board.waiting("bulk import queued", since=100.0):
        line.refresh(100.5)  # too short to show
        assert out.getvalue() == ""
        line.refresh(142.0)
        assert "bulk import queued 0:42" in out.getvalue()
    line.refresh(143.0)
    assert out.getvalue().endswith("\r")  # tqdm's leave=False clears the line when it closes
    assert line._bar is None


def test_showing_waits_does_nothing_when_disabled(capsys):
    with showing_waits(False):
        pass
    assert capsys.readouterr().err == ""
