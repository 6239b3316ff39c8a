"""Settings: flag > SEGMARKETO_* environment > profile in config.toml > default."""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import paths
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_PROFILE = "default"
DEFAULT_SEGMENT_ENDPOINT = "https://api.segment.io"
SEGMENT_REGIONS = {"us": "https://api.segment.io", "eu": "https://events.eu1.segmentapis.com"}

# Scalar settings: name -> (environment variable, type, default).
_SCALARS: dict[str, tuple[str, type, Any]] = {
    "marketo_endpoint": ("SEGMARKETO_MARKETO_ENDPOINT", str, None),
    "marketo_client_id": ("SEGMARKETO_MARKETO_CLIENT_ID", str, None),
    "segment_endpoint": ("SEGMARKETO_SEGMENT_ENDPOINT", str, DEFAULT_SEGMENT_ENDPOINT),
    "rate_limit_calls": ("SEGMARKETO_RATE_LIMIT_CALLS", int, 90),
    "rate_limit_window_s": ("SEGMARKETO_RATE_LIMIT_WINDOW_S", float, 20.0),
    "max_concurrency": ("SEGMARKETO_MAX_CONCURRENCY", int, 5),
    "daily_budget": ("SEGMARKETO_DAILY_BUDGET", int, None),
    "http_timeout_s": ("SEGMARKETO_HTTP_TIMEOUT_S", float, 120.0),
    "max_retries": ("SEGMARKETO_MAX_RETRIES", int, 6),
    "lookup_field": ("SEGMARKETO_LOOKUP_FIELD", str, "email"),
    "user_id_field": ("SEGMARKETO_USER_ID_FIELD", str, None),
}
SECRET_ENV = {
    "marketo_client_secret": "SEGMARKETO_MARKETO_CLIENT_SECRET",
    "segment_write_key": "SEGMARKETO_SEGMENT_WRITE_KEY",
}


def environment_settings() -> list[tuple[str, str, Any]]:
    """(setting name, environment variable, default) for every scalar setting; used by docs and man pages."""
    return [(name, env, default) for name, (env, _kind, default) in _SCALARS.items()]


@dataclass
class Settings:
    """Resolved settings of one profile. Secrets are not held here; see secrets.py."""

    profile: str = DEFAULT_PROFILE
    marketo_endpoint: str | None = None
    marketo_client_id: str | None = None
    segment_endpoint: str = DEFAULT_SEGMENT_ENDPOINT
    rate_limit_calls: int = 90
    rate_limit_window_s: float = 20.0
    max_concurrency: int = 5
    daily_budget: int | None = None
    http_timeout_s: float = 120.0
    max_retries: int = 6
    lookup_field: str = "email"
    user_id_field: str | None = None
    # Sub-tables of the profile, kept raw; each job validates its own.
    tables: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    config_path: Path | None = None

    def table(self, name: str) -> dict[str, Any]:
        """A sub-table of the profile (e.g. 'mapping', 'fields', 'writeback'), empty when absent."""
        value = self.tables.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"{self.config_path}: [profiles.{self.profile}.{name}] must be a table")
        return value

    def require_marketo(self) -> None:
        """Fail with one clear line when the Marketo endpoint or client id is missing."""
        for name in ("marketo_endpoint", "marketo_client_id"):
            if not getattr(self, name):
                env = _SCALARS[name][0]
                raise ConfigError(
                    f"{name.replace('_', ' ')} is not set: set {env} or '{name}' in profile "
                    f"'{self.profile}' of {self.config_path}"
                )


def normalize_endpoint(url: str, *, what: str = "endpoint") -> str:
    """Strip trailing '/', '/rest' and '/identity'; refuse plain http except to loopback hosts."""
    url = url.strip().rstrip("/")
    for suffix in ("/rest", "/identity"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} '{url}' is not an http(s) URL (expected e.g. https://123-ABC-456.mktorest.com)")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(f"{what} '{url}' uses plain http; only https is allowed except to loopback hosts")
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse config.toml; a missing file is an empty config, a broken one a ConfigError."""
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def _coerce(value: Any, kind: type, *, where: str, key: str) -> Any:
    if value is None:
        return None
    if kind is int and isinstance(value, bool):
        raise ConfigError(f"{where}: '{key}' expects a whole number, got {value!r}")
    try:
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


def load_settings(profile: str | None = None, overrides: dict[str, Any] | None = None) -> Settings:
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
    for name, (env, kind, default) in _SCALARS.items():
        if overrides.get(name) is not None:
            value, where, source = overrides[name], "option", "flag"
        elif os.environ.get(env):
            value, where, source = os.environ[env], f"environment variable {env}", "env"
        elif name in section:
            value, where, source = section[name], f"{path} [profiles.{profile}]", "profile"
        else:
            value, where, source = default, "default", "default"
        setattr(settings, name, _coerce(value, kind, where=where, key=name))
        settings.sources[name] = source
    settings.tables = {k: v for k, v in section.items() if isinstance(v, (dict, list))}
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    where = f"{settings.config_path} [profiles.{settings.profile}]"
    if settings.marketo_endpoint:
        settings.marketo_endpoint = normalize_endpoint(settings.marketo_endpoint, what="Marketo endpoint")
    region = SEGMENT_REGIONS.get(settings.segment_endpoint.lower())
    settings.segment_endpoint = normalize_endpoint(region or settings.segment_endpoint, what="Segment endpoint")
    if not 1 <= settings.max_concurrency <= 10:
        raise ConfigError(f"{where}: 'max_concurrency' must be between 1 and 10 (Marketo allows 10 in flight)")
    if not 1 <= settings.rate_limit_calls <= 100:
        raise ConfigError(f"{where}: 'rate_limit_calls' must be between 1 and 100 (Marketo allows 100 per 20 s)")
    if settings.rate_limit_window_s <= 0:
        raise ConfigError(f"{where}: 'rate_limit_window_s' must be positive")
    if settings.daily_budget is not None and settings.daily_budget < 1:
        raise ConfigError(f"{where}: 'daily_budget' must be a positive number of calls")
