"""A full disk under the store (issue 12, item 5): the store lives on a
small tmpfs mounted by each test (unmounted, lazily if it must be, on every
path). Filled through a FUSE mount, every write gets ENOSPC, the daemon
stays up and says "full" in status, what was written and fsync'd before
reads back exactly (also after a remount and a daemon restart), and once
room is made (a ballast file on the backing filesystem removed, or files
deleted in the volume) writes go on without a restart. Creating a store on
a full filesystem fails with a clear message and leaves nothing behind
(it used to abort inside RocksDB).

Sizes: after RocksDB itself stopped on a full disk it retries every 5 s,
once 32 MiB are free, to flush all its memtables (up to 96 MiB), so the
ballast is larger than that.
"""

import errno
import os
import time

import pytest

from conftest import (
    CSTORFSD, EXIT_DAEMON, api, create_volume, daemon_pids, describe, mounted, new_store, ok, pid_alive,
    read_pidfile, run, run_ctl, start_daemon, stop_daemon, wait_until, write_synced,
)

MiB = 1 << 20
FS_MB = 192       # the filesystem under the store
BALLAST_MB = 112  # removed to make room: RocksDB's memtables (96 MiB) can flush
RESUME_S = 60     # RocksDB polls the free space every few seconds


@pytest.fixture
def small_fs(janitor, work):
    """A FS_MB tmpfs at WORK/fs; at the end the janitor's cleanup runs first
    (mounts, daemons: they hold files on it), then it is unmounted."""
    fs = work / "fs"
    fs.mkdir()
    cp = run(["mount", "-t", "tmpfs", "-o", f"size={FS_MB}m,mode=0755", "cstorfs-enospc",
              fs])
    assert cp.returncode == 0, "mount tmpfs failed\n" + describe(cp)
    try:
        yield fs
    finally:
        problems = janitor.cleanup()
        if run(["umount", fs]).returncode != 0:
            run(["umount", "-l", fs])
        assert not problems, "cleanup failed: " + "; ".join(problems)
        assert not os.path.ismount(fs), f"{fs} still mounted"


def ballast(fs, mb):
    """A file of @mb MiB on the backing filesystem (not in the store)."""
    path = fs / "ballast"
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(b"\0" * MiB)
    return path


def fill_up(fs, free_kib):
    """A ballast file that leaves @free_kib KiB of @fs free."""
    with open(fs / "ballast", "wb") as f:
        try:
            while True:
                f.write(b"\0" * MiB)
        except OSError:
            pass
    with open(fs / "ballast", "r+b") as f:
        st = os.statvfs(fs)
        f.truncate(max(0, os.fstat(f.fileno()).st_size - free_kib * 1024
                       + st.f_bavail * st.f_frsize))


