"""Helpers for the FlexVolume driver tests: call the driver the way kubelet does.

kubelet runs `<driver> <call> [args...]` with its own environment, reads stdout and stderr
combined, and parses them as one JSON object (shared/PROTOCOLS.md, "Kubernetes FlexVolume").
`call()` does the same, stricter: stdin is a pipe closed at once, stdout and stderr are
separate pipes read to EOF within a deadline (a child that keeps a pipe open fails the test),
stdout must hold exactly one JSON object and stderr nothing at all.
"""

import base64
import json
import os
import selectors
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import BUILD, product_env

DRIVER = BUILD / "cstorfs-flexvolume"
PIPE_DEADLINE_S = 10.0

SECRET = "s3cr3t-Flex-Pa55w0rd-7f1c"
SECRET_B64 = base64.b64encode(SECRET.encode()).decode()

INIT_REPLY = {"status": "Success",
              "capabilities": {"attach": False, "selinuxRelabel": False, "fsGroup": False,
                               "supportsMetrics": True, "requiresFSResize": False}}
INIT_TEXT = ('{"status":"Success","capabilities":{"attach":false,"selinuxRelabel":false,'
             '"fsGroup":false,"supportsMetrics":true,"requiresFSResize":false}}')

NOT_SUPPORTED_CALLS = ["attach", "detach", "waitforattach", "isattached", "mountdevice",
                       "unmountdevice", "getvolumename", "expandvolume", "expandfs",
                       "frobnicate"]


class Reply:
    """One driver call: argv, exit code, raw stdout/stderr, parsed JSON, seconds taken."""

    def __init__(self, argv, code, out, err, seconds):
        self.argv, self.code, self.out, self.err, self.seconds = argv, code, out, err, seconds
        self.json = None

    @property
    def status(self):
        return self.json.get("status")

    @property
    def message(self):
        return self.json.get("message", "")

    def __repr__(self):
        shown = [a if len(a) < 80 else a[:77] + "..." for a in map(str, self.argv)]
        return (f"argv: {shown}\nexit: {self.code}\nstdout: {self.out!r}\n"
                f"stderr: {self.err!r}\nseconds: {self.seconds:.2f}")


def flex_env(store, log, extra=None, conf="/nonexistent/flexvolume.conf"):
    """The driver's environment: the test's store, no host configuration, a log file."""
    env = product_env({"CSTORFS_STORE": str(store), "CSTORFS_FLEX_CONF": str(conf),
                       "CSTORFS_FLEX_LOG": str(log)})
    env.pop("CSTORFSD", None)
    if extra:
        env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def _read_to_eof(proc, deadline_s):
    """Read stdout and stderr until both reach EOF, at most @deadline_s seconds."""
    sel = selectors.DefaultSelector()
    bufs = {proc.stdout: b"", proc.stderr: b""}
    for f in bufs:
        sel.register(f, selectors.EVENT_READ)
    end = time.monotonic() + deadline_s
    while sel.get_map():
        left = end - time.monotonic()
        if left <= 0:
            return None
        for key, _ in sel.select(timeout=left):
            chunk = os.read(key.fileobj.fileno(), 65536)
            if chunk:
                bufs[key.fileobj] += chunk
            else:
                sel.unregister(key.fileobj)
    return bufs[proc.stdout].decode(errors="replace"), bufs[proc.stderr].decode(errors="replace")


def call(*args, env, driver=DRIVER, deadline=PIPE_DEADLINE_S, close_fd0=False, procs=None,
         on_spawn=None):
    """Run the driver like kubelet; check the output rules; return a Reply.

    Fails the test when the pipes stay open past @deadline (the driver or a child it left
    behind still holds them), when stderr is not empty, or stdout is not one JSON object.
    @on_spawn(proc) runs while the driver runs (e.g. to look at its pipe)."""
    argv = [str(driver)] + [str(a) for a in args]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env,
                            preexec_fn=(lambda: os.close(0)) if close_fd0 else None)
    if procs is not None:
        procs.append(proc)
    proc.stdin.close()
    if on_spawn:
        on_spawn(proc)
    got = _read_to_eof(proc, deadline)
    if got is None:
        proc.kill()
        proc.wait(timeout=10)
        pytest.fail(f"driver call {argv[1:2]} did not close its output within {deadline}s "
                    f"(the driver hung or a child it started keeps kubelet's pipe open)")
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"driver call {argv[1:2]} closed its output but did not exit")
    finally:
        proc.stdout.close()
        proc.stderr.close()
    r = Reply(argv, code, got[0], got[1], time.monotonic() - t0)
    assert r.err == "", f"expected nothing on stderr\n{r!r}"
    text = r.out.strip()
    assert text.count("\n") == 0, f"expected one line of JSON on stdout\n{r!r}"
    try:
        r.json = json.loads(text)
    except ValueError as e:
        pytest.fail(f"stdout is not one JSON object ({e})\n{r!r}")
    assert isinstance(r.json, dict), f"stdout is JSON but not an object\n{r!r}"
    assert r.json.get("status") in ("Success", "Failure", "Not supported"), repr(r)
    assert "capabilities" not in r.json or r.json["capabilities"] is not None, repr(r)
    return r


def expect(r, status, *mentions):
    """Assert the status, its exit code (0 Success/Not supported, 1 Failure) and that the
    message mentions each of @mentions (case-insensitive)."""
    want_code = 1 if status == "Failure" else 0
    assert r.status == status, f"expected status {status!r}, seen {r.status!r}\n{r!r}"
    assert r.code == want_code, f"expected exit {want_code}, seen {r.code}\n{r!r}"
    if status == "Failure":
        assert r.message.strip(), f"expected a message with the Failure\n{r!r}"
    low = r.message.lower()
    for m in mentions:
        assert m.lower() in low, f"expected the message to mention {m!r}\n{r!r}"
    return r


def kube_options(volume="web", readwrite="rw", fsgroup=None, old_fsgroup=None, secret=True,
                 pod="web-0", **user):
    """The JSON kubelet passes to mount: its kubernetes.io/* keys first, the user's
    flexVolume.options last (shared/PROTOCOLS.md). None drops a key."""
    d = {
        "kubernetes.io/fsType": "",
        "kubernetes.io/readwrite": readwrite,
        "kubernetes.io/pvOrVolumeName": "data",
        "kubernetes.io/pod.name": pod,
        "kubernetes.io/pod.namespace": "default",
        "kubernetes.io/pod.uid": str(uuid.uuid4()),
        "kubernetes.io/serviceAccount.name": "default",
    }
    if fsgroup is not None:
        d["kubernetes.io/mounterArgs.FsGroup"] = str(fsgroup)
    if old_fsgroup is not None:
        d["kubernetes.io/fsGroup"] = str(old_fsgroup)
    if secret:
        d["kubernetes.io/secret/password"] = SECRET_B64
        d["kubernetes.io/secret/username"] = base64.b64encode(b"admin").decode()
    if volume is not None:
        d["volume"] = volume
    d.update({k: v for k, v in user.items() if v is not None})
    return json.dumps(d)


def pod_dir(base, name, volume="data"):
    """A pod's volume directory as kubelet makes it (mode 0750, created before mount)."""
    d = Path(base) / "pods" / name / "volumes" / "cstorfs~cstorfs" / volume
    d.parent.mkdir(parents=True, exist_ok=True)
    d.mkdir(mode=0o750)
    os.chmod(d, 0o750)
    return d


def fds_pointing_at(pid, target):
    """The fds of @pid whose /proc link reads @target (e.g. 'pipe:[1234]')."""
    found = []
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in names:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                found.append(int(fd))
        except OSError:
            pass
    return found
