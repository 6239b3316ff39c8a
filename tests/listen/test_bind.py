"""The listening socket: Nagle's algorithm off on every accepted connection; a busy port is one line and exit 2."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from segmarketo_cli.cli.listen import bind
from tests.listen.receiver import SHARED_SECRET, write_profile
from tests.support.sandbox_env import point_cli_at


def _nodelay_of_an_accepted_connection(listener: socket.socket, new_loop: Callable[[], asyncio.AbstractEventLoop]
                                       ) -> int:
    """TCP_NODELAY of the connection an event loop from `new_loop` accepts on `listener` (as uvicorn serves it)."""

    async def accept_one() -> int:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[int] = loop.create_future()

        class Capture(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        server = await loop.create_server(Capture, sock=listener)
        _, writer = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
        try:
            return await asyncio.wait_for(accepted, 30)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    loop = new_loop()
    try:
        return loop.run_until_complete(accept_one())
    finally:
        loop.close()


def _uvloop() -> asyncio.AbstractEventLoop:
    uvloop = pytest.importorskip("uvloop")  # the listen extra installs it where it runs (not on Windows)
    return uvloop.new_event_loop()


@pytest.mark.parametrize("new_loop", [asyncio.new_event_loop, _uvloop], ids=["asyncio", "uvloop"])
def test_accepted_connections_do_not_wait_for_delayed_acks(new_loop):
    assert _nodelay_of_an_accepted_connection(bind("127.0.0.1", 0), new_loop) != 0


def test_a_busy_port_is_one_line_and_exit_2(invoke, monkeypatch, isolated_home):
    point_cli_at(monkeypatch, "http://127.0.0.1:9", isolated_home)
    write_profile(isolated_home)
    taken = bind("127.0.0.1", 0)
    port = taken.getsockname()[1]
    result = invoke("listen", "--port", str(port), env={"SEGMARKETO_LISTEN_SHARED_SECRET": SHARED_SECRET})
    taken.close()
    assert result.exit_code == 2
    assert f"cannot bind 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output
