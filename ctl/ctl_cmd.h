/*
 * ctl_cmd.h - cstorfs-ctl's command table and the machinery that runs it.
 *
 * Every command is one row (struct ctl_cmd) of the table in main_ctl.c:
 * its words, positional arguments and options with their types, its help
 * line and its handler. From the table alone come the parsing of a command
 * line, its usage errors (one line on stderr, exit 2), the --help text, the
 * listing of `cstorfs-ctl help --commands` (the test that keeps README.md's
 * table in step reads it), and the printing of an answer: the API's JSON
 * with --json, else the row's text. A handler gets the arguments parsed and
 * checked, and the daemon connected when the row asks for it.
 *
 * To add a command: a handler in the module of its resource (ctl_volumes.c,
 * ctl_snapshots.c, ctl_streams.c, ctl_store.c), a row in main_ctl.c, a row
 * in README.md's cstorfs-ctl table.
 */
#ifndef CTL_CMD_H
#define CTL_CMD_H

#include <limits.h>
#include <stdint.h>

#include "cs_client.h"

#define PROG "cstorfs-ctl"

/* Positional arguments: how each is checked before the handler runs. */
enum ctl_arg_type {
	CTL_ARG_ANY,	  /* a path or a file: not checked */
	CTL_ARG_VOLUME,	  /* a volume name: 1-255 bytes, no '/', no '@', not . or .. */
	CTL_ARG_NAME,	  /* a name (.what says which, for messages): no '/' */
	CTL_ARG_SNAPNAME, /* a snapshot name: a name with no '@' */
	CTL_ARG_SNAPSHOT, /* VOLUME@SNAPSHOT: split into args->vol[i], args->snap[i] */
	CTL_ARG_VOLSNAP,  /* VOLUME[@SNAPSHOT]: split likewise (snap[i] NULL without '@') */
};

#define CTL_OPTIONAL 0x1 /* an argument that may be omitted (after the required ones) */
#define CTL_HIDE                                                                                   \
	0x2 /* an argument or option that is parsed but not shown in the help:                     \
	     * accepted only so that the handler can say why it does not fit */

struct ctl_arg {
	const char *meta; /* as the help shows it: "NAME", "VOLUME@SNAPSHOT" */
	enum ctl_arg_type type;
	unsigned flags;	  /* CTL_OPTIONAL, CTL_HIDE */
	const char *what; /* CTL_ARG_NAME: "new volume name" */
};

/*
 * Options. A long name ("--quota") takes its value as the next argument or
 * after '=' ("--quota=1G"); a short one ("-o") as the next argument or
 * attached ("-oro"). Given twice, the last value counts (.count says how
 * often it was given).
 */
enum ctl_opt_type {
	CTL_FLAG,   /* no value */
	CTL_STRING, /* a value, checked by .check when it has one */
	CTL_SIZE,   /* a SIZE (cs_parse_size), or what .check accepts: the bytes in .num */
};

#define CTL_ALT 0x4 /* shown with the option before it: "[-i|-I BASE]" */

struct ctl_opt {
	const char *name;  /* "--force", "-o" */
	const char *alias; /* "-f", "--options", or NULL */
	enum ctl_opt_type type;
	const char *meta; /* the value as the help shows it: "SIZE" */
	const char *help;
	unsigned flags; /* CTL_HIDE, CTL_ALT */
	/* Check the value @val of option @opt: 0 (*@num may be set) or a
	 * usage exit code (reported). NULL: as its type says. */
	int (*check)(const char *opt, const char *val, uint64_t *num);
};

#define CTL_MAX_ARGS 4
#define CTL_MAX_OPTS 8

/* One option as given on the command line. */
struct ctl_val {
	int count;	 /* how often it was given (0: not at all) */
	const char *str; /* its last value */
	uint64_t num;	 /* CTL_SIZE (and values a check converted): the number */
};

/* What the whole program knows: the global options and the client. */
struct ctl {
	const char *store_arg; /* --store DIR */
	int json;	       /* --json: print the API's JSON */
	int bytes;	       /* --bytes: sizes as exact byte counts */
	struct cs_client *c;   /* NULL for CTL_NO_STORE commands */
};

