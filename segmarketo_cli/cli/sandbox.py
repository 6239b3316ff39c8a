"""`segmarketo sandbox`: run the local Marketo + Segment emulator, inspect it, script faults into it."""

from __future__ import annotations

import json
import shlex
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import requests

from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.errors import ConfigError, SegmarketoError, ServiceUnavailable

if TYPE_CHECKING:
    from segmarketo_cli.sandbox import Sandbox

DEFAULT_PORT = 8787
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"


@click.group("sandbox", epilog=epilog("sandbox"))
def sandbox() -> None:
    """A local Marketo + Segment emulator for trying segmarketo without real accounts.

    \b
    serve   run it (Ctrl-C stops it; with --data the state is saved and reloaded)
    state   print a running sandbox's counts (leads, lists, calls, Segment events)
    events  print the Segment messages it accepted and dropped (like the Source Debugger)
    fault   script a fault (a Marketo code, an HTTP status, reset, timeout) into a running sandbox
    """


@sandbox.command("serve", epilog=epilog("sandbox serve"))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to listen on (0 picks a free one).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep state in this directory: reloaded on start, saved every 30 s and on stop.")
@click.option("--seed/--no-seed", default=True, show_default=True,
              help="Load the sample instance (leads, lists, programs, campaigns) when there is no saved state.")
@click.option("--seed-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Seed files to load instead of sample_data/sandbox.")
@click.option("--client-id", default="sandbox-client", show_default=True, help="Marketo client id to accept.")
@click.option("--client-secret", default="sandbox-secret", show_default=True, help="Marketo client secret to accept.")
@click.option("--write-key", default="sandbox-write-key", show_default=True, help="Segment write key to expect.")
@click.option("--rate-limit", type=click.IntRange(1), default=100, show_default=True,
              help="Marketo calls allowed per window before 606.")
@click.option("--window", "window_s", type=click.FloatRange(0.1), default=20.0, show_default=True,
              help="Rate-limit window in seconds.")
@click.option("--concurrency", type=click.IntRange(1), default=10, show_default=True,
              help="Calls in flight allowed before 615.")
@click.option("--daily-quota", type=click.IntRange(1), default=50000, show_default=True,
              help="Calls per day before 607.")
