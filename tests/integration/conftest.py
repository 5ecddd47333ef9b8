"""Integration-test helpers for cstorfs: real daemons, real FUSE mounts.

Everything here follows docs/interfaces.md (the contract). Each test gets its
own store directory (a short directory from pytest's tmp_path_factory) and its own daemon; every mount a
test makes is unmounted and every daemon it started is stopped by fixture
finalizers, even when the test fails. A session fixture fails the run loudly
if a FUSE mount or a daemon is left behind anyway.

Binaries: <repo>/build/{cstorfsd,cstorfs-ctl,cstorfs}; the environment
variable CSTORFS_BUILD names another build directory.
"""

import contextlib
import errno
import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CSTORFS_BUILD") or (REPO / "build")).resolve()
CSTORFSD = BUILD / "cstorfsd"
CTL = BUILD / "cstorfs-ctl"
MOUNT = BUILD / "cstorfs"
PYTHON = "/usr/bin/python3"

TIMEOUT = 60            # every subprocess
TEST_WATCHDOG_S = 150   # a test taking longer gets its daemons killed
NOBODY = 65534

# Exit codes (docs/interfaces.md, cstorfs-ctl and cstorfs).
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_DAEMON, EXIT_NOTFOUND, EXIT_EXISTS = 0, 1, 2, 3, 4, 5


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

def product_env(extra=None):
    """Environment for every product process: build/ first on PATH (so
    mount.fuse3 finds `cstorfs`), no ambient store."""
    env = dict(os.environ)
    env.pop("CSTORFS_STORE", None)
    env["PATH"] = str(BUILD) + ":" + env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    if extra:
        env.update(extra)
    return env


def run(argv, timeout=TIMEOUT, env=None, **kw):
    """Run a command, capture text output, never hang (timeout -> failure)."""
    argv = [str(a) for a in argv]
    try:
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout, env=env or product_env(), **kw)
    except FileNotFoundError as e:
        pytest.fail(f"cannot run {argv[0]}: {e} (binaries missing? run make)")
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"command timed out after {timeout}s: {' '.join(argv)}\n"
                    f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}")


def run_ctl(*args, store=None, json_out=False, timeout=TIMEOUT, env=None):
    """cstorfs-ctl [--store S] [--json] ARGS -> CompletedProcess."""
    argv = [CTL]
    if store is not None:
        argv += ["--store", store]
    if json_out:
        argv.append("--json")
    argv += list(args)
    return run(argv, timeout=timeout, env=env)


def run_mount(spec, mnt, *extra, timeout=TIMEOUT, env=None, cwd=None):
    """cstorfs STORE:VOLUME MOUNTPOINT [extra...]."""
    return run([MOUNT, spec, mnt, *extra], timeout=timeout, env=env, cwd=cwd)


def describe(cp):
    return (f"argv: {' '.join(map(str, cp.args))}\nexit: {cp.returncode}\n"
            f"stdout: {cp.stdout!r}\nstderr: {cp.stderr!r}")


def ok(cp):
    """Assert exit 0 and return the CompletedProcess."""
    assert cp.returncode == 0, "expected exit 0\n" + describe(cp)
    return cp


def ctl_json(*args, store):
    cp = ok(run_ctl(*args, store=store, json_out=True))
    try:
        return json.loads(cp.stdout)
    except ValueError as e:
        pytest.fail(f"--json output is not JSON ({e})\n" + describe(cp))


def assert_error(cp, code, *mentions, prog="cstorfs-ctl"):
    """A failed command: the documented exit code, one non-empty line on
    stderr ("PROG: MESSAGE"), mentioning each of @mentions (any one of a tuple
    alternative, case-insensitive)."""
    assert cp.returncode == code, f"expected exit {code}, seen {cp.returncode}\n" + describe(cp)
    err = cp.stderr.strip()
    assert err, "expected an error message on stderr, seen none\n" + describe(cp)
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, seen {len(lines)}\n" + describe(cp)
    if prog:
        assert lines[0].startswith(prog + ": "), \
            f"expected stderr to start with {prog + ': '!r}\n" + describe(cp)
    low = err.lower()
    for m in mentions:
        alts = m if isinstance(m, tuple) else (m,)
        assert any(a.lower() in low for a in alts), \
            f"expected stderr to mention {' or '.join(map(repr, alts))}\n" + describe(cp)


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll @pred until it returns a true value (returned); fail on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what} (last value {last!r})")
        time.sleep(interval)


