"""`doctor` checks: configuration, secrets, token, Describe, activity types, Segment endpoint, today's API usage."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from segmarketo_cli import paths
from segmarketo_cli.config import (
    SEGMENT_REGIONS,
    FieldsSection,
    Settings,
    environment_settings,
    load_settings,
    read_config_file,
)
from segmarketo_cli.errors import ConfigError, SegmarketoError, ServiceUnavailable
from segmarketo_cli.http import redact
from segmarketo_cli.jobs.apply_events.prepare import load_rules, resolve_rules
from segmarketo_cli.jobs.backfill_leads.plan import Ownership
from segmarketo_cli.jobs.bulk_import.reports import check_row_field
from segmarketo_cli.jobs.services import Services, build_marketo
from segmarketo_cli.jobs.writeback.prepare import prepare_profile as prepare_writeback_profile
from segmarketo_cli.mapping.mapper import FieldCatalog, load_catalog
from segmarketo_cli.marketo.usage import MARKETO_DAILY_QUOTA
from segmarketo_cli.secrets import SECRET_LABELS, secret_status
from segmarketo_cli.sizes import human_size, parse_memory_limit
from segmarketo_cli.state import registry
from segmarketo_cli.state.ledger import instance_key, ledger_path
from segmarketo_cli.suggest import did_you_mean

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient

# doctor is interactive: a dead or hung endpoint is reported in seconds, not after a cron run's retry ladder.
DOCTOR_CONNECT_TIMEOUT_S = 5.0
DOCTOR_READ_TIMEOUT_S = 15.0
DOCTOR_RETRIES = 1
ENV_NAMES = {name: env for name, env, _default in environment_settings()}
USAGE_WARN_SHARE = 0.8


@dataclass(frozen=True)
class Check:
    """One line of the doctor's answer: ok, warn, fail or skip, and what was found (never a secret)."""

    name: str
    status: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _source(settings: Settings, name: str) -> str:
    source = settings.sources.get(name, "default")
    if source == "env":
        return f"env {ENV_NAMES[name]}"
    if source == "profile":
        return f"profile '{settings.profile}'"
    return source


def config_checks(profile: str | None) -> tuple[Settings | None, list[Check]]:
    """The configuration file, the profile and where each setting comes from."""
    path = paths.config_file()
    try:
        read_config_file(path)  # unreadable, not UTF-8, not TOML, or writable by others: this line fails
    except ConfigError as exc:
        return None, [Check("config file", "fail", redact(exc.message + (f" ({exc.hint})" if exc.hint else "")))]
    checks = [Check("config file", "ok", f"{path}" + ("" if path.exists() else " (not found: environment and "
                                                                              "defaults only; see 'segmarketo init')"))]
    try:
        settings = load_settings(profile)
    except ConfigError as exc:
        return None, [*checks, Check("profile", "fail", redact(exc.message))]
    checks.append(Check("profile", "ok", settings.profile))
    for name in ENV_NAMES:
        value = getattr(settings, name)
        shown = "(not set)" if value is None else str(value)
        status = "fail" if value is None and name in ("marketo_endpoint", "marketo_client_id") else "ok"
        checks.append(Check(f"setting {name}", status, f"{shown} ({_source(settings, name)})"))
    return settings, checks


def secret_checks(settings: Settings) -> list[Check]:
    """Where each secret comes from (environment or keyring); a missing one fails. Values are never read out."""
    checks = []
    for status in secret_status(settings.profile):
        label = SECRET_LABELS[status.name]
        if status.source == "missing":
            checks.append(Check(f"secret {status.name}", "fail", f"{label} missing: {status.detail}"))
        else:
            checks.append(Check(f"secret {status.name}", "ok", f"{label} from {status.source} ({status.detail})"))
    return checks


