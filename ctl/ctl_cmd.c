/*
 * ctl_cmd.c - the machinery behind cstorfs-ctl's command table (see
 * ctl_cmd.h): the global options, finding a command's row, parsing and
 * checking its arguments, the help text, running the handler and printing
 * its answer.
 *
 * A command line goes through, in order: the global options are taken out
 * wherever they stand (before "--"); the first words pick the row; the
 * rest is split into options and positional arguments, then their number,
 * the arguments' types and the options' values are checked. Each failure
 * is one usage line and exit 2, before any store or daemon is touched.
 * Only then is the store found, its client made, the daemon reached (rows
 * with CTL_DAEMON) and the handler run.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_fmt.h"

/* ------------------------------------------------------------------ */
/* Checks of names, shared with the handlers                          */
/* ------------------------------------------------------------------ */

int ctl_check_name(const char *what, const char *name)
{
	int err = cs_client_name_check(name);

	if (err == -ENAMETOOLONG)
		return cs_cli_usage("%s is longer than 255 bytes", what);
	if (err)
		return cs_cli_usage("invalid %s '%s': 1-255 bytes, no '/', not '.' or '..'", what,
				    name);
	return 0;
}

int ctl_check_volume(const char *name)
{
	int rc = ctl_check_name("volume name", name);

	if (rc == 0 && strchr(name, '@'))
		rc = cs_cli_usage("invalid volume name '%s': no '@'", name);
	return rc;
}

static int check_snapname(const char *name)
{
	int rc = ctl_check_name("snapshot name", name);

	if (rc == 0 && strchr(name, '@'))
		rc = cs_cli_usage("invalid snapshot name '%s': no '@'", name);
	return rc;
}

int ctl_split(const char *spec, int need_snap, char **vol, char **snap)
{
	int err = cs_client_split_snapshot(spec, vol, snap);

	if (err == -ENOMEM) {
		cs_cli_err("out of memory");
		return CS_EXIT_FAIL;
	}
	if (err)
		return cs_cli_usage("invalid %s '%s'", need_snap ? "VOLUME@SNAPSHOT" : "name",
				    spec);
	if (need_snap && !*snap) {
		free(*vol);
		*vol = NULL;
		return cs_cli_usage("'%s' is not VOLUME@SNAPSHOT", spec);
	}
	if (*snap && strchr(*vol, '@')) {
		free(*vol);
		free(*snap);
		*vol = *snap = NULL;
		return cs_cli_usage("invalid volume name in '%s'", spec);
	}
	return 0;
}

int ctl_failed(const struct ctl *x, int err)
{
	const char *m = x && x->c ? cs_client_errmsg(x->c) : "";

	cs_cli_err("%s", *m ? m : strerror(-err));
	return cs_client_exit_code(err);
}

int ctl_connect(struct ctl *x)
{
	int err = cs_client_ensure_daemon(x->c);

	return err ? ctl_failed(x, err) : 0;
}

/* ------------------------------------------------------------------ */
/* Options and arguments                                              */
/* ------------------------------------------------------------------ */

/* The number of positional arguments of a row (*@required of them not
 * optional). A row with more than struct ctl_args holds is a bug. */
static int count_args(const struct ctl_cmd *cmd, int *required)
{
	int n, o;

	*required = 0;
	for (n = 0; cmd->args && cmd->args[n].meta; n++)
		if (!(cmd->args[n].flags & CTL_OPTIONAL))
			*required = n + 1;
	for (o = 0; cmd->opts && cmd->opts[o].name; o++)
		;
	if (n > CTL_MAX_ARGS || o > CTL_MAX_OPTS) {
		fprintf(stderr, "%s: internal error: '%s' has too many arguments or options\n",
			PROG, cmd->name);
		abort();
	}
	return n;
}

/* How argument @s names option @name: 0 not; 1 exactly (a value comes
 * next); 2 with its value, in *@val ("--name=VALUE", "-nVALUE"). */
static int opt_match(const char *name, const char *s, const char **val)
{
	size_t n = name ? strlen(name) : 0;

	if (!name || strncmp(s, name, n))
		return 0;
	if (!s[n])
		return 1;
	if (name[1] == '-' && s[n] != '=')
		return 0;
	*val = s + n + (name[1] == '-');
	return 2;
}

