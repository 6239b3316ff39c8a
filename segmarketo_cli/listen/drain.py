"""The drain: as soon as `flush_events` events wait, or the oldest has waited `flush_seconds`, the oldest events (at
most `flush_events`) go through one flush; they are marked done only when the flush settled them, and a flush that
must wait (quota, Marketo down) is retried with backoff while the spool keeps accepting."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from segmarketo_cli.listen.metrics import Metrics
from segmarketo_cli.listen.spool import Spool, Spooled

log = logging.getLogger("segmarketo.listen")

BACKOFF_START_S, BACKOFF_MAX_S = 5.0, 300.0


@dataclass
class FlushResult:
    """What one flush settled: the spool seqs now done (applied, rejected to the rejects file, or ignored) and
    whether the rest must wait (`retry`: a TEMPFAIL such as Marketo's daily quota, or a failed run)."""

    done: list[int] = field(default_factory=list)
    retry: bool = False


Flush = Callable[[str, list[Spooled]], FlushResult]


def new_batch_id() -> str:
    """'b-' + 12 hex digits: names one flush in the logs and in its runs' context."""
    return f"b-{uuid.uuid4().hex[:12]}"


class Drainer:
    """The drain thread. A flush is due when `flush_events` events wait (it takes exactly that many: with a
    multiple of 300, identifies go out in full Sync Leads batches) or when the oldest pending event has waited
    `flush_seconds` (it takes what waits, so no event waits longer); after a flush that must wait, the next try
    comes after the backoff. `stop()` lets the current flush finish, then the thread ends (pending events stay
    spooled for the next start)."""

    def __init__(self, spool: Spool, flush: Flush, metrics: Metrics, *, flush_seconds: float, flush_events: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spool = spool
        self.flush = flush
        self.metrics = metrics
        self.flush_seconds = flush_seconds
        self.flush_events = flush_events
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="listen-drain", daemon=True)
        self.backoff_s = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        last = self.clock()
        while not self._stop.is_set():
            if not (self.clock() - last >= self.backoff_s and self.due()):
                self._stop.wait(0.1)
                continue
            last = self.clock()
            self.drain_once()

    def due(self) -> bool:
        """`flush_events` events wait, or the oldest has waited `flush_seconds`."""
        pending = self.spool.pending
        return pending >= self.flush_events or (pending > 0 and self.spool.oldest_age() >= self.flush_seconds)

    def drain_once(self) -> FlushResult:
        """One flush of the oldest events; settles what it applied and sets the backoff for what must wait."""
        batch = self.spool.oldest(self.flush_events)
        if not batch:
            return FlushResult()
        batch_id = new_batch_id()
        log.info("listen flush %s: %d event(s)", batch_id, len(batch),
                 extra={"data": {"event": "flush", "batch_id": batch_id, "events": len(batch)}})
        try:
            result = self.flush(batch_id, batch)
        except Exception:  # a bug must not stop the receiver: the events stay spooled and are retried
            log.exception("listen flush %s failed; its events stay spooled", batch_id)
            result = FlushResult(retry=True)
        self.spool.mark_done(result.done)
        self.backoff_s = min(max(self.backoff_s * 2, BACKOFF_START_S), BACKOFF_MAX_S) if result.retry else 0.0
        log.info("listen flush %s: %d done, %d kept%s", batch_id, len(result.done), len(batch) - len(result.done),
                 f", retry in {self.backoff_s:.0f} s" if result.retry else "",
                 extra={"data": {"event": "flushed", "batch_id": batch_id, "done": len(result.done),
                                 "kept": len(batch) - len(result.done), "retry": result.retry}})
        return result
