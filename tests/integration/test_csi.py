"""The CSI plugin (issue 17), driven over its socket as the sidecars and kubelet drive it.

No kubelet runs here, so the tests are the other side of the wire: Python stubs generated from
our csi.proto at test time (csienv.generate_stubs) call the real `cstorfs-csi`, started from
nothing (an empty store directory, no daemon), through every call it serves, in the order the
external-provisioner, kubelet, the external-snapshotter and the external-resizer use them, and
through every error case the spec lists for each. Every call that changes something is
repeated to show it is idempotent; mounts are checked from the shell (findmnt, sh). The plugin
is stopped and every mount and daemon cleaned up on every path (csienv.Plugin.stop, conftest's
janitor).
"""

import os
import re

import pytest

from conftest import (REPO, ctl_json, daemon_pids, kill9, mounts, new_store, ok, run,
                      run_ctl, stop_daemon, wait_until)
from csienv import (MiB, NODE, TOPOLOGY_KEY, CSI, Plugin, findmnt, generate_stubs, sh,
                    target_dir)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the node plugin mounts as root "
                                "(shared mounts need root)")


@pytest.fixture(scope="session")
def stubs(tmp_path_factory):
    return generate_stubs(tmp_path_factory.mktemp("csi-stubs"))


@pytest.fixture
def csi(stubs, janitor, work):
    assert os.access(CSI, os.X_OK), f"{CSI} missing (run make)"
    store = new_store(janitor, work)
    p = None
    try:
        p = Plugin(stubs[0], stubs[1], work, store)
        janitor.procs.append(p.proc)
        yield p
    finally:
        if p is not None:
            code = p.stop()
            assert code == 0, f"cstorfs-csi did not stop cleanly on SIGTERM ({code})"
            assert not p.sock.exists(), "the socket stays after the plugin stopped"


def version():
    text = (REPO / "fs" / "cs_api.h").read_text()
    return re.search(r'#define CS_VERSION "([^"]+)"', text).group(1)


def volume_ids(p, **kw):
    r = p.ok(p.controller.ListVolumes, p.pb.ListVolumesRequest(**kw))
    return [e.volume.volume_id for e in r.entries], r.next_token


# --------------------------------------------------------------------------
# Identity, capabilities, node info
# --------------------------------------------------------------------------

def test_identity_probe_and_capabilities_from_nothing(csi):
    p, pb = csi, csi.pb
    info = p.ok(p.identity.GetPluginInfo, pb.GetPluginInfoRequest())
    assert (info.name, info.vendor_version) == ("cstorfs.csi", version())
    caps = p.ok(p.identity.GetPluginCapabilities, pb.GetPluginCapabilitiesRequest())
    svc = {pb.PluginCapability.Service.Type.Name(c.service.type)
           for c in caps.capabilities if c.HasField("service")}
    assert svc == {"CONTROLLER_SERVICE", "VOLUME_ACCESSIBILITY_CONSTRAINTS"}
    assert [c.volume_expansion.type for c in caps.capabilities
            if c.HasField("volume_expansion")] == [pb.PluginCapability.VolumeExpansion.ONLINE]
    # No daemon yet: not ready, and Probe does not start one.
    for _ in range(2):
        r = p.ok(p.identity.Probe, pb.ProbeRequest())
        assert r.HasField("ready") and r.ready.value is False
    ctl = p.ok(p.controller.ControllerGetCapabilities, pb.ControllerGetCapabilitiesRequest())
    assert {pb.ControllerServiceCapability.RPC.Type.Name(c.rpc.type) for c in ctl.capabilities} \
        == {"CREATE_DELETE_VOLUME", "LIST_VOLUMES", "GET_CAPACITY", "CREATE_DELETE_SNAPSHOT",
            "LIST_SNAPSHOTS", "CLONE_VOLUME", "EXPAND_VOLUME", "SINGLE_NODE_MULTI_WRITER"}
    node = p.ok(p.node_svc.NodeGetCapabilities, pb.NodeGetCapabilitiesRequest())
    assert {pb.NodeServiceCapability.RPC.Type.Name(c.rpc.type) for c in node.capabilities} \
        == {"GET_VOLUME_STATS", "EXPAND_VOLUME", "SINGLE_NODE_MULTI_WRITER", "VOLUME_MOUNT_GROUP"}
    ni = p.ok(p.node_svc.NodeGetInfo, pb.NodeGetInfoRequest())
    assert ni.node_id == NODE and dict(ni.accessible_topology.segments) == {TOPOLOGY_KEY: NODE}
    # The first call that needs the daemon starts it; Probe then says ready.
    assert list(p.ok(p.controller.ListVolumes, pb.ListVolumesRequest()).entries) == []
    assert p.ok(p.identity.Probe, pb.ProbeRequest()).ready.value is True
    stop_daemon(p.store)
    assert p.ok(p.identity.Probe, pb.ProbeRequest()).ready.value is False


