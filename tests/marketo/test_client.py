"""MarketoClient without a network: envelope parsing, URL-length decision, retry ladder (scripted session)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from segmarketo_cli.errors import (
    AuthError,
    ConfigError,
    ExitCode,
    MarketoError,
    MarketoQuotaExhausted,
    ServiceUnavailable,
)
from segmarketo_cli.marketo import ActivityPager, Limiter, MarketoClient
from segmarketo_cli.marketo.client import MAX_URL_CHARS
from segmarketo_cli.marketo.envelope import EnvelopeError, parse_envelope
from segmarketo_cli.marketo.exceptions import ExportQuotaExhausted, MarketoPayloadTooLarge

SECRET = "unit-test-secret-987654"


def make_response(status: int, body: Any = None, *, text: str | None = None, ctype: str = "application/json"):
    response = requests.Response()
    response.status_code = status
    raw = text if text is not None else json.dumps(body)
    response._content = raw.encode()
    response.headers["Content-Type"] = ctype
    return response


def ok(result: Any = None, **extra: Any) -> dict:
    body = {"requestId": "a1#b2", "success": True, **extra}
    if result is not None:
        body["result"] = result
    return body


def fail(code: str, message: str = "boom") -> dict:
    return {"requestId": "a1#b2", "success": False, "errors": [{"code": code, "message": message}]}


class ScriptedSession:
    """Answers identity with a token and REST calls from a script (a list of responses or callables)."""

    def __init__(self, script: list[Any], identity: list[Any] | None = None) -> None:
        self.headers: dict[str, str] = {}
        self.script = list(script)
        self.identity = list(identity or [])
        self.sent: list[requests.PreparedRequest] = []
        self.tokens = 0

    def post(self, url: str, data: dict, timeout: Any) -> requests.Response:
        assert url.endswith("/identity/oauth/token")
        assert data["client_secret"] == SECRET
        if self.identity:
            item = self.identity.pop(0)
            if isinstance(item, Exception):
                raise item
            return item
        self.tokens += 1
        return make_response(200, {"access_token": f"tok-{self.tokens}", "expires_in": 3599, "token_type": "bearer"})

    def request(self, method: str, url: str, headers: dict, timeout: Any, **body: Any) -> requests.Response:
        prepared = requests.Request(method, url, headers=headers, **body).prepare()
        self.sent.append(prepared)
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        if isinstance(item, Callable):
            item = item(prepared)
        response = item if isinstance(item, requests.Response) else make_response(200, item)
        response.request = prepared
        return response


def client_for(session: ScriptedSession, **kwargs: Any) -> tuple[MarketoClient, list[float]]:
    slept: list[float] = []
    limiter = kwargs.pop("limiter", Limiter(calls=1000, window_s=0.05))
    client = MarketoClient(
        "http://127.0.0.1:9/rest/",
        "cid",
        SECRET,
        limiter=limiter,
        session=session,  # type: ignore[arg-type]
        sleep=slept.append,
        rng=lambda: 0.5,
        **kwargs,
    )
    return client, slept


# ---- envelope -------------------------------------------------------------------------------------------------


def test_envelope_tolerates_missing_result_and_int_codes():
    env = parse_envelope({"success": True, "warnings": ["No assets found for the given search criteria."]})
    assert env.result == []
    assert env.first is None
    assert env.warnings[0].startswith("No assets")
    env = parse_envelope({"success": False, "errors": [{"code": 606, "message": "Max rate"}], "requestId": "x#y"})
    assert env.errors[0].code == "606"
    assert env.request_id == "x#y"
    env = parse_envelope({"success": True, "moreResult": True, "nextPageToken": "T"})
    assert env.more_result is True
    assert env.next_page_token == "T"
    with pytest.raises(EnvelopeError):
        parse_envelope("<html>Bad gateway</html>")


# ---- endpoint and headers -------------------------------------------------------------------------------------


def test_endpoint_normalised_and_plain_http_refused_off_loopback():
    session = ScriptedSession([ok([])])
    client, _ = client_for(session)
    assert client.instance == "http://127.0.0.1:9"
    with pytest.raises(ConfigError):
        MarketoClient("http://example.com", "cid", SECRET)


def test_bearer_header_only_and_gzip():
    session = ScriptedSession([ok([{"id": 1}])])
    client, _ = client_for(session)
    client.describe_leads()
    sent = session.sent[0]
    assert sent.headers["Authorization"] == "Bearer tok-1"
    assert "access_token" not in sent.url
    assert session.headers["Accept-Encoding"] == "gzip"
    assert client.calls == 1
    assert client.tokens_issued == 1


# ---- long URLs ------------------------------------------------------------------------------------------------


def test_long_filter_goes_as_post_method_get_with_form_body():
    emails = [f"someone.with.a.long.name.{i:04d}@example-company.com" for i in range(300)]
    session = ScriptedSession([ok([{"id": 1, "email": emails[0]}])])
    client, _ = client_for(session)
    rows = client.get_leads_by_filter("email", emails, ["id", "email"])
    assert rows == [{"id": 1, "email": emails[0]}]
    sent = session.sent[0]
    assert sent.method == "POST"
    assert urlsplit(sent.url).query == "_method=GET"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(sent.body)
    assert form["filterValues"][0].split(",") == emails
    assert form["filterType"] == ["email"]


def test_short_filter_stays_a_get():
    session = ScriptedSession([ok([])])
    client, _ = client_for(session)
    client.get_leads_by_filter("email", ["a@example.com"], ["id"])
    sent = session.sent[0]
    assert sent.method == "GET"
    assert "filterValues=a%40example.com" in sent.url
    assert len(sent.url) < MAX_URL_CHARS


def test_http_414_is_resent_as_form_post():
    session = ScriptedSession([make_response(414, text="URI Too Long", ctype="text/plain"), ok([{"id": 5}])])
    client, _ = client_for(session)
    assert client.get_leads_by_filter("email", ["a@example.com"], ["id"]) == [{"id": 5}]
    assert [s.method for s in session.sent] == ["GET", "POST"]
    assert session.sent[1].url.endswith("?_method=GET")


def test_filter_values_chunked_by_300_and_paged():
    values = [f"u{i}@x.io" for i in range(650)]
    script = [
        ok([{"id": 1}], nextPageToken="P2"),
        ok([{"id": 2}]),
        ok([{"id": 3}, {"id": 3}]),
        ok([]),
    ]
    session = ScriptedSession(script)
    client, _ = client_for(session)
    rows = client.get_leads_by_filter("email", values, ["id"])
    assert rows == [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 3}]
    assert "nextPageToken=P2" in session.sent[1].url or "nextPageToken=P2" in (session.sent[1].body or "")
    assert client.calls == 4


# ---- retry ladder ---------------------------------------------------------------------------------------------


def test_transient_errors_back_off_then_succeed():
    script = [
        make_response(502, text="Bad Gateway", ctype="text/html"),
        requests.ConnectionError("reset"),
        fail("604", "Request timed out"),
        ok([{"id": 9}]),
    ]
    session = ScriptedSession(script)
    client, slept = client_for(session)
    assert client.describe_leads() == [{"id": 9}]
    assert slept == [0.5, 1.0, 2.0]  # full jitter at rng=0.5 of 1, 2, 4 s
    assert client.calls == 4


def test_transient_errors_exhaust_into_service_unavailable():
    session = ScriptedSession([fail("608", "unavailable")] * 4)
    client, _ = client_for(session, max_retries=3)
    with pytest.raises(ServiceUnavailable) as info:
        client.describe_leads()
    assert info.value.exit_code == ExitCode.TEMPFAIL
    assert client.calls == 4


def test_606_pauses_the_limiter_and_does_not_use_retries():
    limiter = Limiter(calls=1000, window_s=0.01)
    session = ScriptedSession([fail("606", "Max rate limit")] * 3 + [ok([{"id": 1}])])
    client, slept = client_for(session, limiter=limiter, max_retries=1)
    assert client.describe_leads() == [{"id": 1}]
    assert slept == []  # the pause happens inside the limiter, not as a failure backoff


def test_615_lowers_concurrency_and_retries():
    limiter = Limiter(calls=1000, window_s=0.01, max_concurrency=5)
    session = ScriptedSession([fail("615", "Concurrent access limit '10' reached"), ok([])])
    client, _ = client_for(session, limiter=limiter, max_retries=0)
    assert client.describe_leads() == []
    assert limiter.concurrency == 4


def test_token_renewed_once_on_602_then_auth_error_on_repeat():
    session = ScriptedSession([fail("602", "Access token expired"), ok([{"id": 1}])])
    client, _ = client_for(session)
    assert client.describe_leads() == [{"id": 1}]
    assert [s.headers["Authorization"] for s in session.sent] == ["Bearer tok-1", "Bearer tok-2"]

    session = ScriptedSession([fail("601", "Access token invalid"), fail("601", "Access token invalid")])
    client, _ = client_for(session)
    with pytest.raises(AuthError):
        client.describe_leads()


def test_same_token_handed_back_after_601_may_expire_once_more():
    same = make_response(200, {"access_token": "tok-old", "expires_in": 5, "token_type": "bearer"})
    session = ScriptedSession([fail("601"), fail("602"), ok([{"id": 1}])], identity=[same, same])
    client, _ = client_for(session)
    assert client.describe_leads() == [{"id": 1}]
    assert [s.headers["Authorization"] for s in session.sent] == ["Bearer tok-old", "Bearer tok-old", "Bearer tok-1"]

    session = ScriptedSession([fail("601")] * 2, identity=[same, same])
    client, _ = client_for(session)
    with pytest.raises(AuthError):  # the same token invalid twice: credentials, not timing
        client.describe_leads()


@pytest.mark.parametrize("failure", [requests.ReadTimeout("read timed out"), make_response(502, "Bad Gateway"),
                                     fail("604", "Request timed out"), fail("611", "System error")],
                         ids=["read-timeout", "502", "604", "611"])
def test_a_campaign_request_that_may_have_run_is_not_sent_again(failure):
    session = ScriptedSession([failure, ok([{"id": 1}])])
    client, _ = client_for(session)
    with pytest.raises(ServiceUnavailable) as info:
        client.request_campaign(1001, [5])
    assert "not sent again" in info.value.message
    assert len(session.sent) == 1


@pytest.mark.parametrize("failure", [requests.exceptions.ConnectTimeout("connect timed out"),
                                     make_response(503, "Service Unavailable"), fail("606", "Max rate limit"),
                                     fail("608", "API Temporarily Unavailable"), fail("602", "Access token expired")],
                         ids=["connect-timeout", "503", "606", "608", "602"])
def test_a_campaign_request_surely_not_run_is_retried(failure):
    session = ScriptedSession([failure, ok([{"id": 5, "status": "queued"}])])
    client, _ = client_for(session)
    assert client.request_campaign(1001, [5]) == [{"id": 5, "status": "queued"}]
    assert len(session.sent) == 2


def test_identity_401_is_auth_error_without_the_secret():
    refused = make_response(401, {"error": "invalid_client", "error_description": f"Bad client {SECRET}"})
    session = ScriptedSession([], identity=[refused])
    client, _ = client_for(session)
    with pytest.raises(AuthError) as info:
        client.describe_leads()
    assert "refused the client id/secret" in str(info.value)
    assert SECRET not in str(info.value)
    assert SECRET not in (info.value.hint or "")
    assert client.calls == 0


def test_607_raises_quota_exhausted_with_the_reset_time():
    session = ScriptedSession([fail("607", "Daily quota reached")])
    client, _ = client_for(session)
    with pytest.raises(MarketoQuotaExhausted) as info:
        client.describe_leads()
    assert info.value.exit_code == ExitCode.TEMPFAIL
    assert "00:00 C" in str(info.value)
    assert info.value.resume_at


def test_export_quota_is_its_own_temporary_failure():
    session = ScriptedSession([fail("1029", "Export daily quota 500MB exceeded.")])
    client, _ = client_for(session)
    with pytest.raises(ExportQuotaExhausted):
        client.bulk_extract_enqueue("leads", "abc")


def test_queue_full_waits_then_succeeds():
    session = ScriptedSession([fail("1016", "Too many imports"), ok([{"batchId": 7, "status": "Queued"}])])
    client, slept = client_for(session, queue_wait_s=4.0)
    assert client.bulk_import_leads(b"email\na@x.io\n")["batchId"] == 7
    assert slept == [3.0]


def test_702_is_an_empty_result():
    session = ScriptedSession([fail("702", "No data found")])
    client, _ = client_for(session)
    assert client.get_campaigns() == []


def test_702_where_a_file_was_expected_is_an_error_not_an_empty_file():
    session = ScriptedSession([fail("702", "No data found")])
    client, _ = client_for(session)
    with pytest.raises(MarketoError) as info:
        client.bulk_import_failures(7)
    assert "/bulk/v1/leads/batch/7/failures.json returned no file" in str(info.value)
    assert len(session.sent) == 1


def test_603_is_fatal_with_the_permission_hint():
    session = ScriptedSession([fail("603", "Access denied")])
    client, _ = client_for(session)
    with pytest.raises(MarketoError) as info:
        client.request_campaign(12, [1, 2])
    assert info.value.code == "603"
    assert "Execute Campaign" in (info.value.hint or "")


def test_unknown_code_is_retried_once_then_fatal():
    session = ScriptedSession([fail("799", "new thing"), fail("799", "new thing")])
    client, _ = client_for(session)
    with pytest.raises(MarketoError) as info:
        client.describe_leads()
    assert info.value.code == "799"
    assert client.calls == 2


def test_413_raises_a_typed_error_for_splitting():
    session = ScriptedSession([make_response(413, text="Request Entity Too Large", ctype="text/plain")])
    client, _ = client_for(session)
    with pytest.raises(MarketoPayloadTooLarge) as info:
        client.sync_leads([{"email": "a@x.io", "notes": "x" * 100}])
    assert info.value.size > 100
    assert info.value.code == "413"


def test_write_methods_refuse_oversize_batches():
    client, _ = client_for(ScriptedSession([]))
    with pytest.raises(ValueError):
        client.sync_leads([{"email": f"{i}@x.io"} for i in range(301)])
    with pytest.raises(ValueError):
        client.request_campaign(1, list(range(101)))
    with pytest.raises(ValueError):
        client.get_lead_activities("T", list(range(11)))
    assert client.calls == 0


# ---- activities -----------------------------------------------------------------------------------------------


def test_activity_pager_honours_empty_pages_and_caps_them(caplog):
    script = [
        ok(None, moreResult=True, nextPageToken="T1"),  # no `result` key at all
        ok([{"marketoGUID": "1"}], moreResult=True, nextPageToken="T2"),
        ok([], moreResult=True, nextPageToken="T3"),
        ok(None, moreResult=True, nextPageToken="T4"),
        ok(None, moreResult=True, nextPageToken="T5"),
    ]
    session = ScriptedSession(script)
    client, _ = client_for(session)
    pager = ActivityPager(client, "T0", [7, 10], max_empty_pages=3)
    pages = list(pager)
    assert [len(p.activities) for p in pages] == [0, 1, 0, 0, 0]
    assert pager.capped
    assert pager.token == "T5"
    assert "empty activity pages" in caplog.text


def test_activity_pager_stops_when_no_more_results():
    session = ScriptedSession([ok([{"marketoGUID": "9"}], moreResult=False, nextPageToken="END")])
    client, _ = client_for(session)
    pager = ActivityPager(client, "T0", [7])
    assert [p.activities for p in pager] == [[{"marketoGUID": "9"}]]
    assert pager.token == "END"
    assert not pager.capped
