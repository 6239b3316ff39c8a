"""backfill-leads before the lock: its flags, the profile's mapping and field tables, the input files."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segmarketo_cli.config.defaults import BEFORE_VALUES
from segmarketo_cli.config.sections import FieldsSection
from segmarketo_cli.errors import ConfigError
from segmarketo_cli.jobs.backfill_leads.plan import Ownership
from segmarketo_cli.jobs.bulk_import.reports import check_row_field
from segmarketo_cli.jobs.plan_file import check_plan_out
from segmarketo_cli.mapping.mapper import FieldCatalog, load_mapping_file
from segmarketo_cli.sources import InputFile, preflight

if TYPE_CHECKING:
    from segmarketo_cli.config import Settings
    from segmarketo_cli.jobs.services import Services

DEFAULT_BULK_THRESHOLD = 20_000
FIELDS_WHERE = "[fields] of the profile"


@dataclass(frozen=True)
class BackfillOptions:
    """The command's flags (settings flags such as --lookup-field and --partition go through Settings)."""

    files: tuple[str, ...]
    input_format: str | None = None
    mapping_file: str | None = None
    auto_map: bool = True
    nulls: str = "keep"
    on_invalid: str = "reject"
    bulk_threshold: int = DEFAULT_BULK_THRESHOLD
    full: bool = False
    dry_run: bool = False
    plan_out: Path | None = None  # every planned change, field by field (.csv .jsonl .parquet .xlsx)


@dataclass(frozen=True)
class BackfillProfile:
    """What the profile configures for backfill-leads: how leads are found, its [mapping] and [fields] sections, the
    Bulk Import row-number field and where before-values come from (stored | marketo). The checks against Marketo's
    Describe are methods, run after the lock."""

    lookup_field: str
    user_id_field: str | None
    mapping: dict[str, str]
    fields: FieldsSection
    bulk_row_field: str | None
    before_values: str = BEFORE_VALUES[0]

    def ownership(self, catalog: FieldCatalog) -> Ownership:
        """The [fields] section, every field it names known to Marketo (ConfigError otherwise)."""
        return Ownership.of(self.fields, catalog, where=FIELDS_WHERE)

    def check_row_field(self, catalog: FieldCatalog, mapped: Iterable[str]) -> None:
        """ConfigError unless bulk_row_field (when set) is a writable scratch field no `mapped` target uses."""
        check_row_field(catalog, self.bulk_row_field, lookup_field=self.lookup_field, mapped=mapped)


@dataclass(frozen=True)
class PreparedBackfill:
    """Everything `run` needs, checked: the profile, the mapping (the profile's plus --mapping), the readable
    input files and the flags."""

    profile: BackfillProfile
    mapping: dict[str, str]
    inputs: list[InputFile]
    options: BackfillOptions


def prepare_profile(settings: Settings, services: Services) -> BackfillProfile:
    """The profile's [mapping] and [fields] sections (a broken one: ConfigError, exit 2). It needs no call, so
    `services` is unused; the checks against Describe run after the lock."""
    sections = settings.sections
    return BackfillProfile(settings.lookup_field, settings.user_id_field, dict(sections.mapping.targets),
                           sections.fields, settings.bulk_row_field, settings.before_values)


def prepare(settings: Settings, options: BackfillOptions, services: Services) -> PreparedBackfill:
    """Every check that can fail before the lock, with no call to Marketo: the lookup field, a writable --plan-out
    and the mapping (ConfigError, exit 2), then the input files (InputError, exit 1)."""
    if settings.lookup_field == "id":
        raise ConfigError("--lookup-field id is update-only in Marketo; backfill-leads creates leads, "
                          "use email or a searchable custom field")
    if options.plan_out is not None:
        check_plan_out(options.plan_out)
    profile = prepare_profile(settings, services)
    mapping = dict(profile.mapping)
    if options.mapping_file:
        mapping.update(load_mapping_file(options.mapping_file))
    inputs = preflight(list(options.files), options.input_format)
    return PreparedBackfill(profile, mapping, inputs, options)
