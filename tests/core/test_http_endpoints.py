"""Endpoints that cannot be right (unknown host, refused, TLS, redirects) and proxy / CA-bundle settings."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from segmarketo_cli.errors import ConfigError, ServiceUnavailable
from segmarketo_cli.http import make_session
from segmarketo_cli.marketo import Limiter, MarketoClient
from segmarketo_cli.segment.sender import BatchSender
from tests.support.local_servers import (
    LocalServer,
    answer_json,
    closed_port,
    forward_proxy,
    redirect_to,
    self_signed_tls,
)
from tests.support.sandbox_env import SANDBOX_CLIENT_SECRET, SANDBOX_WRITE_KEY
from tests.support.writeback_helpers import populate

UNRESOLVABLE = "nosuch.invalid"


@pytest.fixture
def lookups(monkeypatch) -> list[tuple[str, object]]:
    """Count name look-ups; `.invalid` names fail locally (RFC 6761) so no query ever leaves the machine."""
    real = socket.getaddrinfo
    seen: list[tuple[str, object]] = []

    def getaddrinfo(host, port, *args, **kwargs):
        seen.append((str(host), port))
        if str(host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return seen


@pytest.fixture
def people(tmp_path) -> Path:
    path = tmp_path / "people.jsonl"
    path.write_text(json.dumps({"type": "identify", "userId": "u1", "messageId": "m1",
                                "timestamp": "2024-05-01T00:00:00Z", "traits": {"email": "p1@example.com"}}) + "\n")
    return path


@pytest.fixture
def marketo_env(monkeypatch):
    """Credentials for a profile whose Marketo endpoint each test sets itself."""
    monkeypatch.setenv("SEGMARKETO_MARKETO_CLIENT_ID", "cid")
    monkeypatch.setenv("SEGMARKETO_MARKETO_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)
    monkeypatch.setenv("SEGMARKETO_SEGMENT_WRITE_KEY", SANDBOX_WRITE_KEY)

    def point_at(url: str) -> None:
        monkeypatch.setenv("SEGMARKETO_MARKETO_ENDPOINT", url)

    return point_at


def error_lines(result) -> list[str]:
    """The error lines on stderr: "segmarketo: error: ..." or a job report's "Stopped: ..."; never a traceback."""
    assert "Traceback" not in result.output
    return [line for line in result.stderr.splitlines() if line.startswith(("segmarketo: error", "Stopped:"))]


# ---- item 9: a wrong endpoint is a configuration error, at once -----------------------------------------------


def test_unresolvable_marketo_host_is_a_config_error_without_retries(invoke, marketo_env, people, lookups):
    marketo_env(f"https://{UNRESOLVABLE}")
    result = invoke("backfill-leads", str(people))
    assert result.exit_code == 2, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert UNRESOLVABLE in lines[0]
    assert "does not resolve" in lines[0]
    assert [host for host, _ in lookups].count(UNRESOLVABLE) == 1


def test_refused_marketo_port_is_a_config_error_without_retries(invoke, marketo_env, people, lookups):
    port = closed_port()
    marketo_env(f"http://127.0.0.1:{port}")
    result = invoke("backfill-leads", str(people))
    assert result.exit_code == 2, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert f"127.0.0.1:{port}" in lines[0]
    assert "refused" in lines[0]
    assert [p for _, p in lookups].count(port) == 1


def test_tls_failure_on_first_contact_is_a_config_error(invoke, marketo_env, people):
    with LocalServer(answer_json()) as plain:  # speaks plain http: the TLS handshake fails
        endpoint = plain.url.replace("http://", "https://")
        marketo_env(endpoint)
        result = invoke("backfill-leads", str(people))
    assert result.exit_code == 2, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert endpoint in lines[0]
    assert "TLS" in lines[0]
    assert "REQUESTS_CA_BUNDLE" in lines[0]
    assert plain.seen == []


