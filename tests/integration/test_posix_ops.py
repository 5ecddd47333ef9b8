"""Every filesystem operation through the kernel, with its errors.

Each test gets a freshly mounted volume (`vol` fixture: its mount point)."""

import ctypes
import ctypes.util
import errno
import os
import stat
import time


from conftest import expect_errno, file_mode

AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
SYS_renameat2_x86_64 = 316

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def renameat2(old, new, flags):
    old, new = os.fsencode(str(old)), os.fsencode(str(new))
    if hasattr(libc, "renameat2"):
        f = libc.renameat2
        f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        rc = f(AT_FDCWD, old, AT_FDCWD, new, flags)
    else:
        rc = libc.syscall(ctypes.c_long(SYS_renameat2_x86_64), ctypes.c_int(AT_FDCWD), old,
                          ctypes.c_int(AT_FDCWD), new, ctypes.c_uint(flags))
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(old))


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def utimensat(path, atime, mtime):
    """atime/mtime: (sec, nsec) with nsec possibly UTIME_OMIT / UTIME_NOW."""
    ts = (Timespec * 2)(Timespec(*atime), Timespec(*mtime))
    f = libc.utimensat
    f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(Timespec), ctypes.c_int]
    if f(AT_FDCWD, os.fsencode(str(path)), ts, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(path))


def write_file(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        assert os.write(fd, data) == len(data)
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def pattern(n, seed=0):
    return bytes((i * 31 + seed * 7 + (i >> 8)) & 0xFF for i in range(n))


# ------------------------------------------------------------------ open/create

def test_create_write_read_roundtrip(vol):
    p = vol / "f"
    data = pattern(300_000)
    write_file(p, data)
    assert os.stat(p).st_size == len(data)
    seen = read_file(p)
    assert seen == data, f"read back {len(seen)} bytes differing from the {len(data)} written"


def test_open_creat_excl_on_existing_file_fails_eexist(vol):
    p = vol / "f"
    fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    assert file_mode(p) == 0o640 & ~umask, f"expected mode {0o640 & ~umask:o}, seen {file_mode(p):o}"
    expect_errno(errno.EEXIST, os.open, p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640)


def test_open_missing_file_fails_enoent(vol):
    expect_errno(errno.ENOENT, os.open, vol / "missing", os.O_RDONLY)
    expect_errno(errno.ENOENT, os.stat, vol / "missing")
    expect_errno(errno.ENOENT, os.open, vol / "nodir" / "f", os.O_CREAT | os.O_WRONLY, 0o644)


def test_open_trunc_empties_existing_file(vol):
    p = vol / "f"
    write_file(p, b"x" * 100_000)
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    assert os.stat(p).st_size == 0
    assert read_file(p) == b""


def test_open_append_writes_at_end_whatever_the_offset(vol):
    p = vol / "f"
    write_file(p, b"hello")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b" world")
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"!")
    finally:
        os.close(fd)
    assert read_file(p) == b"hello world!"


def test_open_directory_for_writing_fails_eisdir(vol):
    os.mkdir(vol / "d")
    expect_errno(errno.EISDIR, os.open, vol / "d", os.O_WRONLY)


def test_path_through_a_file_fails_enotdir(vol):
    write_file(vol / "f", b"x")
    expect_errno(errno.ENOTDIR, os.open, vol / "f" / "x", os.O_RDONLY)
    expect_errno(errno.ENOTDIR, os.mkdir, vol / "f" / "x")


def test_name_of_255_bytes_works_256_fails_enametoolong(vol):
    ok_name = "a" * 255
    write_file(vol / ok_name, b"x")
    assert ok_name in os.listdir(vol)
    long_name = "b" * 256
    expect_errno(errno.ENAMETOOLONG, os.open, vol / long_name, os.O_CREAT | os.O_WRONLY, 0o644)
    expect_errno(errno.ENAMETOOLONG, os.mkdir, vol / long_name)
    expect_errno(errno.ENAMETOOLONG, os.symlink, "t", vol / long_name)
    expect_errno(errno.ENAMETOOLONG, os.rename, vol / ok_name, vol / long_name)


# ------------------------------------------------------------------ read/write

