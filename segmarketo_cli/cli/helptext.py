"""The Examples and Environment parts of each command's --help and man page, written once for both."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from segmarketo_cli.config import environment_settings

HELP_OPTION_NAMES = ["-h", "--help"]  # every command's, set on the program's context


@dataclass(frozen=True)
class Example:
    what: str
    line: str


# Paths under sample_data/ are the samples in the source tree (the ones `segmarketo demo` runs); every line runs
# against the sandbox (`segmarketo sandbox serve > sandbox.env; . sandbox.env`) as it does against Marketo.
EXAMPLES: dict[str, tuple[Example, ...]] = {
    "": (
        Example("Try every job against a local sandbox: no credentials, no network", "segmarketo demo"),
        Example("Write a profile", "segmarketo init --endpoint https://123-ABC-456.mktorest.com --client-id ID"),
        Example("Store its secrets in the keyring, then check it", "segmarketo auth set && segmarketo doctor"),
        Example("Global options may also follow the command",
                "segmarketo backfill-leads sample_data/identifies.jsonl.gz --profile prod --dry-run"),
        Example("From cron: one JSON log line per batch and a summary line",
                "segmarketo --log-file /var/log/segmarketo.log --log-format json writeback"),
    ),
    "backfill-leads": (
        Example("Show what the sample identify export would write, leave unchanged and reject; write nothing",
                "segmarketo backfill-leads sample_data/identifies.jsonl.gz --dry-run"),
        Example("Split created from updated exactly, with Marketo's own before-values (one Get Leads call per 300 "
                "leads written)",
                "segmarketo backfill-leads sample_data/identifies.jsonl.gz --dry-run --before-values marketo"),
        Example("Review every field change (before -> after) in a spreadsheet before the real run",
                "segmarketo backfill-leads sample_data/identifies.jsonl.gz --dry-run --plan-out plan.xlsx"),
        Example("Upsert a warehouse extract with extra trait mappings",
                "segmarketo backfill-leads sample_data/warehouse_identifies.csv --mapping sample_data/mapping.toml"),
        Example("Force Bulk Import from 1,000 leads, report as JSON",
                "segmarketo backfill-leads 'exports/*.jsonl.gz' --bulk-threshold 1000 --json"),
    ),
    "sync-audience": (
        Example("Preview the list changes for an Engage audience download (the sample needs 6 removals, more "
                "than the default guard of 10% allows)",
                "segmarketo sync-audience sample_data/engage_audience_formatted.csv --list 'High Value Users' "
                "--max-removals 6 --dry-run"),
        Example("Review the plan in a spreadsheet: one row per create, add and remove, and per person left out "
                "(unresolved, reject), without writing to Marketo",
                "segmarketo sync-audience sample_data/engage_audience_formatted.csv --list 'High Value Users' "
                "--max-removals 6 --dry-run --plan-out plan.xlsx"),
        Example("Apply Audience Entered/Exited events (delta mode)",
                "segmarketo sync-audience sample_data/audience_events.jsonl --list 'High Value Users'"),
    ),
    "writeback": (
        Example("Print the last day's events as JSON lines; send nothing",
                "segmarketo writeback --since 24h --dry-run"),
        Example("Send from the stored cursor (what cron runs)", "segmarketo writeback"),
        Example("Review a week's events as a plan file (messageId, lead, event, userId/anonymousId, activity); "
                "send nothing",
                "segmarketo writeback --since 7d --dry-run --plan-out events.csv"),
        Example("Write the Segment batch payloads to a file instead of sending",
                "segmarketo writeback --since 7d --payloads-out batches.jsonl"),
    ),
    "apply-events": (
        Example("Show what the sample rules would do to the sample track events",
                "segmarketo apply-events sample_data/track_events.jsonl --rules sample_data/rules.toml --dry-run"),
        Example("Write every change they would make (field, before -> after) and every reject to a spreadsheet",
                "segmarketo apply-events sample_data/track_events.jsonl --rules sample_data/rules.toml --dry-run "
                "--plan-out plan.xlsx"),
        Example("Apply them", "segmarketo apply-events sample_data/track_events.jsonl --rules sample_data/rules.toml"),
    ),
    "auth": (
        Example("Store both secrets of the profile (hidden prompts)", "segmarketo auth set"),
        Example("Say where each secret comes from", "segmarketo auth status"),
    ),
    "auth set": (
        Example("Store both secrets of the profile 'prod' (hidden prompts)", "segmarketo auth set --profile prod"),
        Example("Copy the Marketo client secret from the environment into the keyring",
                "segmarketo auth set --from-env --only marketo"),
    ),
    "auth status": (
        Example("Where each secret comes from (env, keyring or missing)", "segmarketo auth status"),
        Example("The same as JSON", "segmarketo auth status --json"),
    ),
    "auth clear": (
        Example("Remove the Segment write key of the profile 'prod'",
                "segmarketo auth clear --only segment --profile prod"),
    ),
    "doctor": (
        Example("Check the default profile", "segmarketo doctor"),
        Example("Check the profile 'prod', as JSON", "segmarketo doctor --profile prod --json"),
    ),
    "runs": (
        Example("The newest runs", "segmarketo runs list"),
        Example("Show a run's report again", "segmarketo runs show 20261205T0756"),
        Example("What a run wrote, field by field", "segmarketo runs show 20261205T0756 --changes"),
        Example("Preview putting back what it wrote, then do it", "segmarketo runs undo 20261205T0756 --dry-run && "
                "segmarketo runs undo 20261205T0756"),
    ),
    "runs list": (
        Example("The newest 20 runs", "segmarketo runs list"),
        Example("Partial backfills of the last week", "segmarketo runs list --command backfill-leads --status partial "
                "--since 7d"),
    ),
    "runs show": (
        Example("A run's report, its arguments and inputs (a unique prefix of the id is enough)",
                "segmarketo runs show 20261205T0756"),
        Example("The stored report as JSON", "segmarketo runs show 20261205T075607Z-3f9a1c --json"),
        Example("What the run wrote: counts per action and the first rows",
                "segmarketo runs show 20261205T0756 --changes"),
        Example("Every change it wrote, before and after, as a spreadsheet",
                "segmarketo runs show 20261205T0756 --changes --plan-out changes.xlsx"),
    ),
    "runs prune": (
        Example("Drop the change logs of runs older than 90 days", "segmarketo runs prune --older-than 90d"),
        Example("Only say how many would go", "segmarketo runs prune --older-than 12w --dry-run"),
    ),
    "runs undo": (
        Example("What undoing a run would restore, leave (conflicts) and skip; write nothing",
                "segmarketo runs undo 20261205T0756 --dry-run"),
        Example("Undo it, with every row in a file", "segmarketo runs undo 20261205T0756 --plan-out undo.csv"),
        Example("Also delete the leads it created", "segmarketo runs undo 20261205T0756 --delete-created"),
        Example("Preview undoing the newest sync-audience run", "segmarketo runs undo last:sync-audience --dry-run"),
    ),
    "rejects": (
        Example("The newest runs that rejected records", "segmarketo rejects list"),
        Example("Why a run rejected what it did", "segmarketo rejects show 20261205T0756"),
    ),
    "rejects list": (
        Example("The newest 20 runs with rejects", "segmarketo rejects list"),
        Example("Only apply-events runs, as JSON", "segmarketo rejects list --command apply-events --json"),
    ),
    "rejects show": (
        Example("A run's reasons and first 20 records, e-mails masked", "segmarketo rejects show 20261205T0756"),
        Example("Every record, e-mails shown", "segmarketo rejects show 20261205T0756 -n 0 --show-pii"),
    ),
    "init": (
        Example("Write the profile 'default'",
                "segmarketo init --endpoint https://123-ABC-456.mktorest.com --client-id ID"),
        Example("Write the profile 'eu', sending to Segment's EU region",
                "segmarketo init --profile eu --endpoint https://123-ABC-456.mktorest.com --segment-endpoint eu"),
    ),
    "sandbox": (
        Example("Run the emulator, then point segmarketo at it from another shell",
                "segmarketo sandbox serve > sandbox.env; . ./sandbox.env"),
    ),
    "sandbox serve": (
        Example("Run the emulator and keep the variables to source in another shell",
                "segmarketo sandbox serve > sandbox.env"),
        Example("Keep its state between runs, and add 50 ms to every Marketo call",
                "segmarketo sandbox serve --data ./sandbox-state --latency 50"),
    ),
    "sandbox state": (Example("Counts of a running sandbox", "segmarketo sandbox state"),),
    "sandbox events": (
        Example("The Segment messages a running sandbox dropped, with reasons", "segmarketo sandbox events --dropped"),
    ),
    "sandbox fault": (
        Example("The next 3 Marketo calls answer 606 (rate limit)", "segmarketo sandbox fault 606 --times 3"),
        Example("The next Segment batch times out", "segmarketo sandbox fault timeout --path /v1/batch --delay 5"),
    ),
    "run": (
        Example("List the profile's declared syncs as the command lines they run", "segmarketo run --list"),
        Example("Run one sync", "segmarketo run nightly-leads --profile prod"),
        Example("Run them all in declaration order, alerting a webhook on failure",
                "segmarketo run --all --profile prod --notify https://hooks.slack.com/services/..."),
    ),
    "schedule": (
        Example("A crontab line and a systemd timer for a nightly sync",
                "segmarketo schedule nightly-leads --at 02:30 --profile prod"),
        Example("Hourly, a quarter past", "segmarketo schedule high-value --every hourly --at :15"),
        Example("Any cron pattern systemd can express too",
                "segmarketo schedule events --every '*/20 6-20 * * mon-fri'"),
    ),
    "listen": (
        Example("Check the [listen] settings and secrets (SEGMARKETO_LISTEN_SHARED_SECRET) without starting",
                "segmarketo listen --check"),
        Example("Receive Segment's Webhooks destination on loopback, behind a TLS reverse proxy",
                "segmarketo listen --host 127.0.0.1 --port 8707 --log-file /var/log/segmarketo-listen.log"),
        Example("A second receiver for another profile: its own [listen] table, secrets and spool",
                "segmarketo listen --profile staging --port 8708"),
    ),
    "demo": (
        Example("Run the four jobs against a local sandbox", "segmarketo demo"),
        Example("Keep the demo's runs, rejects files and sandbox state",
                "segmarketo demo --home ./demo-state && SEGMARKETO_HOME=./demo-state segmarketo runs list"),
    ),
}

ENVIRONMENT: dict[str, str] = {
    "SEGMARKETO_HOME": "One folder holding config.toml and the state directory (state/), instead of the "
                       "platform's user config and state folders.",
    "SEGMARKETO_PROFILE": "Profile to use when --profile is not given (default 'default').",
    "SEGMARKETO_REGISTRY": "The per-user instance registry file, which records the ledger that owns each Marketo "
                           "instance (default: instance-registry.sqlite in the platform's user state folder, "
                           "outside every SEGMARKETO_HOME).",
    "SEGMARKETO_LOG_FILE": "Also append log lines to this file (same as --log-file).",
    "SEGMARKETO_QUIET": "1: only errors and a one-line summary on stderr (same as --quiet).",
    "SEGMARKETO_MARKETO_ENDPOINT": "Marketo REST endpoint, e.g. https://123-ABC-456.mktorest.com; a trailing "
                                   "/rest or /identity is stripped. Plain http is refused except to loopback.",
    "SEGMARKETO_MARKETO_CLIENT_ID": "Client id of the Marketo LaunchPoint custom service.",
    "SEGMARKETO_MARKETO_CLIENT_SECRET": "Marketo client secret; wins over the keyring.",
    "SEGMARKETO_SEGMENT_WRITE_KEY": "Segment source write key; wins over the keyring.",
    "SEGMARKETO_LISTEN_SHARED_SECRET": "Shared secret of Segment's Webhooks destination: 'listen' checks "
                                       "X-Signature (HMAC-SHA1 of the body) with it; wins over the keyring.",
    "SEGMARKETO_LISTEN_TOKEN": "Bearer token 'listen' also accepts (Authorization: Bearer, e.g. from a Segment "
                               "Function); wins over the keyring.",
    "SEGMARKETO_SEGMENT_ENDPOINT": "Segment API host: https://api.segment.io (default), "
                                   "https://events.eu1.segmentapis.com, or the region names us and eu.",
    "SEGMARKETO_RATE_LIMIT_CALLS": "Marketo calls allowed per window on our side (at most 100).",
    "SEGMARKETO_RATE_LIMIT_WINDOW_S": "Length in seconds of the sliding rate-limit window.",
    "SEGMARKETO_MAX_CONCURRENCY": "Marketo calls in flight at once (1 to 10).",
    "SEGMARKETO_DAILY_BUDGET": "Stop cleanly (exit 75) after this many Marketo calls in a day.",
    "SEGMARKETO_HTTP_TIMEOUT_S": "HTTP timeout in seconds for one call.",
    "SEGMARKETO_MAX_RETRIES": "Retries of one Marketo call before giving up.",
    "SEGMARKETO_LOOKUP_FIELD": "Marketo field that identifies a lead when upserting.",
    "SEGMARKETO_USER_ID_FIELD": "Marketo field holding Segment's userId.",
    "SEGMARKETO_SANDBOX_URL": "The running sandbox that 'sandbox state', 'events' and 'fault' talk to "
                              "(default http://127.0.0.1:8787).",
    "HTTPS_PROXY": "Proxy for calls to https:// endpoints (tunnelled with CONNECT); read by requests, as are "
                   "HTTP_PROXY, ALL_PROXY and their lower-case spellings.",
    "HTTP_PROXY": "Proxy for calls to http:// endpoints (the loopback sandbox).",
    "ALL_PROXY": "Proxy for calls of any scheme without a more specific variable.",
    "NO_PROXY": "Hosts that bypass the proxy, e.g. localhost,127.0.0.1 for the local sandbox.",
    "REQUESTS_CA_BUNDLE": "A PEM file of CA certificates to trust instead of the built-in bundle (CURL_CA_BUNDLE "
                          "works too), for a proxy that inspects TLS.",
    "CURL_CA_BUNDLE": "Same as REQUESTS_CA_BUNDLE.",
}

SECRETS = ("SEGMARKETO_MARKETO_CLIENT_SECRET", "SEGMARKETO_SEGMENT_WRITE_KEY")
LISTEN_SECRETS = ("SEGMARKETO_LISTEN_SHARED_SECRET", "SEGMARKETO_LISTEN_TOKEN")
BASE = ("SEGMARKETO_HOME", "SEGMARKETO_PROFILE", "SEGMARKETO_LOG_FILE", "SEGMARKETO_QUIET")
SANDBOX = ("SEGMARKETO_SANDBOX_URL",)
NETWORK = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def setting_variables() -> tuple[str, ...]:
    """The environment variable of every profile setting, in the settings' order."""
    return tuple(env for _name, env, _default in environment_settings())


