"""Crash consistency (issue 12, item 4): the daemon is killed with SIGKILL at a
random moment while several processes write, overwrite, truncate, rename,
link, unlink, make and remove directories and fsync files and directories in a
mounted volume; then the mount is remounted and checked.

What cstorfs promises (README, "What a daemon crash loses"), and so what is
checked after each crash:

- Every store operation is atomic, and the store is one ordered log: the
  names of a worker's directory (each worker has its own) are exactly those
  some prefix of its name operations (create, rename, link, unlink, mkdir,
  rmdir) left, with the right inode under each name and the right link count.
- fsync / fdatasync of any file, or fsync of any directory, syncs everything
  committed before it, and a name operation is committed when its system call
  returns: the prefix includes at least every name operation that completed
  before some successful fsync (of any worker) began.
- fsync / fdatasync of a file makes its data durable: every cell (16 bytes)
  it held then reads back the same, unless a later write or truncate (that
  may or may not have reached the store) covers it; a later write can only
  leave its own cells, a later truncate or extension only zeros.
- Nothing reads back EIO, and no byte is one the file never held: every
  nonzero cell names its file, offset and write generation and carries a
  checksum of them (tests/crash/crash_worker.c), so it is traced to a write
  of that file at that offset that was issued; a file that was never synced
  holds only such cells and zeros.
- `cstorfs-ctl check` (the store's own consistency check) passes.
- Every other cycle takes a snapshot of the volume while the workers run: it is
  there after the crash when an fsync began after it was taken, it mounts, and
  every file in it reads back without error, each nonzero cell one its file was
  written with at that offset. It is deleted after the cycle (gc reclaims it).
- The volume is made with default options, with a quota (writes then skip the
  store's write buffer) or without compression, chosen by the seed.
- Some cycles kill the next daemon too, a random moment after it was started
  (while it opens the store: RocksDB recovery, orphans purged), before the
  remount that is checked.

The loop repeats for CRASH_SECONDS (default 20) in make test, and at least three cycles:
the second takes a snapshot, the third kills a starting daemon, whatever the seed draws.
scripts/crash-loop.sh runs it a minute at a time for as long as asked (make crash-soak,
make soak). CRASH_SEED fixes the seed (the kill moments stay
random: a failure prints the seed, the cycle and the operations involved).
CRASH_REPORT names a file that gets one JSON line per run (cycles, operations).
"""

import json
import os
import random
import shutil
import stat
import struct
import subprocess
import time

import pytest

from conftest import (
    BUILD, MOUNT, TIMEOUT, create_volume, ctl_json, daemon_pids, describe, is_fuse_mount,
    kill9, lazy_unmount, ok, pid_alive, product_env, run_ctl, run_mount, unmount, wait_until,
)

WORKER = BUILD / "crash_worker"
WORKERS = 4
CELL = 16
WORKER_SECONDS = 30            # a worker stops by itself after this long
NAME_OPS = {"create", "rename", "link", "unlink", "mkdir", "rmdir"}
SYNC_OPS = {"fsync", "fdatasync", "fsyncdir"}
M64 = (1 << 64) - 1


# --------------------------------------------------------------------------
# The data: what crash_worker.c writes
# --------------------------------------------------------------------------

def _mix(z):
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return z ^ (z >> 31)


def cell_sum(seed, fid, gen, idx):
    z = seed ^ ((((fid << 32) | gen) * 0x9e3779b97f4a7c15) & M64) \
        ^ ((idx * 0xc2b2ae3d27d4eb4f) & M64)
    return _mix(z) >> 32


# --------------------------------------------------------------------------
# Journals
# --------------------------------------------------------------------------

class Op:
    """One operation of a worker: its intent line and, once it returned, its
    completion (t_done, rc, extra)."""

    def __init__(self, worker, seq, t, kind, args):
        self.worker, self.seq, self.t, self.kind, self.args = worker, seq, t, kind, args
        self.t_done = self.rc = self.extra = None

    @property
    def completed(self):
        return self.t_done is not None and self.rc == 0

    def __str__(self):
        end = ("in flight (no completion)" if self.t_done is None
               else f"rc {self.rc}" + (f" {self.extra}" if self.extra else ""))
        return f"w{self.worker} #{self.seq} {self.kind} {' '.join(self.args)}: {end}"


