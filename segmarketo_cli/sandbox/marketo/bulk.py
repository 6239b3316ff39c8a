"""Bulk Lead Import: multipart CSV/TSV/SSV upload, 2 running / 10 queued (1016), status, failures/warnings files."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

from segmarketo_cli.sandbox.envelope import ApiError, Request, Response, now_iso, ok, text
from segmarketo_cli.sandbox.instance import Instance
from segmarketo_cli.sandbox.stores.fieldtypes import InvalidValue, coerce
from segmarketo_cli.sandbox.stores.partitions import PartitionRefused, partition_arg

DELIMITERS = {"csv": ",", "tsv": "\t", "ssv": ";"}
# The reason column appended to failures.json rows, as named in real failure files (blog.teknkl.com); the
# warnings file's column name is UNCONFIRMED.
FAILURE_COLUMN = "Import Failure Reason"
WARNING_COLUMN = "Import Warning Reason"
# "The file can contain any number of records, so long as the file totals less than 10MB in size"; larger
# uploads get HTTP 413 (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/bulk-import/
# bulk-lead-import, .../rest/error-codes). The stricter decimal reading of "10MB" is the one emulated.
MAX_IMPORT_FILE_BYTES = 10_000_000
REPORT_HEADERS = ("real", "echo", "keyless")


@dataclass
class ImportJob:
    """One import batch; the rows are applied when the job finishes importing."""

    sb: Any
    batch_id: int
    data: bytes
    format: str
    lookup: str
    list_id: int | None
    phase: str = "created"
    since: float = 0.0
    status: str = "Queued"
    processed: int = 0
    failures: list[tuple[list[str], str]] = field(default_factory=list)
    warnings: list[tuple[list[str], str]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    message: str = ""
    created_at: str = field(default_factory=now_iso)
    partition: str | None = None  # partitionName: where new leads go

    def start(self) -> None:
        self.status = "Importing"

    def finish(self) -> None:
        with self.sb.marketo.lock:
            run_import(self.sb, self)

    def to_api(self) -> dict[str, Any]:
        return {"batchId": self.batch_id, "importId": str(self.batch_id), "status": self.status,
                "numOfLeadsProcessed": self.processed, "numOfRowsFailed": len(self.failures),
                "numOfRowsWithWarning": len(self.warnings), "message": self.message}


def _rows(job: ImportJob) -> list[list[str]]:
    text_value = job.data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text_value, newline=""), delimiter=DELIMITERS[job.format]))


def run_import(sb: Instance, job: ImportJob) -> None:
    """Apply every row: insert-or-update by the lookup field (update-only for `id`). Caller holds the lock."""
    store = sb.marketo.store
    try:
        rows = _rows(job)
    except (UnicodeDecodeError, csv.Error) as exc:
        job.status, job.message = "Failed", f"Unable to parse file: {exc}"
        return
    if not rows:
        job.status, job.message = "Failed", "Empty file"
        return
    job.header = rows[0]
    unknown = [name for name in job.header if name not in store.fields]
    if unknown or job.lookup not in job.header:
        missing = f"lookup field '{job.lookup}' missing from header" if job.lookup not in job.header else ""
        job.status = "Failed"
        job.message = "; ".join(filter(None, [f"Invalid header field(s): {', '.join(unknown)}" if unknown else "",
                                              missing]))
        return
    members: list[int] = []
    for raw in rows[1:]:
        if not any(cell.strip() for cell in raw):
            continue
        lead_id, reason, warning = _import_row(sb, job, raw)
        if reason:
            job.failures.append((raw, reason))
            continue
        job.processed += 1
        if warning:
            job.warnings.append((raw, warning))
        if lead_id is not None:
            members.append(lead_id)
    if job.list_id is not None and job.list_id in sb.marketo.assets.lists:
        static_list = sb.marketo.assets.lists[job.list_id]
        static_list.members.update(members)
        static_list.touch()
    job.status = "Complete"
    job.message = (f"Import completed with errors, {job.processed} records imported ({len(members)} members), "
                   f"{len(job.failures)} failed" if job.failures else
                   f"Import succeeded, {job.processed} records imported ({len(members)} members)")


def _import_row(sb: Instance, job: ImportJob, raw: list[str]) -> tuple[int | None, str, str]:
    store = sb.marketo.store
    if len(raw) != len(job.header):
        return None, f"Row has {len(raw)} columns, header has {len(job.header)}", ""
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for name, cell in zip(job.header, raw, strict=True):
        if cell == "" or name == "id":
            continue
        field_def = store.fields[name]
        if field_def.read_only:
            warnings.append(f"Field '{name}' is read-only and was ignored")
            continue
        try:
            values[name] = coerce(field_def, cell)
        except InvalidValue as exc:
            if field_def.length and len(cell) > field_def.length and field_def.data_type != "email":
                # Bulk import truncates an over-long string with a warning (UNCONFIRMED).
                values[name] = cell[: field_def.length]
                warnings.append(f"Value for field '{name}' truncated to {field_def.length} characters")
                continue
            return None, str(exc), ""
    key = raw[job.header.index(job.lookup)]
    if key == "":
        return None, f"Value for lookup field '{job.lookup}' not found", ""  # real text (blog.teknkl.com)
    matches = store.find(job.lookup, key)
    if len(matches) > 1:
        if sb.config.bulk_multi_match != "latest":
            return None, "Multiple lead match lookup criteria", ""
        matches = [max(matches, key=lambda i: (store.leads[i].get("updatedAt", ""), i))]
    partitions = sb.marketo.partitions
    try:
        if matches:
            partitions.check_update(matches[0], job.partition)
        partition_id = partitions.for_create(job.partition) if not matches and job.lookup != "id" else None
    except PartitionRefused as exc:
        return None, exc.message, ""
    if matches:
        store.update(matches[0], values)
        return matches[0], "", "; ".join(warnings)
    if partition_id is None:
        return None, "Lead not found", ""
    lead_id = store.create(values)
    partitions.place(lead_id, partition_id)
    return lead_id, "", "; ".join(warnings)


def _multipart_file(request: Request) -> bytes:
    header = request.headers.get("content-type", "")
    if not header.lower().startswith("multipart/form-data"):
        raise ApiError("612", "Invalid Content Type")
    message = BytesParser(policy=default_policy).parsebytes(
        f"Content-Type: {header}\r\nMIME-Version: 1.0\r\n\r\n".encode() + request.body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    raise ApiError("613", "Invalid Multipart Request")


def create_import(sb: Instance, request: Request, match: Any) -> Response:
    fmt = (request.arg("format") or "").lower()
    if fmt not in DELIMITERS:
        raise ApiError("1003", "Invalid format; use csv, tsv or ssv")
    lookup = request.arg("lookupField") or "email"
    list_id_raw = request.arg("listId")
    data = _multipart_file(request)
    if len(data) >= MAX_IMPORT_FILE_BYTES:
        return text(413, "Request Entity Too Large")
    with sb.marketo.lock:
        if lookup not in sb.marketo.store.searchable() or lookup == "cookies":
            raise ApiError("1011", f"Field '{lookup}' is not supported as lookupField")
        if list_id_raw and not list_id_raw.isdigit():
            raise ApiError("1003", "Invalid listId")
        list_id = int(list_id_raw) if list_id_raw else None
        if list_id is not None and list_id not in sb.marketo.assets.lists:
            raise ApiError("1013", "Static list not found")
        bulk = sb.bulk
        bulk.imports_queue.refresh()
        if not bulk.imports_queue.has_room():
            raise ApiError("1016", "Too many imports")
        job = ImportJob(sb, bulk.next_batch_id, data, fmt, lookup, list_id,
                        partition=partition_arg(request.arg("partitionName")))
        bulk.next_batch_id += 1
        bulk.imports[job.batch_id] = job
        bulk.imports_queue.enqueue(job)
    return ok([{"batchId": job.batch_id, "importId": str(job.batch_id), "status": job.status}])


def _job(sb: Instance, match: Any) -> ImportJob:
    job: ImportJob | None = sb.bulk.imports.get(int(match.group(1)))
    if job is None:
        raise ApiError("1003", "Import batch not found")
    return job


def import_status(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        job = _job(sb, match)
        sb.bulk.imports_queue.advance()
        return ok([job.to_api()])


def _report_columns(sb: Instance, job: ImportJob, rows: list[tuple[list[str], str]]) -> list[int]:
    """Indexes of the upload's columns a failures/warnings file keeps (see SandboxConfig.bulk_report_header)."""
    shape = sb.config.bulk_report_header
    if shape not in REPORT_HEADERS:
        raise ApiError("611", f"sandbox misconfigured: bulk_report_header {shape!r}")
    keep = list(range(len(job.header)))
    if shape == "echo":
        return keep
    keep = [i for i in keep if any(i < len(raw) and raw[i] != "" for raw, _ in rows)]
    if shape == "keyless":
        keep = [i for i in keep if job.header[i] != job.lookup]
    return keep


def _report_file(sb: Instance, job: ImportJob, rows: list[tuple[list[str], str]], column: str) -> Response:
    keep = _report_columns(sb, job, rows)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=DELIMITERS[job.format], lineterminator="\n")
    writer.writerow([*(job.header[i] for i in keep), column])
    for raw, reason in rows:
        writer.writerow([*(raw[i] if i < len(raw) else "" for i in keep), reason])
    return text(200, out.getvalue(), "text/csv")


def import_failures(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        job = _job(sb, match)
        return _report_file(sb, job, job.failures, FAILURE_COLUMN)


def import_warnings(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        job = _job(sb, match)
        return _report_file(sb, job, job.warnings, WARNING_COLUMN)


ROUTES = [
    ("POST", r"/bulk/v1/leads\.json", create_import),
    ("GET", r"/bulk/v1/leads/batch/(\d+)\.json", import_status),
    ("GET", r"/bulk/v1/leads/batch/(\d+)/failures\.json", import_failures),
    ("GET", r"/bulk/v1/leads/batch/(\d+)/warnings\.json", import_warnings),
]
