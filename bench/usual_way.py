"""The backfill a user would otherwise write: marketorestpython's create_update_leads, 300 leads per call.

Runs in a scratch venv that has marketorestpython (never a segmarketo dependency): bench/run.py creates it.
Usage: <venv>/bin/python bench/usual_way.py URL CLIENT_ID CLIENT_SECRET PEOPLE.jsonl   (prints JSON)
"""

from __future__ import annotations

import json
import sys
import time

from marketorestpython.client import MarketoClient


def main() -> None:
    url, client_id, client_secret, path = sys.argv[1:5]
    leads = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            message = json.loads(line)
            traits = message["traits"]
            lead = {"email": traits["email"], "firstName": traits.get("firstName")}
            company = traits.get("company") or {}
            if company.get("name"):
                lead["company"] = company["name"]
            leads.append(lead)
    client = MarketoClient("000-AAA-000", client_id, client_secret)
    client.host = url  # the library builds every URL as https://<munchkin>.mktorest.com + path
    started = time.perf_counter()
    results = []
    for start in range(0, len(leads), 300):  # its HttpLib throttles itself to 5 calls per second
        results.extend(client.create_update_leads(leads[start:start + 300], action="createOrUpdate",
                                                  lookupField="email"))
    seconds = time.perf_counter() - started
    statuses: dict[str, int] = {}
    for row in results:
        statuses[row.get("status", "?")] = statuses.get(row.get("status", "?"), 0) + 1
    print(json.dumps({"leads": len(leads), "seconds": round(seconds, 2), "calls_made": client.API_CALLS_MADE,
                      "statuses": statuses}))


if __name__ == "__main__":
    main()
