"""Marketo-specific errors callers can act on: oversize payloads, export quota, unready or damaged bulk files."""

from __future__ import annotations

from segmarketo_cli.errors import MarketoError, MarketoQuotaExhausted


class MarketoPayloadTooLarge(MarketoError):
    """HTTP 413: the body passed 1 MB (10 MB for bulk). Nothing was written; halve the batch and resend.

    A single record that still gets 413 on its own should be rejected with this error's message.
    """

    def __init__(self, path: str, size: int) -> None:
        super().__init__("413", f"request body of {size:,} bytes to {path} is too large for Marketo")
        self.path = path
        self.size = size


class ExportQuotaExhausted(MarketoQuotaExhausted):
    """1029 'Export daily quota exceeded': the bulk-extract volume for the day is spent."""


class BulkFileNotReady(MarketoError):
    """A bulk extract file was requested before the job completed (HTTP 404 with a plain-text body)."""

    def __init__(self, path: str, text: str) -> None:
        super().__init__("404", f"bulk file {path} is not available: {text.strip()[:200] or 'not ready'}")


class ExtractChecksumMismatch(MarketoError):
    """A bulk extract file whose SHA-256 differs from the job's `fileChecksum`, on the download and on one more."""

    def __init__(self, kind: str, export_id: str) -> None:
        super().__init__(
            "checksum",
            f"the bulk {kind} export {export_id} file failed its checksum (its SHA-256 differs from the job's "
            "fileChecksum) and was downloaded twice; nothing from it was used",
            hint="run the command again; a damaged download is usually a network or proxy problem",
        )
        self.kind = kind
        self.export_id = export_id
