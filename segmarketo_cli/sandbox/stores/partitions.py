"""Lead partitions: the instance's partitions, which ones the API user reaches, and the checks of a create or update.

Adobe documents (Leads, Sync Leads; Error Codes 1008-1010): new leads go to the default partition unless
`partitionName` names another (createOnly / createOrUpdate only); an update fails when the lead is not in the named
partition or the API user cannot reach the lead's partition. When 1009 "Partition name must be specified" is
answered is not documented: the sandbox answers it to a create without `partitionName` when the API user's role
cannot reach the default partition (docs/sandbox.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.sandbox.envelope import ApiError

DEFAULT_PARTITION = "Default"
DEFAULT_PARTITION_ID = 1


class PartitionRefused(Exception):
    """A record-level partition failure: Marketo's code and message for one row."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Partitions:
    """Partitions by name, the lead -> partition map (absent: the default one), the API user's reach."""

    ids: dict[str, int] = field(default_factory=lambda: {DEFAULT_PARTITION: DEFAULT_PARTITION_ID})
    descriptions: dict[str, str] = field(
        default_factory=lambda: {DEFAULT_PARTITION: "Initial system lead partition"})
    of_lead: dict[int, int] = field(default_factory=dict)
    reachable: set[str] | None = None  # names the API user's role reaches; None: every partition

    def add(self, name: str, description: str = "") -> int:
        if name not in self.ids:
            self.ids[name] = max(self.ids.values(), default=0) + 1
            self.descriptions[name] = description
        return self.ids[name]

    def name_of(self, partition_id: int) -> str:
        return next((name for name, pid in self.ids.items() if pid == partition_id), DEFAULT_PARTITION)

    def can_reach(self, name: str) -> bool:
        return name in self.ids and (self.reachable is None or name in self.reachable)

    def lead_partition(self, lead_id: int) -> str:
        return self.name_of(self.of_lead.get(lead_id, DEFAULT_PARTITION_ID))

    def for_create(self, requested: str | None) -> int:
        """The partition id a new lead goes to; raises PartitionRefused (1008 / 1009)."""
        if requested:
            if not self.can_reach(requested):
                raise PartitionRefused("1008", f"Access denied to partition '{requested}'")
            return self.ids[requested]
        if not self.can_reach(DEFAULT_PARTITION):
            raise PartitionRefused("1009", "Partition name must be specified")
        return DEFAULT_PARTITION_ID

    def check_update(self, lead_id: int, requested: str | None) -> None:
        """An update of an existing lead: 1008 when its partition is out of reach, 1010 when it is in another one
        than the `partitionName` sent."""
        current = self.lead_partition(lead_id)
        if not self.can_reach(current):
            raise PartitionRefused("1008", f"Access denied to partition '{current}'")
        if requested and requested != current:
            raise PartitionRefused("1010", "Partition update not allowed")

    def place(self, lead_id: int, partition_id: int) -> None:
        if partition_id == DEFAULT_PARTITION_ID:
            self.of_lead.pop(lead_id, None)
        else:
            self.of_lead[lead_id] = partition_id

    def to_api(self) -> list[dict[str, Any]]:
        return [{"id": pid, "name": name, "description": self.descriptions.get(name, "")}
                for name, pid in sorted(self.ids.items(), key=lambda item: item[1])]

    def to_dict(self) -> dict[str, Any]:
        return {"ids": self.ids, "descriptions": self.descriptions,
                "of_lead": {str(k): v for k, v in self.of_lead.items()},
                "reachable": sorted(self.reachable) if self.reachable is not None else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Partitions:
        reachable = data.get("reachable")
        return cls({str(k): int(v) for k, v in data["ids"].items()}, dict(data.get("descriptions", {})),
                   {int(k): int(v) for k, v in data.get("of_lead", {}).items()},
                   set(reachable) if reachable is not None else None)


def partition_arg(value: Any) -> str | None:
    """The `partitionName` of a request, None when absent; a non-string is refused like other bad parameters."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ApiError("1003", "Invalid value for 'partitionName'")
    return value