def test_calls_not_offered_are_unimplemented(csi):
    p, pb = csi, csi.pb
    cap = p.cap()
    p.fails(p.controller.ControllerPublishVolume,
            pb.ControllerPublishVolumeRequest(volume_id="v", node_id=NODE,
                                              volume_capability=cap), "UNIMPLEMENTED")
    p.fails(p.controller.ControllerUnpublishVolume,
            pb.ControllerUnpublishVolumeRequest(volume_id="v"), "UNIMPLEMENTED")
    p.fails(p.controller.ControllerGetVolume, pb.ControllerGetVolumeRequest(volume_id="v"),
            "UNIMPLEMENTED")
    p.fails(p.node_svc.NodeStageVolume,
            pb.NodeStageVolumeRequest(volume_id="v", staging_target_path="/tmp",
                                      volume_capability=cap), "UNIMPLEMENTED")
    p.fails(p.node_svc.NodeUnstageVolume,
            pb.NodeUnstageVolumeRequest(volume_id="v", staging_target_path="/tmp"),
            "UNIMPLEMENTED")


# --------------------------------------------------------------------------
# The whole life of a volume, in the sidecars' order
# --------------------------------------------------------------------------

def provision(p):
    """external-provisioner: CreateVolume (twice), then the same name asked otherwise."""
    req = p.create("pvc-1", required=64 * MiB, params={
        "compression": "zstd:3", "csi.storage.k8s.io/pvc/name": "data"})
    v = p.ok(p.controller.CreateVolume, req).volume
    assert (v.volume_id, v.capacity_bytes) == ("pvc-1", 64 * MiB)
    assert [dict(t.segments) for t in v.accessible_topology] == [{TOPOLOGY_KEY: NODE}]
    assert p.ok(p.controller.CreateVolume, req).volume == v
    assert ctl_json("volume", "inspect", "pvc-1", store=p.store)["compression"] == "zstd:3"
    p.fails(p.controller.CreateVolume, p.create("pvc-1", required=64 * MiB,
                                                params={"compression": "none"}),
            "ALREADY_EXISTS", "other parameters")
    p.fails(p.controller.CreateVolume, p.create("pvc-1", required=128 * MiB,
                                                params={"compression": "zstd:3"}),
            "ALREADY_EXISTS", "quota")
    return v


def publish_and_write(p, work):
    """kubelet: NodePublishVolume (twice), a workload writes, stats, a reader pod."""
    t1 = target_dir(work, "pod-1")
    req = p.publish("pvc-1", t1)
    p.ok(p.node_svc.NodePublishVolume, req)
    p.ok(p.node_svc.NodePublishVolume, req)
    fstype, opts = findmnt(t1)
    assert fstype.startswith("fuse.cstorfs") and "rw" in opts
    assert sh(f"echo hello > {t1}/greeting && mkdir {t1}/dir && sync")[0] == 0
    st = p.stats("pvc-1", t1)
    assert st["BYTES"].total == 64 * MiB and 0 < st["BYTES"].used < st["BYTES"].total
    assert st["BYTES"].available == st["BYTES"].total - st["BYTES"].used
    assert st["INODES"].used >= 3 and st["INODES"].available > 0
    p.fails(p.node_svc.NodePublishVolume, p.publish("pvc-1", t1, readonly=True),
            "ALREADY_EXISTS", "read-write")
    # A second pod with a single-writer mode is refused; a reader-only mode is served.
    t2 = target_dir(work, "pod-2")
    p.fails(p.node_svc.NodePublishVolume, p.publish("pvc-1", t2, mode="SINGLE_NODE_SINGLE_WRITER"),
            "FAILED_PRECONDITION", "one target")
    p.ok(p.node_svc.NodePublishVolume, p.publish("pvc-1", t2, mode="MULTI_NODE_READER_ONLY"))
    assert "ro" in findmnt(t2)[1]
    assert sh(f"cat {t2}/greeting")[1] == "hello\n"
    code, out = sh(f"echo no > {t2}/other")
    assert code != 0 and "read-only" in out.lower()
    return t1, t2


