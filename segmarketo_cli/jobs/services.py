"""Services: the state store plus the Marketo client and Segment sender, opened and built on first use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from segmarketo_cli import paths
from segmarketo_cli.config import Settings
from segmarketo_cli.endpoints import normalize_endpoint
from segmarketo_cli.http import register_secret
from segmarketo_cli.marketo.client import CONNECT_TIMEOUT_S, MarketoClient
from segmarketo_cli.marketo.codes import quota_day
from segmarketo_cli.marketo.limits import Limiter
from segmarketo_cli.secrets import require_secret
from segmarketo_cli.segment.sender import BatchSender
from segmarketo_cli.state import StateStore

if TYPE_CHECKING:
    from segmarketo_cli.engine import Engine
    from segmarketo_cli.jobs.report import RunReport


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
    endpoint, client_id = settings.require_marketo()
    secret = require_secret(settings.profile, "marketo_client_secret")
    register_secret(secret)
    instance = normalize_endpoint(endpoint, what="Marketo endpoint")
    limiter = Limiter(
        calls=settings.rate_limit_calls,
        window_s=settings.rate_limit_window_s,
        max_concurrency=settings.max_concurrency,
        daily_budget=settings.daily_budget,
        used_today=store.api_calls_on(instance, quota_day()) if store is not None else 0,
    )
    client = MarketoClient(
        endpoint,
        client_id,
        secret,
        limiter=limiter,
        timeout=settings.http_timeout_s if timeout is None else timeout,
        max_retries=settings.max_retries if max_retries is None else max_retries,
        connect_timeout=CONNECT_TIMEOUT_S if connect_timeout is None else connect_timeout,
    )
    client.partition_name = settings.partition  # every create path sends it as partitionName
    return client


def build_segment(settings: Settings) -> BatchSender:
    write_key = require_secret(settings.profile, "segment_write_key")
    register_secret(write_key)
    return BatchSender(settings.segment_endpoint, write_key, timeout=min(settings.http_timeout_s, 60.0))


@dataclass
class Services:
    """What a job talks to. Clients are built on first use, so dry runs and offline checks need no secrets;
    `doctor` and the jobs' `prepare` functions use the same object the run does. The CLI passes its state
    store (and closes it); built without one (doctor), Services opens the profile's store only if it is used."""

    settings: Settings
    _store: StateStore | None = None
    _marketo: MarketoClient | None = None
    _segment: BatchSender | None = None
    _engine: Engine | None = None
    previous_limiter: Limiter | None = None  # a Marketo window carried over from the process's previous run

    @property
    def limiter(self) -> Limiter | None:
        """The Marketo client's limiter, once the client was built."""
        return self._marketo.limiter if self._marketo is not None else None

    @property
    def store(self) -> StateStore:
        if self._store is None:
            self._store = StateStore(paths.state_dir(), self.settings.profile)
        return self._store

    def marketo(self) -> MarketoClient:
        if self._marketo is None:
            self._marketo = build_marketo(self.settings, store=self.store)
            if self.previous_limiter is not None:
                self._marketo.limiter.inherit(self.previous_limiter)
        return self._marketo

    def segment(self) -> BatchSender:
        if self._segment is None:
            self._segment = build_segment(self.settings)
        return self._segment

    def engine(self) -> Engine:
        """The run's planning engine (DuckDB with the profile's memory_limit), opened on first use."""
        if self._engine is None:
            from segmarketo_cli.engine import open_engine  # DuckDB loads only for the jobs that plan with it

            self._engine = open_engine(self.settings.memory_limit, self.store.state_dir, self.settings.profile)
        return self._engine

    @property
    def engine_open(self) -> bool:
        """Whether this run has opened its planning engine."""
        return self._engine is not None

    def close_engine(self) -> None:
        """Close the engine (its spill folder is removed); a no-op when none was opened."""
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def count_calls(self, report: RunReport) -> None:
        """Copy the calls made so far into the report."""
        if self._marketo is not None:
            report.api_calls["marketo"] = self._marketo.calls
        if self._segment is not None:
            report.api_calls["segment"] = self._segment.requests

    def record_usage(self) -> None:
        """Add this run's Marketo calls to today's total in the state store (the daily budget spans runs)."""
        if self._marketo is not None:
            self.store.add_api_calls(self._marketo.instance, self._marketo.limiter.usage)