struct ctl_cmd;

/* A command line, parsed and checked against its row. */
struct ctl_args {
	const struct ctl_cmd *cmd;
	int npos;
	const char *pos[CTL_MAX_ARGS];		      /* the positional arguments */
	char *vol[CTL_MAX_ARGS], *snap[CTL_MAX_ARGS]; /* CTL_ARG_SNAPSHOT, CTL_ARG_VOLSNAP */
	struct ctl_val opt[CTL_MAX_OPTS];	      /* in the order of cmd->opts */
	cJSON *ans;	     /* set by the handler: the answer to print (freed after) */
	int printed;	     /* set by the handler: it printed its output itself */
	char path[PATH_MAX]; /* a path the handler resolved (mount, unmount), for its text */
};

#define CTL_DAEMON 0x1	 /* connect to the daemon (starting one) before the handler */
#define CTL_NO_STORE 0x2 /* needs no store and no daemon */
#define CTL_HIDDEN 0x4	 /* not in the help, not in help --commands */

struct ctl_cmd {
	const char *name;	    /* "volume", "status" */
	const char *sub;	    /* "create"; NULL for a command of one word */
	const char *alias;	    /* another spelling of the last word: "ls" */
	const struct ctl_arg *args; /* ends with {0}; NULL: none */
	const struct ctl_opt *opts; /* ends with {0}; NULL: none, and then every
				     * argument is positional, '-' or not */
	const char *help;	    /* what it does */
	unsigned flags;		    /* CTL_DAEMON, CTL_NO_STORE, CTL_HIDDEN */
	/*
	 * The handler: 0, a negative errno (reported with the daemon's
	 * message, the exit code from cs_client_exit_code), or an exit code
	 * it reported itself. On 0 the answer in args->ans is printed (unless
	 * args->printed): as JSON with --json ({} when there is none), else
	 * by .print, else as the line .done (see ctl_say), else not at all.
	 */
	int (*run)(struct ctl *x, struct ctl_args *a);
	void (*print)(const struct ctl *x, const struct ctl_args *a);
	const char *done;
};

/*
 * ctl_main - run cstorfs-ctl's command line @argv against @table (ends
 * with a row whose name is NULL) and return the exit code. @footer is
 * printed at the end of the --help text.
 */
int ctl_main(const struct ctl_cmd *table, const char *footer, int argc, char **argv);

/* The value of option @name (its first name, "--force") of the command
 * line @a; the command's row must have it (else abort()). */
const struct ctl_val *ctl_opt(const struct ctl_args *a, const char *name);
/* ctl_opt(a, name)->count != 0 */
int ctl_flag(const struct ctl_args *a, const char *name);
/* The last value of option @name, or NULL when it was not given. */
const char *ctl_str(const struct ctl_args *a, const char *name);

/*
 * ctl_say - print the line @tmpl with "{N}" replaced by positional argument
 * N, "{N.vol}" and "{N.snap}" by its parts (CTL_ARG_SNAPSHOT, VOLSNAP).
 */
void ctl_say(const char *tmpl, const struct ctl_args *a);

/* Connect to the store's daemon, starting one: 0 or the exit code
 * (reported). For handlers whose row has no CTL_DAEMON because they check
 * more before. */
int ctl_connect(struct ctl *x);

/* Report the failure @err of a client call (the daemon's message, else
 * strerror) and return its exit code. @x may be NULL. */
int ctl_failed(const struct ctl *x, int err);

/* Usage checks, as the rows' argument types do them: 0 or CS_EXIT_USAGE
 * (reported). @what names the argument in the message. */
int ctl_check_name(const char *what, const char *name);
int ctl_check_volume(const char *name);
/* Split @spec as cs_client_split_snapshot does, requiring the snapshot
 * part when @need_snap; *@vol and *@snap are malloc'd (caller frees). 0,
 * CS_EXIT_USAGE or CS_EXIT_FAIL (out of memory), reported. */
int ctl_split(const char *spec, int need_snap, char **vol, char **snap);

#endif /* CTL_CMD_H */
