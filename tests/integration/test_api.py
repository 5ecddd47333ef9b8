"""The control API spoken raw over the daemon's unix socket."""

import errno
import json
import os
import socket
import stat

import pytest

from conftest import (
    api, as_nobody, create_volume, describe, is_fuse_mount, new_store, pid_alive, run,
    sock_path, start_daemon, wait_until,
)


def assert_api_error(status, body, want_status, want_code):
    assert status == want_status, f"expected HTTP {want_status}, seen {status}: {body!r}"
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), \
        f"expected a JSON error object, seen {body!r}"
    e = body["error"]
    assert e.get("code") == want_code, f"expected code {want_code}, seen {e.get('code')!r}: {body}"
    assert e.get("errno") == getattr(errno, want_code), \
        f"expected errno {getattr(errno, want_code)}, seen {e.get('errno')!r}"
    assert isinstance(e.get("message"), str) and e["message"], f"expected a message: {body}"


def test_socket_is_mode_0600(store, daemon):
    st = os.stat(sock_path(store))
    assert stat.S_ISSOCK(st.st_mode), f"{sock_path(store)} is not a socket"
    assert stat.S_IMODE(st.st_mode) == 0o600, f"expected mode 600, seen {stat.S_IMODE(st.st_mode):o}"


def test_pid_file_names_the_daemon_and_it_logs_to_the_store(store, daemon):
    status, body = api(store, "GET", "/v1/status")
    assert status == 200
    assert body["pid"] == daemon
    assert os.path.exists(os.path.join(store, "cstorfsd.log")), "a detached daemon logs to STORE/cstorfsd.log"


def test_curl_over_unix_socket_works(store, daemon):
    cp = run(["curl", "-sS", "--unix-socket", sock_path(store), "http://localhost/v1/volumes"])
    assert cp.returncode == 0, describe(cp)
    assert json.loads(cp.stdout) == {"volumes": []}


def test_create_get_list_delete_volume(store, daemon):
    status, v = api(store, "POST", "/v1/volumes", {"name": "web", "compression": "zstd:3",
                                                   "quota": 1 << 30})
    assert status == 201, f"expected 201, seen {status}: {v}"
    assert v["name"] == "web" and v["compression"] == "zstd:3" and v["quota"] == 1 << 30
    status, g = api(store, "GET", "/v1/volumes/web")
    assert status == 200 and g["uuid"] == v["uuid"] and g["id"] == v["id"]
    status, lst = api(store, "GET", "/v1/volumes")
    assert status == 200 and [x["name"] for x in lst["volumes"]] == ["web"]
    status, r = api(store, "PATCH", "/v1/volumes/web", {"name": "www"})
    assert status == 200 and r["name"] == "www" and r["uuid"] == v["uuid"]
    status, body = api(store, "GET", "/v1/volumes/web")
    assert_api_error(status, body, 404, "ENOENT")
    status, body = api(store, "DELETE", "/v1/volumes/www")
    assert status == 200 and body == {}, f"expected 200 {{}}, seen {status} {body!r}"
    status, lst = api(store, "GET", "/v1/volumes")
    assert lst == {"volumes": []}


def test_malformed_json_is_400_with_error_object(store, daemon):
    for raw in (b"{", b"not json", b'{"name": }', b"[1, 2", b"\xff\xfe"):
        status, body = api(store, "POST", "/v1/volumes", raw=raw)
        assert_api_error(status, body, 400, "EINVAL")
    status, body = api(store, "POST", "/v1/volumes", raw=b'["web"]')
    assert_api_error(status, body, 400, "EINVAL")
    status, body = api(store, "POST", "/v1/volumes", {"name": 42})
    assert_api_error(status, body, 400, "EINVAL")
    status, body = api(store, "POST", "/v1/volumes", {})
    assert_api_error(status, body, 400, "EINVAL")
    assert api(store, "GET", "/v1/volumes")[1] == {"volumes": []}


def test_unknown_route_is_404(store, daemon):
    for method, path in (("GET", "/v1/nothing"), ("GET", "/"), ("GET", "/v2/volumes"),
                         ("POST", "/v1/status/extra")):
        status, body = api(store, method, path)
        assert status == 404, f"{method} {path}: expected 404, seen {status}: {body!r}"
        assert isinstance(body, dict) and "error" in body, f"{method} {path}: {body!r}"


def test_missing_volume_is_404_enoent(store, daemon):
    status, body = api(store, "GET", "/v1/volumes/nosuch")
    assert_api_error(status, body, 404, "ENOENT")
    assert "nosuch" in body["error"]["message"]
    status, body = api(store, "DELETE", "/v1/volumes/nosuch")
    assert_api_error(status, body, 404, "ENOENT")


