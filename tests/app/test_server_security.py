"""Security baselines of the running server (docs: REFERENCE.md, "Security baselines").

Against real in-process servers: Gradio's file routes serve nothing outside its temp dir,
binding beyond loopback needs --auth, auth guards every route that reveals the app or runs it,
and uploads above max_file_size are refused before anything is stored.

Gradio 6.31 behaviour these tests pin down: refused file reads answer 403 with
``{"detail": "File not allowed: <path>."}`` (404 for routes that do not exist); without a login,
``/`` still answers 200 but with a login-only config (no components, no events) while
``/config``, ``/gradio_api/info``, ``/gradio_api/queue/join``, ``/gradio_api/queue/data``,
``/gradio_api/upload`` and ``/gradio_api/file=`` answer 401 ``{"detail": {"error": "Not
authenticated", ...}}``; ``POST /login`` sets an ``access-token-unsecure-*`` cookie (the other
one is ``Secure`` and so never sent over http); an upload above the limit answers 413.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import numpy as np
import pytest
from PIL import Image

from app.server import check_binding
from dicom_io.errors import InvalidArgumentError
from tests.app.conftest import RadLensServer
from tests.files import REPO
from tests.network import free_port

README = REPO / "README.md"
PASSWD = Path("/etc/passwd")
NOT_AUTHENTICATED = {"error": "Not authenticated", "auth_message": None}


def _raw_get(server: RadLensServer, path: str) -> tuple[int, bytes]:
    """GET ``path`` byte for byte: no client-side normalisation of ``..`` or ``%2e``."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _content_lines(path: Path) -> list[bytes]:
    """Distinctive lines of a file, to prove a response body does not carry it."""
    lines = [line.strip() for line in path.read_bytes().splitlines()[:8]]
    return [line for line in lines if len(line) >= 20] or [path.read_bytes()[:64]]


def _client(server: RadLensServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, trust_env=False, timeout=20)


# --- file routes -------------------------------------------------------------------------

UP = "../" * 12
UP_ENCODED = "%2e%2e/" * 12
TRAVERSALS = {
    "relative-dotdot": (f"/gradio_api/file={UP}etc/passwd", PASSWD),
    "encoded-dotdot": (f"/gradio_api/file={UP_ENCODED}etc/passwd", PASSWD),
    "encoded-dotdot-and-slash": ("/gradio_api/file=" + "%2e%2e%2f" * 12 + "etc%2fpasswd", PASSWD),
    "double-encoded-dotdot": ("/gradio_api/file=" + "%252e%252e/" * 12 + "etc/passwd", PASSWD),
    "absolute": ("/gradio_api/file=/etc/passwd", PASSWD),
    "absolute-encoded": ("/gradio_api/file=%2Fetc%2Fpasswd", PASSWD),
    "absolute-double-slash": ("/gradio_api/file=//etc/passwd", PASSWD),
    "file-scheme": ("/gradio_api/file=file:///etc/passwd", PASSWD),
    "out-of-temp-dir": ("/gradio_api/file={temp}/" + UP + "etc/passwd", PASSWD),
    "out-of-temp-dir-encoded": ("/gradio_api/file={temp}/" + UP_ENCODED + "etc/passwd", PASSWD),
    "deprecated-route": ("/gradio_api/file/" + UP_ENCODED + "etc/passwd", PASSWD),
    "without-api-prefix": ("/file=/etc/passwd", PASSWD),  # no such route: 404
    "repo-readme": ("/gradio_api/file={repo}/README.md", README),
    "repo-readme-dotdot": ("/gradio_api/file={repo}/app/../README.md", README),
    "repo-readme-relative": ("/gradio_api/file=README.md", README),
    "repo-readme-encoded": ("/gradio_api/file={repo_encoded}%2FREADME.md", README),
}


