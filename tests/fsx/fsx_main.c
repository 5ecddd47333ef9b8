/*
 * fsx_main.c - cs_fsx's command line, seeded generator, replayable log and main loop.
 *
 *   cs_fsx [OPTIONS] DIR
 *
 *   --seed N           the generator's seed (default 1)
 *   --ops N            stop after N operations; --seconds S: after S seconds (default
 *                      10000 operations when neither is given; both: the first reached)
 *   --files N          inodes (default 1, at most 8); --links: twice as many names, with
 *                      link, unlink and rename between them
 *   --direct           O_DIRECT reads and writes often (otherwise now and then)
 *   --max-size BYTES   files stay below this (default 4 MiB)
 *   --compare-every N  read every file in full every N operations (default 50)
 *   --evict CMD, --remount CMD, --restart CMD, --kill CMD
 *                      shell commands for the events (FSX_DIR is set); an event happens
 *                      with probability --event-prob P (default 0.01) before each
 *                      operation, and every --event-every N operations
 *   --sleep-prob P     before an operation, sleep up to 1.5 s (default 0.002)
 *   --log FILE         write the replayable log; --replay FILE: run a log instead
 *
 * The generator draws every choice from one splitmix64 sequence seeded by --seed, so a
 * seed and the same options give the same operations; the log (one operation a line,
 * e.g. "17 pwrite f0 off=65530 len=12 data=r:3fa2") replays exactly with --replay, and a
 * log may be written by hand ("sleep ms=N" waits). A run starts with "setup" (fresh
 * files), an fsync of each and of the directory. Exit 0 and a one-line summary
 * ("cs_fsx: ok seed=... ops=... kill=N kill-changed=M ...", M the inodes a kill left
 * other than the model had them) when every check passed, 1 at the first
 * failure, 2 for a usage error.
 */
#include "fsx.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	F_A = 1,
	F_B = 2,
	F_OFF = 4,
	F_TO = 8,
	F_LEN = 16,
	F_SIZE = 32,
	F_MODE = 64,
	F_DATA = 128,
	F_IOV = 256,
	F_MS = 512,
	F_SETUP = 1024,
};

static const struct kind {
	const char *name;
	int fields;
	int weight; /* the generator's weight; 0: never drawn as an ordinary operation */
} kinds[K_NKINDS] = {
    [K_SETUP] = {"setup", F_SETUP, 0},
    [K_READ] = {"read", F_A | F_OFF | F_LEN, 5},
    [K_WRITE] = {"write", F_A | F_OFF | F_LEN | F_DATA, 6},
    [K_PREAD] = {"pread", F_A | F_OFF | F_LEN, 6},
    [K_PWRITE] = {"pwrite", F_A | F_OFF | F_LEN | F_DATA, 10},
    [K_PWRITEV] = {"pwritev", F_A | F_OFF | F_LEN | F_IOV | F_DATA, 5},
    [K_TRUNC] = {"truncate", F_A | F_SIZE, 6},
    [K_FALLOC] = {"fallocate", F_A | F_MODE | F_OFF | F_LEN, 8},
    [K_MREAD] = {"mmap-read", F_A | F_OFF | F_LEN, 3},
    [K_MWRITE] = {"mmap-write", F_A | F_OFF | F_LEN | F_DATA, 3},
    [K_COPY] = {"copy", F_A | F_B | F_OFF | F_TO | F_LEN, 4},
    [K_FSYNC] = {"fsync", F_A, 2},
    [K_FDATASYNC] = {"fdatasync", F_A, 2},
    [K_FSYNCDIR] = {"fsyncdir", 0, 0},
    [K_CLOSE] = {"close", F_A, 2},
    [K_REOPEN] = {"reopen", F_A, 2},
    [K_DREAD] = {"direct-read", F_A | F_OFF | F_LEN, 1},
    [K_DWRITE] = {"direct-write", F_A | F_OFF | F_LEN | F_DATA, 1},
    [K_LINK] = {"link", F_A | F_B, 2},
    [K_UNLINK] = {"unlink", F_A, 2},
    [K_RENAME] = {"rename", F_A | F_B, 2},
    [K_STAT] = {"stat", F_A, 2},
    [K_COMPARE] = {"compare", 0, 0},
    [K_SLEEP] = {"sleep", F_MS, 0},
    [K_EVICT] = {"evict", 0, 0},
    [K_REMOUNT] = {"remount", 0, 0},
    [K_RESTART] = {"restart", 0, 0},
    [K_KILL] = {"kill", 0, 0},
};

