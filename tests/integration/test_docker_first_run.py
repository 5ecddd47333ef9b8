"""The Docker volume plugin started from the states a new or crashed host really has (issue 13).

No fixture prepares a store here. The legacy (socket) plugin, `cstorfs-docker-plugin`, is
started on a store directory that does not exist (the README's systemd path on a new machine),
on an empty directory, on a directory an older plugin left holding only an empty mount root,
and on a store whose daemon and plugin were killed with kill -9 (stale pid, lock and socket
files, a dead FUSE mount); its mount root is the default (STORE/mounts), another directory
inside the store, or one outside it. Each run must create volumes, mount, write, unmount and
leave a directory that the daemon still recognises as a store.

The managed (v2) plugin is built by plugin-shims/docker/build-managed-plugin.sh and installed
in a real dockerd (dockerenv.Dockerd: private data root, exec root and API socket, no
networking) with `docker plugin create` / `docker plugin enable`, then used by `docker run -v`,
from an empty store directory and again after disabling it killed its daemon.
"""

import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import (
    BUILD, REPO, ctl_json, daemon_pids, describe, fuse_mounts_under, is_fuse_mount, kill9,
    product_env, read_pidfile, run, wait_until,
)
from dockerenv import (
    DOCKER, PLUGIN, Dockerd, busybox_tar, call_ok, have_docker, remove_tree, socket_answers,
    stop_store_daemon, sweep_mounts,
)

BUILD_MANAGED = REPO / "plugin-shims" / "docker" / "build-managed-plugin.sh"


class Plugin:
    """cstorfs-docker-plugin --store STORE --socket SOCK [--mount-root ROOT], as a child:
    without @root the plugin picks its default (STORE/mounts)."""

    def __init__(self, store, sock, root, log):
        self.store, self.sock, self.root, self.log = str(store), str(sock), root, Path(log)
        self.proc = None

    def start(self):
        argv = [str(PLUGIN), "--store", self.store, "--socket", self.sock, "--debug"]
        if self.root is not None:
            argv += ["--mount-root", str(self.root)]
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf, env=product_env())
        wait_until(lambda: self.proc.poll() is not None or socket_answers(self.sock),
                   timeout=15, what=f"plugin socket {self.sock}")
        assert self.proc.poll() is None, f"the plugin exited {self.proc.returncode}:\n" + \
            self.logtext()
        call_ok(self.sock, "Plugin.Activate")  # waits for the recovery at start
        return self

    def stop(self, sig=signal.SIGTERM):
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def call(self, endpoint, body=None):
        return call_ok(self.sock, endpoint, body)

    def logtext(self):
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


@pytest.fixture
def host(work, janitor, request):
    """A directory standing for the host: nothing in it yet. Registers the store path
    (STORE, not created) for the janitor and stops every plugin started through it."""
    started = []
    store = work / "store"
    janitor.stores.append(str(store))

    def plugin(root="default", sock=None):
        where = {"default": None, "inside": store / "vols", "outside": work / "m"}
        p = Plugin(store, sock or work / "p.sock", where.get(root, root), work / "plugin.log")
        started.append(p)
        return p

    def fin():
        for p in started:
            p.stop()
        stop_store_daemon(store)
        sweep_mounts(work)
    request.addfinalizer(fin)
    return store, plugin


def mount_root(store, root):
    return {"default": store / "mounts", "inside": store / "vols",
            "outside": store.parent / "m"}[root]


def prepare(store, state):
    """The store directory as a user's host has it before the plugin starts."""
    if state == "absent":
        assert not store.exists()
    elif state == "empty":
        store.mkdir(mode=0o700)
    elif state == "old-plugin-left-mounts":
        # What the plugin before issue 13 left on a new host: STORE/mounts and nothing else.
        (store / "mounts").mkdir(parents=True)
    else:
        raise AssertionError(state)


