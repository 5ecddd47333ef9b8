"""Moving a volume between two stores of one RADOS pool costs its metadata, not its data
(issue 15 item 3), through the real programs: two stores (two daemons, standing for two hosts)
on one pool of the session's one-node cluster. `send | receive` carries chunk names: the stream
is well under 1% of the data, the receiver marks every chunk object as its own before it
commits, so it keeps reading everything after the sender deleted the volume and collected its
garbage; an incremental likewise. A cut stream leaves the receiver as it was and its marks go
with `receive --abort`. A store whose chunks are local refuses a stream of names with an error
that says to send with --with-data, which carries the bytes as before."""

import os
import random

from conftest import (assert_error, ctl_json, describe, mounted, ok, run_ctl, start_daemon,
                      wait_until)

MIB = 1024 * 1024


def rados_store(janitor, base, name, cluster, pool):
    d = base / name
    janitor.stores.append(str(d))
    janitor.dirs.append(base)
    ok(run_ctl("store", "create", "--chunks", f"rados:{pool}", "--ceph-conf", cluster.conf,
               store=d))
    start_daemon(str(d))
    return str(d)


def send(store, spec, out, *opts):
    ok(run_ctl("send", spec, "-o", out, "--quiet", *opts, store=store, timeout=120))
    return out.stat().st_size


def receive(store, vol, inp):
    return run_ctl("receive", vol, "-i", inp, "--quiet", store=store, timeout=120)


