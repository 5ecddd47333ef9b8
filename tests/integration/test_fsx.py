"""cs_fsx, the random-operation model checker (tests/fsx), against real cstorfs mounts.

Each mode runs the checker for a few seconds (about 35 s in all) on a fresh volume,
with a seed of its own, in a subdirectory whose attributes the kernel holds (in the root
directory a getattr of the directory writes the store's buffer out and hides size bugs).
The events (evict, remount, restart, kill -9) are tests/fsx/cstorfs-events.sh. A failure
prints the seed, the checker's report and the command that replays it; the log is kept as
BUILD/fsx-fail-MODE-SEED.log. One run on a plain directory shows the checker itself is
right, and two runs with a damaging "event" show it can fail.
"""

import os
import shlex
import shutil
import time

import pytest

from conftest import BUILD, REPO, create_volume, mounted, run

FSX = BUILD / "cs_fsx"
EVENTS = REPO / "tests" / "fsx" / "cstorfs-events.sh"
EVICT = "echo 2 > /proc/sys/vm/drop_caches"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="drop_caches and FUSE need root")

# (mode, seed, seconds, checker options, events). Each run is as short as still draws every
# operation kind its seed drew in a run twice as long (counted in the logs: 20 to 24 kinds;
# every fallocate mode in all but kill's) and its events at least twice; the long runs are
# make soak's (scripts/soak.sh).
MODES = [
    ("plain", 1201, 3, [], ()),
    ("evict", 1202, 3, [], ("evict",)),
    ("remount", 1203, 5, ["--event-prob", "0.01", "--event-every", "40"], ("remount",)),
    ("restart", 1204, 6, ["--event-prob", "0", "--event-every", "30"], ("restart",)),
    ("kill", 1205, 6, ["--event-prob", "0", "--event-every", "30"], ("kill",)),
    ("links", 1206, 3, ["--files", "3", "--links", "--event-every", "50"], ("evict",)),
    ("direct", 1207, 3, ["--direct", "--files", "2"], ()),
    # volumes with other chunk sizes (volume create --chunk-size)
    ("chunk4k", 1209, 3, ["--direct", "--files", "2", "--event-every", "60"], ("restart",)),
    ("chunk1m", 1210, 3, ["--event-every", "60"], ("remount",)),
]
CHUNK = {"chunk4k": "4K", "chunk1m": "1M"}


def settled_dir(mnt):
    """A subdirectory of @mnt whose attributes the kernel has cached."""
    d = mnt / "fsx"
    d.mkdir()
    time.sleep(1.0)
    os.stat(d)
    return d


def fsx(directory, *args, timeout=120):
    if not os.access(FSX, os.X_OK):
        pytest.fail(f"{FSX} missing: run make")
    return run([FSX, *args, directory], timeout=timeout)


def event_args(events, store, mnt):
    args = []
    for e in events:
        cmd = " ".join(shlex.quote(str(a)) for a in (EVENTS, BUILD, store, "vol", mnt, e))
        args += [f"--{e}", cmd]
    return args


def report(cp, what, seed, log, keep, args, directory):
    """The failure message: seed, the checker's words, and how to replay its log."""
    if os.path.exists(log):
        shutil.copy(log, keep)
    replay = " ".join(shlex.quote(str(a)) for a in [FSX, "--replay", keep, *args, directory])
    return (f"cs_fsx failed ({what}, seed {seed}, exit {cp.returncode})\n"
            f"{cp.stderr[-3000:]}\n{cp.stdout[-500:]}\n"
            f"log kept: {keep}\nreplay (on a fresh cstorfs volume, events adjusted): {replay}")