def use_volume(p, store, root, name="v1", text="hello from a container\n"):
    """What dockerd does for `docker volume create` then `docker run -v`: Create, Mount,
    (the container writes), Unmount, Mount again with another ID, read, Unmount."""
    p.call("VolumeDriver.Create", {"Name": name, "Opts": {"compression": "zstd:3"}})
    mp = p.call("VolumeDriver.Mount", {"Name": name, "ID": "c1"})["Mountpoint"]
    assert os.path.realpath(mp) == os.path.join(os.path.realpath(root), name), mp
    assert is_fuse_mount(mp), f"{mp} is not a FUSE mount"
    Path(mp, "greeting").write_text(text)
    p.call("VolumeDriver.Unmount", {"Name": name, "ID": "c1"})
    assert not is_fuse_mount(mp)
    mp = p.call("VolumeDriver.Mount", {"Name": name, "ID": "c2"})["Mountpoint"]
    assert Path(mp, "greeting").read_text() == text
    p.call("VolumeDriver.Unmount", {"Name": name, "ID": "c2"})
    names = [v["Name"] for v in p.call("VolumeDriver.List", {})["Volumes"]]
    assert name in names, names


def assert_still_a_store(store, *volumes):
    """The daemon, stopped and started again on the directory, recognises it as a store
    holding @volumes (whatever the plugin put beside the store's own files)."""
    stop_store_daemon(store)
    assert not daemon_pids(store)
    vols = ctl_json("volume", "list", store=str(store))["volumes"]
    assert sorted(v["name"] for v in vols) == sorted(volumes), vols
    assert (store / "db").is_dir()


@pytest.mark.parametrize("root", ["default", "inside", "outside"])
@pytest.mark.parametrize("state", ["absent", "empty", "old-plugin-left-mounts"])
def test_the_plugin_starts_from_nothing(host, state, root):
    store, plugin = host
    prepare(store, state)
    p = plugin(root).start()
    # the plugin recovers (and so starts the daemon, which creates the store) right after
    # it listens, beside the first calls: on a busy machine Activate can answer first
    wait_until(lambda: (store / "db").is_dir() or p.proc.poll() is not None, timeout=30,
               what="the plugin's start to create the store")
    assert (store / "db").is_dir(), "the plugin's start did not create the store\n" + \
        p.logtext()
    use_volume(p, store, mount_root(store, root))
    p.stop()
    assert_still_a_store(store, "v1")


def test_the_plugin_socket_may_live_in_the_store_directory(host):
    """Even the plugin's own socket inside a store directory that does not exist yet does
    not make the daemon refuse the directory."""
    store, plugin = host
    p = plugin("default", sock=store / "plugin.sock").start()
    use_volume(p, store, store / "mounts")
    p.stop()
    assert_still_a_store(store, "v1")


