"""cstorfs-ctl scrub (issue 12, item 6) against the real daemon and real FUSE
mounts: a clean store scrubs clean; a byte flipped in a chunk file on disk
(daemon stopped) is found and named with the volume, the file's path, the
snapshot that holds it, a renamed live copy and a clone reading through; a
volume scrub reads only that volume's chunks; the rate option, cancel (also by
stopping the daemon), `scrub status`, the result in `status` (kept across a
daemon restart), exit codes and usage errors."""

import hashlib
import json
import random
from pathlib import Path

from conftest import (
    EXIT_EXISTS, EXIT_FAIL, EXIT_NOTFOUND, EXIT_USAGE, api, assert_error, create_volume,
    ctl_json, describe, mounted, ok, run_ctl, start_daemon, stop_daemon,
)

CHUNK = 64 * 1024


def chunk(seed):
    """64 KiB of incompressible bytes (last byte non-zero: chunks are stored
    without trailing zeros)."""
    b = bytearray(random.Random(seed).randbytes(CHUNK))
    b[-1] = 0xFF
    return bytes(b)


def scrub_wait(store, *args):
    """`scrub ... --wait --json`: (exit code, final scrub object)."""
    cp = run_ctl("scrub", *args, "--wait", store=store, json_out=True, timeout=120)
    try:
        return cp.returncode, json.loads(cp.stdout)
    except ValueError:
        raise AssertionError("scrub --wait --json did not print JSON\n" + describe(cp))


def chunk_file_hits(store, needle):
    """Chunk files (STORE/chunks/*.ck) holding @needle: {path: [offsets]}."""
    hits = {}
    for p in sorted(Path(store, "chunks").glob("*.ck")):
        data = p.read_bytes()
        i = data.find(needle)
        while i >= 0:
            hits.setdefault(p, []).append(i)
            i = data.find(needle, i + 1)
    return hits


