"""Snapshots, clones, rollback, diff and gc (issue 4) through real FUSE mounts
and the real CLI: a snapshot is exactly the tree at its time while the volume
keeps changing; chains, clones, deletes from the middle, rollback, diff, gc
reclaiming space, kill -9 of the daemon mid-command, and bad input."""

import contextlib
import errno
import hashlib
import os
import random
import stat
import threading
import time
from pathlib import Path

import pytest

from conftest import (
    EXIT_EXISTS, EXIT_NOTFOUND, EXIT_USAGE, assert_error, create_volume, ctl_json, daemon_pids,
    describe, expect_errno, is_fuse_mount, kill9, lazy_unmount, mount_info, mounted, ok, pid_alive,
    product_env, run_ctl, run_mount, start_daemon, unmount, api_mountpoints,
    wait_until,
)

CHUNK = 64 * 1024
MiB = 1 << 20


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def snap_create(store, spec):
    return ok(run_ctl("snapshot", "create", spec, store=store))


def snap_names(store, vol):
    return [s["name"] for s in ctl_json("snapshot", "list", vol, store=store)["snapshots"]]


def _wait_released(store, mnt):
    real = os.path.realpath(str(mnt))
    end = time.monotonic() + 10
    while time.monotonic() < end:
        mps = api_mountpoints(store)
        if mps is None or real not in [os.path.realpath(m) for m in mps if m]:
            return
        time.sleep(0.05)


@contextlib.contextmanager
def ctl_mounted(store, spec, mnt, *extra):
    """`cstorfs-ctl mount SPEC MNT`; unmounted on the way out."""
    mnt = Path(mnt)
    mnt.mkdir(parents=True, exist_ok=True)
    cp = run_ctl("mount", spec, mnt, *extra, store=store)
    assert cp.returncode == 0, "cstorfs-ctl mount failed\n" + describe(cp)
    assert is_fuse_mount(mnt), f"cstorfs-ctl mount exited 0 but {mnt} is not a FUSE mount"
    try:
        yield mnt
    finally:
        unmount(str(mnt))
        _wait_released(store, mnt)


def data_map(path, size):
    """[(data_start, data_end)] by SEEK_DATA / SEEK_HOLE."""
    segs = []
    fd = os.open(path, os.O_RDONLY)
    try:
        off = 0
        while off < size:
            try:
                d = os.lseek(fd, off, os.SEEK_DATA)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    break
                raise
            h = os.lseek(fd, d, os.SEEK_HOLE)
            segs.append((d, h))
            off = h
    finally:
        os.close(fd)
    return tuple(segs)


def walk(root, file_mtimes=True):
    """Everything a snapshot must preserve, per relative path (file_mtimes=False
    leaves out regular files' mtimes)."""
    root = str(root)
    out, inos = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames) + ([] if dirpath != root else ["."]):
            p = os.path.join(dirpath, name) if name != "." else root
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            rec = {"type": stat.S_IFMT(st.st_mode), "mode": oct(stat.S_IMODE(st.st_mode)),
                   "uid": st.st_uid, "gid": st.st_gid, "mtime_ns": st.st_mtime_ns,
                   "nlink": st.st_nlink, "size": st.st_size}
            if stat.S_ISLNK(st.st_mode):
                rec["target"] = os.readlink(p)
            else:
                rec["xattrs"] = {k: os.getxattr(p, k) for k in sorted(os.listxattr(p))}
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    rec["sha256"] = hashlib.sha256(f.read()).hexdigest()
                rec["blocks"] = st.st_blocks
                rec["data"] = data_map(p, st.st_size)
                if not file_mtimes:
                    del rec["mtime_ns"]
                inos.setdefault(st.st_ino, []).append(rel)
            out[rel] = rec
    for paths in inos.values():
        for rel in paths:
            out[rel]["links"] = tuple(sorted(paths))
    return out


def tree_diff(expected, seen, what):
    """'' when equal, else expected vs seen for every differing path."""
    if expected == seen:
        return ""
    lines = []
    for k in sorted(set(expected) | set(seen)):
        e, s = expected.get(k), seen.get(k)
        if e == s:
            continue
        if e is None or s is None:
            lines.append(f"  {k}: expected {e!r}\n  {' ' * len(k)}  seen     {s!r}")
            continue
        for f in sorted(set(e) | set(s)):
            if e.get(f) != s.get(f):
                lines.append(f"  {k} [{f}]: expected {e.get(f)!r}, seen {s.get(f)!r}")
    return f"{what}: trees differ ({len(lines)} differences):\n" + "\n".join(lines[:60])


def compare_trees(expected, seen, what):
    msg = tree_diff(expected, seen, what)
    if msg:
        pytest.fail(msg)


def write_file(path, data, mode="wb"):
    with open(path, mode) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def pwrite(path, off, data):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, off)
        os.fsync(fd)
    finally:
        os.close(fd)


