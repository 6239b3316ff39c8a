"""Static lists and folders: Lead DB lists, asset lookups, create (709), members paging, add/remove/ismember."""

from __future__ import annotations

import json
from typing import Any

from segmarketo_cli.sandbox.envelope import (
    ApiError,
    Request,
    Response,
    asset_ok,
    asset_time,
    decode_token,
    encode_token,
    ok,
    skipped,
)
from segmarketo_cli.sandbox.instance import Instance
from segmarketo_cli.sandbox.marketo.leads import DEFAULT_FIELDS, batch_size_arg, check_record_count
from segmarketo_cli.sandbox.stores.assets import MARKETING_FOLDER, Program, StaticList


def _program_of(sb: Instance, sl: StaticList) -> Program | None:
    return sb.marketo.assets.programs.get(sl.folder_id) if sl.folder_type == "Program" else None


def _lead_db_list(sb: Instance, sl: StaticList) -> dict[str, Any]:
    program = _program_of(sb, sl)
    return {"id": sl.id, "name": sl.name, "description": sl.description,
            "programName": program.name if program else None,
            "workspaceName": "Default", "createdAt": sl.created_at, "updatedAt": sl.updated_at or sl.created_at}


def _asset_list(sb: Instance, sl: StaticList) -> dict[str, Any]:
    return {"id": sl.id, "name": sl.name, "description": sl.description,
            "createdAt": asset_time(sl.created_at), "updatedAt": asset_time(sl.updated_at or sl.created_at),
            "folder": {"id": sl.folder_id, "type": sl.folder_type}, "computedUrl": f"{sb.url}/#ST{sl.id}A1",
            "workspace": "Default"}


def _get_list(sb: Instance, list_id: str | int) -> StaticList:
    found = sb.marketo.assets.lists.get(int(list_id))
    if found is None:
        raise ApiError("1013", "Static list not found")
    return found


def lists(sb: Instance, request: Request, match: Any) -> Response:
    names = set(request.csv_arg("name"))
    ids = {int(i) for i in request.csv_arg("id") if i.isdigit()}
    batch_size = batch_size_arg(sb, request)
    token = request.arg("nextPageToken")
    start = int(decode_token(token, "lists")) if token else 0
    with sb.marketo.lock:
        rows = [sl for sl in sorted(sb.marketo.assets.lists.values(), key=lambda s: s.id)
                if (not names or sl.name in names) and (not ids or sl.id in ids)]
        page = [_lead_db_list(sb, sl) for sl in rows[start:start + batch_size]]
    more = start + batch_size < len(rows)
    return ok(page, nextPageToken=encode_token(f"lists:{start + batch_size}") if more else None)


