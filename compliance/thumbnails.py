"""Thumbnails of evidence photos for the reports' appendix (佐证材料).

A thumbnail is made once per photo (by its SHA-256) in a process, at most :data:`EDGE` pixels on its long side,
as a JPEG of quality :data:`QUALITY` with the camera's orientation applied and no metadata (no EXIF, no GPS), and
handed to the templates as a ``data:`` URI: the PDF engine never reads a file for it. The photo is read again
from the path :func:`compliance.read_evidence` resolved, under the same guards: a regular file not reached
through a link, at most 10 MiB, the bytes whose hash the result carries (a file changed since is not shown),
and an image within the pixel bound with Pillow's decompression-bomb guard on (a PNG decodes whole, so one of
more than 16 million pixels, at most 64 MB decoded, is listed without a picture), decoded strictly (a cut-short
image refused, whatever WeasyPrint set for the process). A photo that fails any of them
is listed without a picture; a report is never refused for one.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import threading
import warnings
from collections import OrderedDict

from .evidence import MAX_EVIDENCE_BYTES, MAX_PIXELS, OPEN_FLAGS, read_capped, strict_decoding
from .model import EvidenceItem

__all__ = ["EDGE", "QUALITY", "thumbnail", "is_thumbnail"]

EDGE = 480                  # pixels on the long side
QUALITY = 80
_WHOLE_PNG = 16_000_000     # pixels of a PNG decoded whole (at most 64 MB), as evidence.py decodes one
_CACHED = 512               # thumbnails kept (about 30 KB each): a round's reports reuse them
_IMAGES = {"image/jpeg": "JPEG", "image/png": "PNG"}

_lock = threading.Lock()
_cache: OrderedDict[str, str | None] = OrderedDict()
_made: set[str] = set()     # SHA-256 of every thumbnail's bytes: the only data: images the PDF engine accepts


def thumbnail(item: EvidenceItem) -> str | None:
    """The item's thumbnail as a ``data:image/jpeg;base64,…`` URI, or None: for a PDF, an item named by its hash
    only, or a photo that cannot be read or decoded as it was when the result was made."""
    if item.path is None or item.sha256 is None or item.media_type not in _IMAGES:
        return None
    with _lock:
        if item.sha256 in _cache:
            _cache.move_to_end(item.sha256)
            return _cache[item.sha256]
    made = _make(item.path, item.sha256, _IMAGES[item.media_type])
    uri = None
    if made is not None:
        uri = "data:image/jpeg;base64," + base64.b64encode(made).decode("ascii")
    with _lock:
        if made is not None:
            _made.add(hashlib.sha256(made).hexdigest())
        _cache[item.sha256] = uri
        while len(_cache) > _CACHED:
            _cache.popitem(last=False)
    return uri


def is_thumbnail(data: bytes) -> bool:
    """Whether ``data`` is a thumbnail this process made (what the PDF engine may take from a ``data:`` URI)."""
    digest = hashlib.sha256(data).hexdigest()
    with _lock:
        return digest in _made


def _read(path: str) -> bytes | None:
    try:
        fd = os.open(path, OPEN_FLAGS)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_EVIDENCE_BYTES:
            return None
        data = read_capped(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) <= MAX_EVIDENCE_BYTES else None


def _make(path: str, sha256: str, kind: str) -> bytes | None:
    data = _read(path)
    if data is None or hashlib.sha256(data).hexdigest() != sha256:
        return None
    from PIL import Image, ImageOps

    try:
        with strict_decoding(), warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                width, height = image.size
                if width * height > (MAX_PIXELS if kind == "JPEG" else _WHOLE_PNG):
                    return None     # a JPEG decodes at 1/8 scale at most; a PNG whole, so only up to 16 M pixels
                if kind == "JPEG":
                    image.draft("RGB", (EDGE, EDGE))        # decode at the smallest scale still ≥ EDGE: 1/2 … 1/8
                image.load()
                turned = ImageOps.exif_transpose(image)
                if turned.mode in ("RGBA", "LA", "PA") or (turned.mode == "P" and "transparency" in turned.info):
                    rgba = turned.convert("RGBA")
                    flat = Image.new("RGB", rgba.size, (255, 255, 255))
                    flat.paste(rgba, mask=rgba.getchannel("A"))
                    turned = flat
                elif turned.mode != "RGB":
                    turned = turned.convert("RGB")
                turned.thumbnail((EDGE, EDGE), Image.Resampling.LANCZOS)
                out = io.BytesIO()
                turned.save(out, "JPEG", quality=QUALITY, optimize=True)   # no exif=: nothing of the original's metadata
                return out.getvalue()
    except Exception:  # noqa: BLE001 - a photo Pillow cannot decode is listed without a picture
        return None
