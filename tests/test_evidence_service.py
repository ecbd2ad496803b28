"""The service's evidence store over real HTTP: photos and PDFs kept by their SHA-256, once, never changed; read back
only by those who uploaded them or may read an audit naming them; and inspections only from bureau accounts."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import random
import re
import select
import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from conftest import profile
from test_service import Service, _free_port, add_user, assert_problem, client

HAIYUE_ID = "330212-SN-0103"
OTHER_ID = "330212-XX-9999"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service in its own process, with a bureau, a system and two community accounts (haiyue's and another's)."""
    svc = Service(tmp_path_factory.mktemp("evidence"))
    svc.tokens = {"bureau": add_user(svc.db, "bureau1", "bureau"), "system": add_user(svc.db, "integration", "system"),
                  "haiyue": add_user(svc.db, "haiyue", "community", HAIYUE_ID),
                  "other": add_user(svc.db, "elsewhere", "community", OTHER_ID)}
    svc.start()
    yield svc
    svc.stop()


def jpeg(seed: int = 0, size: tuple[int, int] = (64, 48)) -> bytes:
    """A real photo's bytes, different for every seed."""
    from PIL import Image

    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    image.putpixel((seed % size[0], 0), (255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def png(seed: int = 0) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (seed % 256, 200, 10)).save(out, "PNG")
    return out.getvalue()


def pdf(seed: int = 0) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (60, 80), (250, 250, seed % 256)).save(out, "PDF")
    return out.getvalue()


def gif() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (10, 10), (0, 0, 0)).save(out, "GIF")
    return out.getvalue()


def upload(c: httpx.Client, data: bytes, name: str = "photo.jpg", type_: str = "image/jpeg") -> httpx.Response:
    return c.post("/v1/evidence", files={"file": (name, data, type_)})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def evidence_folder(service: Any) -> Path:
    return service.db_path.parent / "compliance-batches" / "evidence"


def with_evidence(centre: str = HAIYUE_ID, *, inspection: bool = False, **evidence: list[dict[str, Any]]) -> dict[str, Any]:
    doc = profile(center__id=centre)
    if inspection:
        doc["audit"] = {"kind": "inspection", "inspectors": ["王敏", "李强"], "responsible": "陈芳"}
    if evidence:
        doc["evidence"] = {clause.replace("_", "."): items for clause, items in evidence.items()}
    return doc


def submit(c: httpx.Client, doc: dict[str, Any]) -> httpx.Response:
    return c.post("/v1/audits?rules=national", json=doc)


# --------------------------------------------------------------------------- upload

def test_a_photo_is_kept_by_its_hash_once_and_the_same_bytes_again_answer_200_with_the_same_body(service):
    photo = jpeg(1)
    with client(service, "haiyue") as c:
        first = upload(c, photo, "大厅.jpg")
        assert first.status_code == 201, first.text
        assert first.json() == {"sha256": sha(photo), "media_type": "image/jpeg", "size": len(photo)}
        assert first.headers["location"] == f"/v1/evidence/{sha(photo)}"
        again = upload(c, photo, "another-name.png", "image/png")      # the name and declared type count for nothing
        assert again.status_code == 200 and again.json() == first.json()
    with client(service, "bureau") as c:                                 # another account, the same bytes
        assert upload(c, photo).status_code == 200
    kept = evidence_folder(service) / sha(photo)[:2] / sha(photo)[2:]
    assert kept.read_bytes() == photo
    rows = sqlite3.connect(service.db_path).execute(
        "select sha256, media_type, size, uploaded_by from evidence where sha256 = ?", (sha(photo),)).fetchall()
    assert rows == [(sha(photo), "image/jpeg", len(photo), "haiyue")]
    assert not [p for p in evidence_folder(service).rglob(".part-*")]         # no temporary file left behind


