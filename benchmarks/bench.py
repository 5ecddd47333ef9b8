#!/usr/bin/python3
"""bench.py - helpers for benchmarks/run.sh (python3 standard library only).

  bench.py fio FILE.json         print "MiB_per_s IOPS p99_us" of the job's main direction
  bench.py vol STORE_JSON        print "raw stored" from `cstorfs-ctl --json volume inspect`
  bench.py report TSV META OUT   medians, min-max, ratios and issue 7's targets -> OUT (markdown),
                                 and the same tables on stdout

TSV rows (written by run.sh): round, system, metric, value.  META: key=value lines (machine
facts, run parameters) written by run.sh.
"""
import json
import os
import statistics
import sys

SYSTEMS = ["native", "ptll", "cstorfs"]
NAMES = {"native": "native", "ptll": "passthrough_ll", "cstorfs": "cstorfs"}

# metric -> (label, unit, higher_is_better, section)
METRICS = [
    ("seq_write_incomp", "seq write 1 MiB blocks, incompressible, end fsync", "MiB/s", True, "data"),
    ("seq_read_incomp", "seq read cold, incompressible", "MiB/s", True, "data"),
    ("seq_write_comp", "seq write 1 MiB blocks, compressible 50%, end fsync", "MiB/s", True, "data"),
    ("seq_read_comp", "seq read cold, compressible 50%", "MiB/s", True, "data"),
    ("randread_buf_iops", "random read 4 KiB buffered", "IOPS", True, "data"),
    ("randread_buf_p99", "random read 4 KiB buffered, p99 latency", "µs", False, "data"),
    ("randwrite_buf_iops", "random write 4 KiB buffered", "IOPS", True, "data"),
    ("randwrite_buf_p99", "random write 4 KiB buffered, p99 latency", "µs", False, "data"),
    ("randread_dir_iops", "random read 4 KiB O_DIRECT", "IOPS", True, "data"),
    ("randread_dir_p99", "random read 4 KiB O_DIRECT, p99 latency", "µs", False, "data"),
    ("randwrite_dir_iops", "random write 4 KiB O_DIRECT", "IOPS", True, "data"),
    ("randwrite_dir_p99", "random write 4 KiB O_DIRECT, p99 latency", "µs", False, "data"),
    ("meta_create", "create empty files", "/s", True, "meta"),
    ("meta_write", "small file write (open, 4 KiB, close)", "/s", True, "meta"),
    ("meta_stat_cold", "stat, cold kernel caches", "/s", True, "meta"),
    ("meta_stat_warm", "stat, warm", "/s", True, "meta"),
    ("meta_readdir_cold", "readdir, cold kernel caches", "entries/s", True, "meta"),
    ("meta_orc", "open-read(4 KiB)-close", "/s", True, "meta"),
    ("meta_unlink", "unlink (then rmdir)", "/s", True, "meta"),
    ("tree_untar", "untar the python tree", "s", False, "tree"),
    ("tree_tarread", "tar-read the tree, cold kernel caches", "s", False, "tree"),
    ("tree_rm", "rm -rf the tree", "s", False, "tree"),
    ("tree_untar_rm", "untar + rm -rf", "s", False, "tree"),
    ("cpu_per_gib_incomp", "daemon CPU per GiB written, incompressible", "CPU s/GiB", False, "daemon"),
    ("cpu_per_gib_comp", "daemon CPU per GiB written, compressible", "CPU s/GiB", False, "daemon"),
]
PHASES = ["seq_incomp_write", "seq_incomp_read", "seq_comp_write", "seq_comp_read",
          "rand", "meta", "tree"]

