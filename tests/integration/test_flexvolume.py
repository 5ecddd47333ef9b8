"""The Kubernetes FlexVolume driver (issue 8), called exactly as kubelet calls it.

Every call goes through flexenv.call(): a closed stdin, pipes on stdout and stderr read to
EOF within 10 s, exactly one JSON object on stdout, nothing on stderr, and the exit code of
its status (0 Success / Not supported, 1 Failure). The store is a temporary one named by
CSTORFS_STORE; mounts and daemons are cleaned up by conftest's janitor.
"""

import errno
import os
import threading
from pathlib import Path

import pytest

from conftest import (BUILD, REPO, api, daemon_pids, expect_errno, is_fuse_mount, kill9,
                      mount_info, new_store, pid_alive, read_pidfile, run, start_daemon,
                      stop_daemon, wait_until)
from flexenv import (INIT_REPLY, INIT_TEXT, NOT_SUPPORTED_CALLS, SECRET, SECRET_B64, call,
                     expect, fds_pointing_at, flex_env, kube_options, pod_dir)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="kubelet runs drivers as root; "
                                "shared mounts need root")

FSGROUP = 2000


class Flex:
    """One test's driver setup: a store, the driver's environment and log, pod dirs."""

    def __init__(self, janitor, work):
        self.janitor, self.work = janitor, Path(work)
        self.store = new_store(janitor, work)
        self.log = self.work / "flex.log"
        self.env = flex_env(self.store, self.log)
        self.replies = []

    def call(self, *args, env=None, **kw):
        r = call(*args, env=env or self.env, procs=self.janitor.procs, **kw)
        self.replies.append(r)
        return r

    def pod(self, name, volume="data"):
        return pod_dir(self.work, name, volume)

    def mount(self, pod, **opts):
        return expect(self.call("mount", pod, kube_options(**opts)), "Success")

    def unmount(self, pod):
        return expect(self.call("unmount", pod), "Success")

    def volume(self, name):
        st, body = api(self.store, "GET", f"/v1/volumes/{name}")
        return body if st == 200 else None

    def mountpoints(self):
        st, body = api(self.store, "GET", "/v1/mounts")
        assert st == 200, body
        return {m["mountpoint"]: m for m in body["mounts"]}


@pytest.fixture
def flex(janitor, work):
    return Flex(janitor, work)


def write(path, text):
    Path(path).write_text(text)


def read(path):
    return Path(path).read_text()


# --------------------------------------------------------------------------
# init and the calls cstorfs does not implement
# --------------------------------------------------------------------------

def test_init_answers_exactly_the_capabilities(flex):
    r = expect(flex.call("init"), "Success")
    assert r.out.strip() == INIT_TEXT, r
    assert r.json == INIT_REPLY
    assert not daemon_pids(flex.store), "init must not start a daemon"


def test_init_works_with_stdin_closed(flex):
    r = expect(flex.call("init", close_fd0=True), "Success")
    assert r.json == INIT_REPLY


@pytest.mark.parametrize("name", NOT_SUPPORTED_CALLS)
def test_other_calls_are_not_supported(flex, name):
    args = {"attach": ['{"volume":"web"}', "node1"], "detach": ["web", "node1"],
            "waitforattach": ["/dev/x", '{"volume":"web"}'], "isattached": ['{}', "node1"],
            "mountdevice": ["/var/lib/x", "/dev/x", "{}"], "unmountdevice": ["/var/lib/x"],
            "getvolumename": ['{"volume":"web"}'], "expandvolume": ["{}", "1", "2"],
            "expandfs": ["{}", "/p", "/dev/x", "1", "2"]}.get(name, [])
    expect(flex.call(name, *args), "Not supported")
    assert not daemon_pids(flex.store)


def test_no_call_and_wrong_argument_counts_fail(flex):
    expect(flex.call(), "Failure", "init")
    expect(flex.call("mount", flex.pod("a")), "Failure", "mount needs 2 arguments")
    expect(flex.call("unmount"), "Failure", "unmount needs 1 argument")


# --------------------------------------------------------------------------
# mount
# --------------------------------------------------------------------------

def test_mount_creates_the_volume_and_a_second_pod_sees_its_data(flex):
    a, b = flex.pod("a"), flex.pod("b")
    flex.mount(a, volume="web", create="true")
    assert is_fuse_mount(a)
    assert os.statvfs(a).f_bsize > 0, "kubelet's metrics use statfs on the pod dir"
    assert flex.volume("web") is not None
    write(a / "index.html", "hello from pod a\n")
    flex.mount(b, volume="web")
    assert read(b / "index.html") == "hello from pod a\n"
    write(b / "from-b", "b")
    assert read(a / "from-b") == "b"
    mps = flex.mountpoints()
    assert mps[str(a)]["shared"] and mps[str(b)]["shared"], mps


