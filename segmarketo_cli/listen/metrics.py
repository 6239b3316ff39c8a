"""The receiver's counters and their Prometheus text exposition (GET /metrics)."""

from __future__ import annotations

import threading
from collections import Counter

from segmarketo_cli.listen.spool import Spool


class Metrics:
    """Counters shared by the HTTP side (rejects by status) and the drain (flushes, Marketo calls, events
    ignored); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rejects: Counter[int] = Counter()
        self.flushes: Counter[str] = Counter()  # by outcome: ok, partial, deferred, failed
        self.marketo_calls = 0
        self.rejected_records = 0
        self.ignored = 0

    def reject(self, status: int) -> None:
        with self._lock:
            self.rejects[status] += 1

    def flushed(self, outcome: str, *, calls: int = 0, rejected: int = 0) -> None:
        with self._lock:
            self.flushes[outcome] += 1
            self.marketo_calls += calls
            self.rejected_records += rejected

    def ignore(self, count: int) -> None:
        with self._lock:
            self.ignored += count

    def render(self, spool: Spool) -> str:
        """Prometheus text format 0.0.4."""
        lines: list[str] = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP segmarketo_listen_{name} {help_text}")
            lines.append(f"# TYPE segmarketo_listen_{name} {kind}")
            lines.extend(f"segmarketo_listen_{name}{labels} {value:g}" for labels, value in samples)

        with self._lock:
            rejects = sorted(self.rejects.items())
            flushes = sorted(self.flushes.items())
            calls, rejected, ignored = self.marketo_calls, self.rejected_records, self.ignored
        metric("queue_depth", "gauge", "Events spooled and not yet drained.", [("", spool.pending)])
        metric("queue_bytes", "gauge", "Bytes of the events spooled and not yet drained.", [("", spool.pending_bytes)])
        metric("oldest_event_age_seconds", "gauge", "Age of the oldest event not yet drained.",
               [("", round(spool.oldest_age(), 3))])
        metric("events_in_total", "counter", "Events spooled (duplicates not counted).", [("", spool.events_in)])
        metric("events_out_total", "counter", "Events drained to Marketo.", [("", spool.events_out)])
        metric("spool_commits_total", "counter", "Spool transactions, one fsync each (events_in_total / this = "
               "events per fsync).", [("", spool.commits)])
        metric("duplicates_total", "counter", "Events whose messageId was already spooled.", [("", spool.duplicates)])
        metric("ignored_total", "counter", "Events accepted but not drained (page, screen, group, alias, unmapped "
               "audiences, tracks without rules).", [("", ignored)])
        metric("requests_rejected_total", "counter", "Requests refused, by HTTP status.",
               [(f'{{status="{status}"}}', count) for status, count in rejects] or [('{status="401"}', 0)])
        metric("flushes_total", "counter", "Flush runs, by outcome.",
               [(f'{{outcome="{outcome}"}}', count) for outcome, count in flushes] or [('{outcome="ok"}', 0)])
        metric("marketo_calls_total", "counter", "Marketo API calls made by flushes.", [("", calls)])
        metric("records_rejected_total", "counter", "Records the flushes rejected (see the rejects files).",
               [("", rejected)])
        return "\n".join(lines) + "\n"
