"""``compliance serve``: the application under uvicorn, with limits that protect its workers."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from .store import Store, safe_url

# Slow or hostile clients cannot hold the workers: a bounded number of connections at once (the rest get
# 503), idle keep-alive connections closed after 5 s, headers that must arrive within 10 s, and bodies
# capped in size and time by the routes themselves (1 MiB in 30 s a profile, 50 MiB in 300 s an upload).
MAX_CONNECTIONS = 200
KEEP_ALIVE_SECONDS = 5
HEADER_BYTES = 64 * 1024
FIRST_READ_SLACK = 1 << 20       # the first packets may carry the start of a body with the headers


# A request's headers must arrive within 10 s of its first byte (or of the connection); COMPLIANCE_HEADER_SECONDS
# sets another limit.
HEADER_SECONDS = float(os.environ.get("COMPLIANCE_HEADER_SECONDS", 10))


def _protocol() -> type:
    """uvicorn's HTTP protocol (httptools) with a deadline and a size cap for headers. uvicorn times idle
    keep-alive connections but not a request whose headers trickle in, so a few hundred slow clients could
    hold every connection slot; this closes a connection whose headers are not complete within
    HEADER_SECONDS, or that sends more than HEADER_BYTES (plus the first part of a body) before they are."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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
            super().connection_made(transport)
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


def serve(db: str | None, host: str, port: int, data: str | None = None) -> None:
    import uvicorn

    from .app import create_app

    store = Store(db)
    app = create_app(store, Path(data) if data else None)
    warm_up()
    print(f"compliance service on http://{host}:{port}/ (database {safe_url(store.url)}); Ctrl-C stops it",
          file=sys.stderr, flush=True)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)   # request lines could carry query secrets
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, http=_protocol(),
                limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=KEEP_ALIVE_SECONDS,
                h11_max_incomplete_event_size=HEADER_BYTES, server_header=False, proxy_headers=False)


def warm_up() -> None:
    """Load the report engine, its stylesheet and fonts, and the bundled rule sets before the first request,
    so the first report anybody asks for is drawn in the usual 0.2–0.4 s rather than 1.5 s."""
    from ..pdf import html_to_pdf
    from .common import bundled, load_bundled

    for name in bundled():
        load_bundled(name)
    html_to_pdf("<html><body><h1>社区便民服务中心 · Audit</h1><p>符合要求 100.0</p></body></html>")