@pytest.mark.parametrize("case", TRAVERSALS.values(), ids=TRAVERSALS.keys())
def test_file_route_refuses_files_outside_the_temp_dir(
    radlens_server: RadLensServer, case: tuple[str, Path]
):
    template, target = case
    path = template.format(
        temp=radlens_server.temp_dir, repo=REPO, repo_encoded=quote(str(REPO), safe="")
    )
    status, body = _raw_get(radlens_server, path)
    for line in _content_lines(target):
        assert line not in body
    if path.startswith("/gradio_api/"):
        assert status == 403, (path, status, body[:200])
        assert json.loads(body)["detail"].startswith("File not allowed: ")
    else:
        assert (status, json.loads(body)) == (404, {"detail": "Not Found"})


@pytest.fixture
def link_out_of_temp_dir(radlens_server: RadLensServer) -> Iterator[Path]:
    link = radlens_server.temp_dir / f"link-{uuid.uuid4().hex}.md"
    link.symlink_to(README)
    yield link
    link.unlink()


def test_file_route_refuses_a_symlink_leading_out_of_the_temp_dir(
    radlens_server: RadLensServer, link_out_of_temp_dir: Path
):
    status, body = _raw_get(radlens_server, f"/gradio_api/file={link_out_of_temp_dir}")
    assert status == 403
    assert json.loads(body) == {"detail": f"File not allowed: {link_out_of_temp_dir}."}
    for line in _content_lines(README):
        assert line not in body


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:{port}/config", "http://169.254.169.254/latest/meta-data/"],
    ids=["loopback", "link-local-metadata"],
)
def test_file_route_does_not_fetch_internal_urls(radlens_server: RadLensServer, url: str):
    target = url.format(port=urlsplit(radlens_server.url).port)
    status, body = _raw_get(radlens_server, f"/gradio_api/file={target}")
    assert status == 403
    assert json.loads(body) == {"detail": f"File not allowed: {target}."}


def _upload(client: httpx.Client, name: str, content: bytes) -> httpx.Response:
    return client.post("/gradio_api/upload", files={"files": (name, content)})


def test_file_route_serves_an_upload_and_html_only_as_an_attachment(
    radlens_server: RadLensServer,
):
    """The control for the refusals above: the route does serve its own temp dir, and
    uploaded HTML/SVG is never rendered inline (stored XSS)."""
    png = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(png, "png")
    script = b"<script>alert(document.cookie)</script>"
    with _client(radlens_server) as client:
        uploads = {
            name: _upload(client, name, content)
            for name, content in [
                ("probe.png", png.getvalue()),
                ("probe.html", script),
                ("probe.svg", b'<svg xmlns="http://www.w3.org/2000/svg">' + script + b"</svg>"),
            ]
        }
        served = {}
        for name, response in uploads.items():
            assert response.status_code == 200, response.text
            (stored,) = response.json()
            assert Path(stored).resolve().is_relative_to(radlens_server.temp_dir)
            served[name] = client.get(f"/gradio_api/file={stored}")

    assert served["probe.png"].status_code == 200
    assert served["probe.png"].content == png.getvalue()
    assert served["probe.png"].headers["content-type"] == "image/png"
    for name in ("probe.html", "probe.svg"):
        assert served[name].status_code == 200
        assert served[name].headers["content-type"] == "application/octet-stream"
        assert served[name].headers["content-disposition"].startswith("attachment")


def test_vibe_editor_routes_are_refused(radlens_server: RadLensServer):
    with _client(radlens_server) as client:
        responses = [
            client.get("/gradio_api/vibe-code"),
            client.post("/gradio_api/vibe-edit", json={"prompt": "print(1)"}),
            client.post("/gradio_api/undo-vibe-edit", json={"hash": "0"}),
        ]
    assert [r.status_code for r in responses] == [403, 403, 403]


# --- binding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.168.1.20", "radlens.example", "", "127.0.0.2", "127.1.2.3"]
)
def test_check_binding_refuses_the_network_without_auth(host: str):
    """Other 127.x addresses are loopback too, but Gradio guards only 127.0.0.1, localhost and
    0.0.0.0: a page reaching 127.0.0.2 was answered with its Origin echoed (issue 13 item 1)."""
    with pytest.raises(InvalidArgumentError, match=r"--auth USER:PASS"):
        check_binding(host, None)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_check_binding_allows_loopback_without_auth(host: str):
    check_binding(host, None)