static const char *const fmode_names[FM_N] = {"0", "keep", "punch", "zero", "zerokeep"};

struct opts {
	unsigned long long ops;
	double seconds, event_prob, sleep_prob;
	int files, links, compare_every, event_every;
	const char *log, *replay;
};

const char *fsx_kind_name(enum fsx_kind k)
{
	return k < K_NKINDS ? kinds[k].name : "?";
}

static void append(char *s, size_t n, const char *fmt, ...)
{
	size_t used = strlen(s);
	va_list ap;

	va_start(ap, fmt);
	if (used < n)
		vsnprintf(s + used, n - used, fmt, ap);
	va_end(ap);
}

static void format_op(const struct fsx_op *op, char *s, size_t n)
{
	int fl = kinds[op->kind].fields;

	snprintf(s, n, "%s", kinds[op->kind].name);
	if (fl & F_SETUP)
		append(s, n, " files=%d names=%lld", op->mode, op->len);
	if (fl & F_A)
		append(s, n, " f%d", op->a);
	if (fl & F_B)
		append(s, n, " f%d", op->b);
	if (fl & F_MODE)
		append(s, n, " mode=%s",
		       op->mode >= 0 && op->mode < FM_N ? fmode_names[op->mode] : "?");
	if (fl & F_OFF)
		append(s, n, " off=%lld", op->off);
	if (fl & F_TO)
		append(s, n, " to=%lld", op->to);
	if (fl & (F_LEN | F_SIZE | F_MS))
		append(s, n,
		       fl & F_LEN    ? " len=%lld"
		       : fl & F_SIZE ? " size=%lld"
				     : " ms=%lld",
		       op->len);
	if (fl & F_IOV)
		append(s, n, " iov=%d", op->mode);
	if (fl & F_DATA)
		append(s, n, " data=%c:%llx", op->fill, (unsigned long long)op->seed);
}

/* One "name" or "key=value" token of a log line. */
static int parse_field(struct fsx_op *op, const char *t)
{
	const char *v = strchr(t, '=');
	int k;

	if (!v && t[0] == 'f' && isdigit((unsigned char)t[1])) {
		k = atoi(t + 1);
		if (k >= FSX_MAX_NAMES || op->b >= 0)
			return -1;
		*(op->a < 0 ? &op->a : &op->b) = k;
		return 0;
	}
	if (!v++)
		return -1;
	if (!strncmp(t, "off=", 4))
		op->off = strtoll(v, NULL, 10);
	else if (!strncmp(t, "to=", 3))
		op->to = strtoll(v, NULL, 10);
	else if (!strncmp(t, "len=", 4) || !strncmp(t, "size=", 5) || !strncmp(t, "ms=", 3) ||
		 !strncmp(t, "names=", 6))
		op->len = strtoll(v, NULL, 10);
	else if (!strncmp(t, "iov=", 4) || !strncmp(t, "files=", 6))
		op->mode = atoi(v);
	else if (!strncmp(t, "mode=", 5)) {
		for (op->mode = 0; op->mode < FM_N && strcmp(v, fmode_names[op->mode]); op->mode++)
			;
		return op->mode < FM_N ? 0 : -1;
	} else if (!strncmp(t, "data=", 5) && v[0] && v[1] == ':') {
		op->fill = v[0];
		op->seed = strtoull(v + 2, NULL, 16);
	} else
		return -1;
	return 0;
}

