"""cstorfs volumes under a REAL dockerd (Debian's docker.io), started by this
module on a private API socket, data root and exec root, without networking,
with the plugin on /run/docker/plugins/cstorfs.sock (where dockerd looks).
Containers run a docker-import'ed image of Debian's static busybox."""

import json
import os
import tempfile
import time
from pathlib import Path

import pytest

from conftest import fuse_mounts_under, ok, run_ctl, wait_until
from dockerenv import (
    DOCKER_PLUGIN_SOCK, Dockerd, PLUGIN, PluginProc, busybox_tar, cleanup_socket, have_docker,
    remove_tree, socket_answers, stop_store_daemon, sweep_mounts,
)

IMAGE = "cstorfs-busybox:test"


class World:
    def __init__(self, base):
        self.base = base
        self.store = str(base / "store")
        self.root = base / "mounts"
        self.dockerd = Dockerd(base / "docker")
        self.plugin = PluginProc(self.store, DOCKER_PLUGIN_SOCK, self.root, base / "plugin.log")

    def docker(self, *args, **kw):
        return self.dockerd.docker(*args, **kw)

    def run(self, vol_spec, *cmd, extra=()):
        """docker run --rm -v VOL_SPEC IMAGE sh -c CMD -> stdout."""
        cp = self.docker("run", "--rm", "--network", "none", *extra, "-v", vol_spec, IMAGE,
                         "sh", "-c", " ".join(cmd))
        return cp.stdout

    def start(self, name, vol_spec, *extra):
        """A long-running container (sleep) with the volume."""
        self.docker("run", "-d", "--name", name, "--network", "none", *extra, "-v", vol_spec,
                    IMAGE, "sleep", "600")
        return name

    def create(self, name, *opts):
        args = ["volume", "create", "-d", "cstorfs"]
        for o in opts:
            args += ["-o", o]
        return self.docker(*args, name)

    def inspect(self, name):
        return json.loads(self.docker("volume", "inspect", name).stdout)[0]

    def mounted(self):
        return fuse_mounts_under(self.root)


@pytest.fixture(scope="module")
def world(request):
    if not have_docker():
        pytest.skip("docker.io and busybox-static are not installed (scripts/deps.sh test)")
    assert os.access(PLUGIN, os.X_OK), f"{PLUGIN} missing (run make)"
    if socket_answers(DOCKER_PLUGIN_SOCK):
        pytest.skip(f"a cstorfs plugin already answers on {DOCKER_PLUGIN_SOCK}; not touching it")
    base = Path(tempfile.mkdtemp(prefix="csdk-", dir="/tmp"))  # short: socket paths
    w = World(base)

    def fin():
        try:
            w.dockerd.remove_everything()
        finally:
            w.dockerd.stop()
            w.plugin.stop()
            stop_store_daemon(w.store)
            sweep_mounts(base)
            if not socket_answers(DOCKER_PLUGIN_SOCK):
                cleanup_socket(DOCKER_PLUGIN_SOCK)
            remove_tree(base)
    request.addfinalizer(fin)
    w.plugin.start()
    w.dockerd.start()
    w.docker("import", busybox_tar(base / "rootfs.tar"), IMAGE)
    return w


@pytest.fixture
def dw(world):
    """The world, with every container removed after the test."""
    yield world
    world.dockerd.remove_everything()


def test_volume_create_ls_inspect_rm(dw):
    dw.create("ev1", "compression=zstd:3", "quota=1G")
    ls = dw.docker("volume", "ls", "--format", "{{.Driver}} {{.Name}}").stdout.split("\n")
    assert "cstorfs ev1" in ls
    v = dw.inspect("ev1")
    assert v["Driver"] == "cstorfs" and v["Scope"] == "local"
    assert v["Status"]["compression"] == "zstd:3" and v["Status"]["quota"] == "1G"
    assert v["CreatedAt"], v
    dw.docker("volume", "rm", "ev1")
    assert "ev1" not in dw.docker("volume", "ls", "-q").stdout.split()


def test_a_bad_option_is_refused_naming_it(dw):
    cp = dw.docker("volume", "create", "-d", "cstorfs", "-o", "bogus=1", "ev2", check=False)
    assert cp.returncode != 0 and "bogus" in cp.stderr, cp.stderr
    assert "ev2" not in dw.docker("volume", "ls", "-q").stdout.split()


def test_written_data_is_read_back_by_another_container(dw):
    dw.create("ev3")
    dw.run("ev3:/data", "echo persisted > /data/f")
    assert dw.run("ev3:/data", "cat /data/f") == "persisted\n"
    assert not dw.mounted(), "the volume stayed mounted after its containers ended"


def test_implicit_volume_from_docker_run(dw):
    out = dw.run("ev4:/data", "echo x > /data/y && cat /data/y", extra=("--volume-driver",
                                                                       "cstorfs"))
    assert out == "x\n"
    assert dw.inspect("ev4")["Driver"] == "cstorfs"


