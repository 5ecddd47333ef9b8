"""File data at scale: random writes against a model, sparse files, mmap,
large directories."""

import mmap
import os
import random

import pytest

from conftest import is_fuse_mount

CHUNK = 64 * 1024


def first_difference(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b))


def assert_same(seen, want, what):
    if seen != want:
        i = first_difference(seen, want)
        raise AssertionError(
            f"{what}: expected {len(want)} bytes, seen {len(seen)}; first difference at offset "
            f"{i} (chunk {i // CHUNK}, +{i % CHUNK}): expected {bytes(want[i:i + 8])!r}, "
            f"seen {bytes(seen[i:i + 8])!r}")


@pytest.mark.parametrize("span,seed", [(10 * CHUNK, 20240607), (10 * CHUNK, 7), (6144, 11), (6144, 12)],
                         ids=["chunks-a", "chunks-b", "inline-boundary-a", "inline-boundary-b"])
def test_random_writes_across_chunks_match_model_and_survive_remount(vol, remount, span, seed):
    """A few hundred writes, truncates and reads at random offsets against an
    in-memory model; span 10 chunks crosses 64 KiB boundaries, span 6 KiB
    moves the file across the 2 KiB inline limit and back."""
    rng = random.Random(seed)
    model = bytearray()
    path = vol / "model.bin"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    small = span < CHUNK
    try:
        for op in range(400):
            kind = rng.random()
            if kind < 0.65:                           # write
                if small:
                    off = rng.randrange(0, span)
                    n = rng.choice([1, 3, 100, 1000, 2047, 2048, 2049, rng.randrange(1, 5000)])
                elif rng.random() < 0.4:              # aimed at a chunk boundary
                    off = rng.randrange(1, span // CHUNK) * CHUNK + rng.randrange(-300, 300)
                    n = rng.choice([1, 7, 512, 4096, 5000, CHUNK - 1, CHUNK, CHUNK + 1,
                                    rng.randrange(1, 3 * CHUNK)])
                else:
                    off = rng.randrange(0, span)
                    n = rng.choice([1, 7, 512, 4096, 5000, CHUNK - 1, CHUNK, CHUNK + 1,
                                    rng.randrange(1, 3 * CHUNK)])
                data = rng.randbytes(n) if rng.random() < 0.5 else bytes([op & 0xFF]) * n
                assert os.pwrite(fd, data, off) == n
                if off > len(model):
                    model.extend(b"\0" * (off - len(model)))
                model[off:off + n] = data
            elif kind < 0.75:                         # truncate up or down
                size = rng.randrange(0, span + (4096 if small else CHUNK))
                os.ftruncate(fd, size)
                if size < len(model):
                    del model[size:]
                else:
                    model.extend(b"\0" * (size - len(model)))
            elif kind < 0.80:
                # make it durable, then drop the file's cached pages so the
                # reads that follow come from the daemon, not the page cache
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            else:                                     # read a range back
                off = rng.randrange(0, span + (4096 if small else CHUNK))
                n = rng.randrange(1, 3 * CHUNK)
                seen = os.pread(fd, n, off)
                assert_same(seen, model[off:off + n], f"op {op}: pread({n}, {off})")
            assert os.fstat(fd).st_size == len(model), \
                f"op {op}: expected size {len(model)}, seen {os.fstat(fd).st_size}"
        os.fsync(fd)
    finally:
        os.close(fd)
    with open(path, "rb") as f:
        assert_same(f.read(), model, "whole file before remount")
    remount(vol)
    assert os.stat(path).st_size == len(model)
    with open(path, "rb") as f:
        assert_same(f.read(), model, "whole file after remount")


def test_sparse_5gib_file_holds_little_and_reads_zeros(vol, remount):
    size = 5 << 30
    path = vol / "sparse"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, b"start", 0)
        os.pwrite(fd, b"E" * 4096, size - 4096)
        os.fsync(fd)
        st = os.fstat(fd)
        assert st.st_size == size, f"expected size {size}, seen {st.st_size}"
        assert st.st_blocks * 512 <= 1 << 20, \
            f"expected at most 1 MiB allocated, seen st_blocks {st.st_blocks} ({st.st_blocks * 512} bytes)"
        for off in (5, 4096, CHUNK, 1 << 30, (4 << 30) + 12345, size - 4096 - CHUNK):
            assert os.pread(fd, CHUNK, off) == b"\0" * CHUNK, f"hole at {off} must read as zeros"
        assert os.pread(fd, 5, 0) == b"start"
        assert os.pread(fd, 8192, size - 4096) == b"E" * 4096
    finally:
        os.close(fd)
    remount(vol)
    st = os.stat(path)
    assert st.st_size == size
    assert st.st_blocks * 512 <= 1 << 20
    with open(path, "rb") as f:
        f.seek(3 << 30)
        assert f.read(CHUNK) == b"\0" * CHUNK
        f.seek(size - 4096)
        assert f.read() == b"E" * 4096