def list_by_id(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        return ok([_lead_db_list(sb, _get_list(sb, match.group(1)))])


def static_list_by_name(sb: Instance, request: Request, match: Any) -> Response:
    name = request.required("name")
    with sb.marketo.lock:
        found = sb.marketo.assets.list_by_name(name)
        return asset_ok([_asset_list(sb, found)] if found else None)


def static_list_by_id(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        found = sb.marketo.assets.lists.get(int(match.group(1)))
        return asset_ok([_asset_list(sb, found)] if found else None)


def static_lists_browse(sb: Instance, request: Request, match: Any) -> Response:
    offset, max_return = asset_paging(request)
    folder = _parse_folder(request.arg("folder"), allow_bare=True) if request.arg("folder") else None
    with sb.marketo.lock:
        rows = [sl for sl in sorted(sb.marketo.assets.lists.values(), key=lambda s: s.id)
                if folder is None or (sl.folder_id, sl.folder_type) == folder]
        return asset_ok([_asset_list(sb, sl) for sl in rows[offset:offset + max_return]])


def asset_paging(request: Request) -> tuple[int, int]:
    try:
        offset = int(request.arg("offset") or 0)
        max_return = int(request.arg("maxReturn") or 20)
    except ValueError:
        raise ApiError("1003", "Invalid offset or maxReturn") from None
    if max_return < 1 or max_return > 200:
        raise ApiError("1003", "maxReturn must be between 1 and 200")
    return offset, max_return


def _parse_folder(raw: str | None, *, allow_bare: bool) -> tuple[int, str]:
    """A folder parameter as (id, "Folder" | "Program"): folder ids and program ids are separate namespaces."""
    if not raw:
        raise ApiError("701", "'folder' cannot be blank")
    if raw.strip().isdigit():
        if allow_bare:
            return int(raw), "Folder"
        # A bare numeric folder is UNCONFIRMED (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/assets/static-lists);
        # refused unless accept_bare_folder_id.
        raise ApiError("1003", "Invalid value for 'folder': expected {\"id\":<id>,\"type\":\"Folder\"}")
    try:
        value = json.loads(raw)
        folder_id, kind = int(value["id"]), str(value["type"]).lower()
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ApiError("1003", "Invalid value for 'folder'") from None
    if kind not in ("folder", "program"):
        raise ApiError("1003", "Invalid value for 'folder': type must be Folder or Program")
    return folder_id, kind.capitalize()


def create_list(sb: Instance, request: Request, match: Any) -> Response:
    name = request.required("name")
    folder_id, kind = _parse_folder(request.arg("folder"), allow_bare=sb.config.accept_bare_folder_id)
    with sb.marketo.lock:
        assets = sb.marketo.assets
        if kind == "Program" and folder_id not in assets.programs:
            raise ApiError("710", "Parent folder not found")
        if kind == "Folder":
            folder = assets.folders.get(folder_id)
            if folder is None:
                raise ApiError("710", "Parent folder not found")
            if folder.folder_type != MARKETING_FOLDER:  # a Design Studio folder or a zone cannot hold lists
                raise ApiError("711", "Incompatible folder type")
        if assets.list_by_name(name) is not None:
            raise ApiError("709", "Static List with the same name already exists")
        list_id = assets.add_list(name, folder_id, request.arg("description") or "", folder_type=kind)
        return asset_ok([_asset_list(sb, assets.lists[list_id])])


def delete_list(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        found = sb.marketo.assets.lists.pop(int(match.group(1)), None)
        if found is None:
            raise ApiError("702", "Static list not found")
        return asset_ok([{"id": found.id}])


def folder_by_name(sb: Instance, request: Request, match: Any) -> Response:
    name = request.required("name")
    folder_type = request.arg("type")
    root = request.arg("root")
    if root and not folder_type:
        raise ApiError("1003", "'type' is required with 'root'")
    if folder_type and folder_type.lower() not in ("folder", "program"):
        raise ApiError("1003", "'type' must be Folder or Program")
    root_id = _parse_folder(root, allow_bare=True)[0] if root else None
    want = folder_type.lower() if folder_type else None
    with sb.marketo.lock:
        assets = sb.marketo.assets
        rows = [f.to_api(sb.config.folder_by_name_type) for f in assets.folders.values()
                if f.name == name and want in (None, "folder")
                and (root_id is None or f.parent_id == root_id or f.id == root_id)]
        rows += [_program_folder(sb, p) for p in assets.programs.values()
                 if p.name == name and want in (None, "program") and (root_id is None or p.folder_id == root_id)]
        return asset_ok(rows)


def _program_folder(sb: Instance, program: Program) -> dict[str, Any]:
    """A program as Get Folder by Name returns it: its id is a program id, told apart only by the type."""
    record: dict[str, Any] = {"id": program.id, "name": program.name,
                              "folderId": {"id": program.id, "type": "Program"}, "folderType": "Program",
                              "path": sb.marketo.assets.program_path(program), "workspace": "Default",
                              "isArchive": False, "isSystem": False}
    if program.folder_id is not None:
        record["parent"] = {"id": program.folder_id, "type": sb.config.folder_by_name_type}
    return record


def members(sb: Instance, request: Request, match: Any) -> Response:
    names = request.csv_arg("fields") or DEFAULT_FIELDS
    batch_size = batch_size_arg(sb, request)
    token = request.arg("nextPageToken")
    after = int(decode_token(token, "members")) if token else 0
    with sb.marketo.lock:
        store = sb.marketo.store
        page, more = _get_list(sb, match.group(1)).page_after(after, batch_size)
        rows = [store.project(store.leads[i], names) for i in page if i in store.leads]
    # Adobe's example has no moreResult; a token is returned while more members follow.
    return ok(rows, nextPageToken=encode_token(f"members:{page[-1]}") if more and page else None)


def _ids(request: Request) -> list[int]:
    raw = request.csv_arg("id")
    if not raw and request.body and request.content_type != "application/x-www-form-urlencoded":
        body = request.json()
        raw = [str(item.get("id")) for item in (body.get("input") or []) if isinstance(item, dict)] \
            if isinstance(body, dict) else []
    if not raw:
        raise ApiError("701", "'id' cannot be blank")
    try:
        return [int(v) for v in raw]
    except ValueError:
        raise ApiError("1003", "Invalid lead id") from None


def _membership(sb: Instance, request: Request, match: Any, op: str) -> Response:
    ids = _ids(request)
    check_record_count(sb, len(ids), "id")
    results: list[dict[str, Any]] = []
    with sb.marketo.lock:
        static_list = _get_list(sb, match.group(1))
        leads = sb.marketo.store.leads
        changed = False
        for lead_id in ids:
            if lead_id not in leads:
                results.append(skipped("1004", "Lead not found", id=lead_id))
            elif op == "add":
                # Re-adding a member answers "added" (UNCONFIRMED, https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/list-membership).
                changed |= lead_id not in static_list.members
                static_list.members.add(lead_id)
                results.append({"id": lead_id, "status": "added"})
            elif op == "remove":
                if lead_id in static_list.members:
                    static_list.members.discard(lead_id)
                    changed = True
                    results.append({"id": lead_id, "status": "removed"})
                else:
                    results.append(skipped("1015", "Lead not in list", id=lead_id))
            else:
                status = "memberof" if lead_id in static_list.members else "notmemberof"
                results.append({"id": lead_id, "status": status})
        if changed:
            static_list.touch()
    return ok(results)


def add_members(sb: Instance, request: Request, match: Any) -> Response:
    return _membership(sb, request, match, "add")


def remove_members(sb: Instance, request: Request, match: Any) -> Response:
    return _membership(sb, request, match, "remove")


def is_member(sb: Instance, request: Request, match: Any) -> Response:
    return _membership(sb, request, match, "check")


ROUTES = [
    ("GET", r"/rest/v1/lists\.json", lists),
    ("GET", r"/rest/v1/lists/(\d+)\.json", list_by_id),
    ("GET", r"/rest/v1/lists?/(\d+)/leads\.json", members),
    ("POST", r"/rest/v1/lists?/(\d+)/leads\.json", add_members),
    ("DELETE", r"/rest/v1/lists?/(\d+)/leads\.json", remove_members),
    ("GET", r"/rest/v1/lists?/(\d+)/leads/ismember\.json", is_member),
    ("GET", r"/rest/asset/v1/staticList/byName\.json", static_list_by_name),
    ("GET", r"/rest/asset/v1/staticList/(\d+)\.json", static_list_by_id),
    ("GET", r"/rest/asset/v1/staticLists\.json", static_lists_browse),
    ("POST", r"/rest/asset/v1/staticLists\.json", create_list),
    ("POST", r"/rest/asset/v1/staticList/(\d+)/delete\.json", delete_list),
    ("GET", r"/rest/asset/v1/folder/byName\.json", folder_by_name),
]
