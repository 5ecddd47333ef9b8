"""Replication streams (issue 5) end to end: `cstorfs-ctl send` on one store's
daemon, `cstorfs-ctl receive` on another's, compared through real FUSE mounts
of the snapshots on both sides (content, modes, owners, mtimes in ns, xattrs,
link counts, symlink targets, holes). Also: chains of incrementals, the shell
pipe, stream size against the change, cut / corrupted / reordered streams,
resume, refusals, clones, -I, --dry-run, `stream inspect`.

Every test has two stores with their own daemons (fixture `two`); the
conftest janitor unmounts and stops everything, even on failure.
"""

import contextlib
import hashlib
import json
import os
import pty
import socket
import random
import stat
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (CTL, EXIT_EXISTS, EXIT_FAIL, EXIT_NOTFOUND, EXIT_USAGE, api,
                      assert_error, create_volume, ctl_json, describe, mounted, new_store,
                      ok, product_env, run_ctl, sock_path, start_daemon, wait_until)

# The 1% test: 500 MiB written through the mount, 1% of it changed. It ran
# in well under 60 s here; STREAM_BIG_MIB overrides it.
BIG_MIB = int(os.environ.get("STREAM_BIG_MIB", "500"))
REC_HEAD = struct.Struct(">BBIQ")  # type, zero, payload length, sequence
REC_CHECK = 8


# --------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------

class Two:
    def __init__(self, a, b, work):
        self.a, self.b, self.work = a, b, Path(work)
        self._n = 0

    def path(self, name):
        return self.work / name

    def mnt(self, tag="m"):
        self._n += 1
        return self.work / f"{tag}{self._n}"


@pytest.fixture
def two(janitor, work):
    a = new_store(janitor, work, "a")
    b = new_store(janitor, work, "b")
    start_daemon(a)
    start_daemon(b)
    return Two(a, b, work)


def send(store, spec, out, *opts):
    return ok(run_ctl("send", spec, "-o", out, "--quiet", *opts, store=store, timeout=120))


def receive(store, vol, inp, *opts):
    return run_ctl("receive", vol, "-i", inp, "--quiet", *opts, store=store, timeout=120)


def snapshot(store, spec):
    ok(run_ctl("snapshot", "create", spec, store=store))


def chunks(store):
    return ctl_json("status", store=store)["stats"]["chunks"]


def volume_absent(store, vol):
    cp = run_ctl("volume", "inspect", vol, store=store)
    return cp.returncode == EXIT_NOTFOUND


def no_partial(store, vol):
    return run_ctl("receive", "--resume-token", vol, store=store).returncode == EXIT_NOTFOUND


def records(data):
    """Split a stream into (offset, type, seq, raw bytes) records."""
    out, off = [], 0
    while off < len(data):
        t, _, n, seq = REC_HEAD.unpack_from(data, off)
        end = off + REC_HEAD.size + n + REC_CHECK
        out.append((off, chr(t), seq, data[off:end]))
        off = end
    assert off == len(data), "stream does not end on a record boundary"
    return out


# ---- tree building and comparison -----------------------------------------

def write_file(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def populate(root, rng):
    """A tree with every kind of metadata the comparison looks at."""
    root = Path(root)
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "empty").mkdir(mode=0o700)
    write_file(root / "small", b"hello stream\n")
    write_file(root / "rand", rng.randbytes(3 * 1024 * 1024 + 12345), 0o600)
    write_file(root / "dir" / "sub" / "deep", rng.randbytes(70000), 0o755)
    with open(root / "sparse", "wb") as f:  # data, hole, data, trailing hole
        f.write(rng.randbytes(100000))
        f.seek(8 * 1024 * 1024)
        f.write(b"middle" * 1000)
        f.truncate(20 * 1024 * 1024)
    os.link(root / "small", root / "dir" / "hardlink")
    os.symlink("dir/sub/deep", root / "link")
    os.symlink("/nonexistent/target", root / "dangling")
    os.mkfifo(root / "fifo", 0o640)
    os.chown(root / "rand", 1234, 5678)
    os.chown(root / "dir" / "sub", 42, 43)
    os.lchown(root / "link", 7, 8)
    os.setxattr(root / "rand", "user.color", b"blue")
    os.setxattr(root / "dir", "user.empty", b"")
    os.setxattr(root / "small", "user.bin", bytes(range(256)))
    os.chmod(root / "dir", 0o2775)
    os.utime(root / "small", ns=(1_000_000_123, 1_600_000_000_123_456_789))
    os.utime(root / "dir" / "sub" / "deep", ns=(5, 1_234_567_890_987_654_321))