def unpublish(p, vol, *targets):
    for t in targets:
        for _ in range(2):
            p.ok(p.node_svc.NodeUnpublishVolume, p.unpublish(vol, t))
        assert findmnt(t) is None and not t.exists()
    assert not [m for m in mounts() if m[0] in map(str, targets)]


def snapshot_and_restore(p, work):
    """external-snapshotter, then a PVC restored from the snapshot and one cloned."""
    req = p.pb.CreateSnapshotRequest(source_volume_id="pvc-1", name="snap-1")
    s = p.ok(p.controller.CreateSnapshot, req).snapshot
    assert (s.snapshot_id, s.source_volume_id, s.ready_to_use) == ("pvc-1@snap-1", "pvc-1", True)
    assert s.size_bytes > 0 and s.creation_time.seconds > 0
    assert p.ok(p.controller.CreateSnapshot, req).snapshot == s
    p.ok(p.controller.CreateVolume, p.create("other"))
    p.fails(p.controller.CreateSnapshot,
            p.pb.CreateSnapshotRequest(source_volume_id="other", name="snap-1"),
            "ALREADY_EXISTS", "pvc-1")
    rs = p.create("pvc-restored", snapshot="pvc-1@snap-1")
    v = p.ok(p.controller.CreateVolume, rs).volume
    assert v.content_source.snapshot.snapshot_id == "pvc-1@snap-1"
    assert v.capacity_bytes == 64 * MiB            # the origin's quota
    assert p.ok(p.controller.CreateVolume, rs).volume == v
    cl = p.create("pvc-clone", volume="pvc-1", required=64 * MiB)
    c = p.ok(p.controller.CreateVolume, cl).volume
    assert c.content_source.volume.volume_id == "pvc-1"
    assert p.ok(p.controller.CreateVolume, cl).volume == c
    for vol in ("pvc-restored", "pvc-clone"):
        t = target_dir(work, "pod-" + vol)
        p.ok(p.node_svc.NodePublishVolume, p.publish(vol, t))
        assert sh(f"cat {t}/greeting")[1] == "hello\n"
        unpublish(p, vol, t)


def expand(p, work):
    """external-resizer: ControllerExpandVolume online, then kubelet's NodeExpandVolume."""
    t = target_dir(work, "pod-3")
    p.ok(p.node_svc.NodePublishVolume, p.publish("pvc-1", t))
    r = p.ok(p.controller.ControllerExpandVolume, p.expand("pvc-1", 128 * MiB))
    assert (r.capacity_bytes, r.node_expansion_required) == (128 * MiB, False)
    assert p.ok(p.controller.ControllerExpandVolume, p.expand("pvc-1", 128 * MiB)) == r
    # Smaller than it is: nothing to do, the current size answers.
    assert p.ok(p.controller.ControllerExpandVolume,
                p.expand("pvc-1", 100 * MiB)).capacity_bytes == 128 * MiB
    n = p.pb.NodeExpandVolumeRequest(volume_id="pvc-1", volume_path=str(t),
                                     capacity_range=p.pb.CapacityRange(required_bytes=128 * MiB))
    assert p.ok(p.node_svc.NodeExpandVolume, n).capacity_bytes == 128 * MiB
    assert p.ok(p.node_svc.NodeExpandVolume, n).capacity_bytes == 128 * MiB
    assert p.stats("pvc-1", t)["BYTES"].total == 128 * MiB
    n.capacity_range.required_bytes = 256 * MiB
    p.fails(p.node_svc.NodeExpandVolume, n, "OUT_OF_RANGE", "ControllerExpandVolume")
    unpublish(p, "pvc-1", t)


def delete_all(p):
    """Deletion in dependency order; what still has dependants is FAILED_PRECONDITION."""
    dv = p.controller.DeleteVolume
    p.fails(dv, p.pb.DeleteVolumeRequest(volume_id="pvc-1"), "FAILED_PRECONDITION", "snapshot")
    p.fails(p.controller.DeleteSnapshot, p.pb.DeleteSnapshotRequest(snapshot_id="pvc-1@snap-1"),
            "FAILED_PRECONDITION")
    for _ in range(2):
        p.ok(dv, p.pb.DeleteVolumeRequest(volume_id="pvc-restored"))
    for _ in range(2):
        p.ok(p.controller.DeleteSnapshot, p.pb.DeleteSnapshotRequest(snapshot_id="pvc-1@snap-1"))
    # Its clone still depends on pvc-1 (through the snapshot made for it).
    p.fails(dv, p.pb.DeleteVolumeRequest(volume_id="pvc-1"), "FAILED_PRECONDITION", "clone")
    for vol in ("pvc-clone", "other"):
        for _ in range(2):
            p.ok(dv, p.pb.DeleteVolumeRequest(volume_id=vol))
    # The clone's own snapshot of pvc-1 went with the clone.
    snaps = p.ok(p.controller.ListSnapshots, p.pb.ListSnapshotsRequest(source_volume_id="pvc-1"))
    assert list(snaps.entries) == []
    for _ in range(2):
        p.ok(dv, p.pb.DeleteVolumeRequest(volume_id="pvc-1"))
    assert volume_ids(p) == ([], "")


