"""Clients that hold connections cannot take the service from the ones that send requests.

Over loopback against the real `compliance serve`: thousands of half-open connections (a request begun and
never finished) are held while an ordinary request is answered at once; requests whose bodies never finish
hold no place among the requests worked on; more requests at once than the service works on queue or are
told to come back (503 with Retry-After). The bound on connections, made small, on uvicorn in this process.
In process: the bound on requests worked on, step by step, with no clock in the assertions.
"""
from __future__ import annotations

import asyncio
import resource
import socket
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator

import httpx
import orjson
import pytest

from compliance.service.server import HEADER_SECONDS, InFlight

from test_service import serving

HALF_OPEN = 2_000
# A request line or headers begun and never finished, three ways.
PARTS = (b"GET /v1/rul", b"GET /v1/rulesets HTTP/1.1\r\nHost: x\r\n", b"POST /v1/audits HTTP/1.1\r\nContent-Len")


@pytest.fixture
def open_files() -> Iterator[None]:
    """This process holds one end of every test connection: raise its open-file limit for the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = HALF_OPEN + 1_000
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard limit on open files ({hard}) is below {wanted}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _open_files_of(pid: int) -> int | None:
    fds = Path(f"/proc/{pid}/fd")
    return len(list(fds.iterdir())) if fds.is_dir() else None


def test_thousands_of_half_open_connections_leave_an_ordinary_request_answered(tmp_path, open_files):
    with serving(tmp_path) as (svc, token):
        held: list[socket.socket] = []
        try:
            for i in range(HALF_OPEN):
                s = socket.create_connection(("127.0.0.1", svc.port))
                s.sendall(PARTS[i % len(PARTS)])
                held.append(s)
            # The service accepts connections in the order they came, so by the time it answers this one it
            # has taken in every half-open one before it (a bound that counts connections held, as uvicorn's
            # limit_concurrency does, would answer it 503).
            start = time.monotonic()
            r = httpx.get(svc.url + "/v1/schema/profile", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            took = time.monotonic() - start
            assert r.status_code == 200, r.text
            # Well before the half-open ones time out (HEADER_SECONDS, 10 s): it was not waiting behind them. The
            # bound is loose on purpose: the suite runs on every core at once, and a busy machine took 2 s.
            assert took < HEADER_SECONDS / 2, f"{took:.2f} s"
            assert r.json()["$schema"]
            assert svc.process is not None
            files = _open_files_of(svc.process.pid)
            assert files is None or files >= HALF_OPEN             # it does hold them, not the kernel's queue
            for s in held[:: HALF_OPEN // 20]:                     # and they are still open
                s.setblocking(False)
                with pytest.raises(BlockingIOError):
                    s.recv(1)
        finally:
            for s in held:
                s.close()


def test_bodies_that_never_finish_hold_no_place_among_the_requests_worked_on(tmp_path, open_files):
    """Three times as many requests as the service works on at once send their headers and the start of a
    body, and no more (a login form, and a profile, whose deadline is 30 s).
    While they wait for their bodies they hold connections, not places: an ordinary request is answered
    200, not queued behind them and then told to come back (503)."""
    from compliance.service.server import MAX_IN_FLIGHT

    with serving(tmp_path) as (svc, token):
        login = (b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 100\r\n\r\nname=a")
        audit = (b"POST /v1/audits HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode()
                 + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        held: list[socket.socket] = []
        try:
            for i in range(3 * MAX_IN_FLIGHT):
                s = socket.create_connection(("127.0.0.1", svc.port))
                s.sendall(login if i % 2 else audit)
                held.append(s)
            r = httpx.get(svc.url + "/v1/rulesets", headers={"Authorization": f"Bearer {token}"}, timeout=30)
            assert r.status_code == 200, r.text
        finally:
            for s in held:
                s.close()


def test_more_requests_at_once_than_are_worked_on_queue_or_are_told_when_to_retry(tmp_path, open_files):
    """Twice as many requests at once as the service works on (each on its own connection, all sent before
    any answer is read): each is answered, 200 or 503 with Retry-After, and the service goes on."""
    from compliance.service.server import MAX_IN_FLIGHT

    many = 2 * MAX_IN_FLIGHT + 20
    with serving(tmp_path) as (svc, token):
        request = (f"GET /v1/rulesets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                   "Connection: close\r\n\r\n").encode()

        async def burst() -> list[bytes]:
            streams = [await asyncio.open_connection("127.0.0.1", svc.port) for _ in range(many)]
            for _, writer in streams:
                writer.write(request)
            answers = [await reader.read() for reader, _ in streams]
            for _, writer in streams:
                writer.close()
            return answers

        answers = asyncio.run(asyncio.wait_for(burst(), 60))
        for answer in answers:
            head, _, body = answer.partition(b"\r\n\r\n")
            status = head[9:12]
            assert status in (b"200", b"503"), head[:200]
            if status == b"503":
                assert b"\r\nretry-after: " in head.lower() and orjson.loads(body)["status"] == 503
        assert any(answer.startswith(b"HTTP/1.1 200") for answer in answers)
        r = httpx.get(svc.url + "/v1/rulesets", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200


def test_connections_past_the_bound_are_closed_and_the_others_kept():
    """The bound on connections, made small: uvicorn with the service's protocol, on a thread of this
    process. Past it a new connection is closed at once; when a held one ends there is room again."""
    import threading

    import uvicorn

    from compliance.service.server import _protocol

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=_protocol(5), lifespan="off",
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    held: list[socket.socket] = []
    try:
        for _ in range(600):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started
        for _ in range(5):
            held.append(socket.create_connection(("127.0.0.1", port)))
            held[-1].sendall(PARTS[0])
        with socket.create_connection(("127.0.0.1", port)) as sixth:   # accepted after the five: closed
            sixth.settimeout(10)
            try:
                closed = sixth.recv(1) == b""
            except ConnectionResetError:
                closed = True
            assert closed
        for s in held:                                             # the five are still open
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.recv(1)
        held.pop().close()
        for _ in range(100):                                       # once the service has seen it go
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise AssertionError("no room after a connection ended")
    finally:
        for s in held:
            s.close()
        server.should_exit = True
        thread.join(timeout=30)


def test_the_open_file_limit_is_raised_to_hold_the_connections(open_files):
    from compliance.service.server import FILE_RESERVE, MAX_CONNECTIONS, connection_bound

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))      # the usual default
    wanted = MAX_CONNECTIONS + FILE_RESERVE
    reachable = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    bound = connection_bound()
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == reachable
    assert bound == min(MAX_CONNECTIONS, max(reachable // 2, reachable - FILE_RESERVE))


# --------------------------------------------------------------------------- the bound, in process

class Client:
    """One request to the middleware: its body arrives when the test says, its answer is kept."""

    def __init__(self, limit: InFlight, path: str = "/v1/audits") -> None:
        self.limit = limit
        self.scope = {"type": "http", "method": "POST", "path": path, "headers": []}
        self.body: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return await self.body.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def start(self) -> asyncio.Task[None]:
        return asyncio.ensure_future(self.limit(self.scope, self.receive, self.send))

    @property
    def status(self) -> int | None:
        return next((m["status"] for m in self.sent if m["type"] == "http.response.start"), None)


class App:
    """An application whose requests each read their body, then work until the test lets them finish."""

    def __init__(self) -> None:
        self.working: dict[str, asyncio.Event] = {}
        self.read: list[str] = []

    async def __call__(self, scope: Any, receive: Callable[[], Awaitable[Any]], send: Any) -> None:
        await receive()
        self.read.append(scope["path"])
        done = self.working[scope["path"]] = asyncio.Event()
        await done.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_a_request_beyond_the_bound_waits_then_is_503_with_retry_after():
    async def scenario() -> None:
        app = App()
        limit = InFlight(app, limit=1, patience=0.05, retry_after=7)
        first, second = Client(limit, "/a"), Client(limit, "/b")
        a = first.start()
        first.body.put_nowait({"type": "http.request", "body": b"{}"})
        await _settle()
        assert app.read == ["/a"] and limit.busy == 1              # /a is being worked on
        await second.start()                                       # /b waits its patience, then gives up
        assert second.status == 503 and app.read == ["/a"]
        headers = dict(second.sent[0]["headers"])
        assert headers[b"retry-after"] == b"7" and headers[b"content-type"] == b"application/problem+json"
        assert orjson.loads(second.sent[1]["body"])["instance"] == "/b"
        app.working["/a"].set()
        await a
        assert first.status == 200 and limit.busy == 0

    asyncio.run(scenario())


def test_a_request_waiting_for_its_body_gives_its_place_to_others_and_comes_back_first():
    async def scenario() -> None:
        app = App()
        limit = InFlight(app, limit=1, patience=60, retry_after=1)
        slow, quick, later = Client(limit, "/slow"), Client(limit, "/quick"), Client(limit, "/later")
        s = slow.start()
        await _settle()
        assert limit.busy == 0                                     # waiting for its body: no place held
        q = quick.start()
        quick.body.put_nowait({"type": "http.request", "body": b"{}"})
        await _settle()
        assert app.read == ["/quick"] and limit.busy == 1
        later_task = later.start()                                 # a new request queues behind /quick ...
        later.body.put_nowait({"type": "http.request", "body": b"{}"})
        slow.body.put_nowait({"type": "http.request", "body": b"{}"})    # ... and so does /slow, its body in
        await _settle()
        assert app.read == ["/quick"]
        app.working["/quick"].set()
        await q
        await _settle()
        assert app.read == ["/quick", "/slow"]                     # /slow was already admitted: it goes first
        app.working["/slow"].set()
        await s
        await _settle()
        assert app.read == ["/quick", "/slow", "/later"]
        app.working["/later"].set()
        await later_task
        assert [c.status for c in (slow, quick, later)] == [200, 200, 200] and limit.busy == 0

    asyncio.run(scenario())


def test_requests_cancelled_wherever_they_are_leave_no_place_taken():
    async def scenario() -> None:
        app = App()
        limit = InFlight(app, limit=1, patience=60, retry_after=1)
        lending, returning = Client(limit, "/lending"), Client(limit, "/returning")
        working, queued = Client(limit, "/working"), Client(limit, "/queued")
        tasks = [lending.start(), returning.start()]               # both wait for their bodies: no place held
        await _settle()
        tasks.append(working.start())
        working.body.put_nowait({"type": "http.request", "body": b""})
        await _settle()
        tasks.append(queued.start())
        returning.body.put_nowait({"type": "http.request", "body": b""})   # back, behind /working
        await _settle()
        assert app.read == ["/working"] and limit.busy == 1
        for task in tasks:                                         # every client goes away
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert limit.busy == 0
        again = Client(limit, "/again")
        t = again.start()
        again.body.put_nowait({"type": "http.request", "body": b""})
        await _settle()
        assert app.read == ["/working", "/again"] and limit.busy == 1
        app.working["/again"].set()
        await t
        assert again.status == 200 and limit.busy == 0

    asyncio.run(scenario())


def test_other_scopes_pass_through():
    async def scenario() -> None:
        seen: list[str] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["type"])

        limit = InFlight(app, limit=1, patience=0, retry_after=1)
        await limit({"type": "lifespan"}, None, None)
        assert seen == ["lifespan"] and limit.busy == 0

    asyncio.run(scenario())
