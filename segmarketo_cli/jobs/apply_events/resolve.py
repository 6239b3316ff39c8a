"""Check rules against Marketo before any write: programs and statuses, campaigns, lists, fields, constants."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from segmarketo_cli.errors import ConfigError, MarketoError
from segmarketo_cli.jobs.apply_events.plan import Coercer, Targets
from segmarketo_cli.jobs.apply_events.rules import Rule
from segmarketo_cli.mapping.mapper import CoercionError, FieldCatalog, coerce
from segmarketo_cli.suggest import did_you_mean

if TYPE_CHECKING:
    from segmarketo_cli.marketo.client import MarketoClient

T = TypeVar("T")

_NOT_FOUND_CODES = {"1013", "702", "610"}
SCORE_TYPES = {"integer", "score"}


def _rule_error(rule: Rule, key: str, problem: str) -> ConfigError:
    where = f"{rule.origin}: " if rule.origin else ""
    return ConfigError(f"{where}{rule.label}, key '{key}': {problem}")


def _lookup(call: Callable[[], T]) -> T | None:
    """Run a lookup; Marketo's "not found" answers (1013, 702, 610) become None."""
    try:
        return call()
    except MarketoError as exc:
        if exc.code in _NOT_FOUND_CODES:
            return None
        raise


def resolve_program(client: MarketoClient, rule: Rule) -> tuple[int, str, int]:
    """(program id, status name as the channel spells it, its step); ConfigError for an unknown status."""
    ref = rule.program
    program = _lookup(lambda: client.get_program(ref)) if isinstance(ref, int) else \
        _lookup(lambda: client.find_program_by_name(ref))
    if not program:
        known = client.program_names() if isinstance(ref, str) else []
        raise _rule_error(rule, "program", f"no Marketo program {ref!r}{did_you_mean(str(ref), known)}")
    channel_name = program.get("channel")
    channel = _lookup(lambda: client.get_channel(channel_name)) if channel_name else None
    statuses: list[dict[str, Any]] = (channel or {}).get("progressionStatuses") or []
    if not statuses:
        raise _rule_error(rule, "program", f"program {program.get('name')!r} has no channel statuses to check "
                                           f"'status' against (channel {channel_name!r})")
    wanted = rule.status.casefold()
    for status in statuses:
        if str(status.get("name", "")).casefold() == wanted:
            return int(program["id"]), str(status["name"]), int(status.get("step") or 0)
    names = ", ".join(str(s.get("name")) for s in sorted(statuses, key=lambda s: s.get("step") or 0))
    raise _rule_error(rule, "status", f"{rule.status!r} is not a status of channel {channel_name!r} "
                                      f"of program {program.get('name')!r} (statuses: {names})")


def resolve_campaign(client: MarketoClient, rule: Rule) -> int:
    """The id of an active trigger campaign; batch or inactive campaigns cannot be requested."""
    ref = rule.campaign
    campaigns = _lookup(lambda: client.get_campaigns(name=ref if isinstance(ref, str) else None)) or []
    if isinstance(ref, int):
        found = [c for c in campaigns if int(c.get("id", 0)) == ref]
    else:
        found = [c for c in campaigns if c.get("name") == ref] or \
                [c for c in campaigns if str(c.get("name", "")).casefold() == ref.casefold()]
    if not found:
        known = [str(c.get("name")) for c in client.get_campaigns()] if isinstance(ref, str) else []
        raise _rule_error(rule, "campaign", f"no Marketo smart campaign {ref!r}{did_you_mean(str(ref), known)}")
    if len(found) > 1:
        ids = ", ".join(str(c.get("id")) for c in found)
        raise _rule_error(rule, "campaign", f"{ref!r} names several campaigns (ids {ids}); use the id")
    campaign = found[0]
    if campaign.get("type") != "trigger":
        raise _rule_error(rule, "campaign", f"campaign {campaign.get('name')!r} is a {campaign.get('type')} "
                                            f"campaign; only trigger campaigns can be requested")
    if campaign.get("active") is False:
        raise _rule_error(rule, "campaign", f"campaign {campaign.get('name')!r} is not active")
    return int(campaign["id"])


