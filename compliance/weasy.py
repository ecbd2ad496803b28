"""WeasyPrint, imported once per process without a search for its system libraries under other systems' names.

WeasyPrint opens GObject, Pango, HarfBuzz and fontconfig by trying each platform's spelling of their names in
turn (``libpango-1.0-0``, ``pango-1.0-0``, ``pango-1.0``, ``libpango-1.0.so.0``…). cffi answers every spelling
the dynamic loader does not know by asking :func:`ctypes.util.find_library`, which on Linux runs ``ldconfig``,
``gcc`` and ``ld`` in turn: about 50 processes and 0.2–0.3 s of the 0.5 s the import takes, in every process that
draws a PDF (a command, each worker of a round with reports). On Linux the spellings tried last are the
libraries' sonames, which the loader opens directly, so the search is skipped while WeasyPrint is imported;
if that import fails all the same, it is tried again with the search, as WeasyPrint does on its own.

A missing system library is an :class:`ImportError` here, as a missing package is: a process that imports this
module before it forks its workers goes on without it, and :mod:`compliance.pdf` says what is missing.
"""
from __future__ import annotations

import contextlib
import ctypes.util
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def _sonames_only() -> Iterator[None]:
    search = ctypes.util.find_library
    ctypes.util.find_library = lambda name: None
    try:
        yield
    finally:
        ctypes.util.find_library = search


def _import() -> Any:
    # WeasyPrint prints its installation advice when a library is missing: standard error, not a command's output
    with contextlib.redirect_stdout(sys.stderr):
        if sys.platform.startswith("linux") and "weasyprint" not in sys.modules:
            try:
                with _sonames_only():
                    import weasyprint
                return weasyprint
            except OSError:
                pass                # a library known by another name here: the search finds it
        try:
            import weasyprint
        except OSError as exc:      # Pango or HarfBuzz missing on the system
            raise ImportError(str(exc)) from exc
        return weasyprint


weasyprint = _import()