def test_mount_returns_promptly_and_the_daemon_keeps_no_pipe_of_kubelets(flex):
    seen = {}

    def note_pipes(proc):
        seen["out"] = f"pipe:[{os.fstat(proc.stdout.fileno()).st_ino}]"
        seen["err"] = f"pipe:[{os.fstat(proc.stderr.fileno()).st_ino}]"

    a = flex.pod("a")
    r = flex.call("mount", a, kube_options(create="true"), on_spawn=note_pipes)
    expect(r, "Success")
    assert r.seconds < 10, r
    pids = daemon_pids(flex.store)
    assert pids, "the driver should have started a daemon"
    for pid in pids:
        assert not fds_pointing_at(pid, seen["out"]), f"daemon {pid} holds the driver's stdout"
        assert not fds_pointing_at(pid, seen["err"]), f"daemon {pid} holds the driver's stderr"
        assert os.getsid(pid) != os.getsid(0), f"daemon {pid} is in the caller's session"
        assert os.getpgid(pid) != os.getpgid(0), f"daemon {pid} is in the caller's group"
    # The mount outlives the driver process.
    write(a / "still-here", "yes")
    assert read(a / "still-here") == "yes"


def test_readonly_pod_refuses_writes_while_the_rw_pod_writes(flex):
    rw, ro = flex.pod("rw"), flex.pod("ro")
    flex.mount(rw, volume="web", create="true")
    flex.mount(ro, volume="web", readwrite="ro")
    write(rw / "a", "1")
    assert read(ro / "a") == "1"
    expect_errno(errno.EROFS, write, ro / "b", "x")
    expect_errno(errno.EROFS, os.mkdir, ro / "d")
    expect_errno(errno.EROFS, os.unlink, ro / "a")
    write(rw / "a", "2")
    assert read(ro / "a") == "2"
    assert "ro" in mount_info(ro)[2].split(","), mount_info(ro)


def test_two_pods_mount_one_volume_read_write(flex):
    p1, p2 = flex.pod("p1"), flex.pod("p2")
    flex.mount(p1, volume="shared", create="true")
    flex.mount(p2, volume="shared", create="true")
    write(p1 / "one", "1")
    write(p2 / "two", "2")
    assert sorted(os.listdir(p1)) == sorted(os.listdir(p2)) == ["one", "two"]


def test_concurrent_first_mounts_start_one_daemon_and_both_succeed(flex):
    pods = [flex.pod(f"p{i}") for i in range(4)]
    replies = [None] * len(pods)

    def one(i):
        replies[i] = call("mount", pods[i], kube_options(create="true", pod=f"p{i}"),
                          env=flex.env, procs=flex.janitor.procs)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(pods))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in replies:
        assert r is not None, "a call failed inside its thread (see above)"
        expect(r, "Success")
    assert len(daemon_pids(flex.store)) == 1
    write(pods[0] / "f", "x")
    assert all(read(p / "f") == "x" for p in pods)


def test_mounting_the_same_pod_dir_again_succeeds(flex):
    a = flex.pod("a")
    flex.mount(a, volume="web", create="true")
    flex.mount(a, volume="web", create="true")
    assert is_fuse_mount(a)
    flex.unmount(a)
    assert not is_fuse_mount(a), "one unmount must leave nothing mounted"


def test_mount_of_a_missing_volume_without_create_fails(flex):
    a = flex.pod("a")
    expect(flex.call("mount", a, kube_options(volume="nope")), "Failure", "nope",
           "does not exist", "create")
    assert not is_fuse_mount(a)


def test_create_honours_compression_and_quota(flex):
    flex.mount(flex.pod("a"), volume="small", create="true", compression="none", quota="1M")
    v = flex.volume("small")
    assert v["compression"] == "none", v
    assert v["quota"] == 1 << 20, v


