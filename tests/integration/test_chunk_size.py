"""A volume's chunk size (`volume create --chunk-size`, issue 14 item 4) through the real
CLI, daemon and FUSE mounts: what may be chosen, that inspect and the API show it, that a
clone and a received copy keep it, and that many O_DIRECT writers of 4 KiB pages on a
4 KiB-chunk volume (a database's pattern) leave a store `check` finds consistent while the
daemon's background reclaim runs beside them (fio doing this once found reclaim deleting a
chunk file a write was about to name; this test did not reproduce that narrow race on the
old code in two runs, and stands as a consistency check under that load). The bytes themselves are checked by cs_fsx (test_fsx.py, modes
chunk4k and chunk1m) and tests/unit/test_chunksize.c."""

import mmap
import os
import random
import threading
import time

from conftest import (
    EXIT_USAGE, api, assert_error, create_volume, ctl_json, describe, mounted, ok, run_ctl,
)

KiB = 1024


def test_chunk_size_is_chosen_at_creation_and_shown(store, daemon, work):
    create_volume(store, "db", "--chunk-size", "4K")
    create_volume(store, "media", "--chunk-size", "1M")
    create_volume(store, "plain")
    assert ctl_json("volume", "inspect", "db", store=store)["chunk_size"] == 4096
    assert ctl_json("volume", "inspect", "media", store=store)["chunk_size"] == 1 << 20
    assert ctl_json("volume", "inspect", "plain", store=store)["chunk_size"] == 64 * KiB
    assert "chunk size:     4K" in ok(run_ctl("volume", "inspect", "db", store=store)).stdout
    for bad in ("3000", "2K", "2M", "12K"):
        cp = run_ctl("volume", "create", "bad", "--chunk-size", bad, store=store)
        assert cp.returncode != 0 and "power of two" in cp.stderr, describe(cp)
    assert_error(run_ctl("volume", "create", "bad", "--chunk-size", "lots", store=store),
                 EXIT_USAGE, "--chunk-size")
    st, body = api(store, "POST", "/v1/volumes", {"name": "bad", "chunk_size": "4K"})
    assert st == 400 and "chunk_size" in body["error"]["message"], f"{st} {body}"
    ok(run_ctl("snapshot", "create", "db@s", store=store))
    ok(run_ctl("clone", "db@s", "db2", store=store))
    assert ctl_json("volume", "inspect", "db2", store=store)["chunk_size"] == 4096


def odirect_writer(path, seconds, seed, errors):
    """4 KiB O_DIRECT writes of fresh bytes at random aligned offsets."""
    rng = random.Random(seed)
    buf = mmap.mmap(-1, 4 * KiB)  # page-aligned, as O_DIRECT wants
    end = time.monotonic() + seconds
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
        try:
            while time.monotonic() < end:
                buf[:] = rng.randbytes(4 * KiB)
                os.pwrite(fd, buf, rng.randrange(2048) * 4 * KiB)
        finally:
            os.close(fd)
    except OSError as e:
        errors.append(e)


def test_odirect_pages_on_a_4k_volume_while_reclaim_runs(store, daemon, work):
    create_volume(store, "db", "--chunk-size", "4K")
    errors = []
    with mounted(store, "db", work / "mnt") as m:
        ts = [threading.Thread(target=odirect_writer, args=(m / f"f{i}", 6, i, errors))
              for i in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=60)
        assert not errors, errors
        assert not any(t.is_alive() for t in ts), "a writer did not stop"
    cs = ctl_json("status", store=store)["chunk_store"]
    assert cs["kind"] == "local" and cs["files"] >= 1, cs
    cp = ok(run_ctl("check", store=store, timeout=120))
    assert cp.stdout.startswith("OK"), describe(cp)


def test_send_and_receive_keep_the_chunk_size(store, daemon, work, janitor):
    create_volume(store, "db", "--chunk-size", "4K")
    data = os.urandom(300_000)
    with mounted(store, "db", work / "mnt") as m:
        (m / "f").write_bytes(data)
    ok(run_ctl("snapshot", "create", "db@s1", store=store))
    ok(run_ctl("send", "db@s1", "-o", work / "full", "--quiet", store=store))
    ok(run_ctl("receive", "copy", "-i", work / "full", "--quiet", store=store))
    assert ctl_json("volume", "inspect", "copy", store=store)["chunk_size"] == 4096
    with mounted(store, "copy", work / "mnt2") as m:
        assert (m / "f").read_bytes() == data
    # an incremental stream onto a volume of another chunk size is refused
    create_volume(store, "other")
    with mounted(store, "db", work / "mnt") as m:
        (m / "g").write_bytes(b"more")
    ok(run_ctl("snapshot", "create", "db@s2", store=store))
    ok(run_ctl("send", "db@s2", "-i", "db@s1", "-o", work / "incr", "--quiet", store=store))
    ok(run_ctl("receive", "copy", "-i", work / "incr", "--quiet", store=store))
    with mounted(store, "copy", work / "mnt2") as m:
        assert (m / "g").read_bytes() == b"more"
    assert ok(run_ctl("check", store=store, timeout=120)).stdout.startswith("OK")