def test_mmap_shared_writes_persist_after_remount(vol, remount):
    path = vol / "mapped"
    size = 3 * CHUNK + 1000
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    want = bytearray(size)
    try:
        os.ftruncate(fd, size)
        with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as m:
            for off, data in ((0, b"head"), (CHUNK - 3, b"across"), (2 * CHUNK + 10, b"x" * 5000),
                              (size - 4, b"tail")):
                m[off:off + len(data)] = data
                want[off:off + len(data)] = data
            m.flush()
    finally:
        os.close(fd)
    with open(path, "rb") as f:
        assert_same(f.read(), want, "file after mmap writes")
    remount(vol)
    with open(path, "rb") as f:
        assert_same(f.read(), want, "file after mmap writes and remount")
    # and reading through a fresh mapping
    fd = os.open(path, os.O_RDONLY)
    try:
        with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ) as m:
            assert_same(m[:], want, "mmap read after remount")
    finally:
        os.close(fd)


def test_directory_of_20000_entries_lists_exactly_and_empties(vol, remount):
    d = vol / "big"
    os.mkdir(d)
    n = 20_000
    names = [f"entry-{i:05d}-{'x' * (i % 40)}" for i in range(n)]
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dfd))
        listed = os.listdir(d)
        assert len(listed) == n, f"expected {n} entries, seen {len(listed)}"
        assert len(set(listed)) == n, f"readdir returned {n - len(set(listed))} duplicates"
        assert set(listed) == set(names)
        assert os.stat(d).st_nlink == 2
    finally:
        os.close(dfd)
    remount(vol)
    listed = os.listdir(d)
    assert len(listed) == n, f"after remount: expected {n} entries, seen {len(listed)}"
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.unlink(name, dir_fd=dfd)
    finally:
        os.close(dfd)
    assert os.listdir(d) == []
    os.rmdir(d)
    assert os.listdir(vol) == []
    assert is_fuse_mount(vol)


def test_open_trunc_reaches_the_store(vol, remount):
    """Opens are the kernel's own (no open requests): O_TRUNC arrives as a
    setattr and must still empty the file in the store, not only in the
    kernel's cache."""
    p = vol / "f"
    p.write_bytes(os.urandom(300_000))
    assert len(p.read_bytes()) == 300_000  # in the page cache now
    with open(p, "r+b") as keep:  # another open file keeps the inode alive
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, b"short")
        os.close(fd)
        assert keep.read() == b"short"
    remount(vol)
    assert p.read_bytes() == b"short" and os.stat(p).st_size == 5


def test_o_direct_reads_and_writes_bypass_the_cache_and_persist(vol, remount):
    """O_DIRECT through the mount: aligned writes reach the store and match
    what buffered readers see, before and after remounting."""
    p = vol / "d"
    p.write_bytes(b"\0" * (1 << 20))
    assert p.read_bytes() == b"\0" * (1 << 20)  # cached zeros
    buf = mmap.mmap(-1, 1 << 16)  # page-aligned
    want = bytearray(1 << 20)
    rnd = random.Random(7)
    fd = os.open(p, os.O_RDWR | os.O_DIRECT)
    try:
        for _ in range(40):
            off = rnd.randrange(0, (1 << 20) - (1 << 16), 4096)
            n = rnd.choice([4096, 8192, 1 << 16])
            data = rnd.randbytes(n)
            buf[:n] = data
            assert os.pwritev(fd, [memoryview(buf)[:n]], off) == n
            want[off:off + n] = data
        rbuf = mmap.mmap(-1, 1 << 16)
        for off in range(0, 1 << 20, 1 << 16):
            assert os.preadv(fd, [rbuf], off) == 1 << 16
            got = bytes(rbuf)
            assert got == want[off:off + (1 << 16)], f"O_DIRECT read at {off}"
    finally:
        os.close(fd)
    assert p.read_bytes() == bytes(want)  # the buffered view agrees
    remount(vol)
    assert p.read_bytes() == bytes(want)