# --- cross-origin access, DNS rebinding, CSRF (issue 13 item 1) ---------------------------


def _port(server: RadLensServer) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


@pytest.mark.parametrize(
    "host", ["evil.example", "127.0.0.2", "radlens.attacker.test", "localhost.evil.example"]
)
def test_a_foreign_host_header_is_refused_dns_rebinding(radlens_server: RadLensServer, host: str):
    """A name that resolves to this machine (DNS rebinding) reaches the socket with its own
    Host header: the page, /config and a file route all answer 403, no data."""
    port = _port(radlens_server)
    with _client(radlens_server) as client:
        for path in ("/", "/config", "/gradio_api/info"):
            response = client.get(path, headers={"Host": f"{host}:{port}"})
            assert response.status_code == 403, (path, response.text[:200])
            assert "is not allowed" in response.json()["detail"]
            assert "access-control-allow-origin" not in response.headers
            assert b"gradio_config" not in response.content


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1"])
def test_a_foreign_origin_can_neither_read_nor_upload(radlens_server: RadLensServer, origin: str):
    """A page on another site (or a sandboxed one, Origin null, or another local port) sends
    its Origin: /config is not read and a blind multipart upload is not stored."""
    stored_before = set(radlens_server.temp_dir.rglob("*"))
    with _client(radlens_server) as client:
        read = client.get("/config", headers={"Origin": origin})
        assert read.status_code == 403
        # Only the refusal: Gradio's CORS layer may still label it readable for a loopback
        # origin, but nothing of the app is in it.
        body = read.json()
        assert list(body) == ["detail"]
        assert body["detail"].startswith("RadLens: a ")
        assert "cross-origin" in body["detail"] or "opaque" in body["detail"]
        assert "components" not in read.text
        files = {"files": ("x.dcm", b"\0" * 1024, "application/octet-stream")}
        upload = client.post("/gradio_api/upload", files=files, headers={"Origin": origin})
        assert upload.status_code == 403
    assert set(radlens_server.temp_dir.rglob("*")) == stored_before


def test_a_post_with_a_foreign_referer_and_no_origin_is_refused(radlens_server: RadLensServer):
    files = {"files": ("x.dcm", b"\0" * 64, "application/octet-stream")}
    with _client(radlens_server) as client:
        foreign = {"Referer": "https://evil.example/page.html"}
        assert client.post("/gradio_api/upload", files=files, headers=foreign).status_code == 403
        own = {"Referer": f"{radlens_server.url}/"}
        assert client.post("/gradio_api/upload", files=files, headers=own).status_code == 200


def test_the_servers_own_page_still_works(radlens_server: RadLensServer):
    """Same-origin requests (Origin equal to the server's, or none) go through, under every
    name of the loopback server."""
    port = _port(radlens_server)
    with _client(radlens_server) as client:
        assert client.get("/config").status_code == 200
        for name in ("127.0.0.1", "localhost"):
            own = {"Host": f"{name}:{port}", "Origin": f"http://{name}:{port}"}
            assert client.get("/config", headers=own).status_code == 200
        other_name = {"Host": f"127.0.0.1:{port}", "Origin": f"http://localhost:{port}"}
        assert client.get("/config", headers=other_name).status_code == 200


def test_an_operator_added_host_is_allowed(start_server: Callable[..., RadLensServer]):
    from app.origin_guard import allowed_hosts

    assert "radlens.hospital.example" in allowed_hosts("0.0.0.0", ("RadLens.Hospital.Example",))
    assert allowed_hosts("127.0.0.1") == frozenset({"127.0.0.1", "localhost", "::1"})
    server = start_server(allow_hosts=("radlens.hospital.example",))
    port = _port(server)
    headers = {"Host": f"radlens.hospital.example:{port}"}
    with _client(server) as client:
        assert client.get("/config", headers=headers).status_code == 200
        foreign = {**headers, "Origin": "https://evil.example"}
        assert client.get("/config", headers=foreign).status_code == 403


def test_check_binding_allows_the_network_with_auth():
    check_binding("0.0.0.0", ("u", "p"))


