"""cstorfs-docker-plugin spoken to directly: the Docker volume plugin protocol
(shared/PROTOCOLS.md) over its unix socket, every endpoint, every error and
the call sequences dockerd, docker cp and dvdcli/Mesos really send."""

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import (
    api, ctl_json, daemon_pids, is_fuse_mount, kill9, new_store, ok, run_ctl, wait_until,
)
from dockerenv import (
    PLUGIN, PluginProc, call_err, call_ok, plugin_call, socket_answers, sweep_mounts,
)

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


class Env:
    def __init__(self, work, janitor):
        self.work = Path(work)
        self.store = new_store(janitor, work)
        self.root = self.work / "m"
        self.sock = str(self.work / "p.sock")
        self.plugin = PluginProc(self.store, self.sock, self.root, self.work / "plugin.log")

    def call(self, endpoint, body=None):
        return call_ok(self.sock, endpoint, body)

    def err(self, endpoint, body=None, *mentions, raw=None):
        return call_err(self.sock, endpoint, body, raw, *mentions)

    def path(self, name):
        return str(Path(os.path.realpath(self.root)) / name)

    def create(self, name, **opts):
        return self.call("VolumeDriver.Create", {"Name": name, "Opts": opts or None})

    def mount(self, name, id_=None):
        body = {"Name": name}
        if id_ is not None:
            body["ID"] = id_
        return self.call("VolumeDriver.Mount", body)["Mountpoint"]

    def unmount(self, name, id_=None):
        body = {"Name": name}
        if id_ is not None:
            body["ID"] = id_
        return self.call("VolumeDriver.Unmount", body)

    def get(self, name):
        return self.call("VolumeDriver.Get", {"Name": name})["Volume"]

    def mounted(self, name):
        return is_fuse_mount(self.path(name))


@pytest.fixture
def env(work, janitor, request):
    assert os.access(PLUGIN, os.X_OK), f"{PLUGIN} missing (run make)"
    e = Env(work, janitor)

    def fin():
        e.plugin.stop()
        sweep_mounts(e.root)
        if os.path.exists(e.sock):
            os.unlink(e.sock)
    request.addfinalizer(fin)
    e.plugin.start()
    return e


# ---------------------------------------------------------------- endpoints

def test_activate_answers_volumedriver_for_an_empty_body(env):
    st, ans = plugin_call(env.sock, "Plugin.Activate", raw=b"")
    assert (st, ans) == (200, {"Implements": ["VolumeDriver"]})


def test_capabilities_scope_is_local(env):
    assert env.call("VolumeDriver.Capabilities", {}) == {"Capabilities": {"Scope": "local"}}


def test_get_of_unknown_volume_is_an_err(env):
    env.err("VolumeDriver.Get", {"Name": "nosuch"}, "nosuch", "not found")


def test_create_get_list_remove(env):
    assert env.create("v1") == {}
    v = env.get("v1")
    assert v["Name"] == "v1" and v["Mountpoint"] == ""
    assert RFC3339.match(v["CreatedAt"]), f"CreatedAt not RFC 3339: {v['CreatedAt']!r}"
    for key in ("used", "logical_bytes", "stored_bytes", "compression_ratio", "origin",
                "snapshots", "mounts"):
        assert key in v["Status"], f"Status lacks {key!r}: {v['Status']}"
    vols = env.call("VolumeDriver.List", {})["Volumes"]
    assert {"Name": "v1", "Mountpoint": ""} in vols
    assert env.call("VolumeDriver.Remove", {"Name": "v1"}) == {}
    env.err("VolumeDriver.Get", {"Name": "v1"}, "not found")
    assert all(x["Name"] != "v1" for x in env.call("VolumeDriver.List", {})["Volumes"])


def test_create_with_null_opts_as_docker_run_sends(env):
    assert env.call("VolumeDriver.Create", {"Name": "implicit", "Opts": None}) == {}
    assert env.get("implicit")["Name"] == "implicit"


def test_create_applies_compression_and_quota_and_keeps_the_options(env):
    env.create("c", compression="zstd:7", quota="10M")
    vol = ctl_json("volume", "inspect", "c", store=env.store)
    assert vol["compression"] == "zstd:7"
    assert vol["quota"] == 10 * 1024 * 1024
    st = env.get("c")["Status"]
    assert st["options"] == {"compression": "zstd:7", "quota": "10M"}
    assert st["compression"] == "zstd:7"


def test_create_compression_none(env):
    env.create("plain", compression="none")
    assert ctl_json("volume", "inspect", "plain", store=env.store)["compression"] == "none"


