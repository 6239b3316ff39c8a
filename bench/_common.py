"""Shared bench helpers: Marketo's limits and the ceiling they allow, a sandbox in its own process, child runs
with their own peak RSS, timers and the figures table."""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from segmarketo_cli.sandbox import Sandbox, SandboxConfig

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "_out"
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret-0123456789"
WRITE_KEY = "bench-write-key-0123"
RECORDS_PER_CALL = 300


@dataclass(frozen=True)
class Limits:
    """Server-side limits and latency the sandbox enforces; the ceiling is computed from these."""

    calls: int = 100
    window_s: float = 20.0
    concurrency: int = 10
    latency_s: float = 0.3
    per_record_s: float = 0.001

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.window_s

    def ceiling(self, records: int, calls_needed: int) -> float:
        """Records per second the limits allow for a job that needs `calls_needed` calls for `records`."""
        return records * self.calls_per_s / calls_needed

    def describe(self) -> str:
        return (f"{self.calls} calls / {self.window_s:g} s, {self.concurrency} concurrent, "
                f"latency {self.latency_s * 1000:g} ms + {self.per_record_s * 1000:g} ms/record")

    def sandbox_config(self, **extra: Any) -> Any:
        settings: dict[str, Any] = {"rate_limit_calls": self.calls, "window_s": self.window_s,
                                    "max_concurrency": self.concurrency, "latency_s": self.latency_s,
                                    "latency_per_record_s": self.per_record_s, "daily_quota": 10_000_000}
        return SandboxConfig(**{**settings, **extra})


MARKETO = Limits()
# --quick: the same shape with a window and latencies ten times shorter (the ceiling scales with them).
QUICK = Limits(window_s=2.0, latency_s=0.03, per_record_s=0.0001)


def calls_for(records: int) -> int:
    return -(-records // RECORDS_PER_CALL)


# ---- figures ----------------------------------------------------------------------------------------------
@dataclass
class Figure:
    """One row of the table: what was measured, its value, the target and whether it was met."""

    bench: str
    name: str
    value: str
    target: str = ""
    met: bool | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return asdict(self)


def ratio_figure(bench: str, what: str, records: int, seconds: float, ceiling: float, throttled: int,
                 **data: Any) -> Figure:
    """records/s over the ceiling, target >= 0.9 with zero 606 answers."""
    rate = records / seconds
    ratio = rate / ceiling
    return Figure(bench, what, f"{rate:,.0f}/s of {ceiling:,.0f}/s = {ratio:.2f} ({throttled} x 606)",
                  ">= 0.90, no 606", ratio >= 0.9 and throttled == 0,
                  {"records": records, "seconds": round(seconds, 2), "records_per_s": round(rate, 1),
                   "ceiling_per_s": round(ceiling, 1), "ratio": round(ratio, 3), "responses_606": throttled, **data})


# ---- a sandbox in its own process ---------------------------------------------------------------------------
def _serve(conn: Connection, config: Any, seed: Callable[..., dict] | None, args: tuple) -> None:
    box = Sandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, write_key=WRITE_KEY, config=config)
    started = time.perf_counter()
    info = seed(box, *args) if seed else {}
    box.start()
    conn.send((box.url, info, time.perf_counter() - started))
    conn.recv()
    box.stop()


class SandboxProcess:
    """A seeded sandbox serving from a child process, so the bench's CPU and RSS are the tool's alone.

    `seed(box, *args)` runs in the child before the server starts and returns a JSON-able dict (`info`).
    """

    def __init__(self, config: Any, seed: Callable[..., dict] | None = None, *args: Any) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, config, seed, args), daemon=True)
        self.url = ""
        self.info: dict[str, Any] = {}
        self.seed_s = 0.0

    def __enter__(self) -> SandboxProcess:
        self._process.start()
        self.url, self.info, self.seed_s = self._conn.recv()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._conn.send("stop")
        except OSError:
            pass
        self._process.join(timeout=30)

    def state(self) -> dict[str, Any]:
        """The inspector's counters (`calls`, `rate_limited` = 606 answers, `concurrency_limited` = 615, ...)."""
        with urllib.request.urlopen(f"{self.url}/_sandbox/state") as response:
            return json.load(response)


def marketo_counters(state: dict[str, Any]) -> dict[str, int]:
    marketo = state.get("marketo", state)
    return {k: int(marketo.get(k, 0)) for k in ("calls", "rate_limited", "concurrency_limited")}


# ---- child runs ---------------------------------------------------------------------------------------------
def child_environ() -> dict[str, str]:
    """This process's environment for a measured child, but letting Python cache bytecode as an installed package
    does: on a machine that sets PYTHONDONTWRITEBYTECODE (the bench machine's image does) every child would compile
    the package from source, about 0.1 CPU-s a run that users do not pay."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def cli_env(url: str, home: Path, **extra: str) -> dict[str, str]:
    """Environment for `segmarketo` against a bench sandbox (default client limits unless overridden)."""
    return {**child_environ(), "SEGMARKETO_HOME": str(home), "SEGMARKETO_MARKETO_ENDPOINT": url,
            "SEGMARKETO_REGISTRY": str(home / "instance-registry.sqlite"),  # claim no instance in the user's registry
            "SEGMARKETO_MARKETO_CLIENT_ID": CLIENT_ID, "SEGMARKETO_MARKETO_CLIENT_SECRET": CLIENT_SECRET,
            "SEGMARKETO_SEGMENT_ENDPOINT": url, "SEGMARKETO_SEGMENT_WRITE_KEY": WRITE_KEY,
            "PYTHONHASHSEED": "0", **extra}


@dataclass
class ChildRun:
    stdout: str
    stderr: str
    returncode: int
    wall_s: float
    peak_rss_mb: float
    cpu_s: float  # user + system of the child and of the children it waited for

    def json(self) -> dict[str, Any]:
        """The last JSON object the child printed (a run report or a bench child's figures)."""
        text = self.stdout
        start = text.rfind("\n{") + 1 if "\n{" in text else text.find("{")
        return json.loads(text[start:])


def run_child(command: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)) -> ChildRun:
    """Run a command, return its output, wall time, CPU and its own peak RSS (not the sandbox's, not ours)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=child_environ() if env is None else env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        run = ChildRun(out.read().decode(), err.read().decode(), process.returncode, wall, usage.ru_maxrss / 1024,
                       usage.ru_utime + usage.ru_stime)
    if run.returncode not in ok:
        raise RuntimeError(f"{' '.join(command[:4])} exited {run.returncode}: {run.stderr[-1500:]}")
    return run


def bench_child(script: str, *args: str) -> dict[str, Any]:
    """Run `python bench/<script> --child-args...` in a fresh interpreter and return the JSON it prints."""
    run = run_child([sys.executable, str(BENCH / script), *args], env={**child_environ(), "PYTHONHASHSEED": "0"})
    return run.json()


def peak_rss_mb() -> float:
    """This process's peak resident set size."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    """`with Timer() as t: ...` then `t.seconds` (wall) and `t.cpu_s` (this process's CPU)."""

    def __enter__(self) -> Timer:
        self._start, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self._start
        self.cpu_s = time.process_time() - self._cpu