def flip_in_chunk_file(store, needle):
    """With the daemon stopped: flip one byte of @needle where it lies in a
    chunk file (its bytes are written there once, before the metadata that
    names them). Returns the chunk file."""
    hits = chunk_file_hits(store, needle)
    assert len(hits) == 1 and len(next(iter(hits.values()))) == 1, \
        f"expected the chunk's bytes in exactly one chunk file once, found {hits}"
    path, [off] = next(iter(hits.items()))
    with open(path, "r+b") as f:
        f.seek(off + len(needle) // 2)
        b = f.read(1)
        f.seek(off + len(needle) // 2)
        f.write(bytes([b[0] ^ 0x5A]))
    return path


def scrub_starts(store, *args):
    return ok(run_ctl("scrub", *args, store=store))


# --------------------------------------------------------------------------
# Clean stores
# --------------------------------------------------------------------------

def test_clean_store_scrub_reads_every_chunk_and_finds_no_damage(store, daemon, work):
    create_volume(store, "v")
    with mounted(store, "v", work / "mnt") as m:
        (m / "a").write_bytes(chunk(1) + chunk(2) + b"tail")
        (m / "b").write_bytes(b"hello " * 50000)  # compressed chunks
    st = ctl_json("status", store=store)
    assert st["scrub"] is None, f"a scrub result before any scrub: {st['scrub']}"
    assert ctl_json("scrub", "status", store=store) == {"state": "none"}
    cp = run_ctl("scrub", "--wait", store=store)
    assert cp.returncode == 0, describe(cp)
    assert "damaged:  0 chunks" in cp.stdout, describe(cp)
    rc, s = scrub_wait(store)
    assert rc == 0
    chunks = ctl_json("status", store=store)["stats"]["chunks"]
    assert chunks >= 4
    assert s["state"] == "finished" and s["damaged"] == 0 and s["damage"] == []
    assert s["volume"] is None
    assert s["chunks_done"] == s["chunks_total"] == chunks
    assert s["bytes_done"] == ctl_json("status", store=store)["stats"]["stored_bytes"]
    st = ctl_json("status", store=store)
    assert st["scrub"]["state"] == "finished" and st["scrub"]["damaged"] == 0
    assert "damage" not in st["scrub"], "status carries the summary only"
    human = ok(run_ctl("status", store=store)).stdout
    assert "scrub:    finished (the whole store)" in human, human


# --------------------------------------------------------------------------
# Damage on disk
# --------------------------------------------------------------------------

def test_byte_flipped_in_a_chunk_file_is_named_with_files_and_snapshots(store, daemon, work):
    """vol:/dir/victim.bin holds chunks A and X; snapshot s1 keeps it there,
    the live volume renamed it to /moved.bin, clone cl of vol@s1 reads it
    through. X is damaged on disk: scrub names all three uses and only X."""
    create_volume(store, "vol", "--compression", "none")
    a, x = chunk(11), chunk(12)
    mnt = work / "mnt"
    with mounted(store, "vol", mnt) as m:
        (m / "dir").mkdir()
        (m / "dir" / "victim.bin").write_bytes(a + x)
        (m / "other.bin").write_bytes(chunk(13))
    ok(run_ctl("snapshot", "create", "vol@s1", store=store))
    with mounted(store, "vol", mnt) as m:
        (m / "dir" / "victim.bin").rename(m / "moved.bin")
    ok(run_ctl("clone", "vol@s1", "cl", store=store))
    stop_daemon(store)
    flip_in_chunk_file(store, x[30000:30512])
    start_daemon(store)

    cp = run_ctl("scrub", "--wait", store=store, timeout=120)
    xhex = hashlib.sha256(x).hexdigest()
    assert_error(cp, EXIT_FAIL, "1 damaged chunk")
    out = cp.stdout
    assert f"chunk {xhex}: content does not match its SHA-256" in out, describe(cp)
    assert "vol:/dir/victim.bin  (snapshot s1)" in out, describe(cp)
    assert "vol:/moved.bin  (live)" in out, describe(cp)
    assert "cl:/dir/victim.bin  (live)" in out, describe(cp)
    assert hashlib.sha256(a).hexdigest() not in out, "the intact chunk was named"

    s = ctl_json("scrub", "status", store=store)
    assert s["state"] == "finished" and s["damaged"] == 1 and s["chunks_done"] == 3
    [d] = s["damage"]
    assert d["chunk"] == xhex and "SHA-256" in d["reason"]
    files = {(f["volume"], f["path"]): (f["live"], f["snapshots"]) for f in d["files"]}
    assert files == {("vol", "/dir/victim.bin"): (False, ["s1"]),
                     ("vol", "/moved.bin"): (True, []),
                     ("cl", "/dir/victim.bin"): (True, [])}, d["files"]
    # what scrub says is what a read finds
    with mounted(store, "vol", mnt) as m:
        try:
            (m / "moved.bin").read_bytes()
            raise AssertionError("reading the damaged file succeeded")
        except OSError as e:
            assert e.errno == 5, e  # EIO
        assert (m / "other.bin").read_bytes() == chunk(13)
    # the result stays in status, also after a restart
    assert ctl_json("status", store=store)["scrub"]["damaged"] == 1
    stop_daemon(store)
    start_daemon(store)
    st = ctl_json("status", store=store)["scrub"]
    assert st["state"] == "finished" and st["damaged"] == 1 and st["chunks_done"] == 3, st
    assert "1 damaged" in ok(run_ctl("status", store=store)).stdout
    s = ctl_json("scrub", "status", store=store)
    assert s["damaged"] == 1 and s["damage"] is None, s
    assert "not kept across daemon restarts" in ok(run_ctl("scrub", "status", store=store)).stdout


def test_volume_scrub_reads_only_that_volume(store, daemon, work):
    create_volume(store, "a", "--compression", "none")
    create_volume(store, "b", "--compression", "none")
    with mounted(store, "a", work / "ma") as m:
        (m / "f").write_bytes(chunk(21) + chunk(22) + chunk(23))
    with mounted(store, "b", work / "mb") as m:
        (m / "g").write_bytes(chunk(24))
    rc, s = scrub_wait(store, "a")
    assert rc == 0 and s["state"] == "finished", s
    assert s["volume"] == "a"
    assert s["chunks_done"] == s["chunks_total"] == 3, s
    assert ctl_json("status", store=store)["stats"]["chunks"] == 4
    assert "volume a" in ok(run_ctl("status", store=store)).stdout
    # a volume named like a subcommand is scrubbed with "scrub start NAME"
    create_volume(store, "status")
    rc, s = scrub_wait(store, "start", "status")
    assert rc == 0 and s["volume"] == "status" and s["chunks_total"] == 0, s
    assert_error(run_ctl("scrub", "nosuch", store=store), EXIT_NOTFOUND, "nosuch")


# --------------------------------------------------------------------------
# Rate, cancel, one at a time
# --------------------------------------------------------------------------

def test_rate_limit_is_accepted_and_the_scrub_completes(store, daemon, work):
    create_volume(store, "v", "--compression", "none")
    with mounted(store, "v", work / "mnt") as m:
        (m / "f").write_bytes(b"".join(chunk(30 + i) for i in range(4)))
    rc, s = scrub_wait(store, "--rate", "1M")
    assert rc == 0 and s["state"] == "finished" and s["chunks_done"] == 4, s
    assert s["rate"] == 1 << 20
    rc, s = scrub_wait(store, "v", "--rate=2M/s")
    assert rc == 0 and s["rate"] == 2 << 20 and s["volume"] == "v", s
    rc, s = scrub_wait(store, "--rate", "0")  # 0: no limit
    assert rc == 0 and s["rate"] == 0


def test_cancel_stops_a_running_scrub(store, daemon, work):
    """8 chunks at 64 KiB/s take 8 s: cancel long before."""
    create_volume(store, "v", "--compression", "none")
    with mounted(store, "v", work / "mnt") as m:
        (m / "f").write_bytes(b"".join(chunk(40 + i) for i in range(8)))
    out = scrub_starts(store, "--rate", "64K").stdout
    assert "scrub started (the whole store, 64K/s)" in out, out
    s = ctl_json("scrub", "status", store=store)
    assert s["state"] == "running" and s["chunks_total"] == 8, s
    assert ctl_json("status", store=store)["scrub"]["state"] == "running"
    assert_error(run_ctl("scrub", store=store), EXIT_EXISTS, "already running")
    s = ctl_json("scrub", "--cancel", store=store)
    assert s["state"] == "cancelled" and s["chunks_done"] < 8, s
    assert ctl_json("scrub", "status", store=store)["state"] == "cancelled"
    assert_error(run_ctl("scrub", "stop", store=store), EXIT_NOTFOUND, "no scrub is running")
    cp = run_ctl("scrub", "status", "--wait", store=store)
    assert_error(cp, EXIT_FAIL, "cancelled")
    # "scrub stop" cancels too, and a new scrub may start after it
    scrub_starts(store, "--rate", "64K")
    assert "cancelled after" in ok(run_ctl("scrub", "stop", store=store)).stdout
    rc, s = scrub_wait(store)
    assert rc == 0 and s["chunks_done"] == 8


def test_daemon_stop_cancels_a_running_scrub(store, daemon, work):
    create_volume(store, "v", "--compression", "none")
    with mounted(store, "v", work / "mnt") as m:
        (m / "f").write_bytes(b"".join(chunk(50 + i) for i in range(8)))
    scrub_starts(store, "--rate", "64K")
    stop_daemon(store)  # waits for the daemon to exit (15 s at most)
    start_daemon(store)
    s = ctl_json("status", store=store)["scrub"]
    assert s["state"] == "cancelled" and s["chunks_done"] < 8, s


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

def test_bad_arguments_are_usage_errors(store, daemon):
    for args, what in [
        (["--rate"], "--rate needs a value"),
        (["--rate", "fast"], "invalid rate"),
        (["--rate", "-5"], "invalid rate"),
        (["a", "b"], "one volume"),
        (["--bogus"], "unknown scrub option"),
        (["status", "v"], "takes no volume"),
        (["--cancel", "v"], "takes no volume"),
        (["stop", "--rate", "1M"], "takes no volume"),
        (["--cancel", "--wait"], "--wait"),
        (["status", "--cancel"], "--cancel"),
        (["a/b"], "invalid volume name"),
        (["v@s"], "no '@'"),
    ]:
        assert_error(run_ctl("scrub", *args, store=store), EXIT_USAGE, what)


def test_api_refuses_bad_bodies_and_methods(store, daemon):
    create_volume(store, "v")
    for body, what in [
        ({"volume": "v", "speed": 1}, "unknown field"),
        ({"rate": -1}, "rate"),
        ({"rate": "1M"}, "rate"),
        ({"volume": 3}, "volume"),
        ({"volume": "a/b"}, "invalid volume name"),
    ]:
        status, ans = api(store, "POST", "/v1/scrub", body=body)
        assert status == 400 and ans["error"]["code"] == "EINVAL", (body, status, ans)
        assert what in ans["error"]["message"], (body, ans)
    status, ans = api(store, "POST", "/v1/scrub", raw=b"[1]")
    assert status == 400, ans
    status, ans = api(store, "PUT", "/v1/scrub", body={})
    assert status == 405, ans
    status, ans = api(store, "POST", "/v1/scrub", body={"volume": "nosuch"})
    assert status == 404 and ans["error"]["code"] == "ENOENT", ans
    status, ans = api(store, "POST", "/v1/scrub")  # no body: the whole store
    assert status == 202 and ans["state"] in ("running", "finished"), ans
