"""writeback before the lock: its flags, the profile's [writeback] table, the window, and the stored cursor."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmarketo_cli import paths
from segmarketo_cli.endpoints import normalize_endpoint
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.jobs.plan_file import check_plan_out
from segmarketo_cli.jobs.writeback.plan import Window, parse_window, resolve_events, resolve_integrations
from segmarketo_cli.marketo.bulk import EXTRACT_POLL_INTERVAL_S

if TYPE_CHECKING:
    from segmarketo_cli.config import Settings
    from segmarketo_cli.jobs.services import Services
    from segmarketo_cli.state import StateStore

CURSOR = "writeback"
DEFAULT_BULK_AFTER_DAYS = 7.0


@dataclass(frozen=True)
class WritebackOptions:
    """The command's flags (None = not given: the profile's [writeback] table or the default applies)."""

    since: str | None = None
    until: str | None = None
    activity_types: str | None = None
    identity: str | None = None
    bulk: bool = False
    bulk_after_days: float | None = None
    plan_out: Path | None = None  # the events as plan rows (PLAN_COLUMNS); nothing is sent
    payloads_out: Path | None = None  # the batch payloads, one JSON line per batch; nothing is sent
    dry_run: bool = False
    poll_interval_s: float = EXTRACT_POLL_INTERVAL_S  # between Bulk Extract status checks; benches shorten it

    @property
    def sends(self) -> bool:
        """Whether the run sends to Segment (and moves the cursor): not a dry run, no --plan-out, no
        --payloads-out."""
        return not (self.dry_run or self.plan_out or self.payloads_out)


@dataclass(frozen=True)
class WritebackProfile:
    """The [writeback] table checked, with the flags that override it: which activity types become which events,
    the batch `integrations`, the identity mode, and the window length from which Bulk Extract reads."""

    events: dict[str, str]  # Marketo activity type name -> Segment event name
    explicit_types: set[str]  # types the user named: one Marketo lacks is an error, not a note
    integrations: dict[str, bool]
    identity: str
    bulk_after: timedelta


@dataclass(frozen=True)
class PreparedWriteback:
    """Everything `run` needs, checked: the profile, the window (settled at `now`) and the flags."""

    profile: WritebackProfile
    window: Window
    now: datetime
    options: WritebackOptions


def prepare_profile(settings: Settings, services: Services, *,
                    flags: WritebackOptions | None = None) -> WritebackProfile:
    """The profile's [writeback] section with `flags` (--activity-types, --identity and --bulk-threshold) applied;
    raises ConfigError (exit 2) before any call, so `services` is unused. `doctor` calls it without flags."""
    flags = flags or WritebackOptions()
    section = settings.sections.writeback
    events = resolve_events(section.events, flags.activity_types, extras=section.marketo_extras)
    explicit = set(section.events)
    if flags.activity_types:
        explicit |= {e.strip().lstrip("+-").partition("=")[0].strip() for e in flags.activity_types.split(",")}
    identity = flags.identity or section.identity or "auto"
    if identity == "user-id-only" and not settings.user_id_field:
        raise ConfigError(
            "--identity user-id-only needs the lead field that holds Segment's userId: "
            "set user_id_field in the profile or SEGMARKETO_USER_ID_FIELD"
        )
    bulk_after = flags.bulk_after_days if flags.bulk_after_days is not None else section.bulk_after_days
    return WritebackProfile(
        events=events,
        explicit_types={e for e in explicit if e},
        integrations=resolve_integrations(section.integrations),
        identity=identity,
        bulk_after=timedelta(days=DEFAULT_BULK_AFTER_DAYS if bulk_after is None else bulk_after),
    )


def prepare(
    settings: Settings, options: WritebackOptions, services: Services, *, now: datetime | None = None
) -> PreparedWriteback:
    """Every refusal that can come before a run starts, as one line and exit 2 with no run recorded: flag
    combinations, an unwritable --plan-out or --payloads-out, the [writeback] table, the window, and a first run
    without --since."""
    if options.plan_out and options.payloads_out and options.plan_out.resolve() == options.payloads_out.resolve():
        raise ConfigError("--plan-out and --payloads-out name the same file")
    if options.plan_out:
        check_plan_out(options.plan_out)
    if options.payloads_out:
        paths.check_writable(options.payloads_out, "--payloads-out")
    now = now or datetime.now(timezone.utc)
    profile = prepare_profile(settings, services, flags=options)
    window = parse_window(options.since, options.until, now)
    if window.since is None:
        endpoint, _ = settings.require_marketo()
        if load_cursor(services.store, normalize_endpoint(endpoint, what="Marketo endpoint")) is None:
            raise no_cursor(settings.profile)
    return PreparedWriteback(profile=profile, window=window, now=now, options=options)


def load_cursor(store: StateStore, instance: str) -> dict[str, Any] | None:
    """The stored write-back cursor of `instance` ({"mode": "rest" | "bulk", ...}), None when there is none."""
    raw = store.get_cursor(instance, CURSOR)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict) or value.get("mode") not in ("rest", "bulk"):
        raise ConfigError(f"the stored writeback cursor is unreadable ({raw[:60]!r}); run with --since to reset it")
    return value


def no_cursor(profile: str) -> ConfigError:
    """The refusal of a first run without --since."""
    return ConfigError(
        f"no writeback cursor is stored for profile '{profile}' yet: "
        "the first run needs --since (e.g. --since 7d or --since 2025-05-01)"
    )