def test_volume_lifecycle_in_the_sidecars_order(csi, work):
    p = csi
    provision(p)
    cap = p.pb.ValidateVolumeCapabilitiesRequest(
        volume_id="pvc-1", volume_capabilities=[p.cap(), p.cap("MULTI_NODE_READER_ONLY")])
    assert len(p.ok(p.controller.ValidateVolumeCapabilities, cap).confirmed.volume_capabilities) == 2
    t1, t2 = publish_and_write(p, work)
    p.fails(p.controller.DeleteVolume, p.pb.DeleteVolumeRequest(volume_id="pvc-1"),
            "FAILED_PRECONDITION", "published")
    unpublish(p, "pvc-1", t1, t2)
    snapshot_and_restore(p, work)
    expand(p, work)
    delete_all(p)


# --------------------------------------------------------------------------
# Node details: fsGroup, mount flags, a daemon that died
# --------------------------------------------------------------------------

def test_volume_mount_group_owns_the_root(csi, work):
    p = csi
    p.ok(p.controller.CreateVolume, p.create("grp"))
    t = target_dir(work, "pod-g")
    p.ok(p.node_svc.NodePublishVolume, p.publish("grp", t, group="4242"))
    st = os.stat(t)
    assert (st.st_gid, st.st_mode & 0o7777) == (4242, 0o2775)
    assert sh(f"mkdir {t}/sub")[0] == 0 and os.stat(t / "sub").st_gid == 4242
    p.fails(p.node_svc.NodePublishVolume, p.publish("grp", target_dir(work, "pod-h"), group="wheel"),
            "INVALID_ARGUMENT", "group")
    p.fails(p.node_svc.NodePublishVolume,
            p.publish("grp", target_dir(work, "pod-i"), mode="MULTI_NODE_READER_ONLY",
                      flags=["frobnicate"]), "INVALID_ARGUMENT", "frobnicate")
    assert not target_dir(work, "pod-i").exists()
    unpublish(p, "grp", t)


def test_multi_writer_targets_and_the_readonly_flag(csi, work):
    p = csi
    p.ok(p.controller.CreateVolume, p.create("mw", caps=[p.cap("SINGLE_NODE_MULTI_WRITER")]))
    t1, t2, t3 = (target_dir(work, f"pod-{i}") for i in (1, 2, 3))
    for t in (t1, t2):
        p.ok(p.node_svc.NodePublishVolume, p.publish("mw", t, mode="SINGLE_NODE_MULTI_WRITER"))
        assert "rw" in findmnt(t)[1]
    assert sh(f"echo one > {t1}/a && echo two > {t2}/b && cat {t2}/a {t1}/b") == (0, "one\ntwo\n")
    ro = p.publish("mw", t3, readonly=True, mode="SINGLE_NODE_MULTI_WRITER")
    p.ok(p.node_svc.NodePublishVolume, ro)
    p.ok(p.node_svc.NodePublishVolume, ro)
    assert "ro" in findmnt(t3)[1] and sh(f"touch {t3}/c")[0] != 0
    unpublish(p, "mw", t1, t2, t3)


def test_a_stale_socket_is_replaced(stubs, janitor, work):
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(work / "csi.sock"))      # bound, never listening: what a killed plugin leaves
    s.close()
    p = Plugin(stubs[0], stubs[1], work, new_store(janitor, work))
    try:
        janitor.procs.append(p.proc)
        assert p.ok(p.identity.GetPluginInfo, p.pb.GetPluginInfoRequest()).name == "cstorfs.csi"
    finally:
        assert p.stop() == 0 and not (work / "csi.sock").exists()


