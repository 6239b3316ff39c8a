"""Ctrl-C and SIGTERM held while a batch is handed to a worker thread or its outcome is recorded.

The run's signal handlers (cli/signals.py) raise the first signal at once in the job's work, wherever the main
thread is. Inside `held()` they raise nothing: the signal is raised when the outermost `held()` ends, and
`arrived()` tells the code inside that it came (start no new call; settle the calls out). So an interrupt never
lands between a call Marketo confirmed and its record, nor inside `ThreadPoolExecutor.submit`, where it would leave
a batch running that nobody waits for (docs/errors.md, "Interruption: SIGINT and SIGTERM").
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Holder(Protocol):
    """What the run's signal handlers give `held()`."""

    def pending(self) -> bool:
        """Whether a signal arrived during the work and has not been raised."""

    def raise_pending(self) -> None:
        """Raise the signal that `pending` tells of (nothing when there is none)."""


_holder: Holder | None = None
_depth = 0


def install(holder: Holder | None) -> None:
    """The run's handlers (None: none installed); each run starts holding nothing."""
    global _holder, _depth
    _holder, _depth = holder, 0


def holding() -> bool:
    """Whether the main thread is inside `held()`: the handlers then raise nothing."""
    return _depth > 0


def arrived() -> bool:
    """Whether a signal arrived that the work has not been interrupted by (always False off the main thread, where
    no handler is installed)."""
    return _holder is not None and threading.current_thread() is threading.main_thread() and _holder.pending()


@contextmanager
def held() -> Iterator[None]:
    """No interrupt inside; one that arrived meanwhile is raised at the end of the outermost `held()` (not when
    the block ends with an exception of its own, which goes on instead: the next `held()` to end, or the end of the
    run's work, raises it then). Off the main thread it does nothing."""
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    holder = _holder  # a block that outlives its run (a generator closed later) leaves the next run's count alone
    _depth += 1
    try:
        yield
    finally:
        if _holder is holder:
            _depth = max(0, _depth - 1)
    if _depth == 0 and holder is not None and _holder is holder:
        holder.raise_pending()