def test_mount_clones_a_volume_from_a_snapshot(flex):
    a, b = flex.pod("a"), flex.pod("b")
    flex.mount(a, volume="web", create="true")
    write(a / "v1", "first")
    st, body = api(flex.store, "POST", "/v1/volumes/web/snapshots", {"name": "s1"})
    assert st == 201, body
    write(a / "v2", "after the snapshot")
    flex.mount(b, volume="web-test", **{"from": "web@s1"})
    assert flex.volume("web-test")["origin"] == "web@s1"
    assert sorted(os.listdir(b)) == ["v1"]
    assert read(b / "v1") == "first"
    write(b / "clone-only", "c")
    assert not (a / "clone-only").exists()


def test_mount_of_a_snapshot_is_read_only(flex):
    a, b = flex.pod("a"), flex.pod("b")
    flex.mount(a, volume="web", create="true")
    write(a / "f", "snap")
    st, body = api(flex.store, "POST", "/v1/volumes/web/snapshots", {"name": "s1"})
    assert st == 201, body
    flex.mount(b, volume="web@s1")
    assert read(b / "f") == "snap"
    expect_errno(errno.EROFS, write, b / "g", "x")


# --------------------------------------------------------------------------
# fsGroup
# --------------------------------------------------------------------------

def test_fsgroup_owns_the_root_and_new_files(flex, world_dir):
    a = pod_dir(world_dir, "a")  # pod users must be able to reach it
    flex.mount(a, volume="web", create="true", fsgroup=FSGROUP)
    st = os.stat(a)
    assert st.st_gid == FSGROUP and (st.st_mode & 0o7777) == 0o2775, oct(st.st_mode)
    write(a / "f", "x")
    os.mkdir(a / "d")
    assert os.stat(a / "f").st_gid == FSGROUP
    assert os.stat(a / "d").st_gid == FSGROUP
    assert os.stat(a / "d").st_mode & 0o2000, "new directories keep the setgid bit"
    # A pod user that is only in the fsGroup may write at the volume root.
    cp = run(["setpriv", "--reuid=4321", f"--regid={FSGROUP}", "--clear-groups",
              "sh", "-c", f"echo hi > '{a}/by-member'"])
    assert cp.returncode == 0, cp
    assert os.stat(a / "by-member").st_gid == FSGROUP


def test_the_older_fsgroup_key_is_honoured(flex):
    a = flex.pod("a")
    flex.mount(a, volume="web", create="true", old_fsgroup=3000)
    assert os.stat(a).st_gid == 3000
    write(a / "f", "x")
    assert os.stat(a / "f").st_gid == 3000


def test_a_readonly_mount_with_fsgroup_changes_nothing(flex):
    a, b = flex.pod("a"), flex.pod("b")
    flex.mount(a, volume="web", create="true")
    gid = os.stat(a).st_gid
    flex.mount(b, volume="web", readwrite="ro", fsgroup=FSGROUP)
    assert os.stat(b).st_gid == gid


# --------------------------------------------------------------------------
# unmount (by path only)
# --------------------------------------------------------------------------

def test_unmount_by_path_detaches_only_that_pod(flex):
    a, b = flex.pod("a"), flex.pod("b")
    flex.mount(a, volume="web", create="true")
    flex.mount(b, volume="web")
    flex.unmount(a)
    assert not is_fuse_mount(a)
    assert os.listdir(a) == [], "kubelet removes the pod dir: it must be empty"
    write(b / "still", "works")
    assert set(flex.mountpoints()) == {str(b)}
    flex.unmount(b)
    assert not is_fuse_mount(b)
    flex.unmount(b)  # again: still Success
    os.rmdir(a)
    os.rmdir(b)


def test_unmount_after_the_daemon_restarted(flex):
    a = flex.pod("a")
    flex.mount(a, volume="web", create="true")
    write(a / "f", "x")
    stop_daemon(flex.store)
    start_daemon(flex.store)
    flex.unmount(a)
    assert not is_fuse_mount(a)
    os.rmdir(a)


def test_unmount_after_the_daemon_was_killed_detaches_the_dead_mount(flex):
    a = flex.pod("a")
    flex.mount(a, volume="web", create="true")
    pid = read_pidfile(flex.store)
    kill9(pid)
    wait_until(lambda: not pid_alive(pid), timeout=10, what="daemon to die")
    assert is_fuse_mount(a), "a killed daemon leaves its mount behind"
    flex.unmount(a)
    assert not is_fuse_mount(a)
    assert not daemon_pids(flex.store), "unmount must not start a daemon"


def test_unmount_of_unknown_paths_succeeds(flex):
    never = flex.pod("never")
    flex.unmount(never)
    flex.unmount(flex.work / "no-such-dir")
    flex.unmount(flex.work / "no" / "such" / "parent")
    assert not daemon_pids(flex.store), "unmount must not start a daemon"
    start_daemon(flex.store)
    flex.unmount(never)


