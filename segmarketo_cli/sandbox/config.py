"""SandboxConfig: limits, latency and the switches for every UNCONFIRMED behaviour of the emulator."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class SandboxConfig:
    """Tunable behaviour of the sandbox. Defaults copy the real services' confirmed behaviour."""

    # Marketo limits (docs/marketo-client.md, which cites Adobe's pages).
    rate_limit_calls: int = 100
    window_s: float = 20.0
    max_concurrency: int = 10
    daily_quota: int = 50000
    token_ttl_s: int = 3600
    # Latency simulation: every counted REST/bulk call sleeps latency_s + latency_per_record_s * records.
    latency_s: float = 0.0
    latency_per_record_s: float = 0.0
    # Bulk jobs advance one step every bulk_step_s seconds; 0 means one step per status poll.
    bulk_step_s: float = 0.0
    # Segment: strict mode answers 401 to an unknown write key (the real service answers 200).
    strict_write_key: bool = False
    # Segment wrong-region mode: answer 200 and store nothing (UNCONFIRMED wire behaviour; https://segment.com/docs/guides/regional-segment/).
    wrong_region: bool = False
    # Segment request-level refusal: when set, every /v1/batch is answered 400 with this code (e.g.
    # "source_disabled"), whatever the batch holds. Segment documents 400 for size, JSON and empty or very short
    # write keys; the body and any other request-level reason are UNCONFIRMED (docs/segment-sender.md).
    segment_refuse_requests: str = ""
    # Fault "timeout": how long the server stalls before dropping the connection.
    timeout_fault_s: float = 5.0
    # Records per Lead DB call; above it the whole call fails with 1003 (UNCONFIRMED: Adobe documents the limit of
    # 300, not the reply to more; https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/leads).
    max_records_per_call: int = 300
    # Get Leads by Filter: more matches than this give 1003.
    filter_max_matches: int = 1000
    # Activities: how many activities (of every type) one activities.json call scans.
    activity_scan_window: int = 300
    # A busy instance: this many empty pages (moreResult=true) before every page that scans activities, as
    # when the next 300 activities of every type hold none of the requested types (KB ka-29362).
    activity_busy_pages: int = 0
    # A string longer than its describe length: "reject" (1003) or "truncate" (UNCONFIRMED which;
    # https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/field-types).
    string_overflow: str = "reject"
    # Compare e-mail lookups case-insensitively (UNCONFIRMED).
    email_case_insensitive: bool = True
    # Setting unsubscribed=true on one lead sets it on every lead sharing its e-mail (Durable Unsubscribe).
    durable_unsubscribe: bool = True
    # Accept the deprecated access_token query parameter instead of the Bearer header.
    accept_access_token_param: bool = False
    # Create Static List with a bare numeric folder id instead of the JSON object (UNCONFIRMED; Adobe documents the
    # object: https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/assets/static-lists).
    accept_bare_folder_id: bool = False
    # How Get Folder by Name spells folderId.type of a folder: Adobe's example answers "FOLDER" (other folder
    # calls answer "Folder"); clients must compare it case-insensitively.
    folder_by_name_type: str = "FOLDER"
    # Bulk import, a lookup value matching several leads: "fail" the row or update the "latest" updated lead
    # (UNCONFIRMED: https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/bulk-import/bulk-lead-import
    # does not say; the UI list import does the latter).
    bulk_multi_match: str = "fail"
    # Bulk import failures/warnings files: "real" leaves out every column that is empty in all the rows it
    # lists (a real failure file lacked the lookup column that was empty in the upload: blog.teknkl.com, "add an
    # initial row number to bulk lead import CSVs"); "echo" repeats the upload's header; "keyless" also leaves
    # out the lookup column, the worst case a client must survive (UNCONFIRMED which columns Marketo keeps).
    bulk_report_header: str = "real"
    # Bulk extract files: how a null value is written (activity extracts use the literal "null").
    extract_null: str = "null"
    # Bulk extract daily volume in bytes (500 MB) -> 1029 "Export daily quota ... exceeded".
    export_daily_bytes: int = 500 * 1024 * 1024
    # Segment limits (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#max-request-size).
    segment_max_body: int = 500 * 1024
    segment_max_message: int = 32 * 1024
    segment_max_items: int = 2500
    # More than segment_max_items: reject "all" items or only the "excess" (UNCONFIRMED).
    segment_overflow: str = "all"
    segment_dedupe_window_s: float = 24 * 3600.0
    # Gzip Marketo JSON responses of 1,024 bytes or more when the client accepts gzip (bulk files never).
    gzip_responses: bool = True
    # Seconds between automatic saves when a data directory is set (0 = only on stop).
    persist_every_s: float = 30.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SandboxConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
