"""`segmarketo schedule`: a crontab line and a systemd service + timer that run a declared sync."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import click

from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.cli.run_sync import job_command
from segmarketo_cli.cli.sync_argv import check_sync
from segmarketo_cli.errors import ExitCode
from segmarketo_cli.schedules import Schedule, parse_schedule

TRIES = 3  # a run that exits 75 (try again later) is tried this many times in all
RETRY_AFTER_MIN = 15
_UNIT_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def executable() -> list[str]:
    """The installed `segmarketo`, as an absolute path: the script next to this Python (a venv, pipx), else the
    one on PATH, else this Python running the package."""
    beside = Path(sys.executable).parent / "segmarketo"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside.absolute())]
    found = shutil.which("segmarketo")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "segmarketo_cli"]


def run_command(profile: str, sync: str) -> list[str]:
    """What cron and systemd run: quiet (errors and one summary line), the profile named, not left to the
    environment."""
    return [*executable(), "--profile", profile, "--quiet", "run", sync]


def crontab_line(schedule: Schedule, command: list[str], environment: dict[str, str], sync: str) -> str:
    """One crontab line (man 5 crontab; '%' escaped). Exit 75 is retried; any other failure prints a line, which
    cron mails to MAILTO."""
    env = "".join(f"{name}={shlex.quote(value)} " for name, value in environment.items())
    run = env + shlex.join(command)
    if schedule.frequent:
        script = f"{run}; rc=$?"
    else:
        tries = " ".join(str(n) for n in range(1, TRIES + 1))
        script = (f"for try in {tries}; do {run}; rc=$?; [ $rc -ne {ExitCode.TEMPFAIL} ] || [ $try -eq {TRIES} ] "
                  f"&& break; sleep {RETRY_AFTER_MIN * 60}; done")
    script += f"; [ $rc -eq 0 ] || echo \"segmarketo sync {sync} failed: exit $rc\" >&2; exit $rc"
    return f"{schedule.cron} {script}".replace("%", "\\%")


def service_unit(schedule: Schedule, command: list[str], environment: dict[str, str], sync: str,
                 profile: str) -> str:
    """The .service (systemd.service(5)): exit 75 restarts it after RETRY_AFTER_MIN minutes, at most TRIES starts
    an hour; any other non-zero exit (or the start limit) leaves it failed, which triggers OnFailure=."""
    lines = ["[Unit]", f"Description=segmarketo sync {sync} (profile {profile})",
             "# Alerts: set notify = \"https://...\" in the profile, and/or name a unit of yours that alerts:",
             "# OnFailure=your-alert@%n.service"]
    if not schedule.frequent:
        lines += ["StartLimitIntervalSec=1h", f"StartLimitBurst={TRIES}"]
    lines += ["", "[Service]", "Type=oneshot",
              "# No keyring (a headless server)? The secrets' SEGMARKETO_* variables, in a file only you can read:",
              "# EnvironmentFile=%h/.config/segmarketo/secrets.env"]
    lines += [f"Environment={_systemd_quote(f'{name}={value}')}" for name, value in environment.items()]
    lines.append("ExecStart=" + " ".join(_systemd_quote(arg) for arg in command))
    if not schedule.frequent:
        lines += [f"RestartForceExitStatus={ExitCode.TEMPFAIL}", f"RestartSec={RETRY_AFTER_MIN}min"]
    return "\n".join(lines) + "\n"


def timer_unit(schedule: Schedule, sync: str) -> str:
    """The .timer (systemd.timer(5)); Persistent= runs a schedule missed while the machine was off."""
    return "\n".join(["[Unit]", f"Description=Run segmarketo sync {sync} {schedule.description}", "",
                      "[Timer]", f"OnCalendar={schedule.on_calendar}", "Persistent=true", "",
                      "[Install]", "WantedBy=timers.target"]) + "\n"


def unit_name(profile: str, sync: str) -> str:
    base = f"segmarketo-{sync}" if profile == "default" else f"segmarketo-{profile}-{sync}"
    return _UNIT_UNSAFE.sub("_", base)


def _systemd_quote(arg: str) -> str:
    """An ExecStart=/Environment= word (systemd.service(5) "Command lines"): '%' doubled, quoted when needed."""
    arg = arg.replace("%", "%%")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


@click.command("schedule", epilog=epilog("schedule"))
@click.argument("sync")
@click.option("--every", default="daily", show_default=True, metavar="daily|hourly|CRON",
              help="How often: daily, hourly, or five cron fields, e.g. '*/30 6-20 * * 1-5'.")
@click.option("--at", "at", metavar="HH:MM", default=None,
              help="Time of day for daily [default: 02:00]; the minutes (HH:MM or :MM) for hourly [default: :00].")
@click.pass_obj
def schedule(app: AppContext, sync: str, every: str, at: str | None) -> None:
    """Print a crontab line and a systemd service + timer that run the declared sync SYNC.

    \b
    Both run `segmarketo --profile NAME --quiet run SYNC` by its absolute path. Exit 75
    (try again later: quota used up, lock held, service unreachable) is retried twice,
    15 minutes apart; any other non-zero exit is an alert: cron mails the failure line
    to MAILTO, systemd leaves the service failed (OnFailure=). The profile's `notify`
    webhook is posted to either way. Nothing is installed: copy what you need.
    """
    settings = app.settings
    declared = settings.sections.syncs.get(sync)
    check_sync(declared, job_command(click.get_current_context(), declared.job))  # a broken sync: exit 2 now
    plan = parse_schedule(every, at)
    command = run_command(settings.profile, sync)
    environment = {name: os.environ[name] for name in ("SEGMARKETO_HOME",) if os.environ.get(name)}
    unit = unit_name(settings.profile, sync)
    retries = "runs again at its next time" if plan.frequent else \
        f"is retried {TRIES - 1} times, {RETRY_AFTER_MIN} minutes apart"
    click.echo(f"# Sync '{sync}' (profile {settings.profile}, {declared.job}), {plan.description}.\n"
               f"# Exit 75 (try again later) {retries}; any other non-zero exit is an alert.\n\n"
               f"# --- crontab (crontab -e); cron mails a failure's output to MAILTO ---\n"
               f"# MAILTO=ops@example.com\n"
               f"{crontab_line(plan, command, environment, sync)}\n\n"
               f"# --- ~/.config/systemd/user/{unit}.service ---\n"
               f"{service_unit(plan, command, environment, sync, settings.profile)}\n"
               f"# --- ~/.config/systemd/user/{unit}.timer ---\n"
               f"{timer_unit(plan, sync)}\n"
               f"# Then: systemctl --user daemon-reload && systemctl --user enable --now {unit}.timer\n"
               f"#       loginctl enable-linger \"$USER\"   (so it runs while you are logged out)")