def rnd(seed, n):
    return random.Random(seed).randbytes(n)


def expect_erofs_everywhere(m):
    """Every kind of write into a read-only snapshot mount fails with EROFS."""
    f = next(p for p in Path(m).rglob("*") if p.is_file() and not p.is_symlink())
    d = next(p for p in Path(m).rglob("*") if p.is_dir() and not p.is_symlink())
    expect_errno(errno.EROFS, open, f, "r+b")
    expect_errno(errno.EROFS, open, f, "ab")
    expect_errno(errno.EROFS, open, m / "new-file", "wb")
    expect_errno(errno.EROFS, os.mkdir, m / "new-dir")
    expect_errno(errno.EROFS, os.unlink, f)
    expect_errno(errno.EROFS, os.rmdir, d)
    expect_errno(errno.EROFS, os.rename, f, m / "renamed")
    expect_errno(errno.EROFS, os.symlink, "x", m / "new-link")
    expect_errno(errno.EROFS, os.link, f, m / "new-hard")
    expect_errno(errno.EROFS, os.chmod, f, 0o600)
    expect_errno(errno.EROFS, os.chown, f, 1, 1)
    expect_errno(errno.EROFS, os.truncate, f, 0)
    expect_errno(errno.EROFS, os.utime, f, (1, 1))
    expect_errno(errno.EROFS, os.setxattr, f, "user.new", b"v")


# --------------------------------------------------------------------------
# A snapshot is exactly the tree at its time
# --------------------------------------------------------------------------

