"""Folders, static lists (with members), channels, programs (with members) and smart campaigns."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from typing import Any

from segmarketo_cli.sandbox.envelope import now_iso

MARKETING_FOLDER = "Marketing Folder"
# Design Studio folder types, from Adobe's Folders page:
# https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/assets/folders
DESIGN_STUDIO_TYPES = ("Email", "Email Template", "Landing Page", "Landing Page Template", "Snippet", "File")


@dataclass
class Folder:
    """A folder. Its id is in the folder namespace; programs have their own ids, so the two may coincide."""

    id: int
    name: str
    parent_id: int | None = None
    folder_type: str = MARKETING_FOLDER  # "Marketing Folder", "Zone" or a Design Studio type such as "Email"
    path: str = ""

    def to_api(self, id_type: str = "Folder") -> dict[str, Any]:
        """The folder record; `id_type` spells folderId.type ("FOLDER" in Adobe's Get Folder by Name example)."""
        record: dict[str, Any] = {"id": self.id, "name": self.name, "folderId": {"id": self.id, "type": id_type},
                                  "folderType": self.folder_type,
                                  "path": self.path or f"/Marketing Activities/{self.name}",
                                  "workspace": "Default", "isArchive": False, "isSystem": False}
        if self.parent_id is not None:
            record["parent"] = {"id": self.parent_id, "type": id_type}
        return record


@dataclass
class StaticList:
    id: int
    name: str
    folder_id: int
    description: str = ""
    created_at: str = field(default_factory=now_iso)
    updated_at: str = ""
    members: set[int] = field(default_factory=set)
    folder_type: str = "Folder"  # what folder_id names: a "Folder" or a "Program"
    _sorted: list[int] | None = field(default=None, repr=False, compare=False)

    def sorted_members(self) -> list[int]:
        """Members in id order, cached until the membership changes (paging a 200,000-member list)."""
        if self._sorted is None:
            self._sorted = sorted(self.members)
        return self._sorted

    def page_after(self, after: int, size: int) -> tuple[list[int], bool]:
        members = self.sorted_members()
        start = bisect_right(members, after)
        page = members[start:start + size]
        return page, start + size < len(members)

    def touch(self) -> None:
        self._sorted = None
        self.updated_at = now_iso()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "folder_id": self.folder_id, "description": self.description,
                "created_at": self.created_at, "updated_at": self.updated_at, "members": sorted(self.members),
                "folder_type": self.folder_type}


@dataclass
class Channel:
    name: str
    statuses: list[dict[str, Any]]  # [{"name", "step", "success"}] in step order
    applicable_program_type: str = "event"

    def step_of(self, status_name: str) -> int | None:
        for status in self.statuses:
            if status["name"].lower() == status_name.lower():
                return int(status["step"])
        return None

    def status(self, status_name: str) -> dict[str, Any] | None:
        return next((s for s in self.statuses if s["name"].lower() == status_name.lower()), None)


@dataclass
class Program:
    id: int
    name: str
    channel: str
    type: str = "Event"
    folder_id: int | None = None
    description: str = ""
    created_at: str = field(default_factory=now_iso)
    members: dict[int, str] = field(default_factory=dict)  # lead id -> status name

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["members"] = {str(k): v for k, v in self.members.items()}
        return data


@dataclass
class Campaign:
    id: int
    name: str
    type: str = "trigger"
    active: bool = True
    program_id: int | None = None
    description: str = ""
    created_at: str = field(default_factory=now_iso)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AssetStore:
    """Every non-lead object. Callers hold the state lock."""

    def __init__(self) -> None:
        self.folders: dict[int, Folder] = {}
        self.lists: dict[int, StaticList] = {}
        self.channels: dict[str, Channel] = {}
        self.programs: dict[int, Program] = {}
        self.campaigns: dict[int, Campaign] = {}
        self.emails: dict[int, dict[str, Any]] = {}  # email asset id -> {"id", "name", "subject", ...}
        self.next_id = {"folder": 1, "list": 1001, "program": 2001, "campaign": 3001}

    def new_id(self, kind: str, wanted: int | None = None) -> int:
        value = wanted if wanted is not None else self.next_id[kind]
        self.next_id[kind] = max(self.next_id[kind], value + 1)
        return value

    def add_folder(self, name: str, parent_id: int | None = None, folder_id: int | None = None,
                   folder_type: str = MARKETING_FOLDER) -> int:
        fid = self.new_id("folder", folder_id)
        parent = self.folders.get(parent_id) if parent_id is not None else None
        root = "/Design Studio/Default" if folder_type in DESIGN_STUDIO_TYPES else "/Marketing Activities/Default"
        path = f"{parent.path}/{name}" if parent else f"{root}/{name}"
        self.folders[fid] = Folder(fid, name, parent_id, folder_type, path)
        return fid

    def folder_by_name(self, name: str) -> Folder | None:
        """The first marketing folder with this name (seeds and test helpers; the API returns every match)."""
        return next((f for f in self.folders.values() if f.name == name and f.folder_type == MARKETING_FOLDER), None)

    def program_path(self, program: Program) -> str:
        parent = self.folders.get(program.folder_id) if program.folder_id is not None else None
        return f"{parent.path if parent else '/Marketing Activities/Default'}/{program.name}"

    def ensure_folder(self, name: str) -> int:
        folder = self.folder_by_name(name)
        return folder.id if folder else self.add_folder(name)

    def add_list(self, name: str, folder_id: int, description: str = "", list_id: int | None = None,
                 folder_type: str = "Folder") -> int:
        lid = self.new_id("list", list_id)
        self.lists[lid] = StaticList(lid, name, folder_id, description, updated_at=now_iso(), folder_type=folder_type)
        return lid

    def list_by_name(self, name: str) -> StaticList | None:
        return next((s for s in self.lists.values() if s.name == name), None)

    def add_channel(self, name: str, statuses: list[dict[str, Any]], program_type: str = "event") -> Channel:
        ordered = sorted(statuses, key=lambda s: int(s["step"]))
        channel = Channel(name, ordered, program_type)
        self.channels[name] = channel
        return channel

    def add_program(self, name: str, channel: str, *, type: str = "Event", folder_id: int | None = None,
                    description: str = "", program_id: int | None = None) -> int:
        pid = self.new_id("program", program_id)
        self.programs[pid] = Program(pid, name, channel, type, folder_id, description)
        return pid

    def program_by_name(self, name: str) -> Program | None:
        return next((p for p in self.programs.values() if p.name == name), None)

    def add_campaign(self, name: str, *, type: str = "trigger", active: bool = True, program_id: int | None = None,
                     description: str = "", campaign_id: int | None = None) -> int:
        cid = self.new_id("campaign", campaign_id)
        self.campaigns[cid] = Campaign(cid, name, type, active, program_id, description)
        return cid