@pytest.mark.parametrize("make, kind", [(lambda: png(2), "image/png"), (lambda: pdf(2), "application/pdf")])
def test_a_png_and_a_pdf_are_kept_as_what_their_bytes_are(service, make, kind):
    data = make()
    with client(service, "bureau") as c:
        answer = upload(c, data, "scan.bin", "application/octet-stream")
        assert answer.status_code == 201 and answer.json()["media_type"] == kind
        back = c.get(f"/v1/evidence/{sha(data)}")
        assert back.status_code == 200 and back.content == data and back.headers["content-type"] == kind


def _cut_jpeg() -> bytes:
    whole = jpeg(3, (400, 300))
    return whole[: len(whole) // 2]


@pytest.mark.parametrize("name, data", [
    ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ("page.html", b"<!doctype html><html><body><script>alert(1)</script></body></html>"),
    ("anim.gif", gif()),
    ("notes.txt", "大厅在一楼".encode()),
    ("cut.jpg", _cut_jpeg()),
    ("fake.jpg", b"\xff\xd8\xff\xe0" + b"junk" * 200),
    ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 300),
    ("cut.pdf", pdf(4)[:-200]),
], ids=["svg", "html", "gif", "text", "cut-jpeg", "jpeg-header-on-junk", "png-header-on-zeros", "cut-pdf"])
def test_anything_but_a_decodable_jpeg_png_or_whole_pdf_is_refused_415_and_not_kept(service, name, data):
    with client(service, "bureau") as c:
        doc = assert_problem(upload(c, data, name, "image/jpeg"), 415)
        assert doc["detail"]
        assert c.get(f"/v1/evidence/{sha(data)}").status_code == 404
    assert not (evidence_folder(service) / sha(data)[:2] / sha(data)[2:]).exists()


def test_a_refusal_is_in_chinese_by_default_and_names_the_uploaded_file(service):
    answer = httpx.post(service.url + "/v1/evidence", files={"file": ("cut.jpg", _cut_jpeg(), "image/jpeg")},
                        headers={"Authorization": f"Bearer {service.tokens['haiyue']}"})
    doc = assert_problem(answer, 415)
    assert re.search(r"[\u4e00-\u9fff]", doc["title"]) and "cut.jpg" in doc["detail"]
    assert not re.search(r"[A-Za-z]{3,}", doc["title"])


def test_an_upload_needs_a_token_a_form_and_a_file_field(service):
    assert httpx.post(service.url + "/v1/evidence", files={"file": ("a.jpg", jpeg(5), "image/jpeg")}).status_code == 401
    with client(service, "bureau") as c:
        assert_problem(c.post("/v1/evidence", content=jpeg(5), headers={"Content-Type": "image/jpeg"}), 415)
        doc = assert_problem(c.post("/v1/evidence", files={"photo": ("a.jpg", jpeg(5), "image/jpeg")}), 422)
        assert doc["problems"][0]["path"] == "file"
        assert_problem(c.post("/v1/evidence", files={"file": ("a.jpg", b"", "image/jpeg")}), 422)


