"""Permissions are enforced by the kernel (default_permissions) for other
users; allow_other decides whether they may enter the mount at all."""

import os

from conftest import NOBODY, as_nobody, create_volume, mounted, new_store, start_daemon

PROBE = r"""
import errno, json, os, sys
m = sys.argv[1] if len(sys.argv) > 1 else %(mnt)r
def attempt(fn):
    try:
        r = fn()
        return "ok" if r is None else r
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
def create(p):
    os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
def none(_):
    return None
def writef(p, s):
    with open(p, "w") as f:
        f.write(s)
def readf(p):
    with open(p, "rb") as f:
        return f.read().decode()
out = {
    "stat_root": attempt(lambda: none(os.stat(m))),
    "create_in_root": attempt(lambda: create(m + "/nobody-root")),
    "create_in_755": attempt(lambda: create(m + "/d755/f")),
    "mkdir_in_755": attempt(lambda: os.mkdir(m + "/d755/sub")),
    "unlink_in_755": attempt(lambda: os.unlink(m + "/d755/existing")),
    "create_in_777": attempt(lambda: create(m + "/d777/f")),
    "write_in_777": attempt(lambda: writef(m + "/d777/f", "mine")),
    "read_0600": attempt(lambda: readf(m + "/secret")),
    "read_0644": attempt(lambda: readf(m + "/public")),
    "write_0644": attempt(lambda: open(m + "/public", "a").close()),
    "chmod_root_file": attempt(lambda: os.chmod(m + "/public", 0o777)),
    "list_0700_dir": attempt(lambda: none(os.listdir(m + "/d700"))),
}
print(json.dumps(out))
"""


def prepare(m):
    os.mkdir(m / "d755", 0o755)
    os.chmod(m / "d755", 0o755)
    with open(m / "d755" / "existing", "w") as f:
        f.write("x")
    os.mkdir(m / "d777")
    os.chmod(m / "d777", 0o777)
    os.mkdir(m / "d700")
    os.chmod(m / "d700", 0o700)
    with open(m / "secret", "w") as f:
        f.write("root only")
    os.chmod(m / "secret", 0o600)
    with open(m / "public", "w") as f:
        f.write("everyone")
    os.chmod(m / "public", 0o644)


def test_permissions_are_enforced_for_nobody_with_allow_other(janitor, world_dir):
    store = new_store(janitor, world_dir)
    start_daemon(store)
    create_volume(store, "vol")
    with mounted(store, "vol", world_dir / "mnt", opts="allow_other") as m:
        assert os.stat(m).st_uid == 0 and os.stat(m).st_mode & 0o777 == 0o755
        prepare(m)
        seen = as_nobody(PROBE % {"mnt": str(m)})
        want = {
            "stat_root": "ok",
            "create_in_root": "EACCES",
            "create_in_755": "EACCES",
            "mkdir_in_755": "EACCES",
            "unlink_in_755": "EACCES",
            "create_in_777": "ok",
            "write_in_777": "ok",
            "read_0600": "EACCES",
            "read_0644": "everyone",
            "write_0644": "EACCES",
            "chmod_root_file": "EPERM",
            "list_0700_dir": "EACCES",
        }
        diff = {k: (want[k], seen.get(k)) for k in want if seen.get(k) != want[k]}
        assert not diff, f"as nobody, (expected, seen): {diff}"
        st = os.stat(m / "d777" / "f")
        assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY), \
            f"file made by nobody: expected owner {NOBODY}:{NOBODY}, seen {st.st_uid}:{st.st_gid}"
        with open(m / "d777" / "f") as f:
            assert f.read() == "mine"
        assert sorted(os.listdir(m / "d755")) == ["existing"]


def test_other_users_cannot_enter_mount_without_allow_other(janitor, world_dir):
    store = new_store(janitor, world_dir)
    start_daemon(store)
    create_volume(store, "vol")
    with mounted(store, "vol", world_dir / "mnt") as m:
        prepare(m)
        seen = as_nobody(PROBE % {"mnt": str(m)})
        assert seen["stat_root"] == "EACCES", \
            f"without allow_other: expected EACCES for nobody, seen {seen['stat_root']}"
        assert seen["read_0644"] == "EACCES"