def test_pread_pwrite_at_offsets_across_chunk_boundary(vol):
    p = vol / "f"
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        assert os.pwrite(fd, b"A" * 10, 65530) == 10          # straddles 64 KiB
        assert os.pwrite(fd, b"B" * 5, 3) == 5
        assert os.fstat(fd).st_size == 65540
        assert os.pread(fd, 10, 65530) == b"A" * 10
        assert os.pread(fd, 5, 3) == b"B" * 5
        assert os.pread(fd, 3, 0) == b"\0\0\0", "bytes before the first write must read as zeros"
        assert os.pread(fd, 100, 65535) == b"A" * 5, "read must stop at end of file"
        assert os.pread(fd, 100, 1 << 20) == b"", "read past end of file must return 0 bytes"
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    data = read_file(p)
    assert data == b"\0" * 3 + b"B" * 5 + b"\0" * (65530 - 8) + b"A" * 10


def test_truncate_down_then_up_reads_zeros_not_old_data(vol):
    p = vol / "f"
    write_file(p, b"\xab" * 200_000)
    os.truncate(p, 70_000)
    assert os.stat(p).st_size == 70_000
    os.truncate(p, 200_000)
    assert os.stat(p).st_size == 200_000
    data = read_file(p)
    assert data[:70_000] == b"\xab" * 70_000
    assert data[70_000:] == b"\0" * 130_000, "extending after shrinking must show zeros, not old bytes"
    fd = os.open(p, os.O_RDWR)
    try:
        os.ftruncate(fd, 10)
        assert os.fstat(fd).st_size == 10
        os.ftruncate(fd, 0)
        assert os.fstat(fd).st_size == 0
        os.ftruncate(fd, 1 << 20)
        assert os.pread(fd, 1 << 20, 0) == b"\0" * (1 << 20)
    finally:
        os.close(fd)


def test_truncate_directory_fails_eisdir(vol):
    os.mkdir(vol / "d")
    expect_errno(errno.EISDIR, os.truncate, vol / "d", 0)


