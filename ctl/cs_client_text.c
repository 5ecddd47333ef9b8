/*
 * cs_client_text.c - the client's helpers for text (see cs_client.h): exit
 * codes for errnos, URL encoding, names checked as the daemon checks them,
 * sizes parsed and formatted, and the one-line messages of the command-line
 * programs. None of them talks to the daemon.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_client_int.h"

/* ------------------------------------------------------------------ */
/* Exit codes, URL encoding, names, sizes                             */
/* ------------------------------------------------------------------ */

int cs_client_exit_code(int err)
{
	if (err >= 0)
		return CS_EXIT_OK;
	if (err == CS_CLIENT_EUNREACHABLE)
		return CS_EXIT_DAEMON;
	switch (-err) {
	case ENOENT:
		return CS_EXIT_NOTFOUND;
	case EEXIST:
	case EBUSY:
	case ENOTEMPTY:
		return CS_EXIT_EXISTS;
	default:
		return CS_EXIT_FAIL;
	}
}

char *csc_encode(const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1);
	char *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || strchr(keep, ch)) {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}

char *cs_client_urlencode(const char *s)
{
	return csc_encode(s, "-._~/");
}

int cs_client_name_check(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (n > 255)
		return -ENAMETOOLONG;
	return 0;
}

int cs_parse_size(const char *s, uint64_t *out)
{
	const char *units = "KMGTP";
	unsigned long long whole;
	long double v, mult = 1;
	const char *p, *u;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	whole = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	v = whole;
	if (*end == '.') {
		v = strtold(s, &end);
		if (end == s)
			return -EINVAL;
	}
	p = end;
	if (*p) {
		u = strchr(units, toupper((unsigned char)*p));
		if (u) {
			int k;

			for (k = 0; k <= u - units; k++)
				mult *= 1024;
			p++;
			if ((p[0] == 'i' || p[0] == 'I') && (p[1] == 'B' || p[1] == 'b'))
				p += 2;
			else if (p[0] == 'B' || p[0] == 'b')
				p++;
		} else if (p[0] == 'B' || p[0] == 'b') {
			p++;
		}
	}
	if (*p)
		return -EINVAL;
	v *= mult;
	if (v > 18446744073709551615.0L)
		return -ERANGE;
	if (mult == 1 && *end != '.' && end == p) {
		*out = whole;
		return 0;
	}
	*out = (uint64_t)v;
	return 0;
}

void cs_format_size(uint64_t n, char *buf, size_t len)
{
	static const char units[] = "BKMGTPE";
	double v = (double)n;
	int i = 0;

	while (v >= 1024 && i < 6) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%lluB", (unsigned long long)n);
	else if (v < 10 && v != (double)(uint64_t)v)
		snprintf(buf, len, "%.1f%c", v, units[i]);
	else
		snprintf(buf, len, "%.0f%c", v, units[i]);
}

int cs_client_split_snapshot(const char *spec, char **vol, char **snap)
{
	const char *at = strrchr(spec, '@');
	int r;

	*vol = NULL;
	*snap = NULL;
	if (!at) {
		r = cs_client_name_check(spec);
		if (r < 0)
			return r;
		*vol = strdup(spec);
		return *vol ? 0 : -ENOMEM;
	}
	*vol = strndup(spec, (size_t)(at - spec));
	*snap = strdup(at + 1);
	if (!*vol || !*snap) {
		r = -ENOMEM;
		goto fail;
	}
	r = cs_client_name_check(*vol);
	if (r == 0)
		r = cs_client_name_check(*snap);
	if (r == 0)
		return 0;
fail:
	free(*vol);
	free(*snap);
	*vol = *snap = NULL;
	return r;
}

/* ------------------------------------------------------------------ */
/* Messages of the command-line programs                              */
/* ------------------------------------------------------------------ */

static const char *cli_prog = "cstorfs";

void cs_cli_set_prog(const char *prog)
{
	cli_prog = prog;
}

static void cli_vmsg(int see_help, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", cli_prog);
	vfprintf(stderr, fmt, ap);
	if (see_help)
		fprintf(stderr, " (see %s --help)", cli_prog);
	fputc('\n', stderr);
}

void cs_cli_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg(0, fmt, ap);
	va_end(ap);
}

int cs_cli_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmsg(1, fmt, ap);
	va_end(ap);
	return CS_EXIT_USAGE;
}
