"""The Segment half: POST /v1/batch with Segment's auth, size limits, silent per-message drops and dedupe."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from segmarketo_cli.sandbox.config import SandboxConfig
from segmarketo_cli.sandbox.envelope import Request, Response, json_response, parse_datetime

MESSAGE_TYPES = {"identify", "track", "page", "screen", "group", "alias"}


def _iso_ms(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SegmentState:
    """What the emulated Segment source received: accepted messages, drops with reasons, raw batches."""

    def __init__(self, write_key: str, config: SandboxConfig, clock: Callable[[], float] = time.time) -> None:
        self.write_key = write_key
        self.config = config
        self.clock = clock
        self.accepted: list[dict[str, Any]] = []
        self.dropped: list[tuple[dict[str, Any], str]] = []
        self.requests = 0
        self.batches: list[dict[str, Any]] = []
        self._seen: dict[str, float] = {}  # messageId -> receivedAt (epoch seconds)
        self.lock = threading.Lock()

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """Accepted messages, optionally only tracks named `event`."""
        with self.lock:
            return [m for m in self.accepted if event is None or m.get("event") == event]

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests += 1
        if len(request.body) > self.config.segment_max_body:
            return _error(400, "payload_too_large", "Batch exceeds 500 KB")
        try:
            body = json.loads(request.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return _error(400, "invalid_json", "Invalid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            return _error(400, "invalid_request", "Body must be an object with a 'batch' array")
        key = self._write_key(request, body)
        if not key:
            return _error(400, "missing_write_key", "Write key is missing or empty")
        if self.config.strict_write_key and key != self.write_key:
            return _error(401, "unauthorized", "Invalid write key")
        if self.config.segment_refuse_requests:  # the request is refused, not any message in it
            return _error(400, self.config.segment_refuse_requests, "Request refused")
        for item in body["batch"]:
            if len(json.dumps(item).encode()) > self.config.segment_max_message:
                return _error(400, "message_too_large", "A message exceeds 32 KB")
        with self.lock:
            self.batches.append({k: v for k, v in body.items() if k != "writeKey"})
            if self.config.wrong_region:
                return json_response({"success": True})  # accepted and silently lost (https://segment.com/docs/guides/regional-segment/)
            self._accept_batch(body)
        return json_response({"success": True})

    def _write_key(self, request: Request, body: dict[str, Any]) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                return base64.b64decode(auth[6:].strip()).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                return None
        value = body.get("writeKey")
        return value if isinstance(value, str) else None

    def _accept_batch(self, body: dict[str, Any]) -> None:
        items = body["batch"]
        limit = self.config.segment_max_items
        if len(items) > limit:
            # 200 with the events rejected: all of them by default, or only the excess (UNCONFIRMED;
            # https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/#max-request-size).
            cut = 0 if self.config.segment_overflow == "all" else limit
            for item in items[cut:]:
                self.dropped.append((item, "batch_too_many_messages"))
            items = items[:cut]
        now = self.clock()
        received = datetime.fromtimestamp(now, timezone.utc)
        window = self.config.segment_dedupe_window_s
        if len(self._seen) > 200_000:  # forget ids older than the dedupe window, now and then
            self._seen = {k: v for k, v in self._seen.items() if now - v < window}
        for raw in items:
            message = dict(raw) if isinstance(raw, dict) else {}
            reason = self._drop_reason(message, now, window)
            if reason:
                self.dropped.append((raw, reason))
                continue
            for part in ("context", "integrations"):
                if isinstance(body.get(part), dict):
                    message[part] = {**body[part], **(message.get(part) or {})}
            message.setdefault("messageId", f"api-{uuid.uuid4()}")
            self._stamp(message, body.get("sentAt"), received)
            self._seen[message["messageId"]] = now
            self.accepted.append(message)

    def _drop_reason(self, message: dict[str, Any], now: float, window: float) -> str | None:
        kind = message.get("type")
        if kind not in MESSAGE_TYPES:
            return "invalid_type"
        if kind == "alias":
            if not message.get("userId") or not message.get("previousId"):
                return "no_user_anon_id"
        elif not message.get("userId") and not message.get("anonymousId"):
            return "no_user_anon_id"
        if kind == "track" and not message.get("event"):
            return "missing_event"
        message_id = message.get("messageId")
        if message_id is not None:
            if not isinstance(message_id, str) or len(message_id) >= 100:
                return "message_id_too_long"
            seen = self._seen.get(message_id)
            if seen is not None and now - seen < window:
                return "duplicate_message_id"
        return None

    def _stamp(self, message: dict[str, Any], batch_sent_at: Any, received: datetime) -> None:
        """receivedAt, originalTimestamp and timestamp = receivedAt - (sentAt - originalTimestamp)."""
        message["receivedAt"] = _iso_ms(received)
        original = message.get("timestamp")
        sent = message.get("sentAt") or batch_sent_at
        if not original:
            message["timestamp"] = message["receivedAt"]
            return
        message["originalTimestamp"] = original
        try:
            original_dt = parse_datetime(str(original))
            if sent:
                sent_dt = parse_datetime(str(sent))
                message["sentAt"] = sent
                message["timestamp"] = _iso_ms(received - (sent_dt - original_dt))
            else:
                message["timestamp"] = _iso_ms(original_dt)
        except ValueError:
            message["timestamp"] = message["receivedAt"]

    def summary(self) -> dict[str, Any]:
        with self.lock:
            reasons: dict[str, int] = {}
            for _, reason in self.dropped:
                reasons[reason] = reasons.get(reason, 0) + 1
            return {"requests": self.requests, "accepted": len(self.accepted), "dropped": reasons}

    def inspector(self) -> dict[str, Any]:
        """Like the Source Debugger: every accepted and dropped message with its reason."""
        with self.lock:
            return {"accepted": list(self.accepted),
                    "dropped": [{"reason": r, "message": m} for m, r in self.dropped]}


def _error(status: int, code: str, message: str) -> Response:
    # The real 400/429 body shape is UNCONFIRMED (docs/segment-sender.md); clients depend only on the status.
    return json_response({"success": False, "code": code, "message": message}, status=status)
