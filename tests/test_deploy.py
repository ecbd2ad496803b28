"""The service behind Debian's nginx with TLS, configured exactly as docs/deploy.md says.

nginx runs as an ordinary process of the test (its own prefix and configuration in a temporary folder, not
daemonised, its pid and logs there too, free ports), with a self-signed certificate made by the guide's own
openssl command, in front of a real `compliance serve --forwarded-allow-ips 127.0.0.1`. The site
configuration is read from the guide, so the guide cannot drift from what is tested: only the ports, the
certificate's place and the redirect's port (a test cannot listen on 443) are changed.

Addresses: every connection here is on the loopback interface, where Linux lets a client connect from any
address of 127.0.0.0/8. nginx reaches the service from 127.0.0.1 (trusted); a person's browser is 127.0.0.3
(through nginx); an intruder talks to the service directly from 127.0.0.2 (not trusted).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import yaml

from conftest import EXAMPLES, ROOT, run_cli
from test_postgres import postgres  # noqa: F401 - the PostgreSQL server fixture
from test_service import Service, _free_port, add_user

GUIDE, GUIDE_ZH = ROOT / "docs" / "deploy.md", ROOT / "docs" / "deploy.zh.md"
HAIYUE = EXAMPLES / "haiyue.yaml"                       # centre 330212-SN-0103
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PERSON, INTRUDER = "127.0.0.3", "127.0.0.2"
FORGED = "203.0.113.9"                                  # an address nobody here has (TEST-NET-3)



def guide_block(guide: Path, language: str) -> str:
    """The guide's first fenced block of ``language`` (```nginx, ```ini)."""
    found = re.search(rf"^```{language}\n(.*?)^```", guide.read_text("utf-8"), re.S | re.M)
    assert found, f"{guide.name} has no {language} block"
    return found.group(1)


def directives(config: str) -> list[str]:
    """A configuration without its comments and spacing: what nginx reads."""
    lines = (re.sub(r"\s+#.*$|^\s*#.*$", "", line).strip() for line in config.splitlines())
    return [re.sub(r"\s+", " ", line) for line in lines if line]


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the guide's command (its name and place changed)."""
    command = next(line for line in GUIDE.read_text("utf-8").split("```sh")[1:] if "openssl req" in line)
    command = command.split("```")[0].strip().split("\n", 1)[1].replace("\\\n", " ")   # past install -d
    key, cert = folder / "privkey.pem", folder / "fullchain.pem"
    command = (command.replace("/etc/ssl/compliance/privkey.pem", str(key))
               .replace("/etc/ssl/compliance/fullchain.pem", str(cert))
               .replace("CN=audit.example.gov.cn", "CN=127.0.0.1")
               .replace("DNS:audit.example.gov.cn", "IP:127.0.0.1"))
    subprocess.run(command, shell=True, check=True, capture_output=True, timeout=60)
    return key, cert


class Front:
    """nginx, as the guide configures it, in front of the service on ``upstream`` (a port)."""

    def __init__(self, folder: Path, upstream: int) -> None:
        self.folder = folder
        self.https, self.http = _free_port(), _free_port()
        self.url, self.plain = f"https://127.0.0.1:{self.https}", f"http://127.0.0.1:{self.http}"
        key, self.cert = certificate(folder)
        site = guide_block(GUIDE, "nginx")
        for wanted, local in (("listen 443 ssl http2;", f"listen 127.0.0.1:{self.https} ssl http2;"),
                              ("listen 80;", f"listen 127.0.0.1:{self.http};"),
                              ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream};"),
                              ("https://$host$request_uri", f"https://$host:{self.https}$request_uri"),
                              ("/etc/ssl/compliance/fullchain.pem", str(self.cert)),
                              ("/etc/ssl/compliance/privkey.pem", str(key))):
            assert wanted in site, wanted
            site = site.replace(wanted, local)
        site = re.sub(r"^\s*listen \[::\].*\n", "", site, flags=re.M)        # IPv6 may be off on a test machine
        temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                             "uwsgi", "scgi"))
        # As root, nginx would hand its workers to nobody, who cannot write the temporary folder of bodies.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n"
            f"events {{ worker_connections 256; }}\n"
            f"http {{\n    access_log {folder / 'access.log'};\n    default_type application/octet-stream;\n"
            f"{temp}\n{site}\n}}\n", "utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        check = subprocess.run([NGINX, "-t", "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"),
                                "-e", str(self.folder / "error.log")], capture_output=True, timeout=30)
        assert check.returncode == 0, check.stderr.decode()
        self.process = subprocess.Popen([NGINX, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"),
                                         "-e", str(self.folder / "error.log")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr.read().decode() if self.process.stderr else ""
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.https), timeout=1):
                return
            time.sleep(0.05)
        raise AssertionError("nginx did not start")

    def stop(self) -> None:
        """nginx and its worker, whatever happened: TERM to the group it leads, KILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def client(self, source: str = PERSON, **options: Any) -> httpx.Client:
        """A client of nginx over HTTPS, trusting the test's certificate, connecting from ``source``."""
        context = ssl.create_default_context(cafile=str(self.cert))
        return httpx.Client(base_url=self.url, verify=context, timeout=60,
                            transport=httpx.HTTPTransport(verify=context, local_address=source), **options)