/* Parse a log line: 1 an operation (and its number into *@no), 0 none, -1 an error. */
static int parse_op(char *line, struct fsx_op *op, unsigned long long *no)
{
	char *save = NULL, *t = strtok_r(line, " \t\r\n", &save);
	int k;

	*op = (struct fsx_op){.a = -1, .b = -1, .fill = 'r'};
	if (t && isdigit((unsigned char)t[0])) {
		*no = strtoull(t, NULL, 10);
		t = strtok_r(NULL, " \t\r\n", &save);
	}
	if (!t || t[0] == '#')
		return 0;
	for (k = 0; k < K_NKINDS && strcmp(t, kinds[k].name); k++)
		;
	if (k == K_NKINDS)
		return -1;
	op->kind = k;
	while ((t = strtok_r(NULL, " \t\r\n", &save)))
		if (parse_field(op, t))
			return -1;
	if ((kinds[k].fields & F_A) && op->a < 0)
		return -1;
	if ((kinds[k].fields & F_B) && op->b < 0)
		return -1;
	return op->off < 0 || op->to < 0 || op->len < 0 ? -1 : 1;
}

static uint64_t rnd(struct fsx *f, uint64_t n)
{
	return n ? fsx_rand(&f->rng) % n : 0;
}

/* An offset: anywhere, near a chunk boundary, near the end, 4 KiB aligned, inside. */
static long long gen_off(struct fsx *f, off_t size)
{
	long long max = f->max_size, o;

	switch (rnd(f, 5)) {
	case 0:
		return rnd(f, max);
	case 1:
		o = rnd(f, max / FSX_CHUNK + 1) * FSX_CHUNK + (long long)rnd(f, 129) - 64;
		break;
	case 2:
		o = size + (long long)rnd(f, 16385) - 8192;
		break;
	case 3:
		return rnd(f, max / 4096) * 4096;
	default:
		o = rnd(f, size + 1);
	}
	return o < 0 ? 0 : o > max ? max : o;
}

/* A length: small, medium, whole chunks, just across a boundary, over 1 MiB. */
static long long gen_len(struct fsx *f, long long off)
{
	switch (rnd(f, 8)) {
	case 0:
	case 1:
	case 2:
		return 1 + rnd(f, 512);
	case 3:
	case 4:
		return 512 + rnd(f, 128 * 1024);
	case 5:
		return FSX_CHUNK * (1 + rnd(f, 4));
	case 6:
		return FSX_CHUNK - off % FSX_CHUNK + 1 + rnd(f, 300);
	default:
		return (1 << 20) + 1 + rnd(f, 3 << 19);
	}
}

static void gen_range(struct fsx *f, struct fsx_op *op, off_t size)
{
	op->off = gen_off(f, size);
	op->len = gen_len(f, op->off);
	if (op->len > f->max_size)
		op->len = f->max_size;
	if (op->off + op->len > f->max_size)
		op->off = f->max_size - op->len;
}

static void gen_direct(struct fsx *f, struct fsx_op *op, off_t size)
{
	op->off = (rnd(f, 2) ? gen_off(f, size) : size) & ~4095LL;
	op->len = 4096 * (1 + (rnd(f, 4) ? rnd(f, 16) : rnd(f, 400)));
	if (op->len > f->max_size)
		op->len = f->max_size & ~4095LL;
	if (op->off + op->len > f->max_size)
		op->off = (f->max_size - op->len) & ~4095LL;
}

/* A copy's source range and destination, which may not overlap within one inode. */
static void gen_copy(struct fsx *f, struct fsx_op *op)
{
	off_t size = f->ino[f->slot[op->a]].size;
	int tries;

	do
		op->b = rnd(f, f->nnames);
	while (f->slot[op->b] < 0);
	if (rnd(f, 2))
		op->b = op->a;
	gen_range(f, op, size);
	/* within one inode, only bytes below the end: a copy that grows the file as it goes
	 * would make the end of its source a moving target */
	if (f->slot[op->a] == f->slot[op->b] && op->off < size && op->len > size - op->off)
		op->len = size - op->off;
	for (tries = 0; tries < 8; tries++) {
		op->to = gen_off(f, f->ino[f->slot[op->b]].size);
		if (op->to + op->len > f->max_size)
			op->to = f->max_size - op->len;
		if (f->slot[op->a] != f->slot[op->b] || llabs(op->off - op->to) >= op->len)
			return;
	}
	op->len = llabs(op->off - op->to);
}

