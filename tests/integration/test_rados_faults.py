"""A RADOS pool that stops answering under a mount (issue 15, item 5), through the real
programs: mounted with `-o rados_timeout=2`, the session cluster's OSD stopped (SIGSTOP: it
keeps its memstore objects, and is resumed on every path), a write and its fsync get EIO after
that bounded wait, and so does a read of bytes the page cache does not hold; the mount stays
up, the daemon's log gives the reason once for the whole episode and says when the pool works
again; once the OSD runs, writes go through and what was fsync'd before is intact. Bad values
of the option get clear errors."""

import errno
import os
import signal

from conftest import assert_error, describe, mounted, ok, run_ctl, run_mount, wait_until

CH = 64 * 1024
ONCE = "further errors are not logged until it works again"


def make_store(janitor, work, cluster, pool):
    d = work / "s"
    janitor.stores.append(str(d))
    ok(run_ctl("store", "create", "--chunks", f"rados:{pool}", "--ceph-conf", cluster.conf,
               store=d))
    ok(run_ctl("volume", "create", "v", store=d))
    return d


def write_fsync(path, data):
    """Write and fsync @path: None, or the errno the write, fsync or close failed with."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = None
    try:
        os.write(fd, data)
        os.fsync(fd)
    except OSError as e:
        err = e.errno
    finally:
        try:
            os.close(fd)
        except OSError as e:
            err = err or e.errno
    return err


def test_pool_away_gives_eio_logged_once_and_work_resumes(janitor, work, ceph_cluster):
    c = ceph_cluster
    s = make_store(janitor, work, c, c.create_pool("faults"))
    before = os.urandom(8 * CH)
    with mounted(s, "v", work / "m", opts="rados_timeout=2") as m:
        assert write_fsync(m / "before", before) is None
        osd = c.osd_pid()
        os.kill(osd, signal.SIGSTOP)
        try:
            # new bytes each time: a chunk the pool holds already costs no write
            assert write_fsync(m / "lost1", os.urandom(4 * CH)) == errno.EIO
            assert write_fsync(m / "lost2", os.urandom(4 * CH)) == errno.EIO
            assert (m / "before").stat().st_size == len(before), "the mount stays up"
            # a read the page cache cannot answer waits the same bound
            fd = os.open(m / "before", os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                try:
                    os.pread(fd, CH, 0)
                    read_err = None
                except OSError as e:
                    read_err = e.errno
            finally:
                os.close(fd)
            assert read_err == errno.EIO
        finally:
            os.kill(osd, signal.SIGCONT)
        after = os.urandom(8 * CH)
        # the first writes after may still meet the ops librados was finishing
        wait_until(lambda: write_fsync(m / "after", after) is None, timeout=60,
                   what="a write and fsync to go through once the OSD runs again")
        log = (s / "cstorfsd.log").read_text(errors="replace")
        assert log.count(ONCE) == 1, "the fault is logged once, with its reason:\n" + log
        line = next(x for x in log.splitlines() if ONCE in x)
        assert "RADOS pool faults" in line and "timed out" in line, line
        assert "works again" in log.split(ONCE, 1)[1], "the recovery is logged:\n" + log
        assert (m / "before").read_bytes() == before
        assert (m / "after").read_bytes() == after
    with mounted(s, "v", work / "m"):
        assert (work / "m" / "before").read_bytes() == before
        assert (work / "m" / "after").read_bytes() == after
    ok(run_ctl("check", store=s))


def test_rados_timeout_option_errors(janitor, work, ceph_cluster):
    c = ceph_cluster
    s = make_store(janitor, work, c, c.create_pool("faults-opt"))
    (work / "m").mkdir()
    for bad, says in (("rados_timeout=0", "from 1 to 3600"), ("rados_timeout=3601", "3600"),
                      ("rados_timeout=2s", "number of seconds"), ("rados_timeout=", "seconds")):
        cp = run_mount(f"{s}:v", work / "m", "-o", bad)
        assert cp.returncode != 0 and says in cp.stderr, describe(cp)
    local = work / "local"
    janitor.stores.append(str(local))
    ok(run_ctl("store", "create", store=local))
    ok(run_ctl("volume", "create", "v", store=local))
    assert_error(run_mount(f"{local}:v", work / "m", "-o", "rados_timeout=5"), 1,
                 "not in a RADOS pool", prog="cstorfs")
