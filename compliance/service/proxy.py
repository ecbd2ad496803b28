"""Behind a front server (nginx with TLS): which forwarded headers the service believes, and what follows.

A front server tells the service who the client is and how it was reached in ``X-Forwarded-For`` and
``X-Forwarded-Proto``. Anyone can send those headers, so the service believes them only from the addresses
given to ``compliance serve --forwarded-allow-ips`` (the front server's); by default it believes nobody, and a
request's client is the address that connected. uvicorn applies the rule (its ``proxy_headers`` with these
addresses) before the application sees the request, so everything below reads the request as it was meant:

* the client's address (``request.client``): the login throttle and the log lines of logins;
* the scheme: a request the front server received over HTTPS gets its session cookie marked ``Secure``
  (``SessionCookie``), so a browser never sends it over plain HTTP.

Nothing else depends on them: the service builds no absolute address (its redirects and Location headers are
paths), so ``X-Forwarded-Host`` and ``Forwarded`` are not read at all.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ComplianceError
from ..i18n import msg, quote

OPTION = "--forwarded-allow-ips"


def trusted_proxies(value: str | None) -> list[str]:
    """The addresses whose forwarded headers are believed, from ``--forwarded-allow-ips``: a comma-separated list
    of IP addresses and networks (``127.0.0.1``, ``10.0.0.0/24``, ``::1``), normalised; none without the option.
    Anything else (a host name, ``*``) is refused: believing every peer would let any client choose its address."""
    if value is None:
        return []
    out: list[str] = []
    for item in (part.strip() for part in value.split(",")):
        try:
            address: Any = ipaddress.ip_network(item, strict=False) if "/" in item else ipaddress.ip_address(item)
        except ValueError:
            raise ComplianceError(msg("the front server's IP addresses or networks are wanted, separated by commas "
                                      "(such as {example}), not {value}", example=quote("127.0.0.1,10.0.0.0/24"),
                                      value=quote(item)), file=OPTION) from None
        out.append(str(address))
    return out


def client_address(connection: HTTPConnection) -> str:
    """The client's address as the service knows it: the front server's word where it is trusted, else the peer
    that connected ("-" where there is none, as in an in-process test client)."""
    return connection.client.host if connection.client else "-"


class SessionCookie:
    """Starlette's signed session cookie, marked ``Secure`` on requests that came over HTTPS (the scheme the
    trusted front server forwarded) and left without it on plain HTTP, where a browser would not send a secure
    cookie back: the service on its own port, or a test. Both halves sign with the same key, so a session is the
    same session whichever way it arrives."""

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        self.plain = SessionMiddleware(app, https_only=False, **options)
        self.secure = SessionMiddleware(app, https_only=True, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (self.secure if scope.get("scheme") in ("https", "wss") else self.plain)(scope, receive, send)
