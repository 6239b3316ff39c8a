"""The one list of scalar settings: name, type, default, environment variable and the note `init` writes."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PROFILE = "default"
DEFAULT_SEGMENT_ENDPOINT = "https://api.segment.io"
DEFAULT_RATE_LIMIT_CALLS = 90
DEFAULT_RATE_LIMIT_WINDOW_S = 20.0
DEFAULT_MAX_CONCURRENCY = 5
DEFAULT_HTTP_TIMEOUT_S = 100.0
DEFAULT_MAX_RETRIES = 6
DEFAULT_LOOKUP_FIELD = "email"
DEFAULT_MEMORY_LIMIT = "1GB"
DEFAULT_KEEP_CHANGES = "90d"
BEFORE_VALUES = ("stored", "marketo")  # where backfill-leads learns before-values; the first is the default
SEGMENT_REGIONS = {"us": "https://api.segment.io", "eu": "https://events.eu1.segmentapis.com"}
SECRET_ENV = {
    "marketo_client_secret": "SEGMARKETO_MARKETO_CLIENT_SECRET",
    "segment_write_key": "SEGMARKETO_SEGMENT_WRITE_KEY",
}
# Secrets only `segmarketo listen` needs (not checked by doctor or listed by a plain `auth status`).
LISTEN_SECRET_ENV = {
    "listen_shared_secret": "SEGMARKETO_LISTEN_SHARED_SECRET",
    "listen_token": "SEGMARKETO_LISTEN_TOKEN",
}

ScalarValue = str | int | float


@dataclass(frozen=True)
class ScalarSetting:
    """One scalar profile key. `note` is the comment `init` writes above it; `example` is written commented out
    when there is no default; `in_template` False keeps it out of the written profile."""

    name: str
    kind: type[str] | type[int] | type[float]
    default: ScalarValue | None = None
    note: tuple[str, ...] = ()
    example: str | None = None
    in_template: bool = True

    @property
    def env(self) -> str:
        return f"SEGMARKETO_{self.name.upper()}"


SCALARS: tuple[ScalarSetting, ...] = (
    ScalarSetting("marketo_endpoint", str, note=(
        "# Marketo REST endpoint (Admin > Integration > Web Services), without /rest or /identity.",)),
    ScalarSetting("marketo_client_id", str, note=(
        "# Client id of the LaunchPoint custom service (its secret goes to the keyring).",)),
    ScalarSetting("segment_endpoint", str, DEFAULT_SEGMENT_ENDPOINT, note=(
        '# Segment HTTP API host: "us" (https://api.segment.io), "eu" (https://events.eu1.segmentapis.com) or a URL.',
    )),
    ScalarSetting("rate_limit_calls", int, DEFAULT_RATE_LIMIT_CALLS, note=(
        "",
        "# API limits. Marketo allows 100 calls / 20 s and 10 concurrent calls per instance, shared by every",
        "# integration, and about 50,000 calls a day.",
    )),
    ScalarSetting("rate_limit_window_s", float, DEFAULT_RATE_LIMIT_WINDOW_S),
    ScalarSetting("max_concurrency", int, DEFAULT_MAX_CONCURRENCY),
    ScalarSetting("daily_budget", int, example="20000"),
    ScalarSetting("http_timeout_s", float, DEFAULT_HTTP_TIMEOUT_S, in_template=False),
    ScalarSetting("max_retries", int, DEFAULT_MAX_RETRIES, in_template=False),
    ScalarSetting("lookup_field", str, DEFAULT_LOOKUP_FIELD, note=(
        "# Marketo field used to find leads (any searchable field, e.g. a custom segmentUserId).",)),
    ScalarSetting("user_id_field", str, example='"segmentUserId"', note=(
        "# Marketo field that holds the Segment userId (write-back reads it; backfill writes it). Empty = none.",)),
    ScalarSetting("partition", str, example='"EMEA"', note=(
        "# Lead partition new leads are created in (segmarketo doctor lists the instance's). Empty = Marketo's "
        "default.",)),
    ScalarSetting("bulk_row_field", str, example='"segmarketoImportRow"', note=(
        "# Scratch lead field (custom String, written by nothing else) that Bulk Import files carry a row number "
        "in, so",
        "# failed rows are matched back exactly. Empty = none: unmatched jobs are resent through Sync Leads instead.",
    )),
    ScalarSetting("before_values", str, BEFORE_VALUES[0], note=(
        "# Where backfill-leads learns each lead's values before it writes (the change log, runs undo): stored (no",
        "# extra call: the state store, Marketo only where fill_only / newer_only need it) or marketo (one Get Leads",
        "# call per 300 leads written: exact created / updated and before-values).",
    )),
    ScalarSetting("notify", str, in_template=False),  # alert webhook URL (docs/syncs.md)
    ScalarSetting("memory_limit", str, DEFAULT_MEMORY_LIMIT, note=(
        "",
        "# Memory the planning engine may use before it spills to the state folder (e.g. 512MB, 4GB).",
    )),
    ScalarSetting("keep_changes", str, DEFAULT_KEEP_CHANGES, note=(
        "# How long the change log keeps what each run wrote (for 'runs show --changes' and 'runs undo'): "
        "90d, 12w, ...",
        "# Every real run drops the changes of runs started longer ago.",
    )),
)
SCALAR_BY_NAME = {setting.name: setting for setting in SCALARS}
# The order `init` writes them in: identity of the instance and the leads first, then the API limits.
TEMPLATE_ORDER = ("marketo_endpoint", "marketo_client_id", "segment_endpoint", "lookup_field", "user_id_field",
                  "partition", "bulk_row_field", "before_values", "memory_limit", "keep_changes", "rate_limit_calls",
                  "rate_limit_window_s", "max_concurrency", "daily_budget")


def environment_settings() -> list[tuple[str, str, ScalarValue | None]]:
    """(setting name, environment variable, default) for every scalar setting; used by docs and man pages."""
    return [(setting.name, setting.env, setting.default) for setting in SCALARS]
