"""Wire primitives: the parsed Request, the Response, Marketo's JSON envelope and its error exception."""

from __future__ import annotations

import base64
import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs


class ApiError(Exception):
    """A response-level Marketo error: HTTP 200, success:false, errors:[{code, message}]."""

    def __init__(self, code: str | int, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code = str(code)
        self.message = message


@dataclass
class Request:
    """One HTTP request after gzip decoding and `_method` rewriting."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    form: dict[str, list[str]] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A parameter from the query string or the form body (first value)."""
        values = self.query.get(name) or self.form.get(name)
        return values[0] if values else default

    def required(self, name: str) -> str:
        """A parameter that must be present: Marketo answers 701 "'<name>' cannot be blank" otherwise."""
        value = self.arg(name)
        if not value:
            raise ApiError("701", f"'{name}' cannot be blank")
        return value

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, [])) + list(self.form.get(name, []))

    def csv_arg(self, name: str) -> list[str]:
        """A comma-separated (or repeated) parameter as a list of non-empty strings."""
        out: list[str] = []
        for value in self.args(name):
            out.extend(part.strip() for part in value.split(",") if part.strip())
        return out

    def json(self) -> Any:
        """The JSON body; invalid JSON is Marketo's 609."""
        if not self.body:
            return {}
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError("609", "Invalid JSON") from exc

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def parse_form(body: bytes) -> dict[str, list[str]]:
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass
class Response:
    """What a handler answers; `records` feeds the per-record latency simulation."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    records: int = 0
    marketo_code: str | None = None  # response-level error code, for the limiter's counting rules
    compressible: bool = True


def request_id() -> str:
    """A requestId shaped like Marketo's: "<hex>#<hex>"."""
    return f"{random.randrange(0x1000, 0xFFFFF):x}#{int(time.time() * 1000):x}"


def json_response(payload: dict[str, Any], *, records: int = 0, status: int = 200) -> Response:
    return Response(status=status, body=json.dumps(payload, separators=(",", ":")).encode(), records=records)


def ok(result: list[Any] | None = None, *, records: int | None = None, **extra: Any) -> Response:
    """success:true with `result` (omitted when None) and any extra top-level keys."""
    payload: dict[str, Any] = {"requestId": request_id(), "success": True}
    if result is not None:
        payload["result"] = result
    payload.update({k: v for k, v in extra.items() if v is not None})
    count = records if records is not None else (len(result) if result else 0)
    return json_response(payload, records=count)


def asset_ok(result: list[Any] | None, *, warnings: list[str] | None = None) -> Response:
    """Asset API success; an empty result gives the 'No assets found' warning and no `result` key."""
    payload: dict[str, Any] = {"success": True, "errors": [], "requestId": request_id(), "warnings": warnings or []}
    if result:
        payload["result"] = result
    else:
        payload["warnings"] = (warnings or []) + ["No assets found for the given search criteria."]
    return json_response(payload, records=len(result or []))


def error(code: str, message: str) -> Response:
    payload = {"requestId": request_id(), "success": False, "errors": [{"code": code, "message": message}]}
    response = json_response(payload)
    response.marketo_code = code
    return response


def text(status: int, message: str, content_type: str = "text/plain") -> Response:
    return Response(status=status, body=message.encode(), content_type=content_type, compressible=False)


def skipped(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """A record-level skipped row."""
    return {**extra, "status": "skipped", "reasons": [{"code": code, "message": message}]}


def encode_token(text_value: str) -> str:
    """An opaque page token (base32, like Marketo's)."""
    return base64.b32encode(text_value.encode()).decode()


def decode_token(token: str, kind: str) -> str:
    """The payload of a token made by encode_token for `kind`; anything else is Marketo's 1003."""
    try:
        value = base64.b32decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("1003", "Invalid nextPageToken") from exc
    prefix = f"{kind}:"
    if not value.startswith(prefix):
        raise ApiError("1003", "Invalid nextPageToken")
    return value[len(prefix):]


def now_iso() -> str:
    """Now in Marketo's Lead DB form, e.g. 2021-11-23T22:57:08Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def asset_time(iso: str) -> str:
    """Asset API timestamps carry both Z and an offset: 2021-11-23T22:57:24Z+0000."""
    return f"{iso}+0000" if iso.endswith("Z") else iso


def parse_datetime(value: str) -> datetime:
    """ISO-8601 with Z or an offset (naive values are taken as UTC); ValueError when unparsable."""
    text_value = value.strip()
    if text_value.endswith("Z"):
        text_value = text_value[:-1] + "+00:00"
    moment = datetime.fromisoformat(text_value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def iso_z(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
