"""Shared helpers for the Docker volume plugin tests (test_docker_plugin.py,
test_docker_e2e.py).

- PluginProc: build/cstorfs-docker-plugin run on a socket, stopped with
  SIGTERM (SIGKILL after 10 s) and its socket removed.
- plugin_call(): one protocol request (POST /Endpoint, JSON body) over the
  plugin's unix socket, answering (status, parsed JSON or raw text).
- Dockerd: a private dockerd (Debian's docker.io) with its own data root,
  exec root and API socket, no networking, the vfs storage driver; stopped
  with SIGTERM, then SIGKILL, its containers' mounts swept.
- busybox_image(): a docker-import'ed image of Debian's static busybox.

Everything here cleans up after itself on every path: the fixtures that use
it register finalizers before starting anything.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from conftest import (
    BUILD, UnixHTTPConnection, describe, fuse_mounts_under, kill9, lazy_unmount, mounts,
    pid_alive, product_env, run, run_ctl, daemon_pids, wait_until,
)

PLUGIN = BUILD / "cstorfs-docker-plugin"
DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"        # Debian's client, matching its dockerd
BUSYBOX = "/bin/busybox"          # busybox-static
DOCKER_PLUGIN_SOCK = "/run/docker/plugins/cstorfs.sock"
BUSYBOX_APPLETS = ["sh", "cat", "echo", "ls", "stat", "sleep", "mkdir", "chown", "id",
                   "touch", "test", "true", "rm", "wc", "sync", "head", "grep"]


# --------------------------------------------------------------------------
# The plugin
# --------------------------------------------------------------------------

def socket_answers(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(2)
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def plugin_call(sock, endpoint, body=None, raw=None, method="POST", headers=None, timeout=130):
    """POST /@endpoint with @body (JSON-encoded like Go's encoder, with a
    trailing newline) or @raw bytes. Returns (status, JSON value or text)."""
    conn = UnixHTTPConnection(str(sock), timeout=timeout)
    try:
        data = raw
        if body is not None:
            data = (json.dumps(body) + "\n").encode()
        hdrs = {"Accept": "application/vnd.docker.plugins.v1.2+json"}
        hdrs.update(headers or {})
        conn.request(method, "/" + endpoint, body=data, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read().decode(errors="replace")
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text
    finally:
        conn.close()


def call_ok(sock, endpoint, body=None):
    """A call that must succeed: status 200, a JSON object without Err."""
    st, ans = plugin_call(sock, endpoint, body)
    assert st == 200 and isinstance(ans, dict) and not ans.get("Err"), \
        f"{endpoint} {body!r}: expected success, seen HTTP {st}: {ans!r}"
    return ans


def call_err(sock, endpoint, body=None, raw=None, *mentions):
    """A call that must fail: status 200 or 500 (4xx for unreadable
    requests), a JSON object whose Err mentions each of @mentions."""
    st, ans = plugin_call(sock, endpoint, body, raw=raw)
    assert isinstance(ans, dict) and isinstance(ans.get("Err"), str) and ans["Err"], \
        f"{endpoint}: expected {{\"Err\": ...}}, seen HTTP {st}: {ans!r}"
    assert st in (200, 400, 404, 405, 413, 500), f"{endpoint}: unexpected HTTP {st}: {ans!r}"
    for m in mentions:
        assert m.lower() in ans["Err"].lower(), \
            f"{endpoint}: expected the Err to mention {m!r}, seen {ans['Err']!r}"
    return ans["Err"]


class PluginProc:
    """cstorfs-docker-plugin --store S --socket P --mount-root M, as a child."""

    def __init__(self, store, sock, mount_root, log):
        self.store, self.sock, self.mount_root = str(store), str(sock), str(mount_root)
        self.log = Path(log)
        self.proc = None

    def start(self, wait=True):
        assert os.access(PLUGIN, os.X_OK), f"{PLUGIN} missing (run make)"
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                [str(PLUGIN), "--store", self.store, "--socket", self.sock,
                 "--mount-root", self.mount_root, "--debug"],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=product_env())
        finally:
            logf.close()
        if wait:
            wait_until(lambda: self.proc.poll() is not None or socket_answers(self.sock),
                       timeout=15, what=f"plugin socket {self.sock}")
            assert self.proc.poll() is None, f"plugin exited {self.proc.returncode}:\n{self.logtext()}"
            # Recovery runs after the socket listens: a first call waits for it.
            call_ok(self.sock, "Plugin.Activate")
        return self

    def stop(self, sig=signal.SIGTERM):
        """Stop the plugin (SIGKILL after 10 s); returns its exit status."""
        p = self.proc
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.proc = None
        return p.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        return self.start()

    def logtext(self):
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def stop_store_daemon(store):
    """Stop the cstorfs daemon of @store (only a live one; kill -9 fallback)."""
    if daemon_pids(store):
        run_ctl("daemon", "stop", store=store, timeout=30)
        end = time.monotonic() + 10
        while daemon_pids(store) and time.monotonic() < end:
            time.sleep(0.05)
    for pid in daemon_pids(store):
        kill9(pid)


def sweep_mounts(*dirs):
    """Lazily unmount every mount (FUSE or not) below @dirs, deepest first."""
    for _ in range(3):
        real = [os.path.realpath(str(d)) for d in dirs]
        left = sorted({mp for mp, _, _, _ in mounts()
                       if any(mp == d or mp.startswith(d + "/") for d in real)},
                      key=len, reverse=True)
        if not left:
            return
        for mp in left:
            lazy_unmount(mp)
            subprocess.run(["umount", "-l", mp], capture_output=True)


# --------------------------------------------------------------------------
# dockerd
# --------------------------------------------------------------------------

def have_docker():
    return os.access(DOCKERD, os.X_OK) and os.access(DOCKER, os.X_OK) and \
        os.access(BUSYBOX, os.X_OK)


def other_dockerd_on_plugin_dir():
    """Pids of dockerd processes we did not start (they would also see our
    plugin socket in /run/docker/plugins)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                argv0 = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if argv0.endswith(b"dockerd"):
                pids.append(int(d))
    return pids