@pytest.mark.parametrize("mode,seed,seconds,opts,events", MODES, ids=[m[0] for m in MODES])
def test_fsx_mode_on_cstorfs(mode, seed, seconds, opts, events, store, daemon, work):
    create_volume(store, "vol", *(["--chunk-size", CHUNK[mode]] if mode in CHUNK else []))
    log = work / "fsx.log"
    with mounted(store, "vol", work / "mnt") as mnt:
        d = settled_dir(mnt)
        evs = event_args(events, store, mnt)
        cp = fsx(d, "--seed", str(seed), "--seconds", str(seconds), "--log", str(log), *opts,
                 *evs, timeout=seconds + 100)
        keep = BUILD / f"fsx-fail-{mode}-{seed}.log"
        print(cp.stdout, cp.stderr)
        assert cp.returncode == 0, report(cp, mode, seed, log, keep, evs, d)
        assert f"cs_fsx: ok seed={seed} " in cp.stdout, cp.stdout
        for e in events:       # each event really happened
            assert f" {e}=0 " not in cp.stdout, f"no {e} event in the run: {cp.stdout}"


def test_fsx_replays_the_eviction_sequence(vol):
    """Issue 12's eviction case as a hand-written log: a file truncated to 100000,
    closed; later 4096 bytes written at 200000, closed; caches dropped: the size must
    be 204096 (it was 100000 before the size rule)."""
    d = settled_dir(vol)
    log = d.parent / "sequence.log"
    log.write_text("setup files=1 names=1\n"
                   "truncate f0 size=100000\n"
                   "close f0\n"
                   "sleep ms=1000\n"
                   "pwrite f0 off=200000 len=4096 data=z:0\n"
                   "close f0\n"
                   "evict\n"
                   "compare\n")
    cp = fsx(d, "--replay", str(log), "--evict", EVICT)
    assert cp.returncode == 0, f"cs_fsx --replay failed:\n{cp.stderr}"
    assert "ops=8 " in cp.stdout and "evict=1 " in cp.stdout, cp.stdout


def test_fsx_on_a_plain_directory_with_every_feature(tmp_path):
    """The checker against the kernel's own filesystem: every operation and the crash
    check (a "kill" that loses nothing) must pass, and the log must replay exactly."""
    log = tmp_path / "fsx.log"
    d = tmp_path / "d"
    d.mkdir()
    args = ["--files", "3", "--links", "--direct", "--event-prob", "0.02",
            "--evict", EVICT, "--remount", "true", "--restart", "true", "--kill", "true"]
    cp = fsx(d, "--seed", "1208", "--ops", "3000", "--sleep-prob", "0", "--log", str(log), *args)
    assert cp.returncode == 0, f"cs_fsx failed on a plain directory (seed 1208):\n{cp.stderr}"
    ops = [w for w in cp.stdout.split() if w.startswith("ops=")]
    assert ops == ["ops=3000"], cp.stdout
    assert "kill=0 " not in cp.stdout, cp.stdout
    cp = fsx(d, "--replay", str(log), *args)
    assert cp.returncode == 0, f"replay failed:\n{cp.stderr}"
    assert "ops=3000 " in cp.stdout and "seed=1208 " in cp.stdout, cp.stdout


@pytest.mark.parametrize("event,damage,words", [
    ("evict", "printf XYZ >> \"$FSX_DIR/fsx.f0\"", "size"),
    ("kill", "printf NEVERWRITTEN | dd of=\"$FSX_DIR/fsx.f0\" bs=1 seek=5 conv=notrunc "
             "status=none", "a byte it never held"),
])
def test_fsx_reports_damage_with_op_and_seed(tmp_path, event, damage, words):
    """A damaging event makes the checker fail: exit 1, the operation, the seed."""
    d = tmp_path / "d"
    d.mkdir()
    # the first operations grow f0 past offset 16 and fsync it: the damage is seen
    log = tmp_path / "damage.log"
    log.write_text("setup files=1 names=1\nfsync f0\nfsyncdir\n"
                   "pwrite f0 off=0 len=100 data=z:0\nfsync f0\n"
                   f"{event}\n")
    cp = fsx(d, "--replay", str(log), f"--{event}", damage)
    assert cp.returncode == 1, f"expected exit 1\n{cp.stdout}\n{cp.stderr}"
    assert f"FAILED at op 6: {event}" in cp.stderr and words in cp.stderr, cp.stderr
    assert "seed " in cp.stderr and "replay: " in cp.stderr, cp.stderr
