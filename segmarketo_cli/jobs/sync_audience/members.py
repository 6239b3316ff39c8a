"""The list's current members: paged, or one Bulk Lead Extract for a large list (reads only)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmarketo_cli.engine import Columns, create, insert_rows
from segmarketo_cli.errors import MarketoError
from segmarketo_cli.jobs.extract_file import csv_rows, downloaded_extract
from segmarketo_cli.jobs.sync_audience.resolve import normalise
from segmarketo_cli.jobs.sync_audience.tables import BATCH_ROWS, scalar
from segmarketo_cli.marketo.bulk import EXTRACT_POLL_INTERVAL_S
from segmarketo_cli.waits import waiting

if TYPE_CHECKING:
    import duckdb

    from segmarketo_cli.jobs.sync_audience.session import SyncSession

log = logging.getLogger("segmarketo.audience")

EXTRACT_POLL_S = (EXTRACT_POLL_INTERVAL_S,)  # Adobe: poll an export's status at most once a minute
POLL_TIMEOUT_S = 6 * 3600
LIST_SIZE_TTL_S = 30 * 86400
MEMBER_SCHEMA = Columns(("seq", "int64"), ("lead_id", "int64"), ("email_text", "string"), ("email_key", "string"),
                        ("user_key", "string"))


def member_fields(session: SyncSession) -> list[str]:
    """id and email, plus the user id field and the lookup field when they are others."""
    fields = ["id", "email"]
    for extra in (session.profile.user_id_field, session.profile.lookup_field):
        if extra and extra not in fields:
            fields.append(extra)
    return fields


def read_members(session: SyncSession, con: duckdb.DuckDBPyConnection, people: int, spill: Path) -> int:
    """Page the list, or one Bulk Lead Extract when it is probably above --bulk-threshold, into the engine's
    table `members` (lead_id, email_text, email_key, user_key); returns how many members it has. An extract file
    waits in `spill` (the engine's folder) while it is read.

    Marketo gives no member count up front: the estimate is the size seen on the last run, or in mirror
    mode the audience size (the list is about to match it).
    """
    assert session.list_id is not None  # find_list found it; a list still to create has no members
    size_key = f"audience:list-size:{session.list_id}"
    known = int(session.store.cache_get(session.instance, size_key) or 0)
    estimate = max(known, people if session.mode == "mirror" else 0)
    rows: Iterable[dict[str, Any]]
    if estimate > session.options.extract_threshold:
        rows = _extract_members(session, session.list_id, spill)
        session.report.details["membership_read"] = "bulk extract"
    else:
        rows = session.client.iter_list_members(session.list_id, fields=member_fields(session))
        session.report.details["membership_read"] = "paging"
    count = load_members(con, rows, session.profile.user_id_field)
    session.store.cache_put(session.instance, size_key, count, ttl_s=LIST_SIZE_TTL_S)
    return count


class MemberIds:
    """The lead ids in table `members`, for `in`."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def __contains__(self, lead_id: object) -> bool:
        return isinstance(lead_id, int) and bool(scalar(self.con, "SELECT count(*) FROM members WHERE lead_id = ?",
                                                        [lead_id]))


def load_members(con: duckdb.DuckDBPyConnection, rows: Iterable[Mapping[str, Any]], user_field: str | None) -> int:
    """Members into table `members`, in Arrow batches; a lead listed twice keeps its last row. Returns the count."""
    create(con, "members", MEMBER_SCHEMA)
    batch: list[tuple[int, int, str, str | None, str | None]] = []
    for seq, row in enumerate(rows):
        if str(row.get("id") or "").isdigit():
            batch.append((seq, *member_values(row, user_field)))
        if len(batch) == BATCH_ROWS:
            insert_rows(con, "members", MEMBER_SCHEMA, batch)
            batch = []
    insert_rows(con, "members", MEMBER_SCHEMA, batch)
    count = scalar(con, "SELECT count(DISTINCT lead_id) FROM members")
    if count != scalar(con, "SELECT count(*) FROM members"):  # rare: a lead on two pages
        con.execute("""
            CREATE OR REPLACE TABLE members AS
            SELECT max(seq) AS seq, lead_id, arg_max(email_text, seq) AS email_text,
                   arg_max(email_key, seq) AS email_key, arg_max(user_key, seq) AS user_key
            FROM members GROUP BY lead_id""")
    return count


def member_values(row: Mapping[str, Any], user_field: str | None) -> tuple[int, str, str | None, str | None]:
    """One member as the planner matches it: lead id, e-mail as Marketo has it ('' for none), and the e-mail
    and user id normalised like the audience's identities (None: blank, or no user id field)."""
    email = row.get("email")
    user = normalise(row.get(user_field), "userId") if user_field else None
    return int(row["id"]), str(email or ""), normalise(email, "email"), user


def _extract_members(session: SyncSession, list_id: int, folder: Path) -> Iterator[dict[str, Any]]:
    """The members of one Bulk Lead Extract, read from its file in `folder` (removed once read) as they load."""
    client = session.client
    with ExitStack() as stack:
        export_id = client.bulk_extract_create("leads", fields=member_fields(session),
                                               filter={"staticListId": list_id})
        try:
            client.bulk_extract_enqueue("leads", export_id)
            status = poll(lambda: client.bulk_extract_status("leads", export_id), EXTRACT_POLL_S,
                          done=("Completed",), sleep=session.sleep)
            if status.get("status") != "Completed":
                raise MarketoError("", f"membership extract {export_id} ended as {status.get('status')}")
            path = stack.enter_context(downloaded_extract(client, "leads", export_id, status, folder))
        except BaseException:
            try:
                client.bulk_extract_cancel("leads", export_id)
            except Exception:  # the original error matters more than a failed cancel
                log.warning("could not cancel export %s", export_id)
            raise
        log.info("membership extract %s: %s records", export_id, status.get("numberOfRecords"))
        for _, row in csv_rows(path, encoding="utf-8-sig"):
            yield row


def poll(status: Callable[[], dict[str, Any]], waits: Sequence[float], *, done: tuple[str, ...],
         sleep: Callable[[float], None]) -> dict[str, Any]:
    """Call `status` until the job is done or failed, sleeping `waits` in turn (the last one repeats)."""
    started = time.monotonic()
    attempt = 0
    while True:
        row = status()
        state = str(row.get("status"))
        if state in done or state in ("Failed", "Cancelled", "Canceled"):
            return row
        if time.monotonic() - started > POLL_TIMEOUT_S:
            raise MarketoError("", f"bulk job still {state} after {POLL_TIMEOUT_S // 3600} h")
        with waiting(f"bulk extract {state.lower()}", since=started):
            sleep(waits[min(attempt, len(waits) - 1)])
        attempt += 1
