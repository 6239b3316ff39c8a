"""Programs, channels, program member status (upsert, 1037, 1025) and smart campaigns (Request Campaign)."""

from __future__ import annotations

import zlib
from typing import Any

from segmarketo_cli.sandbox.envelope import (
    ApiError,
    Request,
    Response,
    asset_ok,
    asset_time,
    decode_token,
    encode_token,
    now_iso,
    ok,
)
from segmarketo_cli.sandbox.instance import Instance
from segmarketo_cli.sandbox.marketo.leads import batch_size_arg, check_record_count
from segmarketo_cli.sandbox.marketo.lists import asset_paging
from segmarketo_cli.sandbox.stores.assets import Campaign, Program

MAX_CAMPAIGN_LEADS = 100


def _program(sb: Instance, program: Program) -> dict[str, Any]:
    folder = sb.marketo.assets.folders.get(program.folder_id) if program.folder_id else None
    record: dict[str, Any] = {
        "id": program.id, "name": program.name, "description": program.description, "type": program.type,
        "channel": program.channel, "status": "", "workspace": "Default",
        "url": f"{sb.url}/#PG{program.id}A1",
        "createdAt": asset_time(program.created_at), "updatedAt": asset_time(program.created_at),
    }
    if folder is not None:
        record["folder"] = {"type": "Folder", "value": folder.id, "folderName": folder.name}
    return record


def program_by_name(sb: Instance, request: Request, match: Any) -> Response:
    name = request.required("name")
    with sb.marketo.lock:
        found = sb.marketo.assets.program_by_name(name)
        return asset_ok([_program(sb, found)] if found else None)