/* Names @a may take: free ones for link; for rename also those whose inode keeps
 * another name. Returns how many, into @pick. */
static int targets(const struct fsx *f, int a, int link, int *pick)
{
	int s, n = 0, t;

	for (s = 0; s < f->nnames; s++) {
		t = f->slot[s];
		if (s != a && (t < 0 || (!link && t != f->slot[a] && f->ino[t].nlink > 1)))
			pick[n++] = s;
	}
	return n;
}

static int feasible(struct fsx *f, enum fsx_kind k, int a)
{
	const struct fsx_inode *n = &f->ino[f->slot[a]];
	int pick[FSX_MAX_NAMES];

	switch (k) {
	case K_MREAD:
	case K_MWRITE:
		return n->size > 0;
	case K_DREAD:
	case K_DWRITE:
		return !f->direct_unsupported;
	case K_COPY:
		return !f->copy_unsupported;
	case K_LINK:
	case K_RENAME:
		return f->links && targets(f, a, k == K_LINK, pick) > 0;
	case K_UNLINK:
		return f->links && n->nlink > 1;
	default:
		return 1;
	}
}

static enum fsx_kind pick_kind(struct fsx *f, int a)
{
	int k, w[K_NKINDS], total = 0;
	uint64_t r;

	for (k = 0; k < K_NKINDS; k++) {
		w[k] = feasible(f, k, a) ? kinds[k].weight : 0;
		if (f->direct && (k == K_DREAD || k == K_DWRITE))
			w[k] *= 12;
		total += w[k];
	}
	r = rnd(f, total);
	for (k = 0; r >= (uint64_t)w[k]; k++)
		r -= w[k];
	return k;
}

static void gen_args(struct fsx *f, struct fsx_op *op)
{
	off_t size = f->ino[f->slot[op->a]].size;
	int pick[FSX_MAX_NAMES];

	if (op->kind == K_TRUNC)
		op->len = rnd(f, 8) ? gen_off(f, size) : 0;
	else if (op->kind == K_MREAD || op->kind == K_MWRITE) {
		op->off = gen_off(f, size);
		op->off = op->off < size ? op->off : (long long)rnd(f, size);
		op->len = gen_len(f, op->off);
		op->len = op->len < size - op->off ? op->len : size - op->off;
	} else if (op->kind == K_DREAD || op->kind == K_DWRITE)
		gen_direct(f, op, size);
	else if (op->kind == K_COPY)
		gen_copy(f, op);
	else if (kinds[op->kind].fields & F_OFF)
		gen_range(f, op, size);
	if (op->kind == K_FALLOC)
		op->mode = rnd(f, f->zero_unsupported ? FM_ZERO : FM_N);
	if (op->kind == K_PWRITEV)
		op->mode = 1 + rnd(f, 8);
	if (op->kind == K_LINK || op->kind == K_RENAME)
		op->b = pick[rnd(f, targets(f, op->a, op->kind == K_LINK, pick))];
	if (kinds[op->kind].fields & F_DATA) {
		op->fill = "rrrrtz"[rnd(f, 6)];
		op->seed = fsx_rand(&f->rng);
	}
}

static void gen_op(struct fsx *f, const struct opts *o, struct fsx_op *op)
{
	enum fsx_kind ev[4];
	int n = 0, k;

	*op = (struct fsx_op){.a = -1, .b = -1};
	for (k = K_EVICT; k <= K_KILL; k++)
		if (f->cmd[k - K_EVICT])
			ev[n++] = k;
	if (n && (rnd(f, 1000000) < o->event_prob * 1e6 ||
		  (o->event_every && f->opno % o->event_every == 0))) {
		op->kind = ev[rnd(f, n)];
		return;
	}
	if (rnd(f, 1000000) < o->sleep_prob * 1e6) {
		op->kind = K_SLEEP;
		op->len = rnd(f, 1500);
		return;
	}
	if (o->compare_every && f->opno % o->compare_every == 0) {
		op->kind = K_COMPARE;
		return;
	}
	do
		op->a = rnd(f, f->nnames);
	while (f->slot[op->a] < 0);
	op->kind = pick_kind(f, op->a);
	gen_args(f, op);
}