@contextlib.contextmanager
def fronted(folder: Path, upstream: int) -> Iterator[Front]:
    front = Front(folder, upstream)
    try:
        front.start()
        yield front
    finally:
        front.stop()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The service as the guide's unit starts it, behind nginx: (service, front)."""
    svc = Service(tmp_path_factory.mktemp("deployed"))
    svc.tokens = {"bureau": add_user(svc.db, "wangmin", "bureau"),
                  "haiyue": add_user(svc.db, "haiyue", "community", "330212-SN-0103"),
                  "guarded": add_user(svc.db, "guarded", "bureau")}
    svc.args = ["--forwarded-allow-ips", "127.0.0.1"]
    svc.start()
    try:
        with fronted(tmp_path_factory.mktemp("nginx"), svc.port) as front:
            yield svc, front
    finally:
        svc.log = svc.stop()


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="')[1].split('"')[0]


def photo(size: tuple[int, int] = (2000, 1500)) -> bytes:
    """A phone-sized JPEG (some 3 MB of noise: more than nginx takes by default, 1 MiB)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def upload_photo(c: httpx.Client, data: bytes) -> str:
    """The photo sent to the evidence store through nginx (a body larger than nginx's default limit); its SHA-256,
    by which an inspection names it."""
    r = c.post("/v1/evidence", files={"file": ("hall.jpg", data, "image/jpeg")})
    assert r.status_code in (200, 201), r.text
    assert r.json()["media_type"] == "image/jpeg" and r.json()["size"] == len(data)
    assert r.json()["sha256"] == hashlib.sha256(data).hexdigest()
    return str(r.json()["sha256"])


def test_the_english_and_chinese_guides_give_the_same_commands_and_files():
    def blocks(guide: Path) -> list[tuple[str, list[str]]]:
        return [(kind, directives(body)) for kind, body in re.findall(r"^```(\w+)\n(.*?)^```", guide.read_text("utf-8"),
                                                                      re.S | re.M)]

    assert blocks(GUIDE) == blocks(GUIDE_ZH)
    assert [kind for kind, _ in blocks(GUIDE)].count("nginx") == 1


def test_plain_http_is_sent_to_https(deployed):
    _, front = deployed
    r = httpx.get(front.plain + "/login?next=/dashboard")
    assert r.status_code == 301 and r.headers["location"] == front.url + "/login?next=/dashboard"
    assert "nginx/" not in r.headers.get("server", "")                     # no version told


def test_an_inspector_logs_in_uploads_a_photo_and_stores_an_inspection_through_nginx(deployed):
    svc, front = deployed
    with front.client() as c:
        login = c.get("/login")
        assert login.status_code == 200 and "登录" in login.text
        assert login.headers["strict-transport-security"].startswith("max-age=")
        cookie = login.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie   # nginx said https
        r = c.post("/login", data={"csrf": csrf_of(login.text), "name": "wangmin", "secret": svc.tokens["bureau"]})
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "secure" in r.headers["set-cookie"].lower()
        assert c.get("/dashboard").status_code == 200                        # the session works through nginx

    picture = photo()
    assert len(picture) > 2 << 20
    with front.client(headers={"Authorization": f"Bearer {svc.tokens['bureau']}"}) as api:
        sha = upload_photo(api, picture)
        doc = yaml.safe_load(HAIYUE.read_text("utf-8"))
        doc["audit"] = {"kind": "inspection", "inspectors": ["王敏"], "round": "2026-deploy"}
        doc["evidence"] = {"5.5": [{"sha256": sha, "note": "服务大厅位于一楼"}]}
        r = api.post("/v1/audits?rules=national", content=yaml.safe_dump(doc, allow_unicode=True).encode(),
                     headers={"Content-Type": "application/yaml"})
        assert r.status_code == 201, r.text
        stored = r.json()
        assert stored["audit"]["kind"] == "inspection"
        finding = next(f for f in stored["findings"] if f["clause"] == "5.5")
        assert finding["evidence"][0]["sha256"] == sha
        assert r.headers["location"] == f"/v1/audits/{stored['id']}"         # a path: right through any front server
        assert api.get(r.headers["location"]).json()["id"] == stored["id"]


def test_a_person_logs_in_in_chromium_through_nginx_and_the_cookie_is_secure(deployed, browser, tmp_path):
    svc, front = deployed
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", ignore_https_errors=True)
    try:
        page = context.new_page()
        page.goto(front.url + "/")
        assert "/login" in page.url and page.url.startswith("https://")
        page.screenshot(path=str(tmp_path / "login-phone.png"))
        page.fill("#name", "haiyue")
        page.fill("#secret", svc.tokens["haiyue"])
        page.click("button.primary")
        page.wait_for_url("**/check")
        (session,) = [c for c in context.cookies() if c["name"] == "compliance_session"]
        assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Strict"
        page.screenshot(path=str(tmp_path / "check-phone.png"))
        if os.environ.get("COMPLIANCE_SCREENSHOTS"):                        # to look at them
            for shot in tmp_path.glob("*.png"):
                shutil.copy(shot, Path(os.environ["COMPLIANCE_SCREENSHOTS"]) / f"deploy-{shot.name}")
    finally:
        context.close()


def failed_login(c: httpx.Client, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    form = c.get("/login", headers=headers)
    return c.post("/login", headers=headers, data={"csrf": csrf_of(form.text), "name": name, "secret": "wrong"})


def test_forwarded_headers_are_believed_only_from_nginx(deployed):
    svc, front = deployed
    forged = {"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"}
    # Through nginx, whatever the client claims: the address nginx saw.
    with front.client(PERSON) as c:
        assert failed_login(c, "nobody-via-nginx", forged).status_code == 401
    # Straight to the service from elsewhere: the claims are ignored, the address is the peer's and plain HTTP
    # gets no Secure cookie (a browser would not send one back over HTTP).
    with httpx.Client(base_url=svc.url, transport=httpx.HTTPTransport(local_address=INTRUDER), timeout=60) as c:
        page = c.get("/login", headers=forged)
        assert "secure" not in page.headers["set-cookie"].lower()
        assert failed_login(c, "nobody-direct", forged).status_code == 401
        # Forging a new address for every try buys no more tries: the sixth is refused, the right token too.
        for n in range(4):
            assert failed_login(c, "guarded", {"X-Forwarded-For": f"198.51.100.{n}"}).status_code == 401
        assert failed_login(c, "guarded", {"X-Forwarded-For": "198.51.100.200"}).status_code == 401
        form = c.get("/login", headers={"X-Forwarded-For": "198.51.100.201"})
        r = c.post("/login", headers={"X-Forwarded-For": "198.51.100.201"},
                   data={"csrf": csrf_of(form.text), "name": "guarded", "secret": svc.tokens["guarded"]})
        assert r.status_code == 429
    # The log names the client as nginx saw it, and the intruder by its own address (read once the service stops).
    log = svc.stop()
    svc.start()                                 # for any test after this one
    assert f"'nobody-via-nginx' from {PERSON}" in log
    assert f"'nobody-direct' from {INTRUDER}" in log
    assert FORGED not in log and "198.51.100." not in log
    assert "Traceback" not in log


def test_without_the_option_the_service_believes_no_forwarded_header(tmp_path):
    svc = Service(tmp_path)
    svc.start()
    try:
        with httpx.Client(base_url=svc.url, timeout=60) as c:
            page = c.get("/login", headers={"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "https"})
            assert page.status_code == 200 and "secure" not in page.headers["set-cookie"].lower()
            assert failed_login(c, "someone", {"X-Forwarded-For": FORGED}).status_code == 401
    finally:
        log = svc.stop()
    assert "'someone' from 127.0.0.1" in log and FORGED not in log


@pytest.mark.parametrize("value", ["*", "nginx.local", "127.0.0.1,", "10.0.0.0/33"])
def test_a_proxy_address_that_is_not_one_is_refused(tmp_path, value):
    out = run_cli("serve", "--db", str(tmp_path / "x.db"), "--forwarded-allow-ips", value, lang=None)
    assert out.returncode == 2
    assert out.stderr.startswith("--forwarded-allow-ips:") and "前置服务器的地址或网段" in out.stderr
    assert not (tmp_path / "x.db").exists()                    # refused before anything was made


def raw(front: Front, request: bytes) -> bytes:
    """One request on a TLS connection to nginx, and the start of its answer."""
    context = ssl.create_default_context(cafile=str(front.cert))
    with socket.create_connection(("127.0.0.1", front.https), timeout=30) as plain, \
            context.wrap_socket(plain, server_hostname="127.0.0.1") as tls:
        tls.sendall(request)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := tls.recv(65536):
                answer += chunk
        return answer


@pytest.mark.parametrize("path, kind, words", [
    ("/v1/batches", b"application/problem+json", "请求体太大"),
    ("/batches", b"text/html", "文件太大"),
])
def test_a_body_over_nginxs_cap_is_refused_in_chinese_before_it_is_sent(deployed, path, kind, words):
    _, front = deployed
    answer = raw(front, f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                        f"boundary=x\r\nContent-Length: {60 << 20}\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and kind in head.lower(), head
    assert words in body.decode("utf-8")


def test_a_service_that_is_down_is_said_in_chinese(tmp_path):
    with fronted(tmp_path, _free_port()) as front:          # nothing listens there
        context = ssl.create_default_context(cafile=str(front.cert))
        page = httpx.get(front.url + "/login", verify=context)
        assert page.status_code == 503 and "服务暂时不可用" in page.text and page.headers["retry-after"] == "30"
        api = httpx.get(front.url + "/v1/rulesets", verify=context)
        assert api.status_code == 503 and api.headers["content-type"] == "application/problem+json"
        assert api.json()["title"] == "服务暂时不可用" and api.json()["status"] == 503


# --------------------------------------------------------------------------- moving to PostgreSQL

def fresh_database(server: str, name: str) -> str:
    """A new, empty database on the test's PostgreSQL server, as ``createdb`` makes one."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + "/" + name


def test_db_copy_moves_a_sqlite_service_to_postgresql_as_it_was(postgres, tmp_path):  # noqa: F811 - the fixture
    import psycopg

    svc = Service(tmp_path)
    tokens = {"bureau": add_user(svc.db, "wangmin", "bureau"),
              "haiyue": add_user(svc.db, "haiyue", "community", "330212-SN-0103")}
    svc.start()
    try:
        bureau = {"Authorization": f"Bearer {tokens['bureau']}", "Idempotency-Key": "first-of-the-year"}
        with httpx.Client(base_url=svc.url, timeout=60) as c:
            stored = [c.post("/v1/audits?rules=national", content=path.read_bytes(), headers={
                **bureau, "Content-Type": "application/yaml", "Idempotency-Key": path.stem}).json()
                for path in (HAIYUE, EXAMPLES / "dandinghe-old-compound.yaml", EXAMPLES / "rural-village-centre.yaml")]
            form = c.get("/login")
            assert c.post("/login", data={"csrf": csrf_of(form.text), "name": "haiyue",
                                          "secret": tokens["haiyue"]}).status_code == 303
            session = dict(c.cookies)
    finally:
        svc.stop()

    target = fresh_database(postgres, "moved")
    out = run_cli("db", "copy", svc.db, target, lang=None)
    assert out.returncode == 0, out.stderr
    assert "'audits'：3 行" in out.stdout and "'accounts'：2 行" in out.stdout, out.stdout
    assert out.stdout.splitlines()[-1].startswith("已复制")

    moved = Service(tmp_path)
    moved.db = target
    moved.start()
    try:
        with httpx.Client(base_url=moved.url, timeout=60, headers={"Authorization": f"Bearer {tokens['bureau']}"}) as c:
            for audit in stored:                                        # the same audits, by the same ids
                assert c.get(f"/v1/audits/{audit['id']}").json() == audit
            history = c.get("/v1/centres/330212-SN-0103/audits").json()["audits"]
            assert [a["id"] for a in history] == [stored[0]["id"]]
            again = c.post("/v1/audits?rules=national", content=HAIYUE.read_bytes(),   # the key is remembered
                           headers={"Content-Type": "application/yaml", "Idempotency-Key": "haiyue"})
            assert again.headers.get("idempotent-replayed") == "true" and again.json()["id"] == stored[0]["id"]
            doc = yaml.safe_load(HAIYUE.read_text("utf-8"))
            doc["center"]["name"] += "（新址）"
            new = c.post("/v1/audits?rules=national", content=yaml.safe_dump(doc, allow_unicode=True).encode(),
                         headers={"Content-Type": "application/yaml"})
            assert new.status_code == 201, new.text                      # numbering goes on after the copied rows
            history = c.get("/v1/centres/330212-SN-0103/audits").json()["audits"]
            assert [a["id"] for a in history] == [new.json()["id"], stored[0]["id"]]
        with httpx.Client(base_url=moved.url, timeout=60, cookies=session) as person:
            assert person.get("/check", follow_redirects=False).status_code == 200   # still logged in
    finally:
        moved.stop()
    with psycopg.connect(target) as db:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            db.execute("delete from audits")

    again = run_cli("db", "copy", svc.db, target, lang=None)            # into a database that holds data: no
    assert again.returncode == 2 and "已有数据" in again.stderr, again.stderr
    with psycopg.connect(target) as db:
        assert db.execute("select count(*) from audits").fetchone()[0] == 4
