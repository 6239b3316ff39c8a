"""The Marketo REST client: MarketoClient, its shared Limiter, and activity paging types."""

from segmarketo_cli.marketo.activities import ActivityPage, ActivityPager
from segmarketo_cli.marketo.client import MarketoClient
from segmarketo_cli.marketo.exceptions import (
    BulkFileNotReady,
    ExportQuotaExhausted,
    ExtractChecksumMismatch,
    MarketoPayloadTooLarge,
)
from segmarketo_cli.marketo.limits import Limiter

__all__ = [
    "ActivityPage",
    "ActivityPager",
    "BulkFileNotReady",
    "ExportQuotaExhausted",
    "ExtractChecksumMismatch",
    "Limiter",
    "MarketoClient",
    "MarketoPayloadTooLarge",
]
