"""The README's commands are the tests' commands (issue 13, item 4).

Every ```sh block of README.md is read from the file, by its section, and run here line by
line exactly as written, with paths substituted by the mapping below; between the lines the
tests check what each command did. test_every_sh_block_is_run_or_listed fails when a block
has no test here (a new block, or one moved to another section), so the documentation cannot
drift from the programs: a changed line fails its test (Block.step compares the README's line,
comments aside, with the one the test expects before running it).

Each line runs in `bash -c` (after the block's earlier `export` lines), in a clean environment:
PATH is the test's stand-ins (below), then what the section installs, then the build
directory for the bare program names of "Snapshots and clones" and "Replication" (an installed
cstorfs), then /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; HOME is a
temporary directory; CSTORFS_STORE names the store (the default store of root,
/var/lib/cstorfs, mapped like the path).

Path mapping (W is the test's temporary directory; BUILD the build directory under test):

| README                 | test                                   | sections            |
|------------------------|----------------------------------------|---------------------|
| /var/lib/cstorfs       | W/store                                | all but the first   |
| /mnt/                  | W/mnt/                                 | all but the first   |
| build/                 | BUILD/                                 | all but the first   |
| make                   | make B=BUILD (in the checkout)         | all but the first   |
| sudo CMD               | CMD (the tests run as root)            | all                 |
| /usr/local/sbin/       | W/sbin/                                | Docker              |
| /etc/systemd/system/   | W/systemd/                             | Docker              |
| make (install targets) | make B=BUILD DESTDIR=W/root            | Kubernetes          |
| /etc/cstorfs           | W/etc/cstorfs                          | Kubernetes          |
| TOKEN                  | the token the line before printed      | Replication         |

"The two commands" run unmapped in a fresh checkout (the tracked files of this tree, no build
directory). "Using it" installs into the real /usr/local/bin (mount(8) runs mount.fuse3 with a
fixed PATH) and adds its fstab line to the real /etc/fstab; both are undone (hostenv.py).

Stand-ins (scripts in W/bin, first on PATH):
- `ssh host CMD...` runs CMD with `sh -c` and CSTORFS_STORE set to the "remote" store (a
  second store in W; the test switches it to a new one to start a cut transfer afresh);
- `docker ...` is Debian's client on the test's private dockerd (dockerenv.Dockerd: no
  networking, so `run` gets `--network none`);
- `systemctl` (no systemd as PID 1 here): `daemon-reload` does nothing; `enable --now UNIT`
  starts the unit's ExecStart (read from W/systemd/UNIT.service, paths mapped as above) in
  the background, recording its pid; the unit file itself is checked by systemd-analyze in
  test_first_run.py.

Blocks not run: none. Lines not run are listed where they are skipped (Block.skip), each with
its reason: only `make test` (this suite itself).
"""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from conftest import (
    BUILD, REPO, TIMEOUT, ctl_json, daemon_pids, describe, is_fuse_mount, kill9, pid_alive,
    run_ctl, run_mount, unmount, wait_until, write_synced,
)
from dockerenv import (
    DOCKER, DOCKER_PLUGIN_SOCK, Dockerd, busybox_tar, cleanup_socket, have_docker,
    remove_tree, socket_answers, stop_store_daemon, sweep_mounts,
)
from flexenv import call as flex_call, expect as flex_expect, kube_options, pod_dir
from hostenv import PATH_INSTALLED, fstab_restored, remove_installed, skip_unless_installable

