"""``compliance serve``: the application under uvicorn, with limits that protect its workers."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from .store import Store, _safe_url

# Slow or hostile clients cannot hold the workers: a bounded number of connections at once (the rest get
# 503), idle keep-alive connections closed after 5 s, and a request's headers capped at 64 KiB (uvicorn's
# h11 limit). Bodies are capped by the routes themselves (1 MiB a profile, 50 MiB an upload).
MAX_CONNECTIONS = 200
KEEP_ALIVE_SECONDS = 5
HEADER_BYTES = 64 * 1024


def serve(db: str | None, host: str, port: int, data: str | None = None) -> None:
    import uvicorn

    from .app import create_app

    store = Store(db)
    app = create_app(store, Path(data) if data else None)
    warm_up()
    print(f"compliance service on http://{host}:{port}/ (database {_safe_url(store.url)}); Ctrl-C stops it",
          file=sys.stderr, flush=True)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)   # request lines could carry query secrets
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False,
                limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=KEEP_ALIVE_SECONDS,
                h11_max_incomplete_event_size=HEADER_BYTES, server_header=False, proxy_headers=False)


def warm_up() -> None:
    """Load the report engine, its stylesheet and fonts, and the bundled rule sets before the first request,
    so the first report anybody asks for is drawn in the usual 0.2–0.4 s rather than 1.5 s."""
    from ..pdf import html_to_pdf
    from .app import _bundled, _load_bundled

    for name in _bundled():
        _load_bundled(name)
    html_to_pdf("<html><body><h1>社区便民服务中心 · Audit</h1><p>符合要求 100.0</p></body></html>")