def program_by_id(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        found = sb.marketo.assets.programs.get(int(match.group(1)))
        return asset_ok([_program(sb, found)] if found else None)


def programs(sb: Instance, request: Request, match: Any) -> Response:
    offset, max_return = asset_paging(request)
    with sb.marketo.lock:
        rows = sorted(sb.marketo.assets.programs.values(), key=lambda p: p.id)[offset:offset + max_return]
        return asset_ok([_program(sb, p) for p in rows])


def _channel(name: str, channel: Any) -> dict[str, Any]:
    return {"id": zlib.crc32(name.encode()) % 10000, "name": name,
            "applicableProgramType": channel.applicable_program_type,
            "progressionStatuses": [{"name": s["name"], "step": s["step"], "success": s["success"], "hidden": False,
                                     "description": ""} for s in channel.statuses]}


def channels(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        return asset_ok([_channel(n, c) for n, c in sb.marketo.assets.channels.items()])


def channel_by_name(sb: Instance, request: Request, match: Any) -> Response:
    name = request.arg("name") or ""
    with sb.marketo.lock:
        found = sb.marketo.assets.channels.get(name)
        return asset_ok([_channel(name, found)] if found else None)


def member_status(sb: Instance, request: Request, match: Any) -> Response:
    body = request.json()
    status_name = body.get("statusName") if isinstance(body, dict) else None
    records = body.get("input") if isinstance(body, dict) else None
    if not status_name:
        raise ApiError("701", "'statusName' cannot be blank")
    if not isinstance(records, list) or not records:
        raise ApiError("701", "'input' cannot be blank")
    check_record_count(sb, len(records), "input")
    results: list[dict[str, Any]] = []
    with sb.marketo.lock:
        state = sb.marketo
        program = state.assets.programs.get(int(match.group(1)))
        if program is None:
            raise ApiError("1013", "Program not found")
        channel = state.assets.channels[program.channel]
        target = channel.status(status_name)
        if target is None:
            raise ApiError("1025", f"Program status '{status_name}' not found")
        for seq, record in enumerate(records):
            lead_id = record.get("leadId") if isinstance(record, dict) else None
            if not isinstance(lead_id, int) or lead_id not in state.store.leads:
                results.append({"seq": seq, "status": "skipped",
                                "reasons": [{"code": "1004", "message": "Lead not found"}]})
                continue
            current = program.members.get(lead_id)
            current_step = channel.step_of(current) if current else None
            if current_step is not None and current_step >= int(target["step"]):
                results.append({"seq": seq, "status": "skipped", "reasons": [
                    {"code": "1037", "message": "Lead skipped because it is already in or past this status"}]})
                continue
            program.members[lead_id] = target["name"]
            state.activities.add(lead_id, 104, now_iso(), primary_attribute_value_id=program.id,
                                 primary_attribute_value=program.name,
                                 attributes={"Old Status": current or "Not in Program", "New Status": target["name"],
                                             "Success": bool(target["success"]), "Program Member ID": lead_id})
            results.append({"seq": seq, "status": "updated" if current else "created", "leadId": lead_id})
    return ok(results)


def program_members(sb: Instance, request: Request, match: Any) -> Response:
    values = {int(v) for v in request.csv_arg("filterValues") if v.isdigit()}
    with sb.marketo.lock:
        program = sb.marketo.assets.programs.get(int(match.group(1)))
        if program is None:
            raise ApiError("1013", "Program not found")
        channel = sb.marketo.assets.channels[program.channel]
        rows: list[dict[str, Any]] = []
        for lead_id, status in sorted(program.members.items()):
            if values and lead_id not in values:
                continue
            reached = bool((channel.status(status) or {}).get("success"))
            rows.append({"seq": len(rows), "leadId": lead_id, "programId": program.id, "statusName": status,
                         "reachedSuccess": reached, "acquiredBy": False})
    return ok(rows)


def _campaign(sb: Instance, campaign: Campaign) -> dict[str, Any]:
    program = sb.marketo.assets.programs.get(campaign.program_id) if campaign.program_id else None
    record: dict[str, Any] = {"id": campaign.id, "name": campaign.name, "description": campaign.description,
                              "type": campaign.type, "workspaceName": "Default", "createdAt": campaign.created_at,
                              "updatedAt": campaign.created_at, "active": campaign.active}
    if program is not None:
        record.update(programName=program.name, programId=program.id)
    return record


def campaigns(sb: Instance, request: Request, match: Any) -> Response:
    names = set(request.csv_arg("name"))
    ids = {int(i) for i in request.csv_arg("id") if i.isdigit()}
    batch_size = batch_size_arg(sb, request)
    token = request.arg("nextPageToken")
    start = int(decode_token(token, "campaigns")) if token else 0
    with sb.marketo.lock:
        rows = [c for c in sorted(sb.marketo.assets.campaigns.values(), key=lambda c: c.id)
                if (not names or c.name in names) and (not ids or c.id in ids)]
        page = [_campaign(sb, c) for c in rows[start:start + batch_size]]
    more = start + batch_size < len(rows)
    return ok(page, nextPageToken=encode_token(f"campaigns:{start + batch_size}") if more else None)


def request_campaign(sb: Instance, request: Request, match: Any) -> Response:
    body = request.json()
    payload = body.get("input") if isinstance(body, dict) else None
    if not isinstance(payload, dict):
        raise ApiError("701", "'input' cannot be blank")
    leads = payload.get("leads") or []
    tokens = payload.get("tokens") or []
    if not leads:
        raise ApiError("701", "'leads' cannot be blank")
    if len(leads) > MAX_CAMPAIGN_LEADS:
        raise ApiError("1003", f"Number of leads exceeds the maximum of {MAX_CAMPAIGN_LEADS}")
    if len(tokens) > MAX_CAMPAIGN_LEADS:
        raise ApiError("1003", f"Number of tokens exceeds the maximum of {MAX_CAMPAIGN_LEADS}")
    for token in tokens:
        name = token.get("name", "") if isinstance(token, dict) else ""
        if not (name.startswith("{{") and name.endswith("}}")):
            raise ApiError("1003", f"Invalid token name '{name}'")
    with sb.marketo.lock:
        campaign = sb.marketo.assets.campaigns.get(int(match.group(1)))
        if campaign is None:
            raise ApiError("1013", "Campaign not found")
        if campaign.type != "trigger":
            raise ApiError("1003", f"Cannot request campaign '{campaign.name}': it is a batch campaign")
        if not campaign.active:
            raise ApiError("1003", f"Cannot request campaign '{campaign.name}': it is not active")
        lead_ids = [int(lead["id"]) for lead in leads if isinstance(lead, dict) and str(lead.get("id")).isdigit()]
        campaign.requests.append({"leadIds": lead_ids, "tokens": list(tokens), "requestedAt": now_iso()})
    return ok([{"id": campaign.id}], records=len(lead_ids))


def _email(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["id"], "name": item["name"], "subject": {"type": "Text", "value": item.get("subject", "")},
            "fromName": {"type": "Text", "value": item.get("fromName", "Sandbox")}, "status": "approved",
            "workspace": "Default"}


def email_by_id(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        found = sb.marketo.assets.emails.get(int(match.group(1)))
        return asset_ok([_email(found)] if found else None)


def emails(sb: Instance, request: Request, match: Any) -> Response:
    offset, max_return = asset_paging(request)
    with sb.marketo.lock:
        rows = sorted(sb.marketo.assets.emails.values(), key=lambda e: e["id"])[offset:offset + max_return]
        return asset_ok([_email(e) for e in rows])


ROUTES = [
    ("GET", r"/rest/asset/v1/email/(\d+)\.json", email_by_id),
    ("GET", r"/rest/asset/v1/emails\.json", emails),
    ("GET", r"/rest/asset/v1/program/byName\.json", program_by_name),
    ("GET", r"/rest/asset/v1/program/(\d+)\.json", program_by_id),
    ("GET", r"/rest/asset/v1/programs\.json", programs),
    ("GET", r"/rest/asset/v1/channels\.json", channels),
    ("GET", r"/rest/asset/v1/channel/byName\.json", channel_by_name),
    ("POST", r"/rest/v1/programs/(\d+)/members/status\.json", member_status),
    ("GET", r"/rest/v1/programs/(\d+)/members\.json", program_members),
    ("GET", r"/rest/v1/campaigns\.json", campaigns),
    ("POST", r"/rest/v1/campaigns/(\d+)/trigger\.json", request_campaign),
]