def mutate(root, rng, step=0):
    """Change a bit of everything."""
    root = Path(root)
    with open(root / "rand", "r+b") as f:
        f.seek(rng.randrange(0, 3 * 1024 * 1024))
        f.write(rng.randbytes(5000))
    with open(root / "small", "ab") as f:
        f.write(b"more %d\n" % step)
    (root / "dir" / f"new{step}").write_bytes(rng.randbytes(rng.randrange(1, 200000)))
    if (root / "link").is_symlink():
        os.unlink(root / "link")
        os.symlink("small", root / "link")
    if (root / "fifo").exists():
        os.unlink(root / "fifo")
    if (root / "dir" / "sub" / "deep").exists():
        os.rename(root / "dir" / "sub" / "deep", root / "moved")
    os.truncate(root / "sparse", 9 * 1024 * 1024)
    os.chmod(root / "empty", 0o755)
    os.chown(root / "small", 99, 98)
    os.setxattr(root / "rand", "user.color", b"red %d" % step)
    if "user.empty" in os.listxattr(root / "dir"):
        os.removexattr(root / "dir", "user.empty")
    os.utime(root / "dir" / "sub", ns=(1, 1_700_000_000_000_000_001 + step))


def data_map(path, size):
    """The data segments of a file by SEEK_DATA / SEEK_HOLE."""
    segs = []
    fd = os.open(path, os.O_RDONLY)
    try:
        off = 0
        while off < size:
            try:
                start = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            segs.append((start, end))
            off = end
    finally:
        os.close(fd)
    return segs


def file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for blk in iter(lambda: f.read(1 << 20), b""):
            h.update(blk)
    return h.hexdigest()