README = REPO / "README.md"
# Host paths a mapped line must not name any more (a mapping that missed one would change the
# machine); /usr/local/bin is the one "Using it" really installs into.
HOST_PATHS = re.compile(r"(?<![\w.-])(/var/lib/cstorfs|/mnt/|/etc/|/usr/local/sbin|/usr/libexec)")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Every ```sh block of the README, by (section, index in the section): the test running it.
COVERED = {
    ("The two commands", 0): "test_the_two_commands",
    ("Using it", 0): "test_using_it",
    ("Snapshots and clones", 0): "test_snapshots_and_clones",
    ("Scrub", 0): "test_scrub",
    ("Replication", 0): "test_replication",
    ("Docker", 0): "test_docker",
    ("Kubernetes (FlexVolume)", 0): "test_kubernetes_flexvolume",
}
# Blocks no test can run, with the reason. Empty: every block runs.
NOT_RUN = {}


# --------------------------------------------------------------------------
# Reading the README
# --------------------------------------------------------------------------

def readme_blocks(lang="sh"):
    """{(section, index): [lines]} for every ```LANG block; the section is the nearest
    heading above it (any level), the index counts the section's blocks of that language."""
    blocks, section, count, cur, key = {}, None, {}, None, None
    for line in README.read_text().split("\n"):
        if cur is not None:
            if line.startswith("```"):
                blocks[key] = cur
                cur = None
            else:
                cur.append(line)
            continue
        m = re.match(r"#{2,6}\s+(.*\S)\s*$", line)
        if m:
            section = m.group(1)
            continue
        if line.strip() == "```" + lang:
            i = count.get(section, 0)
            count[section] = i + 1
            key, cur = (section, i), []
    return blocks


def bare(line):
    """A command line without its trailing comment, whitespace collapsed."""
    return " ".join(re.sub(r"(^|\s)#.*$", "", line).split())


def readme_inline(pattern):
    """The first inline `code` of the README matching @pattern (a regex, whole code span)."""
    prose = re.sub(r"^```.*?^```", "", README.read_text(), flags=re.S | re.M)
    for m in re.finditer(r"`([^`]+)`", prose):
        if re.fullmatch(pattern, m.group(1)):
            return m.group(1)
    pytest.fail(f"the README has no `{pattern}` any more")


# --------------------------------------------------------------------------
# Running a block
# --------------------------------------------------------------------------

def mapping(w, section):
    """The (regex, replacement) pairs for @section (see the table above), applied in order."""
    if section == "The two commands":
        return [(r"\bsudo\s+", "")]
    make = f"make B={BUILD}"
    if section == "Kubernetes (FlexVolume)":
        make += f" DESTDIR={w}/root"
    subs = [
        (r"\bsudo\s+", ""),
        (r"(^|&&|;)(\s*)make\b", rf"\g<1>\g<2>{make}"),
        (r"/var/lib/cstorfs\b", f"{w}/store"),
        (r"(?<![\w.-])/mnt/", f"{w}/mnt/"),
        (r"(?<![\w/.-])build/", f"{BUILD}/"),
    ]
    if section == "Docker":
        subs += [(r"/usr/local/sbin/", f"{w}/sbin/"),
                 (r"/etc/systemd/system/", f"{w}/systemd/")]
    if section == "Kubernetes (FlexVolume)":
        subs += [(r"/etc/cstorfs\b", f"{w}/etc/cstorfs")]
    return subs


def apply(subs, text):
    for pat, rep in subs:
        text = re.sub(pat, rep, text)
    return text


