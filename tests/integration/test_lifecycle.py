"""Mounting, unmounting, persistence, crash recovery, mount command forms."""

import errno
import os
import signal
import subprocess
import time

from conftest import (
    EXIT_EXISTS, MOUNT, PYTHON, api_mountpoints, assert_error, create_volume, ctl_json,
    daemon_answers, daemon_pids, describe, expect_errno, is_fuse_mount, lazy_unmount,
    mount_info, mounted, ok, pid_alive, product_env, read_pidfile, run, run_ctl, run_mount,
    stop_daemon, unmount, wait_until,
)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def real(p):
    return os.path.realpath(str(p))


def listed_mountpoints(store):
    return [real(m) for m in (api_mountpoints(store) or []) if m]


def test_data_persists_across_unmount_and_remount(store, daemon, work):
    create_volume(store, "vol")
    mnt = work / "mnt"
    with mounted(store, "vol", mnt) as m:
        os.makedirs(m / "a" / "b")
        write(m / "a" / "b" / "f", b"persist me" * 5000)
        write(m / "small", b"inline")
        os.symlink("a/b/f", m / "link")
        os.link(m / "a" / "b" / "f", m / "hard")
        os.mkfifo(m / "fifo")
        os.chmod(m / "a", 0o711)
        os.chown(m / "small", 1000, 2000)
        os.utime(m / "small", ns=(1_111_111_111_123_456_789, 1_222_222_222_987_654_321))
        os.setxattr(m / "a" / "b" / "f", "user.k", b"v")
        before = {n: os.lstat(m / n) for n in ("a", "a/b", "a/b/f", "small", "link", "hard", "fifo")}
    assert not is_fuse_mount(mnt)
    assert os.listdir(mnt) == [], "after unmount the mount point must be the empty directory again"
    with mounted(store, "vol", mnt) as m:
        assert read(m / "a" / "b" / "f") == b"persist me" * 5000
        assert read(m / "small") == b"inline"
        assert os.readlink(m / "link") == "a/b/f"
        assert os.stat(m / "a").st_mode & 0o7777 == 0o711
        assert os.getxattr(m / "a" / "b" / "f", "user.k") == b"v"
        assert sorted(os.listdir(m)) == ["a", "fifo", "hard", "link", "small"]
        for n, b in before.items():
            a = os.lstat(m / n)
            for field in ("st_ino", "st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_mtime_ns"):
                assert getattr(a, field) == getattr(b, field), \
                    f"{n}.{field}: expected {getattr(b, field)} (before remount), seen {getattr(a, field)}"
        assert os.stat(m / "small").st_atime_ns == 1_111_111_111_123_456_789


def test_data_persists_across_daemon_stop_and_start(store, daemon, work):
    create_volume(store, "vol")
    mnt = work / "mnt"
    with mounted(store, "vol", mnt) as m:
        write(m / "f", b"across daemons" * 10_000)
    stop_daemon(store)
    assert not daemon_pids(store), "daemon still running after `daemon stop`"
    # the mount command starts a new daemon by itself
    with mounted(store, "vol", mnt) as m:
        assert read(m / "f") == b"across daemons" * 10_000
    new_pid = read_pidfile(store)
    assert new_pid != daemon and pid_alive(new_pid), f"expected a new daemon, pid file says {new_pid}"


def test_daemon_stop_while_mounted_flushes_and_unmounts(store, daemon, work):
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    ok(run_mount(f"{store}:vol", mnt))
    fd = os.open(mnt / "unsynced", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"no fsync, clean stop" * 5000)      # no fsync
    os.close(fd)
    stop_daemon(store)
    wait_until(lambda: not is_fuse_mount(mnt), timeout=10, what="daemon stop to unmount its session")
    with mounted(store, "vol", mnt) as m:
        assert read(m / "unsynced") == b"no fsync, clean stop" * 5000


def test_sigterm_stops_daemon_cleanly(store, daemon, work):
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    ok(run_mount(f"{store}:vol", mnt))
    write(mnt / "f", b"sigterm")
    os.kill(daemon, signal.SIGTERM)
    wait_until(lambda: not pid_alive(daemon), timeout=15, what="daemon to exit on SIGTERM")
    wait_until(lambda: not is_fuse_mount(mnt), timeout=5, what="mount to go away")
    with mounted(store, "vol", mnt) as m:
        assert read(m / "f") == b"sigterm"


