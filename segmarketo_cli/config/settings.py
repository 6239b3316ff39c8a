"""Settings: flag > SEGMARKETO_* environment > profile in config.toml > default."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmarketo_cli import paths
from segmarketo_cli.config.defaults import (
    BEFORE_VALUES,
    DEFAULT_HTTP_TIMEOUT_S,
    DEFAULT_KEEP_CHANGES,
    DEFAULT_LOOKUP_FIELD,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_PROFILE,
    DEFAULT_RATE_LIMIT_CALLS,
    DEFAULT_RATE_LIMIT_WINDOW_S,
    DEFAULT_SEGMENT_ENDPOINT,
    SCALAR_BY_NAME,
    SCALARS,
    SEGMENT_REGIONS,
    ScalarValue,
)
from segmarketo_cli.config.sections import ProfileSections, check_profile_keys, check_table_shapes, read_sections
from segmarketo_cli.endpoints import normalize_endpoint
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.notify import check_webhook_url
from segmarketo_cli.sizes import parse_memory_limit
from segmarketo_cli.timeparse import duration_s
from segmarketo_cli.tomlfiles import load_toml


@dataclass
class Settings:
    """Resolved settings of one profile. Secrets are not held here; see secrets.py."""

    profile: str = DEFAULT_PROFILE
    marketo_endpoint: str | None = None
    marketo_client_id: str | None = None
    segment_endpoint: str = DEFAULT_SEGMENT_ENDPOINT
    rate_limit_calls: int = DEFAULT_RATE_LIMIT_CALLS
    rate_limit_window_s: float = DEFAULT_RATE_LIMIT_WINDOW_S
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    daily_budget: int | None = None
    http_timeout_s: float = DEFAULT_HTTP_TIMEOUT_S
    max_retries: int = DEFAULT_MAX_RETRIES
    lookup_field: str = DEFAULT_LOOKUP_FIELD
    user_id_field: str | None = None
    partition: str | None = None  # lead partition new leads are created in (partitionName); None: the default
    memory_limit: str = DEFAULT_MEMORY_LIMIT  # the planning engine's cap (docs/engine.md)
    keep_changes: str = DEFAULT_KEEP_CHANGES  # the change log's retention, a duration (docs/state.md "Change log")
    bulk_row_field: str | None = None  # scratch lead field for Bulk Import row numbers (docs/backfill-leads.md)
    before_values: str = BEFORE_VALUES[0]  # backfill-leads' before-values: stored | marketo (docs/backfill-leads.md)
    notify: str | None = None  # webhook posted on failed/partial/deferred/refused runs (docs/syncs.md)
    sections: ProfileSections = field(default_factory=ProfileSections)  # the profile's sub-tables, checked
    sources: dict[str, str] = field(default_factory=dict)
    config_path: Path | None = None

    def require_marketo(self) -> tuple[str, str]:
        """(endpoint, client id); one clear line when either is missing."""
        for name in ("marketo_endpoint", "marketo_client_id"):
            if not getattr(self, name):
                env = SCALAR_BY_NAME[name].env
                raise ConfigError(
                    f"{name.replace('_', ' ')} is not set: set {env} or '{name}' in profile "
                    f"'{self.profile}' of {self.config_path}"
                )
        return str(self.marketo_endpoint), str(self.marketo_client_id)


def normalize_segment_endpoint(value: str, *, what: str = "Segment endpoint") -> str:
    """A region name ('us', 'eu') or URL -> the Segment API base URL (without /v1/batch), checked like any endpoint."""
    segment = value.strip()
    segment = SEGMENT_REGIONS.get(segment.lower(), segment).rstrip("/")
    for suffix in ("/v1/batch", "/v1"):  # the sender appends /v1/batch itself
        if segment.endswith(suffix):
            segment = segment[: -len(suffix)]
    return normalize_endpoint(segment, what=what, example="'us', 'eu' or https://events.eu1.segmentapis.com")


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse config.toml; a missing file is an empty config; a broken or unsafe one a ConfigError."""
    if not path.exists():
        return {}
    try:
        check_private_config(path)
        return load_toml(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def check_private_config(path: Path) -> None:
    """Refuse a config file that group or others can write: whoever edits it can send the secrets elsewhere."""
    if os.name != "posix":
        return
    mode = path.stat().st_mode
    who = [name for bit, name in ((stat.S_IWGRP, "its group"), (stat.S_IWOTH, "other users")) if mode & bit]
    if who:
        raise ConfigError(
            f"{path}: writable by {' and '.join(who)}, so anyone of them could point the endpoints (and the "
            f"secrets sent to them) elsewhere; refusing to use it. Fix: chmod 600 {path}"
        )


def _coerce(value: Any, kind: type[ScalarValue], *, where: str, key: str) -> ScalarValue | None:
    """Convert a TOML or environment value to the setting's type, or fail naming where it came from."""
    if value is None:
        return None
    try:
        if isinstance(value, bool):  # TOML true/false is never a number or a name
            raise ValueError
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind is float:
            return float(value)
        if not isinstance(value, (str, int, float)):
            raise ValueError
        return str(value)
    except (TypeError, ValueError):
        expected = {int: "a whole number", float: "a number", str: "a string"}[kind]
        raise ConfigError(f"{where}: '{key}' expects {expected}, got {value!r}") from None


def load_settings(profile: str | None = None, overrides: Mapping[str, ScalarValue | None] | None = None) -> Settings:
    """Resolve the settings of `profile` (flag, else SEGMARKETO_PROFILE, else 'default')."""
    profile = profile or os.environ.get("SEGMARKETO_PROFILE") or DEFAULT_PROFILE
    path = paths.config_file()
    document = read_config_file(path)
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: 'profiles' must be a table of profiles, e.g. [profiles.default]")
    section = profiles.get(profile, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [profiles.{profile}] must be a table")
    if profile != DEFAULT_PROFILE and profile not in profiles and document:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(f"{path}: profile '{profile}' not found (profiles: {known})")
    settings = Settings(profile=profile, config_path=path)
    overrides = overrides or {}
    for setting in SCALARS:
        name = setting.name
        value: Any
        if overrides.get(name) is not None:
            value, source = overrides[name], "flag"
        elif os.environ.get(setting.env):
            value, source = os.environ[setting.env], "env"
        elif name in section:
            value, source = section[name], "profile"
        else:
            value, source = setting.default, "default"
        settings.sources[name] = source
        setattr(settings, name, _coerce(value, setting.kind, where=_origin(settings, name), key=name))
    check_table_shapes(section, path=path, profile=profile)
    check_profile_keys(section, SCALAR_BY_NAME, path=path, profile=profile)
    tables = {k: v for k, v in section.items() if isinstance(v, (dict, list))}
    _validate(settings)
    settings.sections = read_sections(tables, path=path, profile=profile,
                                      lookup_field=settings.lookup_field)
    return settings


def _origin(settings: Settings, name: str) -> str:
    """Where a setting's value came from, for error messages."""
    source = settings.sources.get(name, "profile")
    if source == "flag":
        return "command-line option"
    if source == "env":
        return f"environment variable {SCALAR_BY_NAME[name].env}"
    if source == "default":
        return "built-in default"
    return f"{settings.config_path} [profiles.{settings.profile}]"


def _check(settings: Settings, name: str, ok: bool, expected: str) -> None:
    if not ok:
        value = getattr(settings, name)
        raise ConfigError(f"{_origin(settings, name)}: '{name}' must be {expected}, got {value!r}")


def _validate(settings: Settings) -> None:
    if settings.marketo_endpoint:
        settings.marketo_endpoint = normalize_endpoint(
            settings.marketo_endpoint, what=f"{_origin(settings, 'marketo_endpoint')}: Marketo endpoint"
        )
    settings.segment_endpoint = normalize_segment_endpoint(
        settings.segment_endpoint, what=f"{_origin(settings, 'segment_endpoint')}: Segment endpoint"
    )
    _check(settings, "max_concurrency", 1 <= settings.max_concurrency <= 10,
           "between 1 and 10 (Marketo allows 10 calls in flight)")
    _check(settings, "rate_limit_calls", 1 <= settings.rate_limit_calls <= 100,
           "between 1 and 100 (Marketo allows 100 calls per 20 s)")
    _check(settings, "rate_limit_window_s", 0 < settings.rate_limit_window_s < 86400, "a positive number of seconds")
    _check(settings, "daily_budget", settings.daily_budget is None or settings.daily_budget >= 1,
           "a positive number of calls")
    _check(settings, "http_timeout_s", 0 < settings.http_timeout_s <= 3600, "between 0 and 3600 seconds")
    _check(settings, "max_retries", 0 <= settings.max_retries <= 50, "between 0 and 50")
    for name in ("lookup_field", "user_id_field", "bulk_row_field"):
        value = getattr(settings, name)
        _check(settings, name, value is None or bool(value.strip()), "a Marketo field name")
    from_flag = settings.sources.get("memory_limit") == "flag"
    parse_memory_limit(settings.memory_limit,
                       where="--memory-limit" if from_flag else f"{_origin(settings, 'memory_limit')}: 'memory_limit'")
    duration_s(settings.keep_changes, what=f"{_origin(settings, 'keep_changes')}: 'keep_changes'")
    _check(settings, "before_values", settings.before_values in BEFORE_VALUES, " or ".join(BEFORE_VALUES))
    _check(settings, "partition", settings.partition is None or bool(settings.partition.strip()),
           "a lead partition name")
    if settings.notify is not None:
        settings.notify = check_webhook_url(settings.notify, where=f"{_origin(settings, 'notify')}: 'notify'")
