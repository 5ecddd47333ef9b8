"""A cut `send | receive` finished by running the same command again (issue 13).

Everything runs through real processes: `cstorfs-ctl send` on one store's
daemon piped into `cstorfs-ctl receive` on another's; a cut is the same
pipeline with `head -c N` in the middle. The stream is cut at 20 points
(inside the header, at record boundaries, inside records, inside the
trailer), and each time the plain pipeline run again finishes the transfer,
reading past what the partial receive holds; the received snapshot is
compared with the source's through FUSE mounts of both (every file's bytes,
holes, modes, owners, times, xattrs, links). Also: another stream while a
partial receive exists is refused naming both and the ways out, changing
nothing; `--abort`, then the rerun starts from scratch; a corrupted rerun is
refused and the partial receive kept; a rerun after the receive completed
says "received already" (exit 5).
"""

import json
import random
import re
import subprocess

from conftest import (CTL, EXIT_EXISTS, EXIT_FAIL, assert_error, create_volume, ctl_json,
                      describe, mounted, ok, product_env, run_ctl)
from test_streams import (REC_HEAD, chunks, describe_tree, no_partial, populate,  # noqa: F401
                          records, send, snapshot, two, volume_absent, mutate)

RECEIVED = re.compile(r"received '([^']+)': \S+ in (\d+) records")


def pipeline(two, spec, vol, *send_opts, cut=None):
    """`cstorfs-ctl send SPEC | cstorfs-ctl receive VOL` as a user types it,
    with `head -c CUT` in between for a cut. Returns (exit code of receive,
    its stdout, its stderr)."""
    snd = f"{CTL} --store {two.a} send {spec} {' '.join(send_opts)}"
    rcv = f"{CTL} --store {two.b} receive {vol}"
    if cut is None:
        cmd = f"set -o pipefail; {snd} | {rcv}"
    else:  # send fails on the broken pipe: only receive's status counts
        cmd = f"{snd} 2>/dev/null | head -c {cut} | {rcv}; exit ${{PIPESTATUS[2]}}"
    cp = subprocess.run(["/bin/bash", "-c", cmd], capture_output=True, text=True, timeout=120,
                        env=product_env())
    return cp


def snap_names(two, vol):
    return [s["name"] for s in ctl_json("snapshot", "list", vol, store=two.b)["snapshots"]]


def token(two, vol):
    cp = run_ctl("receive", "--resume-token", vol, store=two.b)
    return cp.stdout.strip() if cp.returncode == 0 else None


def held_records(tok):
    """The next record of a resume token ("1-" hex(stream id, next record, ...))."""
    return int(tok[2 + 64:2 + 64 + 16], 16)