def describe_checks(settings: Settings, client: MarketoClient) -> list[Check]:
    """Every field the profile names exists in Describe; written ones are writable; the lookup field is searchable."""
    catalog = load_catalog(client, None, refresh=True)
    checks = [Check("describe", "ok", f"{len(catalog.fields)} lead fields, "
                    + (f"{len(catalog.searchable)} searchable" if catalog.searchable is not None
                       else "searchable fields unknown (no Describe Lead2)"))]
    try:
        targets = dict(settings.sections.mapping.targets)
    except ConfigError as exc:  # the [mapping] section: the other fields are still checked
        targets = {}
        checks.append(Check("mapping", "fail", exc.message))
    problems = []
    for trait, target in sorted(targets.items()):
        info = catalog.get(target)
        if info is None:
            problems.append(f"'{trait}' -> '{target}' is not a Marketo lead field"
                            f"{did_you_mean(target, catalog.fields)}")
        elif info.read_only:
            problems.append(f"'{trait}' -> '{target}' is read-only")
    if targets:
        checks.append(Check("mapping", "fail" if problems else "ok",
                            "; ".join(problems) if problems else f"{len(targets)} target(s) exist and are writable"))
    checks.extend(_fields_checks(settings, catalog))
    if settings.user_id_field:
        info = catalog.get(settings.user_id_field)
        ok = info is not None and not info.read_only
        checks.append(Check("user_id_field", "ok" if ok else "fail",
                            f"'{settings.user_id_field}' " + ("exists and is writable" if ok else
                                                              "is not a writable lead field")))
    if settings.bulk_row_field:
        try:
            check_row_field(catalog, settings.bulk_row_field, lookup_field=settings.lookup_field,
                            mapped=targets.values())
            checks.append(Check("bulk_row_field", "ok", f"'{settings.bulk_row_field}' can hold Bulk Import row "
                                                         "numbers"))
        except ConfigError as exc:
            checks.append(Check("bulk_row_field", "fail", exc.message))
    try:
        catalog.check_lookup(settings.lookup_field)
        checks.append(Check("lookup_field", "ok", f"'{settings.lookup_field}' is searchable"))
    except ConfigError as exc:
        checks.append(Check("lookup_field", "fail", exc.message))
    checks.extend(_rules_checks(settings, client, catalog))
    return checks


def _fields_checks(settings: Settings, catalog: FieldCatalog) -> list[Check]:
    """The [fields] section, when it names any field: every field known to Marketo."""
    try:
        fields = settings.sections.fields
        if fields == FieldsSection():
            return []
        Ownership.of(fields, catalog, where=f"[profiles.{settings.profile}.fields]")
    except ConfigError as exc:
        return [Check("fields", "fail", exc.message)]
    return [Check("fields", "ok", "every [fields] list names a known lead field")]


def _rules_checks(settings: Settings, client: MarketoClient, catalog: FieldCatalog) -> list[Check]:
    """The profile's [[rules]], when it has any, resolved against the instance like apply-events does."""
    try:
        if settings.sections.rules is None:
            return []
        rules = load_rules(settings)
        resolve_rules(rules, catalog, client)
    except SegmarketoError as exc:
        return [Check("rules", "fail", redact(exc.message))]
    return [Check("rules", "ok", f"{len(rules)} profile rule(s): fields, programs, statuses and campaigns exist")]


def activity_type_check(settings: Settings, client: MarketoClient) -> Check:
    """Every activity type writeback's event table reads exists on the instance."""
    events = prepare_writeback_profile(settings, Services(settings, _marketo=client)).events
    known = {str(t.get("name")) for t in client.get_activity_types()}
    missing = sorted(name for name in events if name not in known)
    if missing:
        return Check("activity types", "fail", "not on this instance: " + ", ".join(missing)
                     + " (check [writeback.events])")
    return Check("activity types", "ok", f"all {len(events)} write-back activity types exist")


def partition_check(settings: Settings, client: MarketoClient) -> Check:
    """The instance's lead partitions (Get Lead Partitions), and whether the profile's `partition` is one of them."""
    names = [str(row.get("name")) for row in client.get_lead_partitions() if row.get("name")]
    listed = ", ".join(names) or "none"
    if settings.partition is None:
        return Check("lead partitions", "ok", f"{listed}; new leads go to Marketo's default partition "
                                              "('partition' not set)")
    if settings.partition in names:
        return Check("lead partitions", "ok", f"'{settings.partition}' exists (partitions: {listed})")
    return Check("lead partitions", "fail", f"partition '{settings.partition}' ({_source(settings, 'partition')}) "
                                            f"is not on this instance; valid names: {listed}")


def ledger_check(settings: Settings) -> Check:
    """Whether this home may use the instance's ledger, as every writing job will ask the per-user registry."""
    instance = str(settings.marketo_endpoint)
    path = ledger_path(paths.state_dir(), instance)
    try:
        refusal = registry.problem(instance_key(instance), instance, path)
    except SegmarketoError as exc:
        refusal = exc
    if refusal is not None:
        return Check("instance ledger", "fail", redact(refusal.message + (f" ({refusal.hint})" if refusal.hint
                                                                           else "")))
    return Check("instance ledger", "ok", f"{path}" + ("" if path.exists() else " (the first job creates it)"))


