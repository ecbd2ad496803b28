"""The centre ids a round has kept, and where each one's row starts, in 16 bytes a centre.

A round refuses a centre whose id it has already kept, naming where the first one was read, and at the end
finds last year's centres that are gone. A dict of the ids took about 145 bytes a centre (the id's string, its
offset's integer and the table's slot): 87 MB of a national round's 600,000, the largest thing the round's own
process held. Here each id is only its 64-bit hash beside its row's offset, in two sorted NumPy arrays and a
dict of the latest few thousand. A hash says where an id may be; the answer is always exact: the id of the row
found there is read back and compared (a row is read only for an id seen before, or for another id with the
same hash, one chance in 10^19 for each pair). The rows are the round's rows file, read by position.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import orjson
from numpy.typing import NDArray

from .outputs import row_at

MERGE_AT = 1 << 16          # ids in the dict before it is merged into the sorted arrays


class SeenIds:
    """Centre id → offset of its row in the rows file at ``path``. While that file is being written, ``flush`` is
    its writer's: the rows are read back only after it."""

    hash: Callable[[str], int] = staticmethod(hash)      # any function to 64-bit integers (the tests clash them)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.flush: Callable[[], None] = lambda: None
        self._fd: int | None = None
        self._hashes: NDArray[np.int64] = np.empty(0, np.int64)
        self._offsets: NDArray[np.int64] = np.empty(0, np.int64)
        self._recent: dict[int, int] = {}
        self._clashes: dict[str, int] = {}      # ids whose hash another id already has: held whole

    def __len__(self) -> int:
        return len(self._hashes) + len(self._recent) + len(self._clashes)

    def _row_id(self, offset: int) -> object:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return orjson.loads(row_at(self._fd, offset)).get("id")

    def _candidates(self, h: int) -> list[int]:
        found = [self._recent[h]] if h in self._recent else []
        if len(self._hashes):
            left = int(np.searchsorted(self._hashes, h, "left"))
            right = left
            while right < len(self._hashes) and self._hashes[right] == h:
                right += 1
            found.extend(int(o) for o in self._offsets[left:right])
        return found

    def get(self, cid: str) -> int | None:
        """Where the row of ``cid`` starts, if it was kept."""
        if self._clashes and cid in self._clashes:
            return self._clashes[cid]
        candidates = self._candidates(self.hash(cid))
        if candidates:
            self.flush()
            for offset in candidates:
                if self._row_id(offset) == cid:
                    return offset
        return None

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, str) and self.get(cid) is not None

    def add(self, cid: str, offset: int) -> None:
        """Keep ``cid`` (not kept before: :meth:`get` said so) with its row's offset."""
        h = self.hash(cid)
        if h in self._recent or self._candidates(h):
            self._clashes[cid] = offset
            return
        self._recent[h] = offset
        if len(self._recent) >= MERGE_AT:
            self._merge()

    def add_new(self, ids: Sequence[str], offsets: Sequence[int]) -> None:
        """Keep a chunk's ids, none kept before and no two alike (:meth:`any_kept` and the caller said so)."""
        recent = self._recent
        before = len(recent)
        hashes = list(map(self.hash, ids))
        recent.update(zip(hashes, offsets))
        if len(recent) - before < len(ids):       # two of the chunk's ids share a hash: kept one at a time
            for h in hashes:
                recent.pop(h, None)
            for cid, offset in zip(ids, offsets):
                self.add(cid, offset)
        elif len(recent) >= MERGE_AT:
            self._merge()

    def any_kept(self, ids: Sequence[str]) -> bool:
        """Whether any of ``ids`` may have been kept: False is certain; True sends the chunk to :meth:`get`."""
        if self._clashes and any(cid in self._clashes for cid in ids):
            return True
        hashes = np.fromiter(map(self.hash, ids), np.int64, len(ids))
        recent = self._recent
        if recent and any(h in recent for h in hashes.tolist()):
            return True
        if not len(self._hashes):
            return False
        at = np.searchsorted(self._hashes, hashes)
        return bool((self._hashes[np.minimum(at, len(self._hashes) - 1)] == hashes).any())

    def _merge(self) -> None:
        hashes = np.concatenate([self._hashes, np.fromiter(self._recent.keys(), np.int64, len(self._recent))])
        offsets = np.concatenate([self._offsets, np.fromiter(self._recent.values(), np.int64, len(self._recent))])
        order = np.argsort(hashes, kind="stable")
        self._hashes, self._offsets = hashes[order], offsets[order]
        self._recent.clear()

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)

    def clear(self) -> None:
        """Forget every id, and close the rows file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._hashes = self._offsets = np.empty(0, np.int64)
        self._recent.clear()
        self._clashes.clear()
