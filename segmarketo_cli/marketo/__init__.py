"""The Marketo REST client: MarketoClient, its shared Limiter, and activity paging types."""

from .activities import ActivityPage, ActivityPager
from .client import MarketoClient
from .exceptions import BulkFileNotReady, ExportQuotaExhausted, ExtractChecksumMismatch, MarketoPayloadTooLarge
from .limits import Limiter

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
