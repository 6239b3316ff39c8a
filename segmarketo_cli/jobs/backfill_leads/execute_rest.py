"""Apply a backfill plan over REST: 300 leads per Sync Leads call, concurrent within the limiter, results by
position, hashes stored only after Marketo confirmed, Munchkin cookies associated once, clean stop on 607."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import AuthError, ExitCode, SegmarketoError
from segmarketo_cli.jobs.backfill_leads.plan import Candidate
from segmarketo_cli.jobs.batches import batches, first_reason, positional
from segmarketo_cli.jobs.interrupts import held
from segmarketo_cli.marketo.base import MAX_BATCH
from segmarketo_cli.marketo.codes import with_partition_advice
from segmarketo_cli.marketo.exceptions import MarketoPayloadTooLarge

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient
    from segmarketo_cli.state import StateStore

log = logging.getLogger("segmarketo.backfill")

DUPLICATE_ADVICE = "merge the duplicate leads in Marketo, or sync by id (--lookup-field id is update-only)"


@dataclass
class Outcome:
    """What Marketo said about one lead: created/updated with an id, or rejected with code and message."""

    candidate: Candidate
    status: str  # created | updated | rejected
    lead_id: int | None = None
    code: str | None = None
    message: str | None = None


@dataclass
class BatchResult:
    """One Sync Leads batch: an outcome per lead, the cookies it associated, and a stop error if one came."""

    outcomes: list[Outcome] = field(default_factory=list)
    cookies_associated: int = 0
    cookie_errors: list[str] = field(default_factory=list)
    stop: SegmarketoError | None = None  # a run-stopping error met after the sync itself succeeded


class CookieLinker:
    """Associate Lead once per (cookie, lead) pair, remembered in the state store across runs."""

    def __init__(self, client: MarketoClient, store: StateStore) -> None:
        self.client = client
        self.store = store
        self.instance = client.instance

    def link(self, pairs: list[tuple[str, int]], result: BatchResult) -> None:
        if not pairs:
            return
        done = self.store.associated_cookies(self.instance, pairs)
        for cookie, lead_id in pairs:
            if (cookie, lead_id) in done:
                continue
            try:
                self.client.associate_lead(lead_id, cookie)
            except SegmarketoError as exc:
                if exc.exit_code == ExitCode.TEMPFAIL or isinstance(exc, AuthError):
                    result.stop = exc
                    return
                result.cookie_errors.append(f"cookie for lead {lead_id}: {exc.message}")
                continue
            self.store.remember_cookie(self.instance, cookie, lead_id)
            result.cookies_associated += 1


def sync_batch(client: MarketoClient, batch: Sequence[Candidate], *, lookup_field: str,
               linker: CookieLinker | None) -> BatchResult:
    """One Sync Leads call (halved on 413) and the cookie associations of the leads it confirmed."""
    result = BatchResult()
    _sync(client, batch, lookup_field, result)
    counts = Counter(o.status for o in result.outcomes)
    log.info("sync leads batch: %d leads, %d created, %d updated, %d rejected", len(batch), counts["created"],
             counts["updated"], counts["rejected"],
             extra={"data": {"event": "batch", "call": "sync_leads", "records": len(batch), **counts}})
    if linker is not None and result.stop is None:
        pairs = [(cookie, o.lead_id) for o in result.outcomes if o.lead_id and o.status != "rejected"
                 for cookie in o.candidate.cookies]
        linker.link(pairs, result)
    return result


def _sync(client: MarketoClient, batch: Sequence[Candidate], lookup_field: str, result: BatchResult) -> None:
    try:
        rows = client.sync_leads([c.fields for c in batch], action="createOrUpdate", lookup_field=lookup_field)
    except MarketoPayloadTooLarge as exc:
        if len(batch) == 1:
            result.outcomes.append(Outcome(batch[0], "rejected", code="413", message=exc.marketo_message))
            return
        half = len(batch) // 2
        _sync(client, batch[:half], lookup_field, result)
        _sync(client, batch[half:], lookup_field, result)
        return
    for candidate, row in positional(rows, batch):
        result.outcomes.append(_outcome(candidate, row))


def _outcome(candidate: Candidate, row: Mapping[str, Any] | None) -> Outcome:
    reason = first_reason(row)
    if row is None:
        return Outcome(candidate, "rejected", message=reason.message)
    status = row.get("status")
    if status in ("created", "updated"):
        return Outcome(candidate, status, lead_id=row.get("id"))
    code = reason.code
    # Every reason's message, not only the first: the rejects file shows all Marketo gave.
    message = "; ".join(str(r.get("message", "")) for r in row.get("reasons") or () if isinstance(r, Mapping)) \
        or f"status {status}"
    if code == "1007":
        message = f"{message} (duplicate leads in Marketo: {DUPLICATE_ADVICE})"
    message = with_partition_advice(code, message)
    return Outcome(candidate, "rejected", lead_id=row.get("id"), code=code, message=message)


class RestExecutor:
    """Runs batches on a thread pool sized to the limiter; each key is in exactly one batch, so a lookup
    value is never in two calls in flight. `on_result` runs on the calling thread, in completion order."""

    def __init__(self, client: MarketoClient, *, lookup_field: str, linker: CookieLinker | None,
                 on_result: Callable[[BatchResult], None], workers: int | None = None) -> None:
        self.client = client
        self.lookup_field = lookup_field
        self.linker = linker
        self.on_result = on_result
        limiter = getattr(client, "limiter", None)  # scripted test clients have none: one worker
        self.workers = workers or max(1, getattr(limiter, "max_concurrency", 1))

    def run(self, upserts: Iterable[Candidate]) -> Stopped | None:
        """Apply all upserts, drawn batch by batch from the stream. On a stop error (607, budget, auth, fatal) no
        new batch starts, in-flight batches are still recorded, and the returned Stopped names the error and how
        many candidates were not confirmed (those never sent are counted, not held). Interrupted (Ctrl-C, SIGTERM),
        it starts nothing more, records the batches in flight, then re-raises: handing a batch to the pool and
        settling one are held (interrupts.held), so no batch is left running that nobody records. When drawing the
        next batch fails (a Marketo read of the plan, a DuckDB query a signal ended), the batches in flight are
        recorded before that error is raised."""
        pending = batches(upserts, MAX_BATCH)
        stop: SegmarketoError | None = None
        interrupted: KeyboardInterrupt | None = None
        failure: Exception | None = None
        unconfirmed = 0
        running: dict[Future[BatchResult], Sequence[Candidate]] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="backfill") as pool:
            while True:
                try:
                    while stop is None and interrupted is None and failure is None and len(running) < self.workers:
                        todo, failure = _draw(pending)
                        if todo is None:
                            break
                        with held():
                            running[pool.submit(sync_batch, self.client, todo, lookup_field=self.lookup_field,
                                                linker=self.linker)] = todo
                    if not running:
                        break
                    with held():
                        done, _ = wait(running, return_when=FIRST_COMPLETED)
                        for future in done:
                            stop, lost = self._settle(future, running.pop(future), stop)
                            unconfirmed += lost
                except KeyboardInterrupt as interrupt:  # Ctrl-C, SIGTERM: record the batches sent, then stop
                    interrupted = interrupt
        if interrupted is not None:
            raise interrupted
        if failure is not None:
            raise failure
        if stop is None:
            return None
        return Stopped(stop, unconfirmed + sum(len(batch) for batch in pending))

    def _settle(self, future: Future[BatchResult], batch: Sequence[Candidate],
                stop: SegmarketoError | None) -> tuple[SegmarketoError | None, int]:
        """One finished batch recorded (on_result): the run's stop error, if any now, and how many candidates
        Marketo did not confirm."""
        try:
            result = future.result()
        except SegmarketoError as exc:
            return stop or exc, len(batch)
        self.on_result(result)
        return stop or result.stop, 0


def _draw(pending: Iterator[Sequence[Candidate]]) -> tuple[Sequence[Candidate] | None, Exception | None]:
    """The plan's next batch (None at its end), or None and the error that reading it raised."""
    try:
        return next(pending, None), None
    except Exception as exc:  # noqa: BLE001 - raised once the batches in flight are recorded
        return None, exc


@dataclass
class Stopped:
    """A run cut short: the error to re-raise and how many candidates Marketo did not confirm, those never sent
    included (deferred)."""

    error: SegmarketoError
    deferred: int
