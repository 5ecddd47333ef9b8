#!/usr/bin/python3
"""bench.py - helpers for benchmarks/run.sh (python3 standard library only).

  bench.py fio FILE.json         print "MiB_per_s IOPS p99_us" of the job's main direction
  bench.py vol STORE_JSON        print "raw stored" from `cstorfs-ctl --json volume inspect`
  bench.py chunks STATUS_JSON    print "files bytes live_bytes reclaimed_bytes" of the chunk
                                 store from `cstorfs-ctl --json status` (zeros if absent)
  bench.py radosdf DF_JSON POOL  print "bytes objects" of POOL from `rados df --format=json`
  bench.py report TSV META OUT   medians, min-max, ratios and issues 7's and 14's targets and
                                 issue 15's RADOS table -> OUT (markdown),
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
    ("randwrite_dir4k_iops", "random write 4 KiB O_DIRECT, volume with 4 KiB chunks", "IOPS", True, "data"),
    ("randwrite_dir4k_p99", "random write 4 KiB O_DIRECT, 4 KiB chunks, p99 latency", "µs", False, "data"),
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
    ("wdw_t1", "loop 1 write (fresh random, end fsync)", "s", False, "wdw"),
    ("wdw_t2", "loop 2 write", "s", False, "wdw"),
    ("wdw_t3", "loop 3 write", "s", False, "wdw"),
    ("wdw_t4", "loop 4 write", "s", False, "wdw"),
    ("wdw_ratio", "slowest of loops 2-4 ÷ loop 1", "×", False, "wdw"),
]
PHASES = ["seq_incomp_write", "seq_incomp_read", "seq_comp_write", "seq_comp_read",
          "rand", "meta", "tree", "wdw", "rados"]
WDW_LOOPS = 4

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

# Issue 14's targets: (label, metric, kind, threshold). kind: "vs_ptll"/"vs_native" cstorfs ÷
# other >= threshold (rates); "speed_vs_ptll" passthrough's time ÷ cstorfs's >= threshold
# (times, so above 1× is faster here too); "cpu_vs_ptll" cstorfs ÷ passthrough <= threshold;
# "wdw" cstorfs's own slowest-later-loop ratio <= threshold; "dio4k" cstorfs's 4 KiB-chunk
# volume ÷ native's O_DIRECT random writes >= threshold.
TARGETS14 = [
    ("seq write, fresh random data ≥ 1.0× passthrough_ll", "seq_write_incomp", "vs_ptll", 1.0),
    ("seq write, fresh random data ≥ 0.8× native", "seq_write_incomp", "vs_native", 0.8),
    ("seq write, compressible 50% ≥ 1.0× native", "seq_write_comp", "vs_native", 1.0),
    ("seq read cold ≥ 0.9× passthrough_ll (the fresh random file)", "seq_read_incomp", "vs_ptll", 0.9),
    ("seq read cold ≥ 0.9× passthrough_ll (the compressible file)", "seq_read_comp", "vs_ptll", 0.9),
    ("random 4 KiB buffered writes ≥ 1.0× passthrough_ll", "randwrite_buf_iops", "vs_ptll", 1.0),
    ("small-file write (open, 4 KiB, close) ≥ 1.0× passthrough_ll", "meta_write", "vs_ptll", 1.0),
    ("unlink ≥ 1.0× passthrough_ll", "meta_unlink", "vs_ptll", 1.0),
    ("untar ≥ 1.0× passthrough_ll (its time ÷ cstorfs's)", "tree_untar", "speed_vs_ptll", 1.0),
    ("daemon CPU per GiB written ≤ 2× passthrough_ll's (fresh random)", "cpu_per_gib_incomp", "cpu_vs_ptll", 2.0),
    ("daemon CPU per GiB written ≤ 2× passthrough_ll's (compressible)", "cpu_per_gib_comp", "cpu_vs_ptll", 2.0),
    ("write-delete-write: slowest of loops 2-4 within 10% of loop 1", "wdw_ratio", "wdw", 1.10),
    ("O_DIRECT 4 KiB random writes, 4 KiB-chunk volume ≥ 0.5× native", "randwrite_dir4k_iops", "dio4k", 0.5),
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


def cmd_chunks(path):
    with open(path) as f:
        cs = json.load(f).get("chunk_store") or {}
    print(" ".join(str(int(cs.get(k, 0))) for k in ("files", "bytes", "live_bytes", "reclaimed_bytes")))


def cmd_radosdf(path, pool):
    with open(path) as f:
        pools = json.load(f).get("pools", [])
    p = next((x for x in pools if x.get("name") == pool), {})
    print(int(p.get("size_bytes", 0)), int(p.get("num_objects", 0)))


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
        # write-delete-write per round: the slowest later loop against the first
        loops = [data.get((s, "wdw_t%d" % i)) for i in range(1, WDW_LOOPS + 1)]
        if all(loops) and len(set(len(x) for x in loops)) == 1:
            data[(s, "wdw_ratio")] = [max(t[1:]) / t[0] for t in zip(*loops) if t[0] > 0]
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


def chunk_table(data):
    """cstorfs's chunk store (cstorfs-ctl status) after each write-delete-write loop."""
    rows = [("wdw_%d" % i, "after loop %d (deleted, synced)" % i) for i in range(1, WDW_LOOPS + 1)]
    rows.append(("wdw_settled", "6 s later (background gc polls every 2 s)"))
    L = []
    for tag, label in rows:
        cells = []
        for m in ("files", "bytes", "live_bytes", "reclaimed_bytes"):
            st = stats([v / (1 if m == "files" else 1048576.0)
                        for v in data.get(("cstorfs", "cs_%s_%s" % (m, tag)), [])])
            # a count of files reads as a whole number ("3", not "3.00")
            cells.append("%.0f" % st[0] if m == "files" and st and st[3] == 1 else cell(st))
        if all(c == "—" for c in cells):
            continue
        L.append("| %s | %s |" % (label, " | ".join(cells)))
    if not L:
        return []
    live = stats(data.get(("cstorfs", "cs_live_bytes_wdw_settled")) or
                 data.get(("cstorfs", "cs_live_bytes_wdw_%d" % WDW_LOOPS)) or [])
    if live and live[0] >= 1048576:
        # every loop's file was deleted: whatever is still live was never let go
        L += ["", "Every loop's file was deleted, yet %s MiB of chunks are still live at the end: "
              "the store did not let go of deleted data, so the loop measures no reclaim (and its "
              "disk use grows)." % fmt(live[0] / 1048576.0)]
    return ["cstorfs's chunk store during the loop (`cstorfs-ctl --json status`, \"chunk_store\"; "
            "given back = since the daemon started):\n",
            "| when | chunk files | bytes on disk (MiB) | live (MiB) | given back (MiB) |",
            "|---|---|---|---|---|"] + L + [""]


