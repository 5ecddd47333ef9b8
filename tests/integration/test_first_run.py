"""Every entry point started from a state a user's machine really has (issue 13, item 3).

No fixture prepares a store here: each test starts from a store path that does not exist, or
from what real use and a crash leave (a daemon killed with kill -9: stale pid, lock and socket
files, a dead FUSE mount), or from a store written by another version of cstorfs (a format
this build does not read). Entry points: cstorfs-ctl, the `cstorfs` mount command,
`mount -t fuse3` and an /etc/fstab line after `make install`, the FlexVolume driver, and the
systemd unit shipped for the Docker plugin (systemd-analyze verify). `make run` in a fresh
checkout, the Docker plugin and the README's own command blocks have their modules:
test_readme.py and test_docker_first_run.py.
"""

import ctypes
import ctypes.util
import os
import shutil
from pathlib import Path

import pytest

from conftest import (
    BUILD, EXIT_DAEMON, EXIT_NOTFOUND, REPO, assert_error, ctl_json, daemon_answers,
    daemon_pids, describe, is_fuse_mount, kill9, mount_info, mounted, ok, read_pidfile, run,
    run_ctl, run_mount, wait_until, write_synced,
)
from hostenv import PATH_INSTALLED, installed  # noqa: F401 (a fixture)
from flexenv import call as flex_call, expect as flex_expect, flex_env, kube_options, pod_dir

UNIT = REPO / "plugin-shims" / "docker" / "cstorfs-docker-plugin.service"


@pytest.fixture
def nowhere(janitor, work):
    """A store path that does not exist yet (its parent does), cleaned up by the janitor."""
    store = work / "store"
    janitor.stores.append(str(store))
    return str(store)


def crash(store):
    """kill -9 the store's daemon, as the OOM killer would; its files stay behind."""
    pid = read_pidfile(store)
    assert pid, "no daemon pid file"
    kill9(pid)
    wait_until(lambda: not daemon_pids(store), timeout=10, what="the daemon to die")
    for f in ("cstorfsd.pid", "cstorfsd.sock", "cstorfs.lock"):
        assert Path(store, f).exists(), f"kill -9 should have left {f}"
    assert not daemon_answers(store)


# --------------------------------------------------------------------------
# cstorfs-ctl
# --------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["absent", "empty directory"])
def test_ctl_creates_the_store_it_is_pointed_at(nowhere, state):
    if state == "empty directory":
        os.mkdir(nowhere)
    ok(run_ctl("volume", "create", "web", "--compression", "zstd:3", "--quota", "10G",
               store=nowhere))
    assert Path(nowhere, "db").is_dir()
    vols = ctl_json("volume", "list", store=nowhere)["volumes"]
    assert [v["name"] for v in vols] == ["web"]
    assert ctl_json("status", store=nowhere)["stats"]["volumes"] == 1


def test_ctl_read_commands_start_a_daemon_on_a_new_store(nowhere):
    """The first command a user types may be a read: it answers (empty), not an error."""
    cp = ok(run_ctl("volume", "list", store=nowhere))
    assert cp.stdout.split("\n")[0].split()[0] == "NAME", cp.stdout
    ok(run_ctl("status", store=nowhere))
    assert_error(run_ctl("volume", "inspect", "web", store=nowhere), EXIT_NOTFOUND, "web")


def test_ctl_after_the_daemon_stopped(nowhere):
    ok(run_ctl("volume", "create", "web", store=nowhere))
    ok(run_ctl("daemon", "stop", store=nowhere))
    wait_until(lambda: not daemon_pids(nowhere), timeout=10, what="the daemon to stop")
    for f in ("cstorfsd.pid", "cstorfsd.sock"):
        assert not Path(nowhere, f).exists(), f"a clean stop left {f}"
    assert ctl_json("volume", "inspect", "web", store=nowhere)["name"] == "web"
    assert daemon_pids(nowhere)


