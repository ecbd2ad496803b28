"""HTML → PDF with WeasyPrint, reading nothing but the project's own report assets.

The URL fetcher serves files under ``reports/`` and the evidence thumbnails this
process made (``data:image/jpeg`` URIs, :mod:`compliance.thumbnails`), and refuses
everything else (other files, ``http:``, any other ``data:``…), so no text in a
profile can make a report read a file or reach the network. The stylesheet and its fonts are
parsed once per process and reused: a warm render only lays out and subsets
(with HarfBuzz's subsetter, ``libharfbuzz-subset0``, which set-up installs).
Only WeasyPrint's public API is used.
"""
from __future__ import annotations

import atexit
import base64
import functools
import gc
import json
import mimetypes
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from . import reading, thumbnails
from .i18n import msg
from .errors import ReportError, system_reason

PDF_A = "pdf/a-3b"
THUMBNAIL_PREFIX = "data:image/jpeg;base64,"
# base.html.j2 links the stylesheet for the HTML report; the engine passes it already parsed
# (_Engine.css), so the PDF drops the link instead of fetching, parsing and cascading it a second time.
STYLESHEET_LINK = '<link rel="stylesheet" href="report.css">'


def assets_dir() -> Path:
    return reading.data_dir("reports").resolve()


def _weasyprint() -> Any:
    try:
        from .weasy import weasyprint
    except ImportError as exc:              # the package, or Pango or HarfBuzz on the system, missing
        raise ReportError(system_reason(exc, msg("drawing a report as a PDF needs WeasyPrint and its system "
                                                 "libraries"))) from exc
    return weasyprint


def asset_fetcher_class() -> type:
    """A WeasyPrint URL fetcher that only serves files inside ``reports/`` and the evidence thumbnails made here."""
    _weasyprint()   # a clear ReportError when WeasyPrint or its system libraries are missing
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class AssetFetcher(URLFetcher):  # type: ignore[misc]
        def __init__(self, root: Path) -> None:
            super().__init__(allowed_protocols=("file",), allow_redirects=False)
            self.root = root
            self.refused: list[str] = []

        def fetch(self, url: str, headers: Any = None) -> Any:
            if url.startswith(THUMBNAIL_PREFIX):
                try:
                    data = base64.b64decode(url[len(THUMBNAIL_PREFIX):], validate=True)
                except ValueError:
                    data = b""
                if data and thumbnails.is_thumbnail(data):
                    return URLFetcherResponse("data:image/jpeg", data, {"Content-Type": "image/jpeg"})
                self.refused.append(url[:200])
                raise ValueError(f"report assets only; refused {url[:200]!r}")
            parts = urlsplit(url)
            path = Path(unquote(parts.path)).resolve() if parts.scheme == "file" and parts.netloc in ("", "localhost") else None
            if path is None or not path.is_relative_to(self.root) or not path.is_file():
                self.refused.append(url)
                raise ValueError(f"report assets only; refused {url[:200]!r}")
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": mime})

    return AssetFetcher


class _Engine:
    """The per-process WeasyPrint state: fetcher, fonts and the parsed stylesheet."""

    def __init__(self) -> None:
        weasyprint = _weasyprint()
        from weasyprint.text.fonts import FontConfiguration

        self.weasyprint = weasyprint
        self.root = assets_dir()
        self.base_url = self.root.as_uri() + "/"
        self.fetcher = asset_fetcher_class()(self.root)
        self.fonts = FontConfiguration()
        self.css = weasyprint.CSS(filename=str(self.root / "report.css"), base_url=self.base_url,
                                  url_fetcher=self.fetcher, font_config=self.fonts)
        self.lock = threading.Lock()

    def write(self, html: str, *, archival: bool, attachment: dict[str, Any] | None, title: str,
              description: str = "") -> bytes:
        wp = self.weasyprint
        options: dict[str, Any] = {}
        if archival:
            options["pdf_variant"] = PDF_A
        if attachment is not None:
            options["attachments"] = [wp.Attachment(
                string=json.dumps(attachment, ensure_ascii=False, indent=2), name="audit-result.json",
                description=description or f"{title} — machine-readable audit result", relationship="Data",
                url_fetcher=self.fetcher, base_url=self.base_url)]
        html = html.replace(STYLESHEET_LINK, "", 1)
        with self.lock:   # one font configuration per process, and it is not thread-safe
            document = wp.HTML(string=html, base_url=self.base_url, url_fetcher=self.fetcher).render(
                stylesheets=[self.css], font_config=self.fonts)
            pdf: bytes = document.write_pdf(**options)
            return pdf


@functools.lru_cache(maxsize=1)
def engine() -> _Engine:
    atexit.register(_release)
    return _Engine()


def _release() -> None:
    """Let the engine go while the interpreter still runs: its font configuration removes its temporary folder
    when collected, which fails with a traceback on standard error if that happens during shutdown (a report with
    pictures keeps the engine in a reference cycle until then)."""
    engine.cache_clear()
    gc.collect()


def html_to_pdf(html: str, *, archival: bool = False, attachment: dict[str, Any] | None = None, title: str = "",
                description: str = "") -> bytes:
    """Render report HTML to PDF bytes; PDF/A-3b with ``attachment`` embedded when ``archival``, ``description``
    (in the report's language) being what a PDF reader's list of attachments says of it."""
    try:
        return engine().write(html, archival=archival, attachment=attachment, title=title, description=description)
    except ReportError:
        raise
    except Exception as exc:  # noqa: BLE001 - WeasyPrint raises many types; the user gets one
        raise ReportError(system_reason(exc, msg("the PDF could not be produced"))) from exc
