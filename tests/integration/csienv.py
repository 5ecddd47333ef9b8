"""Helpers for the CSI plugin tests: the sidecars' side of the wire.

The Python stubs are generated from plugin-shims/csi/csi.proto at test time (grpc_tools.protoc
into a temporary directory, once per session): the tests speak the protocol as the file defines
it, as the sidecars speak the upstream one. `Plugin` runs the real `cstorfs-csi` on a socket in
the test's directory, with its own store and node id, and stops it (SIGTERM, then SIGKILL) on
every path; the store's daemon, started by the plugin on demand, is stopped by conftest's
janitor like any other.
"""

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BUILD, REPO, product_env, wait_until

CSI = BUILD / "cstorfs-csi"
PROTO = REPO / "plugin-shims" / "csi" / "csi.proto"
RPC_TIMEOUT = 60
NODE = "node-a"
TOPOLOGY_KEY = "topology.cstorfs.csi/node"
MiB = 1 << 20


def generate_stubs(outdir):
    """csi_pb2 and csi_pb2_grpc from our csi.proto, imported from @outdir."""
    pytest.importorskip("grpc")
    pytest.importorskip("grpc_tools.protoc")
    from grpc_tools import protoc
    rc = protoc.main(["protoc", f"-I{PROTO.parent}", f"--python_out={outdir}",
                      f"--grpc_python_out={outdir}", str(PROTO)])
    assert rc == 0, f"grpc_tools.protoc failed on {PROTO} (exit {rc})"
    sys.path.insert(0, str(outdir))
    try:
        return importlib.import_module("csi_pb2"), importlib.import_module("csi_pb2_grpc")
    finally:
        sys.path.remove(str(outdir))


class Plugin:
    """One running cstorfs-csi: stubs for its three services and its log."""

    def __init__(self, pb, pbg, work, store, node=NODE):
        import grpc
        self.grpc, self.pb = grpc, pb
        self.work, self.store, self.node = Path(work), store, node
        self.sock = self.work / "csi.sock"
        self.log = self.work / "csi.log"
        self.proc = None
        argv = [str(CSI), "--endpoint", f"unix://{self.sock}", "--node-id", node,
                "--store", str(store)]
        env = product_env()
        env.pop("CSTORFSD", None)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env)
        wait_until(lambda: self.sock.exists() or self.proc.poll() is not None, timeout=10,
                   what="the plugin's socket")
        assert self.proc.poll() is None, f"cstorfs-csi exited at start:\n{self.log_text()}"
        self.channel = grpc.insecure_channel(f"unix://{self.sock}")
        grpc.channel_ready_future(self.channel).result(timeout=10)
        self.identity = pbg.IdentityStub(self.channel)
        self.controller = pbg.ControllerStub(self.channel)
        self.node_svc = pbg.NodeStub(self.channel)

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self):
        """SIGTERM, then SIGKILL; returns the exit code."""
        if getattr(self, "channel", None) is not None:
            self.channel.close()
            self.channel = None
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return None

    # -------------------------------------------------------------- calls

    def ok(self, method, request):
        """Call @method(request); fail the test with the plugin's log on any error."""
        try:
            return method(request, timeout=RPC_TIMEOUT)
        except self.grpc.RpcError as e:
            pytest.fail(f"{request.__class__.__name__}: expected OK, got "
                        f"{e.code().name}: {e.details()}\nplugin log:\n{self.log_text()}")

    def fails(self, method, request, code, *mentions):
        """@method(request) fails with gRPC status @code and a message mentioning each of
        @mentions (case-insensitive). Returns the message."""
        try:
            method(request, timeout=RPC_TIMEOUT)
        except self.grpc.RpcError as e:
            assert e.code() == getattr(self.grpc.StatusCode, code), \
                f"{request.__class__.__name__}: expected {code}, got {e.code().name}: " \
                f"{e.details()}"
            msg = e.details() or ""
            assert msg.strip(), f"expected a message with {code}"
            for m in mentions:
                assert m.lower() in msg.lower(), f"expected {m!r} in {msg!r}"
            return msg
        pytest.fail(f"{request.__class__.__name__}: expected {code}, got OK")

    # -------------------------------------------------------------- messages

    def cap(self, mode="SINGLE_NODE_WRITER", block=False, fs_type="", flags=(), group=""):
        pb = self.pb
        c = pb.VolumeCapability(access_mode=pb.VolumeCapability.AccessMode(
            mode=getattr(pb.VolumeCapability.AccessMode, mode)))
        if block:
            c.block.SetInParent()
        else:
            c.mount.fs_type = fs_type
            c.mount.mount_flags.extend(flags)
            c.mount.volume_mount_group = group
        return c

    def create(self, name, required=0, limit=0, params=None, snapshot=None, volume=None,
               caps=None, requisite=None):
        pb = self.pb
        req = pb.CreateVolumeRequest(name=name, parameters=params or {},
                                     volume_capabilities=[self.cap()] if caps is None else caps)
        if required or limit:
            req.capacity_range.required_bytes = required
            req.capacity_range.limit_bytes = limit
        if snapshot is not None:
            req.volume_content_source.snapshot.snapshot_id = snapshot
        if volume is not None:
            req.volume_content_source.volume.volume_id = volume
        for seg in requisite or []:
            req.accessibility_requirements.requisite.add().segments.update(seg)
        return req

    def publish(self, vol, target, readonly=False, mode="SINGLE_NODE_WRITER", **capkw):
        return self.pb.NodePublishVolumeRequest(
            volume_id=vol, target_path=str(target), readonly=readonly,
            volume_capability=self.cap(mode, **capkw))

    def unpublish(self, vol, target):
        return self.pb.NodeUnpublishVolumeRequest(volume_id=vol, target_path=str(target))

    def expand(self, vol, required, limit=0):
        return self.pb.ControllerExpandVolumeRequest(
            volume_id=vol, capacity_range=self.pb.CapacityRange(required_bytes=required,
                                                                limit_bytes=limit))

    def stats(self, vol, path):
        r = self.ok(self.node_svc.NodeGetVolumeStats,
                    self.pb.NodeGetVolumeStatsRequest(volume_id=vol, volume_path=str(path)))
        return {self.pb.VolumeUsage.Unit.Name(u.unit): u for u in r.usage}


def target_dir(work, pod, pvc="pvc"):
    """The path kubelet gives NodePublishVolume: its parent exists, the target does not."""
    d = Path(work) / "pods" / pod / "volumes" / "kubernetes.io~csi" / pvc
    d.mkdir(parents=True, exist_ok=True)
    return d / "mount"


def wait_gone(proc, timeout=15):
    end = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    return proc.poll() is not None


def sh(cmd, timeout=30):
    """A shell command as a workload would run it: (exit code, stdout+stderr)."""
    cp = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=timeout)
    return cp.returncode, cp.stdout + cp.stderr


def findmnt(path):
    """findmnt's FSTYPE and OPTIONS for the mount at @path, or None."""
    cp = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,OPTIONS", "--mountpoint", str(path)],
                        capture_output=True, text=True, timeout=30)
    if cp.returncode != 0 or not cp.stdout.strip():
        return None
    fstype, opts = cp.stdout.strip().splitlines()[-1].split(None, 1)
    return fstype, opts.split(",")


def is_root():
    return os.geteuid() == 0