def test_ctl_and_mount_after_the_daemon_was_killed(nowhere, work):
    """kill -9 while mounted: stale pid, lock and socket files, a dead mount. The next
    command starts a new daemon; the dead mount is unmounted as the README says; the fsynced
    data is there."""
    ok(run_ctl("volume", "create", "web", store=nowhere))
    mnt = work / "web"
    mnt.mkdir()
    ok(run_mount(f"{nowhere}:web", mnt))
    write_synced(mnt / "f", b"fsynced\n")
    crash(nowhere)
    with pytest.raises(OSError):
        os.statvfs(mnt)
    vols = ctl_json("volume", "list", store=nowhere)["volumes"]
    assert [v["name"] for v in vols] == ["web"] and not vols[0]["mounted"], vols
    ok(run(["fusermount3", "-u", mnt]))
    assert not is_fuse_mount(mnt)
    with mounted(nowhere, "web", mnt) as m:
        assert (m / "f").read_bytes() == b"fsynced\n"


def test_ctl_unmount_clears_the_dead_mount_of_a_killed_daemon(nowhere, work):
    """The README's other way to unmount, `cstorfs-ctl unmount MNT`, also works on a mount
    whose daemon died."""
    ok(run_ctl("volume", "create", "web", store=nowhere))
    mnt = work / "web"
    mnt.mkdir()
    ok(run_mount(f"{nowhere}:web", mnt))
    crash(nowhere)
    ok(run_ctl("unmount", mnt, store=nowhere))
    assert not is_fuse_mount(mnt)
    with mounted(nowhere, "web", mnt):
        pass


def test_the_daemon_started_by_hand_after_a_crash(nowhere):
    """cstorfsd itself (as a systemd unit would start it) on the stale files."""
    ok(run_ctl("volume", "create", "web", store=nowhere))
    crash(nowhere)
    ok(run([BUILD / "cstorfsd", "--store", nowhere]))
    wait_until(lambda: daemon_answers(nowhere), timeout=10, what="the new daemon")
    assert ctl_json("volume", "inspect", "web", store=nowhere)["name"] == "web"


# ---- a store of another version's format

def _rocksdb():
    name = ctypes.util.find_library("rocksdb")
    assert name, "librocksdb not found (librocksdb-dev, scripts/deps.sh)"
    lib = ctypes.CDLL(name)
    p, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    pcp = ctypes.POINTER(cp)
    for fn, res, args in [
            ("rocksdb_options_create", p, []),
            ("rocksdb_options_destroy", None, [p]),
            ("rocksdb_open_column_families", p,
             [p, cp, ctypes.c_int, pcp, ctypes.POINTER(p), ctypes.POINTER(p), pcp]),
            ("rocksdb_readoptions_create", p, []),
            ("rocksdb_readoptions_destroy", None, [p]),
            ("rocksdb_writeoptions_create", p, []),
            ("rocksdb_writeoptions_destroy", None, [p]),
            ("rocksdb_get_cf", p, [p, p, p, cp, sz, ctypes.POINTER(sz), pcp]),
            ("rocksdb_put_cf", None, [p, p, p, cp, sz, cp, sz, pcp]),
            ("rocksdb_free", None, [p]),
            ("rocksdb_column_family_handle_destroy", None, [p]),
            ("rocksdb_close", None, [p])]:
        f = getattr(lib, fn)
        f.restype, f.argtypes = res, args
    return lib


def set_store_format(store, version):
    """Rewrite the format version in the store's superblock (meta key "\\0SB": magic
    "CSTORFS\\0", then the version as a big-endian u32; store/cs_store.c) through RocksDB's
    C library, as a newer cstorfs would have written it. Returns the old version."""
    lib = _rocksdb()
    opts = lib.rocksdb_options_create()
    names = (ctypes.c_char_p * 3)(b"default", b"meta", b"chunks")
    cfo = (ctypes.c_void_p * 3)(opts, opts, opts)
    h = (ctypes.c_void_p * 3)()
    err = ctypes.c_char_p()
    db = lib.rocksdb_open_column_families(opts, str(Path(store, "db")).encode(), 3, names, cfo,
                                          h, ctypes.byref(err))
    assert not err.value, err.value
    ro, wo = lib.rocksdb_readoptions_create(), lib.rocksdb_writeoptions_create()
    try:
        n = ctypes.c_size_t()
        v = lib.rocksdb_get_cf(db, ro, h[1], b"\0SB", 3, ctypes.byref(n), ctypes.byref(err))
        assert not err.value and v, f"no superblock: {err.value!r}"
        sb = bytearray(ctypes.string_at(v, n.value))
        lib.rocksdb_free(v)
        assert sb[:8] == b"CSTORFS\0", sb
        old = int.from_bytes(sb[8:12], "big")
        sb[8:12] = version.to_bytes(4, "big")
        lib.rocksdb_put_cf(db, wo, h[1], b"\0SB", 3, bytes(sb), len(sb), ctypes.byref(err))
        assert not err.value, err.value
        return old
    finally:
        for x in h:
            lib.rocksdb_column_family_handle_destroy(x)
        lib.rocksdb_close(db)
        lib.rocksdb_readoptions_destroy(ro)
        lib.rocksdb_writeoptions_destroy(wo)
        lib.rocksdb_options_destroy(opts)