# (label, metric, kind, threshold): kind "vs_ptll"/"vs_native" ratio >= threshold for
# higher-is-better, "time_vs_ptll" ratio <= threshold, "rss" peak MiB < threshold.
TARGETS = [
    ("seq write incompressible ≥ 1.0× passthrough_ll", "seq_write_incomp", "vs_ptll", 1.0),
    ("seq write compressible ≥ 1.0× native", "seq_write_comp", "vs_native", 1.0),
    ("seq read cold ≥ 0.9× passthrough_ll (incompressible)", "seq_read_incomp", "vs_ptll", 0.9),
    ("seq read cold ≥ 0.9× passthrough_ll (compressible)", "seq_read_comp", "vs_ptll", 0.9),
    ("metadata create ≥ 2× passthrough_ll", "meta_create", "vs_ptll", 2.0),
    ("metadata unlink ≥ 2× passthrough_ll", "meta_unlink", "vs_ptll", 2.0),
    ("stat ≥ 2× passthrough_ll (cold)", "meta_stat_cold", "vs_ptll", 2.0),
    ("stat ≥ 2× passthrough_ll (warm)", "meta_stat_warm", "vs_ptll", 2.0),
    ("open-read-close ≥ 2× passthrough_ll", "meta_orc", "vs_ptll", 2.0),
    ("untar + rm -rf ≤ 0.6× passthrough_ll's time", "tree_untar_rm", "time_vs_ptll", 0.6),
    ("random 4 KiB buffered write ≥ 1.0× passthrough_ll", "randwrite_buf_iops", "vs_ptll", 1.0),
    ("daemon RSS < 300 MiB (peak VmHWM over all workloads)", None, "rss", 300.0),
]


def cmd_fio(path):
    with open(path) as f:
        text = f.read()
    # fio may print warnings before the JSON object
    j = json.loads(text[text.index("{"):])
    job = j["jobs"][0]
    if job.get("error"):
        sys.exit(1)
    d = job["write"] if job["write"]["io_bytes"] > job["read"]["io_bytes"] else job["read"]
    p99 = d["clat_ns"].get("percentile", {}).get("99.000000", 0) / 1000.0
    print("%.3f %.1f %.1f" % (d["bw_bytes"] / 1048576.0, d["iops"], p99))


def cmd_vol(path):
    with open(path) as f:
        s = json.load(f)["stats"]
    print(s.get("raw_bytes", 0), s.get("stored_bytes", 0))


def fmt(v):
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1000:
        return "{:,.0f}".format(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.2f" % v


def load(tsv):
    data = {}
    with open(tsv) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                continue
            _rnd, system, metric, value = parts
            try:
                data.setdefault((system, metric), []).append(float(value))
            except ValueError:
                pass
    # derived: untar + rm per round (pair by order)
    for s in SYSTEMS:
        u, r = data.get((s, "tree_untar")), data.get((s, "tree_rm"))
        if u and r and len(u) == len(r):
            data[(s, "tree_untar_rm")] = [a + b for a, b in zip(u, r)]
    return data


def stats(vals):
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals), len(vals)


def cell(st):
    if st is None:
        return "—"
    med, lo, hi, n = st
    if n == 1:
        return fmt(med)
    return "%s (%s–%s)" % (fmt(med), fmt(lo), fmt(hi))


def ratio(a, b, higher):
    """cstorfs relative to b: for throughput a/b (>1 better), for times and latency a/b
    (<1 better); the table header says which."""
    if a is None or b is None or b[0] == 0:
        return None
    return a[0] / b[0]


def rstr(r):
    return "—" if r is None else "%.2f×" % r


