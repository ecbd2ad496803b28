"""Each answer in the language its request asks for: Chinese unless English is asked for.

The API reads ``?lang=`` and then ``Accept-Language``; the web pages also remember a reader's choice
(the language switch sets ``?lang=`` once, and a cookie keeps it). The language is set for the request's
whole handling (:func:`compliance.i18n.use_language`), so every message, problem document and page of it
is worded from the one catalogue; the answer says which language it is in (``Content-Language``).
"""
from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from ..i18n import DEFAULT_LANG, LANGS, negotiate, use_language

COOKIE = "compliance_lang"
COOKIE_SECONDS = 365 * 24 * 3600


def _header(scope: Any, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def asked(scope: Any) -> str | None:
    """The language a request names with ``?lang=`` (one of ours), else None."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("lang", [])
    return values[-1] if values and values[-1] in LANGS else None


def is_page(scope: Any) -> bool:
    path = str(scope.get("path", ""))
    return not (path.startswith("/v1") or path == "/openapi.json" or path.startswith("/static"))


def request_language(scope: Any) -> str:
    """``?lang=``, else (on a page) the reader's remembered choice, else ``Accept-Language``, else Chinese."""
    chosen = asked(scope)
    if chosen:
        return chosen
    if is_page(scope):
        cookie = SimpleCookie()
        try:
            cookie.load(_header(scope, b"cookie"))
        except Exception:  # noqa: BLE001 - a malformed cookie header is ignored, as browsers do
            pass
        remembered = cookie.get(COOKIE)
        if remembered is not None and remembered.value in LANGS:
            return remembered.value
    return negotiate(_header(scope, b"accept-language"), DEFAULT_LANG)


class Language:
    """Plain ASGI: sets the request's language around its handling, says it in ``Content-Language``, and on a
    page asked for with ``?lang=`` remembers the choice in a cookie."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lang = request_language(scope)
        remember = asked(scope) if is_page(scope) else None

        async def send_with_language(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-language" not in names:
                    headers.append((b"content-language", lang.encode()))
                headers.append((b"vary", b"Accept-Language, Cookie"))
                if remember:
                    headers.append((b"set-cookie", f"{COOKIE}={remember}; Path=/; Max-Age={COOKIE_SECONDS}; "
                                                   "SameSite=Lax".encode()))
                message = {**message, "headers": headers}
            await send(message)

        with use_language(lang):
            await self.app(scope, receive, send_with_language)