/* Take the option argv[*i] (with its value) into @vals; 0, 1 when no
 * option of @opts matches, or a usage exit code (reported). */
static int take_option(const struct ctl_opt *opts, struct ctl_val *vals, int argc, char **argv,
		       int *i)
{
	const char *s = argv[*i], *val = NULL;
	int j, m;

	for (j = 0; opts[j].name; j++) {
		m = opt_match(opts[j].name, s, &val);
		if (!m)
			m = opt_match(opts[j].alias, s, &val);
		if (!m || (m == 2 && opts[j].type == CTL_FLAG))
			continue;
		if (m == 1 && opts[j].type != CTL_FLAG) {
			if (*i + 1 >= argc)
				return cs_cli_usage("%s needs a value (%s)", s, opts[j].meta);
			val = argv[++*i];
		}
		vals[j].count++;
		vals[j].str = val;
		return 0;
	}
	return 1;
}

/* "volume create", the words of a row, into @buf. */
static const char *cmd_words(const struct ctl_cmd *cmd, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", cmd->name, cmd->sub ? " " : "", cmd->sub ? cmd->sub : "");
	return buf;
}

/* A command line with too few or too many positional arguments. */
static int count_error(const struct ctl_cmd *cmd, const char *extra)
{
	char w[64], need[256] = "";
	int n, req = 0, max = count_args(cmd, &req);

	cmd_words(cmd, w, sizeof(w));
	if (extra && max == 0)
		return cs_cli_usage("%s takes no arguments", w);
	if (req == 1 && max == 1)
		return cs_cli_usage("%s needs exactly one %s", w, cmd->args[0].meta);
	if (extra && req == 0 && max == 1)
		return cs_cli_usage("%s takes at most one %s", w, cmd->args[0].meta);
	if (extra)
		return cs_cli_usage("unexpected argument '%s'", extra);
	for (n = 0; n < max; n++)
		if (!(cmd->args[n].flags & CTL_HIDE))
			snprintf(need + strlen(need), sizeof(need) - strlen(need), "%s%s%s%s",
				 n ? (n < req ? " and " : " ") : "", n < req ? "" : "[",
				 cmd->args[n].meta, n < req ? "" : "]");
	return cs_cli_usage("%s needs %s", w, need);
}

/* Split @argv (the words after the command's) into options and
 * positional arguments: 0 or a usage exit code (reported). */
static int parse_line(const struct ctl_cmd *cmd, int argc, char **argv, struct ctl_args *a)
{
	const char *extra = NULL;
	char w[64];
	int i, rc, req, max = count_args(cmd, &req);

	for (i = 0; i < argc; i++) {
		const char *s = argv[i];

		if (cmd->opts && s[0] == '-' && s[1]) {
			rc = take_option(cmd->opts, a->opt, argc, argv, &i);
			if (rc == 1)
				return cs_cli_usage("unknown %s option '%s'",
						    cmd_words(cmd, w, sizeof(w)), s);
			if (rc)
				return rc;
		} else if (a->npos < max) {
			a->pos[a->npos++] = s;
		} else if (!extra) {
			extra = s;
		}
	}
	if (extra || a->npos < req)
		return count_error(cmd, extra);
	return 0;
}

/* Check positional argument @i by its type (splitting snapshots). */
static int check_arg(const struct ctl_arg *arg, int i, struct ctl_args *a)
{
	switch (arg->type) {
	case CTL_ARG_VOLUME:
		return ctl_check_volume(a->pos[i]);
	case CTL_ARG_NAME:
		return ctl_check_name(arg->what, a->pos[i]);
	case CTL_ARG_SNAPNAME:
		return check_snapname(a->pos[i]);
	case CTL_ARG_SNAPSHOT:
	case CTL_ARG_VOLSNAP:
		return ctl_split(a->pos[i], arg->type == CTL_ARG_SNAPSHOT, &a->vol[i], &a->snap[i]);
	default:
		return 0;
	}
}

