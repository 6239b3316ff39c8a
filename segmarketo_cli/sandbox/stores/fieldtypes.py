"""Lead field definitions and value validation by describe dataType (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/field-types)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from segmarketo_cli.sandbox.envelope import parse_datetime

DATA_TYPES = {"string", "text", "email", "phone", "url", "boolean", "integer", "float", "currency", "percent",
              "date", "datetime", "reference", "score", "formula"}
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STRINGISH = {"string", "text", "email", "phone", "url"}


@dataclass
class FieldDef:
    """One lead field as Describe reports it."""

    name: str
    data_type: str
    length: int | None = None
    read_only: bool = False
    searchable: bool = False
    display_name: str = ""
    id: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> dict[str, Any]:
        """A Describe Lead item."""
        item: dict[str, Any] = {"id": self.id, "displayName": self.display_name or self.name,
                                "dataType": self.data_type}
        if self.length:
            item["length"] = self.length
        item["rest"] = {"name": self.name, "readOnly": self.read_only}
        item["soap"] = {"name": self.name[:1].upper() + self.name[1:], "readOnly": self.read_only}
        return item

    def describe2(self) -> dict[str, Any]:
        """A Describe Lead2 `fields` item."""
        item: dict[str, Any] = {"name": self.name, "displayName": self.display_name or self.name,
                                "dataType": self.data_type}
        if self.length:
            item["length"] = self.length
        item.update({"updateable": not self.read_only, "crmManaged": False})
        return item


class InvalidValue(ValueError):
    """A value that does not fit its field; the message is Marketo's record-level 1003 text."""


def coerce(field: FieldDef, value: Any, *, string_overflow: str = "reject") -> Any:
    """The stored form of `value` for `field`, or InvalidValue. None (null) clears the field."""
    if value is None:
        return None
    kind = field.data_type
    bad = InvalidValue(f"Invalid value for field '{field.name}' and value '{value}'")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise bad
    if kind in ("integer", "score", "reference"):
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value.strip())
        raise bad
    if kind in ("float", "currency", "percent"):
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return value
        try:
            return float(str(value).strip())
        except ValueError:
            raise bad from None
    if kind == "date":
        if not isinstance(value, str) or not _DATE.match(value.strip()):
            raise bad
        try:
            date.fromisoformat(value.strip())
        except ValueError:
            raise bad from None
        return value.strip()
    if kind == "datetime":
        if not isinstance(value, str):
            raise bad
        try:
            parse_datetime(value)
        except ValueError:
            raise bad from None
        return value.strip()
    if kind in _STRINGISH or kind == "formula":
        if isinstance(value, (dict, list)):
            raise bad
        text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
        if kind == "email" and text and not (_EMAIL.match(text) and text.isascii()):
            raise bad
        if field.length and len(text) > field.length:
            if string_overflow == "truncate":
                return text[: field.length]
            raise InvalidValue(f"Value for field '{field.name}' exceeds maximum length of {field.length}")
        return text
    return value

