"""Lead database endpoints: Sync Leads, Get Leads by Filter, Get Lead by id, Delete Leads, Describe, Associate Lead."""

from __future__ import annotations

from typing import Any

from segmarketo_cli.sandbox.envelope import (
    ApiError,
    Request,
    Response,
    decode_token,
    encode_token,
    now_iso,
    ok,
    skipped,
)
from segmarketo_cli.sandbox.instance import Instance
from segmarketo_cli.sandbox.stores.fieldtypes import InvalidValue, coerce
from segmarketo_cli.sandbox.stores.partitions import PartitionRefused, partition_arg

ACTIONS = ("createOrUpdate", "createOnly", "updateOnly", "createDuplicate")
DEFAULT_FIELDS = ["id", "email", "updatedAt", "createdAt", "firstName", "lastName"]
READ_ONLY_REFUSED = "Field '{name}' is read-only"


def check_record_count(sb: Instance, count: int, what: str) -> None:
    limit = sb.config.max_records_per_call
    if count > limit:
        # Server reply above 300 records is UNCONFIRMED (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/leads):
        # the emulator fails the call.
        raise ApiError("1003", f"{what} exceeds the maximum of {limit} records")


class _Skip(Exception):
    """A record-level skip: Marketo's code and message for one input row."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def prepare(sb: Instance, record: dict[str, Any], lookup: str | None) -> dict[str, Any]:
    """Typed values of one input record (lookup `id` left out); raises _Skip with 1006 or 1003."""
    fields = sb.marketo.store.fields
    values: dict[str, Any] = {}
    for name, raw in record.items():
        if name == "id" and lookup == "id":
            continue
        field = fields.get(name)
        if field is None:
            raise _Skip("1006", f"Field '{name}' not found")
        if field.read_only:
            raise _Skip("1003", READ_ONLY_REFUSED.format(name=name))
        try:
            values[name] = coerce(field, raw, string_overflow=sb.config.string_overflow)
        except InvalidValue as exc:
            raise _Skip("1003", str(exc)) from None
    return values


def apply_unsubscribe(sb: Instance, lead_id: int, values: dict[str, Any]) -> None:
    """Durable Unsubscribe: unsubscribed=true spreads to every lead sharing the e-mail."""
    if not (sb.config.durable_unsubscribe and values.get("unsubscribed") is True):
        return
    store = sb.marketo.store
    email = store.leads[lead_id].get("email")
    if not email:
        return
    for other in store.find("email", email):
        if other != lead_id and store.leads[other].get("unsubscribed") is not True:
            store.update(other, {"unsubscribed": True})


def upsert(sb: Instance, record: dict[str, Any], action: str, lookup: str,
           partition: str | None = None) -> dict[str, Any]:
    """One Sync Leads row -> its result item; `partition` is the request's partitionName. Caller holds the lock."""
    store = sb.marketo.store
    partitions = sb.marketo.partitions
    if not isinstance(record, dict):
        return skipped("1003", "Invalid input record")
    try:
        if lookup == "id" and action != "updateOnly":
            raise _Skip("1003", "Lookup field 'id' is only allowed with action updateOnly")
        if action != "createDuplicate" and record.get(lookup) in (None, ""):
            raise _Skip("1003", f"Value for lookup field '{lookup}' is missing")
        if action == "createOnly" and "id" in record:
            raise _Skip("1003", "Field 'id' not allowed with action createOnly")
        values = prepare(sb, record, lookup)
    except _Skip as exc:
        return skipped(exc.code, exc.message)
    matches = [] if action == "createDuplicate" else store.find(lookup, record.get(lookup))
    try:
        if action == "createDuplicate" or (not matches and action in ("createOrUpdate", "createOnly")):
            partition_id = partitions.for_create(partition)
            lead_id = store.create(values)
            partitions.place(lead_id, partition_id)
            apply_unsubscribe(sb, lead_id, values)
            return {"id": lead_id, "status": "created"}
        if not matches:
            return skipped("1004", "Lead not found")
        if action == "createOnly":
            return skipped("1005", "Lead already exists")
        if len(matches) > 1:
            return skipped("1007", "Multiple lead match lookup criteria")
        partitions.check_update(matches[0], partition)
    except PartitionRefused as exc:
        return skipped(exc.code, exc.message)
    store.update(matches[0], values)
    apply_unsubscribe(sb, matches[0], values)
    return {"id": matches[0], "status": "updated"}


def sync_leads(sb: Instance, request: Request, match: Any) -> Response:
    body = request.json()
    if not isinstance(body, dict):
        raise ApiError("609", "Invalid JSON")
    records = body.get("input")
    if not isinstance(records, list) or not records:
        raise ApiError("1003", "'input' must be a non-empty array")
    check_record_count(sb, len(records), "input")
    action = body.get("action") or "createOrUpdate"
    if action not in ACTIONS:
        raise ApiError("1003", f"Invalid action '{action}'")
    lookup = body.get("lookupField") or "email"
    # partitionName works only with createOnly / createOrUpdate (Adobe, Sync Leads).
    partition = partition_arg(body.get("partitionName")) if action in ("createOnly", "createOrUpdate") else None
    with sb.marketo.lock:
        if lookup not in sb.marketo.store.searchable() or lookup == "cookies":
            raise ApiError("1011", f"Field '{lookup}' is not supported as lookupField")
        results = [upsert(sb, record, action, lookup, partition) for record in records]
    return ok(results)