def test_a_resolver_that_cannot_answer_is_temporary(monkeypatch):
    def getaddrinfo(host, port, *args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    slept: list[float] = []
    client = MarketoClient(f"https://{UNRESOLVABLE}", "cid", SANDBOX_CLIENT_SECRET, max_retries=2,
                           sleep=slept.append)
    with pytest.raises(ServiceUnavailable) as info:
        client.fetch_token()
    assert "could not be looked up" in info.value.message
    assert len(slept) == 2


def test_a_refusing_proxy_is_named(invoke, sandbox, people, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    result = invoke("backfill-leads", str(people))
    assert result.exit_code == 2, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert "through the proxy" in lines[0]


@pytest.mark.parametrize("status", [403, 407])
def test_a_proxy_refusing_the_tunnel_is_a_configuration_error(invoke, people, marketo_env, monkeypatch, status):
    # an HTTPS proxy's policy or credentials: exit 2 at once, never seven retries and 75
    monkeypatch.setenv("SEGMARKETO_MAX_RETRIES", "1")
    with LocalServer(lambda seen: (status, {"Proxy-Authenticate": "Basic"}, b"")) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        marketo_env("https://123-ABC-456.mktorest.com")
        result = invoke("backfill-leads", str(people))
    assert result.exit_code == 2, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert f"the proxy refused the tunnel with HTTP {status}" in lines[0]
    assert [seen.method for seen in proxy.seen] == ["CONNECT"]


def test_a_proxy_failing_the_tunnel_is_temporary_and_says_so():
    with LocalServer(lambda seen: (502, {}, b"")) as proxy:
        session = make_session()
        session.proxies = {"https": proxy.url}
        client = MarketoClient("https://123-ABC-456.mktorest.com", "cid", SANDBOX_CLIENT_SECRET, session=session,
                               limiter=Limiter(), max_retries=1, sleep=lambda s: None)
        with pytest.raises(ServiceUnavailable) as info:
            client.fetch_token()
    assert "the proxy could not open a tunnel to it (HTTP 502" in info.value.message


def test_refused_after_marketo_answered_stays_temporary(sandbox):
    slept: list[float] = []
    client = MarketoClient(sandbox.url, "sandbox-client", SANDBOX_CLIENT_SECRET, limiter=Limiter(window_s=0.05),
                           max_retries=2, sleep=slept.append)
    client.fetch_token()
    sandbox.stop()
    client.session.close()  # drop the kept-alive connection, so the next call must connect again
    with pytest.raises(ServiceUnavailable) as info:
        client.describe_leads()
    assert "refused" in info.value.message
    assert len(slept) == 2


def test_unreachable_segment_endpoint_is_a_config_error_without_retries():
    slept: list[float] = []
    port = closed_port()
    sender = BatchSender(f"http://127.0.0.1:{port}", SANDBOX_WRITE_KEY, sleep=slept.append)
    message = {"type": "track", "event": "Email Opened", "userId": "u1", "messageId": "m-1",
               "timestamp": "2024-05-01T00:00:00.000Z"}
    with pytest.raises(ConfigError) as info:
        sender.send_batch([message])
    assert f"http://127.0.0.1:{port}" in info.value.message
    assert "refused" in info.value.message
    assert slept == []
    assert sender.requests == 1


def test_writeback_to_an_unreachable_segment_endpoint_exits_2(invoke, sandbox, monkeypatch):
    populate(sandbox, 4)
    monkeypatch.setenv("SEGMARKETO_SEGMENT_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    result = invoke("writeback", "--since", "3d")
    assert result.exit_code == 2, result.output
    assert "Segment" in error_lines(result)[-1]
    assert "refused" in error_lines(result)[-1]
    assert not sandbox.segment.accepted


# ---- issue 12 item 1: secrets never follow a redirect to another origin ----------------------------------------


@pytest.mark.parametrize("status", [307, 308, 302])
def test_identity_redirect_is_refused_and_the_secret_stays_home(invoke, marketo_env, people, status):
    elsewhere = LocalServer(answer_json())
    with elsewhere, LocalServer(redirect_to(elsewhere.url, status)) as redirecting:
        marketo_env(redirecting.url)
        result = invoke("backfill-leads", str(people))
    assert elsewhere.seen == []
    assert result.exit_code == 2, result.output
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert f"{elsewhere.url}/identity/oauth/token" in lines[0]
    assert "query-must-not-show" not in result.output
    assert SANDBOX_CLIENT_SECRET not in result.output


def test_rest_redirect_is_refused_and_the_token_stays_home(invoke, marketo_env, people):
    token = "tok-must-stay-home-0123456789"
    elsewhere = LocalServer(answer_json())
    with elsewhere, LocalServer(redirect_to(elsewhere.url, 307, prefix="/rest/", token=token)) as redirecting:
        marketo_env(redirecting.url)
        result = invoke("backfill-leads", str(people))
    assert elsewhere.seen == []
    assert result.exit_code == 2, result.output
    assert f"{elsewhere.url}/rest/" in error_lines(result)[-1]
    assert token not in result.output


def test_segment_redirect_is_refused_and_the_write_key_stays_home(invoke, sandbox, monkeypatch):
    populate(sandbox, 4)
    elsewhere = LocalServer(answer_json())
    with elsewhere, LocalServer(redirect_to(elsewhere.url, 308, prefix="/v1/")) as redirecting:
        monkeypatch.setenv("SEGMARKETO_SEGMENT_ENDPOINT", redirecting.url)
        result = invoke("writeback", "--since", "3d")
    assert elsewhere.seen == []
    assert result.exit_code == 2, result.output
    assert f"{elsewhere.url}/v1/batch" in error_lines(result)[-1]
    assert SANDBOX_WRITE_KEY not in result.output


def test_a_redirect_within_the_same_origin_is_followed():
    def respond(seen):
        if seen.path == "/old":
            return 307, {"Location": "/new"}, b""
        return 200, {}, b"here"

    with LocalServer(respond) as server:
        reply = make_session().post(f"{server.url}/old", data={"a": "1"}, timeout=5)
    assert reply.text == "here"
    assert [s.path for s in server.seen] == ["/old", "/new"]


# ---- item 10: proxy and CA bundle from the environment ---------------------------------------------------------


def test_http_proxy_from_the_environment_is_used(invoke, sandbox, people, monkeypatch):
    with forward_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        result = invoke("backfill-leads", str(people))
    assert result.exit_code == 0, result.output
    paths = [seen.path for seen in proxy.seen]
    assert f"{sandbox.url}/identity/oauth/token" in paths
    assert any(path.startswith(f"{sandbox.url}/rest/v1/leads") for path in paths)
    assert sandbox.marketo.find_leads("email", "p1@example.com")


def test_no_proxy_bypasses_the_proxy(invoke, sandbox, people, monkeypatch):
    with forward_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        result = invoke("backfill-leads", str(people))
    assert result.exit_code == 0, result.output
    assert proxy.seen == []


def test_requests_ca_bundle_is_trusted(tmp_path, monkeypatch):
    context, cert = self_signed_tls(tmp_path)
    token = b'{"access_token":"tok-tls-0123456789","token_type":"bearer","expires_in":3599}'
    with LocalServer(answer_json(token), tls=context) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        client = MarketoClient(server.url, "cid", SANDBOX_CLIENT_SECRET, max_retries=0, sleep=lambda s: None)
        client.fetch_token()
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        untrusting = MarketoClient(server.url, "cid", SANDBOX_CLIENT_SECRET, max_retries=0, sleep=lambda s: None)
        with pytest.raises(ConfigError) as info:
            untrusting.fetch_token()
    assert client.tokens_issued == 1
    assert "certificate" in info.value.message
    assert len(server.seen) == 1


def test_sessions_do_not_read_netrc(tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password-0123\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with LocalServer(answer_json()) as server:
        make_session().get(f"{server.url}/x", timeout=5)
    assert "Authorization" not in server.seen[0].headers


def test_a_missing_ca_bundle_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    client = MarketoClient(f"https://127.0.0.1:{closed_port()}", "cid", SANDBOX_CLIENT_SECRET, max_retries=0,
                           sleep=lambda s: None)
    with pytest.raises(ConfigError) as info:
        client.fetch_token()
    assert "missing.pem" in info.value.message
