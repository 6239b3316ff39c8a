"""`segmarketo listen`: receive Segment's Webhooks destination, spool durably, drain in micro-batches."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path
from types import FrameType, ModuleType

import click

from segmarketo_cli import paths, secrets
from segmarketo_cli.cli.context import AppContext
from segmarketo_cli.cli.helptext import epilog
from segmarketo_cli.cli.listen_flush import FlushJobs
from segmarketo_cli.config.listen import ListenSection
from segmarketo_cli.errors import ConfigError, ExitCode
from segmarketo_cli.listen.app import Credentials, ListenApp
from segmarketo_cli.listen.drain import Drainer
from segmarketo_cli.listen.metrics import Metrics
from segmarketo_cli.listen.spool import Spool


def listen_folder(profile: str) -> Path:
    """The profile's listen folder under the state folder: the spool and the flush files."""
    return paths.state_dir() / "listen" / profile


def credentials(profile: str) -> Credentials:
    """The shared secret and/or bearer token (environment, then keyring); ConfigError when neither is set."""
    shared = secrets.get_secret(profile, "listen_shared_secret")
    token = secrets.get_secret(profile, "listen_token")
    if not shared and not token:
        raise ConfigError("listen needs Segment's shared secret or a bearer token: set "
                          f"{secrets.ALL_SECRET_ENV['listen_shared_secret']} or "
                          f"{secrets.ALL_SECRET_ENV['listen_token']}, or run "
                          "'segmarketo auth set --only listen-secret'")
    return Credentials(shared.encode() if shared else None, token.encode() if token else None)


def check_profile(app: AppContext) -> tuple[ListenSection, Credentials]:
    """Every check `--check` makes and a start needs: [listen], secrets, and the jobs' profile sections."""
    settings = app.settings
    sections = settings.sections
    section = sections.listen
    creds = credentials(settings.profile)
    if not settings.marketo_endpoint or not settings.marketo_client_id:
        raise ConfigError("listen writes to Marketo: set marketo_endpoint and marketo_client_id in the profile")
    secrets.require_secret(settings.profile, "marketo_client_secret")
    _ = sections.mapping, sections.fields, sections.rules  # a broken table: ConfigError now, not at the flush
    return section, creds


@click.command("listen", epilog=epilog("listen"))
@click.option("--host", default=None, metavar="ADDR", help="Address to bind (default: [listen] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to bind, 0 for any free one (default: [listen] port, 8707).")
@click.option("--check", is_flag=True, help="Check the [listen] settings and secrets, then exit (0 ok, 2 not).")
@click.pass_obj
def listen(app: AppContext, host: str | None, port: int | None, check: bool) -> None:
    """Receive Segment events over HTTP and apply them to Marketo in micro-batches.

    Point Segment's Webhooks destination (or a Function) at POST / with its shared secret (X-Signature, an
    HMAC-SHA1 of the body) or a bearer token. Each request is answered only after its events are on disk.
    Once [listen] flush_events events wait, or the oldest has waited flush_seconds, the oldest (at most
    flush_events) go through backfill-leads (identifies), sync-audience --mode delta (Audience
    Entered/Exited of the audiences [listen.audiences] maps) and apply-events (tracks, with the profile's
    rules), each recorded as a run. When Marketo cannot take more (quota, outage) the events wait on disk;
    past max_spool_bytes requests get 503 + Retry-After. SIGTERM or Ctrl-C stops accepting, ends the
    current flush and exits 0. TLS belongs to a reverse proxy.
    """
    section, creds = check_profile(app)
    if check:
        click.echo(f"listen: profile '{app.settings.profile}' ok: would listen on "
                   f"{host or section.host}:{section.port if port is None else port}, flush every "
                   f"{section.flush_seconds:g} s or {section.flush_events} events, "
                   f"{len(section.audiences)} audience(s) mapped, "
                   f"{'X-Signature' if creds.signing_secret else ''}"
                   f"{' and ' if creds.signing_secret and creds.token else ''}"
                   f"{'bearer token' if creds.token else ''} auth")
        return
    try:
        import uvicorn
    except ImportError:
        raise ConfigError("listen needs uvicorn: pip install 'segmarketo[listen]'") from None
    serve(app, section, creds, host or section.host, section.port if port is None else port, uvicorn)


def bind(host: str, port: int) -> socket.socket:
    """The listening TCP socket; ConfigError (exit 2) when the address cannot be bound.

    Its protocol is named (IPPROTO_TCP, not 0) because asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    sockets that say TCP: with Nagle on, a reply written as headers then body waits for the client's delayed ACK,
    about 40 ms per request on Linux."""
    try:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                             socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connections wait in the backlog until uvicorn accepts them
    except OSError as exc:
        raise ConfigError(f"listen: cannot bind {host}:{port}: {exc.strerror or exc}") from None
    return sock


def serve(app: AppContext, section: ListenSection, creds: Credentials, host: str, port: int,
          uvicorn: ModuleType) -> None:
    """Bind, start the drain, serve until SIGTERM/SIGINT, then let in-flight requests and the current flush end."""
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    folder = listen_folder(app.settings.profile)
    spool = Spool(folder / "spool.sqlite", max_bytes=section.max_spool_bytes)
    metrics = Metrics()
    drainer = Drainer(spool, FlushJobs(app, metrics, folder, say=lambda line: click.echo(line, err=True)), metrics,
                      flush_seconds=section.flush_seconds, flush_events=section.flush_events)
    asgi = ListenApp(spool, creds, metrics, max_body_bytes=section.max_body_bytes,
                     retry_after_s=section.retry_after_seconds)
    # http="auto" parses with httptools and loop="auto" runs on uvloop (the listen extra installs both; h11 and
    # asyncio's loop otherwise); no proxy header rewriting or Server header: nothing here uses the client address.
    config = uvicorn.Config(asgi, log_level="warning", access_log=False, lifespan="off", http="auto", loop="auto",
                            proxy_headers=False, server_header=False, timeout_graceful_shutdown=30)
    server = uvicorn.Server(config)
    stopped: list[int] = []

    def held(signum: int, frame: FrameType | None) -> None:  # uvicorn re-raises the signal it stopped on
        stopped.append(signum)

    previous = {signum: signal.signal(signum, held) for signum in (signal.SIGINT, signal.SIGTERM)}
    drainer.start()
    click.echo(f"segmarketo listen: profile '{app.settings.profile}' on http://{host}:{bound}/ "
               f"(spool {spool.path}, {spool.pending} pending)", err=True)
    sys.stderr.flush()
    try:
        server.run(sockets=[sock])
    finally:
        click.echo("segmarketo listen: stopping: finishing the current flush", err=True)
        drainer.stop()
        spool.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    click.echo(f"segmarketo listen: stopped; {spool.pending} event(s) stay spooled for the next start", err=True)
    click.get_current_context().exit(ExitCode.OK)