def test_a_store_of_a_newer_format_is_refused_clearly_and_left_alone(nowhere, work):
    ok(run_ctl("volume", "create", "web", store=nowhere))
    ok(run_ctl("daemon", "stop", store=nowhere))
    wait_until(lambda: not daemon_pids(nowhere), timeout=10, what="the daemon to stop")
    old = set_store_format(nowhere, 1000)
    mnt = work / "web"
    mnt.mkdir()
    want = ("format 1000", f"reads {old}")
    assert_error(run_ctl("volume", "list", store=nowhere), EXIT_DAEMON, *want)
    assert_error(run_ctl("status", store=nowhere), EXIT_DAEMON, *want)
    assert_error(run_mount(f"{nowhere}:web", mnt), EXIT_DAEMON, *want, prog="cstorfs")
    cp = run([BUILD / "cstorfsd", "--store", nowhere, "--foreground"], timeout=30)
    assert cp.returncode == 1 and "format 1000" in cp.stderr, describe(cp)
    assert not daemon_pids(nowhere) and not is_fuse_mount(mnt)
    # Nothing was changed: with its format back, the store opens with its volume.
    assert set_store_format(nowhere, old) == 1000
    assert ctl_json("volume", "inspect", "web", store=nowhere)["name"] == "web"


# --------------------------------------------------------------------------
# The mount command
# --------------------------------------------------------------------------

@pytest.mark.parametrize("state", ["absent", "empty directory"])
def test_cstorfs_mount_with_no_store(nowhere, work, state):
    """`cstorfs STORE:web MNT` on a new machine: the store is made, the missing volume is
    a one-line "does not exist" (exit 4), and the README's next steps then work."""
    if state == "empty directory":
        os.mkdir(nowhere)
    mnt = work / "web"
    mnt.mkdir()
    assert_error(run_mount(f"{nowhere}:web", mnt), EXIT_NOTFOUND, "web", "does not exist",
                 prog="cstorfs")
    assert not is_fuse_mount(mnt)
    assert Path(nowhere, "db").is_dir()
    ok(run_ctl("volume", "create", "web", store=nowhere))
    with mounted(nowhere, "web", mnt) as m:
        (m / "f").write_text("hello\n")
        assert (m / "f").read_text() == "hello\n"


# --------------------------------------------------------------------------
# make install, then mount -t fuse3 and /etc/fstab
# --------------------------------------------------------------------------

