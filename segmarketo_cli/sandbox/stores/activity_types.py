"""The standard activity types table served by types.json (e-mail attribute names UNCONFIRMED)."""

# Source: https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/activities

from __future__ import annotations

from typing import Any


def _t(type_id: int, name: str, description: str, primary: tuple[str, str] | None,
       attributes: list[tuple[str, str]]) -> dict[str, Any]:
    item: dict[str, Any] = {"id": type_id, "name": name, "description": description}
    if primary:
        item["primaryAttribute"] = {"name": primary[0], "dataType": primary[1]}
    item["attributes"] = [{"name": n, "dataType": d} for n, d in attributes]
    return item


_EMAIL_RUN = [("Campaign Run ID", "integer"), ("Choice Number", "integer"), ("Step ID", "integer"),
              ("Test Variant", "integer"), ("Has Predictive", "boolean")]
_DEVICE = [("Device", "string"), ("User Agent", "string"), ("Is Mobile Device", "boolean"), ("Platform", "string"),
           ("Is Bot Activity", "boolean"), ("Bot Activity Pattern", "string")]

STANDARD_TYPES: list[dict[str, Any]] = [
    _t(1, "Visit Webpage", "User visits a web page", ("Webpage ID", "integer"),
       [("Client IP Address", "string"), ("Query Parameters", "string"), ("Referrer URL", "string"),
        ("User Agent", "string"), ("Webpage URL", "string")]),
    _t(2, "Fill Out Form", "User fills out and submits form on web page", ("Webform ID", "integer"),
       [("Client IP Address", "string"), ("Form Fields", "text"), ("Query Parameters", "string"),
        ("Referrer URL", "string"), ("User Agent", "string"), ("Webpage ID", "integer")]),
    _t(3, "Click Link", "User clicks link on a page", ("Link ID", "integer"),
       [("Client IP Address", "string"), ("Query Parameters", "string"), ("Referrer URL", "string"),
        ("User Agent", "string"), ("Webpage ID", "integer")]),
    _t(6, "Send Email", "Send Marketo Email to a person", ("Mailing ID", "integer"), _EMAIL_RUN),
    _t(7, "Email Delivered", "Marketo Email is delivered to a person", ("Mailing ID", "integer"), _EMAIL_RUN),
    _t(8, "Email Bounced", "Marketo Email is bounced for a person", ("Mailing ID", "integer"),
       _EMAIL_RUN + [("Category", "string"), ("Details", "string"), ("Email", "email"), ("Subcategory", "string")]),
    _t(9, "Unsubscribe Email", "Person unsubscribes from Marketo Emails", ("Mailing ID", "integer"),
       [("Campaign Run ID", "integer"), ("Client IP Address", "string"), ("Form Fields", "text"),
        ("Query Parameters", "string"), ("Referrer URL", "string"), ("User Agent", "string"),
        ("Webform ID", "integer"), ("Webpage ID", "integer")]),
    _t(10, "Open Email", "User opens Marketo Email", ("Mailing ID", "integer"), _EMAIL_RUN + _DEVICE),
    _t(11, "Click Email", "User clicks on a link in a Marketo Email", ("Mailing ID", "integer"),
       _EMAIL_RUN + [("Link", "string"), ("Link ID", "string")] + _DEVICE),
    _t(12, "New Lead", "New person", None,
       [("Created Date", "date"), ("Form Name", "string"), ("Lead Source", "string"), ("List Name", "string"),
        ("Source Type", "string"), ("API Method Name", "string")]),
    _t(13, "Change Data Value", "Changed attribute value for a person", ("Attribute Name", "integer"),
       [("New Value", "string"), ("Old Value", "string"), ("Reason", "string"), ("Source", "string")]),
    _t(22, "Change Score", "Change a score value of a person", ("Attribute Name", "integer"),
       [("Change Value", "string"), ("New Value", "integer"), ("Old Value", "integer"), ("Reason", "string")]),
    _t(24, "Add to List", "Add person to a list", ("List ID", "integer"), [("Source", "string")]),
    _t(25, "Remove from List", "Remove person from a list", ("List ID", "integer"), [("Source", "string")]),
    _t(27, "Email Bounced Soft", "Marketo Email soft bounces", ("Mailing ID", "integer"),
       _EMAIL_RUN + [("Category", "string"), ("Details", "string"), ("Email", "email"), ("Subcategory", "string")]),
    _t(32, "Merge Leads", "Merge two or more people", None,
       [("Merge IDs", "string"), ("Master Updated", "boolean"), ("Merge Source", "string")]),
    _t(37, "Delete Lead", "Delete a person", None, [("Remove from CRM", "boolean")]),
    _t(46, "Interesting Moment", "Interesting Moment", ("Description", "string"),
       [("Type", "string"), ("Source", "string")]),
    _t(47, "Request Campaign", "Request a campaign for a person", ("Campaign ID", "integer"),
       [("Source", "string")]),
    _t(104, "Change Status in Progression", "Change a program status for a person", ("Program ID", "integer"),
       [("Old Status", "string"), ("New Status", "string"), ("Success", "boolean"), ("Program Member ID", "integer"),
        ("Acquired By", "boolean"), ("Reason", "string"), ("Reached Success Date", "datetime")]),
    _t(145, "Push Lead to Marketo", "Push a person to Marketo", None,
       [("Source", "string"), ("Reason", "string"), ("API Method Name", "string")]),
]
