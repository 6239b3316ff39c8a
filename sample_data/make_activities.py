"""Generate sample_data/sandbox/activities.jsonl: e-mail and program activity for the sandbox seed leads.

Deterministic (fixed seed, fixed dates 2026-10-01 .. 2026-11-20 UTC). Each line is one activity as the sandbox
seed loader reads it: {"leadId", "type", "activityDate", "campaignId"?, "primaryAttributeValueId"?,
"primaryAttributeValue"?, "attributes"?}; attribute names follow the sandbox's types.json.

Run: python sample_data/make_activities.py   (rewrites the file; commit the result)
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent / "sandbox"
START = datetime(2026, 10, 1, 8, 0, tzinfo=timezone.utc)
DAYS = 50
# (campaign id, e-mail asset id, e-mail name): seeded in campaigns.json / emails.json
SENDS = [(3001, 5001, "Welcome.Email 1"), (3002, 5002, "Trial Day 3"), (3003, 5003, "Webinar Reminder"),
         (3005, 5004, "Newsletter - March"), (3006, 5005, "Re-engagement")]
FORMS = [(1001, "Contact Us"), (1002, "Trial Signup"), (1003, "Webinar Registration")]
DEVICES = [("iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15", "iOS", True),
           ("Desktop", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0", "Windows", False),
           ("Desktop", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1", "Mac OS",
            False)]
WEBINAR = (2001, "2026 Spring Product Webinar", 3003)
NURTURE = (2002, "Trial Nurture", 3002)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def email_run(rng: random.Random) -> dict:
    return {"Campaign Run ID": rng.randint(100, 999), "Choice Number": 0, "Step ID": rng.randint(1, 5),
            "Test Variant": 0, "Has Predictive": False}


def device(rng: random.Random) -> dict:
    name, agent, platform, mobile = rng.choice(DEVICES)
    return {"Device": name, "User Agent": agent, "Platform": platform, "Is Mobile Device": mobile,
            "Is Bot Activity": False}


def send_story(rng: random.Random, lead: int, when: datetime, send: tuple[int, int, str], invalid: bool,
               unsubscribes: bool = False) -> list:
    """Send Email, then delivered or bounced, maybe opened, clicked, unsubscribed (always when `unsubscribes`)."""
    campaign, email_id, name = send
    base = {"leadId": lead, "campaignId": campaign, "primaryAttributeValueId": email_id,
            "primaryAttributeValue": name}
    run = email_run(rng)
    out = [{**base, "type": "Send Email", "activityDate": stamp(when), "attributes": dict(run)}]
    when += timedelta(seconds=rng.randint(5, 90))
    if invalid or rng.random() < 0.06:
        hard = invalid or rng.random() < 0.5
        out.append({**base, "type": "Email Bounced" if hard else "Email Bounced Soft", "activityDate": stamp(when),
                    "attributes": {**run, "Category": "1" if hard else "2", "Subcategory": "1001" if hard else "2002",
                                   "Details": "550 5.1.1 mailbox unavailable" if hard else "452 4.2.2 mailbox full",
                                   "Email": f"lead{lead}@example.com"}})
        return out
    out.append({**base, "type": "Email Delivered", "activityDate": stamp(when), "attributes": dict(run)})
    if unsubscribes or rng.random() < 0.55:
        when += timedelta(minutes=rng.randint(3, 600))
        out.append({**base, "type": "Open Email", "activityDate": stamp(when), "attributes": {**run, **device(rng)}})
        if rng.random() < 0.4:
            when += timedelta(seconds=rng.randint(5, 240))
            link = rng.randint(1, 4)
            out.append({**base, "type": "Click Email", "activityDate": stamp(when), "attributes": {
                **run, "Link": f"https://www.example.com/{name.lower().replace(' ', '-').replace('.', '')}/cta-{link}"
                f"?utm_source=marketo&utm_medium=email", "Link ID": f"{email_id}-{link}", **device(rng)}})
        if unsubscribes or rng.random() < 0.05:
            when += timedelta(minutes=rng.randint(1, 30))
            out.append({**base, "type": "Unsubscribe Email", "activityDate": stamp(when), "attributes": {
                "Campaign Run ID": run["Campaign Run ID"], "Client IP Address": f"203.0.113.{lead}",
                "Form Fields": "a:1:{s:11:\"Unsubscribed\";s:3:\"yes\";}", "Query Parameters": "mkt_unsubscribe=1",
                "Referrer URL": "", "User Agent": device(rng)["User Agent"], "Webform ID": 1, "Webpage ID": 7}})
    return out


def status_change(lead: int, when: datetime, program: tuple[int, str, int], old: str, new: str, success: bool,
                  member_id: int) -> dict:
    program_id, name, campaign = program
    return {"leadId": lead, "type": "Change Status in Progression", "activityDate": stamp(when),
            "campaignId": campaign, "primaryAttributeValueId": program_id, "primaryAttributeValue": name,
            "attributes": {"Old Status": old, "New Status": new, "Success": success, "Program Member ID": member_id,
                           "Acquired By": old == "Not in Program", "Reason": "Changed by Smart Campaign"}}


def form_fill(rng: random.Random, lead: int, when: datetime, form: tuple[int, str]) -> dict:
    form_id, name = form
    return {"leadId": lead, "type": "Fill Out Form", "activityDate": stamp(when), "primaryAttributeValueId": form_id,
            "primaryAttributeValue": name, "attributes": {
                "Client IP Address": f"198.51.100.{lead}", "Form Fields": json.dumps({"Email": f"lead{lead}"}),
                "Query Parameters": "utm_source=google&utm_medium=cpc", "Referrer URL": "https://www.google.com/",
                "User Agent": device(rng)["User Agent"], "Webpage ID": 10 + form_id % 10}}


def generate() -> list[dict]:
    rng = random.Random(2026)
    leads = json.loads((HERE / "leads.json").read_text(encoding="utf-8"))
    activities: list[dict] = []
    for index, lead in enumerate(leads):
        lead_id, invalid = int(lead["id"]), bool(lead.get("emailInvalid"))
        sends = rng.sample(SENDS, k=rng.randint(2, 4))
        for number, send in enumerate(sends):
            when = START + timedelta(days=rng.uniform(0, DAYS), hours=number)
            # Leads the seed marks unsubscribed did so from their last e-mail.
            last = number == len(sends) - 1 and bool(lead.get("unsubscribed"))
            activities.extend(send_story(rng, lead_id, when, send, invalid, unsubscribes=last))
        if index % 3 == 0:
            activities.append(form_fill(rng, lead_id, START + timedelta(days=rng.uniform(0, DAYS)), rng.choice(FORMS)))
        if index % 4 == 0:  # webinar funnel
            when = START + timedelta(days=rng.uniform(0, DAYS - 10))
            steps = [("Not in Program", "Invited", False), ("Invited", "Registered", False)]
            steps.append(("Registered", "Attended", True) if rng.random() < 0.6 else ("Registered", "No Show", False))
            for offset, (old, new, success) in enumerate(steps):
                activities.append(status_change(lead_id, when + timedelta(days=3 * offset), WEBINAR, old, new,
                                                success, 70000 + lead_id))
        if index % 5 == 1:  # trial nurture
            when = START + timedelta(days=rng.uniform(0, DAYS - 5))
            activities.append(status_change(lead_id, when, NURTURE, "Not in Program", "Member", False,
                                            80000 + lead_id))
            if rng.random() < 0.5:
                activities.append(status_change(lead_id, when + timedelta(days=4), NURTURE, "Member", "Engaged",
                                                True, 80000 + lead_id))
        if index % 2 == 0:  # page views: activity that is not written back by default
            activities.append({"leadId": lead_id, "type": "Visit Webpage",
                               "activityDate": stamp(START + timedelta(days=rng.uniform(0, DAYS))),
                               "primaryAttributeValueId": 11, "primaryAttributeValue": "www.example.com/pricing",
                               "attributes": {"Webpage URL": "/pricing", "Client IP Address": f"198.51.100.{lead_id}",
                                              "User Agent": device(rng)["User Agent"]}})
    activities.sort(key=lambda a: (a["activityDate"], a["leadId"], a["type"]))
    return activities


def main() -> None:
    activities = generate()
    with (HERE / "activities.jsonl").open("w", encoding="utf-8") as handle:
        for item in activities:
            handle.write(json.dumps(item, separators=(",", ":")) + "\n")
    counts: dict[str, int] = {}
    for item in activities:
        counts[item["type"]] = counts.get(item["type"], 0) + 1
    print(f"wrote {len(activities)} activities: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
