"""apply-events rules TOML shared by the tests: one [[rule]] table per rule, and the sets tests write to a file.

The Marketo objects the rules name ("Q4 Webinar" with the Webinar channel, the "Trial Welcome" trigger campaign,
the "Newsletter" static list) are the ones each test adds to its sandbox.
"""

from __future__ import annotations

from pathlib import Path

USAGE = """
[[rule]]
name = "usage"
event = "Report Created"
action = "score"
field = "productScore"
points = { property = "weight", default = 5 }
"""

# The same score rule for two events, only on the "pro" plan.
USAGE_PRO = """
[[rule]]
name = "usage"
event = ["Report Created", "Dashboard Shared"]
where = { plan = "pro" }
action = "score"
field = "productScore"
points = { property = "weight", default = 5 }
"""

USAGE_FLAT = """
[[rule]]
name = "usage"
event = "Report Created"
action = "score"
field = "productScore"
points = 5
"""

WEBINAR = """
[[rule]]
name = "webinar"
event = "Webinar Registered"
action = "program-status"
program = "Q4 Webinar"
status = "registered"
"""

WELCOME = """
[[rule]]
name = "welcome"
event = "Trial Started"
action = "trigger-campaign"
campaign = "Trial Welcome"
tokens = { "my.plan" = { property = "plan" } }
"""

WELCOME_NO_TOKENS = """
[[rule]]
name = "welcome"
event = "Trial Started"
action = "trigger-campaign"
campaign = "Trial Welcome"
"""

OPT_OUT = """
[[rule]]
name = "opt-out"
event = "Unsubscribed"
action = "suppress"
reason = { property = "why" }
remove_from_lists = ["Newsletter"]
"""

STAGE = """
[[rule]]
name = "stage"
event = "Subscription Started"
action = "set-fields"
fields = { lifecycleStage = "Customer", isCustomer = true, mrr = { property = "mrr" } }
"""


def rules_toml(*tables: str) -> str:
    """One rules file of the given [[rule]] tables, in order (rule 1 is the first)."""
    return "".join(tables)


EVERY_ACTION = rules_toml(USAGE_PRO, WEBINAR, WELCOME, OPT_OUT, STAGE)  # rules 1-5: score ... set-fields
ALL_BUT_SUPPRESS = rules_toml(USAGE, WEBINAR, WELCOME, STAGE)
SCORE_AND_CAMPAIGN = rules_toml(USAGE, WELCOME_NO_TOKENS)


def write_rules(folder: Path, text: str, name: str = "rules.toml") -> Path:
    """`text` written to `folder/name`; the path to pass as --rules."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
