"""The Marketo request pipeline: faults, Bearer auth, limits, routing, latency and call counting."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from segmarketo_cli.sandbox.envelope import ApiError, Request, Response, error, json_response, text
from segmarketo_cli.sandbox.faults import CORRUPT, MARKETO_MESSAGES, Fault
from segmarketo_cli.sandbox.instance import Instance
from segmarketo_cli.sandbox.marketo import activities as marketo_activities
from segmarketo_cli.sandbox.marketo import bulk as marketo_bulk
from segmarketo_cli.sandbox.marketo import extract as marketo_extract
from segmarketo_cli.sandbox.marketo import leads as marketo_leads
from segmarketo_cli.sandbox.marketo import lists as marketo_lists
from segmarketo_cli.sandbox.marketo import programs as marketo_programs
from segmarketo_cli.sandbox.marketo import usage as marketo_usage
from segmarketo_cli.sandbox.marketo.limits import NON_COUNTING
from segmarketo_cli.sandbox.server import DropConnection, stall_then_drop

log = logging.getLogger("segmarketo.sandbox")
Handler = Callable[[Instance, Request, Any], Response]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(pattern + r"$"), handler)
    for module in (marketo_leads, marketo_lists, marketo_programs, marketo_activities, marketo_bulk,
                   marketo_extract, marketo_usage)
    for method, pattern, handler in module.ROUTES
]


def route(method: str, path: str) -> tuple[Handler, Any]:
    """The handler for a request; 605 when the path exists with another method, 610 when it does not."""
    path_known = False
    for route_method, pattern, handler in ROUTES:
        found = pattern.match(path)
        if found:
            if route_method == method:
                return handler, found
            path_known = True
    if path_known:
        raise ApiError("605", "Request method not supported")
    raise ApiError("610", "Requested resource not found")


def fault_response(sb: Instance, fault: Fault) -> Response | None:
    """The response a scripted fault produces; None for "slow" (which only delays)."""
    code = fault.code
    if code == "reset":
        raise DropConnection()
    if code == "timeout":
        stall_then_drop(fault.delay_s if fault.delay_s is not None else sb.config.timeout_fault_s)
    if code == "slow":
        time.sleep(fault.delay_s or 1.0)
        return None
    if isinstance(code, int):
        if code == 429:
            wait = fault.retry_after if fault.retry_after is not None else 1
            response = json_response({"success": False, "code": "too_many_requests", "message": "Rate limited"},
                                     status=429)
            response.headers.update({"Retry-After": f"{wait:g}", "X-RateLimit-Reset": f"{wait:g}"})
            return response
        return text(code, fault.message or f"HTTP {code}")
    code = str(code)
    if code == "606":
        sb.marketo.count("rate_limited")
    return error(code, fault.message or MARKETO_MESSAGES.get(code, "Injected fault"))


def damaged(body: bytes) -> bytes:
    """A download cut short: the second half of the body is lost (at least one byte changes)."""
    return body[: len(body) // 2] if len(body) > 1 else body + b"#"


def bearer(sb: Instance, request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    if sb.config.accept_access_token_param:
        return request.arg("access_token")
    return None  # the access_token query parameter is treated as gone (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/authentication)


def handle_marketo(sb: Instance, request: Request) -> Response:
    fault = sb.faults.take(request.path)
    if fault is not None and fault.code != CORRUPT:
        injected = fault_response(sb, fault)
        if injected is not None:
            return injected
    try:
        sb.identity.check(bearer(sb, request))
        admission = sb.limits.admit()
    except ApiError as exc:
        counter = {"606": "rate_limited", "615": "concurrency_limited", "607": "quota_refused"}.get(exc.code)
        if counter:
            sb.marketo.count(counter)
        sb.limits.record_error(exc.code)
        return error(exc.code, exc.message)
    response: Response | None = None
    try:
        try:
            handler, found = route(request.method, request.path)
            response = handler(sb, request, found)
        except ApiError as exc:
            response = error(exc.code, exc.message)
            sb.limits.record_error(exc.code)
        except Exception:  # an emulator bug must look like Marketo's 611, not a dropped connection
            log.exception("sandbox handler failed for %s %s", request.method, request.path)
            response = error("611", "System error")
        if fault is not None and fault.code == CORRUPT and response.status in (200, 206):
            response.body = damaged(response.body)
        delay = sb.config.latency_s + sb.config.latency_per_record_s * response.records
        if delay > 0:
            time.sleep(delay)
        return response
    finally:
        code = response.marketo_code if response is not None else None
        sb.limits.release(admission, code)
        if code not in NON_COUNTING:
            sb.marketo.count("calls")