def cmd_report(tsv, metafile, out):
    meta = {}
    with open(metafile) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    data = load(tsv)
    fails = {}
    try:
        with open(tsv + ".fail") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t", 3)
                if len(parts) >= 3:
                    fails.setdefault((parts[1], parts[2]), parts[3] if len(parts) > 3 else "")
    except FileNotFoundError:
        pass

    L = []
    L.append("# cstorfs benchmark results (`make bench`)\n")
    L.append("Generated by `benchmarks/run.sh` (issue 7's harness). Every figure below was taken in "
             "the same run, on the same disk; each is the **median of %s round(s)** with min–max in "
             "parentheses. Ratios are cstorfs ÷ the other system's median: for rates (MiB/s, IOPS, "
             "/s) above 1× means cstorfs is faster; for times and latencies (s, µs, CPU s/GiB) "
             "below 1× means cstorfs is faster.\n" % meta.get("rounds", "?"))
    if meta.get("quick") == "1":
        L.append("**BENCH_QUICK=1 smoke run: reduced sizes, one round. Not representative.**\n")
    L.append("## Machine and run\n")
    for k, label in [("date", "date"), ("commit", "git commit"), ("dirty", "working tree"), ("binary", "binary"),
                     ("cpu", "CPU"), ("cores", "cores"), ("mem", "memory"), ("kernel", "kernel"),
                     ("os", "OS"), ("benchdir", "bench dir"), ("fs", "bench dir filesystem"),
                     ("disk", "disk"), ("fio", "fio"), ("libfuse", "libfuse"),
                     ("ptll", "passthrough_ll"), ("params", "sizes"), ("duration", "run time"), ("load", "machine load")]:
        if k in meta:
            L.append("- **%s**: %s" % (label, meta[k]))
    L.append("")
    L.append("Systems: **native** = a plain directory on the bench dir's filesystem; "
             "**passthrough_ll** = libfuse's `passthrough_ll` example (default options: "
             "no writeback cache, 1 s entry/attr timeout, multi-threaded) compiled at bench time "
             "from Debian's libfuse3-dev copy, passing through to a directory on the same disk; "
             "**cstorfs** = a fresh store in the bench dir, default volume options (zstd:1).\n")

    sections = [("data", "Data (fio, psync, 1 job, queue depth 1)"),
                ("meta", "Metadata (benchmarks/metabench.c)"),
                ("tree", "A real tree (tarball of /usr/lib/python3*)"),
                ("daemon", "Daemon CPU")]
    for sec, title in sections:
        L.append("## %s\n" % title)
        L.append("| metric | unit | native | passthrough_ll | cstorfs | cstorfs vs native | cstorfs vs passthrough_ll |")
        L.append("|---|---|---|---|---|---|---|")
        for key, label, unit, higher, s in METRICS:
            if s != sec:
                continue
            sts = {sy: stats(data.get((sy, key))) for sy in SYSTEMS}
            if all(v is None for v in sts.values()) and not any((sy, key) in fails for sy in SYSTEMS):
                continue
            cells = []
            for sy in SYSTEMS:
                if sts[sy] is None and (sy, key) in fails:
                    cells.append("fails (%s)" % fails[(sy, key)])
                else:
                    cells.append(cell(sts[sy]))
            rn = ratio(sts["cstorfs"], sts["native"], higher)
            rp = ratio(sts["cstorfs"], sts["ptll"], higher)
            L.append("| %s | %s | %s | %s | %s | %s | %s |" % (label, unit, cells[0], cells[1], cells[2],
                                                               rstr(rn), rstr(rp)))
        L.append("")

    # memory
    L.append("## Daemon memory at the end of each workload (MiB)\n")
    L.append("VmRSS / VmHWM from /proc/PID/status. Each workload runs against a fresh daemon "
             "(cstorfs: fresh store; cold reads restart it), so VmHWM is that workload's peak.\n")
    L.append("| workload | passthrough_ll VmRSS | passthrough_ll VmHWM | cstorfs VmRSS | cstorfs VmHWM |")
    L.append("|---|---|---|---|---|")
    peak = None
    for ph in PHASES:
        row = []
        for sy in ("ptll", "cstorfs"):
            for k in ("rss", "hwm"):
                st = stats([v / 1024.0 for v in data.get((sy, "%s_%s" % (k, ph)), [])])
                row.append(cell(st))
                if sy == "cstorfs" and k == "hwm" and st:
                    peak = st[2] if peak is None else max(peak, st[2])
        if any(c != "—" for c in row):
            L.append("| %s | %s |" % (ph, " | ".join(row)))
    L.append("")
    ratios = data.get(("cstorfs", "stored_ratio_incomp")), data.get(("cstorfs", "stored_ratio_comp"))
    if ratios[0] or ratios[1]:
        L.append("cstorfs stored/raw bytes after the sequential writes: incompressible %s, "
                 "compressible %s (1.00 = stored as is; checks fio's data is neither deduplicated "
                 "nor compressed where it should not be).\n"
                 % (cell(stats(ratios[0] or [])), cell(stats(ratios[1] or []))))

    # targets
    L.append("## Issue 7 targets\n")
    L.append("| target | measured | met? |")
    L.append("|---|---|---|")
    met_n = tot = 0
    for label, key, kind, thr in TARGETS:
        if kind == "rss":
            if peak is None:
                L.append("| %s | — | not measured |" % label)
                continue
            ok = peak < thr
            meas = "%.0f MiB" % peak
        else:
            c = stats(data.get(("cstorfs", key)))
            o = stats(data.get(("native" if kind == "vs_native" else "ptll", key)))
            r = ratio(c, o, True)
            if r is None:
                L.append("| %s | — | not measured |" % label)
                continue
            ok = r <= thr if kind == "time_vs_ptll" else r >= thr
            meas = "%.2f×" % r
        tot += 1
        met_n += ok
        L.append("| %s | %s | %s |" % (label, meas, "**met**" if ok else "not met"))
    L.append("")
    L.append("%d of %d targets met.\n" % (met_n, tot))

    L.append("## Method\n")
    L.append(
        "- cstorfs mounts with its defaults: kernel read-ahead 8 MiB (`readahead_kb`) and 10%% of the "
        "system's dirty page limit (`dirty_ratio`; the kernel gives FUSE mounts 1%%). passthrough_ll "
        "runs with the kernel's FUSE defaults (128 KiB, 1%%), as it ships.\n"
        "- Sequential: `fio --rw=write --bs=1M --size=%(seq)s --end_fsync=1` (bandwidth includes the "
        "final fsync), then unmount, stop the FUSE daemon, `sync; echo 3 > /proc/sys/vm/drop_caches`, "
        "remount (cstorfs: a new cstorfsd on the same store) and `fio --rw=read --bs=1M`. "
        "Incompressible = fio's default buffers (random, scrambled per write so nothing "
        "deduplicates; fio's generator leaves them 7-11%% compressible by `zstd -1`, less than the 1/8 "
        "cstorfs asks of compression, so it stores them as they are: stored/raw 1.00 below); "
        "compressible = "
        "`buffer_compress_percentage=50`.\n"
        "- Random: a %(rand)s file laid out with fio, then `--rw=randread|randwrite --bs=4k` for "
        "%(rt)s s each (after 1 s ramp), psync, buffered (`direct=0`, file pre-read into the page "
        "cache with `pre_read=1`: a working set that fits in memory) then O_DIRECT (`direct=1`); "
        "`sync FILE` (untimed) after each write job. p99 is fio's completion latency.\n"
        "- Metadata: `metabench` on %(mf)s files in 20 directories: create (empty), write 4 KiB, "
        "drop caches, stat (cold), stat (warm), drop caches, readdir (cold), open-read-close, "
        "unlink + rmdir. \"Cold\" drops the kernel's caches (dentries, inodes, pages); FUSE daemons "
        "keep running.\n"
        "- Tree: a tar of /usr/lib/python3* (%(tree)s), read into the page cache first; `tar -xf`, "
        "then drop caches and `tar -cf - . | cat >/dev/null`, then `rm -rf`.\n"
        "- CPU per GiB: utime+stime of the daemon process (/proc/PID/stat, all threads) across the "
        "fio write, divided by the GiB written.\n"
        "- Order: for each round, each workload, each system in turn (native, passthrough_ll, "
        "cstorfs), each from a fresh directory/store; so drift hits all three alike.\n"
        % {"seq": meta.get("seq_size", "?"), "rand": meta.get("rand_size", "?"),
           "rt": meta.get("rand_runtime", "?"), "mf": meta.get("meta_files", "?"),
           "tree": meta.get("tree", "?")})
    if meta.get("meta_note"):
        L.append("- Metadata file count: %s.\n" % meta["meta_note"])
    text = "\n".join(L) + "\n"
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "PROFILE.md")) as f:
            text += "\n" + f.read()
    except (FileNotFoundError, OSError):
        pass
    with open(out, "w") as f:
        f.write(text)
    print(text)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "fio":
        cmd_fio(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "vol":
        cmd_vol(sys.argv[2])
    elif len(sys.argv) >= 5 and sys.argv[1] == "report":
        cmd_report(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
