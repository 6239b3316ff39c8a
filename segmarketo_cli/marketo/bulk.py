"""Bulk Lead Import (multipart CSV, status, failure/warning files) and Bulk Extract for leads and activities."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import requests

from segmarketo_cli.errors import MarketoError, ServiceUnavailable
from segmarketo_cli.marketo.base import ApiBase
from segmarketo_cli.marketo.exceptions import ExtractChecksumMismatch, MarketoPayloadTooLarge

log = logging.getLogger("segmarketo.marketo.bulk")

# Marketo takes import files "less than 10MB in size" and answers HTTP 413 above (docs/marketo-client.md); margin kept.
BULK_IMPORT_MAX_BYTES = 9_500_000
IMPORT_PATH = "/bulk/v1/leads.json"
EXTRACT_KINDS = ("leads", "activities")
# Adobe: poll an export's status no more than once a minute; Marketo refreshes it at that pace anyway
# (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/bulk-extract/bulk-extract).
EXTRACT_POLL_INTERVAL_S = 60.0
DOWNLOAD_CHUNK = 1 << 20  # bytes read from the socket and written to the file at a time


def _extract_base(kind: str) -> str:
    if kind not in EXTRACT_KINDS:
        raise ValueError(f"bulk extract kind must be one of {', '.join(EXTRACT_KINDS)}, got {kind!r}")
    return f"/bulk/v1/{kind}/export"


def _private_file(path: Path) -> BinaryIO:
    """`path` opened to write bytes, emptied, mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


