"""Progress on a terminal's stderr: bars with a percentage and an ETA, and a line naming the wait the run is in."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from segmarketo_cli.sources.meter import METER, ReadPosition
from segmarketo_cli.waits import BOARD, Wait, WaitBoard

WAIT_SHOWN_AFTER_S = 1.0  # shorter waits (most of the rate window's) would only flicker
WAIT_REFRESH_S = 0.5


def clock(seconds: float) -> str:
    """Elapsed or remaining time as 0:07, 1:10 or 1:02:03."""
    minutes, secs = divmod(max(int(seconds), 0), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def eta(fraction: float, elapsed: float) -> str | None:
    """Time left when `fraction` of the work took `elapsed` seconds, at the same pace (None: too early to say)."""
    if fraction <= 0 or elapsed <= 0:
        return None
    return clock(elapsed * (1 - min(fraction, 1.0)) / fraction)


def count_text(desc: str, count: int, unit: str, position: ReadPosition | None, elapsed: float) -> str:
    """A bar without a known total: 'reading 120,000 msg · 43% · ETA 0:12' while input files are being read
    (bytes read of their size), else 'reading 120,000 msg'."""
    text = f"{desc} {count:,} {unit}"
    if position is None or position.total <= 0:
        return text
    text += f" · {position.fraction:.0%}"
    left = eta(position.fraction, elapsed)
    return text + (f" · ETA {left}" if left else "")


def wait_text(wait: Wait, now: float) -> str:
    """'bulk import queued 0:42': the wait's name and how long it has lasted."""
    return f"{wait.label} {clock(now - wait.since)}"


class CountBar:
    """A counting bar (total unknown) showing `count_text`; tqdm draws it and limits how often."""

    def __init__(self, desc: str, unit: str, *, position: Callable[[], ReadPosition | None] = METER.position) -> None:
        self.desc, self.unit, self.count = desc, unit, 0
        self._position = position
        self._bar = tqdm(total=None, bar_format="{desc}", leave=False, desc=desc)
        self._started = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.count += n
        text = count_text(self.desc, self.count, self.unit, self._position(), time.monotonic() - self._started)
        self._bar.set_description_str(text, refresh=False)
        self._bar.update(n)

    def __enter__(self) -> CountBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()


def progress_factory(enabled: bool) -> Callable[..., Any]:
    """JobContext.progress: tqdm's bar when the total is known (it shows the percentage and ETA), a CountBar when
    not; silent bars when not `enabled` (stderr is no terminal, or --quiet)."""
    def progress(total: int | None, desc: str, unit: str = "rec") -> Any:
        if enabled and total is None:
            return CountBar(desc, unit)
        return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False)
    return progress


class WaitLine:
    """A thread that shows the board's current wait on its own line while it lasts, and clears it after."""

    def __init__(self, board: WaitBoard = BOARD) -> None:
        self._board = board
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="segmarketo-wait-line", daemon=True)
        self._bar: tqdm | None = None

    def _run(self) -> None:
        while not self._stop.wait(WAIT_REFRESH_S):
            self.refresh(time.monotonic())
        self.refresh(None)

    def refresh(self, now: float | None) -> None:
        """Show the current wait as of `now` (None: clear the line)."""
        wait = self._board.current() if now is not None else None
        if wait is None or now is None or now - wait.since < WAIT_SHOWN_AFTER_S:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            return
        if self._bar is None:
            self._bar = tqdm(total=None, bar_format="{desc}", leave=False)
        self._bar.set_description_str(wait_text(wait, now))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def showing_waits(enabled: bool) -> Iterator[None]:
    """While the block runs, name on stderr the wait the run is in (when `enabled`: a terminal, not --quiet)."""
    if not enabled:
        yield
        return
    line = WaitLine()
    line.start()
    try:
        yield
    finally:
        line.stop()
