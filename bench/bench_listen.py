"""Benchmark `segmarketo listen` (issue 17): intake events/s and p99 acknowledgement latency of signed single
events over keep-alive connections; Marketo calls per 10,000 identifies and event -> Marketo write p95 at
500 identifies/s against a sandbox that enforces Marketo's limits.

Run: python bench/bench_listen.py [--intake-events 30000] [--clients 8] [--events 10000] [--rate 500]
[--backlog 30000]. Prints figures (and the load average before and after); not a test. The backlog figure is
how fast a restart drains what was spooled while Marketo could not be written. The drain's Get Leads calls
(backfill's look-up of the leads it writes, one per 300) are counted from its log file, so the calls figure is
also given without them.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import MARKETO, SandboxProcess, cli_env  # noqa: E402

SECRET = "bench-listen-secret"
TARGETS = {"intake_events_per_s": 2000, "ack_p99_ms": 50, "write_p95_s": 30, "calls_per_10k": 40}


def _identify(prefix: str, n: int) -> bytes:
    return json.dumps({"type": "identify", "messageId": f"{prefix}-{n}", "userId": f"{prefix}-user-{n}",
                       "traits": {"email": f"{prefix}{n}@example.com", "firstName": f"N{n}", "plan": "pro"},
                       "timestamp": "2026-12-06T10:00:00.000Z"}).encode()


def _start(url: str, home: Path, *, verbose: bool = False, **listen: float) -> tuple[subprocess.Popen[bytes], int]:
    """A listen child with `listen` as its [listen] settings (the defaults for the rest); its port. `verbose`:
    its log file has a line per Marketo call."""
    home.mkdir(parents=True, exist_ok=True)
    table = "".join(f"{key} = {value}\n" for key, value in listen.items())
    (home / "config.toml").write_text(f"[profiles.default.listen]\n{table}max_spool_bytes = \"2GB\"\n")
    log = home / "listen.txt"
    env = cli_env(url, home, SEGMARKETO_LISTEN_SHARED_SECRET=SECRET)
    process = subprocess.Popen([sys.executable, "-m", "segmarketo_cli", "--log-file", str(home / "log.txt"),
                                *(["-v"] if verbose else []), "listen", "--port", "0"], env=env, stderr=log.open("w"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"127\.0\.0\.1:(\d+)/", log.read_text())
        if found:
            return process, int(found.group(1))
        time.sleep(0.05)
    raise RuntimeError(f"listen did not start: {log.read_text()}")


class _KeepAlive:
    """One keep-alive HTTP/1.1 connection as a webhook sender keeps it: each request's headers and body leave in
    one write (TCP_NODELAY), the reply is read to its Content-Length."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def post(self, body: bytes) -> int:
        head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"X-Signature: {hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.sock.sendall(head + body)
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head_end = self.buffer.index(b"\r\n\r\n") + 4
        lines = self.buffer[:head_end].decode("latin-1").split("\r\n")
        length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
        while len(self.buffer) < head_end + length:
            self._more()
        self.buffer = self.buffer[head_end + length:]
        return int(lines[0].split()[1])

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("listen closed the connection")
        self.buffer += chunk


def _client(port: int, prefix: str, numbers: list[int], rate: float, out: Any) -> None:
    """One keep-alive connection sending `numbers` in turn (paced at `rate`/s when > 0); latencies in ms."""
    conn = _KeepAlive(port)
    latencies, sent_at = [], []
    start = time.perf_counter()
    for index, n in enumerate(numbers):
        if rate > 0:
            delay = start + index / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        body = _identify(prefix, n)
        began = time.perf_counter()
        status = conn.post(body)
        if status != 200:
            raise RuntimeError(f"status {status}")
        latencies.append((time.perf_counter() - began) * 1000)
        sent_at.append(time.time())
    out.send((latencies, sent_at))


def _load(port: int, prefix: str, events: int, clients: int, rate: float = 0) -> tuple[float, list[float],
                                                                                        list[float]]:
    """`events` identifies from `clients` processes; wall seconds, every latency (ms), every send time."""
    context = multiprocessing.get_context("fork")
    pipes, workers = [], []
    for c in range(clients):
        parent, child = context.Pipe()
        numbers = list(range(c, events, clients))
        workers.append(context.Process(target=_client, args=(port, prefix, numbers, rate / clients, child)))
        pipes.append(parent)
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    results = [pipe.recv() for pipe in pipes]
    wall = time.perf_counter() - started
    for worker in workers:
        worker.join()
    latencies = [ms for lat, _ in results for ms in lat]
    sent = sorted(t for _, times in results for t in times)
    return wall, latencies, sent


def _percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def _load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _flush_sizes(log_file: Path) -> list[int]:
    """The events each flush took, in order ('listen flush b-…: N event(s)' lines)."""
    return [int(found.group(1)) for found in re.finditer(r"listen flush b-\w+: (\d+) event\(s\)$", log_file.read_text(),
                                                          re.MULTILINE)]


def _get_leads_calls(log_file: Path) -> int:
    """Get Leads by filter calls Marketo answered (HTTP 200) in a verbose listen log: GET leads.json?filterType=...
    (a long one is sent as a form POST and logged as GET leads.json?_method=GET); Sync Leads is a POST to
    leads.json without a query."""
    pattern = re.compile(r"segmarketo\.http: (GET|POST) /rest/v1/leads\.json\?(filterType=|_method=GET)\S* -> 200 ")
    return sum(1 for line in log_file.read_text().splitlines() if pattern.search(line))


def _state(sandbox: SandboxProcess) -> dict[str, Any]:
    return sandbox.state()["marketo"]


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=300)