def test_a_daemon_that_cannot_start_is_unavailable(stubs, janitor, work):
    (work / "file").write_text("not a directory")
    p = Plugin(stubs[0], stubs[1], work, str(work / "file" / "store"))
    try:
        janitor.procs.append(p.proc)
        assert p.ok(p.identity.Probe, p.pb.ProbeRequest()).ready.value is False
        p.fails(p.controller.CreateVolume, p.create("v"), "UNAVAILABLE", "daemon")
        p.fails(p.node_svc.NodePublishVolume, p.publish("v", target_dir(work, "pod")),
                "UNAVAILABLE")
    finally:
        assert p.stop() == 0


def test_unpublish_after_the_daemon_died_detaches_the_dead_mount(csi, work):
    p = csi
    p.ok(p.controller.CreateVolume, p.create("dead"))
    t = target_dir(work, "pod-d")
    p.ok(p.node_svc.NodePublishVolume, p.publish("dead", t))
    for pid in daemon_pids(p.store):
        kill9(pid)
    wait_until(lambda: not daemon_pids(p.store), what="the daemon to die")
    assert p.ok(p.identity.Probe, p.pb.ProbeRequest()).ready.value is False
    p.ok(p.node_svc.NodeUnpublishVolume, p.unpublish("dead", t))
    assert findmnt(t) is None and not t.exists()


# --------------------------------------------------------------------------
# Every error the spec lists, with its code
# --------------------------------------------------------------------------

def test_create_volume_errors(csi):
    p, cv = csi, csi.controller.CreateVolume
    p.fails(cv, p.create(""), "INVALID_ARGUMENT", "name")
    p.fails(cv, p.create("a/b"), "INVALID_ARGUMENT", "name")
    p.fails(cv, p.create("a@b"), "INVALID_ARGUMENT", "@")
    p.fails(cv, p.create("v", caps=[]), "INVALID_ARGUMENT", "volume_capabilities")
    p.fails(cv, p.create("v", caps=[p.cap(block=True)]), "INVALID_ARGUMENT", "block")
    p.fails(cv, p.create("v", caps=[p.cap(fs_type="ext4")]), "INVALID_ARGUMENT", "ext4")
    p.fails(cv, p.create("v", caps=[p.cap("MULTI_NODE_MULTI_WRITER")]), "INVALID_ARGUMENT",
            "MULTI_NODE_MULTI_WRITER")
    p.fails(cv, p.create("v", required=-1), "INVALID_ARGUMENT", "negative")
    p.fails(cv, p.create("v", required=2 * MiB, limit=MiB), "INVALID_ARGUMENT", "limit")
    p.fails(cv, p.create("v", params={"size": "1G"}), "INVALID_ARGUMENT", "size")
    p.fails(cv, p.create("v", params={"compression": "lz4"}), "INVALID_ARGUMENT")
    p.fails(cv, p.create("v", snapshot="nope@none"), "NOT_FOUND", "nope@none")
    p.fails(cv, p.create("v", snapshot="garbage"), "NOT_FOUND")
    p.fails(cv, p.create("v", volume="nope"), "NOT_FOUND", "nope")
    p.fails(cv, p.create("v", required=1 << 60), "RESOURCE_EXHAUSTED", "free")
    p.fails(cv, p.create("v", requisite=[{TOPOLOGY_KEY: "node-b"}]), "RESOURCE_EXHAUSTED",
            NODE)
    # A snapshot holding more than the capacity asked: OUT_OF_RANGE.
    p.ok(cv, p.create("big"))
    (p.work / "m").mkdir()
    ok(run_ctl("mount", "big", str(p.work / "m"), store=p.store))
    assert sh(f"head -c {3 * MiB} /dev/urandom > {p.work}/m/blob && sync")[0] == 0
    ok(run_ctl("unmount", str(p.work / "m"), store=p.store))
    p.ok(p.controller.CreateSnapshot, p.pb.CreateSnapshotRequest(source_volume_id="big", name="s"))
    p.fails(cv, p.create("small", snapshot="big@s", required=MiB), "OUT_OF_RANGE", "holds")
    # A volume made outside CSI is not taken over.
    ok(run_ctl("volume", "create", "handmade", store=p.store))
    p.fails(cv, p.create("handmade"), "ALREADY_EXISTS", "not made by CreateVolume")
    assert set(volume_ids(p)[0]) == {"big", "handmade"}


