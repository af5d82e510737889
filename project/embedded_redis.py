"""An embedded Redis-protocol server (fakeredis over TCP, Lua through lupa).

`make run` and a test run without REDIS_URL start one, so the Dramatiq Redis broker and the
channels-redis layer run unchanged, over real sockets, with nothing installed.
"""

from __future__ import annotations

import argparse
import threading

from fakeredis import FakeServer, TcpFakeServer


def start_embedded_redis(
    host: str = "127.0.0.1", port: int = 0, *, data: FakeServer | None = None
) -> tuple[TcpFakeServer, str]:
    """Serve Redis on ``host:port`` (0 picks a free port) in a thread; return it and its URL.

    ``data`` is the dataset of a server stopped earlier: serving it again on its port is what a
    Redis restarting with its persisted data looks like to its clients.
    """
    server = TcpFakeServer((host, port), server_type="redis")
    if data is not None:
        server.fake_server = data
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="embedded-redis", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    assert isinstance(bound_host, str)  # a TCP server's address, never a Unix socket's bytes
    return server, f"redis://{bound_host}:{bound_port}/0"


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the embedded Redis-protocol server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6390)
    options = parser.parse_args()
    _server, url = start_embedded_redis(options.host, options.port)
    print(f"embedded redis listening on {url}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