def cut_points(recs, size):
    """20 offsets over a stream split into @recs: inside the header, at its
    end, record boundaries, inside records, before and inside the trailer."""
    off = [r[0] for r in recs] + [size]
    last, n = len(recs) - 1, len(recs)
    cuts = [7, REC_HEAD.size + 5, off[1] - 1, off[1], off[1] + 1, off[2], off[3] - 2]
    for k in range(1, 9):
        i = 3 + k * (last - 4) // 9
        cuts.append(off[i] if k % 2 else (off[i] + off[i + 1]) // 2)
    cuts += [off[n // 2] + 3, off[last - 1] + 1, off[last], off[last] + REC_HEAD.size + 10,
             size - 1]
    assert len(set(cuts)) == 20, cuts
    return sorted(cuts)


def whole_records(recs, cut):
    return sum(1 for r in recs if r[0] + len(r[3]) <= cut)


def source_tree(two, spec):
    with mounted(two.a, spec, two.mnt("src")) as m:
        return describe_tree(m)


def assert_received_exactly(two, spec, want):
    with mounted(two.b, spec, two.mnt("dst")) as m:
        got = describe_tree(m)
    assert sorted(got) == sorted(want), \
        f"{spec}: paths differ: missing {sorted(set(want) - set(got))}, " \
        f"extra {sorted(set(got) - set(want))}"
    for p in sorted(want):
        assert got[p] == want[p], f"{spec}:{p}: source {want[p]} != received {got[p]}"


def make_source(two, blobs=6):
    """v@s1 (a tree with every kind of metadata, many records) and v@s2."""
    rng = random.Random(13)
    create_volume(two.a, "v")
    with mounted(two.a, "v", two.mnt()) as m:
        populate(m, rng)
        for i in range(blobs):
            (m / f"blob{i}").write_bytes(rng.randbytes(200000))
        snapshot(two.a, "v@s1")
        mutate(m, rng)
        for i in range(blobs):
            (m / "dir" / f"more{i}").write_bytes(rng.randbytes(150000))
        snapshot(two.a, "v@s2")


def rerun_after_cuts(two, spec, send_opts, tag, prepare=None):
    """Cut `send SPEC | receive` at 20 points, each into its own volume, and
    run the plain command again each time: it finishes, handling only the
    header and the records the partial receive lacked; exact result."""
    path = two.path(f"{tag}.stream")
    send(two.a, spec, path, *send_opts)
    data = path.read_bytes()
    recs = records(data)
    want = source_tree(two, spec)
    snap = spec.split("@")[1]
    for i, cut in enumerate(cut_points(recs, len(data))):
        vol = f"{tag}{i}"
        if prepare:
            prepare(vol)
        held = whole_records(recs, cut)
        cp = pipeline(two, spec, vol, *send_opts, cut=cut)
        assert_error(cp, EXIT_FAIL, "cut")
        tok = token(two, vol)
        if held == 0:  # cut inside the header: nothing kept
            assert tok is None, f"cut at {cut}: a partial receive without a header\n" + \
                describe(cp)
        else:
            assert "run the same send | receive again" in cp.stderr and \
                f"receive --abort {vol}" in cp.stderr, describe(cp)
            assert tok and held_records(tok) == held, (cut, held, tok)
        if prepare:
            assert snap_names(two, vol) == ["s1"], f"cut at {cut}: {vol}@{snap} appeared"
        else:
            assert volume_absent(two.b, vol), f"cut at {cut}: {vol} appeared"
        cp = ok(pipeline(two, spec, vol, *send_opts))
        m = RECEIVED.search(cp.stdout)
        assert m and m.group(1) == f"{vol}@{snap}", describe(cp)
        # read past: only the header and the records it did not have
        assert int(m.group(2)) == (1 + len(recs) - held if held else len(recs)), \
            f"cut at {cut} after {held} of {len(recs)} records\n" + describe(cp)
        assert no_partial(two.b, vol)
        assert_received_exactly(two, f"{vol}@{snap}", want)


def test_rerunning_a_cut_full_send_receive_finishes_it_exactly(two):
    make_source(two)
    rerun_after_cuts(two, "v@s1", [], "f")


def test_rerunning_a_cut_incremental_send_receive_finishes_it_exactly(two):
    make_source(two)
    base = two.path("base.stream")
    send(two.a, "v@s1", base)

    def prepare(vol):
        ok(run_ctl("receive", vol, "-i", base, "--quiet", store=two.b))

    rerun_after_cuts(two, "v@s2", ["-i", "v@s1"], "i", prepare)


def test_another_stream_over_a_partial_receive_is_refused_naming_both(two):
    make_source(two, blobs=2)
    cp = pipeline(two, "v@s1", "x", cut=1500000)
    assert_error(cp, EXIT_FAIL, "cut")
    before, nchunks = token(two, "x"), chunks(two.b)
    for opts in (["v@s2"], ["v@s2", "-i", "v@s1"]):
        cp = pipeline(two, opts[0], "x", *opts[1:])
        assert_error(cp, EXIT_EXISTS, "another stream", "v@s1 (full, stream ",
                     "v@s2 (incremental from v@s1" if len(opts) > 1 else "v@s2 (full, stream ",
                     "cstorfs-ctl receive --abort x", "cstorfs-ctl receive --resume-token x",
                     "rerunning its send", "nothing was changed")
        assert token(two, "x") == before, "the refusal changed the partial receive"
        assert chunks(two.b) == nchunks and volume_absent(two.b, "x")
        # the ids it names are the ones `stream inspect` shows
        path = two.path("other.stream")
        send(two.a, opts[0], path, *opts[1:])
        sid = ok(run_ctl("--json", "stream", "inspect", path)).stdout
        sid = json.loads(sid)["header"]["stream_id"]
        assert f"stream {sid[:16]})" in cp.stderr, (sid, cp.stderr)
    # the ways out: the partial receive's own stream finishes it ...
    ok(pipeline(two, "v@s1", "x"))
    assert_received_exactly(two, "x@s1", source_tree(two, "v@s1"))
    # ... or --abort, after which another stream is welcome
    assert_error(pipeline(two, "v@s1", "y", cut=1500000), EXIT_FAIL, "cut")
    ok(run_ctl("receive", "--abort", "y", store=two.b))
    ok(pipeline(two, "v@s2", "y"))
    assert_received_exactly(two, "y@s2", source_tree(two, "v@s2"))


def test_after_abort_the_rerun_starts_from_scratch(two):
    make_source(two, blobs=2)
    path = two.path("s")
    send(two.a, "v@s1", path)
    nrec = len(records(path.read_bytes()))
    nchunks = chunks(two.b)
    assert_error(pipeline(two, "v@s1", "a", cut=2000000), EXIT_FAIL, "cut")
    ok(run_ctl("receive", "--abort", "a", store=two.b))
    assert no_partial(two.b, "a") and chunks(two.b) == nchunks
    cp = ok(pipeline(two, "v@s1", "a"))
    assert int(RECEIVED.search(cp.stdout).group(2)) == nrec, describe(cp)
    assert_received_exactly(two, "a@s1", source_tree(two, "v@s1"))


def test_a_corrupted_rerun_is_refused_and_keeps_the_partial_receive(two):
    make_source(two, blobs=2)
    path = two.path("s")
    send(two.a, "v@s1", path)
    data = path.read_bytes()
    recs = records(data)
    mid = len(recs) // 2
    cut = recs[mid][0] + 100
    assert_error(pipeline(two, "v@s1", "c", cut=cut), EXIT_FAIL, "cut")
    before = token(two, "c")
    bad = two.path("bad")
    # inside chunk payloads: the first, the last before the cut, one after it
    held_chunks = [r for r in recs[:mid] if r[1] == "C"]
    later_chunks = [r for r in recs[mid + 1:] if r[1] == "C"]
    for pos in (held_chunks[0][0] + REC_HEAD.size + 40, held_chunks[-1][0] + REC_HEAD.size + 9,
                later_chunks[1][0] + REC_HEAD.size + 77):
        flipped = bytearray(data)
        flipped[pos] ^= 0x40
        bad.write_bytes(flipped)
        cp = run_ctl("receive", "c", "-i", bad, "--quiet", store=two.b)
        assert_error(cp, EXIT_FAIL, "rejected at byte", "checksum",
                     "the partial receive into 'c' is kept", "receive --abort c")
        assert volume_absent(two.b, "c")
        tok = token(two, "c")
        assert tok, f"flip at {pos}: the partial receive is gone\n" + describe(cp)
        if pos < cut:  # in the part held: exactly as it was
            assert tok == before, f"flip at {pos} changed the partial receive"
    ok(pipeline(two, "v@s1", "c"))
    assert_received_exactly(two, "c@s1", source_tree(two, "v@s1"))


def test_a_rerun_after_the_receive_completed_says_received_already(two):
    make_source(two, blobs=1)
    ok(pipeline(two, "v@s1", "d"))
    nchunks = chunks(two.b)
    assert_error(pipeline(two, "v@s1", "d"), EXIT_EXISTS, "received already")
    ok(pipeline(two, "v@s2", "d", "-i", "v@s1"))
    assert_error(pipeline(two, "v@s2", "d", "-i", "v@s1"), EXIT_EXISTS, "received already")
    assert chunks(two.b) >= nchunks and no_partial(two.b, "d")
    assert snap_names(two, "d") == ["s1", "s2"]
    assert_received_exactly(two, "d@s2", source_tree(two, "v@s2"))

