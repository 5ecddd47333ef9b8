"""Stores whose chunks live in a Ceph RADOS pool (issue 15), through the real programs: two
stores (two daemons, standing for two hosts) on one pool of the session's one-node cluster
write the same file, the pool holds its chunks once; a chunk object goes only when neither
store uses it; a bad spec, a missing pool and a store that exists get clear errors; the
daemon's --create --chunks makes such a store too."""

import os

import pytest

from conftest import (CSTORFSD, EXIT_EXISTS, EXIT_USAGE, assert_error, ctl_json, describe,
                      mounted, ok, run, run_ctl, wait_until)

CH = 64 * 1024


def make_store(janitor, base, name, cluster, pool):
    d = base / name
    janitor.stores.append(str(d))
    janitor.dirs.append(base)
    cp = ok(run_ctl("store", "create", "--chunks", f"rados:{pool}",
                    "--ceph-conf", cluster.conf, store=d))
    assert f"rados:{pool}" in cp.stdout
    ok(run_ctl("volume", "create", "v", store=d))
    return str(d)


def chunk_objects(cluster, pool):
    return [o for o in cluster.objects(pool) if len(o) == 64]


def test_two_stores_share_one_pool(janitor, work, ceph_cluster):
    c = ceph_cluster
    pool = c.create_pool("share")
    s1 = make_store(janitor, work, "s1", c, pool)
    s2 = make_store(janitor, work, "s2", c, pool)
    data = os.urandom(16 * CH)
    for s, mnt in ((s1, work / "m1"), (s2, work / "m2")):
        mnt.mkdir()
        with mounted(s, "v", mnt):
            with open(mnt / "f", "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        with mounted(s, "v", mnt):
            assert (mnt / "f").read_bytes() == data
    assert len(chunk_objects(c, pool)) == 16, "16 chunks written by two stores, stored once"

    ok(run_ctl("volume", "rm", "v", store=s1))
    ok(run_ctl("gc", store=s1))
    assert len(chunk_objects(c, pool)) == 16, "store 2 still uses them"
    with mounted(s2, "v", work / "m2"):
        assert (work / "m2" / "f").read_bytes() == data
    ok(run_ctl("check", store=s2))
    ok(run_ctl("volume", "rm", "v", store=s2))
    ok(run_ctl("gc", store=s2))
    # the daemon's gc thread gives the objects back (cs_gc_compact)
    wait_until(lambda: chunk_objects(c, pool) == [], timeout=60,
               what="the pool to hold no chunk once no store uses them")


def test_store_create_errors(janitor, work, ceph_cluster):
    c = ceph_cluster
    d = work / "s"
    janitor.stores.append(str(d))
    janitor.dirs.append(work)
    assert_error(run_ctl("store", "create", "--chunks", "s3:bucket", store=d), EXIT_USAGE,
                 "rados:POOL")
    assert_error(run_ctl("store", "create", "--ceph-conf", c.conf, store=d), EXIT_USAGE,
                 "--chunks")
    assert_error(run_ctl("store", "create", "--chunks", "rados:no-such-pool",
                         "--ceph-conf", c.conf, store=d), 1, "no-such-pool")
    assert not (d / "db").exists(), "a store that could not be created leaves nothing"
    ok(run_ctl("store", "create", "--chunks", "rados:" + c.pool, "--ceph-conf", c.conf,
               store=d))
    assert_error(run_ctl("store", "create", store=d), EXIT_EXISTS, "exists")


def test_daemon_creates_a_rados_store(janitor, work, ceph_cluster):
    c = ceph_cluster
    d = work / "sd"
    janitor.stores.append(str(d))
    janitor.dirs.append(work)
    cp = run([CSTORFSD, "--store", d, "--chunks", "rados:" + c.pool])
    assert cp.returncode != 0 and "--chunks goes with --create" in cp.stderr, describe(cp)
    ok(run([CSTORFSD, "--store", d, "--create", "--chunks", f"rados:{c.pool};conf={c.conf}"]))
    assert ctl_json("status", store=d)["chunk_store"]["kind"] == "rados"