class Dockerd:
    """A private dockerd: data root, exec root, API socket and pid file in
    @base; no iptables, no bridge, vfs storage."""

    def __init__(self, base):
        self.base = Path(base)
        self.data = self.base / "data"
        self.exec_root = self.base / "exec"
        self.sock = self.base / "docker.sock"
        self.pidfile = self.base / "docker.pid"
        self.config = self.base / "daemon.json"
        self.log = self.base / "dockerd.log"
        self.proc = None

    def start(self):
        self.base.mkdir(parents=True, exist_ok=True)
        self.config.write_text("{}\n")
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                [DOCKERD, "--config-file", str(self.config), "--iptables=false",
                 "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
                 "--data-root", str(self.data), "--exec-root", str(self.exec_root),
                 "-H", f"unix://{self.sock}", "--pidfile", str(self.pidfile)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True)
        finally:
            logf.close()
        wait_until(lambda: self.proc.poll() is not None or self.answers(), timeout=60,
                   interval=0.2, what="dockerd to answer")
        assert self.proc.poll() is None, f"dockerd exited:\n{self.logtext()}"
        return self

    def answers(self):
        if not socket_answers(self.sock):
            return False
        cp = subprocess.run([DOCKER, "-H", f"unix://{self.sock}", "version"],
                            capture_output=True, text=True, timeout=30)
        return cp.returncode == 0

    def docker(self, *args, timeout=120, check=True, input=None):
        argv = [DOCKER, "-H", f"unix://{self.sock}", *map(str, args)]
        try:
            cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                input=input)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"docker timed out after {timeout}s: {' '.join(argv)}\n"
                        f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}")
        if check:
            assert cp.returncode == 0, "docker command failed\n" + describe(cp)
        return cp

    def stop(self):
        """Stop dockerd (its containers stop with it); SIGKILL fallback
        for it and for the containerd and shims it started."""
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        # Its containerd, shims and container processes share its session.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)
        for pid in self._leftover_pids():
            kill9(pid)
        self.proc = None

    def _leftover_pids(self):
        """containerd / shim processes whose command line names our exec or
        data root."""
        pids = []
        keys = (str(self.exec_root).encode(), str(self.data).encode())
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{d}/cmdline").read_bytes()
            except OSError:
                continue
            if any(k in cmd for k in keys) and pid_alive(int(d)):
                pids.append(int(d))
        return pids

    def restart(self):
        self.stop()
        return self.start()

    def logtext(self):
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def remove_everything(self):
        """Remove all containers (and so their volume references)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        cp = self.docker("ps", "-aq", check=False, timeout=60)
        ids = cp.stdout.split()
        if ids:
            self.docker("rm", "-f", *ids, check=False, timeout=120)


def busybox_tar(path, seed_files=True):
    """A root filesystem tarball: /bin/busybox (static) and applet links;
    with @seed_files also /data/seed (owner 1234:5678) so the image has files
    at a volume's mount target."""
    with tarfile.open(path, "w") as tar:
        def add_dir(name, mode=0o755):
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.DIRTYPE
            ti.mode = mode
            tar.addfile(ti)
        for d in ("bin", "tmp", "data", "seeded"):
            add_dir(d, 0o1777 if d == "tmp" else 0o755)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for a in BUSYBOX_APPLETS:
            ti = tarfile.TarInfo(f"bin/{a}")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "busybox"
            tar.addfile(ti)
        if seed_files:
            data = b"from the image\n"
            ti = tarfile.TarInfo("seeded/seed.txt")
            ti.size, ti.uid, ti.gid, ti.mode = len(data), 1234, 5678, 0o640
            import io
            tar.addfile(ti, io.BytesIO(data))
    return path


def cleanup_socket(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_tree(path):
    """rmtree that never follows into a mount (sweep mounts first)."""
    if not fuse_mounts_under(path):
        shutil.rmtree(path, ignore_errors=True)
