"""Run alerts: POST a short JSON (Slack-compatible `text` plus a structured body) to the profile's webhook."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from segmarketo_cli.endpoints import is_loopback
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.http import make_session, register_secret
from segmarketo_cli.timeparse import iso_utc

log = logging.getLogger("segmarketo.notify")

# The statuses worth waking someone for; "ok" and "interrupted" (someone pressed Ctrl-C) are not.
ALERT_STATUSES = ("failed", "partial", "deferred", "refused")
TIMEOUT_S = 5.0
RETRY_PAUSE_S = 1.0
MIN_SECRET_PATH = 12


@dataclass
class SyncRun:
    """The declared sync a job runs for (set by `segmarketo run`), so its alert can name it; `recorded` once the
    job's run was recorded (and alerted on), so an error after that is not alerted a second time."""

    name: str
    recorded: bool = False


current_sync: ContextVar[SyncRun | None] = ContextVar("current_sync", default=None)


@dataclass(frozen=True)
class RunOutcome:
    """What an alert says about one run: never a record, an e-mail address, a URL or an error text."""

    command: str
    status: str
    exit_code: int
    profile: str
    run_id: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    dry_run: bool = False
    sync: str | None = None


def check_webhook_url(url: str, *, where: str) -> str | None:
    """The webhook URL, or None when blank; https only (plain http to this machine), no user name or password."""
    url = url.strip()
    if not url:
        return None
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or ""))
    if not secure or not parts.hostname or "@" in parts.netloc:
        raise ConfigError(f"{where}: '{shown_webhook(url)}' is not a webhook URL: expected https://HOST/PATH "
                          "(plain http only to this machine; no user name or password)")
    # The path (and query) is often the webhook's only credential (Slack's is): logs must never show it, whole
    # or as a request line; a path too short to be a credential would only blank out ordinary text.
    register_secret(url)
    secret_part = url[url.index(parts.netloc) + len(parts.netloc):]
    if len(secret_part) >= MIN_SECRET_PATH:
        register_secret(secret_part)
    return url


def shown_webhook(url: str) -> str:
    """The webhook as logs may show it: scheme and host; the path and query (its credentials) hidden."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…" if parts.scheme else "…"


def alert_payload(outcome: RunOutcome) -> dict[str, Any]:
    """The posted JSON: `text` for Slack-compatible incoming webhooks
    (https://api.slack.com/messaging/webhooks), the same facts as fields for anything else."""
    counts = ", ".join(f"{n:,} {bucket}" for bucket, n in outcome.counts.items() if n) or "no records"
    name = f"sync '{outcome.sync}' ({outcome.command})" if outcome.sync else outcome.command
    dry = " (dry run)" if outcome.dry_run else ""
    run = f", run {outcome.run_id}" if outcome.run_id else ""
    host = socket.gethostname()
    text = (f"segmarketo {name}{dry} {outcome.status}, exit {outcome.exit_code}: {counts}. "
            f"Profile {outcome.profile} on {host}{run}")
    return {
        "text": text,
        "command": outcome.command,
        "sync": outcome.sync,
        "status": outcome.status,
        "exit_code": outcome.exit_code,
        "dry_run": outcome.dry_run,
        "counts": dict(outcome.counts),
        "run_id": outcome.run_id,
        "profile": outcome.profile,
        "host": host,
        "started": _iso(outcome.started_at),
        "finished": _iso(outcome.finished_at),
    }


def send_alert(url: str, outcome: RunOutcome) -> bool:
    """POST the alert when the outcome deserves one; one retry. Never raises: a failing webhook only logs a
    warning and leaves the run's outcome and exit code alone. True when the webhook accepted it."""
    if outcome.status not in ALERT_STATUSES:
        return False
    try:
        payload = alert_payload(outcome)
        with make_session(pool_size=1) as session:
            for attempt in (1, 2):
                problem = _post(session, url, payload)
                if problem is None:
                    return True
                if attempt == 1:
                    time.sleep(RETRY_PAUSE_S)
        log.warning("alert to %s failed: %s (the run's outcome is unchanged)", shown_webhook(url), problem)
    except Exception as exc:  # whatever goes wrong here must not become the run's failure
        log.warning("alert to %s failed: %s (the run's outcome is unchanged)", shown_webhook(url), type(exc).__name__)
    return False


def _post(session: requests.Session, url: str, payload: dict[str, Any]) -> str | None:
    """None when the webhook answered 2xx, else what went wrong (without the URL)."""
    try:
        response = session.post(url, json=payload, timeout=TIMEOUT_S, allow_redirects=False)
    except requests.RequestException as exc:
        return f"{type(exc).__name__}"
    response.close()
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else iso_utc(epoch)
