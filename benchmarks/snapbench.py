#!/usr/bin/python3
"""snapbench.py - data generator, reader and report writer for benchmarks/snapbench.sh.

Subcommands (python3 standard library only):
  block FILE                     64 MiB from /dev/urandom (the source of every byte written)
  mkfiles BLOCK DIR N [JOBS]     N files of FILE_SIZE bytes in DIR/dNNNN/ (1,000 per directory),
                                 each a unique 16-byte header + a slice of BLOCK: incompressible
                                 and never deduplicated. Prints the seconds it took.
  mkbig BLOCK FILE GIB           one file of GIB GiB: every 64 KiB chunk a unique header + BLOCK
  modfiles BLOCK DIR N           rewrite in place 1% of the files (every 100th), new contents
  modbig BLOCK FILE              rewrite in place 1% of the 64 KiB chunks (every 100th)
  readall PATH                   read a file or a tree (1 MiB reads); prints "bytes seconds files"
  report TSV OUT FACTS [MAXN]    write RESULTS-snapshots.md from the measurements
"""
import os
import statistics
import sys
import time

FILE_SIZE = 4096
PER_DIR = 1000
CHUNK = 65536
HDR = 16


def load_block(path):
    with open(path, "rb") as f:
        return f.read()


def file_bytes(block, i, tag=b"F"):
    off = (i * 7919 * FILE_SIZE) % (len(block) - FILE_SIZE)
    hdr = (tag + b"%015d" % i)[:HDR]
    return hdr + block[off + HDR:off + FILE_SIZE]