def _radlens(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("radlens")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "app.cli"]
    env = {k: v for k, v in os.environ.items() if k != "RADLENS_AUTH"}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    "extra",
    [[], ["--auth", "alice"], ["--auth", ":secret"]],
    ids=["no-auth", "auth-without-password", "auth-without-user"],
)
def test_radlens_serve_on_all_interfaces_without_valid_auth_exits_2(extra: list[str]):
    port = str(free_port())
    result = _radlens("serve", "--host", "0.0.0.0", "--port", port, *extra)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("radlens: error: ")
    assert "--auth" in lines[0]


@pytest.mark.parametrize("host", ["::1", "::"])
def test_radlens_serve_on_an_ipv6_address_exits_2_in_one_line(host: str):
    """Issue 13 item 11: `serve --host ::1` crashed at start (httpx InvalidURL from Gradio's own
    start-up URL); it is refused in one line."""
    result = _radlens("serve", "--host", host, "--port", str(free_port()))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == (
        f"radlens: error: --host {host}: IPv6 addresses are not supported by the web server; "
        "use 127.0.0.1 or localhost (or 0.0.0.0 with --auth for the network)."
    )


# --- authentication ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_server(start_server: Callable[..., RadLensServer]) -> RadLensServer:
    return start_server(auth=("u", "p"))


def _gradio_config(html: str) -> dict[str, Any]:
    found = re.search(r"window\.gradio_config = (\{.*?\});</script>", html)
    assert found, "no window.gradio_config in the page"
    return dict(json.loads(found.group(1)))


def test_login_page_without_a_session_holds_no_app(auth_server: RadLensServer):
    with _client(auth_server) as client:
        response = client.get("/")
    assert response.status_code == 200
    config = _gradio_config(response.text)
    assert config["auth_required"] is True
    assert config["components"] == []
    assert config["dependencies"] == []


def test_login_page_without_a_session_lists_no_endpoints(auth_server: RadLensServer):
    with _client(auth_server) as client:
        html = client.get("/", params={"all_endpoints": "true"}).text
    found = re.search(r"window\.gradio_api_info = (\{.*?\});</script>", html)
    assert found is None or json.loads(found.group(1))["named_endpoints"] == {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/config"),
        ("GET", "/gradio_api/info"),
        ("GET", "/gradio_api/queue/data?session_hash=abc"),
        ("GET", "/gradio_api/file=/etc/passwd"),
        ("GET", "/gradio_api/upload_progress?upload_id=abc"),
    ],
)
def test_routes_without_a_session_answer_401(auth_server: RadLensServer, method: str, path: str):
    with _client(auth_server) as client:
        response = client.request(method, path)
    assert response.status_code == 401
    assert response.json() == {"detail": NOT_AUTHENTICATED}


def test_queue_join_and_upload_without_a_session_answer_401(auth_server: RadLensServer):
    before = sorted(auth_server.temp_dir.rglob("*"))
    with _client(auth_server) as client:
        join = client.post(
            "/gradio_api/queue/join",
            json={"data": [], "fn_index": 0, "session_hash": "abc", "trigger_id": None},
        )
        upload = _upload(client, "payload.bin", b"x" * 100)
    assert (join.status_code, join.json()) == (401, {"detail": NOT_AUTHENTICATED})
    assert (upload.status_code, upload.json()) == (401, {"detail": NOT_AUTHENTICATED})
    assert sorted(auth_server.temp_dir.rglob("*")) == before


@pytest.mark.parametrize(
    ("user", "password", "status"),
    [("u", "wrong", 400), ("x", "p", 400), ("u", "", 422)],
    ids=["wrong-password", "wrong-user", "empty-password"],
)
def test_login_with_wrong_credentials_is_refused(
    auth_server: RadLensServer, user: str, password: str, status: int
):
    with _client(auth_server) as client:
        login = client.post("/login", data={"username": user, "password": password})
        after = client.get("/config")
    assert login.status_code == status  # 422: FastAPI's form validation (empty = missing)
    if status == 400:
        assert login.json() == {"detail": "Incorrect credentials."}
    assert not client.cookies
    assert after.status_code == 401


