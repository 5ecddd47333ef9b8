"""Issue 12's size loss, as plain regression tests through a real mount.

A small write that grows a file waits in the store's write buffer; when the
kernel evicts the inode (memory pressure; here drop_caches) and looks it up
again, it adopts the size the daemon answers. Before the size rule
(store/cs_file.c, cs_file_view) lookup answered the inode record's older
size and everything written past it was lost. The file sits in a
subdirectory whose attributes the kernel has cached, so no getattr of the
directory happens to write the buffer out first (that hid the bug in the
root directory).
"""

import ctypes
import mmap
import os
import random
import time

import pytest

FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="drop_caches needs root")


def fallocate(fd, mode, off, length):
    if _libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")


def settled_dir(vol):
    """A subdirectory whose attributes the kernel holds (stat'ed after the
    flusher has run), so looking a name up in it sends no getattr."""
    d = vol / "d"
    d.mkdir()
    time.sleep(1.0)
    os.stat(d)
    return d


def test_small_growing_write_survives_eviction(vol):
    p = settled_dir(vol) / "f"
    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
    os.ftruncate(fd, 100000)
    os.close(fd)
    time.sleep(1.0)  # the truncate is written out; the directory settles
    os.stat(p)
    fd = os.open(p, os.O_RDWR)
    os.pwrite(fd, b"\x5a" * 4096, 200000)
    os.close(fd)
    drop_caches()
    assert os.stat(p).st_size == 204096
    with open(p, "rb") as f:
        data = f.read()
    assert data[:200000] == bytes(200000)
    assert data[200000:] == b"\x5a" * 4096


def test_issue12_sequence_keeps_its_size_after_close_and_reopen(vol):
    """The sequence from the issue, back to back, then close, evict, reopen."""
    p = settled_dir(vol) / "f"
    rnd = random.Random(12)
    model = bytearray()

    def pw(off, n):
        b = rnd.randbytes(n)
        assert os.pwritev(fd, [b], off) == n
        if off + n > len(model):
            model.extend(bytes(off + n - len(model)))
        model[off:off + n] = b

    def trunc(n):
        os.ftruncate(fd, n)
        del model[n:]
        model.extend(bytes(n - len(model)))

    fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
    for n in (0, 100000, 0):
        trunc(n)
    fallocate(fd, 0, 0, 1)
    model[:] = bytes(1)
    trunc(0)
    fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1)
    trunc(0)
    fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, 1)
    for n in (0, 131072, 0):
        trunc(n)
    assert os.copy_file_range(fd, fd, 1, 0, 1) == 0  # nothing to copy yet
    fallocate(fd, 0, 168880, 55255)
    model[:] = bytes(224135)
    pw(61209, 60237)
    pw(156986, 42526)
    m = mmap.mmap(fd, 26741, mmap.MAP_SHARED, mmap.PROT_READ, offset=4096)
    assert m[:] == bytes(model[4096:4096 + 26741])
    m.close()
    trunc(35803)
    pw(224725, 37419)
    pw(240510, 21634)
    assert os.fstat(fd).st_size == 262144
    os.close(fd)
    drop_caches()
    fd = os.open(p, os.O_RDWR)
    try:
        assert os.fstat(fd).st_size == 262144
        assert os.pread(fd, 300000, 0) == bytes(model)
    finally:
        os.close(fd)


def test_truncate_below_buffered_writes_then_grow_again(vol, remount):
    """Buffered writes past a later truncate must not come back, and the
    writes after it must stay, across eviction and a remount."""
    p = settled_dir(vol) / "f"
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o666)
    os.pwrite(fd, b"A" * 70000, 0)
    os.fsync(fd)
    os.pwrite(fd, b"B" * 3000, 131072 + 100)  # buffered, past the end
    os.ftruncate(fd, 1000)
    os.pwrite(fd, b"C" * 2000, 196608 + 5)    # buffered, grows it again
    os.close(fd)
    want = b"A" * 1000 + bytes(196608 + 5 - 1000) + b"C" * 2000
    drop_caches()
    assert os.stat(p).st_size == len(want)
    assert p.read_bytes() == want
    remount(vol)
    assert p.read_bytes() == want