def fill(path, limit_mb=FS_MB + 32):
    """Write random MiBs to @path, fsync every 4, until a write or an fsync
    fails. Returns (MiB written before, the OSError)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for n in range(limit_mb):
            try:
                os.write(fd, os.urandom(MiB))
                if n % 4 == 3:
                    os.fsync(fd)
            except OSError as e:
                return n, e
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    pytest.fail(f"{limit_mb} MiB written to a {FS_MB} MiB filesystem without an error")


def try_write(path, mb=1):
    """Write and fsync @mb MiB to @path: None, or the OSError."""
    try:
        write_synced(path, os.urandom(mb * MiB))
        return None
    except OSError as e:
        return e


def health(store):
    st, body = api(store, "GET", "/v1/status")
    assert st == 200, f"status answered {st}: {body}"
    assert "health" in body, f"status has no health: {body}"
    return body["health"]


def assert_full(store, pid):
    assert pid_alive(pid), f"daemon {pid} died on a full disk"
    h = health(store)
    assert h["state"] == "full" and h["error"] in ("ENOSPC", "EDQUOT"), f"health: {h}"
    cp = ok(run_ctl("status", store=store))
    assert "health:   full (ENOSPC)" in cp.stdout, "status shows no full disk\n" + describe(cp)


def test_a_full_disk_gives_enospc_keeps_synced_data_and_resumes_when_room_is_made(
        janitor, work, small_fs):
    ball = ballast(small_fs, BALLAST_MB)
    store = new_store(janitor, small_fs)
    pid = start_daemon(store)
    create_volume(store, "vol")
    kept = os.urandom(4 * MiB + 12345)
    with mounted(store, "vol", work / "mnt") as m:
        write_synced(m / "kept", kept)
        n, e = fill(m / "big")
        assert e.errno in (errno.ENOSPC, errno.EDQUOT), f"filling ended with {e!r}"
        assert n > 0, "not even one MiB could be written"
        for _ in range(3):          # every write now, not just the one that hit it
            e = try_write(m / "more")
            assert e is not None and e.errno in (errno.ENOSPC, errno.EDQUOT), repr(e)
        assert_full(store, pid)
        assert (m / "kept").read_bytes() == kept, "synced file changed on a full disk"
    with mounted(store, "vol", work / "mnt") as m:
        assert (m / "kept").read_bytes() == kept, "synced file changed after remount"
        os.unlink(ball)             # room on the backing filesystem
        deadline = time.monotonic() + RESUME_S
        while (e := try_write(m / "after")) is not None:
            assert e.errno in (errno.ENOSPC, errno.EDQUOT), repr(e)
            assert time.monotonic() < deadline, f"writes did not resume in {RESUME_S}s: {e!r}"
            time.sleep(0.5)
        after = os.urandom(2 * MiB)
        write_synced(m / "after", after)
        assert read_pidfile(store) == pid and pid_alive(pid), "the daemon was restarted"
        h = wait_until(lambda: (h := health(store))["state"] == "ok" and h, timeout=10,
                       what="health ok again")
        assert h["error"] == "" and h["message"] == "", f"health: {h}"
    stop_daemon(store)
    start_daemon(store)
    with mounted(store, "vol", work / "mnt") as m:
        assert (m / "kept").read_bytes() == kept, "synced file changed after restart"
        assert (m / "after").read_bytes() == after, "file written after resuming changed"
    cp = ok(run_ctl("check", store=store, timeout=120))
    assert cp.stdout.startswith("OK"), "store check failed\n" + describe(cp)


def test_deleting_files_in_the_volume_makes_room_without_a_restart(janitor, work, small_fs):
    ballast(small_fs, BALLAST_MB)
    store = new_store(janitor, small_fs)
    pid = start_daemon(store)
    create_volume(store, "vol")
    kept = os.urandom(3 * MiB)
    with mounted(store, "vol", work / "mnt") as m:
        write_synced(m / "kept", kept)
        n, e = fill(m / "big")
        assert e.errno in (errno.ENOSPC, errno.EDQUOT), f"filling ended with {e!r}"
        assert_full(store, pid)
        os.unlink(m / "big")        # the ballast stays: room from the volume alone
        deadline = time.monotonic() + RESUME_S
        while (e := try_write(m / "after", 2)) is not None:
            assert e.errno in (errno.ENOSPC, errno.EDQUOT), repr(e)
            assert time.monotonic() < deadline, f"writes did not resume in {RESUME_S}s: {e!r}"
            time.sleep(0.5)
        assert (m / "kept").read_bytes() == kept
        assert pid_alive(pid) and read_pidfile(store) == pid


def test_a_daemon_started_on_a_full_filesystem_fails_clearly_then_finds_the_data(
        janitor, work, small_fs):
    store = new_store(janitor, small_fs)
    start_daemon(store)
    create_volume(store, "vol")
    data = os.urandom(3 * MiB)
    with mounted(store, "vol", work / "mnt") as m:
        write_synced(m / "f", data)
    stop_daemon(store)
    fill_up(small_fs, 0)
    for _ in range(2):
        cp = run([CSTORFSD, "--store", store])
        assert cp.returncode == 1, "expected exit 1\n" + describe(cp)
        assert "No space left on device" in cp.stderr and "Assertion" not in cp.stderr, \
            describe(cp)
        assert not daemon_pids(store), "a daemon runs on a store it could not open"
    os.unlink(small_fs / "ballast")
    start_daemon(store)
    with mounted(store, "vol", work / "mnt") as m:
        assert (m / "f").read_bytes() == data


@pytest.mark.parametrize("free_kib", [0, 64, 1024, 3072])
def test_creating_a_store_on_a_full_filesystem_fails_clearly_and_leaves_nothing(
        janitor, small_fs, free_kib):
    fill_up(small_fs, free_kib)
    store = new_store(janitor, small_fs)
    cp = run_ctl("volume", "create", "v", store=store)
    assert cp.returncode == EXIT_DAEMON, "expected exit 3 (daemon cannot start)\n" + describe(cp)
    err = cp.stderr
    assert "Assertion" not in err and "abort" not in err.lower(), "aborted\n" + describe(cp)
    assert "No space left on device" in err or "no space" in err, \
        "the message does not say the disk is full\n" + describe(cp)
    assert len(err.strip().splitlines()) == 1, "not one line\n" + describe(cp)
    assert not daemon_pids(store), "a daemon runs on the store it could not create"
    assert not os.path.exists(os.path.join(store, "db")), \
        f"a half-created database was left: {os.listdir(store)}"
    os.unlink(small_fs / "ballast")
    ok(run_ctl("volume", "create", "v", store=store))   # the same directory, afresh
    assert "v" in ok(run_ctl("volume", "list", store=store)).stdout
