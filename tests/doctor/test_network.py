"""`doctor` against endpoints that are unreachable, hung, failing or resetting: one FAIL line each, no traceback."""

from __future__ import annotations

import json
import socket

import pytest

from segmarketo_cli import doctor as doctor_module
from tests.support.local_servers import SilentServer, closed_port

REMOTE = ("marketo token", "describe", "lead partitions", "activity types", "api usage")


@pytest.fixture
def no_dns(monkeypatch):
    """`.invalid` names fail locally (RFC 6761); no look-up leaves the machine."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if str(host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def checks_of(result) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in json.loads(result.stdout)}


def run_doctor(invoke):
    result = invoke("doctor", "--json")
    assert "Traceback" not in result.output
    assert result.exit_code == 1, result.output
    return checks_of(result)


def test_unresolvable_host_is_one_failed_line(invoke, sandbox, monkeypatch, no_dns):
    monkeypatch.setenv("SEGMARKETO_MARKETO_ENDPOINT", "https://nosuch.invalid")
    checks = run_doctor(invoke)
    assert checks["marketo token"]["status"] == "fail"
    assert "nosuch.invalid" in checks["marketo token"]["detail"]
    assert "does not resolve" in checks["marketo token"]["detail"]
    assert [checks[name]["status"] for name in REMOTE[1:]] == ["skip"] * 4


def test_refused_identity_is_one_failed_line(invoke, sandbox, monkeypatch):
    monkeypatch.setenv("SEGMARKETO_MARKETO_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    checks = run_doctor(invoke)
    assert "refused" in checks["marketo token"]["detail"]


@pytest.mark.parametrize("fault, said", [(503, "HTTP 503"), ("reset", "connection")])
def test_failing_identity_is_one_failed_line(invoke, sandbox, fault, said):
    sandbox.faults.add(fault, times=10, path="/identity/")
    checks = run_doctor(invoke)
    assert checks["marketo token"]["status"] == "fail"
    assert said in checks["marketo token"]["detail"]
    assert len(sandbox.faults.fired) == doctor_module.DOCTOR_RETRIES + 1


def test_hung_identity_is_one_failed_line_after_few_attempts(invoke, sandbox, monkeypatch):
    monkeypatch.setattr(doctor_module, "DOCTOR_READ_TIMEOUT_S", 0.2)
    with SilentServer() as silent:
        monkeypatch.setenv("SEGMARKETO_MARKETO_ENDPOINT", silent.url)
        checks = run_doctor(invoke)
    assert "did not answer within 0.2 s" in checks["marketo token"]["detail"]
    assert silent.accepted == doctor_module.DOCTOR_RETRIES + 1


def test_hung_rest_endpoint_fails_once_and_skips_the_other_remote_checks(invoke, sandbox, monkeypatch):
    monkeypatch.setattr(doctor_module, "DOCTOR_READ_TIMEOUT_S", 0.2)
    sandbox.faults.add("timeout", times=50, path="/rest/", delay_s=1.0)
    checks = run_doctor(invoke)
    assert checks["marketo token"]["status"] == "ok"
    assert checks["describe"]["status"] == "fail"
    assert "did not answer" in checks["describe"]["detail"]
    assert [checks[name]["status"] for name in REMOTE[2:]] == ["skip"] * 3
    assert len(sandbox.faults.fired) == doctor_module.DOCTOR_RETRIES + 1