def test_controller_errors(csi):
    p, pb, c = csi, csi.pb, csi.controller
    p.fails(c.DeleteVolume, pb.DeleteVolumeRequest(), "INVALID_ARGUMENT", "volume_id")
    p.ok(c.DeleteVolume, pb.DeleteVolumeRequest(volume_id="never-was"))
    vv = pb.ValidateVolumeCapabilitiesRequest
    p.fails(c.ValidateVolumeCapabilities, vv(volume_capabilities=[p.cap()]), "INVALID_ARGUMENT")
    p.fails(c.ValidateVolumeCapabilities, vv(volume_id="nope", volume_capabilities=[p.cap()]),
            "NOT_FOUND", "nope")
    p.ok(c.CreateVolume, p.create("v1"))
    p.fails(c.ValidateVolumeCapabilities, vv(volume_id="v1"), "INVALID_ARGUMENT",
            "volume_capabilities")
    for bad, why in ((p.cap(block=True), "block"), (p.cap("MULTI_NODE_SINGLE_WRITER"), "MULTI_NODE"),
                     (p.cap(fs_type="xfs"), "xfs")):
        r = p.ok(c.ValidateVolumeCapabilities, vv(volume_id="v1", volume_capabilities=[bad]))
        assert not r.HasField("confirmed") and why in r.message
    ok_modes = ["SINGLE_NODE_WRITER", "SINGLE_NODE_READER_ONLY", "MULTI_NODE_READER_ONLY",
                "SINGLE_NODE_SINGLE_WRITER", "SINGLE_NODE_MULTI_WRITER"]
    r = p.ok(c.ValidateVolumeCapabilities,
             vv(volume_id="v1", volume_capabilities=[p.cap(m) for m in ok_modes]))
    assert len(r.confirmed.volume_capabilities) == len(ok_modes)
    p.fails(c.ControllerExpandVolume, pb.ControllerExpandVolumeRequest(volume_id="v1"),
            "INVALID_ARGUMENT", "capacity_range")
    p.fails(c.ControllerExpandVolume, p.expand("", MiB), "INVALID_ARGUMENT", "volume_id")
    p.fails(c.ControllerExpandVolume, p.expand("nope", MiB), "NOT_FOUND", "nope")
    p.fails(c.ControllerExpandVolume, p.expand("v1", 2 * MiB, limit=MiB), "OUT_OF_RANGE")
    blk = p.expand("v1", MiB)
    blk.volume_capability.CopyFrom(p.cap(block=True))
    p.fails(c.ControllerExpandVolume, blk, "INVALID_ARGUMENT", "block")
    # No quota is no limit: already as big as asked.
    assert p.ok(c.ControllerExpandVolume, p.expand("v1", MiB)).capacity_bytes == MiB
    cs = pb.CreateSnapshotRequest
    p.fails(c.CreateSnapshot, cs(name="s"), "INVALID_ARGUMENT", "source_volume_id")
    p.fails(c.CreateSnapshot, cs(source_volume_id="v1"), "INVALID_ARGUMENT", "name")
    p.fails(c.CreateSnapshot, cs(source_volume_id="v1", name="a@b"), "INVALID_ARGUMENT", "@")
    p.fails(c.CreateSnapshot, cs(source_volume_id="nope", name="s"), "NOT_FOUND", "nope")
    p.fails(c.CreateSnapshot, cs(source_volume_id="v1", name="s", parameters={"x": "y"}),
            "INVALID_ARGUMENT", "x")
    p.fails(c.DeleteSnapshot, pb.DeleteSnapshotRequest(), "INVALID_ARGUMENT", "snapshot_id")
    p.ok(c.DeleteSnapshot, pb.DeleteSnapshotRequest(snapshot_id="v1@never"))
    p.ok(c.DeleteSnapshot, pb.DeleteSnapshotRequest(snapshot_id="no-at-sign"))