static void step(struct fsx *f, const struct fsx_op *op)
{
	f->opno++;
	format_op(op, f->line, sizeof(f->line));
	if (f->log) {
		fprintf(f->log, "%llu %s\n", f->opno, f->line);
		fflush(f->log);
	}
	fsx_exec(f, op);
	f->count[op->kind]++;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void generate(struct fsx *f, const struct opts *o, double start)
{
	struct fsx_op op = {.kind = K_SETUP, .a = -1, .b = -1, .mode = o->files};
	int i;

	op.len = o->links ? 2 * o->files : o->files;
	step(f, &op);
	for (i = 0; i < f->ninodes; i++) {
		op = (struct fsx_op){.kind = K_FSYNC, .a = i, .b = -1};
		step(f, &op);
	}
	op = (struct fsx_op){.kind = K_FSYNCDIR, .a = -1, .b = -1};
	step(f, &op);
	while ((!o->ops || f->opno < o->ops) && (!o->seconds || now() - start < o->seconds)) {
		gen_op(f, o, &op);
		step(f, &op);
	}
}

static void replay(struct fsx *f, const char *path)
{
	FILE *in = fopen(path, "r");
	char line[512], copy[512];
	unsigned long long no;
	struct fsx_op op;
	int r, lineno = 0;

	if (!in) {
		fprintf(stderr, "cs_fsx: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), in)) {
		lineno++;
		snprintf(copy, sizeof(copy), "%s", line);
		if (!strncmp(line, "# cs_fsx seed=", 14)) {
			f->seed = strtoull(line + 14, NULL, 10);
			if (f->log)
				fprintf(f->log, "%s", line);
		}
		no = f->opno + 1;
		r = parse_op(line, &op, &no);
		if (r < 0) {
			fprintf(stderr, "cs_fsx: %s:%d: not an operation: %s", path, lineno, copy);
			exit(2);
		}
		if (r == 0)
			continue;
		f->opno = no - 1;
		step(f, &op);
	}
	fclose(in);
}

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: cs_fsx [--seed N] [--ops N] [--seconds S] [--files N] [--links] [--direct]\n"
	    "              [--max-size BYTES] [--compare-every N] [--event-prob P]\n"
	    "              [--event-every N] [--sleep-prob P] [--evict CMD] [--remount CMD]\n"
	    "              [--restart CMD] [--kill CMD] [--log FILE] [--replay FILE] DIR\n"
	    "(the options are described at the top of tests/fsx/fsx_main.c)\n");
	exit(2);
}

static const struct option longopts[] = {
    {"seed", 1, NULL, 's'},
    {"ops", 1, NULL, 'n'},
    {"seconds", 1, NULL, 't'},
    {"files", 1, NULL, 'f'},
    {"links", 0, NULL, 'L'},
    {"direct", 0, NULL, 'D'},
    {"max-size", 1, NULL, 'm'},
    {"compare-every", 1, NULL, 'c'},
    {"event-prob", 1, NULL, 'p'},
    {"sleep-prob", 1, NULL, 'S'},
    {"evict", 1, NULL, 'E'},
    {"remount", 1, NULL, 'R'},
    {"restart", 1, NULL, 'T'},
    {"kill", 1, NULL, 'K'},
    {"log", 1, NULL, 'l'},
    {"replay", 1, NULL, 'r'},
    {"event-every", 1, NULL, 'e'},
    {"help", 0, NULL, 'h'},
    {0},
};