@pytest.mark.parametrize("opts,mention", [
    ({"bogus": "1"}, "bogus"),
    ({"compression": "lz4"}, "compression"),
    ({"compression": "zstd:99"}, "compression"),
    ({"quota": "lots"}, "quota"),
    ({"from": "novolume"}, "from"),
    ({"from": "nosuch@snap"}, "from"),
    ({"compression": 5}, "compression"),
])
def test_create_refuses_a_bad_option_naming_it(env, opts, mention):
    env.err("VolumeDriver.Create", {"Name": "bad", "Opts": opts}, mention)
    env.err("VolumeDriver.Get", {"Name": "bad"}, "not found")


def test_create_of_an_existing_volume_fails(env):
    env.create("dup")
    env.err("VolumeDriver.Create", {"Name": "dup"}, "dup", "exists")


@pytest.mark.parametrize("name", ["", "a/b", ".", "..", "x" * 256, "a@b"])
@pytest.mark.parametrize("endpoint", ["VolumeDriver.Create", "VolumeDriver.Get",
                                      "VolumeDriver.Mount", "VolumeDriver.Remove"])
def test_invalid_names_are_refused(env, endpoint, name):
    env.err(endpoint, {"Name": name, "ID": "i"}, "name")


def test_a_name_with_nul_is_refused(env):
    env.err("VolumeDriver.Create", None, "NUL", raw=b'{"Name": "a\\u0000b"}\n')
    env.err("VolumeDriver.Get", {"Name": "a"}, "not found")


def test_a_255_byte_name_works(env):
    name = "n" * 255
    env.create(name)
    assert env.mount(name, "id") == env.path(name)
    env.unmount(name, "id")
    env.call("VolumeDriver.Remove", {"Name": name})


def test_keys_are_accepted_in_any_case(env):
    env.call("VolumeDriver.Create", {"NAME": "case", "opts": {"Compression": "zstd:2"}})
    assert ctl_json("volume", "inspect", "case", store=env.store)["compression"] == "zstd:2"
    mp = env.call("VolumeDriver.Mount", {"name": "case", "id": "x"})["Mountpoint"]
    assert env.call("VolumeDriver.Path", {"nAmE": "case"})["Mountpoint"] == mp
    env.call("VolumeDriver.Unmount", {"Name": "case", "Id": "x"})
    assert not env.mounted("case")


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("raw,mention", [
    (b"{not json", "JSON"),
    (b"[1, 2]", "object"),
    (b"null", "object"),
    (b"{}", "Name"),
    (b"", "Name"),
    (b'{"Name": 17}', "string"),
    (b'{"Name": "v", "Opts": "x=y"}', "Opts"),
])
def test_bad_requests_get_an_err_object(env, raw, mention):
    env.err("VolumeDriver.Create", None, mention, raw=raw)
    assert env.call("VolumeDriver.Capabilities", {})  # still serving


def test_an_id_that_is_not_a_string_is_refused(env):
    env.create("v")
    env.err("VolumeDriver.Mount", None, "ID", raw=b'{"Name": "v", "ID": []}')
    assert not env.mounted("v")
    assert env.call("VolumeDriver.Capabilities", {})  # still serving


def test_a_10_mib_body_is_refused_and_the_plugin_survives(env):
    env.err("VolumeDriver.Create", None, "larger", raw=b"{" + b" " * (10 << 20) + b"}")
    assert env.plugin.proc.poll() is None
    assert env.call("VolumeDriver.Capabilities", {})


def test_unknown_endpoint_and_method_get_an_err_object(env):
    env.err("VolumeDriver.Frobnicate", {}, "unknown")
    st, ans = plugin_call(env.sock, "VolumeDriver.List", method="GET")
    assert isinstance(ans, dict) and "POST" in ans.get("Err", ""), (st, ans)


def test_a_content_type_header_is_not_required_nor_refused(env):
    for hdrs in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/json"}):
        st, ans = plugin_call(env.sock, "VolumeDriver.Capabilities", {}, headers=hdrs)
        assert st == 200 and ans["Capabilities"]["Scope"] == "local"


def test_remove_of_an_unknown_volume_is_an_err(env):
    env.err("VolumeDriver.Remove", {"Name": "ghost"}, "ghost", "not found")


def test_mount_of_an_unknown_volume_is_an_err(env):
    env.err("VolumeDriver.Mount", {"Name": "ghost", "ID": "a"}, "not found")
    assert not os.path.exists(env.path("ghost"))


def test_path_of_an_unknown_volume_is_an_err(env):
    env.err("VolumeDriver.Path", {"Name": "ghost"}, "not found")


# ------------------------------------------------------- counted mount IDs