/* Check the arguments given, then the values of the options given. */
static int check_line(struct ctl_args *a)
{
	const struct ctl_cmd *cmd = a->cmd;
	int i, rc, err;

	for (i = 0; i < a->npos; i++)
		if ((rc = check_arg(&cmd->args[i], i, a)))
			return rc;
	for (i = 0; cmd->opts && cmd->opts[i].name; i++) {
		const struct ctl_opt *o = &cmd->opts[i];
		struct ctl_val *v = &a->opt[i];

		if (!v->count || o->type == CTL_FLAG)
			continue;
		if (o->check && (rc = o->check(o->name, v->str, &v->num)))
			return rc;
		if (!o->check && o->type == CTL_SIZE && (err = cs_parse_size(v->str, &v->num)))
			return cs_cli_usage("invalid size '%s' for %s%s", v->str, o->name,
					    err == -ERANGE ? " (too large)" : "");
	}
	return 0;
}

const struct ctl_val *ctl_opt(const struct ctl_args *a, const char *name)
{
	int i;

	for (i = 0; a->cmd->opts && a->cmd->opts[i].name; i++)
		if (!strcmp(a->cmd->opts[i].name, name))
			return &a->opt[i];
	fprintf(stderr, "%s: internal error: '%s' has no option %s\n", PROG, a->cmd->name, name);
	abort();
}

int ctl_flag(const struct ctl_args *a, const char *name)
{
	return ctl_opt(a, name)->count != 0;
}

const char *ctl_str(const struct ctl_args *a, const char *name)
{
	return ctl_opt(a, name)->str;
}

void ctl_say(const char *t, const struct ctl_args *a)
{
	const char *s;
	char *end;
	long i;

	for (; *t; t++) {
		if (*t != '{' || !isdigit((unsigned char)t[1])) {
			putchar(*t);
			continue;
		}
		i = strtol(t + 1, &end, 10);
		s = i < a->npos ? a->pos[i] : NULL;
		if (!strncmp(end, ".vol}", 5))
			s = i < a->npos ? a->vol[i] : NULL;
		else if (!strncmp(end, ".snap}", 6))
			s = i < a->npos ? a->snap[i] : NULL;
		fputs(s ? s : "", stdout);
		t = strchr(end, '}') ? strchr(end, '}') : end;
	}
	putchar('\n');
}

/* ------------------------------------------------------------------ */
/* Help                                                               */
/* ------------------------------------------------------------------ */

#define HELP_COL 31   /* where the description of a command or option starts */
#define HELP_WIDTH 79 /* the widest line */

/* The global options: taken out of the command line wherever they are. */
static int check_store(const char *opt, const char *val, uint64_t *num)
{
	return *val ? 0 : cs_cli_usage("--store needs a directory");
}

static const struct ctl_opt globals[] = {
    {.name = "--store",
     .type = CTL_STRING,
     .meta = "DIR",
     .check = check_store,
     .help = "the store (default: $CSTORFS_STORE, else /var/lib/cstorfs as root, else "
	     "~/.local/share/cstorfs)"},
    {.name = "--json", .type = CTL_FLAG, .help = "print the API's JSON answer"},
    {.name = "--bytes", .type = CTL_FLAG, .help = "print sizes as exact byte counts"},
    {.name = "-h", .alias = "--help", .type = CTL_FLAG, .help = "this help"},
    {0}};

/* Print the words of @text from column @col on, wrapped at HELP_WIDTH,
 * every line starting at HELP_COL; then a newline. */
static void wrap(FILE *f, int col, const char *text)
{
	size_t n;

	if (col > HELP_COL - 2) {
		fputc('\n', f);
		col = 0;
	}
	fprintf(f, "%*s", HELP_COL - col, "");
	col = HELP_COL;
	for (text += strspn(text, " "); *text; text += strspn(text, " ")) {
		n = strcspn(text, " ");
		if (col > HELP_COL && col + 1 + (int)n > HELP_WIDTH) {
			fprintf(f, "\n%*s", HELP_COL, "");
			col = HELP_COL;
		} else if (col > HELP_COL) {
			fputc(' ', f);
			col++;
		}
		fwrite(text, 1, n, f);
		col += (int)n;
		text += n;
	}
	fputc('\n', f);
}