def test_make_install_then_mount_t_fuse3_and_an_fstab_line(installed, nowhere, work):
    """README "Using it": after `make install`, `mount -t fuse3 'cstorfs#STORE:web' MNT` and
    the documented fstab line, mounted with `mount MNT`, with the installed programs only (no
    build directory on PATH) and a store that does not exist yet."""
    fstab = installed
    env = {"PATH": PATH_INSTALLED}
    mnt = work / "web"
    mnt.mkdir()
    ok(run(["cstorfs-ctl", "--store", nowhere, "volume", "create", "web"], env=env))
    ok(run(["cstorfs-ctl", "--store", nowhere, "daemon", "stop"], env=env))
    wait_until(lambda: not daemon_pids(nowhere), timeout=10, what="the daemon to stop")

    cp = run(["mount", "-t", "fuse3", f"cstorfs#{nowhere}:web", mnt], env=env)
    assert cp.returncode == 0, describe(cp)
    assert is_fuse_mount(mnt)
    (mnt / "f").write_text("via mount -t fuse3\n")
    ok(run(["umount", mnt], env=env))
    wait_until(lambda: not is_fuse_mount(mnt), timeout=10, what="unmount")

    # The README's fstab line, with this test's store and mount point.
    line = f"cstorfs#{nowhere}:web  {mnt}  fuse3  allow_other,nofail  0 0\n"
    with open(fstab, "a") as f:
        f.write(line)
    cp = run(["mount", str(mnt)], env=env)
    assert cp.returncode == 0, describe(cp)
    assert is_fuse_mount(mnt)
    assert (mnt / "f").read_text() == "via mount -t fuse3\n"
    fs, src, opts = mount_info(mnt)
    assert fs == "fuse.cstorfs" or fs.startswith("fuse"), fs
    assert "allow_other" in opts.split(","), opts
    ok(run(["umount", mnt], env=env))
    wait_until(lambda: not is_fuse_mount(mnt), timeout=10, what="unmount")


# --------------------------------------------------------------------------
# The FlexVolume driver
# --------------------------------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="kubelet runs drivers as root")
def test_flexvolume_with_no_store_and_no_daemon_then_after_a_crash(nowhere, work, janitor):
    """kubelet's first call on a new node: init, then mount with create: "true" on a store
    that does not exist and no daemon; then, after kill -9 of that daemon, mount again."""
    env = flex_env(nowhere, work / "flex.log")
    flex_expect(flex_call("init", env=env, procs=janitor.procs), "Success")
    assert not Path(nowhere).exists(), "init must not touch the store"
    pod = pod_dir(work, "web-0")
    flex_expect(flex_call("mount", pod, kube_options(volume="web", create="true"), env=env,
                          procs=janitor.procs), "Success")
    assert is_fuse_mount(pod) and Path(nowhere, "db").is_dir()
    write_synced(pod / "index.html", b"hello\n")
    flex_expect(flex_call("unmount", pod, env=env, procs=janitor.procs), "Success")
    assert not is_fuse_mount(pod)

    crash(nowhere)
    pod2 = pod_dir(work, "web-1")
    flex_expect(flex_call("mount", pod2, kube_options(volume="web", pod="web-1"), env=env,
                          procs=janitor.procs), "Success")
    assert (pod2 / "index.html").read_bytes() == b"hello\n"
    flex_expect(flex_call("unmount", pod2, env=env, procs=janitor.procs), "Success")


# --------------------------------------------------------------------------
# The systemd unit
# --------------------------------------------------------------------------

def test_the_docker_plugin_unit_passes_systemd_analyze_verify(work):
    """systemd-analyze verify (Debian's systemd package; it needs no systemd as PID 1) on
    the unit as the README installs it: /etc/systemd/system/ and the plugin in
    /usr/local/sbin, inside a root directory (--root) holding a copy of the system's own
    units. It must print nothing. A broken copy of the unit must be reported (the check
    can fail)."""
    sa = shutil.which("systemd-analyze")
    if not sa:
        pytest.fail("systemd-analyze is missing (package systemd, scripts/deps.sh test)")
    root = work / "root"
    units = Path("/usr/lib/systemd/system")
    shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "usr/local/sbin").mkdir(parents=True)
    shutil.copy2(BUILD / "cstorfs-docker-plugin", root / "usr/local/sbin")
    (root / "etc/systemd/system").mkdir(parents=True)
    unit = root / "etc/systemd/system" / UNIT.name
    shutil.copy2(UNIT, unit)
    cp = run([sa, "verify", f"--root={root}", unit])
    assert cp.returncode == 0 and not cp.stdout.strip() and not cp.stderr.strip(), describe(cp)

    bad = root / "etc/systemd/system/cstorfs-docker-plugin-broken.service"
    bad.write_text(UNIT.read_text().replace("KillMode=process", "KillMode=processes"))
    cp = run([sa, "verify", f"--root={root}", bad])
    assert "kill mode" in (cp.stdout + cp.stderr).lower(), \
        "systemd-analyze did not see a broken unit\n" + describe(cp)