class BulkApi(ApiBase):
    """Bulk endpoints of `MarketoClient`; every call carries the Bearer header like any other
    (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/bulk-import/bulk-lead-import,
    https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/bulk-extract/bulk-extract)."""

    def bulk_import_leads(
        self,
        csv_bytes: bytes,
        *,
        lookup_field: str = "email",
        list_id: int | None = None,
        partition_name: str | None = None,
    ) -> dict[str, Any]:
        """Queue a CSV (header of REST names, RFC 4180, UTF-8) for import; returns `{batchId, status, ...}`.

        `list_id` also adds every imported lead to that static list. A file over BULK_IMPORT_MAX_BYTES is not
        sent and raises MarketoPayloadTooLarge, as Marketo's own HTTP 413 does: split the file and resend; a
        1016/1019 busy queue is waited on by `request`.
        """
        if len(csv_bytes) > BULK_IMPORT_MAX_BYTES:
            raise MarketoPayloadTooLarge(IMPORT_PATH, len(csv_bytes))
        params: dict[str, Any] = {"format": "csv", "lookupField": lookup_field}
        if list_id is not None:
            params["listId"] = int(list_id)
        partition = self.partition_for_create(partition_name)  # the client's partition unless one is given
        if partition:
            params["partitionName"] = partition
        files = {"file": ("leads.csv", csv_bytes, "text/csv")}
        return self._one("POST", IMPORT_PATH, params=params, files=files)

    def bulk_import_status(self, batch_id: int) -> dict[str, Any]:
        """`{batchId, status: Queued|Importing|Complete|Failed, numOfLeadsProcessed, numOfRowsFailed, ...}`."""
        return self._one("GET", f"/bulk/v1/leads/batch/{int(batch_id)}.json")

    def bulk_import_failures(self, batch_id: int) -> str:
        """The failed rows as a CSV with a reason column (`Import Failure Reason`); its other columns need not be
        the upload's (columns empty in the upload can be missing), so it is returned as text for the caller to
        map back and reconcile against `numOfRowsFailed`."""
        return self.raw("GET", f"/bulk/v1/leads/batch/{int(batch_id)}/failures.json").content.decode("utf-8")

    def bulk_import_warnings(self, batch_id: int) -> str:
        """The rows imported with warnings, as a CSV with a reason column."""
        return self.raw("GET", f"/bulk/v1/leads/batch/{int(batch_id)}/warnings.json").content.decode("utf-8")

    def bulk_extract_create(
        self,
        kind: str,
        *,
        fields: list[str] | None = None,
        filter: dict[str, Any],
        format: str = "CSV",
    ) -> str:
        """Create an extract job (`filter` as Bulk Lead / Activity Extract take it, date spans ≤31 days); returns its
        exportId."""
        body: dict[str, Any] = {"format": format, "filter": filter}
        if fields:
            body["fields"] = list(fields)
        row = self._one("POST", f"{_extract_base(kind)}/create.json", json=body)
        return str(row["exportId"])

    def bulk_extract_enqueue(self, kind: str, export_id: str) -> dict[str, Any]:
        """Queue the job; 1029 'too many jobs' is waited on, 'already queued' counts as queued."""
        path = f"{_extract_base(kind)}/{export_id}/enqueue.json"
        env = self.envelope("POST", path)
        return env.first or self.bulk_extract_status(kind, export_id)

    def bulk_extract_status(self, kind: str, export_id: str) -> dict[str, Any]:
        """`{exportId, status: Created|Queued|Processing|Completed|Failed|Cancelled, numberOfRecords, fileSize,
        fileChecksum}`; Marketo updates it at most once a minute."""
        return self._one("GET", f"{_extract_base(kind)}/{export_id}/status.json")

    def bulk_extract_file(self, kind: str, export_id: str, *, byte_range: tuple[int, int] | None = None) -> bytes:
        """The extract file (or the inclusive `byte_range` of it); BulkFileNotReady while it is unfinished."""
        headers = {"Range": f"bytes={byte_range[0]}-{byte_range[1]}"} if byte_range else None
        return self.raw("GET", f"{_extract_base(kind)}/{export_id}/file.json", headers=headers).content

    def bulk_extract_download(self, kind: str, export_id: str, status: Mapping[str, Any], target: Path) -> None:
        """Stream the whole extract file into `target` (created private: it holds e-mail addresses), checked while
        it is written against the job's Completed `status` row: its `fileChecksum` ("sha256:<hex>") and
        `fileSize`. A mismatch or a connection dropped mid-file downloads it once more; a second mismatch raises
        ExtractChecksumMismatch. Without a sha256 checksum the file is kept unchecked (but for its size), with a
        warning. Memory stays one chunk whatever the file's size."""
        checksum = str(status.get("fileChecksum") or "")
        size = status.get("fileSize")
        algorithm, _, expected = checksum.partition(":")
        checked = algorithm.lower() == "sha256" and bool(expected)
        if not checked:
            log.warning("bulk %s export %s has no sha256 fileChecksum (%r); its file is used unchecked",
                        kind, export_id, status.get("fileChecksum"))
        for attempt in (1, 2):
            try:
                digest, written = self._download_to(kind, export_id, target)
            except requests.RequestException as exc:  # dropped while the body streamed: the request had succeeded
                if attempt == 2:
                    raise ServiceUnavailable(f"the bulk {kind} export {export_id} download broke off twice "
                                             f"({type(exc).__name__})") from None
                log.warning("bulk %s export %s: the download broke off (%s); downloading it again",
                            kind, export_id, type(exc).__name__)
                continue
            size_ok = not isinstance(size, int) or written == size
            if size_ok and (not checked or hmac.compare_digest(digest, expected.strip().lower())):
                return
            log.warning("bulk %s export %s: the downloaded file (%d bytes) does not match its fileChecksum or "
                        "fileSize%s", kind, export_id, written, "; downloading it again" if attempt == 1 else "")
        target.unlink(missing_ok=True)
        raise ExtractChecksumMismatch(kind, export_id)

    def _download_to(self, kind: str, export_id: str, target: Path) -> tuple[str, int]:
        """The file written to `target` chunk by chunk (replacing what was there); its SHA-256 and size."""
        digest = hashlib.sha256()
        written = 0
        response = self.raw("GET", f"{_extract_base(kind)}/{export_id}/file.json", stream=True)
        with response, _private_file(target) as out:
            for chunk in response.iter_content(DOWNLOAD_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                written += len(chunk)
        return digest.hexdigest(), written

    def bulk_extract_cancel(self, kind: str, export_id: str) -> dict[str, Any]:
        """Cancel a job; returns its new status row."""
        return self._one("POST", f"{_extract_base(kind)}/{export_id}/cancel.json")

    def _one(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        env = self.envelope(method, path, **kwargs)
        if not isinstance(env.first, dict):
            raise MarketoError("", f"{method} {path} returned no result")
        return env.first
