"""Marketo activities in one shape, whether from Get Lead Activities or a Bulk Activity Extract CSV row."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from segmarketo_cli.timeparse import parse_utc


def parse_activity_date(text: str) -> datetime:
    """An activityDate (`2023-01-16T23:32:19Z`, or with an offset) as an aware UTC datetime."""
    return parse_utc(text)


def safe_date(text: Any) -> datetime | None:
    """An activityDate as a datetime, or None when it is missing or not a date."""
    try:
        return parse_activity_date(text) if isinstance(text, str) else None
    except ValueError:
        return None


@dataclass
class Activity:
    """One Marketo activity, the same whether it came from Get Lead Activities or a bulk extract row."""

    guid: str
    lead_id: int
    date: str
    type_id: int
    campaign_id: int | None = None
    primary_id: int | None = None
    primary_value: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


class BadActivity(ValueError):
    """An activity record that cannot be turned into an event; `field`/`value` say what was wrong."""

    def __init__(self, message: str, field: str, value: Any) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None or value == "" or value == "null":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadActivity(f"{name} is not an integer", name, value) from None


def _required_int(value: Any, name: str) -> int:
    number = _int_or_none(value, name)
    if number is None:
        raise BadActivity(f"{name} is missing", name, value)
    return number


def _checked_date(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadActivity("activityDate is missing", "activityDate", value)
    try:
        parse_activity_date(value)
    except ValueError:
        raise BadActivity("activityDate is not an ISO-8601 datetime", "activityDate", value) from None
    return value


def activity_from_rest(raw: Mapping[str, Any]) -> Activity:
    """An item of Get Lead Activities' `result` (attributes as a list of {name, value})."""
    guid = raw.get("marketoGUID") or (str(raw["id"]) if raw.get("id") is not None else None)
    if not guid:
        raise BadActivity("marketoGUID is missing", "marketoGUID", None)
    attributes: dict[str, Any] = {}
    for item in raw.get("attributes") or ():
        if isinstance(item, Mapping) and item.get("name") is not None:
            attributes[str(item["name"])] = item.get("value")
    primary = raw.get("primaryAttributeValue")
    return Activity(
        guid=str(guid),
        lead_id=_required_int(raw.get("leadId"), "leadId"),
        date=_checked_date(raw.get("activityDate")),
        type_id=_required_int(raw.get("activityTypeId"), "activityTypeId"),
        campaign_id=_int_or_none(raw.get("campaignId"), "campaignId"),
        primary_id=_int_or_none(raw.get("primaryAttributeValueId"), "primaryAttributeValueId"),
        primary_value=None if primary is None else str(primary),
        attributes=attributes,
    )


def activity_from_bulk_row(row: Mapping[str, str]) -> Activity:
    """A row of a Bulk Activity Extract CSV (`attributes` is a JSON string; nulls are the literal `null`)."""
    guid = (row.get("marketoGUID") or "").strip()
    if not guid or guid == "null":
        raise BadActivity("marketoGUID is missing", "marketoGUID", row.get("marketoGUID"))
    text = (row.get("attributes") or "").strip()
    attributes: dict[str, Any] = {}
    if text and text != "null":
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            raise BadActivity("attributes is not valid JSON", "attributes", text[:200]) from None
        if not isinstance(parsed, dict):
            raise BadActivity("attributes is not a JSON object", "attributes", text[:200])
        attributes = parsed
    primary = row.get("primaryAttributeValue")
    return Activity(
        guid=guid,
        lead_id=_required_int(row.get("leadId"), "leadId"),
        date=_checked_date(row.get("activityDate")),
        type_id=_required_int(row.get("activityTypeId"), "activityTypeId"),
        campaign_id=_int_or_none(row.get("campaignId"), "campaignId"),
        primary_id=_int_or_none(row.get("primaryAttributeValueId"), "primaryAttributeValueId"),
        primary_value=None if primary in (None, "", "null") else primary,
        attributes=attributes,
    )


def parse_record(parser: Callable[[Any], Activity], raw: Any) -> Activity | BadActivity:
    """`raw` read by `parser`, or the BadActivity saying why it cannot be (it goes to the rejects file)."""
    try:
        return parser(raw)
    except BadActivity as exc:
        return exc
    except (TypeError, AttributeError, KeyError):
        return BadActivity("activity record is not an object of the expected shape", "record", str(raw)[:200])