@click.option("--latency", "latency_ms", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Added latency per Marketo call, in milliseconds.")
@click.option("--latency-per-record", "latency_record_ms", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Added latency per record in a call, in milliseconds.")
@click.option("--token-ttl", type=click.IntRange(1), default=3600, show_default=True,
              help="Access token lifetime in seconds.")
@click.option("--bulk-step", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Seconds per bulk job step (Queued -> Importing -> Complete); 0 = one step per status poll.")
@click.option("--strict-write-key", is_flag=True, help="Answer 401 to an unknown write key (Segment answers 200).")
@click.option("--wrong-region", is_flag=True, help="Accept Segment batches with 200 and store nothing.")
@click.option("--bulk-report-header", type=click.Choice(["real", "echo", "keyless"]), default="real",
              show_default=True,
              help="Header of bulk import failure/warning files: real (columns empty in every listed row left "
                   "out), echo (the upload's header), keyless (the lookup column left out too).")
def serve(host: str, port: int, data_dir: Path | None, seed: bool, seed_dir: Path | None, client_id: str,
          client_secret: str, write_key: str, rate_limit: int, window_s: float, concurrency: int, daily_quota: int,
          latency_ms: float, latency_record_ms: float, token_ttl: int, bulk_step: float, strict_write_key: bool,
          wrong_region: bool, bulk_report_header: str) -> None:
    """Run the sandbox until Ctrl-C; print its URL, credentials and the env exports for a second shell."""
    # The emulator is loaded when it runs, not for `segmarketo --help` (which lists every command).
    from segmarketo_cli.sandbox import Sandbox, SandboxConfig
    from segmarketo_cli.sandbox.seed import SeedError

    config = SandboxConfig(rate_limit_calls=rate_limit, window_s=window_s, max_concurrency=concurrency,
                           daily_quota=daily_quota, token_ttl_s=token_ttl, latency_s=latency_ms / 1000,
                           latency_per_record_s=latency_record_ms / 1000, bulk_step_s=bulk_step,
                           strict_write_key=strict_write_key, wrong_region=wrong_region,
                           bulk_report_header=bulk_report_header)
    try:
        box = Sandbox(client_id=client_id, client_secret=client_secret, write_key=write_key, data_dir=data_dir,
                      seed=seed and seed_dir is None, config=config)
        if seed and seed_dir is not None and not box.marketo.leads:
            box.load_seed(seed_dir)
    except (SeedError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot load sandbox state or seed: {exc}") from None
    try:
        box.start(host, port)
    except OSError as exc:
        raise SegmarketoError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    _banner(box, data_dir)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}; anyone who can reach it can use these credentials", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        box.stop()
        click.echo("sandbox stopped" + (f"; state saved to {data_dir}" if data_dir else ""), err=True)


def _banner(box: Sandbox, data_dir: Path | None) -> None:
    summary = box.marketo.summary()
    lines = [
        f"segmarketo sandbox listening on {box.url}",
        f"  Marketo  endpoint {box.url}  client id {box.client_id}  client secret {box.client_secret}",
        f"  Segment  endpoint {box.url}  write key {box.write_key}",
        f"  {summary['leads']} leads, {len(summary['lists'])} lists, {len(summary['programs'])} programs, "
        f"{len(summary['campaigns'])} campaigns, {summary['activities']} activities"
        + (f"; state in {data_dir}" if data_dir else ""),
        f"  inspect: {box.url}/_sandbox/state   Ctrl-C to stop",
    ]
    for line in lines:
        click.echo(line, err=True)
    exports = {
        "SEGMARKETO_MARKETO_ENDPOINT": box.url, "SEGMARKETO_MARKETO_CLIENT_ID": box.client_id,
        "SEGMARKETO_MARKETO_CLIENT_SECRET": box.client_secret, "SEGMARKETO_SEGMENT_ENDPOINT": box.url,
        "SEGMARKETO_SEGMENT_WRITE_KEY": box.write_key,
    }
    # stdout is a shell script (`> sandbox.env; . sandbox.env`): comments and quoted exports only.
    click.echo(f"# segmarketo sandbox at {box.url}: source these lines in another shell")
    for name, value in exports.items():
        click.echo(f"export {name}={shlex.quote(value)}")


def _get(url: str, path: str) -> dict[str, Any]:
    try:
        reply = requests.get(url.rstrip("/") + path, timeout=10)
    except requests.RequestException as exc:
        raise ServiceUnavailable(f"no sandbox answering at {url}: {type(exc).__name__}") from None
    if reply.status_code != 200:
        raise SegmarketoError(f"{url} does not look like a segmarketo sandbox (HTTP {reply.status_code})")
    answer: dict[str, Any] = reply.json()
    return answer


url_option = click.option("--url", default=DEFAULT_URL, show_default=True, envvar="SEGMARKETO_SANDBOX_URL",
                          show_envvar=True, help="The running sandbox.")


@sandbox.command("state", epilog=epilog("sandbox state"))
@url_option
def state(url: str) -> None:
    """Print a running sandbox's counts as JSON."""
    click.echo(json.dumps(_get(url, "/_sandbox/state"), indent=2))


@sandbox.command("events", epilog=epilog("sandbox events"))
@url_option
@click.option("--dropped", is_flag=True, help="Only the dropped messages, with their reasons.")
def events(url: str, dropped: bool) -> None:
    """Print the Segment messages a running sandbox accepted and dropped, as JSON."""
    data = _get(url, "/_sandbox/segment/events")
    click.echo(json.dumps(data["dropped"] if dropped else data, indent=2))


@sandbox.command("fault", epilog=epilog("sandbox fault"))
@url_option
@click.argument("code")
@click.option("--times", type=click.IntRange(1), default=1, show_default=True, help="How many requests it hits.")
@click.option("--path", default=None, help="Only requests whose path starts with this (default: /rest and /bulk).")
@click.option("--retry-after", type=click.FloatRange(0), default=None, help="Retry-After seconds for a 429.")
@click.option("--delay", type=click.FloatRange(0), default=None, help="Seconds for 'timeout' and 'slow'.")
def fault(url: str, code: str, times: int, path: str | None, retry_after: float | None, delay: float | None) -> None:
    """Script CODE into a running sandbox: a Marketo code (606, 615, 607, 601...), an HTTP status
    (500, 502, 503, 413, 414, 429), or reset / timeout / slow."""
    if not (code.isdigit() or code in ("reset", "timeout", "slow")):
        raise ConfigError(f"unknown fault {code!r}: use a Marketo code, an HTTP status, reset, timeout or slow")
    body = {"code": code, "times": times, "path": path, "retry_after": retry_after, "delay_s": delay}
    try:
        reply = requests.post(url.rstrip("/") + "/_sandbox/faults", json=body, timeout=10)
    except requests.RequestException as exc:
        raise ServiceUnavailable(f"no sandbox answering at {url}: {type(exc).__name__}") from None
    if reply.status_code != 200:
        raise SegmarketoError(f"{url} refused the fault (HTTP {reply.status_code})")
    click.echo(f"scripted {code} x{times}" + (f" on {path}" if path else "") + f"; {reply.json()['pending']} pending",
               err=True)