def test_duplicate_volume_is_409_eexist(store, daemon):
    assert api(store, "POST", "/v1/volumes", {"name": "a"})[0] == 201
    status, body = api(store, "POST", "/v1/volumes", {"name": "a"})
    assert_api_error(status, body, 409, "EEXIST")


@pytest.mark.parametrize("name,code", [("", "EINVAL"), (".", "EINVAL"), ("..", "EINVAL"),
                                       ("a/b", "EINVAL"), ("x" * 256, "ENAMETOOLONG")],
                         ids=["empty", "dot", "dotdot", "slash", "256-bytes"])
def test_invalid_volume_name_is_400(store, daemon, name, code):
    status, body = api(store, "POST", "/v1/volumes", {"name": name})
    assert_api_error(status, body, 400, code)
    assert api(store, "GET", "/v1/volumes")[1] == {"volumes": []}


def test_name_with_nul_is_400(store, daemon):
    status, body = api(store, "POST", "/v1/volumes", {"name": "a\u0000b"})
    assert_api_error(status, body, 400, "EINVAL")


def test_oversized_body_is_413(store, daemon):
    body = b'{"name": "' + b"a" * (2 << 20) + b'"}'
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(sock_path(store))
        s.sendall(b"POST /v1/volumes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        try:
            s.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass                       # the server may answer and close early
        resp = b""
        while True:
            try:
                part = s.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            resp += part
    finally:
        s.close()
    head = resp.split(b"\r\n", 1)[0]
    assert head.startswith(b"HTTP/1.1 413") or head.startswith(b"HTTP/1.0 413"), \
        f"expected HTTP 413, seen {head!r}"
    # the daemon is still fine
    status, lst = api(store, "GET", "/v1/volumes")
    assert status == 200 and lst == {"volumes": []}


def test_mount_and_unmount_through_api(store, daemon, work):
    create_volume(store, "v")
    mnt = work / "mnt"
    mnt.mkdir()
    status, m = api(store, "POST", "/v1/mounts", {"volume": "v", "mountpoint": str(mnt)})
    assert status == 201, f"expected 201, seen {status}: {m}"
    assert m["volume"] == "v" and m["readonly"] is False
    assert is_fuse_mount(mnt)
    status, lst = api(store, "GET", "/v1/mounts")
    assert [x["mountpoint"] for x in lst["mounts"]] == [str(mnt)]
    status, body = api(store, "DELETE", "/v1/volumes/v")
    assert_api_error(status, body, 409, "EBUSY")
    status, body = api(store, "DELETE", "/v1/mounts?mountpoint=" + str(mnt))
    assert status == 200 and body == {}, f"expected 200 {{}}, seen {status} {body!r}"
    assert not is_fuse_mount(mnt)
    status, body = api(store, "DELETE", "/v1/mounts?mountpoint=" + str(mnt))
    assert_api_error(status, body, 404, "ENOENT")


def test_mount_with_unknown_option_is_400_naming_it(store, daemon, work):
    create_volume(store, "v")
    mnt = work / "mnt"
    mnt.mkdir()
    status, body = api(store, "POST", "/v1/mounts",
                       {"volume": "v", "mountpoint": str(mnt), "options": "ro,frobnicate"})
    assert_api_error(status, body, 400, "EINVAL")
    assert "frobnicate" in body["error"]["message"]
    assert not is_fuse_mount(mnt)


def test_mount_with_relative_mountpoint_is_400(store, daemon, work):
    create_volume(store, "v")
    status, body = api(store, "POST", "/v1/mounts", {"volume": "v", "mountpoint": "relative/mnt"})
    assert_api_error(status, body, 400, "EINVAL")


def test_daemon_stop_through_api(store, daemon):
    status, body = api(store, "POST", "/v1/daemon/stop")
    assert status == 200 and body == {}, f"expected 200 {{}}, seen {status} {body!r}"
    wait_until(lambda: not pid_alive(daemon), timeout=15, what="daemon to stop")


def test_other_users_cannot_use_the_socket(janitor, world_dir):
    store = new_store(janitor, world_dir)
    start_daemon(store)
    seen = as_nobody(
        "import json, socket\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    s.connect(%r); s.sendall(b'GET /v1/volumes HTTP/1.0\\r\\n\\r\\n'); print(json.dumps(s.recv(100).decode()))\n"
        "except OSError as e:\n"
        "    print(json.dumps(e.errno))\n" % sock_path(store))
    assert seen == errno.EACCES, f"nobody connecting to the 0600 socket: expected EACCES, seen {seen!r}"