/* Append a word of a synopsis, breaking the line before HELP_WIDTH. */
static void syn_word(FILE *f, int *col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void syn_word(FILE *f, int *col, const char *fmt, ...)
{
	char w[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(w, sizeof(w), fmt, ap);
	va_end(ap);
	if (*col + 1 + n > HELP_WIDTH) {
		fprintf(f, "\n%*s", 7, "");
		*col = 7;
	} else {
		fputc(' ', f);
		(*col)++;
	}
	fputs(w, f);
	*col += n;
}

/* "  volume create NAME [--compression zstd:N|none] [--quota SIZE]": the
 * row's synopsis from its arguments and visible options. Returns the
 * column where it ends. */
static int synopsis(FILE *f, const struct ctl_cmd *cmd)
{
	const struct ctl_opt *o;
	char w[64];
	int col = fprintf(f, "  %s", cmd_words(cmd, w, sizeof(w)));
	int i;

	for (i = 0; cmd->args && cmd->args[i].meta; i++) {
		const struct ctl_arg *g = &cmd->args[i];

		if (!(g->flags & CTL_HIDE))
			syn_word(f, &col, g->flags & CTL_OPTIONAL ? "[%s]" : "%s", g->meta);
	}
	for (o = cmd->opts; o && o->name; o++) {
		if (o->flags & (CTL_HIDE | CTL_ALT))
			continue;
		if (o[1].name && (o[1].flags & CTL_ALT))
			syn_word(f, &col, "[%s|%s %s]", o->name, o[1].name, o[1].meta);
		else
			syn_word(f, &col, "[%s%s%s]", o->name, o->meta ? " " : "",
				 o->meta ? o->meta : "");
	}
	return col;
}

/* "      -f, --force               unmount it first", for each option. */
static void options_help(FILE *f, const struct ctl_opt *o, int indent)
{
	for (; o && o->name; o++) {
		if ((o->flags & CTL_HIDE) || !o->help)
			continue;
		wrap(f,
		     fprintf(f, "%*s%s%s%s%s%s", indent, "", o->name, o->alias ? ", " : "",
			     o->alias ? o->alias : "", o->meta ? " " : "", o->meta ? o->meta : ""),
		     o->help);
	}
}

static void print_help(FILE *f, const struct ctl_cmd *table, const char *footer)
{
	const struct ctl_cmd *cmd;

	fputs("usage: " PROG " [--store DIR] [--json] [--bytes] COMMAND ...\n\nCommands:\n", f);
	for (cmd = table; cmd->name; cmd++) {
		if (cmd->flags & CTL_HIDDEN)
			continue;
		wrap(f, synopsis(f, cmd), cmd->help);
		options_help(f, cmd->opts, 6);
	}
	fputs("\nOptions:\n", f);
	options_help(f, globals, 2);
	fputs(footer, f);
}

/* help --commands: the words of every command, one a line. */
static void print_commands(const struct ctl_cmd *table)
{
	char w[64];

	for (; table->name; table++)
		if (!(table->flags & CTL_HIDDEN))
			printf("%s\n", cmd_words(table, w, sizeof(w)));
}

/* ------------------------------------------------------------------ */
/* Running a command line                                             */
/* ------------------------------------------------------------------ */

#define HELP_ASKED (-1)

/* Take the global options out of @argv (before "--") into @x; the other
 * words go to @words (*@n of them). 0, HELP_ASKED (-h, --help: at once),
 * or a usage error. */
static int parse_globals(struct ctl *x, int argc, char **argv, char **words, int *n)
{
	struct ctl_val v[4] = {{0}};
	int i, rc, rest = 0;

	*n = 0;
	for (i = 1; i < argc; i++) {
		if (rest || argv[i][0] != '-') {
			words[(*n)++] = argv[i];
		} else if (!strcmp(argv[i], "--")) {
			rest = 1;
		} else if ((rc = take_option(globals, v, argc, argv, &i)) == 1) {
			words[(*n)++] = argv[i];
		} else if (rc || (v[0].count && (rc = check_store(NULL, v[0].str, NULL)))) {
			return rc;
		} else if (v[3].count) {
			return HELP_ASKED;
		}
	}
	x->store_arg = v[0].str;
	x->json = v[1].count != 0;
	x->bytes = v[2].count != 0;
	return 0;
}

/* The row for @words: 0 with *@cmd and *@used (the words it took), or a
 * usage error. */
static int find_cmd(const struct ctl_cmd *table, char **words, int n, const struct ctl_cmd **cmd,
		    int *used)
{
	const struct ctl_cmd *t, *bare = NULL;
	char subs[256] = "";
	int known = 0;

	for (t = table; t->name; t++) {
		if (strcmp(t->name, words[0]) &&
		    (t->sub || !t->alias || strcmp(t->alias, words[0])))
			continue;
		known = 1;
		if (!t->sub)
			bare = t;
		else if (n > 1 &&
			 (!strcmp(t->sub, words[1]) || (t->alias && !strcmp(t->alias, words[1])))) {
			*cmd = t;
			*used = 2;
			return 0;
		} else if (!(t->flags & CTL_HIDDEN))
			snprintf(subs + strlen(subs), sizeof(subs) - strlen(subs), "%s%s",
				 *subs ? ", " : "", t->sub);
	}
	if (bare) {
		*cmd = bare;
		*used = 1;
		return 0;
	}
	if (!known)
		return cs_cli_usage("unknown command '%s'", words[0]);
	if (n < 2)
		return cs_cli_usage("%s needs a subcommand (%s)", words[0], subs);
	return cs_cli_usage("unknown %s subcommand '%s'", words[0], words[1]);
}

/* The client of the store: 0 or an exit code (reported). */
static int open_store(struct ctl *x)
{
	char *store = cs_client_store_dir(x->store_arg);
	int err;

	if (!store) {
		cs_cli_err("cannot find a store directory: %s (use --store DIR)", strerror(errno));
		return CS_EXIT_USAGE;
	}
	err = cs_client_new(store, &x->c);
	if (err)
		cs_cli_err("store %s: %s", store,
			   err == -ENAMETOOLONG ? "path too long for a unix socket"
						: strerror(-err));
	free(store);
	if (err)
		return err == -ENAMETOOLONG ? CS_EXIT_USAGE : CS_EXIT_FAIL;
	return 0;
}

/* Run the row of @a: store, daemon, handler, its answer printed. */
static int run(struct ctl *x, struct ctl_args *a)
{
	const struct ctl_cmd *cmd = a->cmd;
	int rc;

	if (!(cmd->flags & CTL_NO_STORE) && (rc = open_store(x)))
		return rc;
	if ((cmd->flags & CTL_DAEMON) && (rc = ctl_connect(x)))
		return rc;
	rc = cmd->run(x, a);
	if (rc < 0)
		return ctl_failed(x, rc);
	if (rc || a->printed)
		return rc;
	if (x->json && a->ans)
		ctl_print_json(a->ans);
	else if (x->json)
		printf("{}\n");
	else if (cmd->print)
		cmd->print(x, a);
	else if (cmd->done)
		ctl_say(cmd->done, a);
	return 0;
}

int ctl_main(const struct ctl_cmd *table, const char *footer, int argc, char **argv)
{
	struct ctl_args a = {0};
	struct ctl x = {0};
	char **words = calloc((size_t)argc + 1, sizeof(char *));
	int i, n, used = 0, rc;

	if (!words)
		return CS_EXIT_FAIL;
	rc = parse_globals(&x, argc, argv, words, &n);
	if (rc == HELP_ASKED || (rc == 0 && n > 0 && !strcmp(words[0], "help"))) {
		if (rc == 0 && n > 1 && !strcmp(words[1], "--commands"))
			print_commands(table);
		else
			print_help(stdout, table, footer);
		rc = 0;
	} else if (rc == 0 && n == 0) {
		print_help(stderr, table, footer);
		rc = CS_EXIT_USAGE;
	} else if (rc == 0 && !(rc = find_cmd(table, words, n, &a.cmd, &used)) &&
		   !(rc = parse_line(a.cmd, n - used, words + used, &a)) &&
		   !(rc = check_line(&a))) {
		rc = run(&x, &a);
	}
	for (i = 0; i < CTL_MAX_ARGS; i++) {
		free(a.vol[i]);
		free(a.snap[i]);
	}
	cJSON_Delete(a.ans);
	cs_client_free(x.c);
	free(words);
	return rc;
}
