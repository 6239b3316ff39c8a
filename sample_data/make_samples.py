"""Generate the backfill sample inputs deterministically: identifies.jsonl.gz and warehouse_identifies.csv.

Run `python sample_data/make_samples.py` from the repository root; the output is byte-identical each time.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
FIRST = ["Ann", "Bo", "Chen", "Dana", "Emeka", "Farah", "Gus", "Hana", "Ivan", "Jo", "Kemal", "Lea", "Mo", "Nia",
         "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Vic", "Wen", "Xavi", "Yara", "Zoe"]
LAST = ["Adams", "Brown", "Costa", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jones", "Khan", "Lopez",
        "Müller", "Nakamura", "O'Brien", "Patel"]
COMPANIES = [("Initech", "Technology", 329), ("Globex, Inc.", "Manufacturing", 1200), ("Umbrella", "Pharma", 5400),
             ("Hooli", "Technology", 88), ("Vandelay \"Imports\"", "Retail", 12)]
CITIES = [("6th St", "San Francisco", "CA", "94103", "USA"), ("Rue de Rivoli 1", "Paris", None, "75001", "France"),
          ("Unter den Linden 5", "Berlin", None, "10117", "Germany"), ("1 King St", "Toronto", "ON", "M5H 1A1", "CA")]
PLANS = ["free", "trial", "pro", "enterprise"]
BAD_LINES = [b'{"type": "identify", "userId": "broken-1", "traits": {"email": "x@example.com"', b"not json at all",
             b'["an", "array"]']


def _ts(minutes: int) -> str:
    return (START + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _person(rng: random.Random, n: int) -> dict:
    first, last = FIRST[n % len(FIRST)], LAST[(n * 7) % len(LAST)]
    company, industry, size = COMPANIES[n % len(COMPANIES)]
    street, city, state, postal, country = CITIES[n % len(CITIES)]
    address = {"street": street, "city": city, "postalCode": postal, "country": country}
    if state:
        address["state"] = state
    email = f"{first.lower()}.{last.lower().replace(chr(39), '')}{n}@example.com".replace("ü", "u")
    return {
        "userId": f"user-{n:04d}", "anonymousId": f"anon-{rng.getrandbits(48):012x}", "email": email,
        "traits": {"firstName": first, "lastName": last, "title": rng.choice(["CTO", "Engineer", "VP Sales", None]),
                   "company": {"name": company, "industry": industry, "employee_count": size}, "address": address,
                   "plan": rng.choice(PLANS), "product_score": rng.randint(0, 100)},
    }


def messages(people: int = 90, seed: int = 7) -> list[dict]:
    """A few hundred messages: anonymous page views, identifies (some snake_case), tracks, aliases, dupes."""
    rng = random.Random(seed)
    out: list[dict] = []
    minute = 0
    for n in range(people):
        p = _person(rng, n)
        cookie = f"id:123-ABC-456&token:_mch-example.com-{1700000000000 + n}-{n:05d}" if n % 4 == 0 else None
        ctx = {"ip": f"10.0.{n // 250}.{n % 250}", "library": {"name": "analytics.js", "version": "4.1.0"}}
        if cookie:
            ctx["Marketo"] = {"marketoCookie": cookie}
        minute += rng.randint(1, 30)
        out.append({"type": "page", "anonymousId": p["anonymousId"], "name": "Pricing", "context": ctx,
                    "properties": {"url": "https://example.com/pricing"}, "messageId": f"page-{n}",
                    "timestamp": _ts(minute)})
        traits = {k: v for k, v in p["traits"].items() if v is not None}
        if n % 5 == 0:  # first an anonymous identify (newsletter form), then the real one
            out.append({"type": "identify", "anonymousId": p["anonymousId"], "messageId": f"anon-id-{n}",
                        "traits": {"email": p["email"].upper(), "plan": "free"}, "context": ctx,
                        "timestamp": _ts(minute + 1)})
        if n % 7 == 3:  # snake_case reserved traits as some server libraries send them
            traits = {"first_name": traits.pop("firstName"), "last_name": traits.pop("lastName"), **traits}
        if n % 11 == 0:
            out.append({"type": "alias", "previousId": p["anonymousId"], "userId": p["userId"],
                        "messageId": f"alias-{n}", "timestamp": _ts(minute + 2)})
            identify = {"type": "identify", "userId": p["userId"], "traits": {"email": p["email"], **traits}}
        else:
            identify = {"type": "identify", "userId": p["userId"], "anonymousId": p["anonymousId"],
                        "traits": {"email": p["email"], **traits}}
        if n == 13:
            identify["traits"]["company"] = "Freelance"  # company as a plain string
        if n == 17:
            identify["traits"]["email"] = None  # a person with no usable e-mail: rejected "no email"
        if n % 10 == 2:
            identify["traits"]["referral_code"] = f"REF{n:03d}"  # maps to no Marketo field: listed once
        if n == 19:
            identify["traits"]["product_score"] = "high"  # cannot be an integer: rejected with the field
        identify.update({"messageId": f"identify-{n}", "context": ctx, "timestamp": _ts(minute + 3)})
        out.append(identify)
        if n % 6 == 0:  # S3 exports repeat messages now and then
            out.append(dict(identify))
        out.append({"type": "track", "userId": p["userId"], "event": "Signed Up", "context": ctx,
                    "properties": {"plan": traits.get("plan")}, "messageId": f"track-{n}",
                    "timestamp": _ts(minute + 4)})
        if n % 9 == 0:  # a later identify changes the plan and the title
            minute += 600
            out.append({"type": "identify", "userId": p["userId"], "messageId": f"upgrade-{n}",
                        "traits": {"plan": "enterprise", "title": "Head of Data"}, "timestamp": _ts(minute)})
    return out


def write_jsonl_gz(path: Path, rows: list[dict], bad_every: int = 97) -> None:
    lines: list[bytes] = []
    bad = iter(BAD_LINES)
    for i, row in enumerate(rows, 1):
        lines.append(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        if i % bad_every == 0:
            line = next(bad, None)
            if line is not None:
                lines.append(line)
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as handle:
        handle.write(b"\n".join(lines) + b"\n")


def write_warehouse_csv(path: Path, people: int = 25, seed: int = 11) -> None:
    """A warehouse `identifies` extract: snake_case columns, context_* columns, flattened address/company."""
    rng = random.Random(seed)
    columns = ["id", "received_at", "timestamp", "user_id", "anonymous_id", "context_ip", "context_library_name",
               "email", "first_name", "last_name", "title", "address_street", "address_city", "address_postal_code",
               "address_country", "company_name", "company_industry", "company_employee_count", "plan",
               "product_score", "is_customer", "uuid_ts"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for n in range(people):
            p = _person(rng, 500 + n)
            t = p["traits"]
            a, c = t["address"], t["company"]
            stamp = _ts(2000 + n * 13)
            writer.writerow([f"wh-{n}", stamp, stamp, p["userId"], p["anonymousId"], "10.1.0.1", "analytics-python",
                             p["email"], t["firstName"], t["lastName"], t["title"] or "", a["street"], a["city"],
                             a["postalCode"], a["country"], c["name"], c["industry"], c["employee_count"], t["plan"],
                             t["product_score"], "true" if n % 3 == 0 else "false", stamp])


def main() -> None:
    write_jsonl_gz(HERE / "identifies.jsonl.gz", messages())
    write_warehouse_csv(HERE / "warehouse_identifies.csv")


if __name__ == "__main__":
    main()
