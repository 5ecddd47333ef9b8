"""Off-host copies in the pool (issue 15 item 4), through the real programs: a store on a pool
pushes a volume's snapshots (full, then incremental) into the pool; its host is then lost (the
volume deleted, its garbage collected, its store directory removed) and a second store of the
pool pulls the volume back, both snapshots and every byte, without moving chunk data. The
pushed copies hold their own mark on every chunk they name, so nothing a store does takes those
objects away; deleting the copies gives the marks back, and the pool ends with nothing that
nothing uses. Every refusal is one clear line: a name taken or unknown, a missing base, a base
with an incremental on it, a volume that exists, a damaged or missing stream object (nothing
changed), a store whose chunks are local."""

import json
import os
import random
import shutil
import subprocess

import pytest

from conftest import (BUILD, api, assert_error, ctl_json, describe, mounted, ok, run_ctl,
                      start_daemon, wait_until)
from test_rados_move import chunk_count, rados_store, write_files

MIB = 1024 * 1024


def keys_of(cluster, pool, oid):
    return cluster.rados("listomapkeys", oid, pool=pool).stdout.decode().split()


def chunk_objects(cluster, pool):
    return [o for o in cluster.objects(pool) if len(o) == 64]


def only_push_marks(cluster, pool):
    """Every chunk object holds marks of pushed copies only (the stores let go)."""
    return all(k.startswith("cstorfs.push.")
               for o in chunk_objects(cluster, pool) for k in keys_of(cluster, pool, o))


def assert_tree(store, spec, mnt, files):
    with mounted(store, spec, mnt):
        seen = sorted(p.relative_to(mnt).as_posix() for p in mnt.rglob("*") if p.is_file())
        assert seen == sorted(files), f"{spec}: files {seen}, expected {sorted(files)}"
        for name, data in files.items():
            assert (mnt / name).read_bytes() == data, f"{spec}/{name} differs"


def test_push_survives_a_lost_host_and_pulls_elsewhere(janitor, work, ceph_cluster):
    c = ceph_cluster
    pool = c.create_pool("push")
    a, b = (rados_store(janitor, work, name, c, pool) for name in ("a", "b"))
    for cmd in (("volume", "create", "v"), ("snapshot", "create", "v@s0")):  # s0: never pushed
        ok(run_ctl(*cmd, store=a))
    rng = random.Random(4)
    s1 = {"one": rng.randbytes(3 * MIB + 77), "two": rng.randbytes(10000),
          "sub/three": rng.randbytes(300 * 1024)}
    (work / "m").mkdir()
    with mounted(a, "v", work / "m"):
        (work / "m" / "sub").mkdir()
        write_files(work / "m", s1)
    ok(run_ctl("snapshot", "create", "v@s1", store=a))
    s2 = dict(s1, two=rng.randbytes(5000), four=rng.randbytes(2 * MIB))
    del s2["one"]
    with mounted(a, "v", work / "m"):
        (work / "m" / "one").unlink()
        write_files(work / "m", {"two": s2["two"], "four": s2["four"]})
    ok(run_ctl("snapshot", "create", "v@s2", store=a))

    full = ctl_json("push", "v@s1", store=a)
    assert (full["name"], full["base"], full["state"]) == ("v@s1", "", "complete"), full
    incr = ctl_json("push", "v@s2", "--from", "s1", "--as", "v-later", store=a)
    assert (incr["name"], incr["base"]) == ("v-later", "v@s1"), incr
    assert 0 < incr["chunks"] < full["chunks"], "an incremental names only the new chunks"
    cp = ok(run_ctl("pushed", store=b))  # the pool's, seen from any store of it
    for word in ("NAME", "BASE", "v@s1", "v-later", "v@s2"):
        assert word in cp.stdout, describe(cp)

    # refusals of a push, each leaving the pool as it was
    objects = c.objects(pool)
    assert_error(run_ctl("push", "v@s1", store=a), 5, "v@s1", "already")
    assert_error(run_ctl("push", "v@s2", "--from", "s0", store=a), 4, "no pushed copy of v@s0")
    assert_error(run_ctl("push", "v@s2", "--from", "s9", store=a), 4, "v@s9")
    assert_error(run_ctl("push", "v@nope", store=a), 4, "nope")
    assert c.objects(pool) == objects

    # the host is lost: its volume, its garbage, its marks, its directory
    ok(run_ctl("volume", "rm", "v", store=a))
    ok(run_ctl("gc", store=a))
    wait_until(lambda: only_push_marks(c, pool), timeout=60, what="store a's marks to go")
    ok(run_ctl("daemon", "stop", store=a))
    shutil.rmtree(a)
    assert len(chunk_objects(c, pool)) == full["chunks"] + incr["chunks"]

    # a damaged or missing stream object: refused, nothing changed
    part = next(o for o in c.objects(pool) if o.startswith("cstorfs.push.") and o.endswith(".s0"))
    saved = c.rados("get", part, "-", pool=pool).stdout
    c.rados("put", part, "-", stdin=bytes([saved[0] ^ 1]) + saved[1:], pool=pool)
    assert_error(run_ctl("pull", "v-later", "x", store=b), 1, "damaged")
    c.rados("rm", part, pool=pool)
    assert_error(run_ctl("pull", "v-later", "x", store=b), 1, "missing", part)
    assert run_ctl("volume", "inspect", "x", store=b).returncode == 4
    c.rados("put", part, "-", stdin=saved, pool=pool)

    pull = ctl_json("pull", "v-later", store=b)
    assert (pull["volume"], pull["snapshot"], pull["streams"]) == ("v", "s2", 2), pull
    assert [s["name"] for s in ctl_json("snapshot", "list", "v", store=b)["snapshots"]] == \
        ["s1", "s2"]
    assert_tree(b, "v@s1", work / "m", s1)
    assert_tree(b, "v@s2", work / "m", s2)
    assert_tree(b, "v", work / "m", s2)
    ok(run_ctl("pull", "v@s1", "w", store=b))
    assert_tree(b, "w", work / "m", s1)
    ok(run_ctl("check", store=b))

    # refusals of a pull and of a delete
    assert_error(run_ctl("pull", "nosuch", store=b), 4, "no pushed copy 'nosuch'")
    assert_error(run_ctl("pull", "v-later", store=b), 5, "volume 'v' exists")
    assert_error(run_ctl("pushed", "--delete", "v@s1", store=b), 5, "v-later", "incremental")
    assert_error(run_ctl("pushed", "--delete", "nosuch", store=b), 4, "nosuch")
    local = str(work / "local")
    janitor.stores.append(local)
    start_daemon(local)
    assert_error(run_ctl("pull", "v-later", store=local), 1, "local files")
    assert_error(run_ctl("push", "v@s1", store=local), 1, "local files")

    # a push that finds a chunk of its snapshot missing undoes all it did: nothing listed,
    # no object of its own, no mark left on the chunks it had marked
    before = set(c.objects(pool))
    ok(run_ctl("volume", "create", "z", store=b))
    with mounted(b, "z", work / "m"):
        write_files(work / "m", {"z": rng.randbytes(MIB)})
    ok(run_ctl("snapshot", "create", "z@s", store=b))
    zchunks = sorted(set(c.objects(pool)) - before)
    c.rados("rm", zchunks[0], pool=pool)
    assert_error(run_ctl("push", "z@s", store=b), 1, zchunks[0], "missing")
    assert "z@s" not in ok(run_ctl("pushed", store=b)).stdout
    assert set(c.objects(pool)) == before | set(zchunks[1:])
    assert all(not k.startswith("cstorfs.push.") for o in zchunks[1:]
               for k in keys_of(c, pool, o))
    ok(run_ctl("volume", "rm", "z", store=b))

    # the copies go: their marks with them; b's own keep what it uses
    ok(run_ctl("pushed", "--delete", "v-later", store=b))
    ok(run_ctl("pushed", "--delete", "v@s1", store=b))
    assert "no pushed copies" in ok(run_ctl("pushed", store=b)).stdout
    assert [o for o in c.objects(pool) if len(o) != 64] == [], "push objects left"
    ok(run_ctl("gc", store=b))  # z's chunks
    wait_until(lambda: len(chunk_objects(c, pool)) == chunk_count(b), timeout=60,
               what="the pool to hold b's chunks only")
    assert_tree(b, "v", work / "m", s2)
    for v in ("v", "w"):
        ok(run_ctl("volume", "rm", v, store=b))
    ok(run_ctl("gc", store=b))
    wait_until(lambda: c.objects(pool) == [], timeout=60, what="the pool to empty")
    print(f"pushed: full {full['bytes']} bytes naming {full['chunks']} chunks, "
          f"incremental {incr['bytes']} bytes naming {incr['chunks']}")
    print(json.dumps(pull))