def target14(data, meta, key, kind, thr):
    """-> (measured text, met: True/False/None); None: not measured."""
    c = stats(data.get(("cstorfs", key)))
    if kind == "dio4k":
        if meta.get("chunk_opt", "none") == "none":
            return "not measurable: per-volume chunk size not built", None
        o = stats(data.get(("native", "randwrite_dir_iops")))
        r = ratio(c, o, True)
        return (None, None) if r is None else ("%.2f× (%s vs %s IOPS)" % (r, fmt(c[0]), fmt(o[0])), r >= thr)
    if kind == "wdw":
        t = [stats(data.get(("cstorfs", "wdw_t%d" % i))) for i in range(1, WDW_LOOPS + 1)]
        if c is None or None in t:
            return None, None
        return ("%.2f× (loops %s s)" % (c[0], ", ".join(fmt(x[0]) for x in t)), c[0] <= thr)
    o = stats(data.get(("native" if kind == "vs_native" else "ptll", key)))
    if c is None or o is None or c[0] == 0 or o[0] == 0:
        return None, None
    unit = {m[0]: m[2] for m in METRICS}[key]
    r = o[0] / c[0] if kind == "speed_vs_ptll" else c[0] / o[0]
    ok = r <= thr if kind == "cpu_vs_ptll" else r >= thr
    return "%.2f× (%s vs %s %s)" % (r, fmt(c[0]), fmt(o[0]), unit), ok


def targets14(data, meta):
    L = ["## Issue 14 targets\n",
         "cstorfs against passthrough_ll and native in this run (medians; in parentheses "
         "cstorfs's figure vs the other system's, or for write-delete-write cstorfs's loop "
         "times).\n",
         "| target | measured | met? |", "|---|---|---|"]
    met_n = tot = 0
    for label, key, kind, thr in TARGETS14:
        meas, ok = target14(data, meta, key, kind, thr)
        if ok is None:
            L.append("| %s | %s | %s |" % (label, "—" if meas is None else meas,
                                           "not measured" if meas is None else "not measurable"))
            continue
        tot += 1
        met_n += ok
        L.append("| %s | %s | %s |" % (label, meas, "**met**" if ok else "not met"))
    L.append("")
    L.append("%d of %d measured targets met.\n" % (met_n, tot))
    return L


