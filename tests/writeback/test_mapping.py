"""Unit tests of write-back's pure parts: window parsing, the event table, activity parsing, event mapping."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from segmarketo_cli.errors import ConfigError
from segmarketo_cli.jobs.writeback.activity import BadActivity, activity_from_bulk_row, activity_from_rest
from segmarketo_cli.jobs.writeback.events import EventBuilder, LeadIdentity, Skip
from segmarketo_cli.jobs.writeback.plan import (
    DEFAULT_EVENTS,
    KNOWN_EVENTS,
    bulk_windows,
    parse_when,
    parse_window,
    resolve_events,
    resolve_integrations,
    retention_warning,
)

NOW = datetime(2026, 5, 20, 12, 0, 0, tzinfo=timezone.utc)
TYPES = {6: "Send Email", 7: "Email Delivered", 8: "Email Bounced", 27: "Email Bounced Soft", 9: "Unsubscribe Email",
         10: "Open Email", 11: "Click Email", 104: "Change Status in Progression", 2: "Fill Out Form",
         1: "Visit Webpage"}


# ---- window ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", NOW - timedelta(minutes=90)),
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("2w", NOW - timedelta(weeks=2)),
        (" 7D ", NOW - timedelta(days=7)),
        ("2026-05-01", datetime(2026, 5, 1, tzinfo=timezone.utc)),
        ("2026-05-01T08:30:00", datetime(2026, 5, 1, 8, 30, tzinfo=timezone.utc)),  # naive = UTC
        ("2026-05-01T08:30:00Z", datetime(2026, 5, 1, 8, 30, tzinfo=timezone.utc)),
        ("2026-05-01T08:30:00-05:00", datetime(2026, 5, 1, 13, 30, tzinfo=timezone.utc)),
        ("2026-05-01 08:30", datetime(2026, 5, 1, 8, 30, tzinfo=timezone.utc)),
    ],
)
def test_parse_when_accepts_iso_and_durations(text, expected):
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "7 days", "7x", "2026-13-01", "", "-7d"])
def test_parse_when_refuses_garbage_with_one_clear_line(text):
    with pytest.raises(ConfigError) as err:
        parse_when(text, NOW, option="--since")
    assert "--since" in str(err.value)
    assert "90m, 24h, 7d" in str(err.value)


def test_window_defaults_until_to_now_and_caps_the_future():
    assert parse_window("1d", None, NOW).until == NOW
    assert parse_window("1d", "2030-01-01", NOW).until == NOW
    window = parse_window("2026-05-01", "2026-05-10", NOW)
    assert window.since == datetime(2026, 5, 1, tzinfo=timezone.utc)
    assert window.until == datetime(2026, 5, 10, tzinfo=timezone.utc)


def test_window_refuses_since_after_until():
    with pytest.raises(ConfigError, match="must be before --until"):
        parse_window("2026-05-10", "2026-05-01", NOW)


def test_no_since_means_cursor():
    assert parse_window(None, None, NOW).since is None


def test_bulk_windows_are_at_most_31_days_and_contiguous():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    windows = bulk_windows(start, start + timedelta(days=70))
    assert [(b - a).days for a, b in windows] == [31, 31, 8]
    assert all(windows[i][1] == windows[i + 1][0] for i in range(len(windows) - 1))
    assert bulk_windows(start, start) == []


def test_retention_warning_only_for_short_lived_types_past_90_days():
    old = NOW - timedelta(days=120)
    warning = retention_warning(old, NOW, KNOWN_EVENTS)
    assert warning
    assert "Email Delivered" in warning
    assert "Send Email" in warning
    assert "90 days" in warning
    assert retention_warning(NOW - timedelta(days=30), NOW, DEFAULT_EVENTS) is None
    assert retention_warning(old, NOW, {"Open Email": "Email Opened"}) is None
    assert retention_warning(None, NOW, DEFAULT_EVENTS) is None


# ---- event table -----------------------------------------------------------------------------------------

def test_default_table_holds_only_segment_email_spec_events():
    events = resolve_events(None, None)
    assert events == DEFAULT_EVENTS
    # https://segment.com/docs/connections/spec/email/ (Email Marked as Spam has no Marketo activity type)
    assert set(events.values()) == {"Email Delivered", "Email Opened", "Email Link Clicked", "Email Bounced",
                                    "Unsubscribed"}
    assert events["Email Bounced Soft"] == "Email Bounced"
    assert events["Click Email"] == "Email Link Clicked"
    assert "Send Email" not in events


def test_marketo_extras_are_opt_in():
    extras = {"Send Email": "Email Sent", "Change Status in Progression": "Program Status Changed",
              "Fill Out Form": "Form Submitted"}
    assert resolve_events(None, None, extras=True) == {**DEFAULT_EVENTS, **extras}
    assert resolve_events({"send email": True}, None) == {**DEFAULT_EVENTS, "Send Email": "Email Sent"}
    assert resolve_events(None, "+Fill Out Form")["Fill Out Form"] == "Form Submitted"
    assert resolve_events(None, "Send Email,Open Email") == {"Send Email": "Email Sent", "Open Email": "Email Opened"}


def test_profile_table_renames_adds_and_drops():
    events = resolve_events(
        {"send email": "Marketo Email Sent", "Visit Webpage": "Page Visited", "Fill Out Form": False,
         "Open Email": True, "Click Email": False},
        None, extras=True,
    )
    assert events["send email"] == "Marketo Email Sent"
    assert "Send Email" not in events
    assert events["Visit Webpage"] == "Page Visited"
    assert "Fill Out Form" not in events
    assert "Click Email" not in events
    assert events["Open Email"] == "Email Opened"


def test_profile_table_true_needs_a_default_name():
    with pytest.raises(ConfigError, match="no default event name"):
        resolve_events({"Visit Webpage": True}, None)


def test_flag_selects_only_listed_types():
    assert resolve_events(None, "Open Email, click email") == {"Open Email": "Email Opened",
                                                                "Click Email": "Email Link Clicked"}


def test_flag_adds_drops_and_renames():
    events = resolve_events({"Send Email": False}, "+Visit Webpage=Page Visited,-Fill Out Form,+Open Email=Opened",
                            extras=True)
    assert events["Visit Webpage"] == "Page Visited"
    assert events["Open Email"] == "Opened"
    assert "Fill Out Form" not in events
    assert "Send Email" not in events
    assert resolve_events(None, "Open Email=Opened")["Open Email"] == "Opened"


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("Visit Webpage", "has no default event name"),
        ("-Visit Webpage", "cannot drop"),
        (" , ", "is empty"),
        ("Open Email,-Open Email", "no activity types are left"),
    ],
)
def test_flag_errors_are_clear(flag, message):
    with pytest.raises(ConfigError, match=message):
        resolve_events(None, flag)


def test_integrations_default_turns_marketo_destinations_off_and_is_configurable():
    assert resolve_integrations(None) == {"Marketo V2": False, "Marketo Static Lists (Actions)": False}
    assert resolve_integrations({"All": False, "Amplitude": True}) == {"All": False, "Amplitude": True}


# ---- activities ------------------------------------------------------------------------------------------

def rest_activity(type_id=10, guid="102988", lead_id=1, attributes=None, **extra):
    raw = {"id": int(guid) if guid.isdigit() else 1, "marketoGUID": guid, "leadId": lead_id,
           "activityDate": "2026-05-16T23:32:19Z", "activityTypeId": type_id, "campaignId": 2211,
           "primaryAttributeValueId": 1042, "primaryAttributeValue": "Welcome.Email 1",
           "attributes": [{"name": k, "value": v} for k, v in (attributes or {}).items()]}
    raw.update(extra)
    return activity_from_rest(raw)


def test_rest_and_bulk_shapes_parse_to_the_same_activity():
    rest = rest_activity(attributes={"Campaign Run ID": "5"})
    bulk = activity_from_bulk_row({
        "marketoGUID": "102988", "leadId": "1", "activityDate": "2026-05-16T23:32:19Z", "activityTypeId": "10",
        "campaignId": "2211", "primaryAttributeValueId": "1042", "primaryAttributeValue": "Welcome.Email 1",
        "attributes": json.dumps({"Campaign Run ID": "5"}),
    })
    assert rest == bulk


def test_bulk_nulls_are_none():
    activity = activity_from_bulk_row({"marketoGUID": "7", "leadId": "3", "activityDate": "2026-05-16T00:00:00Z",
                                       "activityTypeId": "104", "campaignId": "null", "primaryAttributeValueId": "",
                                       "primaryAttributeValue": "null", "attributes": "null"})
    assert activity.campaign_id is None
    assert activity.primary_id is None
    assert activity.primary_value is None
    assert activity.attributes == {}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"leadId": "x"}, "leadId"),
        ({"activityDate": "yesterday"}, "activityDate"),
        ({"attributes": "{not json"}, "attributes"),
        ({"marketoGUID": ""}, "marketoGUID"),
    ],
)
def test_bad_bulk_rows_name_the_field(row, field):
    base = {"marketoGUID": "1", "leadId": "1", "activityDate": "2026-05-16T00:00:00Z", "activityTypeId": "10"}
    with pytest.raises(BadActivity) as err:
        activity_from_bulk_row({**base, **row})
    assert err.value.field == field


# ---- mapping ---------------------------------------------------------------------------------------------

def builder(**kwargs):
    defaults = dict(events=KNOWN_EVENTS, type_names=TYPES, munchkin="123-ABC-456",
                    integrations={"Marketo V2": False, "Marketo Static Lists (Actions)": False},
                    user_id_field="segmentUserId", campaign_names={2211: "New Customer Discount"})
    defaults.update(kwargs)
    return EventBuilder(**defaults)


LEAD = LeadIdentity(1, "pgibbons@example.com", "019mr8mf4r")


def test_open_email_maps_to_email_spec():
    message = builder().build(rest_activity(attributes={"User Agent": "Mozilla/5.0", "Device": "iPhone",
                                                        "Campaign Run ID": "5"}), LEAD)
    assert message["type"] == "track"
    assert message["event"] == "Email Opened"
    assert message["userId"] == "019mr8mf4r"
    assert "anonymousId" not in message
    assert message["messageId"] == "mkto-123-ABC-456-102988"
    assert message["timestamp"] == "2026-05-16T23:32:19.000Z"
    assert message["integrations"] == {"Marketo V2": False, "Marketo Static Lists (Actions)": False}
    assert message["context"] == {"traits": {"email": "pgibbons@example.com"}, "userAgent": "Mozilla/5.0"}
    props = message["properties"]
    assert props["email_id"] == "1042"
    assert props["campaign_id"] == "2211"
    assert props["campaign_name"] == "New Customer Discount"
    assert props["marketo_activity_id"] == "102988"
    assert props["marketo_lead_id"] == 1
    assert props["marketo_activity_type"] == "Open Email"
    assert props["marketo_attributes"] == {"User Agent": "Mozilla/5.0", "Device": "iPhone", "Campaign Run ID": "5"}
    assert "email_subject" not in props  # not known for this activity


def test_click_email_carries_link_and_subject_when_known():
    props = builder().build(rest_activity(11, attributes={"Link": "https://x.example/p?a=1", "Link ID": 77,
                                                           "Subject": "First shirt on us!"}), LEAD)["properties"]
    assert props["link_url"] == "https://x.example/p?a=1"
    assert props["link_id"] == "77"
    assert props["email_subject"] == "First shirt on us!"


@pytest.mark.parametrize(("type_id", "bounce"), [(8, "hard"), (27, "soft")])
def test_bounces_become_email_bounced_with_bounce_type(type_id, bounce):
    message = builder().build(rest_activity(type_id, attributes={"Category": "1", "Details": "550 no such user"}),
                              LEAD)
    assert message["event"] == "Email Bounced"
    assert message["properties"]["bounce_type"] == bounce
    assert message["properties"]["marketo_attributes"]["Details"] == "550 no such user"


def test_unsubscribe_lists_when_marketo_gives_them():
    props = builder().build(rest_activity(9, attributes={"List ID": 12, "List Name": "Newsletter",
                                                          "Client IP Address": "10.0.0.1"}), LEAD)
    assert props["event"] == "Unsubscribed"
    assert props["properties"]["list_id"] == "12"
    assert props["properties"]["list_name"] == "Newsletter"
    assert props["context"]["ip"] == "10.0.0.1"


def test_program_status_and_form_properties():
    status = builder().build(rest_activity(104, primaryAttributeValue="Webinar 2026",
                                           attributes={"Old Status": "Registered", "New Status": "Attended"}), LEAD)
    assert status["event"] == "Program Status Changed"
    assert status["properties"]["program_name"] == "Webinar 2026"
    assert status["properties"]["old_status"] == "Registered"
    assert status["properties"]["new_status"] == "Attended"
    form = builder().build(rest_activity(2, primaryAttributeValue="Contact Us"), LEAD)
    assert form["event"] == "Form Submitted"
    assert form["properties"]["form_name"] == "Contact Us"


def test_added_type_gets_generic_properties():
    events = resolve_events(None, "+Visit Webpage=Page Visited")
    message = builder(events=events).build(rest_activity(1, attributes={"Webpage URL": "/pricing"}), LEAD)
    assert message["event"] == "Page Visited"
    assert message["properties"]["primary_attribute_value_id"] == "1042"


def test_anonymous_identity_when_no_user_id():
    message = builder().build(rest_activity(), LeadIdentity(1, "a@example.com", None))
    assert message["anonymousId"] == "marketo:1"
    assert "userId" not in message
    assert message["context"]["traits"] == {"email": "a@example.com"}
    unknown = builder().build(rest_activity(), None)
    assert unknown["anonymousId"] == "marketo:1"
    assert "traits" not in unknown.get("context", {})


def test_user_id_only_skips_leads_without_user_id_with_reason():
    strict = builder(identity_mode="user-id-only")
    skip = strict.build(rest_activity(), LeadIdentity(1, "a@example.com", None))
    assert skip == Skip("skipped_no_identity", "lead has no segmentUserId (user-id-only)")
    assert strict.build(rest_activity(), None).bucket == "skipped_no_identity"
    assert strict.build(rest_activity(), LEAD)["userId"] == "019mr8mf4r"


def test_unmapped_type_is_skipped():
    result = builder().build(rest_activity(1), LEAD)
    assert isinstance(result, Skip)
    assert result.bucket == "skipped_unmapped"


def test_message_id_is_deterministic_and_short():
    first = builder().build(rest_activity(guid="abc-123"), LEAD)["messageId"]
    again = builder(campaign_names={}).build(rest_activity(guid="abc-123"), LEAD)["messageId"]
    assert first == again == "mkto-123-ABC-456-abc-123"
    assert len(first) < 100
    with pytest.raises(ValueError, match="under 100"):
        builder().build(rest_activity(guid="g" * 100), LEAD)


def test_email_subject_from_the_asset_lookup_unless_the_activity_has_one():
    with_lookup = builder(email_subjects={1042: "Welcome to Acme!"})
    assert with_lookup.build(rest_activity(), LEAD)["properties"]["email_subject"] == "Welcome to Acme!"
    own = with_lookup.build(rest_activity(attributes={"Subject": "A/B variant"}), LEAD)
    assert own["properties"]["email_subject"] == "A/B variant"
    form = with_lookup.build(rest_activity(2), LEAD)["properties"]
    assert "email_subject" not in form
    assert "email_id" not in form
