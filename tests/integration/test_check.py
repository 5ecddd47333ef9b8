"""`cstorfs-ctl check` and POST /v1/check: the store's own consistency check
(cs_store_check): OK on a fresh and a used store, also while a volume is
being written; a damaged store (a chunk deleted, a reference count changed,
with tests/crash/cs_damage.c while no daemon runs) names each problem and
exits 1."""

import json
import os
import threading

from conftest import (
    BUILD, EXIT_FAIL, EXIT_USAGE, api, assert_error, create_volume, describe, mounted, ok,
    run, run_ctl, stop_daemon,
)

DAMAGE = BUILD / "cs_damage"


def check(store):
    return run_ctl("check", store=store, timeout=120)


def assert_ok(store):
    cp = ok(check(store))
    assert cp.stdout.startswith("OK: consistent"), "expected OK\n" + describe(cp)
    st, body = api(store, "POST", "/v1/check")
    assert st == 200 and body["ok"] is True and body["problems"] == [], f"{st} {body}"
    return body


def damage(store, what):
    assert os.access(DAMAGE, os.X_OK), f"{DAMAGE} missing: run make"
    cp = run([DAMAGE, store, what])
    assert cp.returncode == 0, "cs_damage failed\n" + describe(cp)
    h = cp.stdout.strip()
    assert len(h) == 64, "cs_damage printed no chunk hash\n" + describe(cp)
    return h


def fill_volume(store, mnt):
    """Files of several sizes, shared chunks, a snapshot, a clone, deletions."""
    create_volume(store, "vol")
    with mounted(store, "vol", mnt) as m:
        data = os.urandom(300_000)
        for name in ("a", "b"):                 # the same chunks twice
            (m / name).write_bytes(data)
        (m / "small").write_bytes(b"inline" * 10)
        (m / "text").write_bytes(b"compressible text\n" * 20_000)
        os.mkdir(m / "d")
        (m / "d" / "x").write_bytes(os.urandom(70_000))
        ok(run_ctl("snapshot", "create", "vol@s1", store=store))
        with open(m / "a", "r+b") as f:         # overwrite one chunk, truncate
            f.seek(65536)
            f.write(os.urandom(1000))
            f.truncate(200_000)
        os.unlink(m / "b")
        os.link(m / "text", m / "text2")
        ok(run_ctl("clone", "vol@s1", "clone", store=store))
        os.sync()


def test_check_passes_on_a_fresh_store(store, daemon):
    body = assert_ok(store)
    assert body["problems_found"] == 0


def test_check_passes_on_a_used_store(store, daemon, work):
    fill_volume(store, work / "mnt")
    body = assert_ok(store)
    assert body["message"].startswith("consistent: 2 volumes"), body   # vol and clone
    ok(run_ctl("volume", "rm", "clone", store=store))
    ok(run_ctl("snapshot", "rm", "vol@s1", store=store))
    ok(run_ctl("gc", store=store))
    assert_ok(store)


def test_check_starts_the_daemon_when_none_runs(store, daemon, work):
    fill_volume(store, work / "mnt")
    stop_daemon(store)
    assert_ok(store)


def test_check_passes_while_a_volume_is_written(store, daemon, work):
    """The check reads one snapshot of the store: writes, overwrites and
    unlinks going on at the same time never show as a problem."""
    create_volume(store, "vol")
    with mounted(store, "vol", work / "mnt") as m:
        for i in range(200):                    # something for the check to read
            (m / f"old{i}").write_bytes(os.urandom(5000 + i * 331))
        stop = threading.Event()
        errors = []

        def writer():
            i = 0
            try:
                while not stop.is_set() and i < 20_000:
                    p = m / f"f{i % 20}"
                    p.write_bytes(os.urandom(1000 + (i * 7919) % 150_000))
                    if i % 3 == 0:
                        os.unlink(p)
                    if i % 10 == 0:
                        fd = os.open(m, os.O_RDONLY)
                        os.fsync(fd)
                        os.close(fd)
                    i += 1
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=writer)
        t.start()
        try:
            answers = [api(store, "POST", "/v1/check") for _ in range(30)]
            results = [check(store) for _ in range(3)]
        finally:
            stop.set()
            t.join(timeout=60)
        assert not t.is_alive(), "the writer did not stop"
        assert not errors, f"the writer failed: {errors}"
        for st, body in answers:
            assert st == 200 and body["ok"] is True, f"check failed while writing: {st} {body}"
        for cp in results:
            assert cp.returncode == 0, "check failed while writing\n" + describe(cp)
    assert_ok(store)


def test_check_names_a_missing_chunk_and_exits_1(store, daemon, work):
    fill_volume(store, work / "mnt")
    stop_daemon(store)
    h = damage(store, "drop-chunk")
    cp = check(store)
    assert_error(cp, EXIT_FAIL, "inconsistent", h)
    assert f"problem: chunk {h} is missing" in cp.stdout, describe(cp)
    assert "problem: store: the chunk count is" in cp.stdout, describe(cp)
    st, body = api(store, "POST", "/v1/check")
    assert st == 200 and body["ok"] is False, f"{st} {body}"
    assert body["problems_found"] == len(body["problems"]) >= 2, body
    assert any(h in p and "missing" in p for p in body["problems"]), body


def test_check_names_a_chunk_whose_bytes_are_gone_from_its_chunk_file(store, daemon, work):
    """A chunk file cut short (a lost disk block, a bad copy): check names the
    chunk, reads of it fail with EIO, and the daemon still starts."""
    fill_volume(store, work / "mnt")
    stop_daemon(store)
    h = damage(store, "cut-chunk-file")
    cp = check(store)
    assert_error(cp, EXIT_FAIL, "inconsistent", h)
    assert any(h in line and "chunk file" in line and line.startswith("problem: ")
               for line in cp.stdout.splitlines()), describe(cp)
    cp = run_ctl("scrub", "--wait", store=store, json_out=True, timeout=120)
    s = json.loads(cp.stdout)
    assert cp.returncode == EXIT_FAIL and s["damaged"] >= 1, describe(cp)
    assert any(d["chunk"] == h and "chunk file" in d["reason"] for d in s["damage"]), s


def test_check_names_each_problem(store, daemon, work):
    """Two kinds of damage: both are listed, not only the first."""
    fill_volume(store, work / "mnt")
    stop_daemon(store)
    bumped = damage(store, "bump-ref")
    dropped = damage(store, "drop-chunk")
    cp = check(store)
    assert cp.returncode == EXIT_FAIL, describe(cp)
    problems = [line for line in cp.stdout.splitlines() if line.startswith("problem: ")]
    assert any(bumped in p and "reference count" in p for p in problems), describe(cp)
    assert any(dropped in p and "missing" in p for p in problems), describe(cp)
    assert any("store: the chunk count" in p for p in problems), describe(cp)
    assert f"{len(problems)} problems" in cp.stderr, describe(cp)


def test_check_usage(store, daemon):
    assert_error(run_ctl("check", "vol", store=store), EXIT_USAGE, "no arguments")
    st, body = api(store, "GET", "/v1/check")
    assert st == 405, f"{st} {body}"
