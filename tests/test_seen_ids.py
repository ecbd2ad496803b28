"""The round's index of centre ids kept (compliance.batch.seen): exact answers whatever the hashes do."""
from __future__ import annotations

import random

import orjson
import pytest

from compliance.batch import seen as seen_module
from compliance.batch.seen import SeenIds


class Clashing(SeenIds):
    """Every id hashed into one of three buckets: nearly every lookup meets other ids' hashes."""

    hash = staticmethod(lambda cid: len(cid) % 3 - 1)


def rows_file(tmp_path, ids):
    """A rows file as the round writes it, one row per id; the offset each row starts at."""
    path, offsets, at = tmp_path / "rows.jsonl", [], 0
    with open(path, "wb") as fh:
        for i, cid in enumerate(ids):
            row = orjson.dumps({"loc": f"centres.jsonl:{i + 1}", "id": cid, "score": 90.0})
            offsets.append(at)
            fh.write(row + b"\n")
            at += len(row) + 1
    return path, offsets


@pytest.mark.parametrize("kind", [SeenIds, Clashing])
@pytest.mark.parametrize("merge_at", [4, 1 << 16])
def test_every_id_kept_is_found_at_its_row_and_no_other_id_is(tmp_path, monkeypatch, kind, merge_at):
    monkeypatch.setattr(seen_module, "MERGE_AT", merge_at)
    rng = random.Random(7)
    ids = [f"3302{rng.randrange(10**6):06d}-{i}" * rng.randrange(1, 4) for i in range(300)] + ["鄞州-01", "鄞州-02"]
    path, offsets = rows_file(tmp_path, ids)
    seen = kind(path)
    for start in range(0, 200, 20):               # whole chunks, as the columnar engine gives them
        chunk, at = ids[start:start + 20], offsets[start:start + 20]
        if seen.any_kept(chunk):                  # a clash only: then centre by centre, as the round does
            assert kind is Clashing
            for cid, offset in zip(chunk, at):
                assert seen.get(cid) is None
                seen.add(cid, offset)
        else:
            seen.add_new(chunk, at)
    for cid, offset in zip(ids[200:], offsets[200:]):   # one at a time, as the scalar way does
        assert seen.get(cid) is None
        seen.add(cid, offset)
    assert len(seen) == len(ids)
    for cid, offset in zip(ids, offsets):
        assert seen.get(cid) == offset
        assert cid in seen
        assert seen.any_kept(["not-a-centre", cid])
    others = ["330200", ids[0] + "x", "x" + ids[5], "", "中文编号", "鄞州-03"]
    for other in others:
        assert seen.get(other) is None and other not in seen
    assert seen.kept_among(others + ids[::7]) == [False] * len(others) + [True] * len(ids[::7])
    assert kind is Clashing or not seen.any_kept(others)    # a clash may only say "maybe"
    seen.clear()
    assert len(seen) == 0 and ids[0] not in seen


def test_runs_of_a_size_are_merged_so_they_stay_few(tmp_path, monkeypatch):
    monkeypatch.setattr(seen_module, "MERGE_AT", 4)
    ids = [f"c{i}" for i in range(4 * 100)]
    path, offsets = rows_file(tmp_path, ids)
    seen = SeenIds(path)
    seen.add_new(ids, offsets)                    # one chunk over the limit: one run
    for i in range(400, 800):
        seen.add(f"c{i}", i)
    assert len(seen._runs) <= 8 and len(seen) == 800
    assert all((hashes[:-1] <= hashes[1:]).all() for hashes, _ in seen._runs)
    assert [seen.get(f"c{i}") for i in range(0, 400, 37)] == [offsets[i] for i in range(0, 400, 37)]


def test_the_rows_are_read_back_only_after_the_writer_flushes(tmp_path, monkeypatch):
    monkeypatch.setattr(seen_module, "MERGE_AT", 1)
    path = tmp_path / "rows.jsonl"
    with open(path, "wb", buffering=1 << 20) as rows:
        seen = Clashing(path)
        seen.flush = rows.flush
        rows.write(orjson.dumps({"loc": "a.jsonl:1", "id": "a1"}) + b"\n")     # still in the writer's buffer
        seen.add("a1", 0)
        assert seen.get("a1") == 0                # found: flushed before it was read
        assert seen.get("b1") is None             # same bucket, another id: read and told apart
        assert seen.kept_among(["b1", "a1"]) == [False, True]