def build_tree(m):
    """Files across chunk boundaries, inline files, dirs, xattrs, hard links,
    symlinks, modes, owners, mtimes, holes."""
    (m / "d1" / "d2" / "d3").mkdir(parents=True)
    (m / "empty-dir").mkdir()
    write_file(m / "big", rnd(1, 3 * CHUNK + 123))
    write_file(m / "d1" / "edge", rnd(2, CHUNK - 7))
    pwrite(m / "d1" / "edge", CHUNK - 20, rnd(3, 40))          # straddles a chunk boundary
    write_file(m / "small", b"inline data\n")
    write_file(m / "exactly2k", rnd(4, 2048))
    write_file(m / "just-over-2k", rnd(5, 2049))
    write_file(m / "empty", b"")
    write_file(m / "d1" / "d2" / "d3" / "deep", b"deep file")
    # holes: data in the middle of a 10 MiB file, a truncated-up tail, a seek-past-end write
    write_file(m / "sparse", b"")
    os.truncate(m / "sparse", 10 * MiB)
    pwrite(m / "sparse", 5 * MiB + 100, rnd(6, 3 * CHUNK))
    write_file(m / "grown", rnd(7, 1000))
    os.truncate(m / "grown", 3 * CHUNK + 5)
    with open(m / "seeked", "wb") as f:
        f.seek(7 * CHUNK + 11)
        f.write(b"after the hole")
    # links
    os.link(m / "big", m / "d1" / "big-hardlink")
    os.link(m / "small", m / "d1" / "d2" / "small-hard")
    os.symlink("d1/edge", m / "sym-rel")
    os.symlink("/nonexistent/target", m / "sym-dangling")
    os.symlink("d1", m / "sym-dir")
    # xattrs
    os.setxattr(m / "big", "user.one", b"1")
    os.setxattr(m / "big", "user.bin", bytes(range(256)))
    os.setxattr(m / "d1", "user.dir", b"on a directory")
    os.setxattr(m / "small", "user.empty", b"")
    # owners and modes (chown first: it may clear set-id bits)
    os.chown(m / "small", 1234, 5678)
    os.chown(m / "d1" / "d2", 42, 43)
    os.lchown(m / "sym-rel", 77, 78)
    os.chmod(m / "small", 0o640)
    os.chmod(m / "big", 0o4755)
    os.chmod(m / "d1" / "d2", 0o1777)
    os.chmod(m / "empty", 0o000)
    # mtimes (ns) last, directories after their contents
    os.utime(m / "big", ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    os.utime(m / "sparse", ns=(1, 1_234_567_890_000_000_001))
    os.utime(m / "sym-rel", ns=(5, 1_111_111_111_111_111_111), follow_symlinks=False)
    os.utime(m / "empty-dir", ns=(9, 999_999_999_999_999_999))


def change_everything(m):
    pwrite(m / "big", CHUNK - 3, b"XXXXXX")                   # across a boundary
    write_file(m / "big", b"appended", "ab")
    write_file(m / "d1" / "edge", b"rewritten")
    write_file(m / "small", b"inline data, changed\n")
    os.truncate(m / "exactly2k", 100)
    os.truncate(m / "just-over-2k", 5 * CHUNK)
    write_file(m / "empty", b"not empty any more")
    pwrite(m / "sparse", 100, b"data where the hole was")
    os.truncate(m / "sparse", 5 * MiB + 200)
    pwrite(m / "seeked", 0, rnd(8, CHUNK))
    os.unlink(m / "d1" / "big-hardlink")
    os.link(m / "grown", m / "grown-hard")
    os.unlink(m / "sym-rel")
    os.symlink("elsewhere", m / "sym-rel")
    os.rename(m / "d1" / "d2" / "d3" / "deep", m / "moved-deep")
    os.rmdir(m / "d1" / "d2" / "d3")
    os.rmdir(m / "empty-dir")
    os.mkdir(m / "new-dir")
    write_file(m / "new-dir" / "new-file", rnd(9, 2 * CHUNK))
    os.setxattr(m / "big", "user.one", b"changed")
    os.removexattr(m / "big", "user.bin")
    os.setxattr(m / "grown", "user.added", b"x")
    os.chown(m / "small", 0, 0)
    os.chmod(m / "big", 0o600)
    os.chmod(m / "empty", 0o644)
    os.utime(m / "grown", ns=(2, 2_000_000_000_000_000_002))


def test_snapshot_is_the_tree_at_its_time_while_the_volume_changes(store, daemon, work):
    create_volume(store, "v")
    problems = []           # every tree comparison runs; all differences are reported at the end

    def check(expected, seen, what):
        msg = tree_diff(expected, seen, what)
        if msg:
            problems.append(msg)

    with mounted(store, "v", work / "live") as live:
        build_tree(live)
        before = walk(live)
        snap_create(store, "v@s1")                              # while mounted
        check(before, walk(live), "live volume right after the snapshot")
        change_everything(live)
        after = walk(live)
        assert after != before
        with ctl_mounted(store, "v@s1", work / "s1a") as s1a, \
                mounted(store, "v@s1", work / "s1b") as s1b:
            for m in (s1a, s1b):
                info = mount_info(m)
                assert info and "ro" in info[2].split(","), f"snapshot mount {m} not read-only: {info}"
                check(before, walk(m), f"snapshot v@s1 mounted at {m}")
            expect_erofs_everywhere(s1a)
            expect_erofs_everywhere(s1b)
            check(before, walk(s1a), "snapshot v@s1 after refused writes")
            # the live mount stays read-write beside them
            write_file(live / "new-dir" / "still-writable", b"yes")
            assert (live / "new-dir" / "still-writable").read_bytes() == b"yes"
            os.unlink(live / "new-dir" / "still-writable")
            after["new-dir"]["mtime_ns"] = os.stat(live / "new-dir").st_mtime_ns
            check(after, walk(live), "live volume beside the snapshot mounts")
    with mounted(store, "v@s1", work / "s1c") as s1c:
        check(before, walk(s1c), "snapshot v@s1 after the live volume was unmounted")
    with mounted(store, "v", work / "live") as live:
        check(after, walk(live), "live volume after remount")
    assert not problems, "\n".join(problems)


def test_file_mtime_seen_before_a_snapshot_is_the_one_it_keeps(store, daemon, work):
    """pwrite + fsync + close: the mtime stat shows on the live mount must be
    the one the snapshot (and a remount) shows."""
    create_volume(store, "v")
    seen_live = {}
    with mounted(store, "v", work / "live") as live:
        for i in range(12):
            p = live / f"e{i}"
            write_file(p, rnd(1000 + i, CHUNK - 7))
            pwrite(p, CHUNK - 20, rnd(1100 + i, 40))
            seen_live[p.name] = os.stat(p).st_mtime_ns
        snap_create(store, "v@s")
        with mounted(store, "v@s", work / "s") as s:
            in_snap = {n: os.stat(s / n).st_mtime_ns for n in seen_live}
    with mounted(store, "v", work / "live") as live:
        remounted = {n: os.stat(live / n).st_mtime_ns for n in seen_live}
    bad = {n: (seen_live[n], in_snap[n], remounted[n]) for n in seen_live
           if not seen_live[n] == in_snap[n] == remounted[n]}
    assert not bad, ("mtime_ns (live stat before the snapshot, in the snapshot, after a remount) "
                     f"differ for {len(bad)} of {len(seen_live)} files: {bad}")


def test_unsynced_and_fsynced_data_before_the_snapshot_is_in_it(store, daemon, work):
    create_volume(store, "v")
    with mounted(store, "v", work / "live") as live:
        fs_data, dirty = rnd(10, 3 * CHUNK + 5), rnd(11, 2 * CHUNK + 9)
        write_file(live / "fsynced", fs_data)
        f = open(live / "dirty", "wb")                          # written, not fsync'd, still open
        try:
            f.write(dirty)
            f.flush()
            snap_create(store, "v@s")
            f.write(b"after the snapshot")
        finally:
            f.close()
        with mounted(store, "v@s", work / "s") as s:
            for name, data in (("fsynced", fs_data), ("dirty", dirty)):
                seen = (s / name).read_bytes()
                assert seen == data, (f"v@s/{name}: expected {len(data)} bytes "
                                      f"sha {hashlib.sha256(data).hexdigest()[:16]}, seen {len(seen)} "
                                      f"bytes sha {hashlib.sha256(seen).hexdigest()[:16]}")


REC = 4000      # not a multiple of the page size nor of a chunk


def record(i):
    head = b"REC%08d|" % i
    return head + bytes([i % 251]) * (REC - len(head) - 1) + b"\n"


def test_snapshot_during_concurrent_writer_holds_whole_records(store, daemon, work):
    create_volume(store, "v")
    with mounted(store, "v", work / "live") as live:
        stop, count, errors = threading.Event(), [0], []

        def writer():
            try:
                fd = os.open(live / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                try:
                    while not stop.is_set():
                        os.write(fd, record(count[0]))
                        os.fsync(fd)
                        count[0] += 1
                finally:
                    os.close(fd)
            except BaseException as e:      # noqa: BLE001
                errors.append(e)

        t = threading.Thread(target=writer)
        t.start()
        names = []
        try:
            for i in range(8):
                time.sleep(0.15)
                snap_create(store, f"v@w{i}")
                names.append((f"w{i}", count[0]))
        finally:
            stop.set()
            t.join(30)
        assert not errors, f"writer failed: {errors!r}"
        assert count[0] > 0
        sizes = []
        for group in (names[:4], names[4:]):
            with contextlib.ExitStack() as es:
                ms = [(n, c, es.enter_context(mounted(store, f"v@{n}", work / n))) for n, c in group]
                for n, after_count, m in ms:
                    data = (m / "log").read_bytes() if (m / "log").exists() else b""
                    st_size = os.stat(m / "log").st_size if (m / "log").exists() else 0
                    assert st_size == len(data), f"v@{n}/log: st_size {st_size}, read {len(data)} bytes"
                    assert len(data) % REC == 0, \
                        f"v@{n}/log: expected whole {REC}-byte records, seen {len(data)} bytes"
                    nrec = len(data) // REC
                    for i in range(nrec):
                        if data[i * REC:(i + 1) * REC] != record(i):
                            pytest.fail(f"v@{n}/log record {i}: expected {record(i)[:16]!r}..., "
                                        f"seen {data[i * REC:i * REC + 16]!r}...")
                    # the snapshot holds at least what was fsync'd before the call returned
                    sizes.append(nrec)
        assert sizes == sorted(sizes), f"later snapshots hold fewer records: {sizes}"
        assert sizes[-1] > 0, f"no snapshot caught any record: {sizes}"


# --------------------------------------------------------------------------
# Chains and clones
# --------------------------------------------------------------------------

def test_snapshot_chain_20_deep(store, daemon, work):
    create_volume(store, "v")
    expected = {}
    with mounted(store, "v", work / "live") as live:
        (live / "dir").mkdir()
        write_file(live / "big", rnd(100, 4 * CHUNK))
        for i in range(20):
            write_file(live / f"f{i}", b"file %d\n" % i)
            write_file(live / "counter", b"%d" % i)
            pwrite(live / "big", (i % 4) * CHUNK + i * 17, b"step%02d" % i)
            if i >= 3:
                old = f"f{i - 3}" if (i - 3) % 2 == 0 else f"dir/f{i - 3}"
                os.unlink(live / old)
            if i % 2:
                os.rename(live / f"f{i}", live / "dir" / f"f{i}")
            os.chmod(live / "counter", 0o600 + i)
            os.setxattr(live / "big", "user.step", b"%d" % i)
            snap_create(store, f"v@c{i}")
            expected[i] = walk(live)
        final = walk(live)
    assert snap_names(store, "v") == [f"c{i}" for i in range(20)]
    for lo in range(0, 20, 5):
        with contextlib.ExitStack() as es:
            ms = {i: es.enter_context(mounted(store, f"v@c{i}", work / f"c{i}"))
                  for i in range(lo, lo + 5)}
            for i, m in ms.items():
                compare_trees(expected[i], walk(m), f"snapshot v@c{i} of the 20-deep chain")
    with mounted(store, "v", work / "live") as live:
        compare_trees(final, walk(live), "live volume after the chain")


def test_clones_five_deep_are_isolated(store, daemon, work):
    create_volume(store, "v")
    with mounted(store, "v", work / "v") as m:
        write_file(m / "shared", rnd(200, 3 * CHUNK))
        write_file(m / "who", b"v")
        os.mkdir(m / "d")
        snap_create(store, "v@o")
        origin_at_snap = walk(m)
        write_file(m / "who", b"v, after the snapshot")
        v_live = walk(m)
    expected = {}
    parent = "v"
    for depth in range(1, 6):
        c = f"c{depth}"
        ok(run_ctl("clone", f"{parent}@o", c, store=store))
        info = ctl_json("volume", "inspect", c, store=store)
        assert info.get("origin") == f"{parent}@o", \
            f"volume inspect {c}: expected origin {parent}@o, seen {info.get('origin')!r}"
        with mounted(store, c, work / c) as m:
            compare_trees(origin_at_snap if depth == 1 else expected[f"c{depth - 1}@o"],
                          walk(m), f"fresh clone {c} of {parent}@o")
            write_file(m / "who", c.encode())
            pwrite(m / "shared", depth * 1000 + CHUNK - 10, b"clone %d wrote" % depth)
            write_file(m / "d" / f"only-in-{c}", rnd(300 + depth, CHUNK + depth))
            os.setxattr(m / "shared", "user.clone", c.encode())
            snap_create(store, f"{c}@o")
            expected[f"{c}@o"] = walk(m)
            write_file(m / "who", f"{c}, after its snapshot".encode())
            expected[c] = walk(m)
        parent = c
    # a sibling of c1 from the same origin snapshot
    ok(run_ctl("clone", "v@o", "sib", store=store))
    assert ctl_json("volume", "inspect", "sib", store=store).get("origin") == "v@o"
    assert ctl_json("volume", "inspect", "v", store=store).get("origin") is None
    with mounted(store, "sib", work / "sib") as m:
        compare_trees(origin_at_snap, walk(m), "fresh sibling clone sib of v@o")
        write_file(m / "who", b"sibling")
        os.unlink(m / "shared")
        expected["sib"] = walk(m)
    # everything at once: no write of one shows in another
    with contextlib.ExitStack() as es:
        views = {"v": v_live, "v@o": origin_at_snap, **expected}
        ms = {name: es.enter_context(mounted(store, name, work / ("m-" + name.replace("@", "_"))))
              for name in views}
        for name, m in ms.items():
            compare_trees(views[name], walk(m), f"{name} with every clone mounted")
        # a write in a clone now, while everything is mounted
        write_file(ms["c3"] / "late", b"late write in c3")
        for name in ("v", "c2", "c4", "sib", "c2@o"):
            assert not (ms[name] / "late").exists(), f"c3's write shows in {name}"


# --------------------------------------------------------------------------
# Deleting snapshots, gc
# --------------------------------------------------------------------------

def test_deleting_middle_snapshots_keeps_the_others_exact(store, daemon, work):
    create_volume(store, "v")
    expected = {}
    with mounted(store, "v", work / "live") as live:
        for i in range(1, 7):
            write_file(live / "data", rnd(400 + i, 2 * CHUNK + i))          # replaced each time
            write_file(live / f"only{i}", rnd(500 + i, CHUNK))
            if i > 1:
                pwrite(live / "grow", (i - 1) * CHUNK, rnd(600 + i, CHUNK))
            else:
                write_file(live / "grow", rnd(601, CHUNK))
            if i in (3, 5):
                os.unlink(live / f"only{i - 1}")
            snap_create(store, f"v@s{i}")
            expected[i] = walk(live)
        write_file(live / "data", b"live")
        live_state = walk(live)
        for i in (2, 3, 5):
            ok(run_ctl("snapshot", "rm", f"v@s{i}", store=store))
        assert snap_names(store, "v") == ["s1", "s4", "s6"]
        for phase in ("after rm", "after gc"):
            if phase == "after gc":
                ok(run_ctl("gc", store=store))
            with contextlib.ExitStack() as es:
                for i in (1, 4, 6):
                    m = es.enter_context(mounted(store, f"v@s{i}", work / f"s{i}"))
                    compare_trees(expected[i], walk(m), f"snapshot v@s{i} {phase} of s2, s3, s5")
            compare_trees(live_state, walk(live), f"live volume {phase}")
        (work / "gone").mkdir()
        for i in (2, 3, 5):
            cp = run_ctl("mount", f"v@s{i}", work / "gone", store=store)
            assert_error(cp, EXIT_NOTFOUND, f"s{i}")


def test_gc_reclaims_what_a_deleted_snapshot_held(store, daemon, work):
    create_volume(store, "v", "--compression", "none")
    size, piece = 200 * MiB, 8 * MiB
    with mounted(store, "v", work / "live") as live:
        h = hashlib.sha256()
        with open(live / "rand", "wb") as f:
            for _ in range(size // piece):
                b = os.urandom(piece)
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        snap_create(store, "v@s")
        with open(live / "rand", "r+b") as f:                   # overwrite every other 8 MiB
            for off in range(0, size, 2 * piece):
                f.seek(off)
                f.write(os.urandom(piece))
            f.flush()
            os.fsync(f.fileno())
        with open(live / "rand", "rb") as f:
            while True:
                b = f.read(piece)
                if not b:
                    break
                h.update(b)
        digest = h.hexdigest()
        before = ctl_json("status", store=store)["stats"]
        assert before["stored_bytes"] >= 1.4 * size, \
            f"store before the delete: expected >= {1.4 * size:.0f} stored bytes, seen {before}"
        ok(run_ctl("snapshot", "rm", "v@s", store=store))
        pending = ctl_json("status", store=store)["stats"]
        assert "pending_reclaim" in pending, f"status stats lack pending_reclaim: {pending}"
        cp = ok(run_ctl("gc", store=store))
        assert cp.stdout.strip(), "gc printed nothing about what it freed\n" + describe(cp)
        # the background gc (~2 s after the delete) may have run first: accept either order
        if pending["pending_reclaim"] == 0:
            assert pending["stored_bytes"] < before["stored_bytes"] * 0.8, \
                (f"status right after snapshot rm shows pending_reclaim 0 but nothing was freed: "
                 f"before {before}, after {pending}")
        after = ctl_json("status", store=store)["stats"]
        need = ctl_json("volume", "inspect", "v", store=store)["stats"]["stored_bytes"]
        assert after["pending_reclaim"] == 0, f"pending_reclaim after gc: {after}"
        assert abs(after["stored_bytes"] - need) <= 0.05 * need, \
            (f"store stored_bytes after gc: expected within 5% of the live volume's {need}, "
             f"seen {after['stored_bytes']} (status {after})")
        assert need >= size * 0.99, f"live volume stored_bytes {need} < data size {size}"
        h2 = hashlib.sha256()
        with open(live / "rand", "rb") as f:
            while True:
                b = f.read(piece)
                if not b:
                    break
                h2.update(b)
        assert h2.hexdigest() == digest, "live data changed across snapshot rm + gc"


# --------------------------------------------------------------------------
# Rollback
# --------------------------------------------------------------------------

def test_rollback_restores_byte_for_byte(store, daemon, work):
    create_volume(store, "v")
    mnt = work / "live"
    with mounted(store, "v", mnt) as live:
        build_tree(live)
        snap_create(store, "v@s1")
        s1 = walk(live)
        change_everything(live)
        snap_create(store, "v@s2")
        s2 = walk(live)
        write_file(live / "after-s2", rnd(700, 3 * CHUNK))
        os.truncate(live / "big", 10)
        assert walk(live) not in (s1, s2)
        # mounted: refused without --force, and the mount stays
        cp = run_ctl("rollback", "v@s2", store=store)
        assert_error(cp, EXIT_EXISTS, ("mounted", "busy", "in use"))
        assert is_fuse_mount(mnt), "a refused rollback unmounted the volume"
        assert (live / "after-s2").exists()
        # later snapshots: refused without -r (the message names them)
        cp = run_ctl("rollback", "v@s1", store=store)
        assert_error(cp, EXIT_EXISTS)
    refused_later = run_ctl("rollback", "v@s1", store=store)
    assert refused_later.returncode == EXIT_EXISTS, \
        "rollback with a later snapshot: expected exit 5\n" + describe(refused_later)
    assert snap_names(store, "v") == ["s1", "s2"]
    # to the latest snapshot: no -r needed
    ok(run_ctl("rollback", "v@s2", store=store))
    with mounted(store, "v", mnt) as live:
        compare_trees(s2, walk(live), "volume rolled back to v@s2")
        write_file(live / "junk", b"junk")
        # --force unmounts first; -r destroys s2
        cp = ok(run_ctl("rollback", "v@s1", "-r", "--force", store=store))
        assert not is_fuse_mount(mnt), "rollback --force left the volume mounted"
    assert snap_names(store, "v") == ["s1"], "rollback -r kept the later snapshot"
    with mounted(store, "v", mnt) as live:
        compare_trees(s1, walk(live), "volume rolled back to v@s1 (-r --force)")
        write_file(live / "new-after-rollback", b"writable")
    with mounted(store, "v@s1", work / "s1") as m:
        compare_trees(s1, walk(m), "snapshot v@s1 after rollback and a new write")
    # the refusal names the later snapshot (checked last so the rest runs)
    assert_error(refused_later, EXIT_EXISTS, "s2")


# --------------------------------------------------------------------------
# Diff
# --------------------------------------------------------------------------

def parse_diff(text):
    out = set()
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("R "):
            old, sep, new = line[2:].partition(" -> ")
            assert sep, f"bad diff line {line!r}"
            out.add(("R", old, new))
        else:
            c, sep, p = line.partition(" ")
            assert sep and c in ("+", "-", "M"), f"bad diff line {line!r}"
            out.add((c, p))
    return out


def check_diff(store, args, expected, dirs, what):
    cp = ok(run_ctl("diff", *args, store=store))
    seen = parse_diff(cp.stdout)
    extra_dir_m = {c for c in seen if c[0] == "M" and c[1] in dirs}
    files_seen = seen - extra_dir_m
    assert files_seen == expected, (
        f"{what} (cstorfs-ctl diff {' '.join(args)}):\n  expected {sorted(expected)}\n"
        f"  seen     {sorted(files_seen)}\n  missing  {sorted(expected - files_seen)}\n"
        f"  extra    {sorted(files_seen - expected)}\n  (output {cp.stdout!r})")
    js = ctl_json("diff", *args, store=store)
    jset = set()
    for ch in js["changes"]:
        if ch["change"] == "R":
            jset.add(("R", ch["path"], ch["new_path"]))
        else:
            jset.add((ch["change"], ch["path"]))
    assert jset == seen, f"{what}: --json diff {sorted(jset)} differs from text {sorted(seen)}"


def test_diff_reports_created_deleted_modified_renamed(store, daemon, work):
    create_volume(store, "v")
    dirs = {"/", "/d", "/e", "/keep"}
    with mounted(store, "v", work / "live") as m:
        for d in ("d", "e", "keep"):
            os.mkdir(m / d)
        for name in ("del1", "d/del2", "mod1", "d/mod2", "ren1", "d/ren2", "same", "keep/same2",
                     "trunc", "mod-later", "ren-later", "del-later"):
            write_file(m / name, rnd(name, CHUNK + 100))
        write_file(m / "inline-mod", b"small")
        snap_create(store, "v@a")
        # a -> b
        write_file(m / "new1", b"new")
        write_file(m / "d" / "new2", rnd(1, 3 * CHUNK))
        os.unlink(m / "del1")
        os.unlink(m / "d" / "del2")
        pwrite(m / "mod1", CHUNK + 5, b"changed")
        write_file(m / "d" / "mod2", b"appended", "ab")
        os.truncate(m / "trunc", 10)
        write_file(m / "inline-mod", b"SMALL")
        os.rename(m / "ren1", m / "ren1-new")
        os.rename(m / "d" / "ren2", m / "e" / "ren2")
        snap_create(store, "v@b")
        # b -> live
        pwrite(m / "mod-later", 0, b"later")
        os.rename(m / "ren-later", m / "keep" / "ren-later-new")
        os.unlink(m / "del-later")
        write_file(m / "e" / "new-later", b"later")
        os.unlink(m / "new1")                                   # created after a, deleted after b
        ab = {("+", "/new1"), ("+", "/d/new2"), ("-", "/del1"), ("-", "/d/del2"),
              ("M", "/mod1"), ("M", "/d/mod2"), ("M", "/trunc"), ("M", "/inline-mod"),
              ("R", "/ren1", "/ren1-new"), ("R", "/d/ren2", "/e/ren2")}
        b_live = {("M", "/mod-later"), ("R", "/ren-later", "/keep/ren-later-new"),
                  ("-", "/del-later"), ("+", "/e/new-later"), ("-", "/new1")}
        a_live = (ab - {("+", "/new1")}) | (b_live - {("-", "/new1")})
        check_diff(store, ["v@a", "v@b"], ab, dirs, "diff a -> b")
        check_diff(store, ["v@b"], b_live, dirs, "diff b -> live")
        check_diff(store, ["v@a"], a_live, dirs, "diff a -> live")


# --------------------------------------------------------------------------
# kill -9 during snapshot create, clone and gc
# --------------------------------------------------------------------------

def test_kill9_during_snapshot_clone_gc(store, work):
    start_daemon(store)
    create_volume(store, "v")
    # clients of the loop may not start a daemon: the test restarts it itself
    noauto = product_env({"CSTORFSD": "/bin/false"})
    states = {}          # round -> tree the snapshots of that round must show
    rng = random.Random(1234)
    mnt = work / "live"
    for rnd_no in range(6):
        if rnd_no:
            start_daemon(store)
        with mounted(store, "v", mnt, wait_release=False) as live:
            write_file(live / f"round{rnd_no}", rnd(800 + rnd_no, 2 * CHUNK + rnd_no))
            write_file(live / "common", rnd(900 + rnd_no, 3 * CHUNK))
            if rnd_no:
                os.unlink(live / f"round{rnd_no - 1}")
            states[rnd_no] = walk(live)
            stop = threading.Event()

            def loop(r=rnd_no):
                i = 0
                while not stop.is_set():
                    s = f"v@r{r}n{i}"
                    for args in (("snapshot", "create", s), ("clone", s, f"c{r}n{i}"), ("gc",),
                                 ("snapshot", "rm", f"v@r{r}n{i - 1}") if i % 3 == 2 else ("gc",)):
                        if stop.is_set():
                            return
                        run_ctl(*args, store=store, env=noauto)
                    i += 1

            t = threading.Thread(target=loop)
            t.start()
            time.sleep(rng.uniform(0.2, 1.5))
            pids = daemon_pids(store)
            for pid in pids:
                kill9(pid)
            wait_until(lambda: not any(pid_alive(p) for p in pids), timeout=10, what="daemon death")
            stop.set()
            t.join(60)
            assert not t.is_alive(), "command loop hung after the daemon died"
        lazy_unmount(str(mnt))
        assert not is_fuse_mount(mnt)
    start_daemon(store)
    vols = {v["name"]: v for v in ctl_json("volume", "list", store=store)["volumes"]}
    snaps = snap_names(store, "v")
    assert snaps, "no snapshot survived at all"
    for s in snaps:
        r = int(s[1:].split("n")[0])
        with mounted(store, f"v@{s}", work / "chk") as m:
            compare_trees(states[r], walk(m), f"snapshot v@{s} after kill -9")
    for name, v in vols.items():
        if name == "v":
            continue
        assert v.get("origin"), f"volume {name} has no origin: {v}"
        r = int(v["origin"].split("@r")[1].split("n")[0])
        assert v["origin"].split("@")[1] in snaps, f"clone {name}'s origin {v['origin']} is not listed"
        with mounted(store, name, work / "chk") as m:
            compare_trees(states[r], walk(m), f"clone {name} after kill -9")
            write_file(m / "w", b"clone writable")
    with mounted(store, "v", mnt) as live:
        compare_trees(states[5], walk(live), "volume v after kill -9")
    ok(run_ctl("gc", store=store))
    for s in snaps[:3]:
        with mounted(store, f"v@{s}", work / "chk") as m:
            compare_trees(states[int(s[1:].split("n")[0])], walk(m), f"snapshot v@{s} after gc")


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

def test_bad_input_exit_codes_and_messages(store, daemon, work):
    create_volume(store, "v")
    (work / "m").mkdir()
    snap_create(store, "v@s1")
    # unknown snapshot: 4
    for args in (("snapshot", "rm", "v@nope"), ("clone", "v@nope", "x"), ("rollback", "v@nope"),
                 ("diff", "v@nope"), ("diff", "v@s1", "v@nope"), ("mount", "v@nope", work / "m"),
                 ("snapshot", "create", "nosuchvol@s")):
        assert_error(run_ctl(*args, store=store), EXIT_NOTFOUND, "nope" if "v@nope" in args
                     else "nosuchvol")
    cp = run_mount(f"{store}:v@nope", work / "m")
    assert_error(cp, EXIT_NOTFOUND, "nope", prog="cstorfs")
    # duplicate snapshot name: 5
    assert_error(run_ctl("snapshot", "create", "v@s1", store=store), EXIT_EXISTS, "s1")
    # deleting a snapshot that is a clone origin: 5, naming the clone
    ok(run_ctl("clone", "v@s1", "kid", store=store))
    assert_error(run_ctl("snapshot", "rm", "v@s1", store=store), EXIT_EXISTS, "kid")
    # deleting an origin volume: 5
    assert_error(run_ctl("volume", "rm", "v", store=store), EXIT_EXISTS, "kid")
    assert_error(run_ctl("volume", "rm", "v", "--force", store=store), EXIT_EXISTS, "kid")
    # rollback -r that would destroy a later snapshot with clones: 5
    snap_create(store, "v@s2")
    ok(run_ctl("clone", "v@s2", "kid2", store=store))
    snap_create(store, "v@s3")
    assert_error(run_ctl("rollback", "v@s1", "-r", store=store), EXIT_EXISTS, "kid2")
    assert snap_names(store, "v") == ["s1", "s2", "s3"], "a refused rollback destroyed snapshots"
    # everything still there and usable
    names = {v["name"] for v in ctl_json("volume", "list", store=store)["volumes"]}
    assert names == {"v", "kid", "kid2"}, names
    # '@' in a volume name at create: 2 (usage error, the name is given on the command line)
    assert_error(run_ctl("clone", "v@s1", "c@d", store=store), EXIT_USAGE, "c@d")
    assert_error(run_ctl("volume", "create", "a@b", store=store), EXIT_USAGE, "a@b")


def _db_disk_bytes(store):
    """Disk taken by the store's database and its chunk files."""
    total = 0
    for sub in ("db", "chunks"):
        for e in os.scandir(Path(store) / sub):
            if e.is_file(follow_symlinks=False):
                total += e.stat().st_blocks * 512
    return total


def test_daemon_gives_disk_space_back_after_volume_rm(store, daemon, work):
    """Deleting a volume frees its chunks at once (counters); the daemon then
    compacts the chunk files in the background, so the store's directory
    shrinks on disk too, while another volume's data stays intact."""
    create_volume(store, "gone", "--compression", "none")
    create_volume(store, "kept", "--compression", "none")
    keep = os.urandom(4 * MiB)
    with mounted(store, "gone", work / "g") as g, mounted(store, "kept", work / "k") as k:
        with open(g / "big", "wb") as f:
            for _ in range(12):
                f.write(os.urandom(8 * MiB))
            os.fsync(f.fileno())
        (k / "small").write_bytes(keep)
        os.sync()
    before = _db_disk_bytes(store)
    assert before >= 90 * MiB, f"store takes {before} bytes on disk after writing 96 MiB"
    ok(run_ctl("volume", "rm", "gone", store=store))
    wait_until(lambda: _db_disk_bytes(store) < before / 2, timeout=30,
               what=f"the store's directory to shrink below half of {before} bytes")
    with mounted(store, "kept", work / "k2") as k:
        assert (k / "small").read_bytes() == keep
