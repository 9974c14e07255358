"""Fakes for the client tests: a clock that only moves when the code under test sleeps, and
a loopback HTTP server that keeps its connections alive, as Procore's do."""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.http import RetryPolicy

#: 2027-01-15 08:00:00 UTC, an arbitrary fixed "now".
START = 1_800_000_000.0


class FakeClock:
    """`clock()` for the code under test; `sleep()` records each wait and advances time."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)


@pytest.fixture
def policy() -> RetryPolicy:
    return RetryPolicy()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # kept alive, as Procore's are

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._answer()

    def _answer(self) -> None:
        server = self.server
        with server.lock:
            server.seen.append((self.command, self.path, self.client_address[1]))
            status, headers = server.answers.pop(0) if server.answers else (200, {})
        server.arrived.set()
        answer = next((b for p, b in server.bodies.items() if self.path.startswith(p)), None)
        body = json.dumps(answer if answer is not None else {"path": self.path}).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.seen, server.answers, server.arrived = [], [], threading.Event()
    server.bodies = {}  # path prefix -> the JSON answered
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()
