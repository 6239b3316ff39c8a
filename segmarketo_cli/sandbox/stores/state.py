"""MarketoState: the emulated instance (leads, fields, assets, activities) behind one lock, plus test accessors."""

from __future__ import annotations

import threading
from typing import Any

from segmarketo_cli.sandbox.stores.activitystore import ActivityStore
from segmarketo_cli.sandbox.stores.assets import MARKETING_FOLDER, AssetStore
from segmarketo_cli.sandbox.stores.defaults import DEFAULT_CHANNELS, PROGRAM_TYPES, STANDARD_FIELDS
from segmarketo_cli.sandbox.stores.fieldtypes import FieldDef, coerce
from segmarketo_cli.sandbox.stores.leadstore import LeadStore
from segmarketo_cli.sandbox.stores.partitions import Partitions


class MarketoState:
    """Thread-safe emulated Marketo instance. Handlers take `lock`; accessors take it themselves."""

    def __init__(self, *, email_case_insensitive: bool = True) -> None:
        self.lock = threading.RLock()
        self.store = LeadStore(email_case_insensitive=email_case_insensitive)
        self.assets = AssetStore()
        self.activities = ActivityStore()
        self.partitions = Partitions()
        self.associations: list[tuple[int, str]] = []
        self.counters: dict[str, int] = {"calls": 0, "rate_limited": 0, "concurrency_limited": 0, "quota_refused": 0}
        for name, data_type, length, read_only, searchable, display in STANDARD_FIELDS:
            self.store.add_field(FieldDef(name, data_type, length, read_only, searchable, display))
        for channel, statuses in DEFAULT_CHANNELS.items():
            self.assets.add_channel(channel, statuses, PROGRAM_TYPES.get(channel, "Event").lower())

    # counters ---------------------------------------------------------------------------------------------
    def count(self, name: str) -> None:
        with self.lock:
            self.counters[name] += 1

    @property
    def calls(self) -> int:
        """REST/bulk calls counted against the limits (identity and non-counting codes excluded)."""
        return self.counters["calls"]

    @property
    def rate_limited(self) -> int:
        """How many calls were answered 606."""
        return self.counters["rate_limited"]

    # fields and leads -------------------------------------------------------------------------------------
    def add_field(self, name: str, data_type: str, length: int | None = None, read_only: bool = False,
                  searchable: bool = False, display_name: str = "") -> None:
        with self.lock:
            self.store.add_field(FieldDef(name, data_type, length, read_only, searchable, display_name or name))

    def add_lead(self, *, partition: str | None = None, **fields: Any) -> int:
        """Insert a lead directly (no lookup, duplicates allowed); values are checked against describe.
        `partition` names the lead partition it lives in (default "Default"; added when new)."""
        with self.lock:
            lead_id = fields.pop("id", None)
            stamps: dict[str, Any] = {k: fields.pop(k) for k in ("createdAt", "updatedAt") if k in fields}
            values: dict[str, Any] = {}
            for name, value in fields.items():
                field = self.store.fields.get(name)
                if field is None:
                    raise KeyError(f"unknown lead field {name!r}")
                values[name] = coerce(field, value)
            values.update(stamps)
            created = self.store.create(values, lead_id=lead_id)
            if partition:
                self.partitions.place(created, self.partitions.add(partition))
            return created

    def add_partition(self, name: str, description: str = "") -> int:
        """A lead partition (the instance starts with "Default", id 1)."""
        with self.lock:
            return self.partitions.add(name, description)

    def restrict_partitions(self, names: list[str] | None) -> None:
        """The partitions the API user's role reaches (its workspaces); None: every partition."""
        with self.lock:
            self.partitions.reachable = set(names) if names is not None else None

    def lead_partition(self, lead_id: int) -> str:
        """The name of the partition a lead lives in."""
        with self.lock:
            return self.partitions.lead_partition(int(lead_id))

    def lead(self, lead_id: int) -> dict[str, Any] | None:
        with self.lock:
            lead = self.store.leads.get(int(lead_id))
            return dict(lead) if lead else None

    @property
    def leads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(lead) for lead in self.store.leads.values()]

    def find_leads(self, field: str, value: Any) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(self.store.leads[i]) for i in self.store.find(field, value)]

    # lists and folders --------------------------------------------------------------------------------------
    def add_folder(self, name: str, parent: str | None = None, *, folder_type: str = MARKETING_FOLDER,
                   folder_id: int | None = None) -> int:
        """A folder; `folder_type` "Email" etc. makes a Design Studio folder, `folder_id` picks its id."""
        with self.lock:
            parent_id = self.assets.ensure_folder(parent) if parent else None
            return self.assets.add_folder(name, parent_id, folder_id=folder_id, folder_type=folder_type)

    def add_list(self, name: str, folder: str = "Lists", description: str = "") -> int:
        with self.lock:
            return self.assets.add_list(name, self.assets.ensure_folder(folder), description)

    def list_parent(self, list_id: int) -> tuple[str, int]:
        """Where a list lives: ("Folder", folder id) or ("Program", program id)."""
        with self.lock:
            static_list = self.assets.lists[int(list_id)]
            return static_list.folder_type, static_list.folder_id

    def list_members(self, list_id: int) -> set[int]:
        with self.lock:
            return set(self.assets.lists[int(list_id)].members)

    def add_to_list(self, list_id: int, ids: list[int] | set[int]) -> None:
        with self.lock:
            static_list = self.assets.lists[int(list_id)]
            static_list.members.update(int(i) for i in ids)
            static_list.touch()

    def list_id(self, name: str) -> int | None:
        with self.lock:
            found = self.assets.list_by_name(name)
            return found.id if found else None

    # programs and campaigns --------------------------------------------------------------------------------
    def add_program(self, name: str, statuses: list[str] | list[dict[str, Any]] | None = None, *,
                    channel: str | None = None, type: str | None = None, folder: str | None = None,
                    program_id: int | None = None) -> int:
        """A program on `channel` (default "Webinar"); `statuses` defines a new channel named after the program."""
        with self.lock:
            if statuses:
                channel = channel or f"{name} Channel"
                steps = [s if isinstance(s, dict) else {"name": s, "step": i * 10, "success": i == len(statuses) - 1}
                         for i, s in enumerate(statuses)]
                self.assets.add_channel(channel, steps)
            channel = channel or "Webinar"
            if channel not in self.assets.channels:
                raise KeyError(f"unknown channel {channel!r}")
            folder_id = self.assets.ensure_folder(folder) if folder else None
            return self.assets.add_program(name, channel, type=type or PROGRAM_TYPES.get(channel, "Event"),
                                           folder_id=folder_id, program_id=program_id)

    def program_members(self, program_id: int) -> dict[int, str]:
        with self.lock:
            return dict(self.assets.programs[int(program_id)].members)

    def add_campaign(self, name: str, type: str = "trigger", active: bool = True, program: str | None = None) -> int:
        with self.lock:
            program_obj = self.assets.program_by_name(program) if program else None
            return self.assets.add_campaign(name, type=type, active=active,
                                            program_id=program_obj.id if program_obj else None)

    def campaign_requests(self, campaign_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.assets.campaigns[int(campaign_id)].requests]

    # activities ---------------------------------------------------------------------------------------------
    def add_activity(self, lead_id: int, type_name: str | int, activity_date: str,
                     primary_attribute_value_id: int | None = None, primary_attribute_value: str | None = None,
                     campaign_id: int | None = None, attributes: dict[str, Any] | None = None) -> str:
        with self.lock:
            return self.activities.add(lead_id, type_name, activity_date, campaign_id=campaign_id,
                                       primary_attribute_value_id=primary_attribute_value_id,
                                       primary_attribute_value=primary_attribute_value, attributes=attributes)

    def activity_count(self) -> int:
        with self.lock:
            return len(self.activities.rows)

    def summary(self) -> dict[str, Any]:
        """Counts for the inspector endpoint and `sandbox serve`."""
        with self.lock:
            return {
                "leads": len(self.store.leads), "fields": len(self.store.fields),
                "lists": {sl.name: len(sl.members) for sl in self.assets.lists.values()},
                "folders": len(self.assets.folders),
                "programs": {p.name: len(p.members) for p in self.assets.programs.values()},
                "campaigns": {c.name: len(c.requests) for c in self.assets.campaigns.values()},
                "activities": len(self.activities.rows), "associations": len(self.associations),
                **self.counters,
            }