def test_pushed_copies_objects_in_c(ceph_cluster):
    """tests/unit/test_pushidx.c on a pool of its own: the index refuses changes made from a
    stale reading, parts round trip, a copy's mark goes alone or with its object."""
    prog = BUILD / "tests" / "test_pushidx"
    if not os.access(prog, os.X_OK):
        pytest.fail(f"{prog} is missing: make B={BUILD} {prog}")
    pool = ceph_cluster.create_pool("pushunit")
    env = dict(os.environ, CS_TEST_CEPH_CONF=str(ceph_cluster.conf), CS_TEST_CEPH_POOL=pool)
    try:
        cp = subprocess.run([str(prog)], env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"test_pushidx timed out\nstdout: {e.stdout!r}\nstderr: {e.stderr!r}")
    assert cp.returncode == 0 and "SKIPPED" not in cp.stdout + cp.stderr, describe(cp)
    assert ceph_cluster.objects(pool) == [], "test_pushidx left objects"


def test_the_api_checks_requests_before_the_pool(store, daemon):
    """The routes refuse a malformed request with 400 before anything else; a store whose
    chunks are local answers that pushed copies live in a RADOS pool (no cluster needed)."""
    for path, body, word in (("/v1/push", {"volume": "v"}, "snapshot"),
                             ("/v1/push", {"volume": "v", "snapshot": "s", "bogus": 1}, "bogus"),
                             ("/v1/pull", {"volume": "v"}, "name")):
        status, ans = api(store, "POST", path, body)
        assert status == 400 and word in ans["error"]["message"], (path, status, ans)
    status, ans = api(store, "DELETE", "/v1/pushed")
    assert status == 400 and "name=" in ans["error"]["message"], (status, ans)
    for method, path, body in (("GET", "/v1/pushed", None),
                               ("POST", "/v1/push", {"volume": "v", "snapshot": "s"}),
                               ("POST", "/v1/pull", {"name": "v@s"}),
                               ("DELETE", "/v1/pushed?name=v%40s", None)):
        status, ans = api(store, method, path, body)
        assert status == 500 and ans["error"]["code"] == "EOPNOTSUPP", (path, status, ans)
        assert "local files" in ans["error"]["message"], ans
