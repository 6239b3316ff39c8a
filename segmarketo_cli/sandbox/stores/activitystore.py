"""Activities ordered by (activityDate, id), so paging tokens encode a position that survives new inserts."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from typing import Any

from segmarketo_cli.sandbox.envelope import iso_z, parse_datetime
from segmarketo_cli.sandbox.stores.activity_types import STANDARD_TYPES


class ActivityStore:
    """Activity rows plus the types table. Callers hold the state lock."""

    def __init__(self) -> None:
        self.types: dict[int, dict[str, Any]] = {t["id"]: t for t in STANDARD_TYPES}
        self.rows: dict[int, dict[str, Any]] = {}
        self.keys: list[tuple[str, int]] = []  # sorted (activityDate, id)
        self.next_id = 100001

    def type_id(self, name_or_id: str | int) -> int:
        if isinstance(name_or_id, int):
            return name_or_id
        if name_or_id.isdigit():
            return int(name_or_id)
        for type_id, item in self.types.items():
            if item["name"].lower() == name_or_id.lower():
                return type_id
        raise KeyError(f"unknown activity type {name_or_id!r}")

    def add(self, lead_id: int, type_name: str | int, activity_date: str, *, campaign_id: int | None = None,
            primary_attribute_value_id: int | None = None, primary_attribute_value: str | None = None,
            attributes: dict[str, Any] | None = None, activity_id: int | None = None,
            bulk: bool = False) -> str:
        """Record one activity; `bulk=True` appends without re-sorting (call `resort()` afterwards)."""
        type_id = self.type_id(type_name)
        aid = activity_id if activity_id is not None else self.next_id
        self.next_id = max(self.next_id, aid + 1)
        when = iso_z(parse_datetime(activity_date))
        guid = str(aid)
        row: dict[str, Any] = {"id": aid, "marketoGUID": guid, "leadId": int(lead_id), "activityDate": when,
                               "activityTypeId": type_id}
        if campaign_id is not None:
            row["campaignId"] = int(campaign_id)
        if primary_attribute_value_id is not None:
            row["primaryAttributeValueId"] = int(primary_attribute_value_id)
        if primary_attribute_value is not None:
            row["primaryAttributeValue"] = str(primary_attribute_value)
        attrs = [{"name": k, "value": v} for k, v in (attributes or {}).items() if v is not None and v != ""]
        if attrs:
            row["attributes"] = attrs
        self.rows[aid] = row
        if bulk:
            self.keys.append((when, aid))
        else:
            insort(self.keys, (when, aid))
        return guid

    def resort(self) -> None:
        self.keys.sort()

    def position_since(self, since_iso: str) -> int:
        return bisect_left(self.keys, (since_iso, -1))

    def position_after(self, key: tuple[str, int]) -> int:
        return bisect_right(self.keys, key)

    def scan(self, start: int, count: int) -> list[dict[str, Any]]:
        return [self.rows[aid] for _, aid in self.keys[start:start + count]]

    def between(self, start_iso: str, end_iso: str) -> list[dict[str, Any]]:
        """Activities with start <= activityDate <= end, in date order."""
        lo = bisect_left(self.keys, (start_iso, -1))
        hi = bisect_right(self.keys, (end_iso, 1 << 62))
        return [self.rows[aid] for _, aid in self.keys[lo:hi]]
