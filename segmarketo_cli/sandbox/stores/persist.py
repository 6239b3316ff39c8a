"""Save and reload the sandbox state as one JSON file under --data DIR (bulk jobs are not kept)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from segmarketo_cli.sandbox.instance import Instance
from segmarketo_cli.sandbox.stores.assets import Campaign, Folder, Program, StaticList
from segmarketo_cli.sandbox.stores.fieldtypes import FieldDef
from segmarketo_cli.sandbox.stores.partitions import Partitions

STATE_FILE = "sandbox-state.json"
FORMAT_VERSION = 1


def snapshot(sb: Instance) -> dict[str, Any]:
    """The whole state as plain data; it shares objects with the live state, so serialise it under the locks."""
    state = sb.marketo
    with state.lock:
        assets = state.assets
        marketo = {
            "fields": [f.to_dict() for f in state.store.fields.values()],
            "leads": list(state.store.leads.values()),
            "next_lead_id": state.store.next_id,
            "cookies": state.store.cookies,
            "partitions": state.partitions.to_dict(),
            "folders": [vars(f) for f in assets.folders.values()],
            "lists": [sl.to_dict() for sl in assets.lists.values()],
            "channels": {name: {"statuses": c.statuses, "type": c.applicable_program_type}
                         for name, c in assets.channels.items()},
            "programs": [p.to_dict() for p in assets.programs.values()],
            "campaigns": [c.to_dict() for c in assets.campaigns.values()],
            "next_ids": assets.next_id,
            "emails": list(assets.emails.values()),
            "activities": [state.activities.rows[aid] for _, aid in state.activities.keys],
            "next_activity_id": state.activities.next_id,
            "associations": state.associations,
            "counters": state.counters,
        }
    with sb.segment.lock:  # copies: accepted messages are never mutated, but the containers grow
        segment = {"accepted": list(sb.segment.accepted),
                   "dropped": [{"message": m, "reason": r} for m, r in sb.segment.dropped],
                   "seen": dict(sb.segment._seen), "requests": sb.segment.requests}
    return {"version": FORMAT_VERSION, "marketo": marketo, "segment": segment, "usage": dict(sb.limits.usage)}


def save_state(sb: Instance, directory: Path) -> Path:
    """Write the state atomically (temp file + rename) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / STATE_FILE
    temp = target.with_suffix(".tmp")
    with sb.marketo.lock:
        text = json.dumps(snapshot(sb), separators=(",", ":"), default=str)
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temp, target)
    return target


def load_state(sb: Instance, directory: Path) -> bool:
    """Reload a saved state into a fresh sandbox; False when there is none."""
    source = directory / STATE_FILE
    if not source.exists():
        return False
    data = json.loads(source.read_text(encoding="utf-8"))
    if data.get("version") != FORMAT_VERSION:
        raise ValueError(f"{source}: unsupported sandbox state version {data.get('version')!r}")
    m = data["marketo"]
    state = sb.marketo
    with state.lock:
        store = state.store
        for item in m["fields"]:
            store.add_field(FieldDef(**item))
        for lead in m["leads"]:
            store.create(lead, lead_id=int(lead["id"]))
        store.next_id = max(store.next_id, int(m["next_lead_id"]))
        store.cookies.update({k: int(v) for k, v in m["cookies"].items()})
        if "partitions" in m:
            state.partitions = Partitions.from_dict(m["partitions"])
        assets = state.assets
        # States saved before folders had a folderType carry a "type" key instead: every such folder was a
        # marketing folder.
        assets.folders = {int(f["id"]): Folder(**{k: v for k, v in f.items() if k != "type"}) for f in m["folders"]}
        for item in m["lists"]:
            sl = StaticList(int(item["id"]), item["name"], int(item["folder_id"]), item["description"],
                            item["created_at"], item["updated_at"], set(item["members"]),
                            folder_type=item.get("folder_type", "Folder"))
            assets.lists[sl.id] = sl
        for name, channel in m["channels"].items():
            assets.add_channel(name, channel["statuses"], channel["type"])
        for item in m["programs"]:
            members = {int(k): v for k, v in item.pop("members").items()}
            assets.programs[int(item["id"])] = Program(**item, members=members)
        for item in m["campaigns"]:
            assets.campaigns[int(item["id"])] = Campaign(**item)
        assets.next_id.update(m["next_ids"])
        assets.emails = {int(e["id"]): e for e in m.get("emails", [])}
        for row in m["activities"]:
            aid = int(row["id"])
            state.activities.rows[aid] = row
            state.activities.keys.append((row["activityDate"], aid))
        state.activities.resort()
        state.activities.next_id = max(state.activities.next_id, int(m["next_activity_id"]))
        state.associations = [(int(a), str(b)) for a, b in m["associations"]]
        state.counters.update(m["counters"])
    seg = data["segment"]
    with sb.segment.lock:
        sb.segment.accepted = seg["accepted"]
        sb.segment.dropped = [(d["message"], d["reason"]) for d in seg["dropped"]]
        sb.segment._seen = {k: float(v) for k, v in seg["seen"].items()}
        sb.segment.requests = int(seg["requests"])
    sb.limits.usage.update({k: int(v) for k, v in data.get("usage", {}).items()})
    return True