def test_a_file_over_10_mib_is_refused_413_as_it_streams_and_nothing_is_kept(service):
    from PIL import Image

    big = io.BytesIO()                       # a real JPEG of noise, just over 10 MiB
    Image.effect_noise((2600, 2600), 120).convert("RGB").save(big, "JPEG", quality=100)
    data = big.getvalue()
    assert len(data) > 10 << 20, len(data)

    def chunks() -> Iterator[bytes]:         # sent without a Content-Length: counted as it arrives
        boundary = b"--cut\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n" \
                   b"Content-Type: image/jpeg\r\n\r\n"
        yield boundary
        for i in range(0, len(data), 1 << 16):
            yield data[i:i + (1 << 16)]
        yield b"\r\n--cut--\r\n"

    with client(service, "bureau") as c:
        answer = c.post("/v1/evidence", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=cut"})
        assert_problem(answer, 413)
        declared = c.post("/v1/evidence", files={"file": ("big.jpg", data, "image/jpeg")})
        assert_problem(declared, 413)
        assert c.get(f"/v1/evidence/{sha(data)}").status_code == 404
    assert not (evidence_folder(service) / sha(data)[:2]).joinpath(sha(data)[2:]).exists()


def test_a_2_gib_upload_is_cut_off_soon_after_10_mib_not_read_to_its_end(service):
    """A client that would send 2 GiB without a length is answered 413 once its body passes the cap: the service
    neither holds it nor waits for the rest."""
    head = (f"POST /v1/evidence HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {service.tokens['bureau']}\r\n"
            "Content-Type: multipart/form-data; boundary=cut\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    part = b"--cut\r\nContent-Disposition: form-data; name=\"file\"; filename=\"huge.jpg\"\r\n\r\n\xff\xd8\xff\xe0"
    block = b"\0" * (1 << 20)
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as s:
        s.sendall(head + b"%x\r\n%s\r\n" % (len(part), part))
        try:
            while sent < 2 << 30:
                s.sendall(b"%x\r\n%s\r\n" % (len(block), block))
                sent += len(block)
                if select.select([s], [], [], 0)[0]:
                    break
            s.settimeout(30)
            answer = s.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            with contextlib.suppress(OSError):
                answer = s.recv(65536)
    assert sent < 64 << 20, sent                          # refused long before the end
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


# --------------------------------------------------------------------------- reading back

def test_the_uploader_reads_a_file_back_as_a_download_that_no_browser_runs(service):
    photo = jpeg(6)
    with client(service, "haiyue") as c:
        assert upload(c, photo).status_code == 201
        back = c.get(f"/v1/evidence/{sha(photo)}")
    assert back.status_code == 200 and back.content == photo
    assert back.headers["content-type"] == "image/jpeg"
    assert back.headers["content-disposition"].startswith("attachment;")
    assert back.headers["x-content-type-options"] == "nosniff"


def test_who_may_read_a_file_follows_the_audits_that_name_it(service):
    proof = jpeg(7)
    with client(service, "haiyue") as haiyue, client(service, "other") as other, \
            client(service, "bureau") as bureau, client(service, "system") as system:
        assert upload(haiyue, proof).status_code == 201
        url = f"/v1/evidence/{sha(proof)}"
        # Uploaded, named by no audit yet: only its uploader reads it.
        for c in (other, bureau, system):
            assert_problem(c.get(url), 404)
        stored = submit(haiyue, with_evidence(**{"5_5": [{"sha256": sha(proof), "note": "服务大厅位于一楼"}]}))
        assert stored.status_code == 201, stored.text
        named = [e for f in stored.json()["findings"] for e in f.get("evidence", ())]
        assert [e["sha256"] for e in named] == [sha(proof)]
        for c in (haiyue, bureau, system):              # every account that may read haiyue's audits
            assert c.get(url).content == proof
        assert_problem(other.get(url), 404)             # another centre's: as if it did not exist
        # A bureau inspector's photo, named by an inspection of haiyue: haiyue's community reads it, no other.
        seen = jpeg(8)
        assert upload(bureau, seen).status_code == 201
        inspected = submit(bureau, with_evidence(inspection=True, **{"4_1": [{"sha256": sha(seen)}]}))
        assert inspected.status_code == 201, inspected.text
        assert haiyue.get(f"/v1/evidence/{sha(seen)}").content == seen
        assert_problem(other.get(f"/v1/evidence/{sha(seen)}"), 404)


@pytest.mark.parametrize("name", ["zz", "0" * 63, "0" * 65, "g" * 64, "..%2F..%2Fservice.db", "0" * 64])
def test_a_malformed_or_unknown_hash_is_404_never_an_error(service, name):
    with client(service, "bureau") as c:
        assert_problem(c.get(f"/v1/evidence/{name}"), 404)


def test_a_hash_in_capitals_names_the_same_file(service):
    photo = jpeg(9)
    with client(service, "haiyue") as c:
        upload(c, photo)
        assert c.get(f"/v1/evidence/{sha(photo).upper()}").content == photo


# --------------------------------------------------------------------------- profiles naming evidence

def test_a_profile_naming_a_hash_the_service_does_not_hold_is_422_at_that_item(service):
    held = jpeg(10)
    with client(service, "bureau") as c:
        upload(c, held)
        doc = with_evidence(inspection=True, **{"5_5": [{"sha256": sha(held)}, {"sha256": "ab" * 32, "note": "缺"}]})
        answer = assert_problem(submit(c, doc), 422)
    assert [p["path"] for p in answer["problems"]] == ["$.evidence['5.5'][1].sha256"]
    assert "POST /v1/evidence" in answer["problems"][0]["message"]


def test_a_community_cannot_name_another_centres_photo_it_only_knows_the_hash_of(service):
    theirs = jpeg(11)
    with client(service, "haiyue") as haiyue, client(service, "other") as other:
        assert upload(haiyue, theirs).status_code == 201
        answer = assert_problem(submit(other, with_evidence(OTHER_ID, **{"5_5": [{"sha256": sha(theirs)}]})), 422)
        assert answer["problems"][0]["path"] == "$.evidence['5.5'][0].sha256"
        assert_problem(other.get(f"/v1/evidence/{sha(theirs)}"), 404)       # and so never gets to read it


def test_a_profile_naming_evidence_by_file_is_told_to_upload_it_first(service):
    with client(service, "haiyue") as c:
        answer = assert_problem(submit(c, with_evidence(**{"5_5": [{"file": "photos/hall.jpg"}]})), 422)
    assert answer["problems"][0]["path"] == "$.evidence['5.5'][0].file"
    assert "POST /v1/evidence" in answer["problems"][0]["message"]


# --------------------------------------------------------------------------- inspections

@pytest.mark.parametrize("who", ["haiyue", "system"])
def test_only_a_bureau_account_submits_an_inspection(service, who):
    doc = with_evidence(inspection=True)
    doc["space"]["total_area_m2"] += {"haiyue": 1, "system": 2}[who]     # not identical to one stored before
    answer = httpx.post(service.url + "/v1/audits?rules=national", json=doc,
                        headers={"Authorization": f"Bearer {service.tokens[who]}"})      # in Chinese, by default
    problem = assert_problem(answer, 403)
    assert re.search(r"[\u4e00-\u9fff]", problem["title"]) and not re.search(r"[A-Za-z]{3,}", problem["title"])
    with client(service, "bureau") as c:
        stored = submit(c, doc)
        assert stored.status_code == 201 and stored.json()["audit"]["kind"] == "inspection"
    with client(service, who) as c:                # a self-check of the same centre is still theirs to send
        assert submit(c, with_evidence()).status_code in (200, 201)


# --------------------------------------------------------------------------- append-only

def test_the_database_refuses_to_change_or_remove_evidence_rows(service):
    with client(service, "haiyue") as c:           # a row in each table
        photo = jpeg(12)
        upload(c, photo)
        assert submit(c, with_evidence(**{"6_1": [{"sha256": sha(photo)}]})).status_code == 201
    db = sqlite3.connect(service.db_path)
    for table in ("evidence", "evidence_uploads", "evidence_uses"):
        assert db.execute(f"select count(*) from {table}").fetchone()[0] > 0
        for statement in (f"update {table} set sha256 = 'x'", f"delete from {table}"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)


def test_the_same_new_bytes_uploaded_at_once_are_kept_once(service):
    photo = jpeg(13, (640, 480))
    with client(service, "bureau") as c, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: upload(c, photo), range(8)))
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert all(a.json() == answers[0].json() for a in answers)
    assert sqlite3.connect(service.db_path).execute("select count(*) from evidence where sha256 = ?",
                                                    (sha(photo),)).fetchone()[0] == 1