def pid_alive(pid):
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def read_pidfile(store):
    try:
        return int(Path(store, "cstorfsd.pid").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def daemon_pids(store):
    """Pids of cstorfsd processes serving @store: the pid file's, plus any
    process whose command line is cstorfsd with this exact --store path
    (a test's store path is unique to it)."""
    store = str(Path(store).resolve())
    pids = set()
    p = read_pidfile(store)
    if pid_alive(p):
        pids.add(p)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"cstorfsd"):
            continue
        args = [a.decode(errors="replace") for a in argv]
        for i, a in enumerate(args):
            val = None
            if a == "--store" and i + 1 < len(args):
                val = args[i + 1]
            elif a.startswith("--store="):
                val = a.split("=", 1)[1]
            if val is not None and os.path.abspath(val) == store and pid_alive(int(d)):
                pids.add(int(d))
    return pids


def kill9(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------
# Mounts
# --------------------------------------------------------------------------

def _unescape(s):
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mounts():
    """[(mountpoint, fstype, source, options)] from /proc/self/mountinfo."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            lf, rf = left.split(), right.split()
            out.append((_unescape(lf[4]), rf[0], _unescape(rf[1]), lf[5] + "," + rf[2]))
    return out


def fuse_mounts_under(*dirs):
    res = []
    for d in dirs:
        d = os.path.realpath(str(d))
        for mp, fstype, src, opts in mounts():
            if fstype.startswith("fuse") and (mp == d or mp.startswith(d + "/")):
                res.append(mp)
    return res


def is_fuse_mount(path):
    path = os.path.realpath(str(path))
    return any(mp == path and fs.startswith("fuse") for mp, fs, _, _ in mounts())


def mount_info(path):
    path = os.path.realpath(str(path))
    for mp, fs, src, opts in reversed(mounts()):
        if mp == path:
            return fs, src, opts
    return None


def lazy_unmount(mp):
    run(["fusermount3", "-u", "-z", mp])
    if is_fuse_mount(mp):
        run(["umount", "-l", mp])


def unmount(mp, timeout=5.0):
    """fusermount3 -u, retried while busy, then lazily."""
    deadline = time.monotonic() + timeout
    while is_fuse_mount(mp):
        cp = run(["fusermount3", "-u", mp])
        if cp.returncode == 0 or not is_fuse_mount(mp):
            break
        if time.monotonic() > deadline:
            lazy_unmount(mp)
            break
        time.sleep(0.1)


# --------------------------------------------------------------------------
# Control API over the unix socket
# --------------------------------------------------------------------------

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=TIMEOUT):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def sock_path(store):
    return str(Path(store) / "cstorfsd.sock")


def api(store, method, path, body=None, raw=None, headers=None):
    """One request to the daemon of @store. Returns (status, json-or-text)."""
    conn = UnixHTTPConnection(sock_path(store))
    try:
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read().decode(errors="replace")
        try:
            return resp.status, json.loads(text) if text else None
        except ValueError:
            return resp.status, text
    finally:
        conn.close()


def daemon_answers(store):
    try:
        st, _ = api(store, "GET", "/v1/status")
        return st == 200
    except OSError:
        return False


def api_mountpoints(store):
    """Mount points the daemon lists, or None when it does not answer."""
    try:
        st, body = api(store, "GET", "/v1/mounts")
    except OSError:
        return None
    if st != 200 or not isinstance(body, dict):
        return None
    return [m.get("mountpoint") for m in body.get("mounts", [])]


# --------------------------------------------------------------------------
# Per-test registry of what to clean up
# --------------------------------------------------------------------------

class Janitor:
    """What a test created: directories to sweep for mounts, stores whose
    daemons to stop, child processes to kill."""

    def __init__(self):
        self.dirs = []
        self.stores = []
        self.procs = []

    def cleanup(self):
        """Every step runs whatever the previous ones did (a failing step is
        reported, never allowed to skip the rest)."""
        problems = []

        def step(what, fn, *args):
            try:
                fn(*args)
            except KeyboardInterrupt:
                raise
            except BaseException as e:          # pytest.fail() is a BaseException
                problems.append(f"{what}: {e!r}")

        def unmount_all():
            for mp in sorted(fuse_mounts_under(*self.dirs), key=len, reverse=True):
                step(f"unmount {mp}", lazy_unmount, mp)
                if is_fuse_mount(mp):
                    problems.append(f"could not unmount {mp}")

        def reap(p):
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)

        def stop(store):
            if daemon_pids(store):
                # Only talk to a live daemon: a client would start a new one.
                run_ctl("daemon", "stop", store=store, timeout=30)
                end = time.monotonic() + 10
                while daemon_pids(store) and time.monotonic() < end:
                    time.sleep(0.05)

        def kill_rest(store):
            for pid in daemon_pids(store):
                kill9(pid)
            end = time.monotonic() + 10
            while daemon_pids(store) and time.monotonic() < end:
                time.sleep(0.05)
            left = daemon_pids(store)
            if left:
                problems.append(f"daemon(s) {sorted(left)} of {store} survived kill -9")

        step("unmount", unmount_all)
        for p in self.procs:
            step(f"reap child {p.pid}", reap, p)
        for store in self.stores:
            step(f"daemon stop {store}", stop, store)
            step(f"kill -9 daemons of {store}", kill_rest, store)
        step("unmount (after stop)", unmount_all)
        return problems


_current = {"janitor": None}


def _watchdog_fire(j, name):
    sys.stderr.write(f"\n*** watchdog: {name} ran over {TEST_WATCHDOG_S}s: "
                     f"killing its daemons so blocked FUSE calls return ***\n")
    for store in j.stores:
        for pid in daemon_pids(store):
            kill9(pid)
    for p in j.procs:
        if p.poll() is None:
            p.kill()


@pytest.fixture(autouse=True)
def janitor(request, tmp_path_factory):
    j = Janitor()
    _current["janitor"] = j
    timer = threading.Timer(TEST_WATCHDOG_S, _watchdog_fire, args=(j, request.node.name))
    timer.daemon = True
    timer.start()
    yield j
    timer.cancel()
    _current["janitor"] = None
    problems = j.cleanup()
    assert not problems, "cleanup failed: " + "; ".join(problems)


@pytest.fixture(scope="session")
def shared_base():
    """A world-traversable directory (pytest's own are 0700) for tests where
    another user must reach the mount point."""
    d = tempfile.mkdtemp(prefix="cstorfs-it-", dir="/tmp")
    os.chmod(d, 0o755)
    yield Path(d)
    left = fuse_mounts_under(d)
    for mp in left:
        lazy_unmount(mp)
    if not fuse_mounts_under(d):
        with contextlib.suppress(OSError):
            import shutil
            shutil.rmtree(d)


@pytest.fixture
def work(janitor, tmp_path_factory):
    """The test's own directory for stores and mount points. Short on
    purpose: the daemon's socket path (STORE/cstorfsd.sock) must fit in
    sun_path (108 bytes), which pytest's tmp_path (named after the test)
    can exceed."""
    d = tmp_path_factory.mktemp("t", numbered=True)
    janitor.dirs.append(d)
    return d


_world_seq = [0]


@pytest.fixture
def world_dir(janitor, shared_base):
    """A per-test directory that every user may traverse (mode 0755)."""
    _world_seq[0] += 1
    d = shared_base / f"w{_world_seq[0]}"
    d.mkdir()
    janitor.dirs.append(d)
    return d


@pytest.fixture(scope="session", autouse=True)
def no_leftovers(tmp_path_factory, shared_base):
    """At the end of the session, no FUSE mount may remain under the test
    directories, and no daemon of a test store may still run."""
    yield
    bases = [tmp_path_factory.getbasetemp(), shared_base]
    left = fuse_mounts_under(*bases)
    for mp in left:
        lazy_unmount(mp)
    daemons = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"cstorfsd") and any(
                str(b) in a.decode(errors="replace") for b in bases for a in argv[1:]):
            daemons.append(int(d))
    for pid in daemons:
        kill9(pid)
    assert not left, f"FUSE MOUNTS LEFT BEHIND BY THE TESTS (now lazily unmounted): {left}"
    assert not daemons, f"DAEMONS LEFT BEHIND BY THE TESTS (now killed): {daemons}"


# --------------------------------------------------------------------------
# Fixtures: store, daemon, volume, mount
# --------------------------------------------------------------------------

def _binaries_present():
    missing = [str(p) for p in (CSTORFSD, CTL, MOUNT) if not os.access(p, os.X_OK)]
    assert not missing, f"binaries missing (run make): {missing}"


def new_store(janitor, base, name="store"):
    """An empty directory for a store (the daemon creates the store in it)."""
    _binaries_present()
    d = Path(base) / name
    d.mkdir(parents=True, exist_ok=True)
    janitor.stores.append(str(d))
    janitor.dirs.append(Path(base))
    return str(d)


@pytest.fixture
def store(janitor, work):
    """Path of a fresh store directory (no daemon yet)."""
    return new_store(janitor, work)


def start_daemon(store):
    """Start a detached daemon on @store; return its pid once it answers."""
    cp = run([CSTORFSD, "--store", store, "--create"])
    assert cp.returncode == 0, "cstorfsd failed to start\n" + describe(cp)
    wait_until(lambda: daemon_answers(store), timeout=10, what=f"daemon socket of {store}")
    pid = wait_until(lambda: read_pidfile(store), timeout=5, what="pid file")
    assert pid_alive(pid), f"pid file names {pid}, which is not running"
    return pid


def stop_daemon(store):
    pid = read_pidfile(store)
    ok(run_ctl("daemon", "stop", store=store))
    wait_until(lambda: not pid_alive(pid), timeout=15, what=f"daemon {pid} to exit")


@pytest.fixture
def daemon(store):
    """A running daemon on `store`; yields its pid (stopped by the janitor)."""
    return start_daemon(store)


def create_volume(store, name, *opts):
    return ok(run_ctl("volume", "create", name, *opts, store=store))


@contextlib.contextmanager
def mounted(store, volume, mnt, opts=None, wait_release=True):
    """Mount STORE:VOLUME at @mnt with the `cstorfs` command (creating @mnt),
    yield it as a Path, and unmount with fusermount3 -u on the way out; waits
    until the daemon no longer lists the mount."""
    mnt = Path(mnt)
    mnt.mkdir(parents=True, exist_ok=True)
    extra = ["-o", opts] if opts else []
    cp = run_mount(f"{store}:{volume}", mnt, *extra)
    assert cp.returncode == 0, "mount failed\n" + describe(cp)
    assert is_fuse_mount(mnt), f"cstorfs exited 0 but {mnt} is not a FUSE mount:\n" + describe(cp)
    try:
        yield mnt
    finally:
        unmount(str(mnt))
        if wait_release:
            real = os.path.realpath(str(mnt))
            end = time.monotonic() + 10
            while time.monotonic() < end:
                mps = api_mountpoints(store)
                if mps is None or real not in [os.path.realpath(m) for m in mps if m]:
                    break
                time.sleep(0.05)


@pytest.fixture
def vol(store, daemon, work):
    """A mounted volume "vol" (read-write); yields the mount point."""
    create_volume(store, "vol")
    with mounted(store, "vol", work / "mnt") as m:
        yield m


@pytest.fixture
def remount(store):
    """remount(mnt, volume="vol", opts=None): unmount @mnt and mount again."""
    def _remount(mnt, volume="vol", opts=None):
        unmount(str(mnt))
        real = os.path.realpath(str(mnt))
        wait_until(lambda: real not in [os.path.realpath(m) for m in (api_mountpoints(store) or []) if m],
                   timeout=10, what=f"daemon to release {mnt}")
        extra = ["-o", opts] if opts else []
        ok(run_mount(f"{store}:{volume}", mnt, *extra))
        assert is_fuse_mount(mnt)
        return mnt
    return _remount


def write_synced(path, data):
    """Write @data to @path (created or truncated) and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def expect_errno(err, fn, *args, **kw):
    """Call fn; assert it raises OSError with errno @err."""
    try:
        fn(*args, **kw)
    except OSError as e:
        assert e.errno == err, (f"{fn.__name__}{args}: expected {errno.errorcode[err]}, "
                                f"seen {errno.errorcode.get(e.errno, e.errno)} ({e})")
        return e
    pytest.fail(f"{fn.__name__}{args}: expected {errno.errorcode[err]}, seen success")


def as_nobody(script, timeout=TIMEOUT):
    """Run a Python snippet as uid/gid 65534 with no groups; return its JSON
    output (the snippet prints one JSON value)."""
    cp = run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
              PYTHON, "-c", script], timeout=timeout)
    assert cp.returncode == 0, "script as nobody failed\n" + describe(cp)
    return json.loads(cp.stdout)


def file_mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


# The one-node Ceph cluster of the RADOS tests (issue 15): one per session, for every module
# that asks for it (tests/integration/cephenv.py; started only when a test uses it).
from cephenv import ceph_cluster  # noqa: E402,F401