def parse_journal(path, worker):
    ops, by_seq, ended = [], {}, False
    with open(path) as f:
        lines = f.read().split("\n")
    for line in lines:
        p = line.split()
        if not p:
            continue
        if p[0] == "I" and len(p) >= 4:
            op = Op(worker, int(p[1]), int(p[2]), p[3], p[4:])
            ops.append(op)
            by_seq[op.seq] = op
        elif p[0] == "C" and len(p) >= 4 and int(p[1]) in by_seq:
            op = by_seq[int(p[1])]
            op.t_done, op.rc = int(p[2]), int(p[3])
            op.extra = p[4] if len(p) > 4 else None
        elif p[0] == "E":
            ended = True
    return ops, ended


# --------------------------------------------------------------------------
# The namespace: which prefix of the name operations is on disk
# --------------------------------------------------------------------------

DIR = "dir"


def apply_name_op(state, op):
    a = op.args
    if op.kind == "create":
        state[a[0]] = int(a[1])
    elif op.kind == "mkdir":
        state[a[0]] = DIR
    elif op.kind in ("unlink", "rmdir"):
        del state[a[0]]
    elif op.kind == "link":
        state[a[1]] = state[a[0]]
    elif op.kind == "rename":
        src, dst = a
        if state[src] == DIR:
            for p in [p for p in state if p == src or p.startswith(src + "/")]:
                state[dst + p[len(src):]] = state.pop(p)
        else:
            state[dst] = state.pop(src)


