"""apply-events before the lock: its flags, the rules and mapping, the input files, rule references in Marketo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from segmarketo_cli.jobs.apply_events.plan import Coercer, Targets
from segmarketo_cli.jobs.apply_events.resolve import check_constants, check_fields, make_coercer, resolve_targets
from segmarketo_cli.jobs.apply_events.rules import Rule, load_profile_rules, load_rules_file
from segmarketo_cli.jobs.plan_file import check_plan_out
from segmarketo_cli.mapping.mapper import FieldCatalog, Mapper, load_catalog
from segmarketo_cli.sources import InputFile, preflight

if TYPE_CHECKING:
    from segmarketo_cli.config import Settings
    from segmarketo_cli.jobs.services import Services
    from segmarketo_cli.marketo.client import MarketoClient


@dataclass(frozen=True)
class ApplyOptions:
    """The command's flags (settings flags such as --lookup-field and --partition go through Settings)."""

    files: tuple[str, ...]
    rules_path: str | None = None
    input_format: str | None = None
    reprocess: bool = False
    dry_run: bool = False
    plan_out: Path | None = None


@dataclass(frozen=True)
class ResolvedRules:
    """Rules checked against the instance: each rule's Marketo ids, and the coercion to each field's type."""

    rules: list[Rule]
    targets: dict[str, Targets]
    coerce: Coercer


@dataclass(frozen=True)
class ApplyProfile:
    """What the profile configures for apply-events, checked against Marketo: rules and how people find leads."""

    resolved: ResolvedRules
    lookup_field: str
    user_id_field: str | None
    mapper: Mapper | None  # maps a person to the lookup field when it is neither email nor the userId field
    workers: int


@dataclass(frozen=True)
class PreparedApply:
    """Everything `run` needs, checked: the profile, the readable input files and the flags."""

    profile: ApplyProfile
    inputs: list[InputFile]
    options: ApplyOptions


def load_rules(settings: Settings, rules_path: str | None = None) -> list[Rule]:
    """The rules of `--rules FILE`, else the profile's `[[profiles.NAME.rules]]`; ConfigError names rule and key."""
    if rules_path:
        return load_rules_file(rules_path)
    return load_profile_rules(settings.sections.rules, f"{settings.config_path} [profiles.{settings.profile}]")


def resolve_rules(rules: list[Rule], catalog: FieldCatalog, client: MarketoClient) -> ResolvedRules:
    """Check every rule against Marketo (fields, constants, programs and statuses, campaigns, lists); reads only."""
    check_fields(rules, {name: {"dataType": f.data_type, "readOnly": f.read_only}
                         for name, f in catalog.fields.items()})
    coercer = make_coercer(catalog)
    check_constants(rules, coercer)
    return ResolvedRules(rules, resolve_targets(client, rules), coercer)


def prepare_profile(settings: Settings, services: Services, *, rules_path: str | None = None) -> ApplyProfile:
    """The rules (`rules_path`, else the profile's) and the mapping table, then both checked against Marketo
    (reads only): rule references resolved, and the lookup field searchable when it is not email."""
    rules, mapping = _read_profile(settings, rules_path)
    return _check_in_marketo(settings, services, rules, mapping)


def prepare(settings: Settings, options: ApplyOptions, services: Services) -> PreparedApply:
    """Every check that can fail before the lock, those that need no network first: the rules and mapping and a
    writable --plan-out (ConfigError, exit 2), the input files (InputError, exit 1), then the rules against Marketo
    (reads only)."""
    rules, mapping = _read_profile(settings, options.rules_path)
    if options.plan_out is not None:
        check_plan_out(options.plan_out)
    inputs = preflight(list(options.files), options.input_format)
    profile = _check_in_marketo(settings, services, rules, mapping)
    return PreparedApply(profile, inputs, options)


def _read_profile(settings: Settings, rules_path: str | None) -> tuple[list[Rule], dict[str, str]]:
    return load_rules(settings, rules_path), dict(settings.sections.mapping.targets)


def _check_in_marketo(settings: Settings, services: Services, rules: list[Rule],
                      mapping: dict[str, str]) -> ApplyProfile:
    client = services.marketo()
    catalog = load_catalog(client, services.store)
    resolved = resolve_rules(rules, catalog, client)
    mapper = None
    if settings.lookup_field != "email":
        catalog.check_lookup(settings.lookup_field)
        mapper = Mapper(catalog, explicit=mapping, user_id_field=settings.user_id_field)
    return ApplyProfile(resolved, settings.lookup_field, settings.user_id_field, mapper, settings.max_concurrency)
