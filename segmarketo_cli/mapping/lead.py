"""One person mapped to Marketo fields: the coerced values, their trait times, and what could not be mapped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    """A value rejected by coercion: the Marketo field, the trait it came from, the value, what was expected."""

    field: str
    trait: str
    value: Any
    expected: str

    def describe(self) -> str:
        shown = repr(self.value)
        if len(shown) > 80:  # a 10 MB trait must not make a 10 MB reason; the rejects file keeps its start
            shown = f"{shown[:60]}... ({len(shown):,} characters)"
        return f"{self.field}: {shown} from trait '{self.trait}' is not {self.expected}"


@dataclass
class MappedLead:
    """One person's Marketo fields (coerced), each field's trait timestamp, and what could not be mapped."""

    fields: dict[str, Any] = field(default_factory=dict)
    field_ts: dict[str, float] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)
    dropped: list[FieldError] = field(default_factory=list)
    compliance_skipped: int = 0