def scan_tree(root):
    """{relative path: (DIR,) or ("file", ino, nlink, size)} of what is there."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: (_ for _ in ()).throw(e)):
        rel = os.path.relpath(dirpath, root)
        for n in dirnames + filenames:
            p = n if rel == "." else f"{rel}/{n}"
            st = os.lstat(os.path.join(dirpath, n))
            if stat.S_ISDIR(st.st_mode):
                found[p] = (DIR,)
            else:
                found[p] = ("file", st.st_ino, st.st_nlink, st.st_size)
    return found


def state_differences(state, inos, found):
    """What differs between a model state and the tree found (empty: they agree)."""
    diffs = []
    for p in sorted(set(state) | set(found)):
        want, got = state.get(p), found.get(p)
        if want is None:
            diffs.append(f"{p}: there, but no name operation of the prefix left it")
        elif got is None:
            diffs.append(f"{p}: missing ({'directory' if want == DIR else f'file {want:#x}'})")
        elif (want == DIR) != (got[0] == DIR):
            diffs.append(f"{p}: a {'directory' if got[0] == DIR else 'file'} instead of a "
                         f"{'directory' if want == DIR else 'file'}")
        elif want != DIR:
            nlink = sum(1 for v in state.values() if v == want)
            if inos.get(want) is not None and got[1] != inos[want]:
                diffs.append(f"{p}: inode {got[1]}, expected {inos[want]} (file {want:#x})")
            if got[2] != nlink:
                diffs.append(f"{p}: {got[2]} links, expected {nlink} (file {want:#x})")
    return diffs


def match_namespace(worker, ops, found, last_sync_start):
    """The state of the prefix of @ops' name operations that matches @found,
    or a failure naming the closest one."""
    name_ops = [op for op in ops if op.kind in NAME_OPS]
    inos = {}
    for op in name_ops:
        if op.kind == "create" and op.completed and op.extra:
            inos[int(op.args[1])] = int(op.extra)
    # every name operation completed before the last fsync began is durable
    durable = 0
    for i, op in enumerate(name_ops):
        if op.completed and op.t_done < last_sync_start:
            durable = i + 1
    state, best = {}, None
    for i in range(len(name_ops) + 1):
        if i > 0:
            apply_name_op(state, name_ops[i - 1])
        if i < durable:
            continue
        diffs = state_differences(state, inos, found)
        if not diffs:
            return dict(state), inos
        if best is None or len(diffs) < len(best[1]):
            best = (i, diffs)
    i, diffs = best
    context = "\n  ".join(str(op) for op in name_ops[max(0, durable - 8):])
    pytest.fail(f"worker {worker}: no prefix of its name operations (at least the first "
                f"{durable} of {len(name_ops)}, those an fsync made durable) matches the "
                f"directory tree; the closest, {i} operations, differs:\n  "
                + "\n  ".join(diffs[:20])
                + f"\nname operations from {max(0, durable - 8) + 1} on:\n  {context}")


# --------------------------------------------------------------------------
# File contents
# --------------------------------------------------------------------------

def file_history(ops, fid):
    """(cells at the last completed fsync, synced size, writes after it
    {gen: (first cell, end cell)}, truncate sizes after it, the ops)."""
    mine = [op for op in ops if op.kind in ("write", "trunc", "fsync", "fdatasync")
            and int(op.args[1]) == fid]
    last_sync = max((i for i, op in enumerate(mine)
                     if op.kind in ("fsync", "fdatasync") and op.completed), default=-1)
    cells, size = [], 0
    writes, truncs = {}, []
    for i, op in enumerate(mine):
        if op.kind == "write":
            gen, off, ln = int(op.args[2]), int(op.args[3]), int(op.args[4])
            a, b = off // CELL, (off + ln) // CELL
            if i < last_sync:
                if len(cells) < b:
                    cells.extend([0] * (b - len(cells)))
                cells[a:b] = [gen] * (b - a)
                size = max(size, off + ln)
            else:
                writes[gen] = (a, b)
        elif op.kind == "trunc":
            new = int(op.args[3])
            if i < last_sync:
                n = new // CELL
                cells = cells[:n] + [0] * max(0, n - len(cells))
                size = new
            else:
                truncs.append(new)
    return cells, size, writes, truncs, mine, last_sync


def check_file(seed, worker, ops, fid, path):
    cells, synced_size, writes, truncs, mine, last_sync = file_history(ops, fid)

    def fail(msg):
        hist = "\n  ".join(str(op) for op in mine[max(0, last_sync - 5):])
        pytest.fail(f"worker {worker}, file {fid:#x} ({path}): {msg}\nits synced size "
                    f"{synced_size}; its data operations from the last completed fsync "
                    f"on (those before it, {max(0, last_sync - 5)}, not shown):\n  {hist}")

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail(f"reading it fails: {e}")
    min_size = min([synced_size] + truncs)
    max_size = max([synced_size] + truncs + [b * CELL for a, b in writes.values()])
    if len(data) % CELL or not min_size <= len(data) <= max_size:
        fail(f"size {len(data)}; expected a multiple of {CELL} from {min_size} to {max_size}")
    zero_from = min_size // CELL     # cells a later truncate or extension may zero
    sums = {}
    for i, (cfid, gen, idx, csum) in enumerate(struct.iter_unpack("<4I", data)):
        synced = cells[i] if i < len(cells) else 0
        if cfid == 0 and gen == 0 and idx == 0 and csum == 0:
            if synced == 0 or i >= zero_from:
                continue
            fail(f"cell {i} (offset {i * CELL}) reads zeros; it held generation {synced} "
                 f"when the file was synced and no later write or truncate covers it")
        if cfid != fid or idx != i:
            fail(f"cell {i} (offset {i * CELL}) holds a cell of file {cfid:#x} offset "
                 f"{idx * CELL} (generation {gen}): data from elsewhere")
        key = (gen, i)
        if key not in sums:
            sums[key] = cell_sum(seed, fid, gen, i)
        if csum != sums[key]:
            fail(f"cell {i} (offset {i * CELL}) is garbage: "
                 f"{data[i * CELL:(i + 1) * CELL].hex()}")
        if gen == synced:
            continue
        w = writes.get(gen)
        if w is None or not w[0] <= i < w[1]:
            fail(f"cell {i} (offset {i * CELL}) holds generation {gen}; expected the synced "
                 f"generation {synced} or a later write covering it")


# --------------------------------------------------------------------------
# One cycle
# --------------------------------------------------------------------------

def verify(seed, cycle, mnt, journals, t_kill, stats):
    """Every check of the module docstring, on what the workers' journals say;
    returns when the last fsync that completed began."""
    per_worker = {}
    sync_starts = []
    for w, path in journals.items():
        ops, ended = parse_journal(path, w)
        per_worker[w] = ops
        for op in ops:
            if op.t_done is not None and op.rc != 0 and op.t_done < t_kill:
                pytest.fail(f"cycle {cycle}, seed {seed}: before the daemon was killed, "
                            f"worker {w} saw an error: {op}")
            if op.kind in SYNC_OPS and op.completed:
                sync_starts.append(op.t)
        stats["ops"] += len(ops)
        stats["syncs"] += sum(1 for op in ops if op.kind in SYNC_OPS and op.completed)
    last_sync_start = max(sync_starts, default=0)
    for w, ops in per_worker.items():
        root = mnt / f"c{cycle}w{w}"
        try:
            found = scan_tree(root)
        except OSError as e:
            pytest.fail(f"cycle {cycle}, seed {seed}: listing worker {w}'s directory: {e}")
        state, _ = match_namespace(w, ops, found, last_sync_start)
        seen = set()
        for p, fid in sorted(state.items()):
            if fid != DIR and fid not in seen:
                seen.add(fid)
                check_file(seed, w, ops, fid, root / p)
                stats["files"] += 1
    return last_sync_start


def check_snapshot(seed, cycle, snap_mnt, worker_fids):
    """Every file of a mounted snapshot reads back, each nonzero cell written
    to that offset of a file of the worker whose directory holds it."""
    for w in range(WORKERS):
        root = snap_mnt / f"c{cycle}w{w}"
        for dirpath, _, filenames in os.walk(root):
            for n in filenames:
                path = os.path.join(dirpath, n)
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError as e:
                    pytest.fail(f"cycle {cycle}, seed {seed}: snapshot file {path}: {e}")
                for i, (fid, gen, idx, csum) in enumerate(struct.iter_unpack("<4I", data)):
                    if fid == gen == idx == csum == 0:
                        continue
                    if (idx != i or fid not in worker_fids[w]
                            or csum != cell_sum(seed, fid, gen, i)):
                        pytest.fail(f"cycle {cycle}, seed {seed}: snapshot file {path}, cell "
                                    f"{i}: {data[i * CELL:(i + 1) * CELL].hex()} was never "
                                    f"written there")


def verify_snapshot(store, snap_mnt, seed, cycle, snap, snap_done, last_sync_start, journals):
    names = [s["name"] for s in ctl_json("snapshot", "list", "vol", store=store)["snapshots"]]
    if snap not in names:
        assert snap_done > last_sync_start, (
            f"cycle {cycle}, seed {seed}: snapshot vol@{snap} is gone after the crash, though "
            f"an fsync began after it was taken")
        return
    fids = {w: {int(op.args[1]) for op in parse_journal(j, w)[0] if op.kind == "create"}
            for w, j in journals.items()}
    snap_mnt.mkdir(exist_ok=True)
    ok(run_mount(f"{store}:vol@{snap}", snap_mnt))
    try:
        check_snapshot(seed, cycle, snap_mnt, fids)
    finally:
        unmount(str(snap_mnt))
        wait_until(lambda: not is_fuse_mount(snap_mnt), timeout=10, what="snapshot unmount")
    # the daemon lets go of the snapshot shortly after the unmount
    wait_until(lambda: run_ctl("snapshot", "rm", f"vol@{snap}", store=store).returncode == 0,
               timeout=10, what=f"snapshot rm vol@{snap}")


def kill_while_starting(janitor, store, mnt, rng):
    """Mount again and kill the daemon that starts, a random moment later;
    1 when a daemon was killed."""
    p = subprocess.Popen([str(MOUNT), f"{store}:vol", str(mnt)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=product_env())
    janitor.procs.append(p)
    time.sleep(rng.uniform(0.0, 0.3))
    pids = daemon_pids(store)
    for pid in pids:
        kill9(pid)
    wait_until(lambda: not any(pid_alive(pid) for pid in pids), timeout=10,
               what="the killed daemon to go")
    p.wait(timeout=TIMEOUT)     # done or failed; a daemon it started later stays
    lazy_unmount(str(mnt))
    return 1 if pids else 0


def run_cycle(janitor, store, mnt, jdir, cycle, seed, rng, stats):
    dirs = {w: mnt / f"c{cycle}w{w}" for w in range(WORKERS)}
    for d in dirs.values():
        os.mkdir(d)
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)     # the workers' directories are durable
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    journals = {w: jdir / f"c{cycle}w{w}.journal" for w in dirs}
    procs = []
    for w, d in dirs.items():
        with open(jdir / f"c{cycle}w{w}.err", "w") as err:
            procs.append(subprocess.Popen(
                [WORKER, "--dir", d, "--journal", journals[w], "--id", str(cycle * WORKERS + w + 1),
                 "--seed", str(seed), "--seconds", str(WORKER_SECONDS)],
                stdout=subprocess.DEVNULL, stderr=err))
        janitor.procs.append(procs[-1])
    delay = rng.uniform(0.2, 3.0)                       # a random moment to crash
    snap, snap_done = None, None
    if cycle % 2:                                       # a snapshot while they write
        first = rng.uniform(0.05, delay)
        time.sleep(first)
        snap = f"c{cycle}"
        ok(run_ctl("snapshot", "create", f"vol@{snap}", store=store))
        snap_done = time.monotonic_ns()
        delay = max(0.0, delay - first)
    time.sleep(delay)
    early = [(w, p.returncode) for w, p in enumerate(procs) if p.poll() is not None]
    t_kill = time.monotonic_ns()
    pids = daemon_pids(store)
    assert pids, f"cycle {cycle}: no daemon runs for {store}"
    for pid in pids:
        kill9(pid)
    wait_until(lambda: not daemon_pids(store), timeout=10, what="the killed daemon to go")
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
    for w, rc in early:
        err = (jdir / f"c{cycle}w{w}.err").read_text()
        pytest.fail(f"cycle {cycle}, seed {seed}: worker {w} exited {rc} before the crash: {err}")
    lazy_unmount(str(mnt))
    assert not is_fuse_mount(mnt), f"{mnt} still mounted after a lazy unmount"
    if rng.random() < 0.3 or cycle == 2:      # the draw is made either way: seeds replay
        stats["startup_kills"] += kill_while_starting(janitor, store, mnt, rng)
    cp = run_mount(f"{store}:vol", mnt)                 # starts a new daemon: recovery
    assert cp.returncode == 0, f"cycle {cycle}: remount after the crash failed\n" + describe(cp)
    last_sync_start = verify(seed, cycle, mnt, journals, t_kill, stats)
    cp = run_ctl("check", store=store, timeout=300)
    assert cp.returncode == 0, f"cycle {cycle}, seed {seed}: store check failed\n" + describe(cp)
    if snap:
        verify_snapshot(store, mnt.parent / "snap", seed, cycle, snap, snap_done,
                        last_sync_start, journals)
        stats["snapshots"] += 1
    for d in dirs.values():                             # the next cycle starts afresh
        shutil.rmtree(d)
    for path in list(journals.values()) + [jdir / f"c{cycle}w{w}.err" for w in dirs]:
        os.unlink(path)
    stats["cycles"] += 1


def test_crash_loop_keeps_every_fsynced_file_and_name(janitor, store, daemon, work):
    assert os.access(WORKER, os.X_OK), f"{WORKER} missing: run make"
    seconds = float(os.environ.get("CRASH_SECONDS", "20"))
    seed = int(os.environ.get("CRASH_SEED") or random.randrange(1, 1 << 62))
    rng = random.Random(seed)
    opts = rng.choice([[], ["--quota", "10G"], ["--compression", "none"]])
    print(f"crash loop: seed {seed}, {seconds:.0f} s, volume options {opts}")
    create_volume(store, "vol", *opts)
    mnt = work / "mnt"
    mnt.mkdir()
    jdir = work / "journals"                            # outside the mount
    jdir.mkdir()
    ok(run_mount(f"{store}:vol", mnt))
    stats = {"cycles": 0, "ops": 0, "syncs": 0, "files": 0, "snapshots": 0, "startup_kills": 0}
    end = time.monotonic() + seconds
    try:
        cycle = 0
        while cycle < 3 or time.monotonic() < end:
            run_cycle(janitor, store, mnt, jdir, cycle, seed, rng, stats)
            cycle += 1
    finally:
        print(f"crash loop: seed {seed}: {stats}")
        report = os.environ.get("CRASH_REPORT")
        if report:
            with open(report, "a") as f:
                f.write(json.dumps(dict(stats, seed=seed)) + "\n")
    unmount(str(mnt))
