"""cstorfs-ctl, cstorfs and cstorfsd on the command line: JSON output,
bad input, documented exit codes, one-line error messages."""

import os
import re
import subprocess

import pytest

from conftest import (
    CSTORFSD, EXIT_DAEMON, EXIT_EXISTS, EXIT_NOTFOUND, EXIT_USAGE, MOUNT, PYTHON, assert_error,
    create_volume, ctl_json, daemon_answers, daemon_pids, describe, is_fuse_mount, mounted, ok, pid_alive,
    product_env, read_pidfile, run, run_ctl, run_mount, wait_until,
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")
VOLUME_FIELDS = {"name", "uuid", "id", "created", "compression", "quota", "epoch", "mounted",
                 "mounts", "stats"}
VOLUME_STATS = {"inodes", "logical_bytes", "apparent_bytes", "stored_bytes", "raw_bytes",
                "chunk_refs"}
STORE_STATS = {"volumes", "chunks", "chunk_refs", "raw_bytes", "stored_bytes", "logical_bytes",
               "inodes"}
MOUNT_FIELDS = {"volume", "mountpoint", "readonly", "options"}

BAD_NAMES = ["", ".", "..", "a/b", "/", "x" * 256]


def check_volume(v, name):
    missing = VOLUME_FIELDS - set(v)
    assert not missing, f"volume object lacks {sorted(missing)}: {v}"
    assert v["name"] == name
    assert UUID_RE.match(v["uuid"]), f"uuid {v['uuid']!r} is not a 36-character uuid"
    assert isinstance(v["id"], int)
    assert RFC3339_UTC.match(v["created"]), f"created {v['created']!r} is not RFC 3339 UTC"
    assert isinstance(v["epoch"], int)
    assert isinstance(v["mounted"], bool) and isinstance(v["mounts"], list)
    missing = VOLUME_STATS - set(v["stats"])
    assert not missing, f"volume stats lack {sorted(missing)}: {v['stats']}"
    for k in VOLUME_STATS:
        assert isinstance(v["stats"][k], int) and v["stats"][k] >= 0


# ------------------------------------------------------------------ --json

def test_volume_create_json_prints_the_volume(store, daemon):
    v = ctl_json("volume", "create", "v1", store=store)
    check_volume(v, "v1")
    assert v["compression"] == "zstd:1", f"default compression: expected zstd:1, seen {v['compression']}"
    assert v["quota"] == 0 and v["mounted"] is False and v["mounts"] == []
    assert v["stats"]["inodes"] == 1, "a new volume holds its root only"


def test_volume_create_options_and_sizes(store, daemon):
    v = ctl_json("volume", "create", "q", "--quota", "1G", "--compression", "none", store=store)
    assert v["quota"] == 1 << 30 and v["compression"] == "none", v
    v = ctl_json("volume", "create", "q2", "--quota", "512MiB", "--compression", "zstd:5", store=store)
    assert v["quota"] == 512 << 20 and v["compression"] == "zstd:5", v
    v = ctl_json("volume", "create", "q3", "--quota", "12345", store=store)
    assert v["quota"] == 12345, v
    cp = run_ctl("volume", "create", "q4", "--quota", "12Q", store=store)
    assert_error(cp, EXIT_USAGE, "12Q")


def test_volume_list_and_inspect_json(store, daemon, work):
    for n in ("b", "a", "c"):
        create_volume(store, n)
    lst = ctl_json("volume", "list", store=store)
    assert set(lst) >= {"volumes"}
    names = [v["name"] for v in lst["volumes"]]
    assert sorted(names) == ["a", "b", "c"], f"expected volumes a b c, seen {names}"
    for v in lst["volumes"]:
        check_volume(v, v["name"])
    ids = {v["id"] for v in lst["volumes"]}
    uuids = {v["uuid"] for v in lst["volumes"]}
    assert len(ids) == 3 and len(uuids) == 3, "ids and uuids must differ between volumes"
    with mounted(store, "b", work / "mnt") as m:
        with open(m / "f", "wb") as f:
            f.write(b"z" * 100_000)
            f.flush()
            os.fsync(f.fileno())
        v = ctl_json("volume", "inspect", "b", store=store)
        check_volume(v, "b")
        assert v["mounted"] is True
        assert [os.path.realpath(x) for x in v["mounts"]] == [os.path.realpath(m)]
        assert v["stats"]["inodes"] == 2
        assert v["stats"]["apparent_bytes"] == 100_000, v["stats"]
        assert v["stats"]["logical_bytes"] == 100_000, v["stats"]


def test_status_json_has_documented_fields(store, daemon, work):
    create_volume(store, "v")
    with mounted(store, "v", work / "mnt", opts="ro") as m:
        st = ctl_json("status", store=store)
        missing = {"pid", "store", "version", "uptime_s", "mounts", "stats"} - set(st)
        assert not missing, f"status lacks {sorted(missing)}: {st}"
        assert st["pid"] == daemon == read_pidfile(store)
        assert os.path.realpath(st["store"]) == os.path.realpath(store)
        assert isinstance(st["version"], str) and st["version"]
        assert isinstance(st["uptime_s"], (int, float)) and st["uptime_s"] >= 0
        missing = STORE_STATS - set(st["stats"])
        assert not missing, f"store stats lack {sorted(missing)}: {st['stats']}"
        assert st["stats"]["volumes"] == 1
        assert len(st["mounts"]) == 1
        mt = st["mounts"][0]
        missing = MOUNT_FIELDS - set(mt)
        assert not missing, f"mount object lacks {sorted(missing)}: {mt}"
        assert mt["volume"] == "v" and mt["readonly"] is True
        assert os.path.realpath(mt["mountpoint"]) == os.path.realpath(m)


def test_other_commands_json_print_empty_object(store, daemon):
    create_volume(store, "old")
    assert ctl_json("volume", "rename", "old", "new", store=store) == {}
    names = [v["name"] for v in ctl_json("volume", "list", store=store)["volumes"]]
    assert names == ["new"]
    assert ctl_json("volume", "rm", "new", store=store) == {}
    assert ctl_json("volume", "list", store=store) == {"volumes": []}


def test_human_output_lists_volumes(store, daemon):
    create_volume(store, "alpha")
    cp = ok(run_ctl("volume", "list", store=store))
    assert "alpha" in cp.stdout
    cp = ok(run_ctl("status", store=store))
    assert cp.stdout.strip()


def test_ctl_uses_cstorfs_store_environment_variable(store, daemon):
    env = product_env({"CSTORFS_STORE": store})
    ok(run_ctl("volume", "create", "viaenv", env=env))
    names = [v["name"] for v in ctl_json("volume", "list", store=store)["volumes"]]
    assert names == ["viaenv"]


def test_ctl_starts_daemon_when_none_runs(store):
    assert not daemon_pids(store)
    v = ctl_json("volume", "create", "auto", store=store)
    assert v["name"] == "auto"
    pid = read_pidfile(store)
    assert pid_alive(pid), "the client must have started a daemon"
    sock = os.path.join(store, "cstorfsd.sock")
    assert os.path.exists(sock)


# ------------------------------------------------------------------ errors

def test_unknown_volume_exits_4(store, daemon, work):
    mnt = work / "mnt"
    mnt.mkdir()
    assert_error(run_ctl("volume", "inspect", "nosuch", store=store), EXIT_NOTFOUND, "nosuch")
    assert_error(run_ctl("volume", "rm", "nosuch", store=store), EXIT_NOTFOUND, "nosuch")
    assert_error(run_ctl("volume", "rename", "nosuch", "other", store=store), EXIT_NOTFOUND, "nosuch")
    assert_error(run_ctl("mount", "nosuch", str(mnt), store=store), EXIT_NOTFOUND, "nosuch")
    assert_error(run_mount(f"{store}:nosuch", mnt), EXIT_NOTFOUND, "nosuch", prog="cstorfs")
    assert not is_fuse_mount(mnt)


@pytest.mark.parametrize("name", BAD_NAMES, ids=["empty", "dot", "dotdot", "slash", "root", "256-bytes"])
def test_invalid_volume_name_exits_2(store, daemon, name):
    cp = run_ctl("volume", "create", name, store=store)
    assert_error(cp, EXIT_USAGE, ("name", "too long") if name else "name")
    assert ctl_json("volume", "list", store=store) == {"volumes": []}, "nothing may be created"


def test_invalid_names_in_rename_and_mount_command_exit_2(store, daemon, work):
    create_volume(store, "v")
    mnt = work / "mnt"
    mnt.mkdir()
    for bad in ("..", "a/b", "x" * 256, ""):
        assert_error(run_ctl("volume", "rename", "v", bad, store=store), EXIT_USAGE)
    for bad in ("", "..", "."):
        assert_error(run_mount(f"{store}:{bad}", mnt), EXIT_USAGE, prog="cstorfs")
    assert_error(run_mount(f"{store}:{'x' * 256}", mnt), EXIT_USAGE, prog="cstorfs")
    assert not is_fuse_mount(mnt)


def test_255_byte_volume_name_is_accepted(store, daemon):
    name = "n" * 255
    v = ctl_json("volume", "create", name, store=store)
    assert v["name"] == name


def test_duplicate_volume_exits_5(store, daemon):
    create_volume(store, "dup")
    assert_error(run_ctl("volume", "create", "dup", store=store), EXIT_EXISTS, ("exist", "dup"))
    create_volume(store, "other")
    assert_error(run_ctl("volume", "rename", "other", "dup", store=store), EXIT_EXISTS)


def test_remove_mounted_volume_is_busy_unless_forced(store, daemon, work):
    create_volume(store, "v")
    mnt = work / "mnt"
    mnt.mkdir()
    ok(run_mount(f"{store}:v", mnt))
    assert_error(run_ctl("volume", "rm", "v", store=store), EXIT_EXISTS, ("busy", "mounted", "in use"))
    assert is_fuse_mount(mnt)
    ok(run_ctl("volume", "rm", "v", "--force", store=store))
    assert not is_fuse_mount(mnt), "rm --force must unmount first"
    assert ctl_json("volume", "list", store=store) == {"volumes": []}


def test_mount_point_missing_exits_4(store, daemon, work):
    create_volume(store, "v")
    missing = work / "does-not-exist"
    assert_error(run_mount(f"{store}:v", missing), EXIT_NOTFOUND, str(missing), prog="cstorfs")
    assert_error(run_ctl("mount", "v", str(missing), store=store), EXIT_NOTFOUND)
    assert not missing.exists(), "the mount command must not create the mount point"


def test_mount_point_not_empty_exits_5(store, daemon, work):
    create_volume(store, "v")
    mnt = work / "full"
    mnt.mkdir()
    (mnt / "occupant").write_text("here first")
    assert_error(run_mount(f"{store}:v", mnt), EXIT_EXISTS, ("empty", str(mnt)), prog="cstorfs")
    assert_error(run_ctl("mount", "v", str(mnt), store=store), EXIT_EXISTS)
    assert not is_fuse_mount(mnt)
    assert (mnt / "occupant").read_text() == "here first"
    # and the volume was not left marked as mounted
    v = ctl_json("volume", "inspect", "v", store=store)
    assert v["mounted"] is False and v["mounts"] == []


def test_unknown_mount_option_is_refused(store, daemon, work):
    create_volume(store, "v")
    mnt = work / "mnt"
    mnt.mkdir()
    cp = run_mount(f"{store}:v", mnt, "-o", "bogus_option")
    assert cp.returncode != 0, describe(cp)
    assert "bogus_option" in cp.stderr, describe(cp)
    assert len(cp.stderr.strip().splitlines()) == 1, describe(cp)
    assert not is_fuse_mount(mnt)


def bdi(mnt, knob):
    dev = os.stat(mnt).st_dev
    with open(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/{knob}") as f:
        return int(f.read())


def test_mount_tunes_kernel_readahead_and_dirty_share(store, daemon, work):
    """Sequential reads arrive as the kernel's read-ahead and scattered writes
    stall on the mount's dirty page share: the daemon sets the mount's bdi to
    8 MiB and 10% unless readahead_kb / dirty_ratio say otherwise (0 keeps the
    kernel's own; a read-only mount keeps the kernel's dirty share)."""
    create_volume(store, "v")
    with mounted(store, "v", work / "m1") as m:
        assert (bdi(m, "read_ahead_kb"), bdi(m, "max_ratio")) == (8192, 10)
        data = os.urandom(3 << 20)
        (m / "f").write_bytes(data)
    with mounted(store, "v", work / "m2", opts="readahead_kb=2048,dirty_ratio=30") as m:
        assert (bdi(m, "read_ahead_kb"), bdi(m, "max_ratio")) == (2048, 30)
        assert (m / "f").read_bytes() == data
    with mounted(store, "v", work / "m3", opts="readahead_kb=0,dirty_ratio=0") as m:
        assert bdi(m, "read_ahead_kb") not in (8192, 2048) and bdi(m, "max_ratio") == 1
        assert (m / "f").read_bytes() == data
    with mounted(store, "v", work / "m4", opts="ro") as m:
        assert (bdi(m, "read_ahead_kb"), bdi(m, "max_ratio")) == (8192, 1)
        assert (m / "f").read_bytes() == data


@pytest.mark.parametrize("bad", ["readahead_kb=", "readahead_kb=abc", "readahead_kb=-1",
                                 "readahead_kb=1048577", "readahead_kb=99999999999",
                                 "dirty_ratio=101", "dirty_ratio=1.5", "dirty_ratio="])
def test_bad_bdi_option_is_refused(store, daemon, work, bad):
    create_volume(store, "v")
    mnt = work / "mnt"
    mnt.mkdir()
    cp = run_mount(f"{store}:v", mnt, "-o", bad)
    assert cp.returncode != 0, describe(cp)
    name = bad.split("=")[0]
    assert f"mount option {name} must be" in cp.stderr, describe(cp)
    assert not is_fuse_mount(mnt)


def test_mount_spec_without_colon_exits_2(store, daemon, work):
    mnt = work / "mnt"
    mnt.mkdir()
    assert_error(run_mount(str(store), mnt), EXIT_USAGE, prog="cstorfs")
    cp = run([MOUNT])
    assert cp.returncode == EXIT_USAGE and cp.stderr.strip(), "expected exit 2 and a usage message\n" + describe(cp)


def test_usage_errors_exit_2(store, daemon):
    assert_error(run_ctl("frobnicate", store=store), EXIT_USAGE, "frobnicate")
    for args in (["volume"], ["volume", "create"], ["volume", "create", "a", "extra"],
                 ["volume", "create", "a", "--quota"], ["mount", "a"]):
        cp = run_ctl(*args, store=store)
        assert cp.returncode == EXIT_USAGE and cp.stderr.strip(), \
            "expected exit 2 and a message on stderr\n" + describe(cp)
    assert ctl_json("volume", "list", store=store) == {"volumes": []}


def junk_dir(work):
    d = work / "notastore"
    d.mkdir()
    files = {"README.txt": b"my notes\n", "data.bin": os.urandom(4096), "photo.jpg": os.urandom(777)}
    for k, v in files.items():
        (d / k).write_bytes(v)
    return d, files


def assert_junk_untouched(d, files):
    for k, v in files.items():
        assert (d / k).read_bytes() == v, f"{k} was changed"
    assert not (d / "db").exists(), "a store was created inside a directory that is not a store"


def test_directory_that_is_not_a_store_is_refused_by_daemon(janitor, work):
    d, files = junk_dir(work)
    janitor.stores.append(str(d))
    cp = run([CSTORFSD, "--store", d, "--foreground"], timeout=30)
    assert cp.returncode == 1, f"expected exit 1, seen {cp.returncode}\n" + describe(cp)
    assert "store" in cp.stderr.lower(), "expected a message about the store\n" + describe(cp)
    assert_junk_untouched(d, files)


def test_directory_that_is_not_a_store_is_refused_by_clients(janitor, work):
    d, files = junk_dir(work)
    janitor.stores.append(str(d))
    mnt = work / "mnt"
    mnt.mkdir()
    assert_error(run_ctl("volume", "list", store=d), EXIT_DAEMON, "store")
    assert_error(run_mount(f"{d}:v", mnt), EXIT_DAEMON, "store", prog="cstorfs")
    assert not daemon_pids(d)
    assert_junk_untouched(d, files)


def test_second_daemon_on_a_store_in_use_exits_3(store, daemon):
    cp = run([CSTORFSD, "--store", store, "--foreground"], timeout=30)
    assert cp.returncode == 3, f"expected exit 3 (store in use), seen {cp.returncode}\n" + describe(cp)
    msg = cp.stderr.lower()
    assert any(w in msg for w in ("in use", "already running", "busy", "locked")), \
        "expected a message saying the store is in use\n" + describe(cp)
    assert pid_alive(daemon), "the running daemon must be unharmed"
    assert read_pidfile(store) == daemon, "the pid file must still name the running daemon"
    ok(run_ctl("status", store=store))


def test_foreground_daemon_runs_and_stops_on_daemon_stop(store, janitor, work):
    with open(work / "fg.log", "wb") as log:
        p = subprocess.Popen([str(CSTORFSD), "--store", store, "--foreground", "--create"],
                             env=product_env(), stdout=log, stderr=log)
    janitor.procs.append(p)
    wait_until(lambda: daemon_answers(store) or p.poll() is not None, timeout=10, what="socket")
    assert p.poll() is None, f"foreground daemon exited {p.returncode}: {(work / 'fg.log').read_text()}"
    v = ctl_json("volume", "create", "fg", store=store)
    assert v["name"] == "fg"
    assert read_pidfile(store) == p.pid
    ok(run_ctl("daemon", "stop", store=store))
    try:
        rc = p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        raise AssertionError("foreground daemon did not exit after `daemon stop`")
    assert rc == 0, f"expected exit 0 on a clean stop, seen {rc}"


def test_stale_socket_is_replaced_at_start(store, daemon):
    create_volume(store, "v")
    os.kill(daemon, 9)
    wait_until(lambda: not pid_alive(daemon), timeout=10, what="daemon to die")
    assert os.path.exists(os.path.join(store, "cstorfsd.sock")), "socket file expected to remain"
    names = [v["name"] for v in ctl_json("volume", "list", store=store)["volumes"]]
    assert names == ["v"]
    assert pid_alive(read_pidfile(store)) and read_pidfile(store) != daemon


def test_rename_of_mounted_volume_is_busy(store, daemon, work):
    create_volume(store, "v")
    with mounted(store, "v", work / "mnt"):
        assert_error(run_ctl("volume", "rename", "v", "w", store=store), EXIT_EXISTS,
                     ("busy", "mounted", "in use"))
    names = [v["name"] for v in ctl_json("volume", "list", store=store)["volumes"]]
    assert names == ["v"]


def test_unlinked_open_file_is_released_on_close(store, daemon, work):
    create_volume(store, "v")
    with mounted(store, "v", work / "mnt") as m:
        fd = os.open(m / "f", os.O_RDWR | os.O_CREAT, 0o644)
        os.write(fd, b"x" * 200_000)
        os.fsync(fd)
        os.unlink(m / "f")
        assert ctl_json("volume", "inspect", "v", store=store)["stats"]["inodes"] == 2, \
            "an unlinked file held open still exists"
        os.close(fd)
        wait_until(lambda: ctl_json("volume", "inspect", "v", store=store)["stats"]["inodes"] == 1,
                   timeout=5, what="the orphan to be released after close (inodes back to 1)")
        st = ctl_json("volume", "inspect", "v", store=store)["stats"]
        assert st["logical_bytes"] == 0, f"expected no data left, seen {st}"


def test_quota_sets_statvfs_size_and_refuses_writes_beyond(store, daemon, work):
    import errno as _errno
    quota, chunk = 4 << 20, 64 << 10
    ok(run_ctl("volume", "create", "q", "--quota", "4M", store=store))
    for rnd in range(4):                  # the writeback races differ each time
        data = os.urandom(8 << 20)        # no chunk of it is all zeros
        with mounted(store, "q", work / "mnt") as m:
            s = os.statvfs(m)
            assert s.f_blocks * s.f_frsize == quota, \
                f"expected f_blocks*f_frsize = {quota}, seen {s.f_blocks}*{s.f_frsize}"
            fd = os.open(m / "big", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            err = None
            try:
                for i in range(8):
                    os.write(fd, data[i << 20:(i + 1) << 20])
                os.fsync(fd)
            except OSError as e:
                err = e
            finally:
                try:
                    os.close(fd)
                except OSError as e:
                    err = err or e
            assert err is not None and err.errno == _errno.EDQUOT, \
                f"round {rnd}: writing 8 MiB into a 4 MiB quota: expected EDQUOT, seen {err!r}"
        # What the store kept: each chunk is either the data written there or
        # a hole (a refused write writes nothing), within the quota, and the
        # volume's logical_bytes counter equals the data actually held (a
        # chunk's trailing zero bytes are not stored, so not counted).
        with mounted(store, "q", work / "mnt") as m:
            got = (m / "big").read_bytes()
            held = 0
            for off in range(0, len(got), chunk):
                piece = got[off:off + chunk]
                if piece == data[off:off + len(piece)]:
                    # chunks are stored without their trailing zeros (they read
                    # back as zeros, like a hole), so those bytes are not held
                    held += len(piece.rstrip(b"\0"))
                else:
                    assert piece == bytes(len(piece)), \
                        f"round {rnd}: chunk at {off} is neither the data written nor a hole"
            v = ctl_json("volume", "inspect", "q", store=store)
            assert held <= quota, f"round {rnd}: quota {quota} exceeded: {held} bytes of data held"
            assert v["stats"]["logical_bytes"] == held, \
                (f"round {rnd}: logical_bytes: expected {held} (the data bytes the file holds, "
                 f"size {len(got)}), seen {v['stats']['logical_bytes']}")
            os.unlink(m / "big")
            with open(m / "small", "wb") as f:
                f.write(b"fits")
            assert os.path.getsize(m / "small") == 4, "after freeing space, writes must work again"
            os.unlink(m / "small")


def test_store_held_by_another_process_is_in_use(store, daemon, work, janitor):
    ok(run_ctl("volume", "create", "v", store=store))
    ok(run_ctl("daemon", "stop", store=store))
    lock = os.path.join(store, "cstorfs.lock")
    assert os.path.exists(lock), "the store's lock file STORE/cstorfs.lock is missing"
    holder = subprocess.Popen(
        [PYTHON, "-c", "import fcntl, os, sys, time\n"
                       "fd = os.open(sys.argv[1], os.O_RDWR)\n"
                       "fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
                       "print('locked', flush=True)\n"
                       "time.sleep(120)\n", lock],
        stdout=subprocess.PIPE, text=True)
    janitor.procs.append(holder)
    assert holder.stdout.readline().strip() == "locked"
    mnt = work / "mnt"
    mnt.mkdir()
    assert_error(run_ctl("volume", "list", store=store), EXIT_DAEMON, ("in use", "busy", "locked"))
    assert_error(run_mount(f"{store}:v", mnt), EXIT_DAEMON, ("in use", "busy", "locked"), prog="cstorfs")
    cp = run([CSTORFSD, "--store", store, "--foreground"], timeout=30)
    assert cp.returncode == 3, f"expected exit 3 (store in use), seen {cp.returncode}\n" + describe(cp)
    assert not is_fuse_mount(mnt)
    holder.kill()
    holder.wait()
    names = [v["name"] for v in ctl_json("volume", "list", store=store)["volumes"]]
    assert names == ["v"], "the store must open once the other process lets go"


def test_volume_counters_match_what_the_volume_holds(store, daemon, work):
    create_volume(store, "v")
    sizes = {"empty": 0, "one": 1, "inline": 2048, "over": 2049, "chunk": 65536,
             "chunk1": 65537, "big": 300_000}
    with mounted(store, "v", work / "mnt") as m:
        for name, n in sizes.items():
            (m / name).write_bytes(bytes((i * 7 + n) & 0xFF for i in range(n)))
        os.mkdir(m / "dir")
        os.link(m / "big", m / "dir" / "big-link")        # one inode, counted once
        with open(m / "chunk1", "r+b") as f:             # overwrite, extending it
            f.seek(100)
            f.write(b"z" * 70_000)
        sizes["chunk1"] = 70_100
        os.truncate(m / "big", 150_000)                   # shrink
        sizes["big"] = 150_000
        os.unlink(m / "one")
        del sizes["one"]
        fd = os.open(m / "big", os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    want_inodes = 1 + 1 + len(sizes)                      # root, dir, files
    want_bytes = sum(sizes.values())
    v = ctl_json("volume", "inspect", "v", store=store)["stats"]
    seen = (v["inodes"], v["apparent_bytes"], v["logical_bytes"])
    assert seen == (want_inodes, want_bytes, want_bytes), \
        f"(inodes, apparent_bytes, logical_bytes): expected {(want_inodes, want_bytes, want_bytes)}, seen {seen}"
    st = ctl_json("status", store=store)["stats"]
    assert (st["volumes"], st["inodes"], st["logical_bytes"]) == (1, want_inodes, want_bytes), st
    assert st["chunks"] > 0 and st["raw_bytes"] > 0 and st["stored_bytes"] > 0, st


def test_bytes_flag_prints_exact_sizes(store, daemon):
    ok(run_ctl("volume", "create", "q", "--quota", "1G", store=store))
    exact = ok(run_ctl("--bytes", "volume", "list", store=store)).stdout
    assert "1073741824" in exact, f"--bytes: expected the quota as 1073741824, seen {exact!r}"
    human = ok(run_ctl("volume", "list", store=store)).stdout
    assert "1073741824" not in human and ("1G" in human or "1.0G" in human or "1 G" in human), \
        f"human output: expected the quota in human units (1G/1.0GiB), seen {human!r}"