def test_fsync_and_fdatasync_succeed(vol):
    fd = os.open(vol / "f", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"data" * 1000)
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    dfd = os.open(vol, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# ------------------------------------------------------------------ attributes

def test_chmod_sets_permission_bits(vol):
    p = vol / "f"
    write_file(p, b"x")
    for mode in (0o600, 0o755, 0o4755, 0o2711, 0o1777, 0o000):
        os.chmod(p, mode)
        assert file_mode(p) == mode, f"expected mode {mode:o}, seen {file_mode(p):o}"
    os.mkdir(vol / "d")
    os.chmod(vol / "d", 0o1777)
    assert file_mode(vol / "d") == 0o1777
    assert stat.S_ISDIR(os.stat(vol / "d").st_mode)


def test_chown_sets_owner_and_group(vol):
    p = vol / "f"
    write_file(p, b"x")
    os.chown(p, 1234, 5678)
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    os.chown(p, -1, 42)
    st = os.stat(p)
    assert (st.st_uid, st.st_gid) == (1234, 42), "chown -1 must keep the owner"
    os.symlink("f", vol / "l")
    os.lchown(vol / "l", 7, 8)
    st = os.lstat(vol / "l")
    assert (st.st_uid, st.st_gid) == (7, 8)
    assert (os.stat(p).st_uid, os.stat(p).st_gid) == (1234, 42), "lchown must not follow the link"


def test_new_files_are_owned_by_creator(vol):
    write_file(vol / "f", b"x")
    st = os.stat(vol / "f")
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_utime_keeps_nanoseconds(vol):
    p = vol / "f"
    write_file(p, b"x")
    atime = 1_600_000_000_123_456_789
    mtime = 1_500_000_000_987_654_321
    os.utime(p, ns=(atime, mtime))
    st = os.stat(p)
    assert (st.st_atime_ns, st.st_mtime_ns) == (atime, mtime), \
        f"expected ({atime}, {mtime}), seen ({st.st_atime_ns}, {st.st_mtime_ns})"
    os.mkdir(vol / "d")
    os.utime(vol / "d", ns=(5, 1_000_000_001))
    st = os.stat(vol / "d")
    assert (st.st_atime_ns, st.st_mtime_ns) == (5, 1_000_000_001)


def test_utimensat_omit_leaves_that_time_alone(vol):
    p = vol / "f"
    write_file(p, b"x")
    os.utime(p, ns=(1_000_000_000_000_000_111, 1_100_000_000_000_000_222))
    utimensat(p, (0, UTIME_OMIT), (1_200_000_000, 333))
    st = os.stat(p)
    assert st.st_atime_ns == 1_000_000_000_000_000_111, f"atime changed under UTIME_OMIT: {st.st_atime_ns}"
    assert st.st_mtime_ns == 1_200_000_000_000_000_333
    utimensat(p, (1_300_000_000, 444), (0, UTIME_OMIT))
    st = os.stat(p)
    assert st.st_atime_ns == 1_300_000_000_000_000_444
    assert st.st_mtime_ns == 1_200_000_000_000_000_333, f"mtime changed under UTIME_OMIT: {st.st_mtime_ns}"
    before = time.time_ns()
    utimensat(p, (0, UTIME_NOW), (0, UTIME_OMIT))
    st = os.stat(p)
    assert st.st_atime_ns >= before - 2_000_000_000, "UTIME_NOW must set atime to now"
    assert st.st_mtime_ns == 1_200_000_000_000_000_333


def test_write_updates_mtime_and_ctime(vol):
    p = vol / "f"
    write_file(p, b"x")
    os.utime(p, ns=(1_000_000_000, 1_000_000_000))
    before = time.time_ns() - 2_000_000_000
    fd = os.open(p, os.O_WRONLY)
    try:
        os.write(fd, b"y")
        os.fsync(fd)
    finally:
        os.close(fd)
    st = os.stat(p)
    assert st.st_mtime_ns >= before, f"mtime not updated by write: {st.st_mtime_ns}"
    assert st.st_ctime_ns >= before


# ------------------------------------------------------------------ special files

def test_mkfifo_creates_a_working_fifo(vol):
    p = vol / "fifo"
    os.mkfifo(p, 0o640)
    st = os.lstat(p)
    assert stat.S_ISFIFO(st.st_mode), f"expected a FIFO, seen mode {st.st_mode:o}"
    fd = os.open(p, os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(fd, b"through the pipe")
        assert os.read(fd, 100) == b"through the pipe"
    finally:
        os.close(fd)


def test_mknod_char_device_keeps_rdev(vol):
    p = vol / "null"
    dev = os.makedev(1, 3)
    os.mknod(p, stat.S_IFCHR | 0o600, dev)
    st = os.lstat(p)
    assert stat.S_ISCHR(st.st_mode), f"expected a char device, seen mode {st.st_mode:o}"
    assert st.st_rdev == dev, f"expected rdev {dev:#x}, seen {st.st_rdev:#x}"
    assert file_mode(p) == 0o600
    expect_errno(errno.EEXIST, os.mknod, p, stat.S_IFCHR | 0o600, dev)


# ------------------------------------------------------------------ directories

def test_mkdir_rmdir_and_their_errors(vol):
    d = vol / "d"
    os.mkdir(d, 0o750)
    assert stat.S_ISDIR(os.stat(d).st_mode) and file_mode(d) == 0o750
    expect_errno(errno.EEXIST, os.mkdir, d)
    write_file(d / "f", b"x")
    expect_errno(errno.ENOTEMPTY, os.rmdir, d)
    expect_errno(errno.ENOTDIR, os.rmdir, d / "f")
    expect_errno(errno.ENOENT, os.rmdir, vol / "missing")
    os.unlink(d / "f")
    os.rmdir(d)
    assert not os.path.exists(d)
    assert os.listdir(vol) == []


def test_unlink_and_its_errors(vol):
    write_file(vol / "f", b"x")
    os.unlink(vol / "f")
    assert not os.path.lexists(vol / "f")
    expect_errno(errno.ENOENT, os.unlink, vol / "f")
    os.mkdir(vol / "d")
    expect_errno(errno.EISDIR, os.unlink, vol / "d")


def test_readdir_lists_entries_with_types(vol):
    os.mkdir(vol / "d")
    write_file(vol / "f", b"x")
    os.symlink("f", vol / "l")
    os.mkfifo(vol / "p")
    with os.scandir(vol) as it:
        seen = {e.name: (e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False),
                         e.is_symlink()) for e in it}
    assert seen == {"d": (True, False, False), "f": (False, True, False),
                    "l": (False, False, True), "p": (False, False, False)}


# ------------------------------------------------------------------ links

def test_symlink_and_readlink(vol):
    write_file(vol / "target", b"content")
    os.symlink("target", vol / "rel")
    os.symlink("/nonexistent/absolute/path", vol / "abs")
    long_target = "x/" * 2047 + "y"          # 4095 bytes
    os.symlink(long_target, vol / "long")
    assert os.readlink(vol / "rel") == "target"
    assert os.readlink(vol / "abs") == "/nonexistent/absolute/path"
    assert os.readlink(vol / "long") == long_target
    st = os.lstat(vol / "rel")
    assert stat.S_ISLNK(st.st_mode) and st.st_size == len("target")
    assert read_file(vol / "rel") == b"content", "following a symlink must reach its target"
    expect_errno(errno.EINVAL, os.readlink, vol / "target")
    expect_errno(errno.EEXIST, os.symlink, "x", vol / "rel")


def test_hard_link_shares_inode_and_counts_links(vol):
    a, b = vol / "a", vol / "b"
    write_file(a, b"shared")
    os.link(a, b)
    sa, sb = os.stat(a), os.stat(b)
    assert sa.st_ino == sb.st_ino
    assert sa.st_nlink == 2 and sb.st_nlink == 2, f"expected nlink 2, seen {sa.st_nlink}/{sb.st_nlink}"
    with open(b, "ab") as f:
        f.write(b" data")
    assert read_file(a) == b"shared data"
    os.mkdir(vol / "sub")
    os.link(a, vol / "sub" / "c")
    assert os.stat(a).st_nlink == 3
    os.unlink(a)
    assert os.stat(b).st_nlink == 2
    os.unlink(vol / "sub" / "c")
    assert os.stat(b).st_nlink == 1
    assert read_file(b) == b"shared data"
    expect_errno(errno.EEXIST, os.link, b, b)
    expect_errno(errno.ENOENT, os.link, vol / "missing", vol / "x")


def test_hard_link_to_directory_fails_eperm(vol):
    os.mkdir(vol / "d")
    expect_errno(errno.EPERM, os.link, vol / "d", vol / "d2")


def test_directory_nlink_is_two_plus_subdirectories(vol):
    d = vol / "d"
    os.mkdir(d)
    assert os.stat(d).st_nlink == 2
    root_before = os.stat(vol).st_nlink
    assert root_before == 3, f"root with one subdir: expected nlink 3, seen {root_before}"
    for i in range(3):
        os.mkdir(d / f"s{i}")
    write_file(d / "file", b"x")                  # files do not count
    assert os.stat(d).st_nlink == 5, f"expected 2 + 3 subdirs = 5, seen {os.stat(d).st_nlink}"
    os.rmdir(d / "s0")
    assert os.stat(d).st_nlink == 4
    os.rename(d / "s1", vol / "s1")               # moving a subdir out
    assert os.stat(d).st_nlink == 3
    assert os.stat(vol).st_nlink == 4
    os.rmdir(vol / "s1")
    assert os.stat(vol).st_nlink == 3


# ------------------------------------------------------------------ rename

def test_rename_file_over_file_replaces_it(vol):
    write_file(vol / "a", b"new")
    write_file(vol / "b", b"old")
    ino = os.stat(vol / "a").st_ino
    os.rename(vol / "a", vol / "b")
    assert not os.path.exists(vol / "a")
    assert read_file(vol / "b") == b"new"
    assert os.stat(vol / "b").st_ino == ino
    assert sorted(os.listdir(vol)) == ["b"]


def test_rename_across_directories_moves_entry(vol):
    os.makedirs(vol / "x" / "y")
    write_file(vol / "x" / "f", b"1")
    os.rename(vol / "x" / "f", vol / "x" / "y" / "g")
    assert os.listdir(vol / "x" / "y") == ["g"]
    assert read_file(vol / "x" / "y" / "g") == b"1"
    os.rename(vol / "x" / "y", vol / "y2")
    assert read_file(vol / "y2" / "g") == b"1"
    assert os.listdir(vol / "x") == []


def test_rename_directory_over_empty_directory_replaces_it(vol):
    os.mkdir(vol / "a")
    write_file(vol / "a" / "f", b"1")
    os.mkdir(vol / "b")
    os.rename(vol / "a", vol / "b")
    assert os.listdir(vol / "b") == ["f"]
    assert not os.path.exists(vol / "a")


def test_rename_errors(vol):
    os.mkdir(vol / "d")
    os.mkdir(vol / "full")
    write_file(vol / "full" / "f", b"1")
    write_file(vol / "file", b"1")
    expect_errno(errno.ENOTEMPTY, os.rename, vol / "d", vol / "full")
    expect_errno(errno.ENOTDIR, os.rename, vol / "d", vol / "file")
    expect_errno(errno.EISDIR, os.rename, vol / "file", vol / "d")
    expect_errno(errno.ENOENT, os.rename, vol / "missing", vol / "x")
    expect_errno(errno.EINVAL, os.rename, vol / "d", vol / "d" / "sub")
    # nothing moved
    assert sorted(os.listdir(vol)) == ["d", "file", "full"]


def test_renameat2_noreplace(vol):
    write_file(vol / "a", b"a")
    write_file(vol / "b", b"b")
    expect_errno(errno.EEXIST, renameat2, vol / "a", vol / "b", RENAME_NOREPLACE)
    assert read_file(vol / "a") == b"a" and read_file(vol / "b") == b"b"
    renameat2(vol / "a", vol / "c", RENAME_NOREPLACE)
    assert sorted(os.listdir(vol)) == ["b", "c"]
    assert read_file(vol / "c") == b"a"


def test_renameat2_exchange_swaps_entries(vol):
    write_file(vol / "a", b"content-a")
    os.mkdir(vol / "d")
    write_file(vol / "d" / "inside", b"i")
    ino_a, ino_d = os.stat(vol / "a").st_ino, os.stat(vol / "d").st_ino
    renameat2(vol / "a", vol / "d", RENAME_EXCHANGE)
    assert stat.S_ISDIR(os.stat(vol / "a").st_mode) and os.stat(vol / "a").st_ino == ino_d
    assert os.listdir(vol / "a") == ["inside"]
    assert read_file(vol / "d") == b"content-a" and os.stat(vol / "d").st_ino == ino_a
    write_file(vol / "x", b"x")
    write_file(vol / "y", b"y")
    renameat2(vol / "x", vol / "y", RENAME_EXCHANGE)
    assert (read_file(vol / "x"), read_file(vol / "y")) == (b"y", b"x")
    expect_errno(errno.ENOENT, renameat2, vol / "x", vol / "missing", RENAME_EXCHANGE)
    expect_errno(errno.EINVAL, renameat2, vol / "x", vol / "y", RENAME_EXCHANGE | RENAME_NOREPLACE)


# ------------------------------------------------------------------ statvfs, xattrs

def test_statvfs_reports_sane_figures(vol):
    s = os.statvfs(vol)
    assert s.f_namemax == 255, f"expected namemax 255, seen {s.f_namemax}"
    assert s.f_bsize > 0 and s.f_frsize > 0
    assert s.f_blocks > 0
    assert 0 <= s.f_bavail <= s.f_bfree <= s.f_blocks
    assert s.f_files >= s.f_ffree


def test_xattr_set_get_list_remove(vol):
    p = vol / "f"
    write_file(p, b"x")
    os.setxattr(p, "user.color", b"blue")
    os.setxattr(p, "user.empty", b"")
    big = bytes(range(256)) * 16
    os.setxattr(p, "user.big", big)
    assert os.getxattr(p, "user.color") == b"blue"
    assert os.getxattr(p, "user.empty") == b""
    assert os.getxattr(p, "user.big") == big
    assert set(os.listxattr(p)) >= {"user.color", "user.empty", "user.big"}
    expect_errno(errno.EEXIST, os.setxattr, p, "user.color", b"red", os.XATTR_CREATE)
    expect_errno(errno.ENODATA, os.setxattr, p, "user.missing", b"v", os.XATTR_REPLACE)
    os.setxattr(p, "user.color", b"red", os.XATTR_REPLACE)
    assert os.getxattr(p, "user.color") == b"red"
    os.removexattr(p, "user.color")
    expect_errno(errno.ENODATA, os.getxattr, p, "user.color")
    expect_errno(errno.ENODATA, os.removexattr, p, "user.color")
    assert "user.color" not in os.listxattr(p)
    os.mkdir(vol / "d")
    os.setxattr(vol / "d", "user.on_dir", b"1")
    assert os.listxattr(vol / "d") == ["user.on_dir"]


# ------------------------------------------------------------------ fallocate, seek, copy

def punch_hole(fd, off, length):
    f = libc.fallocate
    f.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    if f(fd, 3, off, length) != 0:               # PUNCH_HOLE | KEEP_SIZE
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def test_posix_fallocate_extends_with_zeros(vol):
    fd = os.open(vol / "f", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"abc")
        os.posix_fallocate(fd, 0, 300_000)
        assert os.fstat(fd).st_size == 300_000
        data = os.pread(fd, 300_000, 0)
        assert data[:3] == b"abc" and data[3:] == b"\0" * (300_000 - 3)
        os.posix_fallocate(fd, 0, 10)            # inside: size unchanged
        assert os.fstat(fd).st_size == 300_000
    finally:
        os.close(fd)


def test_punch_hole_zeroes_range_and_keeps_size(vol):
    size = 4 * 65536
    data = bytearray(b"\x5a" * size)
    fd = os.open(vol / "f", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, bytes(data))
        os.fsync(fd)
        blocks_before = os.fstat(fd).st_blocks
        punch_hole(fd, 65536, 2 * 65536)          # two whole chunks
        punch_hole(fd, 1000, 3000)                # inside a chunk
        data[65536:3 * 65536] = b"\0" * (2 * 65536)
        data[1000:4000] = b"\0" * 3000
        assert os.fstat(fd).st_size == size, "punch hole with KEEP_SIZE must keep the size"
        assert os.pread(fd, size, 0) == bytes(data)
        os.fsync(fd)
        blocks_after = os.fstat(fd).st_blocks
        assert blocks_after < blocks_before, \
            f"punching two chunks must free space: st_blocks {blocks_before} -> {blocks_after}"
    finally:
        os.close(fd)


def test_seek_data_and_seek_hole(vol):
    chunk = 65536
    fd = os.open(vol / "f", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"d" * 4096, 0)
        os.pwrite(fd, b"e" * 4096, 10 * chunk)
        os.fsync(fd)
        size = 10 * chunk + 4096
        assert os.lseek(fd, 0, os.SEEK_DATA) == 0
        hole = os.lseek(fd, 0, os.SEEK_HOLE)
        assert 4096 <= hole <= chunk, f"expected first hole in [4096, {chunk}], seen {hole}"
        data = os.lseek(fd, 2 * chunk, os.SEEK_DATA)
        assert data == 10 * chunk, f"expected next data at {10 * chunk}, seen {data}"
        assert os.lseek(fd, 10 * chunk, os.SEEK_HOLE) == size, "end of file is a hole"
        expect_errno(errno.ENXIO, os.lseek, fd, size, os.SEEK_DATA)
        expect_errno(errno.ENXIO, os.lseek, fd, size + 1, os.SEEK_HOLE)
    finally:
        os.close(fd)


def test_copy_file_range_copies_bytes(vol):
    src = pattern(200_000, seed=3)
    write_file(vol / "src", src)
    write_file(vol / "dst", b"\x01" * 10_000)
    fi = os.open(vol / "src", os.O_RDONLY)
    fo = os.open(vol / "dst", os.O_WRONLY)
    try:
        done = 0
        while done < 150_000:
            n = os.copy_file_range(fi, fo, 150_000 - done, 1000 + done, 5000 + done)
            assert n > 0, "copy_file_range stopped early"
            done += n
    finally:
        os.close(fi)
        os.close(fo)
    want = b"\x01" * 5000 + src[1000:151_000]
    got = read_file(vol / "dst")
    assert len(got) == len(want), f"expected size {len(want)}, seen {len(got)}"
    assert got == want


# ------------------------------------------------------------------ unlink while open

def test_unlinked_open_file_stays_usable(vol):
    p = vol / "f"
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"before unlink " * 10_000)
        os.unlink(p)
        assert "f" not in os.listdir(vol)
        expect_errno(errno.ENOENT, os.stat, p)
        assert os.fstat(fd).st_nlink == 0, f"expected nlink 0, seen {os.fstat(fd).st_nlink}"
        os.pwrite(fd, b"after", 200_000)
        os.fsync(fd)
        assert os.pread(fd, 14, 0) == b"before unlink "
        assert os.pread(fd, 5, 200_000) == b"after"
        assert os.fstat(fd).st_size == 200_005
    finally:
        os.close(fd)
    assert os.listdir(vol) == []
    # the name can be reused at once
    write_file(p, b"new")
    assert read_file(p) == b"new"


