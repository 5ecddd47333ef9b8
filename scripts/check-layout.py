#!/usr/bin/python3
"""check-layout.py - the house rules that keep the code readable, checked.

  scripts/check-layout.py [BUILD]        (BUILD: the build directory, default build)

1. No source file under store/, fs/, ctl/ or plugin-shims/ is over 1,000 lines.
2. No function there is over 80 lines (the body, from its opening brace on a
   line of its own to the closing brace).
3. The store library is in layers, one direction: store/cs_store.h's opening
   comment lists its modules bottom up (the "Layers" block); every call from
   one store module into another (read from the symbols of BUILD/obj/store/*.o
   with nm) must go to a module listed before it, and every #include between
   store headers must point at a header of a module listed no later
   (cs_store.h, the library's public header of types and manual, and
   cs_priv.h, its private types, belong to no layer). A module the list does
   not name is an error too, so a new file gets a place.

Exits 1 and names every breach; prints one line per rule when all hold.
"""

import glob
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRS = ("store", "fs", "ctl", "plugin-shims")
MAX_FILE, MAX_FUNC = 1000, 80


def sources():
    for d in DIRS:
        for root, _, files in os.walk(os.path.join(REPO, d)):
            for f in sorted(files):
                if f.endswith((".c", ".h", ".cc", ".cpp")):
                    yield os.path.join(root, f)


def rel(p):
    return os.path.relpath(p, REPO)


def check_sizes():
    errs = []
    for p in sources():
        with open(p, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        if len(lines) - 1 > MAX_FILE:
            errs.append(f"{rel(p)}: {len(lines) - 1} lines (at most {MAX_FILE})")
        start = None
        for i, line in enumerate(lines):
            if line == "{":
                start = i
            elif line.startswith("}") and start is not None:
                n = i - start - 1
                if n > MAX_FUNC:
                    j = start - 1
                    while j > 0 and (lines[j][:1].isspace() or "(" not in lines[j]):
                        j -= 1
                    name = lines[j].strip()
                    errs.append(f"{rel(p)}:{start}: function of {n} lines (at most {MAX_FUNC}):"
                                f" {name}")
                start = None
    return errs


def layers():
    """The store's modules bottom up, from cs_store.h's "Layers" block."""
    text = open(os.path.join(REPO, "store", "cs_store.h"), encoding="utf-8").read()
    m = re.search(r"^ \* Layers[^\n]*\n(?: \* [^ ][^\n]*\n)*((?: \*   [^\n]*\n)+)", text, re.M)
    if not m:
        return None
    order = []
    for line in m.group(1).splitlines():
        order += re.findall(r"\bcs_\w+", line.split(":", 1)[-1])
    return order


def symbols(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in "TDBRC":
            defined.add(p[2])
        elif len(p) == 2 and p[0] == "U":
            undefined.add(p[1])
    return defined, undefined


def check_store_layers(build):
    order = layers()
    if not order:
        return ["store/cs_store.h: no \"Layers\" block in its opening comment"]
    rank = {m: i for i, m in enumerate(order)}
    errs = []
    objs = sorted(glob.glob(os.path.join(build, "obj", "store", "*.o")))
    if not objs:
        return [f"{build}/obj/store: no objects (run make first)"]
    owner, needs = {}, {}
    for o in objs:
        mod = os.path.basename(o)[:-2]
        if mod not in rank:
            errs.append(f"store/{mod}.c: not in cs_store.h's Layers list")
            continue
        d, u = symbols(o)
        for s in d:
            owner[s] = mod
        needs[mod] = u
    for mod, und in sorted(needs.items()):
        for s in sorted(und):
            to = owner.get(s)
            if to and to != mod and rank[to] > rank[mod]:
                errs.append(f"store/{mod}.c calls {s} of {to}.c, a module above it")
    for h in sorted(glob.glob(os.path.join(REPO, "store", "*.h")) +
                    glob.glob(os.path.join(REPO, "store", "*.c"))):
        mod = os.path.splitext(os.path.basename(h))[0]
        if mod not in rank:
            continue
        for inc in re.findall(r'^#include "(cs_\w+)\.h"', open(h, encoding="utf-8").read(), re.M):
            if inc in rank and inc != "cs_store" and rank[inc] > rank[mod]:
                errs.append(f"{rel(h)} includes {inc}.h, a module above it")
    return errs


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build")
    errs = check_sizes() + check_store_layers(build)
    for e in errs:
        print("check-layout: " + e, file=sys.stderr)
    if errs:
        print(f"check-layout: {len(errs)} breaches of the house rules (scripts/check-layout.py)",
              file=sys.stderr)
        return 1
    print(f"check-layout: files <= {MAX_FILE} lines, functions <= {MAX_FUNC} lines, "
          f"store calls and includes point down ({len(layers())} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
