"""A one-node Ceph cluster for the RADOS tests (issue 15), through scripts/ceph-dev.sh.

`ceph_cluster` (session scope; conftest.py imports it, so every module shares one) starts one
cluster in a fresh temporary directory and yields a CephCluster: its conf path, its pool, and
`rados(*args)`, the `rados` command line against it.
The cluster is stopped on every path: the fixture's finalizer (registered before the start, so
a start that fails half way is stopped too), then, should the finalizer never run (the
interpreter killed by a KeyboardInterrupt mid-fixture), an atexit hook. Tests that need their
own cluster (test_ceph_dev.py) use `start_cluster` / `stop_cluster` with their own directory.

Skipped, not failed, when Ceph's packages are missing and the run is not root: `make test`
installs them (scripts/deps.sh test).
"""

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, describe, pid_alive

CEPH_DEV = REPO / "scripts" / "ceph-dev.sh"
START_TIMEOUT = 120     # the script's own waits are 90 s each at most
STOP_TIMEOUT = 60
DAEMONS = ("mon.a", "mgr.x", "osd.0")


def ceph_dev(*args, timeout=START_TIMEOUT):
    argv = [str(CEPH_DEV), *map(str, args)]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"ceph-dev.sh timed out after {timeout}s: {' '.join(argv)}\n"
                    f"stderr: {e.stderr!r}")


def skip_unless_ceph():
    if os.geteuid() != 0:
        pytest.skip("a Ceph cluster needs root")
    missing = [b for b in ("ceph-mon", "ceph-osd", "ceph-mgr", "ceph", "rados")
               if shutil.which(b) is None]
    if missing:
        pytest.skip(f"Ceph's packages are missing ({missing}): scripts/deps.sh test")


def _argv(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def cluster_pids(d):
    """Pids of live (non-zombie) processes whose command line names @d's ceph.conf."""
    conf = str(Path(d, "ceph.conf")).encode()
    return [int(p) for p in os.listdir("/proc")
            if p.isdigit() and conf in _argv(p) and pid_alive(int(p))]


class CephCluster:
    def __init__(self, d, pool):
        self.dir = Path(d)
        self.conf = self.dir / "ceph.conf"
        self.pool = pool

    def rados(self, *args, check=True, timeout=60, stdin=None, pool=None):
        """`rados -c CONF -p POOL ARGS` (POOL: @pool, else the cluster's);
        bytes in, CompletedProcess (bytes) out."""
        argv = ["rados", "-c", str(self.conf), "-p", pool or self.pool, *map(str, args)]
        try:
            cp = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"rados timed out after {timeout}s: {' '.join(argv)}")
        if check:
            assert cp.returncode == 0, f"rados failed: {describe(cp)}"
        return cp

    def objects(self, pool=None):
        out = self.rados("ls", pool=pool).stdout.decode()
        return sorted(line for line in out.splitlines() if line)

    def ceph(self, *args, timeout=60):
        """`ceph -c CONF ARGS` -> stdout (text); fails the test on an error."""
        argv = ["ceph", "-c", str(self.conf), "--connect-timeout", "30", *map(str, args)]
        try:
            cp = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ceph timed out after {timeout}s: {' '.join(argv)}")
        assert cp.returncode == 0, f"ceph failed: {describe(cp)}"
        return cp.stdout

    def create_pool(self, name, pgs=8):
        """A new replicated pool of size 1 (application rados), ready to write."""
        self.ceph("osd", "pool", "create", name, pgs, pgs)
        self.ceph("osd", "pool", "application", "enable", name, "rados")
        deadline = time.monotonic() + 60
        while self.rados("put", "probe", "-", stdin=b"", check=False, timeout=30,
                         pool=name).returncode != 0:
            assert time.monotonic() < deadline, f"pool {name} never took a write"
            time.sleep(0.2)
        self.rados("rm", "probe", pool=name)
        return name

    def pool_flags(self, name):
        pools = json.loads(self.ceph("osd", "dump", "-f", "json"))["pools"]
        return next(p["flags_names"] for p in pools if p["pool_name"] == name)

    def osd_pid(self):
        return int((self.dir / "run" / "osd.0.pid").read_text().strip())


def start_cluster(d, pool="cstorfs", *extra):
    cp = ceph_dev("start", d, "--pool", pool, *extra)
    assert cp.returncode == 0, "ceph-dev.sh start failed\n" + describe(cp)
    conf = cp.stdout.strip()
    assert conf == str(Path(d).resolve() / "ceph.conf"), \
        f"expected the conf path on stdout, saw {cp.stdout!r}"
    return CephCluster(d, pool)


def stop_cluster(d):
    """Stop @d's cluster; kill whatever of it is left if the script could not."""
    cp = ceph_dev("stop", d, timeout=STOP_TIMEOUT)
    for pid in cluster_pids(d):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    return cp


@pytest.fixture(scope="session")
def ceph_cluster(request):
    skip_unless_ceph()
    d = tempfile.mkdtemp(prefix="cstorfs-ceph-", dir="/tmp")
    done = []

    def cleanup():
        if done:
            return
        done.append(1)
        stop_cluster(d)
        if not cluster_pids(d):
            shutil.rmtree(d, ignore_errors=True)

    # registered before the start: a start that fails or is interrupted is stopped too
    request.addfinalizer(cleanup)
    atexit.register(cleanup)
    yield start_cluster(d, os.environ.get("CEPH_DEV_POOL", "cstorfs"))
