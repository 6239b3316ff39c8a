"""SIGINT and SIGTERM during a run: the first one interrupts the job's work; any later one waits for the cleanup."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from segmarketo_cli.errors import ExitCode
from segmarketo_cli.jobs import interrupts

HANDLED = (signal.SIGINT, signal.SIGTERM)
EXIT_CODES = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED}
NAMES = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}


class Interrupted(KeyboardInterrupt):
    """The run's first SIGINT or SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so every
    job's interrupt path (settle the calls in flight, record what Marketo confirmed) handles both alike."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class RunSignals:
    """Handlers for one run. Signals are held (remembered, nothing raised) except inside `interruptible()`,
    the job's own work, where the first one raises `Interrupted` (at the end of `interrupts.held()` when it
    arrives inside one). Once one arrived, later ones are held: they must not cut short the settling of writes
    in flight, the report or the run record (SIGKILL still stops at once, and the next run marks that run
    abandoned)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._raising = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signum
        if self._raising and not interrupts.holding():
            self._raising = False
            raise Interrupted(signum)

    def pending(self) -> bool:
        """Whether a signal arrived during the work and has not been raised (it came inside `held()`)."""
        return self.received is not None and self._raising

    def raise_pending(self) -> None:
        if self.pending():
            self._raising = False
            raise Interrupted(self.received or signal.SIGINT)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """The job's work: the first signal raises `Interrupted` here (at once if it came before; when the work
        ends, if it came inside `interrupts.held()` and was never raised there)."""
        if self.received is not None:
            raise Interrupted(self.received)
        self._raising = True
        try:
            yield
        finally:
            held_back = self.pending()  # it came inside interrupts.held() and was never raised
            self._raising = False
        if held_back:
            raise Interrupted(self.received or signal.SIGINT)

    @property
    def exit_code(self) -> ExitCode:
        """The exit code of a run that a signal interrupted: 130 for SIGINT, 143 for SIGTERM (128 + signal)."""
        return EXIT_CODES.get(signal.Signals(self.received or signal.SIGINT), ExitCode.INTERRUPTED)

    @property
    def reason(self) -> str:
        """What stopped the run, for the report: 'interrupted by SIGTERM'."""
        return f"interrupted by {NAMES.get(signal.Signals(self.received or signal.SIGINT), 'a signal')}"


@contextmanager
def run_signals() -> Iterator[RunSignals]:
    """Install the run's SIGINT and SIGTERM handlers, and put the previous ones back afterwards. Off the main
    thread (where Python cannot install handlers) nothing is installed and signals keep their usual effect."""
    signals = RunSignals()
    if threading.current_thread() is not threading.main_thread():
        yield signals
        return
    previous = {signum: signal.signal(signum, signals._handle) for signum in HANDLED}
    interrupts.install(signals)
    try:
        yield signals
    finally:
        interrupts.install(None)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
