"""cstorfs-ctl's help and README.md's table of its commands agree (issue 16, item 2).

Both come from the command table in ctl/main_ctl.c: `cstorfs-ctl help --commands` lists
its rows (one command a line), `cstorfs-ctl --help` is printed from it. These tests need no
store and no daemon."""

import re
import subprocess

from conftest import CTL, REPO, describe


def ctl(*args):
    cp = subprocess.run([str(CTL), *args], capture_output=True, text=True, timeout=30,
                        stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, describe(cp)
    return cp.stdout


def table_commands():
    out = ctl("help", "--commands")
    cmds = [line.strip() for line in out.splitlines() if line.strip()]
    assert len(cmds) >= 20, f"expected the whole table, seen {cmds}"
    assert len(set(cmds)) == len(cmds), f"a command is listed twice: {cmds}"
    return cmds


def readme_rows():
    """The first cell of each row of README.md's table under "### cstorfs-ctl"."""
    text = (REPO / "README.md").read_text()
    m = re.search(r"^### cstorfs-ctl\n(.*?)(?=^#)", text, re.M | re.S)
    assert m, "README.md has no '### cstorfs-ctl' section"
    rows = [line for line in m.group(1).splitlines() if line.startswith("|")]
    cells = [re.split(r"(?<!\\)\|", row)[1].strip() for row in rows[2:]]  # past head, rule
    assert cells, "README.md's cstorfs-ctl section has no table"
    return cells


def named_commands(cell, known):
    """The commands a README cell names: each `code span` is a command line; its first
    word, or first two (a|b|c: each of them), must be a command of the table."""
    spans = re.findall(r"`([^`]+)`", cell.replace("\\|", "|"))
    assert spans, f"README row {cell!r} names no command in `code`"
    found = []
    for span in spans:
        words = span.split()
        subs = words[1].split("|") if len(words) > 1 else []
        two = [f"{words[0]} {s}" for s in subs]
        if two and all(c in known for c in two):
            found += two
        elif words[0] in known:
            found.append(words[0])
        else:
            raise AssertionError(f"README row {cell!r}: `{span}` is no cstorfs-ctl command "
                                 f"(the commands: {sorted(known)})")
    return found


def test_every_command_is_in_the_readme_table():
    cmds = table_commands()
    named = set()
    for cell in readme_rows():
        named.update(named_commands(cell, set(cmds)))
    missing = [c for c in cmds if c not in named]
    assert not missing, f"commands missing from README.md's cstorfs-ctl table: {missing}"


def test_every_readme_row_names_a_real_command():
    cmds = set(table_commands())
    for cell in readme_rows():
        assert named_commands(cell, cmds), cell


def test_help_shows_every_command_of_the_table():
    help_text = ctl("--help")
    assert help_text.startswith("usage: cstorfs-ctl"), help_text[:200]
    for cmd in table_commands():
        assert re.search(rf"^  {re.escape(cmd)}( |$)", help_text, re.M), \
            f"`{cmd}` has no line of its own in cstorfs-ctl --help:\n{help_text}"
    assert ctl("help") == help_text, "cstorfs-ctl help and --help differ"


def test_a_readme_row_of_an_unknown_command_fails():
    """The check above can fail: a row naming no command is refused."""
    cmds = set(table_commands())
    for bad in ("`volume frobnicate NAME`", "`frobnicate`", "no code span"):
        try:
            named_commands(bad, cmds)
        except AssertionError:
            continue
        raise AssertionError(f"{bad!r} was taken for a command")