def _wait_for_leads(sandbox: SandboxProcess, base: int, count: int, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _state(sandbox)["leads"] - base < count:
        time.sleep(0.5)


def _intake(sandbox: SandboxProcess, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The receiver alone, its drain held back: events/s and acknowledgement latency (group commits included)."""
    process, port = _start(sandbox.url, home, flush_seconds=3600, flush_events=10**9)
    _load(port, "warm", 200, 2)
    wall, latencies, _ = _load(port, "intake", args.intake_events, args.clients)
    _stop(process)
    return {"intake_events_per_s": round(args.intake_events / wall),
            "ack_p50_ms": round(_percentile(latencies, 50), 2), "ack_p99_ms": round(_percentile(latencies, 99), 2)}


def _drain(sandbox: SandboxProcess, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Paced identifies with the default flush settings: calls per 10,000 and event -> Marketo write."""
    process, port = _start(sandbox.url, home, verbose=True)
    before = _state(sandbox)
    written_at: list[tuple[float, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            written_at.append((time.time(), _state(sandbox)["leads"] - before["leads"]))
            time.sleep(0.25)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, _, sent = _load(port, "paced", args.events, args.clients, rate=args.rate)
    _wait_for_leads(sandbox, before["leads"], args.events)
    time.sleep(1)
    stop.set()
    watcher.join()
    _stop(process)
    after = _state(sandbox)
    calls = after["calls"] - before["calls"]
    get_leads = _get_leads_calls(home / "log.txt")
    # Leads are written in the order they were spooled: the k-th one is written when k leads exist.
    waits = []
    for k, sent_time in enumerate(sent, start=1):
        done = next((t for t, count in written_at if count >= k), None)
        if done is not None:
            waits.append(done - sent_time)
    return {"flushes": _flush_sizes(home / "log.txt"), "drain_calls": calls,
            "rate_limited": after["rate_limited"] - before["rate_limited"],  # 606 answers
            "get_leads_calls": get_leads, "calls_per_10k": round(calls * 10_000 / args.events, 1),
            "calls_per_10k_without_lookup": round((calls - get_leads) * 10_000 / args.events, 1),
            "written": len(waits), "write_p95_s": round(_percentile(waits, 95), 2) if waits else None}


def _backlog(sandbox: SandboxProcess, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Catching up after an outage: `--backlog` identifies spooled by a receiver whose drain was held back, then
    drained by a restart with the default settings (flushes back to back); leads/s and 606 answers."""
    process, port = _start(sandbox.url, home, flush_seconds=3600, flush_events=10**9)
    _load(port, "backlog", args.backlog, args.clients)
    _stop(process)
    (home / "log.txt").unlink()
    before = _state(sandbox)
    started = time.monotonic()
    process, _ = _start(sandbox.url, home, verbose=True)
    _wait_for_leads(sandbox, before["leads"], args.backlog)
    wall = time.monotonic() - started
    _stop(process)
    after = _state(sandbox)
    return {"backlog_leads_per_s": round(args.backlog / wall), "backlog_calls": after["calls"] - before["calls"],
            "backlog_get_leads_calls": _get_leads_calls(home / "log.txt"),
            "backlog_rate_limited": after["rate_limited"] - before["rate_limited"],
            "backlog_flushes": _flush_sizes(home / "log.txt")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--intake-events", type=int, default=30_000, help="signed identifies for the intake figure")
    parser.add_argument("--clients", type=int, default=8, help="client processes, one keep-alive connection each")
    parser.add_argument("--events", type=int, default=10_000, help="paced identifies for the drain figures")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--backlog", type=int, default=30_000, help="identifies spooled before the drain starts")
    args = parser.parse_args()
    figures: dict[str, Any] = {"intake_events": args.intake_events, "events": args.events, "clients": args.clients,
                               "backlog": args.backlog, "limits": MARKETO.describe(), "load_before": _load_average()}
    with tempfile.TemporaryDirectory() as tmp, SandboxProcess(MARKETO.sandbox_config()) as sandbox:
        figures.update(_intake(sandbox, Path(tmp) / "intake", args))
        figures.update(_drain(sandbox, Path(tmp) / "drain", args))
        figures.update(_backlog(sandbox, Path(tmp) / "backlog", args))
    figures["load_after"] = _load_average()
    rows = [("intake (signed single events, keep-alive)", f"{figures['intake_events_per_s']:,} events/s",
             f">= {TARGETS['intake_events_per_s']:,} events/s"),
            ("ack latency p99 (p50)", f"{figures['ack_p99_ms']} ms ({figures['ack_p50_ms']} ms)",
             f"<= {TARGETS['ack_p99_ms']} ms"),
            (f"event -> Marketo write p95 at {args.rate:g} identifies/s", f"{figures['write_p95_s']} s",
             f"<= {TARGETS['write_p95_s']} s"),
            ("Marketo calls per 10,000 identifies", f"{figures['calls_per_10k']}", f"<= {TARGETS['calls_per_10k']}"),
            ("... without backfill's Get Leads look-up", f"{figures['calls_per_10k_without_lookup']}",
             f"<= {TARGETS['calls_per_10k']}"),
            (f"backlog of {args.backlog:,} identifies drained", f"{figures['backlog_leads_per_s']:,} leads/s",
             f"{figures['backlog_rate_limited']} x 606")]
    width = max(len(row[0]) for row in rows)
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>22}  {'target ' if target.startswith(('>', '<')) else ''}{target}")
    print(f"load average (1, 5, 15 min): before {figures['load_before']}, after {figures['load_after']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