def describe_tree(root):
    """{relative path: metadata} for everything under @root (root too)."""
    root = Path(root)
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [""] + sorted(dirnames + filenames):
            if name == "" and dirpath != str(root):
                continue
            p = Path(dirpath) / name if name else root
            rel = str(p.relative_to(root)) or "."
            st = os.lstat(p)
            d = {"mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                 "nlink": st.st_nlink, "mtime_ns": st.st_mtime_ns}
            d["xattrs"] = {k: os.getxattr(p, k, follow_symlinks=False)
                           for k in sorted(os.listxattr(p, follow_symlinks=False))}
            # Hard links: the first path seen of the same inode.
            d["same_as"] = inodes.setdefault(st.st_ino, rel) if st.st_nlink > 1 and \
                not stat.S_ISDIR(st.st_mode) else None
            if stat.S_ISLNK(st.st_mode):
                d["target"] = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                d["size"] = st.st_size
                d["blocks"] = st.st_blocks
                d["data"] = data_map(p, st.st_size)
                d["sha256"] = file_sha(p)
            elif stat.S_ISDIR(st.st_mode):
                d["size"] = st.st_size
            out[rel] = d
    return out


def assert_same_tree(a, b):
    ta, tb = describe_tree(a), describe_tree(b)
    assert sorted(ta) == sorted(tb), \
        f"paths differ: only in source {sorted(set(ta) - set(tb))}, " \
        f"only in target {sorted(set(tb) - set(ta))}"
    for p in sorted(ta):
        assert ta[p] == tb[p], f"{p}: source {ta[p]} != target {tb[p]}"


@contextlib.contextmanager
def snap_mount(two, store, spec):
    with mounted(store, spec, two.mnt("s")) as m:
        yield m


def assert_same_snapshot(two, spec, bspec=None):
    with snap_mount(two, two.a, spec) as ma, snap_mount(two, two.b, bspec or spec) as mb:
        assert_same_tree(ma, mb)


def snap_uuids(store, vol):
    return [(s["name"], s["uuid"]) for s in
            ctl_json("snapshot", "list", vol, store=store)["snapshots"]]


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------

def test_full_and_incremental_round_trips_are_identical(two):
    rng = random.Random(1)
    create_volume(two.a, "v")
    with mounted(two.a, "v", two.mnt()) as m:
        populate(m, rng)
        snapshot(two.a, "v@s1")
        mutate(m, rng)
        snapshot(two.a, "v@s2")
    full, inc = two.path("full"), two.path("inc")
    send(two.a, "v@s1", full)
    send(two.a, "v@s2", inc, "-i", "s1")
    assert inc.stat().st_size < full.stat().st_size / 2

    cp = ok(run_ctl("--json", "receive", "v", "-i", full, store=two.b))
    ans = json.loads(cp.stdout)
    assert ans["snapshot"] == "s1" and ans["bytes"] == full.stat().st_size, ans
    assert ans["records"] > 0 and ans["chunks_new"] > 0, ans
    assert_same_snapshot(two, "v@s1")
    ok(receive(two.b, "v", inc))
    assert_same_snapshot(two, "v@s2")
    assert snap_uuids(two.a, "v") == snap_uuids(two.b, "v")
    # The live volume on B is what s2 holds.
    with mounted(two.a, "v@s2", two.mnt()) as ma, mounted(two.b, "v", two.mnt()) as mb:
        assert_same_tree(ma, mb)


def test_chain_of_20_incrementals(two):
    rng = random.Random(2)
    create_volume(two.a, "v")
    with mounted(two.a, "v", two.mnt()) as m:
        populate(m, rng)
        snapshot(two.a, "v@c0")
        for i in range(1, 21):
            mutate(m, rng, i)
            snapshot(two.a, f"v@c{i}")
    s = two.path("s")
    send(two.a, "v@c0", s)
    ok(receive(two.b, "v", s))
    for i in range(1, 21):
        send(two.a, f"v@c{i}", s, "-i", f"v@c{i - 1}")
        cp = ok(run_ctl("receive", "v", "-i", s, store=two.b))
        assert f"'v@c{i}'" in cp.stdout, describe(cp)
    assert snap_uuids(two.a, "v") == snap_uuids(two.b, "v")
    assert_same_snapshot(two, "v@c20")
    assert_same_snapshot(two, "v@c7")


def test_shell_pipe_send_to_receive(two):
    rng = random.Random(3)
    create_volume(two.a, "v")
    with mounted(two.a, "v", two.mnt()) as m:
        populate(m, rng)
    snapshot(two.a, "v@p")
    cmd = (f"{CTL} --store {two.a} send v@p | {CTL} --store {two.b} receive v")
    cp = subprocess.run(["/bin/bash", "-o", "pipefail", "-c", cmd],
                        capture_output=True, text=True, timeout=60, env=product_env())
    assert cp.returncode == 0, describe(cp)
    assert "received 'v@p'" in cp.stdout, describe(cp)
    assert cp.stderr == "", "no progress bar when stderr is not a terminal\n" + describe(cp)
    assert_same_snapshot(two, "v@p")

    # A reader that goes away: send fails on its own (EPIPE), the daemon's
    # producer is cancelled and the daemon keeps answering.
    cmd = f"{CTL} --store {two.a} send v@p | head -c 1000 >/dev/null"
    cp = subprocess.run(["/bin/bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                        text=True, timeout=60, env=product_env())
    assert cp.returncode == EXIT_FAIL and "broken pipe" in cp.stderr.lower(), describe(cp)
    ok(run_ctl("send", "v@p", "--dry-run", store=two.a))


def test_a_receiver_killed_midway_leaves_a_resumable_partial(two, source_stream):
    data = source_stream
    p = subprocess.Popen([str(CTL), "--store", two.b, "receive", "k"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=product_env())
    try:
        p.stdin.write(data[:len(data) // 2])
        p.stdin.flush()
        time.sleep(0.5)
    finally:
        p.kill()
        p.wait(timeout=10)
    token = wait_until(lambda: run_ctl("receive", "--resume-token", "k", store=two.b).stdout
                       .strip(), what="the resume token")
    rest = two.path("rest")
    send(two.a, "v@s", rest, "--resume", token)
    ok(receive(two.b, "k", rest))
    assert_same_snapshot(two, "v@s", "k@s")


def test_incremental_size_is_proportional_to_the_change(two):
    """BIG_MIB of random data; 1% of it rewritten in place (64 KiB blocks):
    the incremental stream is under 2% of the full one."""
    rng = random.Random(4)
    nfiles, block = 5, 64 * 1024
    per_file = BIG_MIB * 1024 * 1024 // nfiles
    create_volume(two.a, "v", "--compression", "none")
    t0 = time.monotonic()
    with mounted(two.a, "v", two.mnt()) as m:
        for i in range(nfiles):
            with open(m / f"f{i}", "wb") as f:
                for _ in range(per_file // (4 << 20)):
                    f.write(os.urandom(4 << 20))
        snapshot(two.a, "v@a")
        blocks = per_file // block
        changed = BIG_MIB * 1024 * 1024 // 100 // block
        for _ in range(changed):
            with open(m / f"f{rng.randrange(nfiles)}", "r+b") as f:
                f.seek(rng.randrange(blocks) * block)
                f.write(os.urandom(block))
        snapshot(two.a, "v@b")
    full = int(ok(run_ctl("--bytes", "send", "v@a", "--dry-run", store=two.a)).stdout)
    inc_file = two.path("inc")
    send(two.a, "v@b", inc_file, "-i", "v@a")
    inc = inc_file.stat().st_size
    assert full > BIG_MIB * 1024 * 1024, full
    assert inc < full * 0.02, f"incremental {inc} bytes is not under 2% of the full {full}"
    assert inc > changed * block * 0.9, f"incremental {inc} bytes lacks the change"
    # Both streams applied on B (the full one through a pipe, never whole in
    # memory anywhere): b's files are the source's, byte for byte.
    cmd = f"{CTL} --store {two.a} send -q v@a | {CTL} --store {two.b} receive -q v"
    cp = subprocess.run(["/bin/bash", "-o", "pipefail", "-c", cmd], capture_output=True,
                        text=True, timeout=120, env=product_env())
    assert cp.returncode == 0, describe(cp)
    ok(receive(two.b, "v", inc_file))
    with snap_mount(two, two.a, "v@b") as ma, snap_mount(two, two.b, "v@b") as mb:
        for i in range(nfiles):
            assert file_sha(ma / f"f{i}") == file_sha(mb / f"f{i}"), f"f{i} differs"
    print(f"{BIG_MIB} MiB volume: full {full}, incremental {inc} "
          f"({100.0 * inc / full:.2f}%), {time.monotonic() - t0:.1f}s")


# --------------------------------------------------------------------------
# Damaged streams
# --------------------------------------------------------------------------

@pytest.fixture
def source_stream(two):
    """A full stream of v@s (a few MiB, many records) in a file."""
    rng = random.Random(5)
    create_volume(two.a, "v")
    with mounted(two.a, "v", two.mnt()) as m:
        populate(m, rng)
        for i in range(8):
            (m / f"blob{i}").write_bytes(rng.randbytes(300000))
    snapshot(two.a, "v@s")
    path = two.path("full")
    send(two.a, "v@s", path)
    return path.read_bytes()


def assert_receive_refused(two, data, what, baseline):
    bad = two.path("bad")
    bad.write_bytes(data)
    cp = receive(two.b, "t", bad)
    assert_error(cp, EXIT_FAIL, ("rejected", "cut", "not a cstorfs stream", "malformed",
                                 "checksum", "out of order"))
    assert "byte" in cp.stderr or "not a cstorfs" in cp.stderr, \
        f"{what}: the message should say where\n" + describe(cp)
    assert volume_absent(two.b, "t"), f"{what}: volume t appeared"
    if "cut" in cp.stderr and not no_partial(two.b, "t"):
        assert "--abort t" in cp.stderr, describe(cp)
        ok(run_ctl("receive", "--abort", "t", store=two.b))
    assert no_partial(two.b, "t"), f"{what}: a partial receive is left"
    assert chunks(two.b) == baseline, f"{what}: chunk count not back to {baseline}"
    return cp


def test_truncated_streams_are_rejected_and_abort_restores(two, source_stream):
    data = source_stream
    baseline = chunks(two.b)
    rng = random.Random(6)
    for cut in sorted(rng.sample(range(1, len(data)), 20)):
        cp = assert_receive_refused(two, data[:cut], f"cut at {cut}", baseline)
        assert "cut" in cp.stderr or cut < REC_HEAD.size, describe(cp)


def test_flipped_bytes_are_rejected(two, source_stream):
    data = source_stream
    baseline = chunks(two.b)
    rng = random.Random(7)
    for pos in sorted(rng.sample(range(len(data)), 20)):
        bad = bytearray(data)
        bad[pos] ^= 1 << rng.randrange(8)
        assert_receive_refused(two, bytes(bad), f"bit flipped at byte {pos}", baseline)


def test_swapped_records_are_rejected(two, source_stream):
    recs = records(source_stream)
    baseline = chunks(two.b)
    chunk_recs = [i for i, r in enumerate(recs) if r[1] == "C"]
    key_recs = [i for i, r in enumerate(recs) if r[1] == "K"]
    for i, j in ((chunk_recs[1], chunk_recs[2]), (key_recs[-2], key_recs[-1])):
        raw = [r[3] for r in recs]
        raw[i], raw[j] = raw[j], raw[i]
        cp = assert_receive_refused(two, b"".join(raw), f"records {i} and {j} swapped",
                                    baseline)
        assert "cut" not in cp.stderr, describe(cp)


def test_resume_after_cuts_yields_the_identical_volume(two, source_stream):
    data = source_stream
    resumed = two.path("resumed")
    for k, frac in enumerate((0.1, 0.5, 0.97)):
        vol = f"r{k}"
        cut = two.path("cut")
        cut.write_bytes(data[:int(len(data) * frac)])
        assert receive(two.b, vol, cut).returncode == EXIT_FAIL
        token = ok(run_ctl("receive", "--resume-token", vol, store=two.b)).stdout.strip()
        # The resumed stream, cut again, then resumed once more.
        send(two.a, "v@s", resumed, "--resume", token)
        rest = resumed.read_bytes()
        assert len(rest) < len(data)
        if k == 1:
            cut.write_bytes(rest[:len(rest) // 2])
            assert receive(two.b, vol, cut).returncode == EXIT_FAIL
            token = ok(run_ctl("receive", "--resume-token", vol, store=two.b)).stdout.strip()
            send(two.a, "v@s", resumed, "--resume", token)
        ok(receive(two.b, vol, resumed))
        assert no_partial(two.b, vol)
        assert_same_snapshot(two, "v@s", f"{vol}@s")
    # A token goes stale when the partial receive gets further (here: the
    # whole stream again, cut later): its resumed stream is refused and
    # changes nothing; the whole stream again finishes the receive
    # (test_stream_rerun.py has the rest).
    cut.write_bytes(data[:len(data) // 3])
    assert receive(two.b, "x", cut).returncode == EXIT_FAIL
    stale = ok(run_ctl("receive", "--resume-token", "x", store=two.b)).stdout.strip()
    cut.write_bytes(data[:2 * len(data) // 3])
    assert receive(two.b, "x", cut).returncode == EXIT_FAIL
    token = ok(run_ctl("receive", "--resume-token", "x", store=two.b)).stdout.strip()
    assert token != stale
    send(two.a, "v@s", resumed, "--resume", stale)
    cp = receive(two.b, "x", resumed)
    assert_error(cp, EXIT_FAIL, "resumed stream starts at record", "is kept", "--abort x")
    assert volume_absent(two.b, "x")
    assert ok(run_ctl("receive", "--resume-token", "x", store=two.b)).stdout.strip() == token, \
        "a refused stream must not change the partial receive"
    ok(receive(two.b, "x", two.path("full")))
    assert no_partial(two.b, "x")
    assert_same_snapshot(two, "v@s", "x@s")


# --------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------

def test_receive_into_changed_target_is_refused_unless_forced(two):
    rng = random.Random(8)
    create_volume(two.a, "v")
    with mounted(two.a, "v", two.mnt()) as m:
        populate(m, rng)
        snapshot(two.a, "v@s1")
        mutate(m, rng)
        snapshot(two.a, "v@s2")
    full, inc = two.path("full"), two.path("inc")
    send(two.a, "v@s1", full)
    send(two.a, "v@s2", inc, "-i", "s1")
    ok(receive(two.b, "v", full))
    with mounted(two.b, "v", two.mnt()) as mb:
        (mb / "local-change").write_bytes(b"x")
        # Mounted: refused by the store, nothing changes.
        assert_error(receive(two.b, "v", inc), EXIT_EXISTS, "mounted")
    assert_error(receive(two.b, "v", inc), EXIT_EXISTS, "changed", "--force")
    assert [n for n, _ in snap_uuids(two.b, "v")] == ["s1"]
    ok(receive(two.b, "v", inc, "--force"))
    assert_same_snapshot(two, "v@s2")
    with mounted(two.b, "v", two.mnt()) as mb:
        assert not (mb / "local-change").exists()


def test_receiving_the_same_stream_twice_is_refused(two):
    rng = random.Random(9)
    create_volume(two.a, "v")
    with mounted(two.a, "v", two.mnt()) as m:
        populate(m, rng)
        snapshot(two.a, "v@s1")
        mutate(m, rng)
        snapshot(two.a, "v@s2")
    full, inc = two.path("full"), two.path("inc")
    send(two.a, "v@s1", full)
    send(two.a, "v@s2", inc, "-i", "s1")
    ok(receive(two.b, "v", full))
    before = chunks(two.b)
    assert_error(receive(two.b, "v", full), EXIT_EXISTS, "already exists")
    ok(receive(two.b, "v", inc))
    after = chunks(two.b)
    assert_error(receive(two.b, "v", inc), EXIT_EXISTS, "already")
    assert chunks(two.b) == after and after >= before
    assert no_partial(two.b, "v")
    assert_same_snapshot(two, "v@s2")


def test_send_errors_before_the_first_byte_are_json(two):
    create_volume(two.a, "v")
    snapshot(two.a, "v@s")
    out = two.path("nothing")
    assert_error(run_ctl("send", "v@nope", "-o", out, store=two.a), EXIT_NOTFOUND, "nope")
    assert not out.exists(), "a failed send leaves no file"
    assert_error(run_ctl("send", "w@s", "-o", out, store=two.a), EXIT_NOTFOUND)
    assert_error(run_ctl("send", "v@s", "-i", "nope", "-o", out, store=two.a),
                 EXIT_NOTFOUND)
    assert_error(run_ctl("send", "v", store=two.a), EXIT_USAGE)
    st, body = api(two.a, "GET", "/v1/volumes/v/send?snap=nope")
    assert st == 404 and body["error"]["code"] == "ENOENT", (st, body)
    st, body = api(two.b, "GET", "/v1/volumes/v/receive/token")
    assert st == 404, (st, body)
    st, body = api(two.b, "DELETE", "/v1/volumes/v/receive")
    assert st == 404, (st, body)


def test_send_refuses_a_terminal_and_other_bodies_keep_the_limit(two):
    create_volume(two.a, "v")
    snapshot(two.a, "v@s")
    master, slave = pty.openpty()
    try:
        cp = subprocess.run([str(CTL), "--store", two.a, "send", "v@s"], stdout=slave,
                            stderr=subprocess.PIPE, text=True, timeout=30, env=product_env())
    finally:
        os.close(slave)
        os.close(master)
    assert cp.returncode == EXIT_USAGE and "terminal" in cp.stderr, cp.stderr
    # The 1 MiB limit still holds for every other endpoint (announced size).
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(sock_path(two.a))
        s.sendall(b"POST /v1/volumes HTTP/1.1\r\nHost: localhost\r\n"
                  b"Content-Length: 2097152\r\n\r\n")
        head = s.recv(4096).split(b"\r\n", 1)[0]
    finally:
        s.close()
    assert b" 413" in head, head


# --------------------------------------------------------------------------
# Clones, intermediates, sizes, inspect
# --------------------------------------------------------------------------

def test_clone_sent_as_an_incremental_from_its_origin(two):
    rng = random.Random(10)
    create_volume(two.a, "o")
    with mounted(two.a, "o", two.mnt()) as m:
        populate(m, rng)
    snapshot(two.a, "o@base")
    ok(run_ctl("clone", "o@base", "c", store=two.a))
    with mounted(two.a, "c", two.mnt()) as m:
        mutate(m, rng)
    snapshot(two.a, "c@s")
    full, inc = two.path("full"), two.path("inc")
    send(two.a, "o@base", full)
    send(two.a, "c@s", inc, "-i", "o@base")
    assert inc.stat().st_size < full.stat().st_size / 2
    ok(receive(two.b, "o", full))
    ok(receive(two.b, "c", inc))
    clone = ctl_json("volume", "inspect", "c", store=two.b)
    assert clone["origin"] == "o@base", clone
    assert_same_snapshot(two, "c@s")
    # Without the origin's snapshot on the target: refused, nothing made.
    two_c = two.path("inc2")
    send(two.a, "c@s", two_c, "-i", "o@base")
    ok(run_ctl("volume", "rm", "c", store=two.b))
    ok(run_ctl("volume", "rm", "o", store=two.b))
    assert_error(receive(two.b, "c", two_c), EXIT_NOTFOUND, "base")
    assert volume_absent(two.b, "c")


def test_intermediates_bring_every_snapshot(two):
    rng = random.Random(11)
    create_volume(two.a, "v")
    with mounted(two.a, "v", two.mnt()) as m:
        populate(m, rng)
        snapshot(two.a, "v@s1")
        for i in (2, 3, 4):
            mutate(m, rng, i)
            snapshot(two.a, f"v@s{i}")
    full, inc, plain = two.path("full"), two.path("inc"), two.path("plain")
    send(two.a, "v@s1", full)
    send(two.a, "v@s4", inc, "-I", "s1")
    send(two.a, "v@s4", plain, "-i", "s1")
    ok(receive(two.b, "v", full))
    ok(receive(two.b, "v", inc))
    assert snap_uuids(two.a, "v") == snap_uuids(two.b, "v")
    assert_same_snapshot(two, "v@s3")
    assert_same_snapshot(two, "v@s4")
    # -i: only the last one.
    ok(run_ctl("volume", "rm", "v", store=two.b))
    ok(receive(two.b, "v", full))
    ok(receive(two.b, "v", plain))
    assert [n for n, _ in snap_uuids(two.b, "v")] == ["s1", "s4"]


def test_dry_run_size_is_the_real_size(two):
    rng = random.Random(12)
    create_volume(two.a, "v")
    with mounted(two.a, "v", two.mnt()) as m:
        populate(m, rng)
        snapshot(two.a, "v@s1")
        mutate(m, rng)
        snapshot(two.a, "v@s2")
        mutate(m, rng, 1)
        snapshot(two.a, "v@s3")
    out = two.path("s")
    for spec, opts in (("v@s1", []), ("v@s2", ["-i", "s1"]), ("v@s3", ["-I", "v@s1"])):
        cp = ok(run_ctl("--bytes", "send", spec, *opts, "--dry-run", store=two.a))
        js = ctl_json("send", spec, *opts, "--dry-run", store=two.a)
        send(two.a, spec, out, *opts)
        assert int(cp.stdout) == js["size"] == out.stat().st_size, (spec, opts)
        insp = ctl_json("stream", "inspect", out, store=two.a)
        assert insp["header"]["total_bytes"] == out.stat().st_size


def test_stream_inspect_good_and_corrupted(two, source_stream):
    good = two.path("good")
    good.write_bytes(source_stream)
    cp = ok(run(["inspect", good]))
    for word in ("version:", "full", "volume:       v", "snapshot:     s", "chunk",
                 "trailer", "check:        ok"):
        assert word in cp.stdout, f"expected {word!r}\n" + describe(cp)
    js = json.loads(ok(run(["--json", "inspect", good])).stdout)
    assert js["ok"] is True and js["size"] == len(source_stream)
    assert js["header"]["volume"] == "v" and js["header"]["snapshot"] == "s"
    recs = records(source_stream)
    assert js["records"]["chunk"]["count"] == sum(r[1] == "C" for r in recs)
    assert sum(e["bytes"] for e in js["records"].values()) == len(source_stream)

    bad = bytearray(source_stream)
    bad[len(bad) // 2] ^= 0x40
    two.path("bad").write_bytes(bytes(bad))
    cp = run(["inspect", two.path("bad")])
    assert cp.returncode == EXIT_FAIL and "check:        bad:" in cp.stdout, describe(cp)
    assert "byte" in cp.stdout, describe(cp)
    two.path("cut").write_bytes(source_stream[:-10])
    cp = run(["inspect", two.path("cut")])
    assert cp.returncode == EXIT_FAIL and "cut" in cp.stdout, describe(cp)
    two.path("junk").write_bytes(b"not a stream at all\n" * 10)
    cp = run(["inspect", two.path("junk")])
    assert cp.returncode == EXIT_FAIL and "bad" in cp.stdout, describe(cp)


def run(args):
    """cstorfs-ctl stream ARGS... (no store, no daemon)."""
    args = [str(a) for a in args]
    pre = [a for a in args if a.startswith("--")]
    rest = [a for a in args if not a.startswith("--")]
    return subprocess.run([str(CTL), *pre, "stream", *rest], capture_output=True, text=True,
                          timeout=60, env=product_env())
