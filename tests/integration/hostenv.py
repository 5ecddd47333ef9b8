"""Helpers for tests that change the host the way a user does (test_first_run.py,
test_readme.py): `make install` into /usr/local/bin (mount(8) runs mount.fuse3 with a fixed
PATH, so `cstorfs` must be in a standard directory for `mount -t fuse3` and /etc/fstab), and
an /etc/fstab line. Both are undone on every path: the installed programs are removed and
/etc/fstab is restored byte for byte (mode included); a host that already has a cstorfs in
/usr/local/bin is never touched (the test is skipped).
"""

import contextlib
import os
from pathlib import Path

import pytest

from conftest import BUILD, REPO, describe, run

BINDIR = Path("/usr/local/bin")
INSTALLED = ["cstorfs", "cstorfsd", "cstorfs-ctl", "cstorfs-docker-plugin"]
FSTAB = Path("/etc/fstab")
PATH_INSTALLED = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def skip_unless_installable():
    if os.geteuid() != 0:
        pytest.skip("make install into /usr/local/bin and /etc/fstab need root")
    there = [p for p in INSTALLED if (BINDIR / p).exists() or (BINDIR / ("." + p)).exists()]
    if there:
        pytest.skip(f"{BINDIR} already holds {there}: not replacing an installed cstorfs")


def remove_installed():
    for p in INSTALLED:
        for f in (BINDIR / p, BINDIR / ("." + p)):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()


def make_install(cwd=REPO, build=BUILD):
    """`make install` in @cwd with the build directory @build (PREFIX=/usr/local)."""
    cp = run(["make", "-C", cwd, f"B={build}", "install"], timeout=300)
    assert cp.returncode == 0, describe(cp)
    for p in INSTALLED:
        assert os.access(BINDIR / p, os.X_OK), f"make install did not install {p}"


@contextlib.contextmanager
def fstab_restored():
    """Yields /etc/fstab; puts its exact bytes and mode back on the way out."""
    saved = FSTAB.read_bytes() if FSTAB.exists() else None
    mode = FSTAB.stat().st_mode & 0o7777 if saved is not None else 0o644
    try:
        yield FSTAB
    finally:
        if saved is None:
            with contextlib.suppress(FileNotFoundError):
                FSTAB.unlink()
        elif not FSTAB.exists() or FSTAB.read_bytes() != saved or \
                FSTAB.stat().st_mode & 0o7777 != mode:
            tmp = FSTAB.with_name(".fstab.cstorfs-test")
            tmp.write_bytes(saved)
            os.chmod(tmp, mode)
            os.replace(tmp, FSTAB)


@pytest.fixture
def installed(request):
    """The programs installed by `make install` (removed afterwards) and /etc/fstab (restored
    afterwards)."""
    skip_unless_installable()
    request.addfinalizer(remove_installed)
    guard = fstab_restored()
    fstab = guard.__enter__()
    request.addfinalizer(lambda: guard.__exit__(None, None, None))
    make_install()
    return fstab
