"""Bulk Lead and Activity Extract: create/enqueue/status/file/cancel, a shared 2/10 queue and a daily MB meter."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from segmarketo_cli.sandbox.envelope import ApiError, Request, Response, iso_z, now_iso, ok, parse_datetime, text
from segmarketo_cli.sandbox.instance import Instance
from segmarketo_cli.sandbox.marketo.limits import quota_day

MAX_WINDOW = timedelta(days=31)
ACTIVITY_COLUMNS = ["marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
                    "primaryAttributeValueId", "primaryAttributeValue", "attributes"]
STATUS = {"created": "Created", "queued": "Queued", "running": "Processing", "done": "Completed"}
DELIMITERS = {"CSV": ",", "TSV": "\t", "SSV": ";"}


@dataclass
class ExportJob:
    """One lead or activity export; its rows are captured when processing starts."""

    sb: Any
    kind: str  # "leads" | "activities"
    export_id: str
    format: str
    fields: list[str]
    filter: dict[str, Any]
    phase: str = "created"
    since: float = 0.0
    status: str = "Created"
    created_at: str = field(default_factory=now_iso)
    queued_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    rows: list[list[Any]] = field(default_factory=list)
    file: bytes | None = None
    error: str | None = None
    polls: list[float] = field(default_factory=list)  # sb.clock() at each status call, for poll-spacing tests

    def start(self) -> None:
        self.status, self.started_at = "Processing", now_iso()
        with self.sb.marketo.lock:
            self.rows = _capture(self.sb, self)

    def finish(self) -> None:
        self.file = _render(self.sb, self)
        self.status, self.finished_at = "Completed", now_iso()
        meter = self.sb.bulk.export_bytes
        meter[quota_day()] = meter.get(quota_day(), 0) + len(self.file)

    def to_api(self) -> dict[str, Any]:
        item: dict[str, Any] = {"exportId": self.export_id, "format": self.format, "status": self.status,
                                "createdAt": self.created_at}
        for key, value in (("queuedAt", self.queued_at), ("startedAt", self.started_at),
                           ("finishedAt", self.finished_at)):
            if value:
                item[key] = value
        if self.file is not None:
            item.update(numberOfRecords=len(self.rows), fileSize=len(self.file),
                        fileChecksum="sha256:" + hashlib.sha256(self.file).hexdigest())
        if self.error:
            item["errorMsg"] = self.error
        return item


def _window(spec: Any, name: str) -> tuple[str, str]:
    if not isinstance(spec, dict) or "startAt" not in spec or "endAt" not in spec:
        raise ApiError("1003", f"'{name}' needs startAt and endAt")
    try:
        start, end = parse_datetime(str(spec["startAt"])), parse_datetime(str(spec["endAt"]))
    except ValueError:
        raise ApiError("1003", f"Invalid date in '{name}'") from None
    if end < start:
        raise ApiError("1003", f"'{name}' endAt is before startAt")
    if end - start > MAX_WINDOW:
        raise ApiError("1003", f"'{name}' date range exceeds 31 days")
    return iso_z(start), iso_z(end)


def _validate(sb: Instance, kind: str, body: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    flt = body.get("filter")
    if not isinstance(flt, dict) or not flt:
        raise ApiError("1003", "'filter' is required")
    if kind == "activities":
        _window(flt.get("createdAt"), "createdAt")
        ids = flt.get("primaryAttributeValueIds")
        values = flt.get("primaryAttributeValues")
        if ids and values:
            raise ApiError("1003", "Use primaryAttributeValueIds or primaryAttributeValues, not both")
        if len(ids or values or []) > 50:
            raise ApiError("1003", "At most 50 primary attribute values")
        if 37 in (flt.get("activityTypeIds") or []):
            raise ApiError("1003", "Activity type 'Delete Lead' is not supported")
        return ACTIVITY_COLUMNS, flt
    fields = body.get("fields")
    if not isinstance(fields, list) or not fields:
        raise ApiError("1003", "'fields' is required")
    unknown = [f for f in fields if f not in sb.marketo.store.fields]
    if unknown:
        raise ApiError("1003", f"Invalid field(s): {', '.join(map(str, unknown))}")
    kinds = [k for k in ("createdAt", "updatedAt", "staticListId", "staticListName", "smartListId",
                         "smartListName") if k in flt]
    if len(kinds) != 1:
        raise ApiError("1003", "'filter' must have exactly one of createdAt, updatedAt, staticListId, "
                               "staticListName, smartListId, smartListName")
    if kinds[0] in ("smartListId", "smartListName"):
        raise ApiError("1035", "Unsupported filter type for target subscription")
    if kinds[0] in ("createdAt", "updatedAt"):
        _window(flt[kinds[0]], kinds[0])
    else:
        if kinds[0] == "staticListId" and not str(flt["staticListId"]).isdigit():
            raise ApiError("1003", "Invalid staticListId")
        missing = (int(flt["staticListId"]) not in sb.marketo.assets.lists if kinds[0] == "staticListId"
                   else sb.marketo.assets.list_by_name(str(flt["staticListName"])) is None)
        if missing:
            raise ApiError("1003", "Static list not found")
    return [str(f) for f in fields], flt


def _capture(sb: Instance, job: ExportJob) -> list[list[Any]]:
    """The rows as of processing start (a static list's members are captured now)."""
    flt = job.filter
    if job.kind == "activities":
        start, end = _window(flt["createdAt"], "createdAt")
        types = set(flt.get("activityTypeIds") or [])
        value_ids = set(flt.get("primaryAttributeValueIds") or [])
        values = set(flt.get("primaryAttributeValues") or [])
        rows = []
        for row in sb.marketo.activities.between(start, end):
            if (types and row["activityTypeId"] not in types) or (value_ids and row.get("primaryAttributeValueId")
                                                                   not in value_ids):
                continue
            if values and row.get("primaryAttributeValue") not in values:
                continue
            attrs = {a["name"]: a["value"] for a in row.get("attributes", [])}
            rows.append([row["marketoGUID"], row["leadId"], row["activityDate"], row["activityTypeId"],
                         row.get("campaignId"), row.get("primaryAttributeValueId"),
                         row.get("primaryAttributeValue"), json.dumps(attrs) if attrs else None])
        return rows
    store = sb.marketo.store
    if "staticListId" in flt or "staticListName" in flt:
        static_list = (sb.marketo.assets.lists.get(int(flt["staticListId"])) if "staticListId" in flt
                       else sb.marketo.assets.list_by_name(str(flt["staticListName"])))
        ids = static_list.sorted_members() if static_list else []
    else:
        name = "createdAt" if "createdAt" in flt else "updatedAt"
        start, end = _window(flt[name], name)
        ids = sorted(i for i, lead in store.leads.items() if start <= lead.get(name, "") <= end)
    return [[store.leads[i].get(f) for f in job.fields] for i in ids if i in store.leads]


def _cell(value: Any, null: str) -> str:
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _render(sb: Instance, job: ExportJob) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=DELIMITERS.get(job.format, ","), lineterminator="\n")
    writer.writerow(job.fields)
    null = sb.config.extract_null
    for row in job.rows:
        writer.writerow([_cell(v, null) for v in row])
    return out.getvalue().encode("utf-8")


