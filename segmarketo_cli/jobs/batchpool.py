"""Run independent Marketo batch calls on a bounded thread pool; results come back to the calling thread."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from segmarketo_cli.jobs.interrupts import arrived, held

B = TypeVar("B")
R = TypeVar("R")


def workers_for(client: object, cap: int | None = None) -> int:
    """Threads worth running against `client`: its limiter's in-flight cap (1 for a client without a limiter)."""
    limiter = getattr(client, "limiter", None)
    workers = max(1, int(getattr(limiter, "max_concurrency", 1) or 1))
    return min(workers, cap) if cap else workers


def run_batches(call: Callable[[B], R], batches: Sequence[B], workers: int, *,
                in_order: bool = False) -> Iterator[tuple[B, R]]:
    """Yield `(batch, call(batch))` as calls finish, with at most `workers` calls in flight; with `in_order`, in
    the batches' order instead (a result waits for those of the batches before it).

    The client's shared limiter still decides when each call may go. The caller settles results on its own
    thread (report, state store and rejects file are not thread-safe). When a call raises, no further batch is
    started, the calls already running finish and are yielded, then the first error is raised. Ctrl-C and
    SIGTERM are held (interrupts.held) from the first call to the last result the caller settles: once one
    arrived no batch starts, the calls out are yielded, and it is raised at the end.
    """
    with held():
        yield from (_in_order if in_order else _results)(call, batches, workers)


def _in_order(call: Callable[[B], R], batches: Sequence[B], workers: int) -> Iterator[tuple[B, R]]:
    """`_results` in the batches' order. The results after a batch that failed or never started (a signal) come
    at the end, still in order, before the error is raised."""
    ready: dict[int, tuple[B, R]] = {}
    following = 0
    error: Exception | None = None
    try:
        for (index, batch), result in _results(lambda item: call(item[1]), list(enumerate(batches)), workers):
            ready[index] = (batch, result)
            while following in ready:
                yield ready.pop(following)
                following += 1
    except Exception as exc:  # noqa: BLE001 - raised once the calls that succeeded are yielded
        error = exc
    for index in sorted(ready):
        yield ready[index]
    if error is not None:
        raise error


def _results(call: Callable[[B], R], batches: Sequence[B], workers: int) -> Iterator[tuple[B, R]]:
    if workers <= 1 or len(batches) <= 1:
        for batch in batches:
            if arrived():
                return
            yield batch, call(batch)
        return
    pending = list(reversed(batches))
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=min(workers, len(batches)), thread_name_prefix="marketo-batch") as pool:
        running: dict[Future[R], B] = {}
        try:
            while running or (pending and error is None and not arrived()):
                while pending and error is None and not arrived() and len(running) < workers:
                    batch = pending.pop()
                    running[pool.submit(call, batch)] = batch
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    batch = running.pop(future)
                    exc = future.exception()
                    if exc is not None:
                        error = error or exc
                        continue
                    yield batch, future.result()
        finally:
            for future in running:  # the consumer stopped early: start nothing more
                future.cancel()
    if error is not None:
        raise error