def test_list_pagination_and_capacity(csi):
    p, pb, c = csi, csi.pb, csi.controller
    for name in ("a", "b", "c"):
        p.ok(c.CreateVolume, p.create(name))
        p.ok(c.CreateSnapshot, pb.CreateSnapshotRequest(source_volume_id=name, name="s-" + name))
    first, tok = volume_ids(p, max_entries=2)
    assert len(first) == 2 and tok
    rest, tok2 = volume_ids(p, max_entries=2, starting_token=tok)
    assert sorted(first + rest) == ["a", "b", "c"] and tok2 == ""
    for bad in ("zzz", "-1", "0", "99"):
        p.fails(c.ListVolumes, pb.ListVolumesRequest(starting_token=bad), "ABORTED")
        p.fails(c.ListSnapshots, pb.ListSnapshotsRequest(starting_token=bad), "ABORTED")
    p.fails(c.ListVolumes, pb.ListVolumesRequest(max_entries=-1), "INVALID_ARGUMENT")
    seen, tok = [], ""
    while True:
        r = p.ok(c.ListSnapshots, pb.ListSnapshotsRequest(max_entries=1, starting_token=tok))
        assert len(r.entries) <= 1
        seen += [e.snapshot.snapshot_id for e in r.entries]
        tok = r.next_token
        if not tok:
            break
    assert sorted(seen) == ["a@s-a", "b@s-b", "c@s-c"]
    ls = pb.ListSnapshotsRequest
    assert [e.snapshot.snapshot_id for e in p.ok(c.ListSnapshots, ls(snapshot_id="b@s-b")).entries] \
        == ["b@s-b"]
    assert [e.snapshot.snapshot_id for e in p.ok(c.ListSnapshots, ls(source_volume_id="c")).entries] \
        == ["c@s-c"]
    for q in (ls(snapshot_id="b@nope"), ls(source_volume_id="nope"), ls(snapshot_id="garbage"),
              ls(snapshot_id="b@s-b", source_volume_id="a")):
        assert list(p.ok(c.ListSnapshots, q).entries) == []
    cap = p.ok(c.GetCapacity, pb.GetCapacityRequest()).available_capacity
    assert cap > 0
    assert p.ok(c.GetCapacity, pb.GetCapacityRequest(volume_capabilities=[p.cap()])) \
        .available_capacity > 0
    assert p.ok(c.GetCapacity, pb.GetCapacityRequest(
        volume_capabilities=[p.cap(block=True)])).available_capacity == 0
    other = pb.GetCapacityRequest()
    other.accessible_topology.segments[TOPOLOGY_KEY] = "node-b"
    assert p.ok(c.GetCapacity, other).available_capacity == 0
    p.fails(c.GetCapacity, pb.GetCapacityRequest(parameters={"bogus": "1"}), "INVALID_ARGUMENT")


def test_node_errors(csi, work):
    p, pb, n = csi, csi.pb, csi.node_svc
    p.ok(p.controller.CreateVolume, p.create("nv"))
    t = target_dir(work, "pod-n")
    p.fails(n.NodePublishVolume, p.publish("", t), "INVALID_ARGUMENT", "volume_id")
    p.fails(n.NodePublishVolume, p.publish("nv", ""), "INVALID_ARGUMENT", "target_path")
    p.fails(n.NodePublishVolume, p.publish("nv", "relative/path"), "INVALID_ARGUMENT", "absolute")
    p.fails(n.NodePublishVolume, pb.NodePublishVolumeRequest(volume_id="nv", target_path=str(t)),
            "INVALID_ARGUMENT", "volume_capability")
    p.fails(n.NodePublishVolume, p.publish("nv", t, block=True), "INVALID_ARGUMENT", "block")
    p.fails(n.NodePublishVolume, p.publish("nv", t, fs_type="ext4"), "INVALID_ARGUMENT", "ext4")
    p.fails(n.NodePublishVolume, p.publish("nv", t, mode="MULTI_NODE_MULTI_WRITER"),
            "FAILED_PRECONDITION", "MULTI_NODE_MULTI_WRITER")
    p.fails(n.NodePublishVolume, p.publish("nope", t), "NOT_FOUND", "nope")
    assert not t.exists()
    p.fails(n.NodeUnpublishVolume, p.unpublish("", t), "INVALID_ARGUMENT", "volume_id")
    p.fails(n.NodeUnpublishVolume, p.unpublish("nv", ""), "INVALID_ARGUMENT", "target_path")
    p.fails(n.NodeUnpublishVolume, p.unpublish("nope", t), "NOT_FOUND", "nope")
    p.ok(n.NodeUnpublishVolume, p.unpublish("nv", t))          # never published: fine
    gs = pb.NodeGetVolumeStatsRequest
    p.fails(n.NodeGetVolumeStats, gs(volume_path=str(t)), "INVALID_ARGUMENT", "volume_id")
    p.fails(n.NodeGetVolumeStats, gs(volume_id="nv"), "INVALID_ARGUMENT", "volume_path")
    p.fails(n.NodeGetVolumeStats, gs(volume_id="nope", volume_path=str(t)), "NOT_FOUND", "nope")
    p.fails(n.NodeGetVolumeStats, gs(volume_id="nv", volume_path=str(t)), "NOT_FOUND",
            "not published")
    ne = pb.NodeExpandVolumeRequest
    p.fails(n.NodeExpandVolume, ne(volume_path=str(t)), "INVALID_ARGUMENT", "volume_id")
    p.fails(n.NodeExpandVolume, ne(volume_id="nv"), "INVALID_ARGUMENT", "volume_path")
    p.fails(n.NodeExpandVolume, ne(volume_id="nope", volume_path=str(t)), "NOT_FOUND")
    p.fails(n.NodeExpandVolume, ne(volume_id="nv", volume_path=str(t)), "NOT_FOUND",
            "not published")
    blk = ne(volume_id="nv", volume_path=str(t), volume_capability=p.cap(block=True))
    p.fails(n.NodeExpandVolume, blk, "INVALID_ARGUMENT", "block")
    # Another volume already at the target: ALREADY_EXISTS.
    p.ok(p.controller.CreateVolume, p.create("nv2"))
    p.ok(n.NodePublishVolume, p.publish("nv", t))
    p.fails(n.NodePublishVolume, p.publish("nv2", t), "ALREADY_EXISTS", "nv")
    unpublish(p, "nv", t)