def _job(sb: Instance, match: Any) -> ExportJob:
    job: ExportJob | None = sb.bulk.exports.get(match.group(2))
    if job is None or job.kind != match.group(1):
        raise ApiError("1003", "Export job not found")
    return job


def create(sb: Instance, request: Request, match: Any) -> Response:
    body = request.json()
    if not isinstance(body, dict):
        raise ApiError("609", "Invalid JSON")
    fmt = str(body.get("format") or "CSV").upper()
    if fmt not in DELIMITERS:
        raise ApiError("1003", "Invalid format; use CSV, TSV or SSV")
    kind = match.group(1)
    with sb.marketo.lock:
        fields, flt = _validate(sb, kind, body)
        job = ExportJob(sb, kind, str(uuid.uuid4()), fmt, fields, flt)
        sb.bulk.exports[job.export_id] = job
        return ok([job.to_api()])


def enqueue(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        job = _job(sb, match)
        queue = sb.bulk.exports_queue
        queue.refresh()
        if job.status != "Created":
            raise ApiError("1029", f"Export Job '{job.export_id}' already queued")
        used = sb.bulk.export_bytes.get(quota_day(), 0)
        if used >= sb.config.export_daily_bytes:
            raise ApiError("1029", f"Export daily quota {sb.config.export_daily_bytes // (1024 * 1024)}MB exceeded.")
        if not queue.has_room():
            raise ApiError("1029", "Too many jobs in queue")
        queue.enqueue(job)
        job.status, job.queued_at = "Queued", now_iso()
        return ok([job.to_api()])


def status(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        job = _job(sb, match)
        job.polls.append(sb.clock())
        sb.bulk.exports_queue.advance()
        return ok([job.to_api()])


def cancel(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        job = _job(sb, match)
        sb.bulk.exports_queue.drop(job)
        if job.status != "Completed":
            job.status, job.phase = "Cancelled", "done"
        return ok([job.to_api()])


def file(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        job = sb.bulk.exports.get(match.group(2))
        if job is None or job.file is None:
            return text(404, "Export file not available")
        data = job.file
    rng = request.headers.get("range", "")
    if rng.startswith("bytes="):
        first_raw, _, last_raw = rng[6:].partition("-")
        first = int(first_raw or 0)
        last = min(int(last_raw) if last_raw else len(data) - 1, len(data) - 1)
        part = text(206, "", "text/csv")
        part.body = data[first:last + 1]
        part.headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
        part.records = max(1, len(job.rows))
        return part
    response = text(200, "", "text/csv")
    response.body = data
    response.records = max(1, len(job.rows))
    return response


def list_jobs(sb: Instance, request: Request, match: Any) -> Response:
    wanted = set(request.csv_arg("status"))
    with sb.marketo.lock:
        sb.bulk.exports_queue.refresh()
        rows = [j.to_api() for j in sb.bulk.exports.values()
                if j.kind == match.group(1) and (not wanted or j.status in wanted)]
    return ok(rows)


_KIND = r"/bulk/v1/(leads|activities)/export"
ROUTES = [
    ("POST", _KIND + r"/create\.json", create),
    ("POST", _KIND + r"/([\w-]+)/enqueue\.json", enqueue),
    ("GET", _KIND + r"/([\w-]+)/status\.json", status),
    ("GET", _KIND + r"/([\w-]+)/file\.json", file),
    ("POST", _KIND + r"/([\w-]+)/cancel\.json", cancel),
    ("GET", r"/bulk/v1/(leads|activities)/export\.json", list_jobs),
]
