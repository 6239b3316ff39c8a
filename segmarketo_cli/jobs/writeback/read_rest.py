"""Reading activities over REST: Get Lead Activities paging per ≤10-type stream, split into time slices read in
parallel when the first page shows there is much to read."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from segmarketo_cli.jobs.batches import chunks
from segmarketo_cli.jobs.writeback.activity import activity_from_rest, parse_record, safe_date
from segmarketo_cli.jobs.writeback.execute import Pipeline, Position
from segmarketo_cli.jobs.writeback.plan import iso_seconds

if TYPE_CHECKING:
    from segmarketo_cli.marketo.activities import ActivityPage
    from segmarketo_cli.marketo.client import MarketoClient

log = logging.getLogger("segmarketo.writeback")

# Get Lead Activities: at most 10 activityTypeIds per call, and a page scans up to 300 activities
# (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/activities).
MAX_TYPE_IDS_PER_CALL = 10
ACTIVITIES_PER_PAGE = 300
MAX_EMPTY_PAGES = 1_000  # consecutive empty pages (300 activities of other types each) before giving up on paging
MIN_PAGES_PER_SLICE = 10  # a slice costs a paging-token call and part of a page (<= 15% more calls)
READ_AHEAD_PAGES = 64  # pages fetched but not yet processed (bounds memory while lookups and sends run)
SLICE = "#"  # stream key of slice i: "<type ids>#<i>"; the stored cursor holds the earliest unfinished slice


def type_groups(type_ids: Sequence[int]) -> list[list[int]]:
    """Sorted type ids in groups of ≤10 (Get Lead Activities' limit); each group is one paging stream."""
    return [list(group) for group in chunks(sorted(set(type_ids)), MAX_TYPE_IDS_PER_CALL)]


def stream_key(group: Sequence[int]) -> str:
    """The stream's name in the stored cursor: its type ids, comma separated."""
    return ",".join(str(i) for i in group)


@dataclass
class RestResult:
    """What a REST read did: pages read, time slices, and the streams the empty-page cap stopped."""

    pages: int = 0
    slices: int = 0
    # Per type stream the empty-page cap stopped: the earliest date its paging position is known to have reached
    # (None when the stored position has no date). The caller reads the rest of the window another way.
    capped_streams: dict[str, str | None] = field(default_factory=dict)


@dataclass
class _Slice:
    """One part of a stream: read from `token` (skipping through `after`) until an activity reaches `end`."""

    stream: str
    group: list[int]
    token: str
    after: str | None
    end: datetime | None  # exclusive; None: the stream's last slice, which reads up to `until`
    position: Position = field(default_factory=dict)
    start: datetime | None = None  # a later slice gets its paging token for this moment on its own thread
    # The latest date the slice's token is known to have passed (its start, then each activity read), kept in
    # its positions so that a run stopped by the empty-page cap knows where Bulk Extract must take over.
    date: str | None = None

    def at(self, token: str, after: str | None) -> Position:
        position: Position = {"token": token, "after": after}
        if self.date:
            position["date"] = self.date
        return position


def slice_streams(key: str, positions: dict[str, Position]) -> list[tuple[int, Position]]:
    """(slice index, position) of every slice of stream `key`, in time order."""
    found = [(int(k.rpartition(SLICE)[2]), p) for k, p in positions.items() if k.rpartition(SLICE)[0] == key]
    return sorted(found, key=lambda item: item[0])


def collapse(positions: dict[str, Position]) -> dict[str, Position]:
    """Per type stream, the position of its earliest unfinished slice: everything before it was accepted.

    Activities of later slices already delivered are read again after a crash; their messageIds are unchanged,
    so Segment drops them as duplicates.
    """
    result: dict[str, Position] = {}
    for key in {k.rpartition(SLICE)[0] or k for k in positions}:
        slices = slice_streams(key, positions)
        if not slices:
            result[key] = positions[key]
            continue
        chosen = next((p for _, p in slices if not p.get("done")), slices[-1][1])
        result[key] = {k: chosen[k] for k in ("token", "after", "date") if k in chosen}
        result[key].setdefault("after", None)
    return result


def read_rest(
    client: MarketoClient,
    pipeline: Pipeline,
    starts: dict[str, Position],
    until: datetime,
    *,
    max_empty_pages: int | None = None,
    workers: int = 1,
    prefetch: Callable[[Iterable[int]], None] | None = None,
) -> RestResult:
    """Page every stream from its start position until `moreResult` is false or an activity passes `until`.

    A position is `{"token": T, "after": G}`: fetch the page at T and skip through the activity G (when G is
    in that page; otherwise the whole page is processed again, which messageIds make harmless). After a
    stream's first dated page, the rest of its window may be split into up to `workers` time slices, each
    read from its own paging token on its own thread; pages are still processed on this thread. Slice threads
    hand the lead ids of each page to `prefetch`, so identities are looked up while pages are still being read.

    After `max_empty_pages` (default MAX_EMPTY_PAGES) empty pages in a row a slice stops; `capped_streams` then
    says from which date the rest of that stream's window is still unread.
    """
    reader = _Reader(client, pipeline, until, max_empty_pages or MAX_EMPTY_PAGES, workers, prefetch)
    for key, start in starts.items():  # every stream keeps its place in the cursor even if this run stops early
        pipeline.advance(f"{key}{SLICE}0", dict(start))
    for key, start in starts.items():
        reader.stream(key, start)
    for piece in reader.capped:
        key = piece.stream.rpartition(SLICE)[0]
        known = reader.result.capped_streams.get(key, piece.date)
        reader.result.capped_streams[key] = None if known is None or piece.date is None else min(known, piece.date)
    return reader.result


class _Stop(Exception):
    """Raised in a slice thread when the run is being torn down."""


class _Reader:
    """The streams of one run, read one after the other; each may fan out into parallel time slices."""

    def __init__(self, client: MarketoClient, pipeline: Pipeline, until: datetime, max_empty: int,
                 workers: int, prefetch: Callable[[Iterable[int]], None] | None) -> None:
        self.client = client
        self.prefetch = prefetch
        self.pipeline = pipeline
        self.until = until
        self.max_empty = max_empty
        self.workers = max(1, workers)
        self.result = RestResult()
        self.capped: list[_Slice] = []

    # one stream ---------------------------------------------------------------------------------------
    def stream(self, key: str, start: Position) -> None:
        """Read the first page(s) here; once a page shows the pace of activity, maybe split the rest."""
        group = [int(i) for i in key.split(",")]
        first = _Slice(f"{key}{SLICE}0", group, start["token"], start.get("after"), None, dict(start),
                       date=start.get("date"))
        self.result.slices += 1
        empty_run = 0
        while True:
            page = self.client.get_lead_activities(first.token, group)
            token = first.token
            if self._passes(page.activities, None) or not page.more_result:
                self._process(first, token, page)
                return
            first.token = page.next_token or first.token
            # Decided before this page is processed (which may look leads up), so the slices start at once.
            slices = self._split(first, page)
            if slices:
                self._parallel(slices, (first, token, page))
                return
            self._process(first, token, page)
            empty_run = 0 if page.activities else empty_run + 1
            if self._capped(empty_run, first):
                return

    def _split(self, first: _Slice, page: ActivityPage) -> list[_Slice]:
        """Time slices for the rest of the window, or [] when it is too little to be worth the extra calls."""
        dates = [d for d in (safe_date(r.get("activityDate")) for r in page.activities if isinstance(r, dict)) if d]
        if self.workers < 2 or not dates or max(dates) >= self.until:
            return []
        low, high = min(dates), max(dates)
        per_second = len(dates) / max((high - low).total_seconds(), 1.0)
        pages_left = per_second * (self.until - high).total_seconds() / ACTIVITIES_PER_PAGE
        count = min(self.workers, int(pages_left // MIN_PAGES_PER_SLICE))
        if count < 2:
            return []
        # Slice edges are whole seconds (activity dates have no more). A paging token for an edge starts at the
        # first activity dated at or after it, and each slice stops at its first activity dated at or after the
        # next edge; that Marketo pages in date order is what the whole reader assumes (UNCONFIRMED for
        # activities written late), and a repeat across an edge would only be a duplicate messageId.
        step = (self.until - high) / count
        edges = sorted({(high + step * i).replace(microsecond=0) + timedelta(seconds=1) for i in range(1, count)})
        edges = [edge for edge in edges if edge < self.until]
        if not edges:
            return []
        key = first.stream.rpartition(SLICE)[0]
        first.end = edges[0]
        slices = [first]
        for index, edge in enumerate(edges, start=1):
            end = edges[index] if index < len(edges) else None
            # Until it has its own token, a slice stands at the first slice's current place, so the stored cursor
            # never passes the activities of a slice not read yet.
            later = _Slice(f"{key}{SLICE}{index}", first.group, "", None, end, first.at(first.token, None),
                           start=edge, date=first.date)
            self.pipeline.advance(later.stream, dict(later.position))
            slices.append(later)
        log.info("reading the rest of activity stream %s in %d time slices from %s", key, len(slices),
                 high.isoformat())
        self.result.slices += len(slices) - 1
        return slices

    # parallel slices ------------------------------------------------------------------------------------
    def _parallel(self, slices: list[_Slice], first_page: tuple[_Slice, str, ActivityPage]) -> None:
        pages: queue.Queue[tuple[_Slice, str, Any]] = queue.Queue(maxsize=READ_AHEAD_PAGES)
        stop = threading.Event()
        threads = [threading.Thread(target=self._fetch, args=(s, pages, stop), name=f"activities-{s.stream}",
                                    daemon=True) for s in slices]
        for thread in threads:
            thread.start()
        running = len(slices)
        try:
            self._process(*first_page)
            while running:
                piece, token, page = pages.get()
                if isinstance(page, BaseException):
                    raise page
                if page is None:  # the slice has finished (token "capped" when the empty-page cap ended it)
                    running -= 1
                    if token != "capped" and piece.end is not None:
                        self.pipeline.advance(piece.stream, {**piece.position, "done": True})
                    continue
                if token == "start":
                    assert piece.start is not None
                    piece.date = iso_seconds(piece.start)
                    piece.position = piece.at(page, None)
                    self.pipeline.advance(piece.stream, dict(piece.position))
                    continue
                self._process(piece, token, page)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)

    def _fetch(self, piece: _Slice, pages: queue.Queue[tuple[_Slice, str, Any]], stop: threading.Event) -> None:
        """Slice thread: fetch pages in order and hand them to the processing thread."""

        def put(item: tuple[_Slice, str, Any]) -> None:
            while True:
                if stop.is_set():
                    raise _Stop
                try:
                    pages.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

        try:
            if piece.start is not None:
                piece.token = self.client.get_paging_token(piece.start)
                put((piece, "start", piece.token))
            empty_run = 0
            while True:
                token = piece.token
                page = self.client.get_lead_activities(token, piece.group)
                if self.prefetch is not None:
                    self.prefetch(row["leadId"] for row in page.activities
                                  if isinstance(row, dict) and isinstance(row.get("leadId"), int))
                put((piece, token, page))
                if self._passes(page.activities, piece.end) or not page.more_result:
                    break
                piece.token = page.next_token or token
                empty_run = 0 if page.activities else empty_run + 1
                if self._capped(empty_run, piece):
                    put((piece, "capped", None))
                    return
            put((piece, "", None))
        except _Stop:
            return
        except BaseException as exc:  # handed to the processing thread, which raises it
            try:
                put((piece, "", exc))
            except _Stop:
                return

    # pages ------------------------------------------------------------------------------------------------
    def _process(self, piece: _Slice, token: str, page: ActivityPage) -> bool:
        """Feed one page's activities to the pipeline, which takes them in before the next call; True when an
        activity passed the slice's end."""
        passed = self._feed(piece, token, page)
        self.pipeline.drain()
        return passed

    def _feed(self, piece: _Slice, token: str, page: ActivityPage) -> bool:
        self.result.pages += 1
        rows = page.activities
        begin = _index_after(rows, piece.after)
        previous = piece.after if begin else None
        piece.after = None
        stream = piece.stream
        for raw in rows[begin:]:
            guid = raw.get("marketoGUID") if isinstance(raw, dict) else None
            moment = safe_date(raw.get("activityDate")) if isinstance(raw, dict) else None
            if moment is not None and self._beyond(moment, piece.end):
                return True
            item = parse_record(activity_from_rest, raw)
            self.pipeline.add(stream, piece.at(token, previous), item, origin=f"activities page {self.result.pages}")
            previous = str(guid) if guid else previous
            if moment is not None:
                piece.date = max(piece.date or "", iso_seconds(moment))
            piece.position = piece.at(token, previous)
            self.pipeline.advance(stream, dict(piece.position))
        piece.position = piece.at(page.next_token or token, None)
        self.pipeline.advance(stream, dict(piece.position))
        return False

    def _beyond(self, moment: datetime, end: datetime | None) -> bool:
        return moment > self.until or (end is not None and moment >= end)

    def _passes(self, rows: list[Any], end: datetime | None) -> bool:
        for raw in rows:
            moment = safe_date(raw.get("activityDate")) if isinstance(raw, dict) else None
            if moment is not None and self._beyond(moment, end):
                return True
        return False

    def _capped(self, empty_run: int, piece: _Slice) -> bool:
        if empty_run < self.max_empty:
            return False
        self.capped.append(piece)
        log.warning("activity stream %s: stopped paging after %d empty pages in a row (a busy instance)",
                    piece.stream, empty_run)
        return True


def _index_after(rows: list[Any], guid: str | None) -> int:
    """Index just past the activity `guid` in `rows`, or 0 when it is absent."""
    if guid is None:
        return 0
    for index, raw in enumerate(rows):
        if isinstance(raw, dict) and str(raw.get("marketoGUID")) == guid:
            return index + 1
    return 0
