"""Activities: types.json, pagingtoken.json and activities.json with Marketo's scan-300-of-every-type paging."""

from __future__ import annotations

from typing import Any

from segmarketo_cli.sandbox.envelope import (
    ApiError,
    Request,
    Response,
    decode_token,
    encode_token,
    iso_z,
    ok,
    parse_datetime,
)
from segmarketo_cli.sandbox.instance import Instance
from segmarketo_cli.sandbox.marketo.leads import batch_size_arg

MAX_TYPE_IDS = 10
MAX_LEAD_IDS = 30


def position_token(key: tuple[str, int], empties: int = 0) -> str:
    """An opaque token encoding the last scanned (activityDate, id), and how many busy-instance empty pages
    were already answered from that place."""
    return encode_token(f"act:{key[0]}|{key[1]}" + (f"|{empties}" if empties else ""))


def _position(sb: Instance, token: str) -> tuple[tuple[str, int], int, int]:
    """(the token's key, the scan position after it, the busy-instance empty pages already answered there)."""
    date_part, _, rest = decode_token(token, "act").partition("|")
    id_part, _, empties = rest.partition("|")
    if not id_part.lstrip("-").isdigit() or not (empties or "0").isdigit():
        raise ApiError("1003", "Invalid nextPageToken")
    key = (date_part, int(id_part))
    return key, sb.marketo.activities.position_after(key), int(empties or 0)


def types(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        return ok(sorted(sb.marketo.activities.types.values(), key=lambda t: t["id"]))


def paging_token(sb: Instance, request: Request, match: Any) -> Response:
    since = request.required("sinceDatetime")
    try:
        since_iso = iso_z(parse_datetime(since))
    except ValueError:
        raise ApiError("704", "Invalid date format") from None
    # The token points just before the first activity at or after sinceDatetime.
    return ok(None, nextPageToken=position_token((since_iso, -2)))


def _int_list(request: Request, name: str) -> list[int]:
    try:
        return [int(v) for v in request.csv_arg(name)]
    except ValueError:
        raise ApiError("1003", f"Invalid value for '{name}'") from None


def activities(sb: Instance, request: Request, match: Any) -> Response:
    token = request.required("nextPageToken")
    type_ids = set(_int_list(request, "activityTypeIds"))
    if not type_ids:
        raise ApiError("701", "'activityTypeIds' cannot be blank")
    if len(type_ids) > MAX_TYPE_IDS:
        raise ApiError("1003", f"Number of activityTypeIds exceeds the maximum of {MAX_TYPE_IDS}")
    lead_ids = set(_int_list(request, "leadIds"))
    if len(lead_ids) > MAX_LEAD_IDS:
        raise ApiError("1003", f"Number of leadIds exceeds the maximum of {MAX_LEAD_IDS}")
    asset_ids = set(_int_list(request, "assetIds"))
    if asset_ids and len(type_ids) > 1:
        raise ApiError("1003", "assetIds requires a single activityTypeId")
    batch_size = batch_size_arg(sb, request)
    list_id = request.arg("listId")
    with sb.marketo.lock:
        store = sb.marketo.activities
        list_members: set[int] | None = None
        if list_id:
            static_list = sb.marketo.assets.lists.get(int(list_id)) if list_id.isdigit() else None
            if static_list is None:
                raise ApiError("1013", "Static list not found")
            list_members = static_list.members
        key, start, empties = _position(sb, token)
        if empties < sb.config.activity_busy_pages and start < len(store.keys):
            # A busy instance: the scan passed only other types' activity (KB ka-29362).
            return ok(None, moreResult=True, nextPageToken=position_token(key, empties + 1))
        found: list[dict[str, Any]] = []
        position = start
        # Each call scans the next `activity_scan_window` activities of every type (KB ka-29362).
        for row in store.scan(start, sb.config.activity_scan_window):
            position += 1
            if row["activityTypeId"] not in type_ids:
                continue
            if lead_ids and row["leadId"] not in lead_ids:
                continue
            if list_members is not None and row["leadId"] not in list_members:
                continue
            if asset_ids and row.get("primaryAttributeValueId") not in asset_ids:
                continue
            found.append(row)
            if len(found) >= batch_size:
                break
        more = position < len(store.keys)
        # An empty scan (nothing after the position yet) hands back the same token.
        next_token = position_token(store.keys[position - 1]) if position > start else token
    payload_rows = [dict(row) for row in found]
    return ok(payload_rows or None, records=max(1, len(payload_rows)), moreResult=more,
              nextPageToken=next_token)


ROUTES = [
    ("GET", r"/rest/v1/activities/types\.json", types),
    ("GET", r"/rest/v1/activities/pagingtoken\.json", paging_token),
    ("GET", r"/rest/v1/activities\.json", activities),
]
