"""A hung Marketo gives up within a bounded budget (exit 75); HTTP 429 waits for Retry-After, then exit 75."""

from __future__ import annotations

import json

import pytest

from segmarketo_cli.config import Settings
from segmarketo_cli.errors import ExitCode, ServiceUnavailable
from segmarketo_cli.http import READ_TIMEOUT_RETRIES
from segmarketo_cli.marketo import Limiter, MarketoClient
from segmarketo_cli.marketo.client import HUNG_BUDGET_S
from segmarketo_cli.marketo.leads import SYNC_TIMEOUT_S
from tests.support.local_servers import SilentServer
from tests.support.sandbox_env import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET


def client_for(url: str, **kwargs) -> tuple[MarketoClient, list[float]]:
    slept: list[float] = []
    client = MarketoClient(url, SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, limiter=Limiter(window_s=0.05),
                           sleep=slept.append, **kwargs)
    return client, slept


def people_file(tmp_path, n: int = 3):
    path = tmp_path / "people.jsonl"
    path.write_text("".join(json.dumps({"type": "identify", "userId": f"u{i}", "messageId": f"m{i}",
                                        "timestamp": "2024-05-01T00:00:00Z",
                                        "traits": {"email": f"p{i}@example.com"}}) + "\n" for i in range(n)))
    return path


# ---- issue 12 item 8: a hung Marketo ---------------------------------------------------------------------------


def test_default_read_timeout_covers_sync_leads_and_a_hang_fits_the_budget():
    settings = Settings()
    assert settings.http_timeout_s >= SYNC_TIMEOUT_S
    assert (READ_TIMEOUT_RETRIES + 1) * settings.http_timeout_s <= HUNG_BUDGET_S


def test_a_hung_rest_call_is_retried_once_then_temporary(sandbox):
    sandbox.faults.add("timeout", times=20, path="/rest/", delay_s=1.0)
    client, _ = client_for(sandbox.url, timeout=0.2, max_retries=6)
    with pytest.raises(ServiceUnavailable) as info:
        client.describe_leads()
    assert "did not answer within 0.2 s" in info.value.message
    assert len(sandbox.faults.fired) == READ_TIMEOUT_RETRIES + 1


def test_a_hung_identity_endpoint_is_retried_once_then_temporary():
    with SilentServer() as silent:
        client, _ = client_for(silent.url, timeout=0.2, max_retries=6)
        with pytest.raises(ServiceUnavailable) as info:
            client.describe_leads()
    assert "did not answer" in info.value.message
    assert silent.accepted == READ_TIMEOUT_RETRIES + 1


def test_backfill_against_a_hung_marketo_exits_75(invoke, sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("SEGMARKETO_HTTP_TIMEOUT_S", "0.2")
    sandbox.faults.add("timeout", times=50, path="/rest/", delay_s=1.0)
    result = invoke("backfill-leads", str(people_file(tmp_path)))
    assert result.exit_code == ExitCode.TEMPFAIL, result.output
    assert "did not answer" in result.stderr
    assert "Traceback" not in result.output


# ---- issue 11 item 11: Marketo HTTP 429 ------------------------------------------------------------------------


def test_sandbox_answers_marketo_429_with_retry_after(box, api):
    box.faults.add(429, path="/rest/", retry_after=7)
    reply = api("GET", "/rest/v1/leads/describe.json", raw=True)
    assert reply.status_code == 429
    assert reply.headers["Retry-After"] == "7"


def test_marketo_429_waits_for_retry_after_then_succeeds(sandbox):
    sandbox.faults.add(429, times=2, path="/rest/", retry_after=7)
    client, slept = client_for(sandbox.url, max_retries=6)
    assert client.describe_leads()
    assert slept == [7.0, 7.0]


def test_marketo_429_with_retry_after_0_retries_at_once(sandbox):
    sandbox.faults.add(429, times=1, path="/rest/", retry_after=0)
    client, slept = client_for(sandbox.url, max_retries=6, rng=lambda: 0.5)
    assert client.describe_leads()
    assert slept == [0.0]


def test_marketo_429_asking_too_long_is_temporary_at_once(sandbox):
    sandbox.faults.add(429, times=5, path="/rest/", retry_after=7200)
    client, slept = client_for(sandbox.url, max_retries=6)
    with pytest.raises(ServiceUnavailable) as info:
        client.describe_leads()
    assert "7200" in info.value.message
    assert slept == []


def test_a_campaign_request_answered_429_is_sent_again(sandbox):
    campaign = sandbox.marketo.add_campaign("Welcome", type="trigger")
    lead = sandbox.marketo.add_lead(email="a@example.com")
    sandbox.faults.add(429, times=1, path="/rest/v1/campaigns/", retry_after=1)
    client, slept = client_for(sandbox.url, max_retries=6)
    client.request_campaign(campaign, [lead])
    assert slept == [1.0]
    assert len(sandbox.marketo.campaign_requests(campaign)) == 1


def test_persistent_marketo_429_ends_in_exit_75(invoke, sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("SEGMARKETO_MAX_RETRIES", "2")
    sandbox.faults.add(429, times=50, path="/rest/", retry_after=0)
    result = invoke("backfill-leads", str(people_file(tmp_path)))
    assert result.exit_code == ExitCode.TEMPFAIL, result.output
    assert "429" in result.stderr
