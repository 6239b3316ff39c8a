"""Warehouse / CSV columns (snake_case, flattened) -> Segment Spec messages (camelCase, nested traits)."""

from __future__ import annotations

import json
from typing import Any

# Columns that are message fields, not traits.
MESSAGE_COLUMNS = {
    "user_id": "userId",
    "anonymous_id": "anonymousId",
    "message_id": "messageId",
    "timestamp": "timestamp",
    "original_timestamp": "originalTimestamp",
    "sent_at": "sentAt",
    "received_at": "receivedAt",
    "event": "event",
    "event_name": "event",
    "event_type": "type",
    "type": "type",
    "previous_id": "previousId",
}
# Warehouse bookkeeping columns: no meaning for a lead.
IGNORED_COLUMNS = {"uuid", "uuid_ts", "loaded_at", "event_text", "context", "integrations", "batch_size", "version"}
# AWS S3 (Actions) CSV carries whole objects as JSON strings in these columns.
JSON_COLUMNS = {"traits", "properties"}
# Reserved traits whose Spec spelling is not a plain snake -> camel conversion, or that nest.
RESERVED_TRAITS = {
    "first_name": "firstName",
    "last_name": "lastName",
    "created_at": "createdAt",
    "postal_code": "address.postalCode",
    "address_street": "address.street",
    "address_city": "address.city",
    "address_state": "address.state",
    "address_postal_code": "address.postalCode",
    "address_zip": "address.postalCode",
    "address_country": "address.country",
    "company_name": "company.name",
    "company_id": "company.id",
    "company_industry": "company.industry",
    "company_employee_count": "company.employee_count",
    "company_plan": "company.plan",
}


def duplicate_column(header: list[str]) -> str | None:
    """Why a header is ambiguous (a column named twice, ignoring case and spaces), or None; blank cells are fine."""
    first: dict[str, tuple[int, str]] = {}
    for number, column in enumerate(header, start=1):
        name = column.strip()
        if not name:
            continue
        if name.lower() in first:
            earlier, spelling = first[name.lower()]
            also = "" if spelling == name else f", the second spelt '{name}'"
            return f"duplicate column '{spelling}' in the header (columns {earlier} and {number}{also})"
        first[name.lower()] = (number, name)
    return None


class ColumnPlan:
    """How each column of one table becomes part of a message; built once per file from its header."""

    def __init__(self, columns: list[str]) -> None:
        lowered = {c.lower() for c in columns}
        # The `users` table has no user_id column: its `id` is the user id. Elsewhere `id` is the messageId.
        id_target = "messageId" if "user_id" in lowered else "userId"
        # A table with an `event` column (and no event_type) holds tracks; the others hold identifies.
        self.default_type = "track" if ("event" in lowered and "event_type" not in lowered) else "identify"
        self.targets: list[tuple[str, str, str] | None] = []  # (kind, name, original column)
        for column in columns:
            key = column.strip().lower()
            if key.startswith("context_") or key in IGNORED_COLUMNS or not key:
                self.targets.append(None)
            elif key == "id":
                self.targets.append(("message", id_target, column))
            elif key in MESSAGE_COLUMNS:
                self.targets.append(("message", MESSAGE_COLUMNS[key], column))
            elif key == "email":
                self.targets.append(("trait", "email", column))
            elif key in JSON_COLUMNS:
                self.targets.append(("json", key, column))
            else:
                self.targets.append(("trait", RESERVED_TRAITS.get(key, key), column))

    def message(self, values: list[Any] | tuple[Any, ...]) -> tuple[dict[str, Any], str | None]:
        """One row -> (Spec message, problem or None). Empty / null cells are absent values."""
        message: dict[str, Any] = {}
        traits: dict[str, Any] = {}
        problem = None
        for target, value in zip(self.targets, values, strict=False):
            if target is None or value is None or value == "":
                continue
            kind, name, column = target
            if kind == "message":
                message[name] = value if isinstance(value, str) else str(value)
            elif kind == "json":
                try:
                    parsed = json.loads(value) if isinstance(value, str) else value
                except (ValueError, RecursionError):
                    problem = f"column '{column}' is not valid JSON"
                    continue
                if isinstance(parsed, dict):
                    if name == "traits":
                        traits.update(parsed)
                    else:
                        message[name] = parsed
            else:
                _put(traits, name, value)
        message["type"] = str(message.get("type") or self.default_type).lower()
        if traits:
            message["traits"] = traits
        return message, problem


def _put(traits: dict[str, Any], path: str, value: Any) -> None:
    if "." not in path:
        traits[path] = value
        return
    head, tail = path.split(".", 1)
    inner = traits.get(head)
    if not isinstance(inner, dict):
        inner = traits[head] = {}
    inner[tail] = value
