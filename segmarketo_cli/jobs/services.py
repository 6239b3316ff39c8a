"""Factories that turn Settings + secrets into the Marketo client and the Segment sender."""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmarketo_cli.config import Settings, normalize_endpoint
from segmarketo_cli.http import register_secret
from segmarketo_cli.secrets import require_secret

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient
    from segmarketo_cli.segment.sender import BatchSender
    from segmarketo_cli.state import StateStore


def build_marketo(
    settings: Settings,
    store: StateStore | None = None,
    *,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    max_retries: int | None = None,
) -> MarketoClient:
    """The profile's client; with `store`, the daily budget starts from the calls earlier runs made today.
    `timeout`, `connect_timeout` and `max_retries` override the profile's (doctor uses short ones)."""
    from segmarketo_cli.marketo.client import MarketoClient
    from segmarketo_cli.marketo.codes import quota_day
    from segmarketo_cli.marketo.limits import Limiter

    settings.require_marketo()
    secret = require_secret(settings.profile, "marketo_client_secret")
    register_secret(secret)
    instance = normalize_endpoint(settings.marketo_endpoint, what="Marketo endpoint")
    limiter = Limiter(
        calls=settings.rate_limit_calls,
        window_s=settings.rate_limit_window_s,
        max_concurrency=settings.max_concurrency,
        daily_budget=settings.daily_budget,
        used_today=store.api_calls_on(instance, quota_day()) if store is not None else 0,
    )
    extra = {"connect_timeout": connect_timeout} if connect_timeout is not None else {}
    client = MarketoClient(
        settings.marketo_endpoint,
        settings.marketo_client_id,
        secret,
        limiter=limiter,
        timeout=settings.http_timeout_s if timeout is None else timeout,
        max_retries=settings.max_retries if max_retries is None else max_retries,
        **extra,
    )
    client.partition_name = settings.partition  # every create path sends it as partitionName
    return client


def build_segment(settings: Settings) -> BatchSender:
    from segmarketo_cli.segment.sender import BatchSender

    write_key = require_secret(settings.profile, "segment_write_key")
    register_secret(write_key)
    return BatchSender(settings.segment_endpoint, write_key, timeout=min(settings.http_timeout_s, 60.0))
