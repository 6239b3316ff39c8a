"""Static lists: lookup by id or name, folders, create, paged members, add/remove/is-member (≤300 ids)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from segmarketo_cli.errors import MarketoError
from segmarketo_cli.marketo.base import MAX_BATCH, ApiBase, check_batch, id_list

# folderType of the folder-by-name rows a static list can be created in, and the folderId.type each one takes.
# Design Studio folders ("Email", "Landing Page", ...) and zones cannot hold lists (docs/marketo-client.md).
LIST_PARENT_TYPES = {"marketing folder": "Folder", "program": "Program"}


@dataclass(frozen=True)
class ListParent:
    """Where a static list is created: a marketing folder or a program. Their ids are separate namespaces, told
    apart only by `type`, so the id is never used without it."""

    id: int
    type: str  # "Folder" or "Program", spelled the way Create Static List takes it
    path: str = ""

    @property
    def option(self) -> str:
        """How to name exactly this parent with sync-audience --folder."""
        return f"{self.type.lower()}:{self.id}"

    @classmethod
    def from_folder(cls, row: Mapping[str, Any]) -> ListParent | None:
        """The parent a Get Folder by Name row names, or None when that folder cannot hold a static list.

        folderId.type comes back as "Folder", "FOLDER" or "Program" (Adobe's own example says "FOLDER"), so it is
        compared case-insensitively and sent back in the canonical spelling.
        """
        if str(row.get("folderType", "")).strip().lower() not in LIST_PARENT_TYPES:
            return None
        inner = row.get("folderId")
        if not isinstance(inner, Mapping) or "id" not in inner:
            return None
        kind = {"folder": "Folder", "program": "Program"}.get(str(inner.get("type", "")).strip().lower())
        if kind is None:
            return None
        return cls(int(inner["id"]), kind, str(row.get("path") or ""))


def list_parents(rows: Iterable[Mapping[str, Any]], name: str) -> tuple[list[ListParent], list[Mapping[str, Any]]]:
    """Folder-by-name rows with exactly `name`: (the ones a list can go in, the ones that cannot hold lists)."""
    usable: list[ListParent] = []
    other: list[Mapping[str, Any]] = []
    for row in rows:
        if row.get("name") != name:
            continue
        parent = ListParent.from_folder(row)
        if parent is None:
            other.append(row)
        else:
            usable.append(parent)
    return usable, other


class ListsApi(ApiBase):
    """Static-list endpoints of `MarketoClient`
    (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/list-membership,
    https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/assets/static-lists)."""

    def get_list(self, list_id: int) -> dict[str, Any] | None:
        """The Lead DB list record, or None when Marketo does not know the id (1013)."""
        try:
            return self.envelope("GET", f"/rest/v1/lists/{int(list_id)}.json").first
        except MarketoError as exc:
            if exc.code == "1013":
                return None
            raise

    def find_list_by_name(self, name: str) -> dict[str, Any] | None:
        """The static list with exactly this name (asset API), or None."""
        env = self.envelope("GET", "/rest/asset/v1/staticList/byName.json", params={"name": name})
        return env.first

    def list_names(self) -> list[str]:
        """The name of every static list (Get Lists, paged): what a mistyped list name is compared with."""
        return [str(row.get("name")) for page in self.paged("/rest/v1/lists.json", {"batchSize": MAX_BATCH})
                for row in page]

    def find_folders_by_name(
        self, name: str, *, folder_type: str | None = None, root: int | None = None
    ) -> list[dict[str, Any]]:
        """Every folder with that name (names are not unique), programs and Design Studio folders included;
        `root` requires `folder_type`. See `list_parents` for the rows a list can be created in."""
        params: dict[str, Any] = {"name": name}
        if folder_type:
            params["type"] = folder_type
        if root is not None:
            params["root"] = root
        return self.envelope("GET", "/rest/asset/v1/folder/byName.json", params=params).result

    def create_list(
        self, name: str, folder_id: int, description: str | None = None, *, folder_type: str = "Folder"
    ) -> dict[str, Any]:
        """Create a static list in a marketing folder (`folder_type` "Folder") or a program ("Program").

        Folder ids and program ids are separate namespaces: the id means nothing without its type, and a wrong
        type files the list under whatever folder has that number, or fails with 710/711. A taken name raises
        MarketoError 709 (look the list up again).
        """
        kind = {"folder": "Folder", "program": "Program"}.get(folder_type.strip().lower())
        if kind is None:
            raise ValueError(f"folder_type must be Folder or Program, got {folder_type!r}")
        form = {"name": name, "folder": json.dumps({"id": int(folder_id), "type": kind})}
        if description:
            form["description"] = description
        env = self.envelope("POST", "/rest/asset/v1/staticLists.json", form=form)
        created = env.first
        if created is None:
            raise MarketoError("", f"creating static list {name!r} returned no list ({'; '.join(env.warnings)})")
        return created

    def iter_list_members(self, list_id: int, fields: Sequence[str] = ("id", "email")) -> Iterator[dict[str, Any]]:
        """Every member of a static list, 300 per call, following `nextPageToken`."""
        params = {"fields": ",".join(fields), "batchSize": MAX_BATCH}
        for page in self.paged(f"/rest/v1/lists/{int(list_id)}/leads.json", params):
            yield from page

    def add_to_list(self, list_id: int, ids: Sequence[int]) -> list[dict[str, Any]]:
        """Add ≤300 leads; rows `{id, status: added|skipped, reasons?}` (map them by `id`, not position)."""
        check_batch(ids, "add_to_list")
        if not ids:
            return []
        body = {"input": [{"id": i} for i in id_list(ids)]}
        return self.envelope("POST", f"/rest/v1/lists/{int(list_id)}/leads.json", json=body).result

    def remove_from_list(self, list_id: int, ids: Sequence[int]) -> list[dict[str, Any]]:
        """Remove ≤300 leads; 1015 'Lead not in list' rows mean already absent."""
        check_batch(ids, "remove_from_list")
        if not ids:
            return []
        params = [("id", i) for i in id_list(ids)]
        return self.envelope("DELETE", f"/rest/v1/lists/{int(list_id)}/leads.json", params=params).result

    def list_ismember(self, list_id: int, ids: Sequence[int]) -> list[dict[str, Any]]:
        """Membership of ≤300 leads: rows `{id, status: memberof|notmemberof|skipped}`."""
        check_batch(ids, "list_ismember")
        if not ids:
            return []
        params = [("id", i) for i in id_list(ids)]
        return self.envelope("GET", f"/rest/v1/lists/{int(list_id)}/leads/ismember.json", params=params).result
