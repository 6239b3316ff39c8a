"""The commented config.toml profile that `segmarketo init` writes (never any secret)."""

from __future__ import annotations

PROFILE_TEMPLATE = """\
# >>> profile {profile}
# segmarketo profile '{profile}'. Secrets are NOT kept here: run 'segmarketo auth set --profile {profile}'
# or set SEGMARKETO_MARKETO_CLIENT_SECRET and SEGMARKETO_SEGMENT_WRITE_KEY.
# Precedence: command-line flag > SEGMARKETO_* environment variable > this file > built-in default.
[profiles.{profile}]
# Marketo REST endpoint (Admin > Integration > Web Services), without /rest or /identity.
marketo_endpoint = "{endpoint}"
# Client id of the LaunchPoint custom service (its secret goes to the keyring).
marketo_client_id = "{client_id}"
# Segment HTTP API host: "us" (https://api.segment.io), "eu" (https://events.eu1.segmentapis.com) or a URL.
segment_endpoint = "{segment_endpoint}"
# Marketo field used to find leads (any searchable field, e.g. a custom segmentUserId).
lookup_field = "email"
# Marketo field that holds the Segment userId (write-back reads it; backfill writes it). Empty = none.
# user_id_field = "segmentUserId"
# Lead partition new leads are created in (segmarketo doctor lists the instance's). Empty = Marketo's default.
# partition = "EMEA"
# Scratch lead field (custom String, written by nothing else) that Bulk Import files carry a row number in, so
# failed rows are matched back exactly. Empty = none: unmatched jobs are resent through Sync Leads instead.
# bulk_row_field = "segmarketoImportRow"

# API limits. Marketo allows 100 calls / 20 s and 10 concurrent calls per instance, shared by every
# integration, and about 50,000 calls a day.
rate_limit_calls = 90
rate_limit_window_s = 20
max_concurrency = 5
# daily_budget = 20000

# Custom trait -> Marketo field API name (case-sensitive). Reserved traits are mapped already.
[profiles.{profile}.mapping]
# plan = "productPlan"
# "company.plan" = "companyPlan"

# Field ownership for backfill-leads.
[profiles.{profile}.fields]
# Never written by segmarketo:
marketo_owned = []
# Written only where Marketo's value is empty:
fill_only = []
# Written only when the Segment value is newer than the lead's updatedAt:
newer_only = []

# Write-back sends Segment Email spec events by default. Marketo extras outside the spec (Email Sent,
# Program Status Changed, Form Submitted) are sent only with marketo_extras = true.
[profiles.{profile}.writeback]
# marketo_extras = true

# Marketo activity type name -> Segment event name; false drops a type, true adds a Marketo extra.
[profiles.{profile}.writeback.events]
# "Send Email" = true
# "Email Bounced Soft" = false

# apply-events rules may live here too (or in a rules.toml passed with --rules):
# [[profiles.{profile}.rules]]
# name = "pro signups score"
# event = "Signed Up"
# where = {{ plan = "pro" }}
# action = "score"
# field = "productScore"
# points = 10
# <<< profile {profile}
"""


def render_profile(
    profile: str,
    *,
    endpoint: str = "https://123-ABC-456.mktorest.com",
    client_id: str = "",
    segment_endpoint: str = "us",
) -> str:
    return PROFILE_TEMPLATE.format(
        profile=profile, endpoint=endpoint, client_id=client_id, segment_endpoint=segment_endpoint
    )
