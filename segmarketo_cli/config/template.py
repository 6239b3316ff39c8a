"""The commented config.toml profile that `segmarketo init` writes (never any secret)."""

from __future__ import annotations

import json

from segmarketo_cli.config.defaults import SCALAR_BY_NAME, TEMPLATE_ORDER, ScalarValue
from segmarketo_cli.config.sections import FIELD_KINDS

_HEADER = """\
# >>> profile {profile}
# segmarketo profile '{profile}'. Secrets are NOT kept here: run 'segmarketo auth set --profile {profile}'
# or set SEGMARKETO_MARKETO_CLIENT_SECRET and SEGMARKETO_SEGMENT_WRITE_KEY.
# Precedence: command-line flag > SEGMARKETO_* environment variable > this file > built-in default.
[profiles.{profile}]
"""
_FIELD_NOTES = {
    "marketo_owned": "# Never written by segmarketo:",
    "fill_only": "# Written only where Marketo's value is empty:",
    "newer_only": "# Written only when the Segment value is newer than the lead's updatedAt:",
}
_SUB_TABLES = """
# Custom trait -> Marketo field API name (case-sensitive). Reserved traits are mapped already.
[profiles.{profile}.mapping]
# plan = "productPlan"
# "company.plan" = "companyPlan"

# Field ownership for backfill-leads.
[profiles.{profile}.fields]
{fields}
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
    """The profile block `init` appends: every scalar setting with its note and default (or a commented example),
    then the sub-tables with their keys."""
    given = {"marketo_endpoint": endpoint, "marketo_client_id": client_id, "segment_endpoint": segment_endpoint}
    lines = [_HEADER.format(profile=profile).rstrip("\n")]
    for name in TEMPLATE_ORDER:
        setting = SCALAR_BY_NAME[name]
        lines.extend(setting.note)
        value = given.get(name, setting.default)
        if value is not None:
            lines.append(f"{name} = {toml_value(value)}")
        else:
            lines.append(f"# {name} = {setting.example}")
    fields = "".join(f"{_FIELD_NOTES[kind]}\n{kind} = []\n" for kind in FIELD_KINDS)
    return "\n".join(lines) + "\n" + _SUB_TABLES.format(profile=profile, fields=fields)


def toml_value(value: ScalarValue) -> str:
    """A default as TOML: strings quoted, whole floats without '.0' (20, not 20.0)."""
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def toml_string(value: str) -> str:
    """`value` as a TOML basic string: quotes and backslashes escaped (JSON's escapes are TOML's too)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