def engine_check(settings: Settings) -> Check:
    """The planning engine's memory limit and spill folder, with the free space of the disk it is on."""
    folder = paths.engine_dir(paths.state_dir(), settings.profile)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    free = f", {human_size(shutil.disk_usage(existing).free)} free there" if existing is not None else ""
    limit = human_size(parse_memory_limit(settings.memory_limit))
    return Check("planning engine", "ok", f"memory limit {limit} ({_source(settings, 'memory_limit')}); "
                                          f"spills to {folder}{free}")


def segment_checks(settings: Settings) -> list[Check]:
    """The resolved endpoint and region; why the write key cannot be checked; the audience-loop warning."""
    url = settings.segment_endpoint
    region = {v: k.upper() for k, v in SEGMENT_REGIONS.items()}.get(url)
    if region:
        where = (f"{region} region; the source's workspace must be in the {region} region, or Segment accepts "
                 "the events and drops them")
    else:
        where = f"custom endpoint on {urlsplit(url).hostname} (a proxy or the sandbox)"
    return [
        Check("segment endpoint", "ok", f"{url}/v1/batch ({_source(settings, 'segment_endpoint')}), {where}"),
        Check("segment write key", "warn", "cannot be validated: Segment answers 200 even for a wrong write key; "
              "after the first writeback, check the events arrive in the source's debugger"),
        Check("segment audiences", "warn", "write-back events can feed Engage audiences; an audience synced to "
              "Marketo must not depend on them (or must use Destination Filters), or lists will loop"),
    ]


def usage_check(settings: Settings, client: MarketoClient) -> Check:
    """Today's calls on the instance (every integration) against the daily budget, or Marketo's 50,000."""
    used = int(client.usage_today().get("total") or 0)
    budget = settings.daily_budget or MARKETO_DAILY_QUOTA
    what = "daily_budget" if settings.daily_budget else "Marketo's daily quota"
    share = used / budget
    detail = f"{used:,} calls today of {budget:,} ({what}), {share:.0%}"
    if share >= 1:
        return Check("api usage", "fail", detail + ": jobs will stop with exit 75 until the quota resets")
    return Check("api usage", "warn" if share >= USAGE_WARN_SHARE else "ok", detail)


def doctor_client(settings: Settings) -> MarketoClient:
    """The profile's Marketo client with doctor's short timeouts and a single retry."""
    return build_marketo(settings, timeout=min(settings.http_timeout_s, DOCTOR_READ_TIMEOUT_S),
                         connect_timeout=DOCTOR_CONNECT_TIMEOUT_S, max_retries=DOCTOR_RETRIES)


def _guarded(name: str, check: Callable[[], Check | list[Check]], down: list[str]) -> list[Check]:
    """Run one remote check; a Marketo error fails that line only (redacted), the others still run. Once
    Marketo stops answering (`down`), the later remote checks are skipped instead of waited for."""
    if down:
        return [Check(name, "skip", "needs Marketo to answer")]
    try:
        result = check()
    except ServiceUnavailable as exc:
        down.append(name)
        return [Check(name, "fail", redact(exc.message))]
    except SegmarketoError as exc:
        return [Check(name, "fail", redact(exc.message))]
    return result if isinstance(result, list) else [result]


def run_checks(profile: str | None, build_client: Callable[[Settings], MarketoClient]) -> Iterator[Check]:
    """Every check in order; remote ones are skipped (one line each) when a prerequisite failed."""
    settings, checks = config_checks(profile)
    yield from checks
    if settings is None:
        return
    secrets = secret_checks(settings)
    yield from secrets
    yield from segment_checks(settings)
    yield engine_check(settings)
    if settings.marketo_endpoint:
        yield ledger_check(settings)
    remote = ("marketo token", "describe", "lead partitions", "activity types", "api usage")
    missing = [c.name for c in checks + secrets if c.status == "fail" and "segment" not in c.name]
    if missing:
        for name in remote:
            yield Check(name, "skip", "needs " + ", ".join(missing))
        return
    try:
        client = build_client(settings)
        client.fetch_token()
    except SegmarketoError as exc:
        yield Check("marketo token", "fail", redact(exc.message))
        for name in remote[1:]:
            yield Check(name, "skip", "needs a Marketo token")
        return
    yield Check("marketo token", "ok", f"issued by {settings.marketo_endpoint}/identity")
    down: list[str] = []
    yield from _guarded("describe", lambda: describe_checks(settings, client), down)
    yield from _guarded("lead partitions", lambda: partition_check(settings, client), down)
    yield from _guarded("activity types", lambda: activity_type_check(settings, client), down)
    yield from _guarded("api usage", lambda: usage_check(settings, client), down)
