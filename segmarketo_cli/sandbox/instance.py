"""Instance: what the sandbox emulates (Marketo and Segment state, faults, identity, limits, bulk queues)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from segmarketo_cli.sandbox.config import SandboxConfig
from segmarketo_cli.sandbox.faults import Faults
from segmarketo_cli.sandbox.marketo.auth import Identity
from segmarketo_cli.sandbox.marketo.limits import ServerLimits
from segmarketo_cli.sandbox.segment import SegmentState
from segmarketo_cli.sandbox.stores.bulkqueue import BulkQueue
from segmarketo_cli.sandbox.stores.state import MarketoState

UNBOUND_URL = "http://127.0.0.1:0"


class BulkState:
    """Bulk import and export jobs and their queues."""

    def __init__(self, config: SandboxConfig) -> None:
        self.imports: dict[int, Any] = {}
        self.imports_queue = BulkQueue(running=2, capacity=10, step_s=config.bulk_step_s)
        self.next_batch_id = 1001
        self.exports: dict[str, Any] = {}
        self.exports_queue = BulkQueue(running=2, capacity=10, step_s=config.bulk_step_s)
        self.export_bytes: dict[str, int] = {}


class Instance:
    """The emulated services without the HTTP server: the request handlers, the seed loader and persistence
    work on this; `Sandbox` adds the server around it."""

    def __init__(self, *, client_id: str, client_secret: str, write_key: str, config: SandboxConfig) -> None:
        self.config = config
        self.client_id = client_id
        self.client_secret = client_secret
        self.write_key = write_key
        self.marketo = MarketoState(email_case_insensitive=config.email_case_insensitive)
        self.segment = SegmentState(write_key, config)
        self.faults = Faults()
        self.identity = Identity(client_id, client_secret, ttl_s=config.token_ttl_s)
        self.limits = ServerLimits(config.rate_limit_calls, config.window_s, config.max_concurrency,
                                   config.daily_quota)
        self.bulk = BulkState(config)
        # Stamps bulk extract status polls (`ExportJob.polls`); a test swaps in a fake clock that its injected
        # sleep advances, to check the client's poll spacing without waiting.
        self.clock: Callable[[], float] = time.monotonic

    @property
    def url(self) -> str:
        """The base URL that links in API answers point at (the server's address once it listens)."""
        return UNBOUND_URL

    # test hooks ---------------------------------------------------------------------------------------------
    def expire_token(self) -> None:
        """The current access token now answers 602."""
        self.identity.expire_token()

    def revoke_token(self) -> None:
        """Every issued token now answers 601."""
        self.identity.revoke_token()
