"""Load seed files (fields, leads, lists, programs, campaigns, emails, activities) into a sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from segmarketo_cli.sandbox.instance import Instance
from segmarketo_cli.sandbox.stores.fieldtypes import FieldDef


class SeedError(ValueError):
    """A seed file that cannot be loaded; the message names the file and line."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SeedError(f"{path}: {exc}") from exc


def load_seed(sb: Instance, directory: Path) -> None:
    """Load every seed file present in `directory` (missing files are skipped)."""
    if not directory.is_dir():
        raise SeedError(f"{directory}: seed directory not found")
    state = sb.marketo
    with state.lock:
        if (directory / "fields.json").exists():
            _fields(sb, _read_json(directory / "fields.json"))
        if (directory / "leads.json").exists():
            _leads(sb, _read_json(directory / "leads.json"), directory / "leads.json")
        if (directory / "lists.json").exists():
            _lists(sb, _read_json(directory / "lists.json"))
        if (directory / "programs.json").exists():
            _programs(sb, _read_json(directory / "programs.json"))
        if (directory / "campaigns.json").exists():
            _campaigns(sb, _read_json(directory / "campaigns.json"))
        if (directory / "emails.json").exists():
            for item in _read_json(directory / "emails.json"):
                state.assets.emails[int(item["id"])] = dict(item)
        if (directory / "activities.jsonl").exists():
            _activities(sb, directory / "activities.jsonl")


def _fields(sb: Instance, items: list[dict[str, Any]]) -> None:
    """Describe Lead items; `rest.name`/`rest.readOnly` (or `name`/`readOnly`) plus our `searchable` flag."""
    for item in items:
        rest = item.get("rest") or {}
        name = rest.get("name") or item["name"]
        sb.marketo.store.add_field(FieldDef(
            name=name, data_type=item["dataType"], length=item.get("length"),
            read_only=bool(rest.get("readOnly", item.get("readOnly", False))),
            searchable=bool(item.get("searchable", False)), display_name=item.get("displayName", name),
            id=int(item.get("id", 0))))


def _leads(sb: Instance, items: list[dict[str, Any]], path: Path) -> None:
    for number, item in enumerate(items, 1):
        try:
            sb.marketo.add_lead(**item)
        except (KeyError, ValueError) as exc:
            raise SeedError(f"{path}: lead #{number}: {exc}") from exc


def _member_ids(sb: Instance, members: list[Any]) -> list[int]:
    """List members given as lead ids or e-mail addresses (every duplicate of an address)."""
    ids: list[int] = []
    for member in members:
        ids.extend([int(member)] if isinstance(member, int) else sb.marketo.store.find("email", member))
    return ids


def _lists(sb: Instance, data: dict[str, Any]) -> None:
    assets = sb.marketo.assets
    for folder in data.get("folders", []):
        parent = assets.ensure_folder(folder["parent"]) if folder.get("parent") else None
        assets.add_folder(folder["name"], parent, folder_id=folder.get("id"))
    for item in data.get("lists", []):
        folder_id = assets.ensure_folder(item.get("folder", "Lists"))
        list_id = assets.add_list(item["name"], folder_id, item.get("description", ""), list_id=item.get("id"))
        static_list = assets.lists[list_id]
        static_list.members.update(_member_ids(sb, item.get("members", [])))
        static_list.touch()


def _programs(sb: Instance, data: dict[str, Any]) -> None:
    assets = sb.marketo.assets
    for channel in data.get("channels", []):
        assets.add_channel(channel["name"], channel["statuses"], channel.get("programType", "event"))
    for item in data.get("programs", []):
        if item["channel"] not in assets.channels:
            raise SeedError(f"programs.json: program {item['name']!r} uses unknown channel {item['channel']!r}")
        folder_id = assets.ensure_folder(item["folder"]) if item.get("folder") else None
        program_id = assets.add_program(item["name"], item["channel"], type=item.get("type", "Event"),
                                        folder_id=folder_id, description=item.get("description", ""),
                                        program_id=item.get("id"))
        members = item.get("members", {})
        assets.programs[program_id].members.update({int(k): v for k, v in members.items()})


def _campaigns(sb: Instance, items: list[dict[str, Any]]) -> None:
    assets = sb.marketo.assets
    for item in items:
        program = assets.program_by_name(item["program"]) if item.get("program") else None
        assets.add_campaign(item["name"], type=item.get("type", "trigger"), active=item.get("active", True),
                            program_id=program.id if program else None, description=item.get("description", ""),
                            campaign_id=item.get("id"))


def _activities(sb: Instance, path: Path) -> None:
    """activities.jsonl: {"leadId", "type", "activityDate", "campaignId"?, "primaryAttributeValueId"?,
    "primaryAttributeValue"?, "attributes"?} per line."""
    store = sb.marketo.activities
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                store.add(int(item["leadId"]), item["type"], item["activityDate"], campaign_id=item.get("campaignId"),
                          primary_attribute_value_id=item.get("primaryAttributeValueId"),
                          primary_attribute_value=item.get("primaryAttributeValue"),
                          attributes=item.get("attributes"), bulk=True)
            except (KeyError, ValueError, TypeError) as exc:
                raise SeedError(f"{path}:{number}: {exc}") from exc
    store.resort()
