/*
 * fv_conf.c - the driver's configuration: file, environment, defaults (see
 * fv_conf.h). Reads one small file; keeps nothing else.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "fv_conf.h"
#include "fv_reply.h"

#define FV_SYSTEM_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	/* One level of matching quotes, as a shell-style file would have. */
	if (e - s >= 2 && (*s == '"' || *s == '\'') && e[-1] == *s) {
		e[-1] = '\0';
		s++;
	}
	return s;
}

static int set_value(char *dst, size_t cap, const char *val)
{
	if (strlen(val) >= cap)
		return -ENAMETOOLONG;
	strcpy(dst, val);
	return 0;
}

/* Parse one "KEY=VALUE" line into @conf. */
static int conf_line(struct fv_conf *conf, char *line, int lineno, char *msg, size_t msglen)
{
	char *eq, *key, *val;

	key = trim(line);
	if (!*key || *key == '#')
		return 0;
	eq = strchr(key, '=');
	if (!eq) {
		snprintf(msg, msglen, "%s line %d: expected KEY=VALUE", conf->file, lineno);
		return -EINVAL;
	}
	*eq = '\0';
	val = trim(eq + 1);
	key = trim(key);
	if (!strncmp(key, "export ", 7))
		key = trim(key + 7);
	if (!strcmp(key, "STORE") || !strcmp(key, "CSTORFS_STORE")) {
		if (val[0] != '/' || set_value(conf->store, sizeof(conf->store), val)) {
			snprintf(msg, msglen, "%s line %d: STORE must be an absolute path",
				 conf->file, lineno);
			return -EINVAL;
		}
	} else if (!strcmp(key, "CSTORFSD")) {
		if (set_value(conf->cstorfsd, sizeof(conf->cstorfsd), val)) {
			snprintf(msg, msglen, "%s line %d: CSTORFSD is too long", conf->file,
				 lineno);
			return -EINVAL;
		}
	} else {
		fv_log(LOG_WARNING, "%s line %d: unknown key '%.64s' ignored", conf->file, lineno,
		       key);
	}
	return 0;
}

static int conf_read(struct fv_conf *conf, char *msg, size_t msglen)
{
	FILE *f = fopen(conf->file, "re");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, err = 0;

	if (!f) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		snprintf(msg, msglen, "cannot read %s: %s", conf->file, strerror(errno));
		return -EIO;
	}
	while (!err && getline(&line, &cap, f) > 0)
		err = conf_line(conf, line, ++lineno, msg, msglen);
	free(line);
	fclose(f);
	return err;
}

static void extend_path(void)
{
	const char *path = getenv("PATH");
	char *p = NULL;

	if (!path || !*path) {
		setenv("PATH", FV_SYSTEM_PATH, 1);
		return;
	}
	if (asprintf(&p, "%s:%s", path, FV_SYSTEM_PATH) < 0)
		return;
	setenv("PATH", p, 1);
	free(p);
}

int fv_conf_load(struct fv_conf *conf, char *msg, size_t msglen)
{
	const char *file = getenv("CSTORFS_FLEX_CONF");
	const char *env;
	int err;

	memset(conf, 0, sizeof(*conf));
	snprintf(conf->file, sizeof(conf->file), "%s", file && *file ? file : FV_CONF_FILE);
	if ((err = conf_read(conf, msg, msglen)))
		return err;
	env = getenv("CSTORFS_STORE");
	if (env && *env) {
		if (env[0] != '/' || set_value(conf->store, sizeof(conf->store), env)) {
			snprintf(msg, msglen, "CSTORFS_STORE must be an absolute path");
			return -EINVAL;
		}
	}
	if (!conf->store[0])
		strcpy(conf->store, FV_DEFAULT_STORE);
	env = getenv("CSTORFSD");
	if (env && *env)
		set_value(conf->cstorfsd, sizeof(conf->cstorfsd), env);
	if (conf->cstorfsd[0])
		setenv("CSTORFSD", conf->cstorfsd, 1);
	extend_path();
	return 0;
}