def resolve_lists(client: MarketoClient, rule: Rule) -> tuple[int, ...] | str:
    """Static list ids for remove_from_lists ("all" stays "all")."""
    if isinstance(rule.remove_from_lists, str):  # "all"
        return rule.remove_from_lists
    ids: list[int] = []
    for ref in rule.remove_from_lists:
        found = _find_list(client, ref)
        if not found:
            known = client.list_names() if isinstance(ref, str) else []
            raise _rule_error(rule, "remove_from_lists",
                              f"no Marketo static list {ref!r}{did_you_mean(str(ref), known)}")
        ids.append(int(found["id"]))
    return tuple(dict.fromkeys(ids))


def _find_list(client: MarketoClient, ref: int | str) -> dict[str, Any] | None:
    if isinstance(ref, int):
        return _lookup(lambda: client.get_list(ref))
    return _lookup(lambda: client.find_list_by_name(ref))


def check_fields(rules: list[Rule], fields: Mapping[str, Mapping[str, Any]]) -> None:
    """Score fields must be writable integers; set-fields and suppress targets must exist and be writable.

    `fields` maps REST name -> {"dataType": ..., "readOnly": bool} (from describe).
    """
    for rule in rules:
        if rule.action == "score":
            info = _writable(rule, "field", rule.field, fields)
            if str(info.get("dataType")) not in SCORE_TYPES:
                raise _rule_error(rule, "field", f"{rule.field} is a {info.get('dataType')} field; score rules add "
                                                 f"points to integer fields")
        elif rule.action == "set-fields":
            for name in rule.fields:
                _writable(rule, f"fields.{name}", name, fields)
        elif rule.action == "suppress":
            for name in ("unsubscribed", "unsubscribedReason"):
                _writable(rule, "action", name, fields)


def _writable(rule: Rule, key: str, name: str, fields: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    info = fields.get(name)
    if info is None:
        raise _rule_error(rule, key, f"Marketo has no lead field {name!r}{did_you_mean(name, fields)}")
    if info.get("readOnly"):
        raise _rule_error(rule, key, f"lead field {name!r} is read-only in Marketo")
    return info


def resolve_targets(client: MarketoClient, rules: list[Rule]) -> dict[str, Targets]:
    """Resolve every rule's Marketo references; the first problem raises ConfigError naming rule and key."""
    targets: dict[str, Targets] = {}
    for rule in rules:
        if rule.action == "program-status":
            program_id, status, step = resolve_program(client, rule)
            rule.status = status
            targets[rule.name] = Targets(program_id=program_id, status_step=step)
        elif rule.action == "trigger-campaign":
            targets[rule.name] = Targets(campaign_id=resolve_campaign(client, rule))
        elif rule.action == "suppress":
            targets[rule.name] = Targets(list_ids=resolve_lists(client, rule))
        else:
            targets[rule.name] = Targets()
    return targets


def make_coercer(catalog: FieldCatalog) -> Coercer:
    """(field, value) -> the value as the field's Marketo type; ValueError names the type it is not."""
    def _coerce(name: str, value: Any) -> Any:
        info = catalog.get(name)
        try:
            return coerce(value, info) if info is not None else value
        except CoercionError as exc:
            raise ValueError(f"{value!r} is not {exc.expected}") from None
    return _coerce


def check_constants(rules: list[Rule], coercer: Coercer) -> None:
    """set-fields constants and defaults must fit their field's type: a config error, not a reject per event."""
    for rule in rules:
        for name, source in rule.fields.items():
            value = source.constant if source.kind == "constant" else source.default
            if value is None:
                continue
            try:
                coercer(name, value)
            except ValueError as exc:
                raise ConfigError(f"{rule.origin}: {rule.label}, key 'fields.{name}': {exc}") from None