class Block:
    """One README block, run line by line in order. step(EXPECTED) checks that the next
    line reads EXPECTED (comments aside), runs it mapped, and returns the CompletedProcess
    (its exit code checked against @rc unless None); done() checks every line was run."""

    def __init__(self, section, w, cwd, path_extra=(), store=None, index=0, timeout=TIMEOUT):
        self.section, self.w, self.cwd, self.timeout = section, Path(w), Path(cwd), timeout
        raw = readme_blocks().get((section, index))
        assert raw is not None, f"the README has no sh block {index} in section {section!r}"
        self.lines = [ln for ln in raw if bare(ln)]
        self.pos, self.exports, self.subs = 0, [], mapping(w, section)
        home = self.w / "home"
        home.mkdir(exist_ok=True)
        path = [str(self.w / "bin"), *map(str, path_extra), SYSTEM_PATH]
        self.env = {"PATH": ":".join(path), "HOME": str(home), "LANG": "C.UTF-8",
                    "TERM": "dumb"}
        if store is not None:
            self.env["CSTORFS_STORE"] = str(store)
        self.log = []

    def peek(self):
        return bare(self.lines[self.pos]) if self.pos < len(self.lines) else None

    def _next(self, expect):
        assert self.pos < len(self.lines), \
            f"{self.section}: expected the line {expect!r}, the block ended"
        line = self.lines[self.pos]
        assert bare(line) == expect, (f"{self.section}: the README's line {self.pos + 1} is\n"
                                      f"  {bare(line)!r}\nthe test expects\n  {expect!r}")
        self.pos += 1
        return line

    def step(self, expect, rc=0, extra=(), timeout=None):
        line = apply(self.subs + list(extra), self._next(expect))
        host = HOST_PATHS.search(line)
        assert not host, f"{self.section}: {line!r} would touch the host's {host.group(1)}"
        if bare(line).startswith("export "):
            self.exports.append(line)
            script = "\n".join(self.exports)
        else:
            script = "\n".join(self.exports + [line])
        try:
            cp = subprocess.run(["bash", "-c", script], cwd=self.cwd, env=self.env, text=True,
                                capture_output=True, stdin=subprocess.DEVNULL,
                                timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"{self.section}: {line!r} timed out\nstdout: {e.stdout!r}\n"
                        f"stderr: {e.stderr!r}")
        self.log.append((line, cp.returncode))
        if rc is not None:
            assert cp.returncode == rc, \
                f"{self.section}: README line {expect!r} (run as {line!r})\n" + describe(cp)
        return cp

    def skip(self, expect, reason):
        assert reason
        self._next(expect)

    def done(self):
        left = [bare(ln) for ln in self.lines[self.pos:]]
        assert not left, f"{self.section}: lines of the README no test ran: {left}"


def stand_in(w, name, text):
    b = Path(w) / "bin"
    b.mkdir(exist_ok=True)
    f = b / name
    f.write_text(text)
    f.chmod(0o755)
    return f


# --------------------------------------------------------------------------
# Coverage
# --------------------------------------------------------------------------

def test_every_sh_block_is_run_or_listed():
    blocks = set(readme_blocks())
    listed = set(COVERED) | set(NOT_RUN)
    assert not blocks - listed, (f"README sh blocks that no test runs (add a test to "
                                 f"test_readme.py, or list it in NOT_RUN with the reason): "
                                 f"{sorted(blocks - listed)}")
    assert not listed - blocks, f"listed blocks the README no longer has: {sorted(listed - blocks)}"
    missing = [t for t in COVERED.values() if not callable(globals().get(t))]
    assert not missing, f"COVERED names tests that do not exist: {missing}"
    assert all(NOT_RUN.values()), "every block not run needs its reason"


# --------------------------------------------------------------------------
# The two commands: a fresh checkout
# --------------------------------------------------------------------------

def fresh_checkout(dest):
    """The tracked files of this tree (as `git clone` gives them, with uncommitted edits, so
    the test tests what is here), without build/, stores or mounts."""
    cp = subprocess.run(["git", "-C", REPO, "ls-files", "-z"], capture_output=True,
                        timeout=TIMEOUT)
    if cp.returncode != 0:
        pytest.skip("not a git checkout: no way to make a fresh one")
    for name in cp.stdout.decode().split("\0"):
        src = REPO / name
        if not name or not src.is_file():
            continue  # deleted in the work tree
        dst = Path(dest) / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst, follow_symlinks=False)
    return Path(dest)