def test_bad_command_lines_and_endpoints(work):
    for argv, mention in ((["--bogus"], "unknown argument"),
                          (["--endpoint", "tcp://127.0.0.1:1"], "unix"),
                          (["--endpoint"], "missing value"),
                          (["--node-id", ""], "node id")):
        cp = run([CSI, *argv])
        assert cp.returncode == 2 and mention in cp.stderr, cp
    cp = run([CSI, "--endpoint", f"unix://{work}/no/such/dir/csi.sock", "--store",
              str(work / "s")], timeout=30)
    assert cp.returncode == 1 and "cannot serve" in cp.stderr, cp
    (work / "file").write_text("x")
    cp = run([CSI, "--endpoint", f"unix://{work}/file", "--store", str(work / "s")])
    assert cp.returncode == 1 and "in the way" in cp.stderr, cp
    assert (work / "file").read_text() == "x"
    assert run([CSI, "--version"]).stdout.strip() == f"cstorfs-csi {version()}"


# --------------------------------------------------------------------------
# The deployment files agree with the plugin
# --------------------------------------------------------------------------

def test_deploy_files_agree():
    """plugin-shims/csi/deploy: every document parses; the CSIDriver is the plugin's name and
    asks for no attach; every container speaks on the socket the plugin serves; the
    registrar registers the path kubelet will use; the sidecars are all there."""
    yaml = pytest.importorskip("yaml")
    deploy = REPO / "plugin-shims" / "csi" / "deploy"
    docs = [d for f in sorted(deploy.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]
    kinds = {}
    for d in docs:
        kinds.setdefault(d["kind"], []).append(d)
    (drv,) = kinds["CSIDriver"]
    assert drv["metadata"]["name"] == "cstorfs.csi"
    assert drv["spec"]["attachRequired"] is False and drv["spec"]["fsGroupPolicy"] == "File"
    assert [sc["provisioner"] for sc in kinds["StorageClass"]] == ["cstorfs.csi"]
    assert [c["driver"] for c in kinds["VolumeSnapshotClass"]] == ["cstorfs.csi"]
    images = {}
    for wl in kinds["Deployment"] + kinds["DaemonSet"]:
        for c in wl["spec"]["template"]["spec"]["containers"]:
            images[c["name"]] = c
            args = " ".join(c.get("args", []))
            assert "unix:///csi/csi.sock" in args or "--csi-address=/csi/csi.sock" in args, c
            assert any(m["mountPath"] == "/csi" for m in c["volumeMounts"]), c
    assert {"cstorfs-csi", "csi-provisioner", "csi-snapshotter", "csi-resizer",
            "node-driver-registrar"} <= set(images)
    assert "--kubelet-registration-path=/var/lib/kubelet/plugins/cstorfs.csi/csi.sock" in \
        images["node-driver-registrar"]["args"]
    (node,) = kinds["DaemonSet"]
    sock = [v for v in node["spec"]["template"]["spec"]["volumes"] if v["name"] == "socket-dir"]
    assert sock[0]["hostPath"]["path"] == "/var/lib/kubelet/plugins/cstorfs.csi"
    accounts = {a["metadata"]["name"] for a in kinds["ServiceAccount"]}
    for wl in kinds["Deployment"] + kinds["DaemonSet"]:
        assert wl["spec"]["template"]["spec"]["serviceAccountName"] in accounts
