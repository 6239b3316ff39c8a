"""Sandbox limits (606 window, 615 concurrency, 607 quota, non-counting codes) and scripted faults."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from segmarketo_cli.sandbox import Sandbox, SandboxConfig

CREDS = {"grant_type": "client_credentials", "client_id": "sandbox-client", "client_secret": "sandbox-secret"}


def session_for(box: Sandbox) -> requests.Session:
    session = requests.Session()
    tok = session.get(f"{box.url}/identity/oauth/token", params=CREDS).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {tok}"
    return session


def describe(box: Sandbox, session: requests.Session, **kwargs) -> requests.Response:
    return session.get(f"{box.url}/rest/v1/leads/describe.json", timeout=kwargs.pop("timeout", 10), **kwargs)


def code_of(response: requests.Response) -> str | None:
    body = response.json()
    return None if body["success"] else body["errors"][0]["code"]


def test_sliding_window_gives_606_then_frees():
    with Sandbox(config=SandboxConfig(rate_limit_calls=5, window_s=0.5)) as box:
        session = session_for(box)
        codes = [code_of(describe(box, session)) for _ in range(7)]
        assert codes == [None] * 5 + ["606", "606"]
        assert box.marketo.rate_limited == 2
        assert box.marketo.calls == 5
        time.sleep(0.6)
        assert code_of(describe(box, session)) is None
        assert session.get(f"{box.url}/identity/oauth/token", params=CREDS).status_code == 200  # never limited


def test_concurrency_limit_counts_in_flight_requests():
    with Sandbox(config=SandboxConfig(max_concurrency=2, latency_s=0.3)) as box:
        session = session_for(box)
        codes: list[str | None] = []
        lock = threading.Lock()

        def one() -> None:
            reply = requests.get(f"{box.url}/rest/v1/leads/describe.json", headers=session.headers, timeout=10)
            with lock:
                codes.append(code_of(reply))

        threads = [threading.Thread(target=one) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert codes.count(None) == 2
        assert codes.count("615") == 3
        assert box.limits.peak_in_flight == 2


def test_daily_quota_607_and_usage_stats():
    with Sandbox(config=SandboxConfig(daily_quota=3)) as box:
        session = session_for(box)
        assert [code_of(describe(box, session)) for _ in range(2)] == [None, None]
        usage = session.get(f"{box.url}/rest/v1/stats/usage.json").json()["result"][0]
        assert usage["total"] == 3  # the usage call itself counts
        assert code_of(describe(box, session)) == "607"
        box.limits.set_used_today(0)
        assert code_of(describe(box, session)) is None


def test_non_counting_codes_are_not_counted():
    with Sandbox(config=SandboxConfig(rate_limit_calls=3, window_s=30)) as box:
        session = session_for(box)
        box.faults.add("604", times=1)
        box.faults.add("611", times=1)
        assert [code_of(describe(box, session)) for _ in range(2)] == ["604", "611"]
        for _ in range(4):
            requests.get(f"{box.url}/rest/v1/leads/describe.json", headers={"Authorization": "Bearer nope"})
        assert [code_of(describe(box, session)) for _ in range(4)] == [None, None, None, "606"]
        assert box.marketo.calls == 3


def test_marketo_code_faults_then_recovery_scoped_by_path():
    with Sandbox() as box:
        session = session_for(box)
        box.faults.add("606", times=2, path="/rest/v1/leads/describe")
        box.faults.add("713", times=1)
        assert code_of(session.get(f"{box.url}/rest/v1/stats/usage.json")) == "713"
        assert [code_of(describe(box, session)) for _ in range(3)] == ["606", "606", None]
        assert box.faults.pending == 0
        assert box.marketo.rate_limited == 2


@pytest.mark.parametrize("status", [500, 502, 503, 413, 414])
def test_http_status_faults(status):
    with Sandbox() as box:
        session = session_for(box)
        box.faults.add(status)
        assert describe(box, session).status_code == status
        assert describe(box, session).status_code == 200


def test_reset_drops_the_connection_and_timeout_stalls():
    with Sandbox(config=SandboxConfig(timeout_fault_s=0.5)) as box:
        session = session_for(box)
        box.faults.add("reset")
        with pytest.raises(requests.ConnectionError):
            describe(box, session)
        box.faults.add("timeout")
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            describe(box, session, timeout=0.2)
        assert time.monotonic() - started < 0.5
        time.sleep(0.4)
        assert describe(box, session).status_code == 200


def test_identity_faults_and_latency():
    with Sandbox(config=SandboxConfig(latency_s=0.05, latency_per_record_s=0.001)) as box:
        box.faults.add(503, path="/identity")
        assert requests.get(f"{box.url}/identity/oauth/token", params=CREDS).status_code == 503
        session = session_for(box)
        started = time.monotonic()
        describe(box, session)
        fields = len(box.marketo.store.fields)
        assert time.monotonic() - started >= 0.05 + 0.001 * fields * 0.9


def test_inspector_endpoints_are_free_and_script_faults():
    with Sandbox() as box:
        requests.post(f"{box.url}/_sandbox/faults", json={"code": "606", "times": 1})
        session = session_for(box)
        assert code_of(describe(box, session)) == "606"
        state = requests.get(f"{box.url}/_sandbox/state").json()
        assert state["marketo"]["rate_limited"] == 1
        assert state["usage_today"] == 0
