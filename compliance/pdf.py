"""HTML → PDF with WeasyPrint, reading nothing but the project's own report assets.

The URL fetcher serves files under ``reports/`` and refuses everything else
(other files, ``http:``, ``data:``…), so no text in a profile can make a
report read a file or reach the network. The stylesheet and its fonts are
parsed once per process and reused: a warm render only lays out and subsets.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import json
import mimetypes
import threading
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit

from . import reading
from .errors import ReportError

PDF_A = "pdf/a-3b"


def assets_dir() -> Path:
    return reading.data_dir("reports").resolve()


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:   # OSError: Pango or HarfBuzz missing on the system
        raise ReportError(f"PDF output needs WeasyPrint and its system libraries: {exc}") from exc
    return weasyprint


def asset_fetcher_class() -> type:
    """A WeasyPrint URL fetcher that only serves files inside ``reports/``."""
    _weasyprint()   # a clear ReportError when WeasyPrint or its system libraries are missing
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class AssetFetcher(URLFetcher):
        def __init__(self, root: Path) -> None:
            super().__init__(allowed_protocols=("file",), allow_redirects=False)
            self.root = root
            self.refused: list[str] = []

        def fetch(self, url: str, headers: Any = None) -> Any:
            parts = urlsplit(url)
            path = Path(unquote(parts.path)).resolve() if parts.scheme == "file" and parts.netloc in ("", "localhost") else None
            if path is None or not path.is_relative_to(self.root) or not path.is_file():
                self.refused.append(url)
                raise ValueError(f"report assets only; refused {url[:200]!r}")
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": mime})

    return AssetFetcher


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one render, then collect its young garbage.

    A render allocates a few hundred thousand short-lived boxes; the collector
    would otherwise walk them again and again while they are still in use, a
    sixth of the render time. Collecting generations 0 and 1 afterwards frees
    the render's cycles at once, so memory stays flat across a batch. The
    caller's setting is restored, even on error.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
            gc.collect(1)


def _keep_glyph_bounds() -> None:
    """Have WeasyPrint's font subsetting keep each glyph's stored bounding box.

    Subsetting drops glyphs but never changes an outline, so the boxes stored
    in the font stay right; recomputing them makes fontTools decompile and
    recompile every glyph a report uses, half of the subsetting time.
    WeasyPrint offers no option for this, so its module-level ``TTFont`` is
    replaced by the same class with ``recalcBBoxes=False`` — only when it is
    exactly fontTools' class, so a future WeasyPrint that changes this keeps
    its own behaviour.
    """
    from fontTools.ttLib import TTFont
    from weasyprint.pdf import fonts as pdf_fonts

    if getattr(pdf_fonts, "TTFont", None) is TTFont:
        pdf_fonts.TTFont = functools.partial(TTFont, recalcBBoxes=False)


def report_html_class(weasyprint: Any, user_agent_css: Any) -> type:
    """``weasyprint.HTML`` with the report's own, smaller user-agent stylesheet (``reports/ua.css``).

    WeasyPrint has no public option for this; ``_ua_stylesheets`` is the hook
    its own form support uses. Where a WeasyPrint release drops the hook, the
    full stylesheet applies and reports only lay out more slowly.
    """
    if not hasattr(weasyprint.HTML, "_ua_stylesheets"):
        return weasyprint.HTML

    class ReportHTML(weasyprint.HTML):
        def _ua_stylesheets(self, forms: bool = False) -> list:
            return [user_agent_css]

    return ReportHTML


class _Engine:
    """The per-process WeasyPrint state: fetcher, fonts and the parsed stylesheet."""

    def __init__(self) -> None:
        weasyprint = _weasyprint()
        from weasyprint.text.fonts import FontConfiguration

        _keep_glyph_bounds()
        self.weasyprint = weasyprint
        self.root = assets_dir()
        self.base_url = self.root.as_uri() + "/"
        self.fetcher = asset_fetcher_class()(self.root)
        self.fonts = FontConfiguration()
        self.css = weasyprint.CSS(filename=str(self.root / "report.css"), base_url=self.base_url,
                                  url_fetcher=self.fetcher, font_config=self.fonts)
        self.html_class = report_html_class(weasyprint, weasyprint.CSS(filename=str(self.root / "ua.css")))
        self.lock = threading.Lock()

    def write(self, html: str, *, archival: bool, attachment: dict | None, title: str) -> bytes:
        wp = self.weasyprint
        # The bundled font carries no hinting, so there is nothing to strip glyph by glyph.
        options: dict[str, Any] = {"hinting": True}
        if archival:
            options["pdf_variant"] = PDF_A
        if attachment is not None:
            options["attachments"] = [wp.Attachment(
                string=json.dumps(attachment, ensure_ascii=False, indent=2), name="audit-result.json",
                description=f"{title} — machine-readable audit result", relationship="Data",
                url_fetcher=self.fetcher, base_url=self.base_url)]
        with self.lock, _collector_paused():   # WeasyPrint's font configuration is not thread-safe
            document = self.html_class(string=html, base_url=self.base_url, url_fetcher=self.fetcher).render(
                stylesheets=[self.css], font_config=self.fonts)
            return document.write_pdf(**options)


@functools.lru_cache(maxsize=1)
def engine() -> _Engine:
    return _Engine()


def html_to_pdf(html: str, *, archival: bool = False, attachment: dict | None = None, title: str = "") -> bytes:
    """Render report HTML to PDF bytes; PDF/A-3b with ``attachment`` embedded when ``archival``."""
    try:
        return engine().write(html, archival=archival, attachment=attachment, title=title)
    except ReportError:
        raise
    except Exception as exc:  # noqa: BLE001 - WeasyPrint raises many types; the user gets one
        raise ReportError(f"the PDF could not be produced: {type(exc).__name__}: {exc}") from exc
