"""The RADOS chunk store's C tests (tests/unit/test_rados.c) against a live one-node cluster
(issue 15): `make unit` runs that program without a cluster, where it skips; here it gets one
(the session's ceph_cluster, from conftest.py), with an empty pool of its own, a pool at its quota (a full
pool) and the OSD's pid (a test stops the OSD for a few seconds with SIGSTOP; it is
resumed on every path)."""

import os
import signal
import subprocess

import pytest

from conftest import BUILD, describe, wait_until

TEST_RADOS = BUILD / "tests" / "test_rados"


def test_rados_chunk_store(ceph_cluster):
    c = ceph_cluster
    if not os.access(TEST_RADOS, os.X_OK):
        pytest.fail(f"{TEST_RADOS} is missing: make B={BUILD} {TEST_RADOS}")
    pool = c.create_pool("unit")
    full = c.create_pool("unit-full")
    c.rados("put", "filler", "-", stdin=b"x", pool=full)
    c.ceph("osd", "pool", "set-quota", full, "max_objects", 1)
    wait_until(lambda: "full_quota" in c.pool_flags(full), timeout=60,
               what=f"pool {full} to be marked full")
    osd = c.osd_pid()
    env = dict(os.environ, CS_TEST_CEPH_CONF=str(c.conf), CS_TEST_CEPH_POOL=pool,
               CS_TEST_CEPH_FULL_POOL=full, CS_TEST_CEPH_OSD_PID=str(osd))
    try:
        cp = subprocess.run([str(TEST_RADOS)], env=env, capture_output=True, text=True,
                            timeout=420)  # the two stores share the pool for a minute
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"test_rados timed out\nstdout: {e.stdout!r}\nstderr: {e.stderr!r}")
    finally:
        try:
            os.kill(osd, signal.SIGCONT)  # should the program have died with it stopped
        except ProcessLookupError:
            pass
    out = cp.stdout + cp.stderr
    assert cp.returncode == 0, "test_rados failed\n" + describe(cp)
    assert "SKIPPED" not in out, "every test should have run\n" + out
    assert c.objects(pool) == [], "the tests left objects in their pool"
