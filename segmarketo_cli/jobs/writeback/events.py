"""Building Segment track events, pure: one Marketo activity and its lead -> one Email spec track message."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from segmarketo_cli.jobs.writeback.activity import Activity
from segmarketo_cli.segment import spec

EMAIL_TYPES = frozenset(
    name.lower()
    for name in ("Send Email", "Email Delivered", "Email Bounced", "Email Bounced Soft", "Unsubscribe Email",
                 "Open Email", "Click Email")
)
ANONYMOUS_PREFIX = "marketo:"

# Attribute names of e-mail activities are UNCONFIRMED (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/activities
# does not list them): accept the spellings seen in public code and the sandbox, first match wins.
SUBJECT_ATTRS = ("Subject", "Email Subject", "Subject Line")
LINK_URL_ATTRS = ("Link", "Link URL", "URL", "Link Url")
LINK_ID_ATTRS = ("Link ID", "Link Id", "Link ID Value")
LIST_ID_ATTRS = ("List ID", "List Id", "Subscription List ID")
LIST_NAME_ATTRS = ("List Name", "Subscription List", "Subscription List Name")
USER_AGENT_ATTRS = ("User Agent", "UserAgent")
IP_ATTRS = ("Client IP Address", "IP Address")


@dataclass(frozen=True)
class LeadIdentity:
    """What write-back needs of a lead: its e-mail and the value of the configured userId field."""

    lead_id: int
    email: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class Skip:
    """An activity that becomes no event: `bucket` for the report, `reason` (the same for every activity skipped
    for that cause) for the report's details."""

    bucket: str
    reason: str


@dataclass
class EventBuilder:
    """Turns activities into Segment track messages (Email spec properties, deterministic messageIds)."""

    events: Mapping[str, str]  # activity type name -> event name
    type_names: Mapping[int, str]  # activity type id -> name (from types.json)
    munchkin: str
    integrations: Mapping[str, bool]
    identity_mode: str = "auto"
    user_id_field: str | None = None
    campaign_names: Mapping[int, str] = field(default_factory=dict)
    email_subjects: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        by_lower = {name.lower(): event for name, event in self.events.items()}
        self._event_by_id = {
            type_id: by_lower[name.lower()] for type_id, name in self.type_names.items() if name.lower() in by_lower
        }

    def event_name(self, type_id: int) -> str | None:
        return self._event_by_id.get(type_id)

    def email_id(self, activity: Activity) -> int | None:
        """The e-mail asset id of an e-mail activity that is written back, else None."""
        if activity.type_id not in self._event_by_id:
            return None
        return activity.primary_id if self.type_names.get(activity.type_id, "").lower() in EMAIL_TYPES else None

    def build(self, activity: Activity, lead: LeadIdentity | None) -> dict[str, Any] | Skip:
        """The track message for `activity`, or why it is skipped. Raises ValueError for an unusable GUID."""
        event = self._event_by_id.get(activity.type_id)
        type_name = self.type_names.get(activity.type_id, str(activity.type_id))
        if event is None:
            return Skip("skipped_unmapped", f"activity type '{type_name}' is not written back")
        identity = self._identity(activity.lead_id, lead)
        if isinstance(identity, Skip):
            return identity
        user_id, anonymous_id, context = identity
        _add_client_context(context, activity.attributes)
        return spec.track(
            event,
            message_id=spec.activity_message_id(self.munchkin, activity.guid),
            user_id=user_id,
            anonymous_id=anonymous_id,
            properties=self.properties(activity, type_name),
            timestamp=activity.date,
            context=context or None,
            integrations=dict(self.integrations),
        )

    def _identity(
        self, lead_id: int, lead: LeadIdentity | None
    ) -> tuple[str | None, str | None, dict[str, Any]] | Skip:
        user_id = lead.user_id if lead else None
        if self.identity_mode == "user-id-only" and not user_id:
            if lead is None:
                return Skip("skipped_no_identity", "lead not found in Marketo (user-id-only)")
            return Skip("skipped_no_identity", f"lead has no {self.user_id_field} (user-id-only)")
        context: dict[str, Any] = {}
        if lead and lead.email:
            context["traits"] = {"email": lead.email}
        if user_id:
            return user_id, None, context
        return None, f"{ANONYMOUS_PREFIX}{lead_id}", context

    def properties(self, activity: Activity, type_name: str) -> dict[str, Any]:
        """Email spec properties where the type has them, then the marketo_* properties."""
        kind = type_name.lower()
        attrs = activity.attributes
        props: dict[str, Any] = {}
        if kind in EMAIL_TYPES:
            _put(props, "email_id", _text(activity.primary_id))
            _put(props, "email_name", activity.primary_value)
            subject = _first(attrs, SUBJECT_ATTRS)
            if subject is None and activity.primary_id is not None:
                subject = self.email_subjects.get(activity.primary_id)
            _put(props, "email_subject", subject)
        elif kind == "change status in progression":
            _put(props, "program_id", _text(activity.primary_id))
            _put(props, "program_name", activity.primary_value)
            _put(props, "old_status", _first(attrs, ("Old Status",)))
            _put(props, "new_status", _first(attrs, ("New Status",)))
        elif kind == "fill out form":
            _put(props, "form_id", _text(activity.primary_id))
            _put(props, "form_name", activity.primary_value)
        else:
            _put(props, "primary_attribute_value_id", _text(activity.primary_id))
            _put(props, "primary_attribute_value", activity.primary_value)
        if activity.campaign_id is not None:
            props["campaign_id"] = str(activity.campaign_id)
            _put(props, "campaign_name", self.campaign_names.get(activity.campaign_id))
        if kind == "click email":
            _put(props, "link_url", _first(attrs, LINK_URL_ATTRS))
            _put(props, "link_id", _text(_first(attrs, LINK_ID_ATTRS)))
        elif kind == "unsubscribe email":
            _put(props, "list_id", _text(_first(attrs, LIST_ID_ATTRS)))
            _put(props, "list_name", _first(attrs, LIST_NAME_ATTRS))
        elif kind == "email bounced":
            props["bounce_type"] = "hard"
        elif kind == "email bounced soft":
            props["bounce_type"] = "soft"
        props["marketo_activity_id"] = activity.guid
        props["marketo_lead_id"] = activity.lead_id
        props["marketo_activity_type"] = type_name
        props["marketo_attributes"] = dict(attrs)
        return props


def _add_client_context(context: dict[str, Any], attrs: Mapping[str, Any]) -> None:
    user_agent = _first(attrs, USER_AGENT_ATTRS)
    if user_agent:
        context["userAgent"] = str(user_agent)
    ip = _first(attrs, IP_ATTRS)
    if ip:
        context["ip"] = str(ip)


def _first(attrs: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = attrs.get(name)
        if value not in (None, ""):
            return value
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _put(props: dict[str, Any], key: str, value: Any) -> None:
    if value not in (None, ""):
        props[key] = value
