"""MarketoClient against the local sandbox: tokens, throttling, quota, transient faults, long URLs, record results."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
import requests

from segmarketo_cli.errors import AuthError, ExitCode, MarketoQuotaExhausted, ServiceUnavailable
from segmarketo_cli.http import make_session
from segmarketo_cli.marketo import Limiter, MarketoClient
from segmarketo_cli.marketo.codes import record_bucket, record_outcome
from segmarketo_cli.marketo.exceptions import MarketoPayloadTooLarge
from segmarketo_cli.sandbox import Sandbox, SandboxConfig

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret-for-client-tests"


class RecordingSession(requests.Session):
    """A real session that remembers (method, url) of every REST call."""

    def __init__(self) -> None:
        super().__init__()
        base = make_session()
        self.headers.update(base.headers)
        self.trust_env = False
        self.sent: list[tuple[str, str]] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        self.sent.append((method, url))
        return super().request(method, url, *args, **kwargs)


def client_for(box: Sandbox, *, secret: str | None = None, **kwargs) -> MarketoClient:
    kwargs.setdefault("limiter", Limiter(calls=100, window_s=1.0, max_concurrency=5))
    kwargs.setdefault("sleep", lambda _s: None)  # backoff waits are not what these tests measure
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("max_retries", 4)
    return MarketoClient(box.url, box.client_id, secret or box.client_secret, **kwargs)


@pytest.fixture
def small_box():
    """A sandbox with 1 s windows and tight limits, for real (not scripted) throttling."""
    config = SandboxConfig(rate_limit_calls=6, window_s=1.0, max_concurrency=2, timeout_fault_s=1.0)
    with Sandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, config=config) as box:
        yield box


def batch(prefix: str, n: int) -> list[dict]:
    return [{"email": f"{prefix}{i}@example.com", "firstName": f"F{i}"} for i in range(n)]


def emails_in(box: Sandbox) -> Counter:
    return Counter(lead["email"] for lead in box.marketo.leads)


# ---- tokens ---------------------------------------------------------------------------------------------------


def test_expired_token_mid_run_is_renewed_and_nothing_is_lost(sandbox):
    client = client_for(sandbox)
    assert [r["status"] for r in client.sync_leads(batch("a", 3))] == ["created"] * 3
    sandbox.expire_token()
    assert [r["status"] for r in client.sync_leads(batch("b", 3))] == ["created"] * 3
    assert client.tokens_issued == 2
    assert emails_in(sandbox) == Counter({f"{p}{i}@example.com": 1 for p in "ab" for i in range(3)})


def test_short_token_lifetime_renews_before_use():
    config = SandboxConfig(token_ttl_s=1)
    with Sandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, config=config) as box:
        client = client_for(box)
        client.describe_leads2()
        time.sleep(1.1)
        client.describe_leads2()
        assert box.identity.issued == 2
        assert client.calls == 2  # the lapsed token never reached a REST call


def test_revoked_token_twice_in_a_row_is_an_auth_error(sandbox):
    client = client_for(sandbox)
    client.describe_leads2()
    sandbox.faults.add("601", times=2)
    with pytest.raises(AuthError):
        client.describe_leads2()


def test_bad_secret_is_auth_error_without_the_secret(sandbox, caplog):
    wrong = "wrong-secret-5f9a2c71"
    caplog.set_level(logging.DEBUG)
    client = client_for(sandbox, secret=wrong)
    with pytest.raises(AuthError) as info:
        client.sync_leads(batch("x", 1))
    message = f"{info.value} {info.value.hint}"
    assert "refused the client id/secret" in message
    assert wrong not in message
    assert wrong not in caplog.text
    assert info.value.exit_code == ExitCode.ERROR
    assert sandbox.marketo.leads == []
    assert client.calls == 0


# ---- throttling -----------------------------------------------------------------------------------------------


def test_606_and_615_bursts_are_backed_off_without_losing_or_duplicating(sandbox):
    sandbox.faults.add("606", times=3, path="/rest/v1/leads.json")
    sandbox.faults.add("615", times=2, path="/rest/v1/leads.json")
    limiter = Limiter(calls=100, window_s=0.2, max_concurrency=5)
    client = client_for(sandbox, limiter=limiter, max_retries=0)  # throttling must not spend failure retries
    results = client.sync_leads(batch("t", 300)) + client.sync_leads(batch("u", 300))
    assert Counter(r["status"] for r in results) == {"created": 600}
    assert emails_in(sandbox) == Counter({f"{p}{i}@example.com": 1 for p in "tu" for i in range(300)})
    assert sandbox.faults.pending == 0
    assert sandbox.marketo.rate_limited >= 3


def test_real_rate_limit_is_respected_after_606(small_box):
    # The client's own limiter allows more than the server (6 per 1 s): the server answers 606 and the
    # client pauses its window instead of failing.
    client = client_for(small_box, limiter=Limiter(calls=50, window_s=1.0, max_concurrency=1))
    for i in range(8):
        client.sync_leads(batch(f"r{i}-", 2))
    assert small_box.marketo.rate_limited >= 1
    assert len(small_box.marketo.leads) == 16
    assert len(emails_in(small_box)) == 16


def test_real_concurrency_limit_lowers_in_flight_calls():
    config = SandboxConfig(max_concurrency=2, latency_s=0.05)
    with Sandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, config=config) as box:
        limiter = Limiter(calls=100, window_s=1.0, max_concurrency=5)
        client = client_for(box, limiter=limiter, max_retries=0)
        errors: list[BaseException] = []

        def push(i: int) -> None:
            try:
                client.sync_leads(batch(f"c{i}-", 5))
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=push, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(box.marketo.leads) == 40
        assert len(emails_in(box)) == 40
        assert box.marketo.counters["concurrency_limited"] >= 1  # the server did refuse some calls
        assert limiter.concurrency < 5


# ---- quota ----------------------------------------------------------------------------------------------------


def test_607_stops_with_quota_exhausted(sandbox):
    client = client_for(sandbox)
    client.sync_leads(batch("q", 2))
    sandbox.faults.add("607")
    with pytest.raises(MarketoQuotaExhausted) as info:
        client.sync_leads(batch("r", 2))
    assert info.value.exit_code == ExitCode.TEMPFAIL
    assert "resets at" in str(info.value)
    assert "America/Chicago" not in str(info.value)
    assert info.value.resume_at
    assert info.value.resume_at.endswith(("-05:00", "-06:00"))
    assert len(sandbox.marketo.leads) == 2


def test_real_daily_quota_gives_607():
    config = SandboxConfig(daily_quota=2)
    with Sandbox(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, config=config) as box:
        client = client_for(box)
        client.describe_leads2()
        client.describe_leads2()
        with pytest.raises(MarketoQuotaExhausted):
            client.describe_leads2()


def test_daily_budget_stops_before_marketo_is_called(sandbox):
    client = client_for(sandbox, limiter=Limiter(calls=100, window_s=1.0, daily_budget=1))
    client.describe_leads2()
    with pytest.raises(MarketoQuotaExhausted) as info:
        client.describe_leads2()
    assert "budget" in str(info.value)
    assert client.calls == 1


# ---- transient failures ---------------------------------------------------------------------------------------


def test_5xx_reset_and_transient_codes_are_retried(sandbox):
    for fault in (502, "reset", 500, "604", "713"):
        sandbox.faults.add(fault, path="/rest/v1/leads.json")
    client = client_for(sandbox, max_retries=5)
    results = client.sync_leads(batch("z", 50))
    assert [r["status"] for r in results] == ["created"] * 50
    assert emails_in(sandbox) == Counter({f"z{i}@example.com": 1 for i in range(50)})
    assert client.calls == 6


def test_read_timeout_is_retried(small_box):
    small_box.faults.add("timeout", path="/rest/v1/leads/describe2.json")
    client = client_for(small_box, timeout=0.3)
    assert client.describe_leads2()["searchableFields"]
    assert client.calls == 2


def test_retries_run_out_into_exit_75(sandbox):
    sandbox.faults.add(503, times=3)
    client = client_for(sandbox, max_retries=2)
    with pytest.raises(ServiceUnavailable) as info:
        client.describe_leads2()
    assert info.value.exit_code == ExitCode.TEMPFAIL


# ---- request shapes -------------------------------------------------------------------------------------------


def test_long_url_fallback_finds_every_lead_and_duplicate(sandbox):
    emails = [f"a.rather.long.mailbox.name.number.{i:04d}@subsidiary.example-company.com" for i in range(300)]
    for email in emails:
        sandbox.marketo.add_lead(email=email)
    sandbox.marketo.add_lead(email=emails[7])  # a duplicate in Marketo
    session = RecordingSession()
    client = client_for(sandbox, session=session)
    rows = client.get_leads_by_filter("email", emails, ["id", "email"])
    assert Counter(r["email"] for r in rows) == Counter(emails + [emails[7]])
    rest = [(m, u) for m, u in session.sent if "/rest/" in u]
    # 301 rows at 300 a page: two pages, both sent as form posts
    assert rest == [("POST", f"{sandbox.url}/rest/v1/leads.json?_method=GET")] * 2


def test_http_414_rewrites_the_call(sandbox):
    sandbox.marketo.add_lead(email="short@example.com")
    sandbox.faults.add(414, path="/rest/v1/leads.json")
    session = RecordingSession()
    client = client_for(sandbox, session=session)
    assert [r["email"] for r in client.get_leads_by_filter("email", ["short@example.com"])] == ["short@example.com"]
    methods = [(m, urlsplit(u).query) for m, u in session.sent if "/rest/" in u]
    assert methods[0][0] == "GET"
    assert methods[1] == ("POST", "_method=GET")


def test_http_413_raises_the_split_error(sandbox):
    sandbox.faults.add(413, path="/rest/v1/leads.json")
    client = client_for(sandbox)
    with pytest.raises(MarketoPayloadTooLarge):
        client.sync_leads(batch("big", 10))
    assert sandbox.marketo.leads == []


def test_record_results_in_input_order_with_skipped_rows(sandbox):
    sandbox.marketo.add_lead(email="dup@example.com")
    sandbox.marketo.add_lead(email="dup@example.com")
    existing = sandbox.marketo.add_lead(email="old@example.com")
    records = [
        {"email": "new@example.com", "firstName": "New"},
        {"email": "bad-address"},  # 1003 invalid e-mail
        {"email": "old@example.com", "leadScore": 40},
        {"email": "field@example.com", "noSuchField": "x"},  # 1006
        {"email": "dup@example.com", "firstName": "Dup"},  # 1007
        {"email": "score@example.com", "leadScore": 14.1},  # 1003 integer
    ]
    results = client_for(sandbox).sync_leads(records)
    assert [r["status"] for r in results] == ["created", "skipped", "updated", "skipped", "skipped", "skipped"]
    assert results[2]["id"] == existing
    codes = [r["reasons"][0]["code"] if r["status"] == "skipped" else None for r in results]
    assert codes == [None, "1003", None, "1006", "1007", "1003"]
    assert [record_bucket(r) for r in results] == ["created", "rejected", "updated", "rejected", "rejected", "rejected"]
    assert record_outcome(results[4]).reason == "duplicate_in_marketo"
    assert sandbox.marketo.lead(existing)["leadScore"] == 40
    assert len(sandbox.marketo.find_leads("email", "new@example.com")) == 1


def test_list_members_page_past_300(sandbox):
    list_id = sandbox.marketo.add_list("Big list")
    ids = [sandbox.marketo.add_lead(email=f"m{i}@example.com") for i in range(650)]
    sandbox.marketo.add_to_list(list_id, ids)
    client = client_for(sandbox)
    members = list(client.iter_list_members(list_id))
    assert sorted(m["id"] for m in members) == ids
    assert client.calls == 3


def test_debug_log_has_one_line_per_call_and_no_secrets(sandbox, caplog):
    caplog.set_level(logging.DEBUG, logger="segmarketo.http")
    client = client_for(sandbox)
    client.sync_leads(batch("log", 2))
    sandbox.faults.add("606", path="/rest/v1/leads/describe2.json")
    client.describe_leads2()
    token = sandbox.identity.current.value
    lines = [r.getMessage() for r in caplog.records if r.name == "segmarketo.http"]
    assert any(line.startswith("POST /rest/v1/leads.json -> 200") and "requestId=" in line for line in lines)
    assert any("describe2.json -> 200" in line and "errors=606" in line for line in lines)
    assert len([line for line in lines if "/rest/" in line]) == client.calls == 3
    assert token not in caplog.text
    assert sandbox.client_secret not in caplog.text


def test_identity_outage_is_retried_then_gives_exit_75(sandbox):
    sandbox.faults.add(503, times=2, path="/identity/oauth/token")
    client = client_for(sandbox, max_retries=3)
    assert client.describe_leads2()["searchableFields"]
    assert client.calls == 1  # identity retries are not REST calls

    sandbox.faults.add("reset", times=5, path="/identity/oauth/token")
    fresh = client_for(sandbox, max_retries=2)
    with pytest.raises(ServiceUnavailable):
        fresh.describe_leads2()


def test_delete_leads_300_per_call_and_refuses_more(sandbox):
    client = client_for(sandbox)
    ids = [sandbox.marketo.add_lead(email=f"d{i}@example.com") for i in range(3)]
    rows = client.delete_leads([ids[0], ids[2], 424242])
    assert [row["status"] for row in rows] == ["deleted", "deleted", "skipped"]
    assert record_bucket(rows[2]) == "not_found"
    assert [lead["id"] for lead in sandbox.marketo.leads] == [ids[1]]
    assert client.delete_leads([]) == []
    with pytest.raises(ValueError, match="at most 300"):
        client.delete_leads(list(range(301)))