def test_two_containers_share_a_volume_at_once(dw):
    dw.create("ev5")
    dw.start("c5a", "ev5:/data")
    dw.start("c5b", "ev5:/data")
    dw.docker("exec", "c5a", "sh", "-c", "echo from-a > /data/a")
    assert dw.docker("exec", "c5b", "cat", "/data/a").stdout == "from-a\n"
    dw.docker("exec", "c5b", "sh", "-c", "echo from-b > /data/b")
    assert dw.docker("exec", "c5a", "cat", "/data/b").stdout == "from-b\n"
    assert dw.inspect("ev5")["Status"]["mounts"] == 2
    dw.docker("rm", "-f", "c5a")
    assert dw.docker("exec", "c5b", "cat", "/data/a").stdout == "from-a\n"
    dw.docker("rm", "-f", "c5b")
    assert not dw.mounted()


def test_docker_cp_into_and_out_of_a_running_container(dw, tmp_path):
    dw.create("ev6")
    dw.start("c6", "ev6:/data")
    src = tmp_path / "in.txt"
    src.write_text("copied in\n")
    dw.docker("cp", src, "c6:/data/in.txt")
    assert dw.docker("exec", "c6", "cat", "/data/in.txt").stdout == "copied in\n"
    dw.docker("exec", "c6", "sh", "-c", "echo made inside > /data/out.txt")
    dw.docker("cp", "c6:/data/out.txt", tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text() == "made inside\n"
    # The container keeps its mount after docker cp's Mount/Unmount pairs.
    dw.docker("exec", "c6", "sh", "-c", "echo after > /data/after")
    assert dw.docker("exec", "c6", "cat", "/data/after").stdout == "after\n"
    assert dw.inspect("ev6")["Status"]["mounts"] == 1
    dw.docker("rm", "-f", "c6")
    assert not dw.mounted()


def test_image_files_are_copied_into_an_empty_volume_with_owners(dw):
    dw.create("ev7")
    out = dw.run("ev7:/seeded", "stat -c '%u:%g %a' /seeded/seed.txt && cat /seeded/seed.txt")
    assert out == "1234:5678 640\nfrom the image\n"
    # Copied into the volume itself: seen without the image's help.
    assert dw.run("ev7:/data", "cat /data/seed.txt") == "from the image\n"


def test_a_clone_of_a_snapshot_is_seen_by_a_third_container(dw):
    dw.create("ev8")
    dw.run("ev8:/data", "echo version-1 > /data/v && sync")
    ok(run_ctl("snapshot", "create", "ev8@s1", store=dw.store))
    dw.run("ev8:/data", "echo version-2 > /data/v")
    dw.create("ev8clone", "from=ev8@s1")
    assert dw.inspect("ev8clone")["Status"]["origin"] == "ev8@s1"
    assert dw.run("ev8clone:/data", "cat /data/v") == "version-1\n"
    assert dw.run("ev8:/data", "cat /data/v") == "version-2\n"


def test_removal_is_refused_while_in_use(dw):
    dw.create("ev9")
    dw.start("c9", "ev9:/data")
    cp = dw.docker("volume", "rm", "ev9", check=False)
    assert cp.returncode != 0 and "in use" in cp.stderr, cp.stderr
    dw.docker("rm", "-f", "c9")
    dw.docker("volume", "rm", "ev9")


def test_everything_still_works_after_restarting_the_plugin(dw):
    dw.create("ev10", "compression=zstd:2")
    dw.start("c10", "ev10:/data")
    dw.docker("exec", "c10", "sh", "-c", "echo before > /data/f")
    dw.plugin.restart()
    assert dw.docker("exec", "c10", "cat", "/data/f").stdout == "before\n"
    assert dw.inspect("ev10")["Status"]["mounts"] == 1
    assert dw.run("ev10:/data", "cat /data/f") == "before\n"
    dw.docker("rm", "-f", "c10")
    assert not dw.mounted()
    assert dw.inspect("ev10")["Status"]["options"] == {"compression": "zstd:2"}


def test_everything_still_works_after_restarting_dockerd(dw):
    dw.create("ev11", "quota=512M")
    dw.run("ev11:/data", "echo durable > /data/f")
    dw.start("c11", "ev11:/data")
    dw.dockerd.restart()  # stops c11: its Unmount is sent
    wait_until(lambda: not dw.mounted(), timeout=20, what="the volume to be unmounted")
    assert "ev11" in dw.docker("volume", "ls", "-q").stdout.split()
    assert dw.inspect("ev11")["Status"]["quota"] == "512M"
    dw.docker("start", "c11")
    assert dw.docker("exec", "c11", "cat", "/data/f").stdout == "durable\n"
    dw.docker("rm", "-f", "c11")
    assert dw.run("ev11:/data", "cat /data/f") == "durable\n"
    assert not dw.mounted()