def test_the_two_commands(janitor, work):
    co = fresh_checkout(work / "checkout")
    store = co / "store-demo"
    janitor.stores.append(str(store))
    b = Block("The two commands", work, co, timeout=600)
    cp = b.step("sh scripts/deps.sh build && make run")
    mnt = co / "mnt"
    assert is_fuse_mount(mnt), "make run did not mount ./mnt\n" + describe(cp)
    assert (store / "db").is_dir()
    # What make run prints to do next works.
    assert f"echo hello > {mnt}/hello.txt" in cp.stdout, cp.stdout
    (mnt / "hello.txt").write_text("hello\n")
    assert (mnt / "hello.txt").read_text() == "hello\n"
    b.skip("make test", "the suite this test belongs to: it would run itself")
    b.done()
    # make run again is harmless: it says the mount is there.
    again = subprocess.run(["make", "run"], cwd=co, env=b.env, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0 and "already mounted" in again.stdout, describe(again)
    # The paragraph's unmount and stop commands.
    for cmd in (readme_inline(r"fusermount3 -u \./mnt"),
                readme_inline(r"build/cstorfs-ctl --store \./store-demo daemon stop")):
        cp = subprocess.run(["bash", "-c", cmd], cwd=co, env=b.env, capture_output=True,
                            text=True, timeout=TIMEOUT)
        assert cp.returncode == 0, describe(cp)
    assert not is_fuse_mount(mnt)
    wait_until(lambda: not daemon_pids(store), timeout=10, what="the demo daemon to stop")


# --------------------------------------------------------------------------
# Using it
# --------------------------------------------------------------------------

def test_using_it(janitor, work, request):
    skip_unless_installable()
    request.addfinalizer(remove_installed)
    store = work / "store"
    janitor.stores.append(str(store))
    mnt = work / "mnt" / "web"
    (work / "mnt").mkdir()
    b = Block("Using it", work, REPO, timeout=300)
    b.step("export CSTORFS_STORE=/var/lib/cstorfs")
    b.step("build/cstorfs-ctl volume create web --compression zstd:3 --quota 10G")
    b.step("mkdir -p /mnt/web")
    b.step("build/cstorfs /var/lib/cstorfs:web /mnt/web")
    assert is_fuse_mount(mnt)
    write_synced(mnt / "f", b"written through the mount\n")
    cp = b.step("build/cstorfs-ctl volume list")
    assert re.search(r"^web\s", cp.stdout, re.M), cp.stdout
    v = json.loads(b.step("build/cstorfs-ctl --json volume inspect web").stdout)
    assert v["compression"] == "zstd:3" and v["quota"] == 10 << 30 and v["mounted"], v
    b.step("fusermount3 -u /mnt/web")
    assert not is_fuse_mount(mnt)
    b.step("sudo make install")
    assert os.access("/usr/local/bin/cstorfs", os.X_OK)
    b.step("mount -t fuse3 'cstorfs#/var/lib/cstorfs:web' /mnt/web")
    assert is_fuse_mount(mnt) and (mnt / "f").read_bytes() == b"written through the mount\n"
    b.step("umount /mnt/web")
    assert not is_fuse_mount(mnt)
    assert "daemon:" in b.step("build/cstorfs-ctl status").stdout
    b.step("build/cstorfs-ctl daemon stop")
    wait_until(lambda: not daemon_pids(store), timeout=10, what="the daemon to stop")
    b.done()

    # The paragraph's /etc/fstab line, mounted with `mount MOUNTPOINT`.
    line = readme_inline(r"cstorfs#/var/lib/cstorfs:web\s+/mnt/web\s+fuse3\s+\S+\s+0 0")
    with fstab_restored() as fstab:
        with open(fstab, "a") as f:
            f.write(apply(b.subs, line) + "\n")
        cp = subprocess.run(["mount", str(mnt)], env={"PATH": PATH_INSTALLED},
                            capture_output=True, text=True, timeout=TIMEOUT)
        try:
            assert cp.returncode == 0, describe(cp)
            assert (mnt / "f").read_bytes() == b"written through the mount\n"
        finally:
            unmount(str(mnt))


def store_with_web_mounted(janitor, work):
    """The state a block starts from: a store with volume web mounted at work/mnt/web."""
    store = work / "store"
    janitor.stores.append(str(store))
    web = work / "mnt" / "web"
    web.mkdir(parents=True)
    assert run_ctl("volume", "create", "web", store=str(store)).returncode == 0
    assert run_mount(f"{store}:web", web).returncode == 0
    return store, web


# --------------------------------------------------------------------------
# Snapshots and clones
# --------------------------------------------------------------------------

def test_snapshots_and_clones(janitor, work):
    """Before the block: volume web, mounted read-write at /mnt/web, holding a and k."""
    store, web = store_with_web_mounted(janitor, work)
    write_synced(web / "a", b"one\n")
    write_synced(web / "k", b"keep\n")

    b = Block("Snapshots and clones", work, work, path_extra=[BUILD], store=store)
    b.step("cstorfs-ctl snapshot create web@monday")
    write_synced(web / "a", b"two\n")
    write_synced(web / "n", b"new\n")
    os.unlink(web / "k")
    os.sync()
    assert re.search(r"^web@monday\s", b.step("cstorfs-ctl snapshot list web").stdout, re.M)
    b.step("mkdir -p /mnt/web-monday")
    b.step("cstorfs /var/lib/cstorfs:web@monday /mnt/web-monday")
    monday = work / "mnt" / "web-monday"
    assert (monday / "a").read_text() == "one\n" and (monday / "k").exists()
    assert not (monday / "n").exists()
    assert (web / "a").read_text() == "two\n", "web is no longer mounted read-write"
    with pytest.raises(OSError):
        (monday / "x").write_text("no")
    b.step("cstorfs-ctl clone web@monday web-test")
    assert ctl_json("volume", "inspect", "web-test", store=str(store))["origin"] == "web@monday"
    diff = b.step("cstorfs-ctl diff web@monday").stdout.split("\n")
    for want in ("- /k", "+ /n", "M /a"):
        assert want in diff, f"diff lacks {want!r}: {diff}"
    b.step("cstorfs-ctl rollback web@monday --force")
    assert not is_fuse_mount(web), "rollback --force left web mounted"
    assert run_mount(f"{store}:web", web).returncode == 0
    assert (web / "a").read_text() == "one\n" and not (web / "n").exists()
    unmount(str(web))
    b.step("cstorfs-ctl promote web-test")
    assert ctl_json("volume", "inspect", "web-test", store=str(store))["origin"] is None
    b.step("cstorfs-ctl snapshot rm web@monday")
    assert ctl_json("volume", "inspect", "web", store=str(store))["snapshots"] == 0
    assert "freed" in b.step("cstorfs-ctl gc").stdout
    b.done()


# --------------------------------------------------------------------------
# Scrub
# --------------------------------------------------------------------------

def test_scrub(janitor, work):
    """Before the block: volume web (with a snapshot) holding a few chunks."""
    store, web = store_with_web_mounted(janitor, work)
    write_synced(web / "f", os.urandom(300 << 10))
    assert run_ctl("snapshot", "create", "web@s", store=str(store)).returncode == 0
    write_synced(web / "g", b"x" * (200 << 10))
    unmount(str(web))

    b = Block("Scrub", work, work, path_extra=[BUILD], store=store)
    b.step("cstorfs-ctl scrub")
    out = b.step("cstorfs-ctl scrub status --wait").stdout
    assert "damage" in out.lower() or "ok" in out.lower() or "chunks" in out.lower(), out
    b.step("cstorfs-ctl scrub web --rate 100M --wait")
    assert "scrub" in b.step("cstorfs-ctl status").stdout.lower()
    b.done()
    last = ctl_json("status", store=str(store)).get("scrub")
    assert last, "status shows no scrub result"


# --------------------------------------------------------------------------
# Replication
# --------------------------------------------------------------------------

def test_replication(janitor, work):
    """Before the block: web with snapshots monday (a 3 MiB file: a stream a cut can split),
    tuesday, wednesday and friday; web-test, a clone of web@monday, with snapshot s1. The
    "remote" host's store does not exist yet."""
    store = work / "store"
    hosts = []
    janitor.stores.append(str(store))
    web, wt = work / "mnt" / "web", work / "mnt" / "wt"
    web.mkdir(parents=True)
    wt.mkdir()
    assert run_ctl("volume", "create", "web", store=str(store)).returncode == 0
    assert run_mount(f"{store}:web", web).returncode == 0
    write_synced(web / "f", b"1\n")
    write_synced(web / "big", os.urandom(3 << 20))
    for snap, change in (("monday", b"2\n"), ("tuesday", b"3\n"), ("wednesday", b"4\n"),
                         ("friday", None)):
        assert run_ctl("snapshot", "create", f"web@{snap}", store=str(store)).returncode == 0
        if change:
            write_synced(web / "f", change)
    assert run_ctl("clone", "web@monday", "web-test", store=str(store)).returncode == 0
    assert run_mount(f"{store}:web-test", wt).returncode == 0
    write_synced(wt / "c", b"in the clone\n")
    assert run_ctl("snapshot", "create", "web-test@s1", store=str(store)).returncode == 0
    unmount(str(web))
    unmount(str(wt))

    which = work / "ssh-host"

    def new_host():
        h = work / f"host{len(hosts)}"
        hosts.append(h)
        janitor.stores.append(str(h))
        which.write_text(str(h))
        return str(h)

    host = new_host()
    stand_in(work, "ssh", f'#!/bin/sh\n# ssh HOST CMD...: CMD on the "remote" store\nshift\n'
             f'CSTORFS_STORE=$(cat {which}) exec sh -c "$*"\n')

    def snaps(h, vol):
        return sorted(s["name"] for s in
                      ctl_json("snapshot", "list", vol, store=h)["snapshots"])

    def cut(cmd):
        """A transfer cut after 1 MB (a broken pipe): the receive keeps what arrived."""
        cp = subprocess.run(["bash", "-c", f"{cmd.replace(' | ssh', ' | head -c 1000000 | ssh')}"],
                            cwd=work, env=b.env, capture_output=True, text=True,
                            timeout=TIMEOUT)
        assert cp.returncode != 0 and "--abort" in cp.stderr, describe(cp)

    b = Block("Replication", work, work, path_extra=[BUILD], store=store)
    b.step("cstorfs-ctl send web@monday | ssh host cstorfs-ctl receive web")
    assert snaps(host, "web") == ["monday"]
    b.step("cstorfs-ctl send web@tuesday -i web@monday | ssh host cstorfs-ctl receive web")
    assert snaps(host, "web") == ["monday", "tuesday"]
    b.step("cstorfs-ctl send web@friday -I web@monday -o week.stream")
    assert (work / "week.stream").stat().st_size > 0
    b.step("cstorfs-ctl send web-test@s1 -i web@monday | ssh host cstorfs-ctl receive web-test")
    assert snaps(host, "web-test") == ["s1"]
    out = b.step("cstorfs-ctl send web@tuesday -i web@monday --dry-run").stdout.strip()
    real = subprocess.run(["bash", "-c", "cstorfs-ctl send web@tuesday -i web@monday | wc -c"],
                          env=b.env, capture_output=True, text=True, timeout=TIMEOUT)
    assert out == f"{int(real.stdout)}B", f"--dry-run said {out!r}, the stream has {real.stdout}"
    cp = b.step("cstorfs-ctl stream inspect week.stream")
    assert re.search(r"^check:\s+ok", cp.stdout, re.M), cp.stdout
    assert "with intermediate snapshots" in cp.stdout, cp.stdout

    # A cut transfer, on a host that has nothing yet.
    full = "cstorfs-ctl send web@monday | ssh host cstorfs-ctl receive web"
    if b.peek() == full:  # the same command again finishes it
        host = new_host()
        cut(full)
        b.step(full)
        assert snaps(host, "web") == ["monday"]
    host = new_host()
    cut(full)
    token = b.step("ssh host cstorfs-ctl receive --resume-token web").stdout.strip()
    assert token and " " not in token, token
    b.step("cstorfs-ctl send --resume TOKEN | ssh host cstorfs-ctl receive web",
           extra=[(r"\bTOKEN\b", token)])
    assert snaps(host, "web") == ["monday"]
    host = new_host()
    cut(full)
    b.step("ssh host cstorfs-ctl receive --abort web")
    cp = run_ctl("receive", "--resume-token", "web", store=host)
    assert cp.returncode != 0, "the partial receive is still there\n" + describe(cp)
    b.done()


# --------------------------------------------------------------------------
# Docker
# --------------------------------------------------------------------------

SYSTEMCTL = '''#!/usr/bin/python3
"""systemctl stand-in for test_readme.py (no systemd as PID 1): daemon-reload does nothing;
enable --now UNIT starts the unit's ExecStart in the background (paths mapped)."""
import json, re, shlex, subprocess, sys
W, UNITS, SUBS = {w!r}, {units!r}, json.loads({subs!r})
args = sys.argv[1:]
if args == ["daemon-reload"]:
    sys.exit(0)
if len(args) == 3 and args[:2] == ["enable", "--now"]:
    text = open(f"{{UNITS}}/{{args[2]}}.service").read()
    cmd = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
    for pat, rep in SUBS:
        cmd = re.sub(pat, rep, cmd)
    with open(f"{{W}}/{{args[2]}}.log", "ab") as log:
        p = subprocess.Popen(shlex.split(cmd), stdin=subprocess.DEVNULL, stdout=log,
                             stderr=log, start_new_session=True)
    open(f"{{W}}/{{args[2]}}.pid", "w").write(str(p.pid))
    sys.exit(0)
sys.exit(f"systemctl stand-in: {{args}} is not supported")
'''


@pytest.fixture
def dockerd(work, request):
    if not have_docker():
        pytest.skip("docker.io and busybox-static are not installed (scripts/deps.sh test)")
    if socket_answers(DOCKER_PLUGIN_SOCK):
        pytest.skip(f"a cstorfs plugin already answers on {DOCKER_PLUGIN_SOCK}; not touching it")
    base = Path(tempfile.mkdtemp(prefix="csrd-", dir="/tmp"))  # short: socket paths
    d = Dockerd(base / "docker")

    def fin():
        try:
            d.stop()
        finally:
            sweep_mounts(base)
            remove_tree(base)
    request.addfinalizer(fin)
    d.start()
    d.docker("import", busybox_tar(base / "rootfs.tar", seed_files=False), "busybox")
    stand_in(work, "docker", "#!/bin/sh\n# docker on the test's private dockerd, no network\n"
             f'if [ "$1" = run ]; then shift; set -- run --network none "$@"; fi\n'
             f'exec {DOCKER} -H unix://{d.sock} "$@"\n')
    return d


def test_docker(janitor, work, dockerd, request):
    """A new host: no store, nothing installed (W/sbin and W/systemd stand for the existing
    /usr/local/sbin and /etc/systemd/system)."""
    store = work / "store"
    janitor.stores.append(str(store))
    (work / "sbin").mkdir()
    (work / "systemd").mkdir()
    unit = "cstorfs-docker-plugin"
    subs = mapping(work, "Docker")
    stand_in(work, "systemctl", SYSTEMCTL.format(w=str(work), units=str(work / "systemd"),
                                                 subs=json.dumps(subs)))

    def fin():
        dockerd.remove_everything()
        pidf = work / f"{unit}.pid"
        if pidf.exists():
            pid = int(pidf.read_text())
            if pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
                end = time.monotonic() + 10
                while pid_alive(pid) and time.monotonic() < end:
                    time.sleep(0.05)
                kill9(pid)
        stop_store_daemon(store)
        sweep_mounts(work)
        if not socket_answers(DOCKER_PLUGIN_SOCK):
            cleanup_socket(DOCKER_PLUGIN_SOCK)
    request.addfinalizer(fin)

    b = Block("Docker", work, REPO, path_extra=[work / "sbin"], store=store, timeout=300)
    b.step("make && sudo install -m755 build/cstorfs-docker-plugin build/cstorfsd "
           "build/cstorfs-ctl /usr/local/sbin/")
    assert all(os.access(work / "sbin" / p, os.X_OK)
               for p in ("cstorfs-docker-plugin", "cstorfsd", "cstorfs-ctl"))
    b.step("sudo install -m644 plugin-shims/docker/cstorfs-docker-plugin.service "
           "/etc/systemd/system/")
    b.step("sudo systemctl daemon-reload && sudo systemctl enable --now cstorfs-docker-plugin")
    wait_until(lambda: socket_answers(DOCKER_PLUGIN_SOCK), timeout=15,
               what="the plugin's socket")
    b.step("docker volume create -d cstorfs -o compression=zstd:3 -o quota=10G data")
    b.step("docker run --rm -v data:/data busybox sh -c 'echo hello > /data/greeting'")
    b.step("cstorfs-ctl snapshot create data@monday")
    b.step("docker volume create -d cstorfs -o from=data@monday data-test")
    info = json.loads(b.step("docker volume inspect data").stdout)[0]
    b.done()
    st = info["Status"]
    assert info["Driver"] == "cstorfs" and st["compression"] == "zstd:3" and \
        st["quota"] == "10G" and st["snapshots"] == ["monday"], info
    clone = json.loads(dockerd.docker("volume", "inspect", "data-test").stdout)[0]
    assert clone["Status"]["origin"] == "data@monday", clone
    out = dockerd.docker("run", "--rm", "--network", "none", "-v", "data-test:/data", "busybox",
                         "cat", "/data/greeting").stdout
    assert out == "hello\n"
    # The store is where the unit says, and the daemon recognises it.
    assert (store / "db").is_dir()
    assert sorted(v["name"] for v in ctl_json("volume", "list", store=str(store))["volumes"]) \
        == ["data", "data-test"]


# --------------------------------------------------------------------------
# Kubernetes (FlexVolume)
# --------------------------------------------------------------------------

def test_kubernetes_flexvolume(janitor, work):
    """The block installs (DESTDIR=W/root) and names the store; then the test is kubelet:
    it runs the installed driver with kubelet's PATH (the installed /usr/local/bin) for the
    README's pod (its flexVolume options and fsGroup, read from the yaml block)."""
    store = work / "store"
    janitor.stores.append(str(store))
    b = Block("Kubernetes (FlexVolume)", work, REPO, timeout=300)
    b.step("make && sudo make install-flexvolume")
    b.step("sudo mkdir -p /etc/cstorfs")
    b.step("echo STORE=/var/lib/cstorfs | sudo tee /etc/cstorfs/flexvolume.conf")
    b.done()
    root = work / "root"
    pod = yaml.safe_load("\n".join(readme_blocks("yaml")[("Kubernetes (FlexVolume)", 0)]))
    vol = pod["spec"]["volumes"][0]["flexVolume"]
    vendor, name = vol["driver"].split("/")
    driver = root / "usr/libexec/kubernetes/kubelet-plugins/volume/exec" / \
        f"{vendor}~{name}" / name
    assert os.access(driver, os.X_OK), f"no driver at {driver}"
    assert stat.S_IMODE(driver.stat().st_mode) == 0o755
    env = {"PATH": f"{root}/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "CSTORFS_FLEX_CONF": str(work / "etc/cstorfs/flexvolume.conf"),
           "CSTORFS_FLEX_LOG": str(work / "flex.log")}
    flex_expect(flex_call("init", env=env, driver=driver, procs=janitor.procs), "Success")
    poddir = pod_dir(work, pod["metadata"]["name"], pod["spec"]["volumes"][0]["name"])
    fsgroup = pod["spec"]["securityContext"]["fsGroup"]
    opts = kube_options(fsgroup=fsgroup, **vol["options"])
    flex_expect(flex_call("mount", poddir, opts, env=env, driver=driver, procs=janitor.procs),
                "Success")
    try:
        assert is_fuse_mount(poddir)
        assert (store / "db").is_dir(), "the volume is not in the store the config names"
        (poddir / "index.html").write_text("hello\n")
        assert os.stat(poddir / "index.html").st_gid == fsgroup
        v = ctl_json("volume", "inspect", vol["options"]["volume"], store=str(store))
        assert v["mounted"], v
    finally:
        flex_expect(flex_call("unmount", poddir, env=env, driver=driver, procs=janitor.procs),
                    "Success")
    assert not is_fuse_mount(poddir)