def test_repeated_mount_returns_the_same_path_and_ids_are_counted(env):
    env.create("v")
    mp = env.mount("v", "A")
    assert mp == env.path("v") and env.mounted("v")
    assert env.mount("v", "A") == mp
    assert env.mount("v", "B") == mp
    assert env.get("v")["Status"]["mounts"] == 3
    env.unmount("v", "A")
    assert env.mounted("v")
    env.unmount("v", "A")
    assert env.mounted("v"), "B still holds the volume"
    env.unmount("v", "B")
    assert not env.mounted("v")
    assert env.call("VolumeDriver.Path", {"Name": "v"})["Mountpoint"] == ""


def test_docker_cp_sequence_keeps_the_container_mount(env):
    """docker cp on a running container: Mount/Unmount with the ID the
    container holds already."""
    env.create("v")
    mp = env.mount("v", "ctr")
    Path(mp, "keep").write_text("1")
    env.mount("v", "ctr")
    env.unmount("v", "ctr")
    assert env.mounted("v") and Path(mp, "keep").read_text() == "1"
    env.unmount("v", "ctr")
    assert not env.mounted("v")


def test_container_creation_copy_pair_then_the_container_mount(env):
    env.create("v")
    mp = env.mount("v", "copy-id")
    Path(mp, "from-image").write_text("x")
    env.unmount("v", "copy-id")
    assert not env.mounted("v")
    assert env.mount("v", "ctr") == mp
    assert Path(mp, "from-image").read_text() == "x"
    env.unmount("v", "ctr")


def test_unmount_of_unknown_id_or_volume_succeeds(env):
    env.create("v")
    assert env.unmount("v", "never") == {}
    assert env.unmount("ghost", "x") == {}
    env.mount("v", "A")
    env.unmount("v", "other")
    assert env.mounted("v")
    env.unmount("v", "A")


def test_idless_mounts_share_one_holder_released_by_one_unmount(env):
    """dvdcli (Mesos) mounts per container without an ID and unmounts once."""
    env.create("v")
    mp = env.call("VolumeDriver.Mount", {"Name": "v"})["Mountpoint"]
    assert env.call("VolumeDriver.Mount", {"Name": "v"})["Mountpoint"] == mp
    assert env.call("VolumeDriver.Mount", {"Name": "v", "ID": ""})["Mountpoint"] == mp
    assert env.get("v")["Status"]["mounts"] == 1
    env.call("VolumeDriver.Unmount", {"Name": "v"})
    assert not env.mounted("v")


def test_idless_holder_and_an_id_are_independent(env):
    env.create("v")
    env.mount("v")
    env.mount("v", "ctr")
    env.unmount("v")
    assert env.mounted("v")
    env.unmount("v")  # nothing left to release without an ID
    assert env.mounted("v")
    env.unmount("v", "ctr")
    assert not env.mounted("v")


def test_remove_is_refused_while_mounted(env):
    env.create("busy")
    env.mount("busy", "c1")
    env.err("VolumeDriver.Remove", {"Name": "busy"}, "busy", "in use")
    assert env.get("busy")["Name"] == "busy"
    env.unmount("busy", "c1")
    env.call("VolumeDriver.Remove", {"Name": "busy"})


def test_path_get_and_list_report_the_mountpoint_only_while_mounted(env):
    env.create("v")
    assert env.call("VolumeDriver.Path", {"Name": "v"})["Mountpoint"] == ""
    mp = env.mount("v", "i")
    assert env.call("VolumeDriver.Path", {"Name": "v"})["Mountpoint"] == mp
    assert env.get("v")["Mountpoint"] == mp
    assert {"Name": "v", "Mountpoint": mp} in env.call("VolumeDriver.List", {})["Volumes"]
    env.unmount("v", "i")
    assert env.get("v")["Mountpoint"] == ""


def test_get_status_reports_usage_and_references(env):
    env.create("v", compression="zstd:3")
    mp = env.mount("v", "c1")
    Path(mp, "data").write_bytes(b"abc" * 100000)
    os.sync()
    st = wait_until(lambda: (lambda s: s if s["logical_bytes"] >= 300000 else None)(
        env.get("v")["Status"]), timeout=10, what="logical_bytes to count the write")
    assert st["stored_bytes"] > 0
    assert float(st["compression_ratio"].rstrip("x")) > 1.0, st
    assert st["references"] == {"c1": 1} and st["mounts"] == 1
    env.unmount("v", "c1")


def test_concurrent_mounts_and_unmounts_balance(env):
    env.create("v")
    errors = []

    def worker(i):
        try:
            for _ in range(5):
                env.mount("v", f"id{i}")
                env.unmount("v", f"id{i}")
        except AssertionError as e:
            errors.append(e)
    env.mount("v", "holder")
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    assert env.get("v")["Status"]["references"] == {"holder": 1}
    env.unmount("v", "holder")
    assert not env.mounted("v")


