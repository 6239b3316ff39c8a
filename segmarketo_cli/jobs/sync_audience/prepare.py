"""sync-audience before the lock: its flags, the profile's identity fields, the audience file and its mode."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.jobs.plan_file import check_plan_out
from segmarketo_cli.jobs.sync_audience.plan import parse_max_removals
from segmarketo_cli.sources.audience.readers import AudienceInput, read_audience

if TYPE_CHECKING:
    from segmarketo_cli.config import Settings
    from segmarketo_cli.jobs.services import Services

DEFAULT_EXTRACT_THRESHOLD = 50_000


@dataclass(frozen=True)
class SyncOptions:
    """The command's flags (settings flags such as --partition go through Settings); `mode` None: from the file."""

    file: str
    list_name: str | None = None
    list_id: int | None = None
    mode: str | None = None
    audience_key: str | None = None
    id_column: str | None = None
    id_type: str | None = None
    sheet: str | None = None
    create_list: bool = False
    folder: str | None = None
    create_missing: bool = False
    max_removals: str | None = None
    force: bool = False
    extract_threshold: int = DEFAULT_EXTRACT_THRESHOLD
    strict: bool = False
    plan_out: Path | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class AudienceProfile:
    """What the profile configures for sync-audience: the fields that find people's leads, and the Bulk Import
    row-number field (checked against Marketo's Describe after the lock, only when a Bulk Import is planned)."""

    lookup_field: str = "email"
    user_id_field: str | None = None
    bulk_row_field: str | None = None


@dataclass(frozen=True)
class PreparedSync:
    """Everything `run` needs, checked: the profile, the flags, the audience read from FILE and the mode."""

    profile: AudienceProfile
    options: SyncOptions
    audience: AudienceInput
    mode: str


def prepare_profile(settings: Settings, services: Services) -> AudienceProfile:
    """The profile's identity fields (their names are validated with the settings). It needs no call, so
    `services` is unused."""
    return AudienceProfile(settings.lookup_field, settings.user_id_field, settings.bulk_row_field)


def prepare(settings: Settings, options: SyncOptions, services: Services) -> PreparedSync:
    """Every check that can fail before the lock, with no call to Marketo: the flag combinations (ConfigError,
    exit 2), the audience file's header (InputError, exit 1, or ConfigError) and its kind against --mode. Its
    rows are read once, by the run, which checks them before anything is written."""
    check_flags(options)
    profile = prepare_profile(settings, services)
    audience = read_audience(options.file, audience=options.audience_key, id_column=options.id_column,
                             id_type=options.id_type, sheet=options.sheet, count=False)
    return PreparedSync(profile, options, audience, resolve_mode(options, audience))


def check_flags(options: SyncOptions) -> None:
    """Exactly one list, --create-list with a name and a folder, a valid --max-removals, a writable --plan-out."""
    if (options.list_name is None) == (options.list_id is None):
        raise ConfigError("give exactly one of --list NAME or --list-id ID")
    if options.create_list and (options.list_id is not None or not options.folder):
        raise ConfigError("--create-list needs --list NAME and --folder NAME")
    parse_max_removals(options.max_removals)
    if options.plan_out is not None:
        check_plan_out(options.plan_out)


def resolve_mode(options: SyncOptions, audience: AudienceInput) -> str:
    """--mode, by default mirror for a snapshot and delta for events; a mode the file cannot feed is refused."""
    mode = options.mode or ("mirror" if audience.kind == "snapshot" else "delta")
    if mode == "mirror" and audience.kind == "events":
        raise ConfigError(f"{options.file} holds audience entries and exits, not full membership: "
                          "use --mode delta (or add-only)")
    if mode == "delta" and audience.kind == "snapshot":
        raise ConfigError(f"{options.file} is a full membership snapshot with no exits: use --mode mirror "
                          "(or add-only)")
    return mode