def test_unmount_leaves_a_foreign_mount_alone(flex):
    a = flex.pod("a")
    cp = run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", a])
    assert cp.returncode == 0, cp
    try:
        expect(flex.call("unmount", a), "Failure", "tmpfs", "not a cstorfs")
        assert mount_info(a)[0] == "tmpfs"
    finally:
        run(["umount", "-l", a])


# --------------------------------------------------------------------------
# Bad input: one JSON object, exit 1, a message saying what to fix
# --------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["{bad", "", "[]", '"web"', "null", '{"volume": "web"'])
def test_malformed_json_fails(flex, text):
    expect(flex.call("mount", flex.pod("a"), text), "Failure", "JSON")
    assert not daemon_pids(flex.store)


def test_missing_volume_option_fails(flex):
    expect(flex.call("mount", flex.pod("a"), kube_options(volume=None, create="true")),
           "Failure", "volume")


@pytest.mark.parametrize("name", ["../etc", "a/b", ".", "..", "x" * 256, ""])
def test_invalid_volume_name_fails(flex, name):
    a = flex.pod("a")
    expect(flex.call("mount", a, kube_options(volume=name, create="true")), "Failure",
           "volume")
    assert not is_fuse_mount(a)
    assert not daemon_pids(flex.store), "a bad name must be refused before the daemon"


@pytest.mark.parametrize("opts,mention", [
    ({"create": "maybe"}, "create"),
    ({"quota": "lots"}, "quota"),
    ({"readwrite": "rx"}, "readwrite"),
    ({"fsgroup": "staff"}, "FsGroup"),
    ({"from": "no-snapshot"}, "from"),
])
def test_bad_option_values_fail_naming_the_option(flex, opts, mention):
    expect(flex.call("mount", flex.pod("a"), kube_options(**opts)), "Failure", mention)


def test_non_string_option_fails(flex):
    expect(flex.call("mount", flex.pod("a"), '{"volume": "web", "create": true}'), "Failure",
           "create", "string")


def test_relative_pod_dir_fails(flex):
    expect(flex.call("mount", "pods/a", kube_options(create="true")), "Failure", "absolute")
    expect(flex.call("unmount", "pods/a"), "Failure", "absolute")


# --------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------

def test_secrets_are_never_printed_or_logged(flex):
    a, b = flex.pod("a"), flex.pod("b")
    flex.mount(a, volume="web", create="true")
    expect(flex.call("mount", b, kube_options(volume="a/b")), "Failure")
    bad = kube_options(volume="web").replace(SECRET_B64, SECRET + "!*")
    expect(flex.call("mount", b, bad), "Failure", "password", "base64")
    expect(flex.call("mount", b, kube_options(volume="web", quota="x")), "Failure")
    flex.unmount(a)
    texts = [reply.out + reply.err for reply in flex.replies]
    logs = [flex.log, Path(flex.store) / "cstorfsd.log"]
    assert flex.log.exists() and "mount volume 'web'" in flex.log.read_text(), \
        "the driver's log should record the mount"
    for path in logs:
        if path.exists():
            texts.append(path.read_text(errors="replace"))
    for t in texts:
        assert SECRET not in t and SECRET_B64 not in t, f"secret leaked in: {t!r}"


# --------------------------------------------------------------------------
# Finding the daemon, the store and staying bounded
# --------------------------------------------------------------------------

def test_the_config_file_names_the_store_and_the_environment_wins(flex, work):
    other = new_store(flex.janitor, work, "other")
    conf = Path(work) / "flexvolume.conf"
    conf.write_text(f"# cstorfs FlexVolume driver\nSTORE={other}\n"
                    f"CSTORFSD={BUILD / 'cstorfsd'}\n")
    env = flex_env(flex.store, flex.log, conf=conf)
    del env["CSTORFS_STORE"]
    expect(flex.call("mount", flex.pod("a"), kube_options(volume="from-conf", create="true"),
                     env=env), "Success")
    st, _ = api(other, "GET", "/v1/volumes/from-conf")
    assert st == 200, "the volume should be in the configured store"
    env_wins = flex_env(flex.store, flex.log, conf=conf)
    expect(flex.call("mount", flex.pod("b"), kube_options(volume="from-env", create="true"),
                     env=env_wins), "Success")
    assert flex.volume("from-env") is not None, "CSTORFS_STORE overrides the file"