def _completed(client: httpx.Client, session_hash: str) -> dict[str, Any]:
    """Read the queue's event stream until the event completes."""
    params = {"session_hash": session_hash}
    with client.stream("GET", "/gradio_api/queue/data", params=params) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line.removeprefix("data:"))
                if message.get("msg") == "process_completed":
                    return dict(message)
    raise AssertionError("the event stream ended before the event completed")


def test_a_logged_in_session_gets_the_app_and_runs_it(auth_server: RadLensServer):
    with _client(auth_server) as client:
        login = client.post("/login", data={"username": "u", "password": "p"})
        assert (login.status_code, login.json()) == (200, {"success": True})
        assert any(name.startswith("access-token-unsecure-") for name in client.cookies)

        page = _gradio_config(client.get("/").text)
        config = client.get("/config").json()
        assert client.get("/gradio_api/info").status_code == 200
        viewer = next(c for c in config["components"] if c["props"].get("elem_id") == "viewer")

        # Block ids count across every Blocks of the process: find the load event by kind.
        (load,) = [d for d in config["dependencies"] if d["targets"][0][1] == "load"]
        session_hash = "s" + uuid.uuid4().hex[:10]
        join = client.post(
            "/gradio_api/queue/join",
            json={"data": [], "fn_index": load["id"], "session_hash": session_hash},
        )
        assert join.status_code == 200, join.text
        done = _completed(client, session_hash)
        assert done["success"] is True, done
        image = done["output"]["data"][load["outputs"].index(viewer["id"])]
        served = client.get(f"/gradio_api/file={image['path']}")

    assert "auth_required" not in page
    assert any(c["props"].get("elem_id") == "upload" for c in page["components"])
    assert served.status_code == 200
    assert Image.open(io.BytesIO(served.content)).size == (1841, 1955)
    with _client(auth_server) as anonymous:
        assert anonymous.get(f"/gradio_api/file={image['path']}").status_code == 401


# --- upload size -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_upload_server(start_server: Callable[..., RadLensServer]) -> RadLensServer:
    return start_server(max_file_size="1kb")


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_upload_above_max_file_size_is_refused_and_not_stored(
    small_upload_server: RadLensServer,
):
    big = os.urandom(1025)
    small = os.urandom(1024)
    before = _files(small_upload_server.temp_dir)
    with _client(small_upload_server) as client:
        refused = _upload(client, "big.dcm", big)
        after_refusal = _files(small_upload_server.temp_dir)
        accepted = _upload(client, "small.dcm", small)
    assert refused.status_code == 413
    assert refused.text == "File size exceeded maximum allowed size of 1024 bytes."
    # Gradio spools uploads into its temp dir: the partial file is gone too.
    assert after_refusal == before
    assert accepted.status_code == 200, accepted.text
    (stored,) = accepted.json()
    assert Path(stored).read_bytes() == small


def test_default_server_caps_uploads_at_2gb(radlens_server: RadLensServer):
    with _client(radlens_server) as client:
        config = client.get("/config").json()
    assert config["max_file_size"] == 2 * 1024**3


def test_serve_decodes_compressed_data_under_a_deadline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    import app.server
    from dicom_io.pixels.decode_guard import active_guard, configure_decode_guard

    launched: list[tuple[str, int]] = []
    monkeypatch.setattr(
        app.server, "launch", lambda blocks, host, port, **kw: launched.append((host, port))
    )
    monkeypatch.setattr(app.server, "_exit_on_sigterm", lambda: None)
    monkeypatch.setattr(app.server, "_private_temp_dir", lambda: tmp_path)
    for name in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED"):  # serve() sets them: restored
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("RADLENS_DECODE_TIMEOUT", raising=False)
    try:
        assert app.server.serve(port=7999) == 0
        guard = active_guard()
        assert guard is not None
        assert guard.timeout == 60.0
        monkeypatch.setenv("RADLENS_DECODE_TIMEOUT", "off")
        app.server.serve(port=7999)
        assert active_guard() is None
    finally:
        configure_decode_guard(None)
    assert launched == [("127.0.0.1", 7999)] * 2
