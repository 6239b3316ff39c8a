"""Sandbox: one local server for Marketo (/identity, /rest, /bulk) and Segment (/v1/batch), with test hooks."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from segmarketo_cli.paths import sample_data_dir
from segmarketo_cli.sandbox.config import SandboxConfig
from segmarketo_cli.sandbox.envelope import Request, Response, json_response, text
from segmarketo_cli.sandbox.instance import Instance
from segmarketo_cli.sandbox.marketo.gateway import fault_response, handle_marketo
from segmarketo_cli.sandbox.seed import load_seed
from segmarketo_cli.sandbox.server import SandboxServer, inspector_json
from segmarketo_cli.sandbox.stores.persist import load_state, save_state

log = logging.getLogger("segmarketo.sandbox")
DEFAULT_SEED_DIR = sample_data_dir() / "sandbox"


class Sandbox(Instance):
    """A local Marketo + Segment emulator. `with Sandbox().start() as box: ...` or start()/stop()."""

    def __init__(self, *, client_id: str = "sandbox-client", client_secret: str = "sandbox-secret",
                 write_key: str = "sandbox-write-key", data_dir: str | Path | None = None, seed: bool = False,
                 config: SandboxConfig | None = None) -> None:
        super().__init__(client_id=client_id, client_secret=client_secret, write_key=write_key,
                         config=config or SandboxConfig())
        self.data_dir = Path(data_dir) if data_dir else None
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        self._stopping = threading.Event()
        self._save_lock = threading.Lock()
        loaded = False
        if self.data_dir is not None:
            loaded = load_state(self, self.data_dir)
        if seed and not loaded:
            self.load_seed(DEFAULT_SEED_DIR)

    # lifecycle ----------------------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        self._server = SandboxServer((host, port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="sandbox-http", daemon=True)
        self._thread.start()
        if self.data_dir is not None and self.config.persist_every_s > 0:
            self._saver = threading.Thread(target=self._autosave, name="sandbox-save", daemon=True)
            self._saver.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.data_dir is not None:
            self.save()

    def __enter__(self) -> Sandbox:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            return super().url
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def _autosave(self) -> None:
        while not self._stopping.wait(self.config.persist_every_s):
            try:
                self.save()
            except OSError as exc:  # keep serving; the next save (or stop) tries again
                log.warning("sandbox: cannot save state to %s: %s", self.data_dir, exc)

    def save(self) -> None:
        if self.data_dir is not None:
            with self._save_lock:
                save_state(self, self.data_dir)

    def load_seed(self, directory: str | Path) -> None:
        load_seed(self, Path(directory))

    # dispatch -----------------------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_sandbox/"):
            return self._inspect(request)
        if path == "/identity/oauth/token":
            return self._scripted_fault(path) or self.identity.handle(request)
        if path in ("/v1/batch", "/v1/import"):
            if request.method != "POST":
                return text(405, "Method Not Allowed")
            return self._scripted_fault(path) or self.segment.handle(request)
        if path.startswith(("/rest/", "/bulk/")):
            return handle_marketo(self, request)
        return text(404, "Not Found")

    def _scripted_fault(self, path: str) -> Response | None:
        """The answer of a fault scripted for `path`, if one is pending (Marketo paths: see handle_marketo)."""
        fault = self.faults.take(path) if self.faults.pending else None
        return fault_response(self, fault) if fault is not None else None

    def _inspect(self, request: Request) -> Response:
        """Inspector endpoints (no auth, not counted): state summary, Segment events, fault and token hooks."""
        path = request.path
        if path == "/_sandbox/state":
            return inspector_json({"url": self.url, "marketo": self.marketo.summary(),
                                   "usage_today": self.limits.used_today(), "segment": self.segment.summary(),
                                   "pending_faults": self.faults.pending})
        if path == "/_sandbox/segment/events":
            return inspector_json(self.segment.inspector())
        if path == "/_sandbox/faults" and request.method == "POST":
            body = request.json() if request.body else {}
            code = body.get("code") if isinstance(body, dict) else None
            if code is None:
                return json_response({"success": False, "message": "'code' is required"}, status=400)
            self.faults.add(code, int(body.get("times", 1)), body.get("path"), retry_after=body.get("retry_after"),
                            delay_s=body.get("delay_s"))
            return inspector_json({"success": True, "pending": self.faults.pending})
        if path == "/_sandbox/expire-token" and request.method == "POST":
            self.expire_token()
            return inspector_json({"success": True})
        if path == "/_sandbox/save" and request.method == "POST":
            self.save()
            return inspector_json({"success": True, "saved": bool(self.data_dir)})
        return text(404, "Not Found")