# ---------------------------------------------------------- snapshots, clones

def test_clone_from_a_snapshot(env):
    env.create("orig")
    mp = env.mount("orig", "w")
    Path(mp, "hello").write_text("from orig")
    os.sync()
    ok(run_ctl("snapshot", "create", "orig@s1", store=env.store))
    Path(mp, "hello").write_text("changed later")
    env.unmount("orig", "w")
    env.create("clone", **{"from": "orig@s1"})
    st = env.get("clone")["Status"]
    assert st["origin"] == "orig@s1"
    assert "s1" in env.get("orig")["Status"]["snapshots"]
    cmp_ = env.mount("clone", "r")
    assert Path(cmp_, "hello").read_text() == "from orig"
    env.unmount("clone", "r")


def test_clone_of_a_missing_snapshot_is_refused(env):
    env.create("orig")
    env.err("VolumeDriver.Create", {"Name": "c", "Opts": {"from": "orig@nope"}}, "from")


# ---------------------------------------------------------------- restarts

def test_references_and_definitions_survive_a_plugin_restart(env):
    env.create("v", compression="zstd:4")
    mp = env.mount("v", "A")
    env.mount("v", "A")
    Path(mp, "f").write_text("still here")
    env.plugin.restart()
    assert env.mounted("v"), "the live mount was not adopted"
    assert Path(mp, "f").read_text() == "still here"
    st = env.get("v")["Status"]
    assert st["references"] == {"A": 2} and st["options"] == {"compression": "zstd:4"}
    env.unmount("v", "A")
    assert env.mounted("v")
    env.unmount("v", "A")
    assert not env.mounted("v")


def test_restart_after_kill_9_removes_the_stale_socket(env):
    env.create("v")
    env.mount("v", "A")
    env.plugin.kill()
    assert os.path.exists(env.sock) and not socket_answers(env.sock)
    env.plugin.start()
    assert env.mounted("v")
    assert env.get("v")["Status"]["references"] == {"A": 1}
    env.unmount("v", "A")


def test_refuses_to_start_while_a_live_plugin_answers(env):
    other = PluginProc(env.store, env.sock, env.root, env.work / "other.log").start(wait=False)
    try:
        assert other.proc.wait(timeout=15) == 3, other.logtext()
    finally:
        other.stop()
    assert "already" in other.logtext()
    assert env.call("VolumeDriver.Capabilities", {})


def test_socket_is_removed_on_exit(env):
    assert os.path.exists(env.sock)
    assert env.plugin.stop() == 0
    assert not os.path.exists(env.sock)


def test_references_of_an_earlier_boot_are_dropped_at_start(env):
    env.create("v")
    env.mount("v", "old")
    env.plugin.stop()
    stale = '{"version":1,"refs":[{"id":"old","count":3,"boot":"not-this-boot"}]}'
    st, ans = api(env.store, "PATCH", "/v1/volumes/v/props", {"docker.refs": stale})
    assert st == 200, ans
    env.plugin.start()
    assert not env.mounted("v"), "a mount held only by an earlier boot stayed"
    assert env.get("v")["Status"]["references"] == {}
    env.call("VolumeDriver.Remove", {"Name": "v"})


def test_unreferenced_mount_left_behind_is_unmounted_at_start(env):
    env.create("v")
    env.mount("v", "A")
    env.plugin.stop()
    st, ans = api(env.store, "PATCH", "/v1/volumes/v/props", {"docker.refs": None})
    assert st == 200, ans
    env.plugin.start()
    assert not env.mounted("v")


def test_dead_mount_is_detached_and_remounted_at_start(env):
    env.create("v")
    mp = env.mount("v", "A")
    Path(mp, "f").write_text("persisted")
    os.sync()
    env.plugin.stop()
    for pid in daemon_pids(env.store):
        kill9(pid)
    wait_until(lambda: not daemon_pids(env.store), timeout=10, what="daemon to die")
    with pytest.raises(OSError):
        os.statvfs(mp)
    env.plugin.start()
    assert env.mounted("v")
    assert Path(mp, "f").read_text() == "persisted"
    env.unmount("v", "A")
    assert not env.mounted("v")


def test_a_daemon_that_went_away_is_started_again(env):
    env.create("v")
    ok(run_ctl("daemon", "stop", store=env.store))
    wait_until(lambda: not daemon_pids(env.store), timeout=10, what="daemon to stop")
    assert any(v["Name"] == "v" for v in env.call("VolumeDriver.List", {})["Volumes"])
    assert daemon_pids(env.store)
