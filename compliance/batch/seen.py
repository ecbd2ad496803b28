"""The centre ids a round has kept, and where each one's row starts, in 16 bytes a centre.

A round refuses a centre whose id it has already kept, naming where the first one was read, and at the end
finds last year's centres that are gone. A dict of the ids took about 145 bytes a centre (the id's string, its
offset's integer and the table's slot): 87 MB of a national round's 600,000, the largest thing the round's own
process held. Here the latest ids wait in a dict; every 65,536 they become a run of two NumPy arrays sorted by
the ids' 64-bit hashes, each id's hash beside its row's offset, and two runs of a size are merged into one (so
there are never more than about log2 of the centres / 65,536 runs). A hash says where an id may be; the answer
is always exact: the id in the row found there is read back and compared (a row is read only for an id kept
before, or for another id with the same hash, one chance in 10^19 for each pair). The rows are the round's rows
file, read by position; while it is being written, ``flush`` is its writer's, called before a row is read.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import orjson
from numpy.typing import NDArray

from .outputs import row_at

MERGE_AT = 1 << 16          # ids in the dict before they become a sorted run

_Run = tuple[NDArray[np.int64], NDArray[np.int64]]     # hashes (sorted), the rows' offsets


class SeenIds:
    """Centre id → offset of its row in the rows file at ``path``."""

    hash: Callable[[str], int] = staticmethod(hash)      # any function to 64-bit integers (the tests clash them)

    def __init__(self, path: Path) -> None:
        self.path = path
        self.flush: Callable[[], None] = lambda: None
        self._fd: int | None = None
        self._recent: dict[str, int] = {}
        self._runs: list[_Run] = []

    def __len__(self) -> int:
        return len(self._recent) + sum(len(h) for h, _ in self._runs)

    def _row_id(self, offset: int) -> object:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return orjson.loads(row_at(self._fd, offset)).get("id")

    def _confirmed(self, cid: str, h: int, lefts: Sequence[int]) -> int | None:
        """The offset of ``cid`` among the runs' entries of hash ``h`` (from ``lefts``, one per run), read back."""
        for (hashes, offsets), left in zip(self._runs, lefts):
            while left < len(hashes) and hashes[left] == h:
                if self._row_id(int(offsets[left])) == cid:
                    return int(offsets[left])
                left += 1
        return None

    def get(self, cid: str) -> int | None:
        """Where the row of ``cid`` starts, if it was kept."""
        found = self._recent.get(cid)
        if found is not None or not self._runs:
            return found
        h = self.hash(cid)
        lefts = [int(np.searchsorted(hashes, h)) for hashes, _ in self._runs]
        if any(left < len(hashes) and hashes[left] == h for (hashes, _), left in zip(self._runs, lefts)):
            self.flush()
            return self._confirmed(cid, h, lefts)
        return None

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, str) and self.get(cid) is not None

    def _lefts(self, ids: Sequence[str]) -> tuple[list[int], list[list[int]], NDArray[np.bool_]]:
        """The ids' hashes; where each would sit in each run; and whether any run has its hash."""
        hashes = np.fromiter(map(self.hash, ids), np.int64, len(ids))
        lefts, hit = [], np.zeros(len(ids), bool)
        for run, _ in self._runs:
            at = np.searchsorted(run, hashes)
            hit |= run[np.minimum(at, len(run) - 1)] == hashes
            lefts.append(at.tolist())
        return hashes.tolist(), lefts, hit

    def any_kept(self, ids: Sequence[str]) -> bool:
        """Whether any of ``ids`` may have been kept: False is certain; True sends the chunk to :meth:`get`."""
        if not self._recent.keys().isdisjoint(ids):
            return True
        if not self._runs:
            return False
        hashes = np.sort(np.fromiter(map(self.hash, ids), np.int64, len(ids)))   # sorted: NumPy searches on from
        for run, _ in self._runs:                                              # where the last one was found
            at = np.searchsorted(run, hashes)
            if (run[np.minimum(at, len(run) - 1)] == hashes).any():
                return True
        return False

    def kept_among(self, ids: Sequence[str]) -> list[bool]:
        """For each of ``ids``, whether it was kept: :meth:`__contains__` for many ids at once."""
        recent = self._recent
        if not self._runs:
            return [cid in recent for cid in ids]
        hashes, lefts, hit = self._lefts(ids)
        self.flush()
        return [cid in recent or (bool(maybe) and self._confirmed(cid, h, [at[i] for at in lefts]) is not None)
                for i, (cid, h, maybe) in enumerate(zip(ids, hashes, hit.tolist()))]

    def add(self, cid: str, offset: int) -> None:
        """Keep ``cid`` (not kept before: :meth:`get` said so) with its row's offset."""
        self._recent[cid] = offset
        if len(self._recent) >= MERGE_AT:
            self._settle()

    def add_new(self, ids: Sequence[str], offsets: Sequence[int]) -> None:
        """Keep a chunk's ids, none kept before and no two alike (:meth:`any_kept` and the caller said so)."""
        self._recent.update(zip(ids, offsets))
        if len(self._recent) >= MERGE_AT:
            self._settle()

    def _settle(self) -> None:
        """The dict becomes a run; then the last two runs are merged while the older is at most twice the newer."""
        recent, n = self._recent, len(self._recent)
        hashes = np.fromiter(map(self.hash, recent), np.int64, n)
        order = np.argsort(hashes, kind="stable")
        self._runs.append((hashes[order], np.fromiter(recent.values(), np.int64, n)[order]))
        recent.clear()
        runs = self._runs
        while len(runs) > 1 and len(runs[-2][0]) <= 2 * len(runs[-1][0]):
            (h1, o1), (h2, o2) = runs.pop(-2), runs.pop()
            hashes = np.concatenate([h1, h2])
            order = np.argsort(hashes, kind="stable")
            runs.append((hashes[order], np.concatenate([o1, o2])[order]))

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)         # None too when __init__ did not finish
        if fd is not None:
            os.close(fd)

    def clear(self) -> None:
        """Forget every id, and close the rows file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._recent.clear()
        self._runs = []