def get_leads(sb: Instance, request: Request, match: Any) -> Response:
    filter_type = request.arg("filterType")
    values = request.csv_arg("filterValues")
    if not filter_type:
        raise ApiError("701", "'filterType' cannot be blank")
    if not values:
        raise ApiError("701", "'filterValues' cannot be blank")
    check_record_count(sb, len(values), "filterValues")
    names = request.csv_arg("fields") or DEFAULT_FIELDS
    batch_size = batch_size_arg(sb, request)
    with sb.marketo.lock:
        store = sb.marketo.store
        if filter_type not in store.searchable():
            raise ApiError("1003", f"Invalid filterType '{filter_type}'")
        ids: list[int] = []
        seen: set[int] = set()
        for value in values:
            for lead_id in store.find(filter_type, value):
                if lead_id not in seen:
                    seen.add(lead_id)
                    ids.append(lead_id)
        if len(ids) > sb.config.filter_max_matches:
            raise ApiError("1003", "Too many results match the filter")
        ids.sort()
        token = request.arg("nextPageToken")
        start = int(decode_token(token, "leads")) if token else 0
        page = ids[start:start + batch_size]
        rows = [store.project(store.leads[i], names) for i in page]
    more = start + batch_size < len(ids)
    return ok(rows, nextPageToken=encode_token(f"leads:{start + batch_size}") if more else None)


def batch_size_arg(sb: Instance, request: Request) -> int:
    """`batchSize` of a paged read: 1 to the records a call may carry, that many when absent."""
    limit = sb.config.max_records_per_call
    raw = request.arg("batchSize")
    if raw in (None, ""):
        return limit
    try:
        size = int(raw)
    except ValueError:
        raise ApiError("1003", "Invalid batchSize") from None
    if size < 1 or size > limit:
        raise ApiError("1003", f"batchSize must be between 1 and {limit}")
    return size


def get_lead(sb: Instance, request: Request, match: Any) -> Response:
    names = request.csv_arg("fields") or DEFAULT_FIELDS
    with sb.marketo.lock:
        lead = sb.marketo.store.leads.get(int(match.group(1)))
        rows = [sb.marketo.store.project(lead, names)] if lead else []
    return ok(rows)


def delete_leads(sb: Instance, request: Request, match: Any) -> Response:
    """Delete Leads: `{"input": [{"id": n}, ...]}` (or `id` query parameters), one row per id in input order:
    `{id, status: deleted}` or skipped 1004 "Lead not found"
    (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/leads#delete).
    The lead leaves every static list and program with it."""
    body = request.json() if request.body else {}
    if not isinstance(body, dict):
        raise ApiError("609", "Invalid JSON")
    records = body.get("input")
    if records is None:
        records = [{"id": value} for value in request.args("id")]
    if not isinstance(records, list) or not records:
        raise ApiError("1003", "'input' must be a non-empty array")
    check_record_count(sb, len(records), "input")
    results: list[dict[str, Any]] = []
    with sb.marketo.lock:
        state = sb.marketo
        for record in records:
            try:
                lead_id = int(record["id"])
            except (KeyError, TypeError, ValueError):
                results.append(skipped("1003", "Value for field 'id' is missing or not a number"))
                continue
            if lead_id not in state.store.leads:
                results.append(skipped("1004", "Lead not found", id=lead_id))
                continue
            state.store.delete(lead_id)
            for static_list in state.assets.lists.values():
                static_list.members.discard(lead_id)
            for program in state.assets.programs.values():
                program.members.pop(lead_id, None)
            results.append({"id": lead_id, "status": "deleted"})
    return ok(results)


def describe(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        return ok([f.describe() for f in sb.marketo.store.fields.values()])


def describe2(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        store = sb.marketo.store
        result = {"name": "API Lead", "searchableFields": [[name] for name in store.searchable()],
                  "fields": [f.describe2() for f in store.fields.values()]}
    return ok([result])


def associate(sb: Instance, request: Request, match: Any) -> Response:
    cookie = request.required("cookie")
    lead_id = int(match.group(1))
    with sb.marketo.lock:
        state = sb.marketo
        if lead_id not in state.store.leads:
            raise ApiError("1004", "Lead not found")
        state.store.cookies[cookie] = lead_id
        state.associations.append((lead_id, cookie))
        state.store.leads[lead_id]["cookies"] = cookie
        state.store.leads[lead_id]["updatedAt"] = now_iso()
    return ok(None)


def lead_partitions(sb: Instance, request: Request, match: Any) -> Response:
    with sb.marketo.lock:
        return ok(sb.marketo.partitions.to_api())


ROUTES = [
    ("POST", r"/rest/v1/leads\.json", sync_leads),
    ("GET", r"/rest/v1/leads/partitions\.json", lead_partitions),
    ("POST", r"/rest/v1/leads/delete\.json", delete_leads),
    ("GET", r"/rest/v1/leads\.json", get_leads),
    ("GET", r"/rest/v1/lead/(\d+)\.json", get_lead),
    ("GET", r"/rest/v1/leads/describe\.json", describe),
    ("GET", r"/rest/v1/leads/describe2\.json", describe2),
    ("POST", r"/rest/v1/leads/(\d+)/associate\.json", associate),
]