@pytest.mark.parametrize("root", ["default", "outside"])
def test_the_plugin_starts_on_a_store_left_by_a_crash(host, root):
    """kill -9 of the daemon and of the plugin while a container holds a mount: the next
    plugin finds stale pid, lock and socket files and a dead FUSE mount, and goes on."""
    store, plugin = host
    p = plugin(root).start()
    p.call("VolumeDriver.Create", {"Name": "v1"})
    mp = p.call("VolumeDriver.Mount", {"Name": "v1", "ID": "running"})["Mountpoint"]
    fd = os.open(Path(mp, "data"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"fsynced before the crash\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    pid = read_pidfile(store)
    p.stop(signal.SIGKILL)
    kill9(pid)
    wait_until(lambda: not daemon_pids(store), timeout=10, what="the daemon to die")
    for f in ("cstorfsd.pid", "cstorfsd.sock", "cstorfs.lock"):
        assert (store / f).exists(), f"kill -9 should have left {f}"
    assert Path(p.sock).exists() and not socket_answers(p.sock)
    with pytest.raises(OSError):
        os.statvfs(mp)  # the dead FUSE mount: ENOTCONN

    p = plugin(root).start()
    # The container still holds its reference: the volume is mounted again.
    assert is_fuse_mount(mp) and Path(mp, "data").read_text() == "fsynced before the crash\n"
    p.call("VolumeDriver.Unmount", {"Name": "v1", "ID": "running"})
    use_volume(p, store, mount_root(store, root), name="v2")
    p.stop()
    assert_still_a_store(store, "v1", "v2")


# --------------------------------------------------------------------------
# The managed (v2) plugin in a real dockerd
# --------------------------------------------------------------------------

IMAGE = "busybox"
PLUGIN_NAME = "cstorfs"


@pytest.fixture(scope="module")
def dockerd():
    if not have_docker():
        pytest.skip("docker.io and busybox-static are not installed (scripts/deps.sh test)")
    base = Path(tempfile.mkdtemp(prefix="csfr-", dir="/tmp"))  # short: socket paths
    d = Dockerd(base / "docker")
    try:
        d.start()
        d.docker("import", busybox_tar(base / "rootfs.tar"), IMAGE)
        yield d, base
    finally:
        try:
            if d.proc is not None and d.proc.poll() is None:
                d.remove_everything()
                d.docker("plugin", "rm", "-f", PLUGIN_NAME, check=False, timeout=60)
        finally:
            d.stop()
            sweep_mounts(base)
            for pid in daemon_pids(base / "store"):
                kill9(pid)
            remove_tree(base)


def managed_plugin_pids():
    """cstorfsd processes run by the managed plugin: /usr/sbin/cstorfsd on the plugin's
    /var/lib/cstorfs, in another mount namespace (the plugin's container)."""
    own = os.readlink("/proc/self/ns/mnt")
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            argv = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
            ns = os.readlink(f"/proc/{d}/ns/mnt")
        except OSError:
            continue
        if argv[0] == b"/usr/sbin/cstorfsd" and b"/var/lib/cstorfs" in argv and ns != own:
            pids.append(int(d))
    return pids


def test_the_managed_plugin_from_an_empty_store_then_after_its_daemon_was_killed(dockerd):
    """plugin-shims/docker/README.md, "Managed (v2) plugin": make, build-managed-plugin.sh
    NAME, mkdir -p the store, docker plugin enable, docker volume create, docker run -v. The
    host store is a temporary directory (`docker plugin set NAME store.source=DIR`, the
    documented way to choose it) instead of /var/lib/cstorfs."""
    d, base = dockerd
    store = base / "store"
    env = product_env({"BUILD": str(BUILD),
                       "DOCKER": f"{DOCKER} -H unix://{d.sock}"})
    cp = run([BUILD_MANAGED, PLUGIN_NAME], env=env, timeout=300)
    assert cp.returncode == 0, describe(cp)
    try:
        store.mkdir()  # the README's `sudo mkdir -p /var/lib/cstorfs`: an empty directory
        d.docker("plugin", "set", PLUGIN_NAME, f"store.source={store}")
        d.docker("plugin", "enable", PLUGIN_NAME)
        d.docker("volume", "create", "-d", PLUGIN_NAME, "-o", "compression=zstd:3", "data")
        out = d.docker("run", "--rm", "--network", "none", "-v", "data:/data", IMAGE, "sh", "-c",
                       "echo hello > /data/greeting && cat /data/greeting").stdout
        assert out == "hello\n"
        assert (store / "db").is_dir(), "the plugin did not create the store"
        # The host's cstorfs-ctl reaches the plugin's daemon through the store's socket.
        vols = ctl_json("volume", "list", store=str(store))["volumes"]
        assert [v["name"] for v in vols] == ["data"], vols
        assert vols[0]["compression"] == "zstd:3"
        ls = d.docker("volume", "ls", "--format", "{{.Driver}} {{.Name}}").stdout.split("\n")
        assert f"{PLUGIN_NAME}:latest data" in ls, ls

        # Disabling the plugin kills its daemon (the plugin's container ends): stale pid,
        # lock and socket files stay in the store. Enabling it again starts from them.
        pids = managed_plugin_pids()
        assert pids, "no cstorfsd found inside the plugin"
        d.docker("plugin", "disable", "-f", PLUGIN_NAME)
        wait_until(lambda: not managed_plugin_pids(), timeout=20,
                   what="the plugin's daemon to end")
        for f in ("cstorfsd.pid", "cstorfsd.sock"):
            assert (store / f).exists(), f"expected a stale {f} after the plugin was disabled"
        d.docker("plugin", "enable", PLUGIN_NAME)
        out = d.docker("run", "--rm", "--network", "none", "-v", "data:/data", IMAGE,
                       "cat", "/data/greeting").stdout
        assert out == "hello\n"
        info = json.loads(d.docker("volume", "inspect", "data").stdout)[0]
        assert info["Status"]["compression"] == "zstd:3", info
        d.docker("volume", "rm", "data")
        assert not fuse_mounts_under(d.data), "a volume stayed mounted"
    finally:
        d.remove_everything()
        d.docker("plugin", "rm", "-f", PLUGIN_NAME, check=False, timeout=60)