def file_path(d, i):
    return os.path.join(d, "d%04d" % (i // PER_DIR), "f%07d" % i)


def mkfiles_range(block, d, lo, hi):
    for i in range(lo, hi):
        if i % PER_DIR == 0 or i == lo:
            os.makedirs(os.path.dirname(file_path(d, i)), exist_ok=True)
        fd = os.open(file_path(d, i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, file_bytes(block, i))
        os.close(fd)


def parallel(jobs, fn, n):
    """Run fn(lo, hi) over [0, n) in `jobs` forked processes (split on directory bounds)."""
    if jobs <= 1 or n < 2 * PER_DIR:
        fn(0, n)
        return
    ndirs = (n + PER_DIR - 1) // PER_DIR
    pids = []
    for j in range(jobs):
        lo = (ndirs * j // jobs) * PER_DIR
        hi = min(n, (ndirs * (j + 1) // jobs) * PER_DIR)
        if lo >= hi:
            continue
        pid = os.fork()
        if pid == 0:
            try:
                fn(lo, hi)
                os._exit(0)
            except BaseException as e:  # noqa: BLE001 - report and fail the child
                print("snapbench.py: %s" % e, file=sys.stderr)
                os._exit(1)
        pids.append(pid)
    bad = 0
    for pid in pids:
        _, st = os.waitpid(pid, 0)
        bad |= st
    if bad:
        sys.exit("snapbench.py: a writer failed")


def cmd_block(path):
    with open("/dev/urandom", "rb") as r, open(path, "wb") as w:
        w.write(r.read(64 << 20))


def cmd_mkfiles(blockf, d, n, jobs="2"):
    block = load_block(blockf)
    n = int(n)
    t = time.monotonic()
    parallel(int(jobs), lambda lo, hi: mkfiles_range(block, d, lo, hi), n)
    print("%.3f" % (time.monotonic() - t))


def big_chunk(block, j, tag=b"B"):
    off = (j * CHUNK) % len(block)
    body = block[off + HDR:off + CHUNK]
    if len(body) < CHUNK - HDR:
        body += block[:CHUNK - HDR - len(body)]
    return (tag + b"%015d" % j)[:HDR] + body


def cmd_mkbig(blockf, path, gib):
    block = load_block(blockf)
    nchunks = int(gib) * (1 << 30) // CHUNK
    t = time.monotonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    per = 16  # 1 MiB writes
    for j in range(0, nchunks, per):
        os.write(fd, b"".join(big_chunk(block, k) for k in range(j, min(nchunks, j + per))))
    os.close(fd)
    print("%.3f" % (time.monotonic() - t))


def cmd_modfiles(blockf, d, n):
    block = load_block(blockf)
    for i in range(0, int(n), 100):
        fd = os.open(file_path(d, i), os.O_WRONLY)
        os.pwrite(fd, file_bytes(block, i + 1, b"M"), 0)
        os.close(fd)


def cmd_modbig(blockf, path):
    block = load_block(blockf)
    fd = os.open(path, os.O_WRONLY)
    nchunks = os.fstat(fd).st_size // CHUNK
    for j in range(0, nchunks, 100):
        os.pwrite(fd, big_chunk(block, j + 1, b"M"), j * CHUNK)
    os.close(fd)


def read_file(p):
    n = 0
    fd = os.open(p, os.O_RDONLY)
    try:
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            n += len(b)
    finally:
        os.close(fd)
    return n


def cmd_readall(path):
    t = time.monotonic()
    total = files = 0
    if os.path.isfile(path):
        total, files = read_file(path), 1
    else:
        for root, dirs, fs in os.walk(path):
            dirs.sort()
            for f in sorted(fs):
                total += read_file(os.path.join(root, f))
                files += 1
    print("%d %.3f %d" % (total, time.monotonic() - t, files))


# ------------------------------------------------------------------ report

def load(tsv):
    """TSV lines: system, dataset, metric, value (one line per repetition)."""
    d = {}
    with open(tsv) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) != 4:
                continue
            d.setdefault((p[0], p[1], p[2]), []).append(float(p[3]))
    return d


def fmt(v):
    if v is None:
        return "–"
    a = abs(v)
    if a >= 1000:
        return "{:,.0f}".format(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3f" % v


def cell(vals):
    if not vals:
        return "–", None
    m = statistics.median(vals)
    if len(vals) == 1:
        return fmt(m) + " (n=1)", m
    return "%s (%s–%s)" % (fmt(m), fmt(min(vals)), fmt(max(vals))), m


def cmd_report(tsv, out, facts, maxn="0", big="4", mid="100000"):
    d = load(tsv)
    with open(facts) as f:
        facts_txt = f.read()
    order = ["1k", "100k", "max", "1m", "big"]
    names = {"1k": "1,000 files", "100k": "{:,} files".format(int(mid)),
             "max": "{:,} files".format(int(maxn)), "1m": "1,000,000 files", "big": "one %s GiB file" % big}
    datasets = [x for x in order if any(k[1] == x for k in d)]
    metrics = [
        ("create", "content written through the mount, s", False),
        ("snap", "snapshot create (read-only), s", False),
        ("clone", "clone (writable snapshot), s", False),
        ("send", "full send to a file, s", False),
        ("send_mib", "full stream size, MiB", False),
        ("send_rate", "full send rate, MiB/s", True),
        ("recv", "full receive (second store), s", False),
        ("recv_sync", "full receive + sync, s", False),
        ("isend", "incremental send (1% changed), s", False),
        ("isend_mib", "incremental stream size, MiB", False),
        ("irecv", "incremental receive, s", False),
        ("irecv_sync", "incremental receive + sync, s", False),
        ("read_origin", "cold read of the origin snapshot, MiB/s", True),
        ("read_clone10", "cold read through a clone 10 deep, MiB/s", True),
        ("read_origin_fps", "cold read of the origin snapshot, files/s", True),
        ("read_clone10_fps", "cold read through a clone 10 deep, files/s", True),
    ]
    L = [facts_txt.rstrip(), ""]
    L.append("Each cell: median of the repetitions (min–max); `n=1` marks a single run. "
             "ratio = cstorfs / btrfs for times and sizes, btrfs / cstorfs for rates, "
             "so > 1 always means cstorfs is worse.")
    L.append("")
    for ds in datasets:
        L.append("### %s" % names[ds])
        L.append("")
        L.append("| metric | cstorfs | btrfs | ratio |")
        L.append("|---|---|---|---|")
        for key, label, higher_better in metrics:
            c = d.get(("cstorfs", ds, key), [])
            b = d.get(("btrfs", ds, key), [])
            if not c and not b:
                continue
            cs, cm = cell(c)
            bs, bm = cell(b)
            ratio = "–"
            if cm is not None and bm is not None and cm > 0 and bm > 0:
                r = bm / cm if higher_better else cm / bm
                ratio = "%.1f×" % r if r >= 10 else "%.2f×" % r
            L.append("| %s | %s | %s | %s |" % (label, cs, bs, ratio))
        L.append("")
    # flatness summary
    L.append("### Flatness: snapshot and clone time against size (medians, s)")
    L.append("")
    L.append("| | " + " | ".join(names[x] for x in datasets) + " |")
    L.append("|---" * (len(datasets) + 1) + "|")
    for sysn in ("cstorfs", "btrfs"):
        for key, label in (("snap", "snapshot"), ("clone", "clone")):
            row = []
            for ds in datasets:
                v = d.get((sysn, ds, key))
                row.append(fmt(statistics.median(v)) if v else "–")
            L.append("| %s %s | %s |" % (sysn, label, " | ".join(row)))
    L.append("")
    L.append("<details><summary>Raw measurements (system, set, metric, value; one line per "
             "repetition)</summary>")
    L.append("")
    L.append("```")
    with open(tsv) as f:
        L.extend(line.rstrip("\n") for line in f)
    L.append("```")
    L.append("")
    L.append("</details>")
    L.append("")
    # A hand-written "## Findings" section of the previous report survives a rerun (kept
    # below the new tables: re-check it against the new figures).
    prev = os.environ.get("SNAPBENCH_OUT") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "RESULTS-snapshots.md")
    try:
        with open(prev) as f:
            old = f.read()
        i = old.find("\n## Findings")
        if i >= 0:
            L.append(old[i + 1:].rstrip())
            L.append("")
    except OSError:
        pass
    with open(out, "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = globals().get("cmd_" + cmd)
    if fn is None:
        sys.exit(__doc__)
    fn(*args)


if __name__ == "__main__":
    main()