def test_unlinked_file_can_be_read_through_second_descriptor(vol):
    p = vol / "f"
    write_file(p, b"payload" * 1000)
    fd = os.open(p, os.O_RDONLY)
    try:
        os.unlink(p)
        assert os.read(fd, 7000) == b"payload" * 1000
    finally:
        os.close(fd)


def test_file_replaced_by_rename_stays_readable_through_open_fd(vol):
    write_file(vol / "old", b"old content" * 1000)
    write_file(vol / "new", b"new")
    fd = os.open(vol / "old", os.O_RDONLY)
    try:
        os.rename(vol / "new", vol / "old")
        assert read_file(vol / "old") == b"new"
        assert os.fstat(fd).st_nlink == 0, f"replaced inode: expected nlink 0, seen {os.fstat(fd).st_nlink}"
        assert os.pread(fd, 11_000, 0) == b"old content" * 1000
    finally:
        os.close(fd)


def test_truncate_through_one_hard_link_shows_in_the_other(vol):
    write_file(vol / "a", b"x" * 100_000)
    os.link(vol / "a", vol / "b")
    os.close(os.open(vol / "a", os.O_WRONLY | os.O_TRUNC))
    assert os.stat(vol / "b").st_size == 0
    assert read_file(vol / "b") == b""


def test_parallel_writers_in_one_volume(vol):
    import subprocess
    from conftest import PYTHON
    script = (
        "import os, sys\n"
        "p, seed = sys.argv[1], int(sys.argv[2])\n"
        "fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)\n"
        "for i in range(64):\n"
        "    os.write(fd, bytes([(seed * 64 + i) & 0xFF]) * 32768)\n"
        "os.fsync(fd); os.close(fd)\n")
    procs = [subprocess.Popen([PYTHON, "-c", script, str(vol / f"w{k}"), str(k)]) for k in range(6)]
    try:
        rcs = [p.wait(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert rcs == [0] * 6, f"writers' exit codes: {rcs}"
    for k in range(6):
        want = b"".join(bytes([(k * 64 + i) & 0xFF]) * 32768 for i in range(64))
        got = read_file(vol / f"w{k}")
        assert got == want, f"w{k}: {len(got)} bytes, differs from the {len(want)} written"


def test_directory_times_change_when_entries_change(vol):
    d = vol / "d"
    os.mkdir(d)
    old = 1_000_000_000_000_000_000
    for step, action in (("create", lambda: write_file(d / "f", b"x")),
                         ("rename", lambda: os.rename(d / "f", d / "g")),
                         ("unlink", lambda: os.unlink(d / "g")),
                         ("mkdir", lambda: os.mkdir(d / "s")),
                         ("rmdir", lambda: os.rmdir(d / "s"))):
        os.utime(d, ns=(old, old))
        action()
        st = os.stat(d)
        assert st.st_mtime_ns > old and st.st_ctime_ns > old, \
            f"after {step}: directory mtime/ctime must be updated, seen {st.st_mtime_ns}/{st.st_ctime_ns}"


def test_chmod_and_link_update_ctime(vol):
    write_file(vol / "f", b"x")
    c0 = os.stat(vol / "f").st_ctime_ns
    time.sleep(0.02)
    os.chmod(vol / "f", 0o600)
    c1 = os.stat(vol / "f").st_ctime_ns
    assert c1 > c0, f"chmod must change ctime: {c0} -> {c1}"
    time.sleep(0.02)
    os.link(vol / "f", vol / "g")
    c2 = os.stat(vol / "f").st_ctime_ns
    assert c2 > c1, f"link must change ctime: {c1} -> {c2}"


def test_setgid_directory_passes_on_its_group(vol):
    d = vol / "shared"
    os.mkdir(d)
    os.chown(d, 0, 4321)
    os.chmod(d, 0o2775)
    write_file(d / "f", b"x")
    os.mkdir(d / "sub")
    assert os.stat(d / "f").st_gid == 4321, f"file in setgid dir: expected gid 4321, seen {os.stat(d / 'f').st_gid}"
    st = os.stat(d / "sub")
    assert st.st_gid == 4321 and st.st_mode & stat.S_ISGID, \
        f"subdir of setgid dir: expected gid 4321 with setgid, seen gid {st.st_gid} mode {st.st_mode:o}"
