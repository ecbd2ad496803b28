"""``compliance serve``: the application under uvicorn, with limits that protect its workers.

Two things are bounded, each on its own, so that clients who only hold connections cannot take the service
from the ones who send requests:

* connections held: up to MAX_CONNECTIONS at once, idle or half-open, each cheap (about 7 KiB, see
  benchmarks/bench_connections.py); the process's open-file limit is raised to allow them, and a connection
  past the bound is closed as soon as it is accepted. The deadlines below keep every connection short-lived.
* requests worked on: at most MAX_IN_FLIGHT at once, however many connections there are (``InFlight``). The
  rest queue for up to QUEUE_SECONDS and are then answered 503 with Retry-After. A request that waits for its
  client (a body still arriving, an answer read slowly) gives its place back meanwhile, so a slow client
  costs the service a connection, never a place among the requests worked on.

Neither bound is per address: behind a proxy every client has the proxy's address, and an integration that
sends many requests is served as fast as the service can.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import orjson

from ..errors import ComplianceError
from ..i18n import Message, language, msg, quote, text, use_language
from . import settings
from .common import Problem, bundled, choose_rules, load_bundled, local_date, service_rules
from .language import request_language
from .processes import only_process
from .store import Store, safe_url

log = logging.getLogger("compliance.service")

# Connections held at once. A half-open connection costs the process about 7 KiB (benchmarks/bench_connections.py)
# and one open file, so 10,000 cost about 70 MiB: a small part of the machine, and far more than a district's
# centres and integrations hold at once (a proxy's pool, a few hundred browsers). To keep new connections out a
# client must hold 10,000 and renew them every HEADER_SECONDS, a thousand new connections a second: a flood
# for the network in front of the service to stop, no longer a few slow clients. Past the bound, a new
# connection is closed as soon as it is accepted.
MAX_CONNECTIONS = 10_000
# Open files the service needs besides its connections: the database, batch inputs and outputs, fonts, the
# event loop's own. The open-file limit is raised to MAX_CONNECTIONS + FILE_RESERVE where the hard limit
# allows; where it does not, the bound on connections shrinks to leave this reserve.
FILE_RESERVE = 1_000
# Connections the kernel may complete before the service accepts them. uvicorn's 2,048 would overflow when a
# few thousand clients connect at once (the surplus waits for the client's SYN to be re-sent, 1 s and more
# later); Linux clamps it to net.core.somaxconn (4,096 by default since 5.4).
BACKLOG = 4_096

# Requests worked on at once. The sync routes run 40 at a time on the thread pool and the async ones on the
# event loop, so 64 keeps both busy on any machine the service is meant for while bounding what requests in
# progress hold (a profile is up to 1 MiB, a report is drawn in memory). A request beyond it waits up to
# QUEUE_SECONDS (at 500 audits/s, 64 requests ahead are worked through in well under a second; a queue of
# reports, 0.2–0.4 s each, takes a few seconds), then is answered 503 with Retry-After: RETRY_AFTER.
MAX_IN_FLIGHT = 64
QUEUE_SECONDS = 5.0
RETRY_AFTER = 5

# Idle keep-alive connections are closed after 5 s, headers must arrive within 10 s, and bodies are capped in
# size and time by the routes themselves (1 MiB in 30 s a profile, 50 MiB in 300 s an upload).
KEEP_ALIVE_SECONDS = 5
HEADER_BYTES = 64 * 1024
FIRST_READ_SLACK = 1 << 20       # the first packets may carry the start of a body with the headers


# A request's headers must arrive within 10 s of its first byte (or of the connection); COMPLIANCE_HEADER_SECONDS
# sets another limit.
HEADER_SECONDS = settings.seconds("COMPLIANCE_HEADER_SECONDS", 10.0)


def _protocol(max_connections: int = MAX_CONNECTIONS) -> type:
    """uvicorn's HTTP protocol (httptools) with a deadline and a size cap for headers, and a bound on the
    connections held. uvicorn times idle keep-alive connections but not a request whose headers trickle in,
    so this closes a connection whose headers are not complete within HEADER_SECONDS, or that sends more than
    HEADER_BYTES (plus the first part of a body) before they are. uvicorn's own bound (limit_concurrency)
    answers 503 to every request while that many connections are merely open, which is the very thing an
    attacker would arrange; this one closes only the connections past ``max_connections``."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    refused = [0.0]                              # when a refusal was last logged: once a minute is enough

    class HeaderDeadline(HttpToolsProtocol):
        _deadline: Any = None
        _header_bytes = 0

        def _arm(self) -> None:
            self._disarm()
            self._header_bytes = 0
            self._deadline = self.loop.call_later(HEADER_SECONDS, self._too_slow)

        def data_received(self, data: bytes) -> None:
            if self._deadline is not None:           # still reading headers: at most HEADER_BYTES of them
                self._header_bytes += len(data)
                if self._header_bytes > HEADER_BYTES + FIRST_READ_SLACK:
                    self._too_slow()
                    return
            super().data_received(data)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.transport is not None and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)       # counts it among the server's connections
            if len(self.connections) > max_connections:
                now = time.monotonic()
                if now - refused[0] > 60:
                    refused[0] = now
                    log.warning("%d connections held: new ones are closed until some end", max_connections)
                transport.close()
                return
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderDeadline


def open_file_limit(wanted: int) -> int:
    """Raise this process's soft limit on open files to ``wanted`` where its hard limit allows (only an
    administrator can raise that one); the soft limit in force afterwards. Each connection is an open file,
    and the usual soft limit of 1,024 would refuse connections long before MAX_CONNECTIONS."""
    try:
        import resource
    except ImportError:                          # not a Unix: no such limit to raise
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return wanted if soft == resource.RLIM_INFINITY else soft
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return max(target, soft)


def connection_bound() -> int:
    """MAX_CONNECTIONS, or fewer where the open-file limit cannot be raised enough to hold them and keep
    FILE_RESERVE files for the service's own use (and at least half of the limit for connections)."""
    files = open_file_limit(MAX_CONNECTIONS + FILE_RESERVE)
    bound = min(MAX_CONNECTIONS, max(files // 2, files - FILE_RESERVE))
    if bound < MAX_CONNECTIONS:
        log.warning("open files are limited to %d: the service holds at most %d connections", files, bound)
    return bound


T = TypeVar("T")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]


class InFlight:
    """Plain ASGI middleware: at most ``limit`` requests worked on at once, whatever the number of connections.

    A request beyond the bound waits in a queue, first come first served, for up to ``patience`` seconds; then
    it is answered 503 with ``Retry-After: retry_after`` (a problem document, as every error of the API).
    A request whose application waits for its client, a receive for a body that has not arrived or a send
    that waits for a slow reader, lends its place to the next request in the queue from the moment that wait
    suspends, and takes a place back when it ends, ahead of the requests not yet started: otherwise a few
    dozen clients that send their headers and then a body byte by byte (the routes' body deadlines are 30 s
    and more) would hold every place and shut the service for everyone. Waits that do not suspend (a body
    already in, an answer the socket takes at once) cost a callback scheduled and cancelled."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], limit: int = MAX_IN_FLIGHT,
                 patience: float = QUEUE_SECONDS, retry_after: int = RETRY_AFTER) -> None:
        self.app, self.limit, self.patience, self.retry_after = app, limit, patience, retry_after
        self._free = limit
        self._returning: deque[asyncio.Future[bool]] = deque()      # begun, back from waiting for their client
        self._arriving: deque[asyncio.Future[bool]] = deque()       # not begun

    @property
    def busy(self) -> int:
        """Requests worked on now."""
        return self.limit - self._free

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not await self.take(begun=False):
            await self._busy(scope, send)
            return
        turn = _Turn(self)

        async def receive_lending() -> Any:
            return await turn.waiting(receive())

        async def send_lending(message: Any) -> None:
            await turn.waiting(send(message))

        try:
            await self.app(scope, receive_lending, send_lending)
        finally:
            turn.end()

    async def take(self, begun: bool) -> bool:
        """A place among the requests worked on: True once given one; False when a request not yet begun has
        waited ``patience`` seconds for it. A place is free only while nobody waits (``give`` hands a place
        straight to the next in the queue), so taking a free one never jumps the queue."""
        if self._free > 0:
            self._free -= 1
            return True
        loop = asyncio.get_running_loop()
        place: asyncio.Future[bool] = loop.create_future()
        queue = self._returning if begun else self._arriving
        queue.append(place)
        timer = None if begun else loop.call_later(self.patience, _settle, place, False)
        try:
            given = await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled() and place.result():
                self.give()                      # given a place as it was cancelled: pass it on
            else:
                _leave(queue, place)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if not given:
            _leave(queue, place)
        return given

    def give(self) -> None:
        """A place back: to the first request waiting, begun ones first, or free."""
        for queue in (self._returning, self._arriving):
            while queue:
                place = queue.popleft()
                if not place.done():             # not already given up (patience over, or cancelled)
                    place.set_result(True)
                    return
        self._free += 1

    async def _busy(self, scope: Scope, send: Send) -> None:
        # Outside the application's own middleware, so its language and its header against content sniffing are
        # set here.
        problem = Problem(503, msg("The service is busy"),
                          msg("it is working on as many requests as it takes at once; retry in {seconds} s",
                              seconds=self.retry_after))
        lang = request_language(scope)
        with use_language(lang):
            body = orjson.dumps(problem.document(scope.get("path", "")))
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
            (b"content-language", lang.encode()), (b"retry-after", str(self.retry_after).encode()),
            (b"x-content-type-options", b"nosniff")]})
        await send({"type": "http.response.body", "body": body})


class _Turn:
    """One request's place among those worked on, lent while the request waits for its client."""

    __slots__ = ("limit", "held", "ended")

    def __init__(self, limit: InFlight) -> None:
        self.limit, self.held, self.ended = limit, True, False

    async def waiting(self, wait: Awaitable[T]) -> T:
        """``wait`` (a receive or a send) with the place lent from the moment it suspends until it ends.
        call_soon runs the lending only if the wait gives the event loop a turn: a wait that completes at
        once cancels it first."""
        lend = asyncio.get_running_loop().call_soon(self._lend) if self.held else None
        try:
            result = await wait
        finally:
            if lend is not None:
                lend.cancel()
        if not self.held and not self.ended:
            await self.limit.take(begun=True)
            self._taken_back()
        return result

    def _taken_back(self) -> None:
        if self.held or self.ended:              # another wait of this request took one back meanwhile
            self.limit.give()
        else:
            self.held = True

    def _lend(self) -> None:
        if self.held:
            self.held = False
            self.limit.give()

    def end(self) -> None:
        self.ended = True
        self._lend()


def _settle(place: asyncio.Future[bool], value: bool) -> None:
    if not place.done():
        place.set_result(value)


def _leave(queue: deque[asyncio.Future[bool]], place: asyncio.Future[bool]) -> None:
    with contextlib.suppress(ValueError):        # ``give`` may have dropped it already
        queue.remove(place)


def serve(db: str | None, host: str, port: int, data: str | None = None, rules: str | None = None,
          forwarded_allow_ips: str | None = None) -> None:
    """Run the service; ``forwarded_allow_ips``: the front server's addresses, the only peers whose X-Forwarded-For
    and X-Forwarded-Proto are believed (proxy.py); None believes nobody."""
    import uvicorn

    from .app import create_app
    from .proxy import trusted_proxies

    if rules is not None and rules not in bundled():
        raise ComplianceError(msg("the service audits with its bundled rule sets: {names}, not {name}",
                                  names=[quote(n) for n in bundled()], name=quote(rules)), file="--rules")
    proxies = trusted_proxies(forwarded_allow_ips)
    store = Store(db)
    only_process(store)              # SQLite: one service process on a database file; several need PostgreSQL
    store.checkpoint_in_background()
    app = create_app(store, Path(data) if data else None)
    warm_up()
    connections = connection_bound()
    print(text(msg("the audit service is on {address} (database {database}); Ctrl-C stops it",
                   address="http://%s:%d/" % (host, port), database=safe_url(store.url))), file=sys.stderr, flush=True)
    print(text(rules_in_force(store, rules)), file=sys.stderr, flush=True)
    if proxies:
        print(text(msg("forwarded headers are believed from {addresses} only", addresses=[quote(a) for a in proxies])),
              file=sys.stderr, flush=True)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)   # request lines could carry query secrets
    # No limit_concurrency: uvicorn's counts connections held, and answers 503 while there are that many.
    uvicorn.run(InFlight(app), host=host, port=port, log_level="info", access_log=False,
                http=_protocol(connections), backlog=BACKLOG, timeout_keep_alive=KEEP_ALIVE_SECONDS,
                h11_max_incomplete_event_size=HEADER_BYTES, server_header=False,
                # uvicorn falls back to 127.0.0.1 for an empty list: without the option, no proxy headers at all
                proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None)