WRITER = r"""
import os, random, sys
path = sys.argv[1]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
i = 0
while True:
    n = random.Random(i).randrange(8, 20000)
    rec = (i.to_bytes(8, "little") + bytes([i & 0xFF]) * n)[:n]
    try:
        os.write(fd, rec)
        os.fsync(fd)
    except OSError as e:
        print("error", e.errno, flush=True)
        break
    print(i, flush=True)
    i += 1
"""


def record(i):
    import random
    n = random.Random(i).randrange(8, 20000)
    return (i.to_bytes(8, "little") + bytes([i & 0xFF]) * n)[:n]


def test_fsynced_data_survives_kill_9_of_daemon(store, daemon, work, janitor):
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    ok(run_mount(f"{store}:vol", mnt))
    with open(mnt / "before", "wb") as f:
        f.write(b"synced before the writer" * 3000)
        f.flush()
        os.fsync(f.fileno())
    # an inode unlinked while open at the time of the crash: an orphan that
    # the next open of the store must purge
    orphan_fd = os.open(mnt / "orphan", os.O_RDWR | os.O_CREAT, 0o644)
    os.write(orphan_fd, b"o" * 300_000)
    os.fsync(orphan_fd)
    os.unlink(mnt / "orphan")
    os.fsync(orphan_fd)
    w = subprocess.Popen([PYTHON, "-c", WRITER, str(mnt / "log")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    janitor.procs.append(w)
    # let it write a while (at least 150 records, ~1.5 MB, across many chunks)
    count = 0
    deadline = time.monotonic() + 20
    while count < 150 and time.monotonic() < deadline:
        line = w.stdout.readline()
        assert line, f"writer ended early: {w.stderr.read()!r}"
        assert not line.startswith("error"), f"writer failed before the kill: {line!r}"
        count += 1
    assert count >= 150, f"writer acknowledged only {count} fsyncs in 20 s"
    os.kill(daemon, signal.SIGKILL)
    wait_until(lambda: not pid_alive(daemon), timeout=10, what="daemon to die")
    try:
        out, _ = w.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        w.kill()
        out, _ = w.communicate(timeout=20)
    acked = [int(x) for x in (out.splitlines()) if x.strip().isdigit()]
    last = max(acked) if acked else count - 1
    assert last >= count - 1
    try:
        os.close(orphan_fd)
    except OSError:
        pass                                  # the connection is gone
    lazy_unmount(str(mnt))
    assert not is_fuse_mount(mnt)
    # the store opens cleanly: a new daemon starts and answers
    st = ctl_json("status", store=store)
    assert st["pid"] != daemon and pid_alive(st["pid"])
    vols = ctl_json("volume", "list", store=store)["volumes"]
    assert [v["name"] for v in vols] == ["vol"]
    with mounted(store, "vol", mnt) as m:
        assert sorted(os.listdir(m)) == ["before", "log"]
        assert read(m / "before") == b"synced before the writer" * 3000
        data = read(m / "log")
        stats = ctl_json("volume", "inspect", "vol", store=store)["stats"]
        want = (3, len(data) + 72_000)        # root, before, log; the orphan purged
        seen = (stats["inodes"], stats["logical_bytes"])
        assert seen == want, f"after the crash, (inodes, logical_bytes): expected {want}, seen {seen}"
        want = b"".join(record(i) for i in range(last + 1))
        assert len(data) >= len(want), \
            f"expected at least {len(want)} bytes (records 0..{last} fsync'd), seen {len(data)}"
        off = 0
        for i in range(last + 1):
            r = record(i)
            off += len(r)
            if data[off - len(r):off] != r:
                off -= len(r)
                raise AssertionError(f"fsync'd record {i} (offset {off}, {len(r)} bytes) is damaged "
                                     f"after kill -9: expected {r[:12]!r}..., seen {data[off:off + 12]!r}...")
        # the volume is writable again
        write(m / "after", b"ok")
        assert read(m / "after") == b"ok"


def test_closed_files_reach_the_store_within_seconds_without_fsync(store, daemon, work):
    """Small writes wait in the store's write buffer, and close(2) sends the
    daemon nothing: the session's flusher must still write them out soon, so
    a kill -9 two seconds after close loses none of them."""
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    ok(run_mount(f"{store}:vol", mnt))
    want = {f"f{i}": os.urandom(10_000 + 1000 * i) for i in range(5)}
    for name, data in want.items():
        write(mnt / name, data)
    write(mnt / "big", os.urandom(200_000))
    with open(mnt / "big", "r+b") as f:
        f.seek(70_000)
        f.write(b"patched!")  # part of one chunk: buffered
    time.sleep(2.0)
    os.kill(daemon, signal.SIGKILL)
    wait_until(lambda: not pid_alive(daemon), timeout=10, what="daemon to die")
    lazy_unmount(str(mnt))
    with mounted(store, "vol", mnt) as m:
        for name, data in want.items():
            assert read(m / name) == data, f"{name} lost its closed, unsynced data"
        assert read(m / "big")[70_000:70_008] == b"patched!"


def test_files_created_and_deleted_are_freed_while_mounted(store, daemon, work):
    """Regression (issue 14's benchmark found it): once an existing file had
    been opened, files created and then deleted on the mount kept their
    inode and data until unmount (create counted as an open whose release
    the kernel never sends). The store must give them back while mounted."""
    create_volume(store, "vol")
    with mounted(store, "vol", work / "mnt") as m:
        write(m / "old", b"x" * 10)
        read(m / "old")                       # an open of an existing file
        base = ctl_json("volume", "inspect", "vol", store=store)["stats"]
        for i in range(3):
            with open(m / f"new{i}", "wb") as f:   # create, write, close
                f.write(os.urandom(300_000))
                os.fsync(f.fileno())
            with open(m / f"new{i}", "rb") as f:   # open it again, as fio does
                f.read(10)
            os.unlink(m / f"new{i}")

        def freed():
            st = ctl_json("volume", "inspect", "vol", store=store)["stats"]
            return st["inodes"] == base["inodes"] and st["logical_bytes"] == base["logical_bytes"]
        wait_until(freed, timeout=10, what="deleted files' inodes and data to be freed")


def test_fusermount_u_releases_volume_in_daemon(store, daemon, work):
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    ok(run_mount(f"{store}:vol", mnt))
    assert real(mnt) in listed_mountpoints(store)
    v = ctl_json("volume", "inspect", "vol", store=store)
    assert v["mounted"] is True and [real(x) for x in v["mounts"]] == [real(mnt)], \
        f"expected mounted at {mnt}, seen {v['mounted']} {v['mounts']}"
    cp = run(["fusermount3", "-u", mnt])
    assert cp.returncode == 0, describe(cp)
    wait_until(lambda: real(mnt) not in listed_mountpoints(store), timeout=10,
               what="daemon to drop the mount after fusermount3 -u")
    st = ctl_json("status", store=store)
    assert real(mnt) not in [real(m["mountpoint"]) for m in st["mounts"]]
    v = ctl_json("volume", "inspect", "vol", store=store)
    assert v["mounted"] is False and v["mounts"] == [], f"expected unmounted, seen {v}"
    # mount again, elsewhere and at the same place
    with mounted(store, "vol", work / "mnt2") as m:
        write(m / "f", b"x")
    with mounted(store, "vol", mnt) as m:
        assert read(m / "f") == b"x"


def test_umount_as_root_releases_volume(store, daemon, work):
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    ok(run_mount(f"{store}:vol", mnt))
    ok(run(["umount", mnt]))
    wait_until(lambda: real(mnt) not in listed_mountpoints(store), timeout=10,
               what="daemon to drop the mount after umount")
    with mounted(store, "vol", mnt):
        pass


def test_ctl_unmount_unmounts(store, daemon, work):
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    ok(run_ctl("mount", "vol", str(mnt), store=store))
    assert is_fuse_mount(mnt)
    ok(run_ctl("unmount", str(mnt), store=store))
    assert not is_fuse_mount(mnt)
    assert real(mnt) not in listed_mountpoints(store)


def test_two_volumes_mounted_at_once_are_isolated(store, daemon, work):
    create_volume(store, "a")
    create_volume(store, "b")
    with mounted(store, "a", work / "ma") as ma, mounted(store, "b", work / "mb") as mb:
        write(ma / "same", b"from a")
        write(mb / "same", b"from b")
        write(ma / "only-a", b"1")
        os.mkdir(mb / "only-b")
        assert read(ma / "same") == b"from a"
        assert read(mb / "same") == b"from b"
        assert sorted(os.listdir(ma)) == ["only-a", "same"]
        assert sorted(os.listdir(mb)) == ["only-b", "same"]
        expect_errno(errno.EXDEV, os.rename, ma / "only-a", mb / "moved")
        expect_errno(errno.EXDEV, os.link, ma / "only-a", mb / "linked")
        st = ctl_json("status", store=store)
        seen = sorted((m["volume"], real(m["mountpoint"])) for m in st["mounts"])
        assert seen == [("a", real(ma)), ("b", real(mb))], f"status mounts: {seen}"
        os.unlink(ma / "same")
        assert read(mb / "same") == b"from b"


def test_same_volume_cannot_be_mounted_read_write_twice(store, daemon, work):
    create_volume(store, "vol")
    second = work / "second"
    second.mkdir()
    with mounted(store, "vol", work / "first") as m:
        write(m / "f", b"x")
        cp = run_mount(f"{store}:vol", second)
        assert_error(cp, EXIT_EXISTS, ("busy", "already mounted", "in use", "mounted"), prog="cstorfs")
        assert not is_fuse_mount(second)
        cp = run_ctl("mount", "vol", str(second), store=store)
        assert_error(cp, EXIT_EXISTS, ("busy", "already mounted", "in use", "mounted"))
        assert not is_fuse_mount(second)
        assert read(m / "f") == b"x", "the first mount must be unharmed"


def test_read_only_mount_refuses_writes_with_erofs(store, daemon, work):
    create_volume(store, "vol")
    mnt = work / "mnt"
    with mounted(store, "vol", mnt) as m:
        write(m / "f", b"data")
        os.mkdir(m / "d")
    with mounted(store, "vol", mnt, opts="ro") as m:
        assert read(m / "f") == b"data"
        expect_errno(errno.EROFS, os.open, m / "new", os.O_WRONLY | os.O_CREAT, 0o644)
        expect_errno(errno.EROFS, os.open, m / "f", os.O_WRONLY)
        expect_errno(errno.EROFS, os.mkdir, m / "d2")
        expect_errno(errno.EROFS, os.unlink, m / "f")
        expect_errno(errno.EROFS, os.rmdir, m / "d")
        expect_errno(errno.EROFS, os.rename, m / "f", m / "g")
        expect_errno(errno.EROFS, os.chmod, m / "f", 0o600)
        expect_errno(errno.EROFS, os.truncate, m / "f", 0)
        expect_errno(errno.EROFS, os.setxattr, m / "f", "user.x", b"1")
        assert os.statvfs(m).f_flag & os.ST_RDONLY
        mps = ctl_json("status", store=store)["mounts"]
        assert [mp["readonly"] for mp in mps] == [True], f"status mounts: {mps}"
    with mounted(store, "vol", mnt) as m:
        assert read(m / "f") == b"data"


def test_mount_command_form_store_colon_volume(store, daemon, work):
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    cp = run_mount(f"{store}:vol", mnt)
    assert cp.returncode == 0, describe(cp)
    # usable as soon as the command returns
    assert is_fuse_mount(mnt)
    write(mnt / "f", b"x")
    fs, src, opts = mount_info(mnt)
    assert fs.startswith("fuse"), f"expected a fuse mount, seen {fs}"
    unmount(str(mnt))


def test_mount_command_makes_relative_store_absolute(store, work):
    mnt = work / "mnt"
    mnt.mkdir()
    ok(run_ctl("volume", "create", "vol", store=store))        # starts the daemon
    rel = os.path.relpath(store, work)
    cp = run_mount(f"{rel}:vol", "mnt", cwd=work)
    assert cp.returncode == 0, describe(cp)
    assert is_fuse_mount(mnt)
    assert real(mnt) in listed_mountpoints(store)
    unmount(str(mnt))


def test_mount_command_starts_daemon_when_none_runs(store, work):
    ok(run_ctl("volume", "create", "vol", store=store))
    stop_daemon(store)
    mnt = work / "mnt"
    with mounted(store, "vol", mnt) as m:
        write(m / "f", b"x")
        assert daemon_answers(store)


def test_mount_fuse3_helper_finds_cstorfs_on_path(store, daemon, work):
    """mount.fuse3 TYPE#SOURCE MNT -o OPTS is exactly what mount(8) runs for
    `mount -t fuse3 'cstorfs#STORE:VOL' MNT`; it runs `cstorfs` from PATH."""
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    cp = run(["mount.fuse3", f"cstorfs#{store}:vol", mnt, "-o", "rw"], env=product_env())
    assert cp.returncode == 0, describe(cp)
    assert is_fuse_mount(mnt)
    write(mnt / "f", b"via mount.fuse3")
    ok(run(["umount", mnt]))
    wait_until(lambda: real(mnt) not in listed_mountpoints(store), timeout=10, what="release")
    cp = run(["mount.fuse3", f"cstorfs#{store}:vol", mnt, "-o", "ro"], env=product_env())
    assert cp.returncode == 0, describe(cp)
    assert read(mnt / "f") == b"via mount.fuse3"
    expect_errno(errno.EROFS, os.open, mnt / "g", os.O_WRONLY | os.O_CREAT, 0o644)
    ok(run(["umount", mnt]))


def test_mount_t_fuse3_form(store, daemon, work):
    """`mount -t fuse3 'cstorfs#STORE:VOL' MNT`. util-linux 2.38's mount(8)
    drops PATH before running the helper (its shell then uses the default
    path, /usr/local/sbin:...:/bin), so the command is named by absolute path
    here, as in an fstab entry for an uninstalled build."""
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    cp = run(["mount", "-t", "fuse3", f"{MOUNT}#{store}:vol", mnt], env=product_env())
    assert cp.returncode == 0, describe(cp)
    assert is_fuse_mount(mnt)
    write(mnt / "f", b"via mount -t fuse3")
    assert read(mnt / "f") == b"via mount -t fuse3"
    ok(run(["umount", mnt]))
    wait_until(lambda: real(mnt) not in listed_mountpoints(store), timeout=10, what="release")
    cp = run(["mount", "-t", "fuse3", "-o", "ro", f"{MOUNT}#{store}:vol", mnt], env=product_env())
    assert cp.returncode == 0, describe(cp)
    assert is_fuse_mount(mnt)
    assert read(mnt / "f") == b"via mount -t fuse3"
    expect_errno(errno.EROFS, os.open, mnt / "g", os.O_WRONLY | os.O_CREAT, 0o644)
    ok(run(["umount", mnt]))


def test_mount_command_ro_option(store, daemon, work):
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    ok(run_mount(f"{store}:vol", mnt, "-o", "ro"))
    expect_errno(errno.EROFS, os.mkdir, mnt / "d")
    fs, src, opts = mount_info(mnt)
    assert "ro" in opts.split(","), f"expected ro in mount options, seen {opts}"
    unmount(str(mnt))


def test_mount_command_accepts_options_mount_fuse3_passes(store, daemon, work):
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    cp = run_mount(f"{store}:vol", mnt, "-o", "rw,dev,suid,relatime,noauto,_netdev")
    assert cp.returncode == 0, describe(cp)
    assert is_fuse_mount(mnt)
    unmount(str(mnt))


def test_mount_command_foreground_stays_until_unmounted(store, daemon, work, janitor):
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    p = subprocess.Popen([str(MOUNT), f"{store}:vol", str(mnt), "-f"], env=product_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    janitor.procs.append(p)
    wait_until(lambda: is_fuse_mount(mnt) or p.poll() is not None, timeout=15, what="mount")
    assert p.poll() is None, f"cstorfs -f exited {p.returncode} while mounted: {p.communicate()}"
    assert is_fuse_mount(mnt)
    time.sleep(0.3)
    assert p.poll() is None, "cstorfs -f must stay while the mount exists"
    ok(run(["fusermount3", "-u", mnt]))
    try:
        rc = p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        raise AssertionError("cstorfs -f did not exit after the mount went away")
    assert rc == 0, f"expected exit 0 after unmount, seen {rc}: {p.communicate()}"


def test_busy_mount_is_not_released_by_a_failed_unmount(store, daemon, work):
    create_volume(store, "vol")
    mnt = work / "mnt"
    mnt.mkdir()
    ok(run_mount(f"{store}:vol", mnt))
    fd = os.open(mnt / "held", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        cp = run(["fusermount3", "-u", mnt])
        assert cp.returncode != 0, "fusermount3 -u of a mount with an open file is expected to fail (busy)"
        assert is_fuse_mount(mnt)
        time.sleep(0.2)
        assert real(mnt) in listed_mountpoints(store), "the daemon must keep a mount that is still there"
        os.write(fd, b"still works")
        os.fsync(fd)
        assert read(mnt / "held") == b"still works"
    finally:
        os.close(fd)
    ok(run(["fusermount3", "-u", mnt]))
    wait_until(lambda: real(mnt) not in listed_mountpoints(store), timeout=10, what="release")
