"""Shared sandbox data for the writeback tests: leads and mapped activities spread over a window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

NOW = datetime.now(timezone.utc)
# Written back by default (Segment Email spec events), and the Marketo extras written back only on request.
SPEC_TYPES = ["Email Delivered", "Open Email", "Click Email", "Email Bounced", "Email Bounced Soft",
              "Unsubscribe Email"]
EXTRA_TYPES = ["Send Email", "Change Status in Progression", "Fill Out Form"]
EXPECTED_EVENT = {"Send Email": "Email Sent", "Email Delivered": "Email Delivered", "Open Email": "Email Opened",
                  "Click Email": "Email Link Clicked", "Email Bounced": "Email Bounced",
                  "Email Bounced Soft": "Email Bounced", "Unsubscribe Email": "Unsubscribed",
                  "Change Status in Progression": "Program Status Changed", "Fill Out Form": "Form Submitted"}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def populate(box, count: int = 36, *, days: float = 2.0, with_noise: bool = True,
             extras: bool = False) -> list[tuple[str, str, int]]:
    """Leads (odd ones have a segmentUserId) and `count` activities of the default types (and of the Marketo extras
    with `extras`) spread over `days`; returns (guid, type name, lead id) per activity."""
    types = SPEC_TYPES + (EXTRA_TYPES if extras else [])
    campaign = box.marketo.add_campaign("Welcome Series", type="trigger")
    leads = [box.marketo.add_lead(email=f"person{i}@example.com", **({"segmentUserId": f"u-{i}"} if i % 2 else {}))
             for i in range(1, 9)]
    made = []
    for n in range(count):
        type_name = types[n % len(types)]
        lead = leads[n % len(leads)]
        when = NOW - timedelta(days=days) + timedelta(seconds=(days * 86400 - 120) * n / max(count, 1))
        attributes = {"Campaign Run ID": n}
        if type_name == "Click Email":
            attributes.update({"Link": f"https://shop.example.com/p/{n}", "Link ID": f"L{n}"})
        if type_name == "Open Email":
            attributes.update({"User Agent": "Mozilla/5.0", "Device": "iPhone"})
        if type_name == "Change Status in Progression":
            attributes.update({"Old Status": "Invited", "New Status": "Registered"})
        guid = box.marketo.add_activity(lead, type_name, iso(when), primary_attribute_value_id=1000 + n % 3,
                                        primary_attribute_value=f"Newsletter {n % 3}", campaign_id=campaign,
                                        attributes=attributes)
        made.append((guid, type_name, lead))
        if with_noise:  # activity of types nobody writes back: scanned, never returned
            box.marketo.add_activity(lead, "Visit Webpage", iso(when + timedelta(seconds=1)),
                                     attributes={"Webpage URL": "/pricing"})
    return made