def rules_in_force(store: Store, option: str | None) -> Message:
    """Set the service's rule set from ``--rules`` unless one was chosen before, and say which is in force."""
    setting = choose_rules(store, option, None, unless_chosen=True) if option else store.rules_setting()
    name = service_rules(store)
    title = quote(str(load_bundled(name).title[language()]))
    if setting is None or setting.name != name:
        said = msg("the service's rule set is {title} ({name}), the default: a bureau account chooses another on the "
                   "settings page, or start with {option}", title=title, name=name, option=quote("--rules NAME"))
    elif setting.chosen_by is None:
        said = msg("the service's rule set is {title} ({name}), set by {option} on {date}", title=title, name=name,
                   option=quote("--rules"), date=local_date(setting.chosen_at))
    else:
        said = msg("the service's rule set is {title} ({name}), chosen by {account} on {date}", title=title, name=name,
                   account=quote(setting.chosen_by), date=local_date(setting.chosen_at))
    if option and option != name:
        said = msg("{said}; {option} is not applied: the stored choice wins, and a bureau account changes it on the "
                   "settings page", said=said, option=quote("--rules " + option))
    return said


def warm_up() -> None:
    """Load the report engine, its stylesheet and fonts, and the bundled rule sets before the first request,
    so the first report anybody asks for is drawn in the usual 0.2–0.4 s rather than 1.5 s."""
    from ..pdf import html_to_pdf
    from .common import bundled, load_bundled

    for name in bundled():
        load_bundled(name)
    html_to_pdf("<html><body><h1>社区便民服务中心 · Audit</h1><p>符合要求 100.0</p></body></html>")