# --------------------------------------------------------------------------- a full disk

@contextlib.contextmanager
def in_process(folder: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The application served over HTTP from this process (so that a test can make its disk fill): its URL and
    tokens of a bureau and a community account."""
    import uvicorn

    from compliance.service import auth
    from compliance.service.app import create_app
    from compliance.service.store import Store

    store = Store(f"sqlite:///{folder / 'service.db'}")
    tokens = {"bureau": auth.new_token(), "haiyue": auth.new_token()}
    store.add_account("bureau1", "bureau", None, auth.token_hash(tokens["bureau"]))
    store.add_account("haiyue", "community", HAIYUE_ID, auth.token_hash(tokens["haiyue"]))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store, folder / "data"), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the service did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", tokens
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_answers_507_and_stores_nothing_half(tmp_path, monkeypatch, code):
    """The write of the file's bytes fails as a full disk (or quota) makes it fail, part-way: the answer is 507, no
    row and no file (whole or partial) is left, and the same upload once there is room is kept whole."""
    from compliance.service import evidence

    real = evidence.write

    def fills_up(out: Any, data: bytes) -> None:
        out.write(data[: len(data) // 2])
        out.flush()
        raise OSError(code, "No space left on device")

    photo = jpeg(14)
    with in_process(tmp_path) as (url, tokens):
        headers = {"Authorization": f"Bearer {tokens['haiyue']}", "Accept-Language": "en"}
        monkeypatch.setattr(evidence, "write", fills_up)
        full = httpx.post(url + "/v1/evidence", files={"file": ("a.jpg", photo, "image/jpeg")}, headers=headers)
        doc = assert_problem(full, 507)
        assert "nothing was stored" in doc["detail"]
        kept = tmp_path / "data" / "evidence"
        assert [p for p in kept.rglob("*") if p.is_file()] == []
        assert sqlite3.connect(tmp_path / "service.db").execute("select count(*) from evidence").fetchone()[0] == 0
        assert httpx.get(f"{url}/v1/evidence/{sha(photo)}", headers=headers).status_code == 404
        monkeypatch.setattr(evidence, "write", real)
        again = httpx.post(url + "/v1/evidence", files={"file": ("a.jpg", photo, "image/jpeg")}, headers=headers)
        assert again.status_code == 201
        assert httpx.get(f"{url}/v1/evidence/{sha(photo)}", headers=headers).content == photo


@contextlib.contextmanager
def tiny_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``folder`` (root only): a disk that really fills."""
    import subprocess

    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here ({mounted.stderr.decode(errors='replace').strip()}); "
                    "the full disk is tested by test_a_full_disk_answers_507_and_stores_nothing_half")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_data_folder_on_a_disk_that_really_fills_answers_507_and_keeps_what_it_had(tmp_path):
    """The service's data folder on a 3 MiB tmpfs: photos are kept until the disk is full; the one that does not fit
    is 507 with no file (whole or partial) and no row; what was kept before is still served whole."""
    from PIL import Image

    svc = Service(tmp_path)
    token = add_user(svc.db, "bureau1", "bureau")
    with tiny_disk(tmp_path / "data", "3m") as data:
        svc.args = ["--data", str(data)]
        svc.start()
        try:
            headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
            photos = []
            for seed in range(4):                       # about 1.2 MB each: the third cannot fit
                out = io.BytesIO()
                pixels = random.Random(seed).randbytes(1000 * 1000 * 3)
                Image.frombytes("RGB", (1000, 1000), pixels).save(out, "JPEG", quality=95)
                photos.append(out.getvalue())
            assert all(1 << 20 < len(p) < 2 << 20 for p in photos), [len(p) for p in photos]
            answers = [httpx.post(svc.url + "/v1/evidence", files={"file": (f"{i}.jpg", p, "image/jpeg")},
                                  headers=headers, timeout=60) for i, p in enumerate(photos)]
            codes = [a.status_code for a in answers]
            assert codes[0] == 201 and 507 in codes, codes
            assert_problem(answers[codes.index(507)], 507)
            for photo, answer in zip(photos, answers):
                back = httpx.get(f"{svc.url}/v1/evidence/{sha(photo)}", headers=headers, timeout=60)
                if answer.status_code == 201:
                    assert back.content == photo
                else:
                    assert back.status_code == 404
            kept = {p.name for p in (data / "evidence").rglob("*") if p.is_file()}
            assert kept == {sha(p)[2:] for p, a in zip(photos, answers) if a.status_code == 201}     # no partial file
            rows = sqlite3.connect(svc.db_path).execute("select sha256 from evidence").fetchall()
            assert {r[0] for r in rows} == {sha(p) for p, a in zip(photos, answers) if a.status_code == 201}
        finally:
            svc.stop()