static void parse_args(int argc, char **argv, struct fsx *f, struct opts *o)
{
	int c;

	while ((c = getopt_long(argc, argv, "s:n:t:f:LDm:c:p:e:S:E:R:T:K:l:r:h", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 's':
			f->seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			o->ops = strtoull(optarg, NULL, 0);
			break;
		case 't':
			o->seconds = atof(optarg);
			break;
		case 'f':
			o->files = atoi(optarg);
			break;
		case 'L':
			o->links = 1;
			break;
		case 'D':
			f->direct = 1;
			break;
		case 'm':
			f->max_size = strtoll(optarg, NULL, 0);
			break;
		case 'c':
			o->compare_every = atoi(optarg);
			break;
		case 'p':
			o->event_prob = atof(optarg);
			break;
		case 'e':
			o->event_every = atoi(optarg);
			break;
		case 'S':
			o->sleep_prob = atof(optarg);
			break;
		case 'E':
			f->cmd[K_EVICT - K_EVICT] = optarg;
			break;
		case 'R':
			f->cmd[K_REMOUNT - K_EVICT] = optarg;
			break;
		case 'T':
			f->cmd[K_RESTART - K_EVICT] = optarg;
			break;
		case 'K':
			f->cmd[K_KILL - K_EVICT] = optarg;
			break;
		case 'l':
			o->log = optarg;
			break;
		case 'r':
			o->replay = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || o->files < 1 || o->files > FSX_MAX_INODES ||
	    (o->links && 2 * o->files > FSX_MAX_NAMES) || f->max_size < 8192)
		usage();
	f->dir = argv[optind];
}

/* What a failure prints to say how to run it again. */
static void replay_hint(struct fsx *f, const struct opts *o, char *s, size_t n)
{
	static const char *const flag[4] = {"evict", "remount", "restart", "kill"};
	int k;

	if (!o->log && !o->replay) {
		snprintf(s, n,
			 "run again with --seed %llu, the same options and --log FILE "
			 "for a replayable log",
			 (unsigned long long)f->seed);
		return;
	}
	snprintf(s, n, "replay: cs_fsx --replay '%s'", o->replay ? o->replay : o->log);
	for (k = 0; k < 4; k++)
		if (f->cmd[k])
			append(s, n, " --%s '%s'", flag[k], f->cmd[k]);
	append(s, n, " '%s'", f->dir);
}

int main(int argc, char **argv)
{
	static struct fsx fsx = {.seed = 1, .max_size = 4 << 20};
	struct opts o = {.files = 1, .compare_every = 50, .event_prob = 0.01, .sleep_prob = 0.002};
	struct fsx *f = &fsx;
	char hint[1024];
	double start = now();
	int i;

	parse_args(argc, argv, f, &o);
	if (!o.ops && !o.seconds)
		o.ops = 10000;
	for (i = 0; i < FSX_MAX_INODES; i++)
		f->ino[i].fd = -1;
	f->rng = f->seed;
	f->links = o.links;
	f->crash = f->cmd[K_KILL - K_EVICT] != NULL;
	replay_hint(f, &o, hint, sizeof(hint));
	f->replay_hint = hint;
	if (o.log && !(f->log = fopen(o.log, "w"))) {
		fprintf(stderr, "cs_fsx: %s: %s\n", o.log, strerror(errno));
		return 2;
	}
	if (f->log && !o.replay)
		fprintf(f->log, "# cs_fsx seed=%llu\n", (unsigned long long)f->seed);
	if (o.replay)
		replay(f, o.replay);
	else
		generate(f, &o, start);
	printf("cs_fsx: ok seed=%llu ops=%llu seconds=%.1f evict=%llu remount=%llu restart=%llu "
	       "kill=%llu kill-changed=%llu files=%d names=%d%s%s\n",
	       (unsigned long long)f->seed, f->opno, now() - start, f->count[K_EVICT],
	       f->count[K_REMOUNT], f->count[K_RESTART], f->count[K_KILL], f->crash_diffs,
	       f->ninodes, f->nnames, f->zero_unsupported ? " zero-range=unsupported" : "",
	       f->direct_unsupported ? " o-direct=unsupported" : "");
	if (f->log)
		fclose(f->log);
	return 0;
}