def setting_variable(setting: str) -> str:
    """The environment variable that sets `setting` (a profile setting name, e.g. 'lookup_field')."""
    return next(env for name, env, _default in environment_settings() if name == setting)


def variables(path: str) -> tuple[str, ...]:
    """Every environment variable the command at `path` ('' is the program, 'auth set' a nested one) reads."""
    top = path.split(" ")[0]
    if top in ("", "backfill-leads", "sync-audience", "writeback", "apply-events", "doctor", "run"):
        return (*BASE, "SEGMARKETO_REGISTRY", *setting_variables(), *SECRETS, *(SANDBOX if not top else ()),
                *NETWORK)
    if top == "listen":
        return (*BASE, "SEGMARKETO_REGISTRY", *setting_variables(), *SECRETS, *LISTEN_SECRETS, *NETWORK)
    if top == "auth":
        return (*BASE, *SECRETS, *LISTEN_SECRETS)
    if top == "sandbox":
        return SANDBOX if path not in ("sandbox", "sandbox serve") else ()
    if top == "demo":
        return ("SEGMARKETO_LOG_FILE", "SEGMARKETO_QUIET")
    return BASE  # init, runs


def describe(variable: str) -> str:
    """What `variable` does, for the ENVIRONMENT section of a man page."""
    return ENVIRONMENT.get(variable,
                           f"Overrides the '{variable.removeprefix('SEGMARKETO_').lower()}' profile setting.")


def epilog(path: str) -> str:
    """The Examples and Environment paragraphs that end the --help of the command at `path`."""
    lines = ["Examples:"]
    for example in EXAMPLES[path]:
        lines += textwrap.wrap(example.what, width=96, initial_indent="  # ", subsequent_indent="  # ")
        lines.append(f"  $ {example.line}")
    names = variables(path)
    if names:
        lines += ["", "Environment (see 'man segmarketo'):"]
        lines += textwrap.wrap(", ".join(names), width=96, initial_indent="  ", subsequent_indent="  ",
                               break_on_hyphens=False)
    if path:
        lines += ["", "Global options (--profile, -q, -v, --log-file, --log-format) may also follow the command."]
    return "\n\n".join("\b\n" + block for block in "\n".join(lines).split("\n\n"))
