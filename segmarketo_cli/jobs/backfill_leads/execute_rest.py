"""Apply a backfill plan over REST: 300 leads per Sync Leads call, concurrent within the limiter, results by
position, hashes stored only after Marketo confirmed, Munchkin cookies associated once, clean stop on 607."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.errors import SegmarketoError
from segmarketo_cli.jobs.backfill_leads.plan import Candidate
from segmarketo_cli.marketo.codes import with_partition_advice
from segmarketo_cli.marketo.exceptions import MarketoPayloadTooLarge

log = logging.getLogger("segmarketo.backfill")

BATCH = 300
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
    outcomes: list[Outcome] = field(default_factory=list)
    cookies_associated: int = 0
    cookie_errors: list[str] = field(default_factory=list)
    stop: SegmarketoError | None = None  # a run-stopping error met after the sync itself succeeded


class CookieLinker:
    """Associate Lead once per (cookie, lead) pair, remembered in the state store across runs."""

    def __init__(self, client: Any, store: Any) -> None:
        self.client = client
        self.store = store
        self.instance = getattr(client, "instance", "")

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
                if exc.exit_code == 75 or type(exc).__name__ == "AuthError":
                    result.stop = exc
                    return
                result.cookie_errors.append(f"cookie for lead {lead_id}: {exc.message}")
                continue
            self.store.remember_cookie(self.instance, cookie, lead_id)
            result.cookies_associated += 1


def sync_batch(client: Any, batch: list[Candidate], *, lookup_field: str, linker: CookieLinker | None) -> BatchResult:
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


def _sync(client: Any, batch: list[Candidate], lookup_field: str, result: BatchResult) -> None:
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
    for index, candidate in enumerate(batch):
        row = rows[index] if index < len(rows) else None
        result.outcomes.append(_outcome(candidate, row))


def _outcome(candidate: Candidate, row: dict[str, Any] | None) -> Outcome:
    if not isinstance(row, dict):
        return Outcome(candidate, "rejected", code=None, message="Marketo returned no result for this record")
    status = row.get("status")
    if status in ("created", "updated"):
        return Outcome(candidate, status, lead_id=row.get("id"))
    reasons = row.get("reasons") or [{}]
    first = reasons[0] if isinstance(reasons[0], dict) else {}
    code = str(first.get("code")) if first.get("code") is not None else None
    message = "; ".join(str(r.get("message", "")) for r in reasons if isinstance(r, dict)) or f"status {status}"
    if code == "1007":
        message = f"{message} (duplicate leads in Marketo: {DUPLICATE_ADVICE})"
    message = with_partition_advice(code, message)
    return Outcome(candidate, "rejected", lead_id=row.get("id"), code=code, message=message)


class RestExecutor:
    """Runs batches on a thread pool sized to the limiter; each key is in exactly one batch, so a lookup
    value is never in two calls in flight. `on_result` runs on the calling thread, in completion order."""

    def __init__(self, client: Any, *, lookup_field: str, linker: CookieLinker | None,
                 on_result: Callable[[BatchResult], None], workers: int | None = None) -> None:
        self.client = client
        self.lookup_field = lookup_field
        self.linker = linker
        self.on_result = on_result
        limiter = getattr(client, "limiter", None)
        self.workers = workers or max(1, getattr(limiter, "max_concurrency", 1))

    def run(self, upserts: list[Candidate]) -> Stopped | None:
        """Apply all upserts. On a stop error (607, budget, auth, fatal) no new batch starts, in-flight batches
        are still recorded, and the returned Stopped names the error and every candidate not confirmed."""
        batches = [upserts[i : i + BATCH] for i in range(0, len(upserts), BATCH)]
        pending = list(reversed(batches))
        stop: SegmarketoError | None = None
        unconfirmed: list[Candidate] = []
        running: dict[Future, list[Candidate]] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="backfill") as pool:
            while pending or running:
                while pending and stop is None and len(running) < self.workers:
                    batch = pending.pop()
                    future = pool.submit(sync_batch, self.client, batch, lookup_field=self.lookup_field,
                                         linker=self.linker)
                    running[future] = batch
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    batch = running.pop(future)
                    try:
                        result = future.result()
                    except SegmarketoError as exc:
                        stop = stop or exc
                        unconfirmed.extend(batch)
                        continue
                    self.on_result(result)
                    if result.stop is not None:
                        stop = stop or result.stop
        if stop is None:
            return None
        unconfirmed.extend(c for batch in reversed(pending) for c in batch)
        return Stopped(stop, unconfirmed)


@dataclass
class Stopped:
    """A run cut short: the error to re-raise and the candidates Marketo did not confirm (deferred)."""

    error: SegmarketoError
    unconfirmed: list[Candidate]