def rados_table(data, meta, fails):
    """Issue 15: cstorfs on a RADOS pool beside `rados bench` on the same pool, same run."""
    rows = [("write", "seq write 1 MiB blocks, fresh random, end fsync", "rados_cs_write",
             "rados_bench_write"),
            ("read", "seq read cold (remount, caches dropped)", "rados_cs_read", "rados_bench_read")]
    L = []
    for _, label, cs_key, rb_key in rows:
        c = stats(data.get(("cstorfs", cs_key)))
        b = stats(data.get(("radosbench", rb_key)))
        if c is None and b is None and ("cstorfs", cs_key) not in fails and \
                ("radosbench", rb_key) not in fails:
            continue
        cc = "fails (%s)" % fails[("cstorfs", cs_key)] if c is None and ("cstorfs", cs_key) in fails else cell(c)
        bc = "fails (%s)" % fails[("radosbench", rb_key)] if b is None and ("radosbench", rb_key) in fails else cell(b)
        L.append("| %s | %s | %s | %s |" % (label, cc, bc, rstr(ratio(c, b, True))))
    if not L:
        return []
    out = ["## RADOS (issue 15): %s\n" % meta.get("rados", "?").replace(" x ", " × "),
           "A volume of a store whose chunks live in the pool (`store create --chunks rados:cstorfs`) "
           "beside `rados bench` writing then reading (`seq`) the same pool in the same run, the "
           "pool's limit: as many bytes in 64 KiB objects (a chunk's size), 16 in flight. The "
           "cluster is scripts/ceph-dev.sh's one node (one OSD on memstore, so the pool is RAM and "
           "a cold read is cold only on the client's side). rados bench's \"MB/sec\" is MiB/s.\n",
           "| metric | cstorfs (MiB/s) | rados bench (MiB/s) | cstorfs ÷ rados bench |",
           "|---|---|---|---|"] + L + [""]
    pb = stats(data.get(("cstorfs", "rados_pool_bytes_cs")))
    po = stats(data.get(("cstorfs", "rados_pool_objects_cs")))
    if pb and po:
        out.append("The pool after cstorfs's write (`rados df`): %s MiB in %s objects.\n"
                   % (fmt(pb[0] / 1048576.0), "%.0f" % po[0]))
    pb2 = stats(data.get(("cstorfs", "rados_pool_bytes_cs2")))
    po2 = stats(data.get(("cstorfs", "rados_pool_objects_cs2")))
    if pb and pb2 and po2:
        out.append("After a second store of the pool (another host) wrote the same bytes (a copy "
                   "of the file, fsync'd): %s MiB in %s objects, %+.2f%% (dedup across hosts).\n"
                   % (fmt(pb2[0] / 1048576.0), "%.0f" % po2[0],
                      100.0 * (pb2[0] - pb[0]) / pb[0]))
    elif ("cstorfs", "rados_pool_bytes_cs2") in fails:
        out.append("The second store's write: fails (%s).\n"
                   % fails[("cstorfs", "rados_pool_bytes_cs2")])
    return out


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
                ("daemon", "Daemon CPU"),
                ("wdw", "Write-delete-write (issue 14): %s, each written, deleted, synced" % meta.get("wdw", "?").replace(" x ", " × "))]
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
            if unit == "×":  # a system's ratio to itself: nothing to compare across systems
                rn = rp = None
            L.append("| %s | %s | %s | %s | %s | %s | %s |" % (label, unit, cells[0], cells[1], cells[2],
                                                               rstr(rn), rstr(rp)))
        L.append("")

    L.extend(chunk_table(data))

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

    L.extend(targets14(data, meta))
    L.extend(rados_table(data, meta, fails))

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
        "Both with `refill_buffers`: fresh random bytes in every 1 MiB block, so nothing "
        "deduplicates and no buffer is reused. Incompressible = fio's random generator (cstorfs "
        "stores it as it is: stored/raw 1.00 below); compressible = "
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
        "- Write-delete-write (issue 14): on one mount (and one daemon), %(wdw)s, each loop: `fio "
        "--rw=write --bs=1M --end_fsync=1 --refill_buffers` of a fresh file, `rm`, `sync`. Each loop's "
        "time is the wall time of the fio run (start to the end of its fsync); the figure is the "
        "slowest of loops 2-4 ÷ loop 1, per round. cstorfs's background gc runs on its own (never "
        "called by hand); its chunk store is read with `cstorfs-ctl --json status` after each "
        "loop and 6 s after the last.\n"
        "- O_DIRECT on a 4 KiB-chunk volume (issue 14): run only when `cstorfs-ctl volume create` "
        "has a chunk-size option (here: %(copt)s): the random-write O_DIRECT job on a volume "
        "created with it set to 4K.\n"
        "- RADOS (issue 15): `scripts/ceph-dev.sh start` (one monitor, mgr, OSD on memstore) in the "
        "bench dir; a store created with `--chunks rados:cstorfs`, a volume, the sequential write "
        "and cold read above on it; a second store of the pool (standing for another host) copies "
        "the file into a volume of its own (fsync'd), and `rados df` gives the pool's bytes after "
        "each; the stores stopped (its chunks stay in the pool), then `rados bench 600 write --no-cleanup -b "
        "65536 -t 16 --max-objects N` (N objects = the same bytes) and `rados bench 600 seq`; then "
        "the pool deleted and the cluster stopped.\n"
        "- CPU per GiB: utime+stime of the daemon process (/proc/PID/stat, all threads) across the "
        "fio write, divided by the GiB written.\n"
        "- Order: for each round, each workload, each system in turn (native, passthrough_ll, "
        "cstorfs), each from a fresh directory/store; so drift hits all three alike.\n"
        % {"seq": meta.get("seq_size", "?"), "rand": meta.get("rand_size", "?"),
           "rt": meta.get("rand_runtime", "?"), "mf": meta.get("meta_files", "?"),
           "tree": meta.get("tree", "?"),
           "wdw": meta.get("wdw", "?").replace(" x ", " × "), "copt": meta.get("chunk_opt", "?")})
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
    elif len(sys.argv) >= 3 and sys.argv[1] == "chunks":
        cmd_chunks(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "radosdf":
        cmd_radosdf(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "report":
        cmd_report(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