def test_a_bad_config_file_fails_saying_which_line(flex, work):
    conf = Path(work) / "flexvolume.conf"
    conf.write_text("STORE=relative/path\n")
    env = flex_env(flex.store, flex.log, conf=conf)
    del env["CSTORFS_STORE"]
    expect(flex.call("mount", flex.pod("a"), kube_options(create="true"), env=env),
           "Failure", str(conf), "line 1", "absolute")


def test_a_missing_daemon_binary_fails_with_a_hint(flex):
    env = dict(flex.env, CSTORFSD="/nonexistent/cstorfsd")
    r = expect(flex.call("mount", flex.pod("a"), kube_options(create="true"), env=env),
               "Failure", "cstorfsd", "CSTORFSD")
    assert r.seconds < 10, r


def test_a_daemon_that_never_answers_gives_failure_not_a_hang(flex, work):
    pidfile = Path(work) / "fake.pid"
    fake = Path(work) / "fake-cstorfsd"
    fake.write_text(f"#!/bin/sh\necho $$ > '{pidfile}'\nexec sleep 60\n")
    fake.chmod(0o755)
    env = dict(flex.env, CSTORFSD=str(fake))
    try:
        r = expect(flex.call("mount", flex.pod("a"), kube_options(create="true"), env=env,
                             deadline=30), "Failure", "did not answer")
        assert r.seconds < 30, r
    finally:
        if pidfile.exists():
            kill9(int(pidfile.read_text().strip()))


def test_a_hung_daemon_hits_the_deadline_and_gives_failure(flex):
    """A socket that accepts and never answers: the call's own deadline answers Failure."""
    import socket
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(Path(flex.store) / "cstorfsd.sock"))
    srv.listen(16)
    held = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept)
    t.start()
    try:
        env = dict(flex.env, CSTORFS_FLEX_TIMEOUT="3")
        r = expect(flex.call("unmount", flex.pod("a"), env=env), "Failure", "within 3 s",
                   "cstorfs-ctl")
        assert 2.5 < r.seconds < 8, r
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()


# --------------------------------------------------------------------------
# make install-flexvolume
# --------------------------------------------------------------------------

def test_install_is_atomic_and_the_installed_driver_works(flex, work):
    plugdir = Path(work) / "plugins"
    prefix = Path(work) / "prefix"
    driver_dir = plugdir / "cstorfs~cstorfs"
    target = driver_dir / "cstorfs"
    driver_dir.mkdir(parents=True)
    old = b"#!/bin/sh\necho '{\"status\":\"Success\"}'\n"
    target.write_bytes(old)
    target.chmod(0o755)
    new = (BUILD / "cstorfs-flexvolume").read_bytes()
    torn = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                data = target.read_bytes()
            except FileNotFoundError:
                torn.append("missing")
                continue
            if data not in (old, new):
                torn.append(len(data))

    t = threading.Thread(target=watch)
    t.start()
    try:
        built = [str(BUILD / n) for n in ("cstorfs-flexvolume", "cstorfsd", "cstorfs-ctl")]
        cp = run(["make", "-s", "-C", REPO, "install-flexvolume", f"B={BUILD}",
                  f"VOLUME_PLUGIN_DIR={plugdir}", f"PREFIX={prefix}"] +
                 [a for b in built for a in ("-o", b)], timeout=120)
    finally:
        stop.set()
        t.join()
    assert cp.returncode == 0, cp
    assert not torn, f"kubelet could have seen a missing or partial driver: {torn[:5]}"
    assert target.read_bytes() == new
    assert os.stat(target).st_mode & 0o777 == 0o755
    assert sorted(os.listdir(driver_dir)) == ["cstorfs"], "no dot-file may remain"
    for name in ("cstorfsd", "cstorfs-ctl"):
        assert os.access(prefix / "bin" / name, os.X_OK), name

    # The installed driver finds cstorfsd on PATH (kubelet's sparse environment).
    env = flex_env(flex.store, flex.log,
                   {"PATH": f"{prefix / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin"})
    a = flex.pod("a")
    expect(flex.call("init", driver=target, env=env), "Success")
    expect(flex.call("mount", a, kube_options(create="true"), driver=target, env=env),
           "Success")
    assert is_fuse_mount(a)
    expect(flex.call("unmount", a, driver=target, env=env), "Success")
    assert not is_fuse_mount(a)
    assert sorted(os.listdir(driver_dir)) == ["cstorfs"], \
        "the driver must never write into its plugin directory"