def write_files(mnt, files):
    for name, data in files.items():
        with open(mnt / name, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def assert_reads(store, vol, mnt, files):
    with mounted(store, vol, mnt):
        for name, data in files.items():
            assert (mnt / name).read_bytes() == data, f"{vol}/{name} differs"


def marks(cluster, pool, oids):
    """The store marks (omap keys) on each of @oids."""
    return {o: sorted(cluster.rados("listomapkeys", o, pool=pool).stdout.decode().split())
            for o in oids}


def chunk_count(store):
    return ctl_json("status", store=store)["stats"]["chunks"]


def test_move_a_volume_by_chunk_names(janitor, work, ceph_cluster):
    c = ceph_cluster
    pool = c.create_pool("move")
    a = rados_store(janitor, work, "a", c, pool)
    b = rados_store(janitor, work, "b", c, pool)
    ok(run_ctl("volume", "create", "v", store=a))
    rng = random.Random(15)
    files = {"one": rng.randbytes(5 * MIB), "two": rng.randbytes(3 * MIB + 12345)}
    (work / "ma").mkdir()
    (work / "mb").mkdir()
    with mounted(a, "v", work / "ma"):
        write_files(work / "ma", files)
    ok(run_ctl("snapshot", "create", "v@s1", store=a))
    full = send(a, "v@s1", work / "full.stream")
    size = sum(len(d) for d in files.values())
    print(f"full stream of names: {full} bytes for {size} bytes of data "
          f"({100.0 * full / size:.3f}%)")
    assert full < size / 100, f"the stream ({full} bytes) is not under 1% of {size}"
    cp = ok(run_ctl("send", "v@s1", "--dry-run", "--bytes", store=a))
    assert int(cp.stdout) == full, "--dry-run counts a stream of names exactly"
    cp = ok(run_ctl("stream", "inspect", work / "full.stream"))
    assert f"by name, in RADOS pool {pool}" in cp.stdout, describe(cp)

    # a cut stream leaves b as it was; its marks go with the abort
    sample = [o for o in c.objects(pool) if len(o) == 64][:4]
    before, baseline = marks(c, pool, sample), chunk_count(b)
    cut = work / "cut.stream"
    cut.write_bytes((work / "full.stream").read_bytes()[:full * 2 // 3])
    cp = receive(b, "w", cut)
    assert cp.returncode != 0 and "cut" in cp.stderr, describe(cp)
    ok(run_ctl("receive", "--abort", "w", store=b))
    assert run_ctl("volume", "inspect", "w", store=b).returncode != 0, "w appeared"
    assert chunk_count(b) == baseline
    ok(run_ctl("gc", store=b))
    wait_until(lambda: marks(c, pool, sample) == before, timeout=60,
               what="the aborted receive's marks to go")

    ok(receive(b, "w", work / "full.stream"))
    assert_reads(b, "w", work / "mb", files)

    # an incremental: only the changed chunks, by name
    with mounted(a, "v", work / "ma"):
        files["three"] = rng.randbytes(2 * MIB)
        write_files(work / "ma", {"three": files["three"]})
    ok(run_ctl("snapshot", "create", "v@s2", store=a))
    incr = send(a, "v@s2", work / "incr.stream", "-i", "s1")
    assert incr < 2 * MIB / 100, f"the incremental ({incr} bytes) is not under 1% of 2 MiB"
    # cut, then only the rest (send --resume): still a stream of names
    cut.write_bytes((work / "incr.stream").read_bytes()[:incr // 2])
    assert receive(b, "w", cut).returncode != 0
    token = ok(run_ctl("receive", "--resume-token", "w", store=b)).stdout.strip()
    ok(run_ctl("send", "--resume", token, "-o", work / "rest.stream", "--quiet", store=a))
    rest = (work / "rest.stream").stat().st_size
    assert rest < incr
    ok(receive(b, "w", work / "rest.stream"))
    for s in (a, b):
        ok(run_ctl("check", store=s))

    # the sender lets go of everything: b's marks keep the objects
    ok(run_ctl("volume", "rm", "v", store=a))
    ok(run_ctl("gc", store=a))
    assert_reads(b, "w", work / "mb", files)
    ok(run_ctl("check", store=b))
    wait_until(lambda: all(len(m) == 1 for m in marks(c, pool, sample).values()),
               timeout=60, what="store a's marks to go (b's stay)")
    assert len([o for o in c.objects(pool) if len(o) == 64]) == chunk_count(b)
    ok(run_ctl("daemon", "stop", store=b))  # nothing cached: read the pool again
    start_daemon(b)
    assert_reads(b, "w", work / "mb", files)

    # a store with local chunks: refused, unless the bytes are sent
    local = str(work / "local")
    janitor.stores.append(local)
    start_daemon(local)
    cp = receive(local, "w", work / "full.stream")
    assert_error(cp, cp.returncode or 1, "--with-data", pool)
    assert run_ctl("volume", "inspect", "w", store=local).returncode != 0
    other = rados_store(janitor, work, "other", c, c.pool)  # same cluster, another pool
    assert_error(receive(other, "w", work / "full.stream"), cp.returncode, "--with-data",
                 f"RADOS pool {c.pool} of cluster")
    withdata = send(b, "w@s2", work / "data.stream", "--with-data")
    assert withdata > size, f"--with-data carries the bytes ({withdata} bytes)"
    ok(receive(local, "w", work / "data.stream"))
    (work / "ml").mkdir()
    assert_reads(local, "w", work / "ml", files)
    ok(run_ctl("check", store=local))
    print(f"incremental of 2 MiB: {incr} bytes; --with-data: {withdata} bytes")

    # a chunk the stream names is missing from the pool: refused, naming it
    gone = sample[0]
    c.rados("rm", gone, pool=pool)
    d = rados_store(janitor, work, "d", c, pool)
    cp = receive(d, "w", work / "full.stream")
    assert_error(cp, cp.returncode or 1, gone)
    assert run_ctl("volume", "inspect", "w", store=d).returncode != 0
    assert chunk_count(d) == 0
    # the marks d took on the others (adopted side by side with the missing one) go at its gc
    ok(run_ctl("gc", store=d))
    wait_until(lambda: all(len(m) == 1 for m in marks(c, pool, sample[1:]).values()),
               timeout=60, what="the refused receive's marks to go (b's stay)")
