"""Built-in lead fields (Marketo standard fields plus segmarketo's custom ones) and the default channels."""

from __future__ import annotations

from typing import Any

# (name, dataType, length, readOnly, searchable, displayName)
STANDARD_FIELDS: list[tuple[str, str, int | None, bool, bool, str]] = [
    ("id", "integer", None, True, True, "Id"),
    ("email", "email", 255, False, True, "Email Address"),
    ("firstName", "string", 255, False, False, "First Name"),
    ("lastName", "string", 255, False, False, "Last Name"),
    ("title", "string", 255, False, False, "Job Title"),
    ("company", "string", 255, False, False, "Company Name"),
    ("phone", "phone", 255, False, False, "Phone Number"),
    ("address", "text", 65535, False, False, "Address"),
    ("city", "string", 255, False, False, "City"),
    ("state", "string", 255, False, False, "State"),
    ("postalCode", "string", 255, False, False, "Postal Code"),
    ("country", "string", 255, False, False, "Country"),
    ("website", "url", 255, False, False, "Website"),
    ("industry", "string", 255, False, False, "Industry"),
    ("numberOfEmployees", "integer", None, False, False, "Num Employees"),
    ("dateOfBirth", "date", None, False, False, "Date of Birth"),
    ("unsubscribed", "boolean", None, False, False, "Unsubscribed"),
    ("unsubscribedReason", "text", 2000, False, False, "Unsubscribed Reason"),
    ("emailInvalid", "boolean", None, False, False, "Email Invalid"),
    ("emailInvalidCause", "string", 255, False, False, "Email Invalid Cause"),
    ("marketingSuspended", "boolean", None, False, False, "Marketing Suspended"),
    ("blackListed", "boolean", None, False, False, "Blocklisted"),
    ("leadScore", "integer", None, False, False, "Lead Score"),
    ("leadSource", "string", 255, False, False, "Person Source"),
    ("createdAt", "datetime", None, True, False, "Created At"),
    ("updatedAt", "datetime", None, True, False, "Updated At"),
    ("mktoName", "string", 255, True, False, "Full Name"),
    ("cookies", "string", 255, True, True, "Cookies"),
    # segmarketo's custom fields
    ("segmentUserId", "string", 255, False, True, "Segment User ID"),
    ("anonymousId", "string", 255, False, False, "Segment Anonymous ID"),
    ("productScore", "integer", None, False, False, "Product Score"),
    ("lifecycleStage", "string", 255, False, False, "Lifecycle Stage"),
    ("trialStartDate", "date", None, False, False, "Trial Start Date"),
    ("isCustomer", "boolean", None, False, False, "Is Customer"),
    ("mrr", "currency", None, False, False, "MRR"),
]

DEFAULT_CHANNELS: dict[str, list[dict[str, Any]]] = {
    "Webinar": [
        {"name": "Not in Program", "step": 0, "success": False},
        {"name": "Invited", "step": 10, "success": False},
        {"name": "Registered", "step": 20, "success": False},
        {"name": "Attended", "step": 30, "success": True},
        {"name": "No Show", "step": 30, "success": False},
    ],
    "Nurture": [
        {"name": "Not in Program", "step": 0, "success": False},
        {"name": "Member", "step": 10, "success": False},
        {"name": "Engaged", "step": 20, "success": True},
    ],
    "Email Blast": [
        {"name": "Not in Program", "step": 0, "success": False},
        {"name": "Sent", "step": 10, "success": False},
        {"name": "Engaged", "step": 20, "success": True},
    ],
}
PROGRAM_TYPES = {"Webinar": "Event", "Nurture": "Engagement", "Email Blast": "Email"}
