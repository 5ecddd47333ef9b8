"""docs/HACKING.md names real things: every file path and every function or
variable name it quotes exists in the tree, so the guide cannot drift from
the code (issue 16). No daemon or mount is needed."""

import glob
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "HACKING.md"
SOURCES = ("store", "fs", "ctl", "plugin-shims", "tests", "scripts")


def quoted(text):
    """The `...` spans of the guide, one token each (commands are skipped)."""
    for span in re.findall(r"`([^`]+)`", text):
        if " " in span or span.startswith("-"):
            continue
        yield span.rstrip(",.;:")


def source_text():
    parts = []
    for d in SOURCES:
        for p in (REPO / d).rglob("*"):
            if p.suffix in (".c", ".h", ".py", ".sh") and p.is_file():
                parts.append(p.read_text(errors="replace"))
    return "\n".join(parts)


def is_path(tok):
    return ("/" in tok or re.search(r"\.(c|h|py|md|sh)$", tok)) and not tok.startswith(".")


def path_exists(tok):
    if tok.startswith("build/"):
        return True  # made by the build
    for base in (REPO, REPO / "fs", REPO / "store", REPO / "ctl", REPO / "tests",
                 REPO / "plugin-shims"):
        cand = tok.replace("<resource>", "*")
        if glob.glob(str(base / cand)) or glob.glob(str(base / cand.rstrip("/"))):
            return True
    return tok.startswith("../shared/")  # beside the checkout, not in it


def test_the_guide_exists_and_quotes_only_real_files_and_names():
    text = GUIDE.read_text()
    src = source_text()
    missing = []
    names = 0
    for tok in quoted(text):
        if is_path(tok):
            if not path_exists(tok):
                missing.append(f"file {tok}")
        elif re.fullmatch(r"[a-z_][a-z0-9_]*", tok) and "_" in tok:
            names += 1
            if not re.search(r"\b" + re.escape(tok) + r"\b", src):
                missing.append(f"name {tok}")
    assert names >= 30, f"the guide names only {names} functions: is the regex still right?"
    assert not missing, "docs/HACKING.md quotes what the tree does not have:\n  " + \
        "\n  ".join(missing)


def test_the_guides_layers_are_the_ones_the_layout_check_reads():
    """The module list in HACKING.md matches cs_store.h's Layers block."""
    header = (REPO / "store" / "cs_store.h").read_text()
    block = re.search(r"^ \* Layers[^\n]*\n(?: \* [^ ][^\n]*\n)*((?: \*   [^\n]*\n)+)", header,
                      re.M).group(1)
    want = re.findall(r"\bcs_\w+", "".join(line.split(":", 1)[-1] for line in
                                             block.splitlines()))
    guide = GUIDE.read_text()
    layers = guide[guide.index("Inside `store/`"):guide.index("When a lower layer")]
    seen = [m for m in re.findall(r"`(cs_[a-z_]+)`", layers) if m in want or m.startswith("cs_")]
    seen = [m for m in seen if m in want]
    assert seen == want, f"HACKING.md lists {seen}\ncs_store.h lists {want}"
