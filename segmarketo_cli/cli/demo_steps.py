"""The demo's machinery: a seeded in-process sandbox, a private home and environment, the steps, and what changed."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.paths import sample_data_dir
from segmarketo_cli.timeparse import parse_utc

if TYPE_CHECKING:
    from segmarketo_cli.sandbox import Sandbox

# Lead fields whose changes the demo reports (what apply-events and backfill touch most visibly).
WATCHED_FIELDS = ("leadScore", "productScore", "unsubscribed", "lifecycleStage", "isCustomer")


@dataclass(frozen=True)
class DemoStep:
    """One job run: its command line (after `segmarketo`), the exit codes it is designed to give, and why."""

    command: str
    args: tuple[str, ...]
    expected: frozenset[int]
    why: str

    @property
    def name(self) -> str:
        """The step in headings and the verdict: the command, with its subcommand for `runs`."""
        return f"{self.command} {self.args[0]}" if self.command == "runs" else self.command


@dataclass
class Snapshot:
    """What the sandbox holds at one moment, reduced to what the demo reports."""

    leads: dict[int, dict[str, Any]]
    lists: dict[str, set[int]]
    programs: dict[str, dict[int, str]]
    campaigns: dict[str, list[dict[str, Any]]]
    segment: list[dict[str, Any]]
    marketo_calls: int


@dataclass
class Changes:
    """The difference between two snapshots, ready to render."""

    leads_before: int
    leads_after: int
    leads_created: list[dict[str, Any]]
    lists: list[tuple[str, int, int, int, int]]  # name, before, after, added, removed
    programs: list[tuple[str, str, int, int]]  # program, status, before, after
    campaigns: list[tuple[str, int, int, str]]  # campaign, requests, leads, tokens of the first request
    fields: list[tuple[str, str, Any, Any]]  # "e-mail #id", field, before, after
    events: list[tuple[str, int]]  # Segment event name (or message type), count
    samples: list[dict[str, Any]] = field(default_factory=list)
    marketo_calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "leads": {"before": self.leads_before, "after": self.leads_after, "created": len(self.leads_created)},
            "lists": [dict(zip(("list", "before", "after", "added", "removed"), row, strict=True))
                      for row in self.lists],
            "programs": [dict(zip(("program", "status", "before", "after"), row, strict=True))
                         for row in self.programs],
            "campaigns": [dict(zip(("campaign", "requests", "leads", "tokens"), row, strict=True))
                          for row in self.campaigns],
            "fields": [dict(zip(("lead", "field", "before", "after"), row, strict=True)) for row in self.fields],
            "segment_events": dict(self.events),
            "marketo_calls": self.marketo_calls,
        }


def demo_steps(samples: Path, now: datetime | None = None) -> list[DemoStep]:
    """The four jobs over the shipped samples, with options chosen so each shows its work without a refusal, then
    a preview of undoing one of them."""
    since = first_activity_day(samples / "sandbox" / "activities.jsonl")
    now = now or datetime.now(timezone.utc)
    window_days = max(1, (now.date() - since).days + 1)
    return [
        DemoStep(
            "backfill-leads", (str(samples / "identifies.jsonl.gz"),), frozenset({0, 3}),
            "Segment identify export -> Marketo leads. The sample has 3 deliberately broken lines and 2 invalid "
            "values, so exit 3 (partial, rejects file written) is the designed outcome.",
        ),
        DemoStep(
            "sync-audience",
            (str(samples / "engage_audience_formatted.csv"), "--list", "High Value Users", "--max-removals", "6"),
            frozenset({0}),
            "Engage audience CSV -> static list 'High Value Users' (mirror mode). The seeded list holds 6 people "
            "who left the audience; the default guard (10%) would refuse that, so --max-removals 6 allows it.",
        ),
        DemoStep(
            "apply-events",
            (str(samples / "track_events.jsonl"), "--rules", str(samples / "rules.toml")),
            frozenset({0, 3}),
            "Track events + rules.toml -> scores, program statuses, campaign requests, unsubscribes. 3 events "
            "are deliberately unusable (unknown person, bad value), so exit 3 is the designed outcome.",
        ),
        DemoStep(
            "writeback",
            ("--since", since.isoformat(), "--bulk-threshold", str(window_days + 1)),
            frozenset({0}),
            f"Marketo activity since {since.isoformat()} -> Segment track events of the Email spec (Marketo "
            "extras such as Email Sent are opt-in). "
            f"--bulk-threshold {window_days + 1} keeps this {window_days}-day window on REST paging, which is "
            "instant here (Bulk Extract polls every minute).",
        ),
        DemoStep(
            "runs", ("undo", "last:sync-audience", "--dry-run"), frozenset({0}),
            "Every write above is in the runs' change logs (`segmarketo runs show RUN --changes`). This previews "
            "undoing the audience sync: the members it added and removed would be put back, where the list "
            "still holds what it wrote. A dry run: nothing is written.",
        ),
    ]


def first_activity_day(path: Path) -> date:
    """The date of the earliest seeded activity (the seed's dates are fixed, so the window is computed)."""
    earliest: str | None = None
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                stamp = json.loads(line)["activityDate"]
                earliest = stamp if earliest is None or stamp < earliest else earliest
    if earliest is None:
        raise ConfigError(f"{path}: no activities to write back")
    return parse_utc(earliest).date()


def snapshot(box: Sandbox) -> Snapshot:
    """Read the in-process sandbox's state (no HTTP, nothing counted)."""
    state = box.marketo
    with state.lock:
        assets = state.assets
        return Snapshot(
            leads={lead["id"]: dict(lead) for lead in state.leads},
            lists={sl.name: set(sl.members) for sl in assets.lists.values()},
            programs={p.name: dict(p.members) for p in assets.programs.values()},
            campaigns={c.name: [dict(r) for r in c.requests] for c in assets.campaigns.values()},
            segment=box.segment.events(),
            marketo_calls=state.calls,
        )


def compare(before: Snapshot, after: Snapshot, *, fields_since: Snapshot | None = None, samples: int = 5) -> Changes:
    """What the demo changed in Marketo and what Segment received.

    Watched lead fields are compared from `fields_since` (e.g. just before apply-events) when given, so the
    rules' score and unsubscribe changes are not buried under the backfill's trait updates.
    """
    created = [lead for lead_id, lead in after.leads.items() if lead_id not in before.leads]
    lists = []
    for name, members in after.lists.items():
        old_members = before.lists.get(name, set())
        lists.append((name, len(old_members), len(members), len(members - old_members), len(old_members - members)))
    programs = []
    for name, statuses in after.programs.items():
        old_counts = Counter(before.programs.get(name, {}).values())
        new_counts = Counter(statuses.values())
        for status in sorted(set(old_counts) | set(new_counts)):
            if old_counts[status] != new_counts[status]:
                programs.append((name, status, old_counts[status], new_counts[status]))
    campaigns = []
    for name, requests in after.campaigns.items():
        new = requests[len(before.campaigns.get(name, [])):]
        if new:
            leads = sum(len(r.get("leadIds") or []) for r in new)
            tokens = ", ".join(f"{t.get('name')}={t.get('value')}" for t in (new[0].get("tokens") or []))
            campaigns.append((name, len(new), leads, tokens))
    fields: list[tuple[str, str, Any, Any]] = []
    for lead_id, lead in sorted(after.leads.items()):
        old_lead = (fields_since or before).leads.get(lead_id)
        if old_lead is None:
            continue
        for name in WATCHED_FIELDS:
            if old_lead.get(name) != lead.get(name):
                fields.append((f"{lead.get('email') or 'lead'} #{lead_id}", name, old_lead.get(name),
                               lead.get(name)))
    received = after.segment[len(before.segment):]
    events = Counter(m.get("event") or m.get("type", "?") for m in received)
    return Changes(
        leads_before=len(before.leads), leads_after=len(after.leads), leads_created=created,
        lists=lists, programs=programs, campaigns=campaigns, fields=fields,
        events=sorted(events.items(), key=lambda item: (-item[1], item[0])),
        samples=_samples(received, samples), marketo_calls=after.marketo_calls - before.marketo_calls,
    )


def _samples(messages: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """A few received events, one per event name first, so the sample shows variety."""
    picked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for message in messages:
        name = message.get("event") or message.get("type", "?")
        if name not in seen:
            seen.add(name)
            picked.append(message)
        if len(picked) == count:
            break
    return picked


def demo_environment(home: Path, box: Sandbox) -> dict[str, str]:
    """The variables the jobs read: this home, the default profile, the sandbox's endpoints and credentials."""
    return {
        "SEGMARKETO_HOME": str(home),
        "SEGMARKETO_REGISTRY": str(home / "state" / "instance-registry.sqlite"),  # a demo claims no real instance
        "SEGMARKETO_PROFILE": "default",
        "SEGMARKETO_USER_ID_FIELD": "segmentUserId",  # the seed's custom field for Segment's userId
        "SEGMARKETO_MARKETO_ENDPOINT": box.url,
        "SEGMARKETO_MARKETO_CLIENT_ID": box.client_id,
        "SEGMARKETO_MARKETO_CLIENT_SECRET": box.client_secret,
        "SEGMARKETO_SEGMENT_ENDPOINT": box.url,
        "SEGMARKETO_SEGMENT_WRITE_KEY": box.write_key,
    }


@contextmanager
def patched_environment(values: dict[str, str]) -> Iterator[None]:
    """Replace every SEGMARKETO_* variable with `values` for the duration; restore them afterwards."""
    saved = {name: value for name, value in os.environ.items() if name.startswith("SEGMARKETO_")}
    for name in saved:
        del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        for name in [n for n in os.environ if n.startswith("SEGMARKETO_")]:
            del os.environ[name]
        os.environ.update(saved)


def prepare_home(keep: Path | None) -> tuple[Path, bool]:
    """The demo's SEGMARKETO_HOME: `keep` (must be empty or new) or a temporary folder; True when temporary."""
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="segmarketo-demo-")), True
    keep = keep.expanduser()
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        raise ConfigError(f"--home {keep}: must be a new or empty folder (the demo starts from the sample seed)")
    keep.mkdir(parents=True, exist_ok=True, mode=0o700)
    return keep, False


@contextmanager
def demo_sandbox(keep_home: Path | None = None) -> Iterator[tuple[Sandbox, Path]]:
    """A seeded sandbox on 127.0.0.1 and a private home, wired into the environment; cleaned up afterwards.

    With `keep_home`, the state store, rejects files and the sandbox's final state (`<home>/sandbox`) stay.
    """
    from segmarketo_cli.sandbox import Sandbox  # loaded when a demo runs, not for `segmarketo --help`

    samples = sample_data_dir()
    if not (samples / "sandbox").is_dir():
        raise ConfigError(f"sample data not found at {samples}; reinstall segmarketo")
    home, temporary = prepare_home(keep_home)
    box = None
    try:
        box = Sandbox(seed=True, data_dir=None if temporary else home / "sandbox")
        box.start("127.0.0.1", 0)
        with patched_environment(demo_environment(home, box)):
            yield box, home
    finally:
        if box is not None:
            box.stop()
        if temporary:
            shutil.rmtree(home, ignore_errors=True)
