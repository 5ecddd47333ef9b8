"""scripts/ceph-dev.sh (issue 15): a one-node Ceph cluster starts from nothing, serves
objects, stops without leaving a process behind, and starts again on a directory whose
daemons were killed with SIGKILL (stale pid files). One cluster, in the test's own directory,
stopped on every path."""

import os
import signal
import subprocess

import pytest

from conftest import describe, wait_until
from cephenv import (CEPH_DEV, ceph_dev, cluster_pids, skip_unless_ceph, start_cluster,
                     stop_cluster)


@pytest.fixture
def cdir(tmp_path_factory):
    skip_unless_ceph()
    d = tmp_path_factory.mktemp("ceph", numbered=True)
    try:
        yield d
    finally:
        stop_cluster(d)
        assert not cluster_pids(d), "ceph daemons left behind"


def test_start_put_get_stop_restart_after_kill9(cdir):
    c = start_cluster(cdir, "tpool")
    conf = cdir / "ceph.conf"
    for sub in ("run/mon.a.pid", "run/osd.0.pid", "run/mgr.x.pid", "log/osd.0.log"):
        assert (cdir / sub).exists(), f"expected {sub} under the cluster directory"
    assert len(cluster_pids(cdir)) == 3, "expected mon, mgr and osd running"

    data = os.urandom(200 * 1024)
    c.rados("put", "obj1", "-", stdin=data)
    assert c.rados("get", "obj1", "-").stdout == data
    assert c.objects() == ["obj1"]
    c.rados("rm", "obj1")
    assert c.objects() == []

    cp = ceph_dev("start", cdir)
    assert cp.returncode == 3 and "already running" in cp.stderr, describe(cp)
    st = ceph_dev("status", cdir)
    assert st.returncode == 0 and "HEALTH_OK" in st.stdout, describe(st)

    cp = ceph_dev("stop", cdir)
    assert cp.returncode == 0, describe(cp)
    assert cluster_pids(cdir) == [], "a ceph daemon of this directory is still running"
    assert ceph_dev("status", cdir).returncode == 3

    # again, then SIGKILL every daemon: the pid files stay, naming dead processes
    c = start_cluster(cdir, "tpool")
    for pid in cluster_pids(cdir):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not cluster_pids(cdir), what="the killed daemons to end")
    assert (cdir / "run" / "osd.0.pid").exists()
    old = conf.read_text()

    c = start_cluster(cdir, "tpool")
    assert conf.read_text() != old, "expected a new cluster (new fsid), not the old conf"
    c.rados("put", "obj2", "-", stdin=b"after kill -9")
    assert c.rados("get", "obj2", "-").stdout == b"after kill -9"
    assert ceph_dev("stop", cdir).returncode == 0
    assert cluster_pids(cdir) == []


def test_bad_input_and_missing_packages(tmp_path):
    cp = ceph_dev("start", tmp_path / "x", "--pool", "bad/name")
    assert cp.returncode == 2 and "bad pool name" in cp.stderr, describe(cp)
    cp = ceph_dev("start", tmp_path / "x", "--size", "lots")
    assert cp.returncode == 2 and "bad size" in cp.stderr, describe(cp)
    cp = ceph_dev("frobnicate", tmp_path / "x")
    assert cp.returncode == 2 and "usage" in cp.stderr, describe(cp)
    # no Ceph programs on PATH: a clear error naming the packages, nothing started
    cp = subprocess.run(["/bin/bash", str(CEPH_DEV), "start", str(tmp_path / "y")],
                        capture_output=True, text=True, timeout=30,
                        env={"PATH": str(tmp_path / "nothing-here")})
    assert cp.returncode == 4, describe(cp)
    assert "ceph-mon" in cp.stderr and "apt-get install" in cp.stderr, describe(cp)
    assert not (tmp_path / "y").exists()


def test_bluestore_without_mgr(cdir):
    """The other OSD backend (bluestore on a sparse file under DIR) and no mgr (start waits
    for a probe write instead of PG states)."""
    c = start_cluster(cdir, "tpool", "--objectstore", "bluestore", "--no-mgr", "--size", "1G")
    assert (cdir / "osd.0.block").stat().st_size == 1 << 30
    assert len(cluster_pids(cdir)) == 2, "expected mon and osd, no mgr"
    c.rados("put", "obj", "-", stdin=b"on bluestore")
    assert c.rados("get", "obj", "-").stdout == b"on bluestore"
    assert ceph_dev("stop", cdir).returncode == 0
    assert cluster_pids(cdir) == []
