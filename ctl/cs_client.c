/*
 * cs_client.c - the control API client (see cs_client.h).
 *
 * Requests: one libcurl easy handle per client, reset for each request,
 * talking HTTP/1.1 to http://localhost/v1/... through the daemon's unix
 * socket (CURLOPT_UNIX_SOCKET_PATH). Every request has a connect timeout
 * and a total timeout. Error answers carry {"error": {"code", "errno",
 * "message"}}; the errno becomes the return value, the message is kept.
 *
 * Starting the daemon: the client forks a child that starts a new session,
 * points stdin/stdout at /dev/null and stderr at a pipe, and execs
 * `cstorfsd --store DIR --create`. cstorfsd detaches by itself once its
 * socket listens and its first process exits with 0, 1 or 3; the client
 * reads what it wrote on stderr (for the error message) and polls the
 * socket until it answers or CS_CLIENT_START_TIMEOUT passes. The daemon
 * never keeps the client's stdio, so callers whose stdout is a pipe finish
 * promptly.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cs_client.h"

#define CS_SOCKET_NAME "cstorfsd.sock"
#define CS_RESPONSE_MAX (64u << 20) /* refuse answers larger than this */

struct cs_client {
	char *store;
	char *sock;
	CURL *curl;
	char errmsg[1024];
};

struct membuf {
	char *data;
	size_t len;
	int overflow;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void set_err(struct cs_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_err(struct cs_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* Store directory                                                    */
/* ------------------------------------------------------------------ */

static char *make_absolute(const char *p)
{
	char resolved[PATH_MAX];
	char cwd[PATH_MAX];
	char *out = NULL;

	if (realpath(p, resolved))
		return strdup(resolved);
	if (p[0] == '/')
		return strdup(p);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&out, "%s/%s", strcmp(cwd, "/") ? cwd : "", p) < 0)
		return NULL;
	return out;
}

char *cs_client_store_dir(const char *given)
{
	const char *env = getenv("CSTORFS_STORE");
	const char *home;
	char *p = NULL;
	char *abs;

	if (given && *given)
		return make_absolute(given);
	if (env && *env)
		return make_absolute(env);
	if (geteuid() == 0)
		return strdup("/var/lib/cstorfs");
	home = getenv("HOME");
	if (!home || !*home) {
		errno = ENOENT;
		return NULL;
	}
	if (asprintf(&p, "%s/.local/share/cstorfs", home) < 0)
		return NULL;
	abs = make_absolute(p);
	free(p);
	return abs;
}

/* ------------------------------------------------------------------ */
/* Client                                                             */
/* ------------------------------------------------------------------ */

int cs_client_new(const char *store_dir, struct cs_client **out)
{
	struct sockaddr_un sa;
	struct cs_client *c;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_once(&curl_once, curl_init_once);
	c->store = strdup(store_dir);
	if (!c->store || asprintf(&c->sock, "%s/%s", store_dir, CS_SOCKET_NAME) < 0) {
		c->sock = NULL;
		cs_client_free(c);
		return -ENOMEM;
	}
	if (strlen(c->sock) >= sizeof(sa.sun_path)) {
		cs_client_free(c);
		return -ENAMETOOLONG;
	}
	c->curl = curl_easy_init();
	if (!c->curl) {
		cs_client_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void cs_client_free(struct cs_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->store);
	free(c->sock);
	free(c);
}

const char *cs_client_store(const struct cs_client *c)
{
	return c->store;
}

const char *cs_client_socket(const struct cs_client *c)
{
	return c->sock;
}

const char *cs_client_errmsg(const struct cs_client *c)
{
	return c->errmsg;
}

/* ------------------------------------------------------------------ */
/* Requests                                                           */
/* ------------------------------------------------------------------ */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct membuf *mb = ud;
	size_t n = size * nmemb;
	char *p;

	if (mb->len + n > CS_RESPONSE_MAX) {
		mb->overflow = 1;
		return 0;
	}
	p = realloc(mb->data, mb->len + n + 1);
	if (!p)
		return 0;
	mb->data = p;
	memcpy(mb->data + mb->len, ptr, n);
	mb->len += n;
	mb->data[mb->len] = '\0';
	return n;
}

/* Map an error answer onto a negative errno and keep its message. */
static int parse_error(struct cs_client *c, long status, cJSON *json)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(json, "error");
	const cJSON *num = cJSON_GetObjectItemCaseSensitive(e, "errno");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
	int err = 0;

	if (cJSON_IsNumber(num) && num->valuedouble > 0 && num->valuedouble < 4096)
		err = (int)num->valuedouble;
	if (err == 0) {
		switch (status) {
		case 400:
			err = EINVAL;
			break;
		case 403:
			err = EACCES;
			break;
		case 404:
			err = ENOENT;
			break;
		case 409:
			err = EBUSY;
			break;
		case 413:
			err = E2BIG;
			break;
		case 507:
			err = ENOSPC;
			break;
		default:
			err = EIO;
			break;
		}
	}
	if (cJSON_IsString(msg) && msg->valuestring[0])
		set_err(c, "%s", msg->valuestring);
	else
		set_err(c, "daemon answered HTTP %ld: %s", status, strerror(err));
	/* Never let a daemon errno collide with our private marker. */
	if (-err == CS_CLIENT_EUNREACHABLE)
		err = EIO;
	return -err;
}

static int curl_failure(struct cs_client *c, CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		set_err(c, "cannot reach the daemon at %s", c->sock);
		return CS_CLIENT_EUNREACHABLE;
	case CURLE_OPERATION_TIMEDOUT:
		set_err(c, "the daemon did not answer in time (%s)", c->sock);
		return -ETIMEDOUT;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		set_err(c, "the daemon closed the connection (%s)", curl_easy_strerror(rc));
		return -ECONNRESET;
	default:
		set_err(c, "request failed: %s", curl_easy_strerror(rc));
		return -EIO;
	}
}

int cs_client_request(struct cs_client *c, const char *method, const char *path, const cJSON *body,
		      long timeout_s, cJSON **out)
{
	struct curl_slist *hdrs = NULL;
	struct membuf mb = {0};
	char *url = NULL, *text = NULL;
	cJSON *json = NULL;
	long status = 0;
	CURLcode rc;
	int ret;

	if (out)
		*out = NULL;
	c->errmsg[0] = '\0';
	if (asprintf(&url, "http://localhost%s", path) < 0) {
		url = NULL;
		ret = -ENOMEM;
		goto out;
	}
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, (long)CS_CLIENT_CONNECT_TIMEOUT);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT,
			 timeout_s > 0 ? timeout_s : (long)CS_CLIENT_TIMEOUT);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &mb);
	hdrs = curl_slist_append(hdrs, "Expect:");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (body) {
		text = cJSON_PrintUnformatted(body);
		if (!text) {
			ret = -ENOMEM;
			goto out;
		}
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);

	rc = curl_easy_perform(c->curl);
	if (rc != CURLE_OK) {
		ret = mb.overflow ? (set_err(c, "answer too large"), -EPROTO) : curl_failure(c, rc);
		goto out;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	json = mb.data ? cJSON_Parse(mb.data) : NULL;
	if (status < 200 || status > 299) {
		ret = parse_error(c, status, json);
		goto out;
	}
	if (!json) {
		set_err(c, "the daemon's answer is not JSON (HTTP %ld)", status);
		ret = -EPROTO;
		goto out;
	}
	if (out) {
		*out = json;
		json = NULL;
	}
	ret = 0;
out:
	cJSON_Delete(json);
	curl_slist_free_all(hdrs);
	free(mb.data);
	free(text);
	free(url);
	return ret;
}

int cs_client_ping(struct cs_client *c)
{
	cJSON *st = NULL;
	int r;

	if (access(c->sock, F_OK) != 0)
		return 0;
	r = cs_client_request(c, "GET", "/v1/status", NULL, 5, &st);
	cJSON_Delete(st);
	/* Any well-formed answer means someone is serving; a 403 too. */
	return r == 0 || r == -EACCES;
}

/* ------------------------------------------------------------------ */
/* Starting the daemon                                                */
/* ------------------------------------------------------------------ */

static int is_executable(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* The daemon's path: $CSTORFSD, else beside /proc/self/exe, else "cstorfsd"
 * (looked up in PATH by execvp). Returns a malloc'd string. */
static char *daemon_path(void)
{
	const char *env = getenv("CSTORFSD");
	char self[PATH_MAX];
	char *slash, *p = NULL;
	ssize_t n;

	if (env && *env)
		return strdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if (asprintf(&p, "%s/cstorfsd", self) < 0)
				p = NULL;
			if (p && is_executable(p))
				return p;
			free(p);
		}
	}
	return strdup("cstorfsd");
}

/* In the child: new session, stdin/stdout on /dev/null, stderr on
 * @errfd, no other descriptor, default signals; then exec. Never
 * returns. */
static void exec_daemon(const char *prog, const char *store, int errfd)
{
	int null = open("/dev/null", O_RDWR);
	struct sigaction sa;
	sigset_t none;
	int fd;

	setsid();
	if (null < 0)
		_exit(127);
	dup2(null, 0);
	dup2(null, 1);
	dup2(errfd, 2);
	for (fd = 3; fd < 1024; fd++)
		close(fd);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (fd = 1; fd < NSIG; fd++)
		sigaction(fd, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (strchr(prog, '/'))
		execl(prog, prog, "--store", store, "--create", (char *)NULL);
	else
		execlp(prog, prog, "--store", store, "--create", (char *)NULL);
	dprintf(2, "cannot run %s: %s\n", prog, strerror(errno));
	_exit(127);
}

/* Read what the starting daemon writes on stderr, without blocking for
 * longer than @until. Returns 1 once EOF was seen. */
static int drain_stderr(int fd, char *buf, size_t cap, size_t *len, double until)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	int ms = (int)((until - now_s()) * 1000);
	ssize_t n;
	char junk[256];

	if (ms < 0)
		ms = 0;
	if (ms > 100)
		ms = 100;
	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	if (*len + 1 < cap)
		n = read(fd, buf + *len, cap - 1 - *len);
	else
		n = read(fd, junk, sizeof(junk));
	if (n == 0)
		return 1;
	if (n < 0)
		return errno != EINTR && errno != EAGAIN;
	if (*len + 1 < cap) {
		*len += (size_t)n;
		buf[*len] = '\0';
	}
	return 0;
}

static void chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
}

int cs_client_ensure_daemon(struct cs_client *c)
{
	double until = now_s() + CS_CLIENT_START_TIMEOUT;
	char errbuf[1024] = "";
	size_t errlen = 0;
	int pipefd[2] = {-1, -1};
	int status = 0, exited = 0, eof = 0, ret;
	char *prog = NULL;
	pid_t pid;

	if (cs_client_ping(c))
		return 0;
	prog = daemon_path();
	if (!prog)
		return -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		ret = -errno;
		set_err(c, "cannot start the daemon: %s", strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		ret = CS_CLIENT_EUNREACHABLE;
		set_err(c, "cannot start the daemon: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		exec_daemon(prog, c->store, pipefd[1]);
	close(pipefd[1]);
	pipefd[1] = -1;

	for (;;) {
		if (!eof)
			eof = drain_stderr(pipefd[0], errbuf, sizeof(errbuf), &errlen, until);
		else
			usleep(50 * 1000);
		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = 1;
		/* The first daemon process exits once the socket listens. */
		if (exited && WIFEXITED(status) && WEXITSTATUS(status) == 0 && cs_client_ping(c)) {
			ret = 0;
			goto out;
		}
		/* Failed (e.g. another process is starting one): a daemon
		 * may still come up; otherwise report its complaint. */
		if (exited && (!WIFEXITED(status) || WEXITSTATUS(status) != 0) &&
		    (eof || now_s() >= until)) {
			if (cs_client_ping(c)) {
				ret = 0;
				goto out;
			}
			if (WIFEXITED(status) && WEXITSTATUS(status) == 3 && now_s() < until) {
				usleep(100 * 1000);
				continue;
			}
			break;
		}
		if (now_s() >= until)
			break;
	}
	if (!exited) {
		/* Still not ready: leave it running, it may yet come up. */
		waitpid(pid, &status, WNOHANG);
	}
	if (cs_client_ping(c)) {
		ret = 0;
		goto out;
	}
	chomp(errbuf);
	if (errbuf[0])
		set_err(c, "cannot start the daemon for %s: %s", c->store, errbuf);
	else if (exited && WIFEXITED(status) && WEXITSTATUS(status) == 127)
		set_err(c, "cannot start the daemon: %s not found", prog);
	else
		set_err(c, "the daemon for %s did not answer within %d s", c->store,
			CS_CLIENT_START_TIMEOUT);
	ret = CS_CLIENT_EUNREACHABLE;
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	free(prog);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                            */
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

char *cs_client_urlencode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1);
	char *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || strchr("-._~/", ch)) {
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

/* ------------------------------------------------------------------ */
/* Typed calls                                                        */
/* ------------------------------------------------------------------ */

/* "/v1/volumes/NAME" + @suffix, NAME percent-encoded ('/' never occurs in
 * a valid name; encode it anyway so a bad name cannot change the path). */
static char *volume_path(const char *name, const char *suffix)
{
	char *enc = malloc(strlen(name) * 3 + 1), *o = enc, *p = NULL;
	static const char hex[] = "0123456789ABCDEF";
	const char *s;

	if (!enc)
		return NULL;
	for (s = name; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || strchr("-._~", ch)) {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	if (asprintf(&p, "/v1/volumes/%s%s", enc, suffix ? suffix : "") < 0)
		p = NULL;
	free(enc);
	return p;
}

static int request_path(struct cs_client *c, const char *method, char *path, const cJSON *body,
			cJSON **out)
{
	int r;

	if (!path) {
		set_err(c, "out of memory");
		return -ENOMEM;
	}
	r = cs_client_request(c, method, path, body, 0, out);
	free(path);
	return r;
}

int cs_client_volume_get(struct cs_client *c, const char *name, cJSON **out)
{
	return request_path(c, "GET", volume_path(name, NULL), NULL, out);
}

int cs_client_volume_list(struct cs_client *c, cJSON **out)
{
	return cs_client_request(c, "GET", "/v1/volumes", NULL, 0, out);
}

int cs_client_volume_create(struct cs_client *c, const char *name, const char *from,
			    const char *compression, uint64_t quota, cJSON **out)
{
	cJSON *body = cJSON_CreateObject();
	int r = -ENOMEM;

	if (out)
		*out = NULL;
	if (!body || !cJSON_AddStringToObject(body, "name", name) ||
	    (from && !cJSON_AddStringToObject(body, "from", from)) ||
	    (compression && !cJSON_AddStringToObject(body, "compression", compression)) ||
	    (quota && !cJSON_AddNumberToObject(body, "quota", (double)quota)))
		goto out;
	r = cs_client_request(c, "POST", "/v1/volumes", body, 0, out);
out:
	cJSON_Delete(body);
	return r;
}

int cs_client_volume_delete(struct cs_client *c, const char *name, int force)
{
	return request_path(c, "DELETE", volume_path(name, force ? "?force=1" : NULL), NULL, NULL);
}

/* Take the "props" member out of an answer. */
static int take_props(struct cs_client *c, cJSON *ans, cJSON **out)
{
	cJSON *props = cJSON_DetachItemFromObjectCaseSensitive(ans, "props");

	cJSON_Delete(ans);
	if (!cJSON_IsObject(props)) {
		cJSON_Delete(props);
		set_err(c, "the daemon's answer has no props object");
		return -EPROTO;
	}
	if (out)
		*out = props;
	else
		cJSON_Delete(props);
	return 0;
}

int cs_client_props_get(struct cs_client *c, const char *volume, cJSON **out)
{
	cJSON *ans = NULL;
	int r;

	if (out)
		*out = NULL;
	r = request_path(c, "GET", volume_path(volume, "/props"), NULL, &ans);
	return r < 0 ? r : take_props(c, ans, out);
}

int cs_client_props_set(struct cs_client *c, const char *volume, const cJSON *changes, cJSON **out)
{
	cJSON *ans = NULL;
	int r;

	if (out)
		*out = NULL;
	r = request_path(c, "PATCH", volume_path(volume, "/props"), changes, &ans);
	return r < 0 ? r : take_props(c, ans, out);
}

int cs_client_prop_get(struct cs_client *c, const char *volume, const char *prop, char **value)
{
	cJSON *props = NULL;
	const cJSON *v;
	int r;

	*value = NULL;
	r = cs_client_props_get(c, volume, &props);
	if (r < 0)
		return r;
	v = cJSON_GetObjectItemCaseSensitive(props, prop);
	if (!cJSON_IsString(v)) {
		set_err(c, "volume '%s' has no property '%s'", volume, prop);
		r = -ENOENT;
	} else if (!(*value = strdup(v->valuestring))) {
		r = -ENOMEM;
	}
	cJSON_Delete(props);
	return r;
}

int cs_client_prop_set(struct cs_client *c, const char *volume, const char *prop, const char *value)
{
	cJSON *body = cJSON_CreateObject();
	int r = -ENOMEM;

	if (!body)
		return r;
	if (value ? cJSON_AddStringToObject(body, prop, value) != NULL
		  : cJSON_AddNullToObject(body, prop) != NULL)
		r = cs_client_props_set(c, volume, body, NULL);
	cJSON_Delete(body);
	return r;
}

int cs_client_mount(struct cs_client *c, const char *volume, const char *mountpoint,
		    const char *options, unsigned flags, cJSON **out)
{
	cJSON *body = cJSON_CreateObject();
	char *opts = NULL;
	int r = -ENOMEM;

	if (out)
		*out = NULL;
	if (flags & CS_CLIENT_MOUNT_RDONLY) {
		if (asprintf(&opts, "%s%sro", options && *options ? options : "",
			     options && *options ? "," : "") < 0) {
			opts = NULL;
			goto out;
		}
		options = opts;
	}
	if (!body || !cJSON_AddStringToObject(body, "volume", volume) ||
	    !cJSON_AddStringToObject(body, "mountpoint", mountpoint) ||
	    (options && *options && !cJSON_AddStringToObject(body, "options", options)) ||
	    ((flags & CS_CLIENT_MOUNT_SHARED) && !cJSON_AddTrueToObject(body, "shared")))
		goto out;
	r = cs_client_request(c, "POST", "/v1/mounts", body, 0, out);
out:
	free(opts);
	cJSON_Delete(body);
	return r;
}

int cs_client_unmount(struct cs_client *c, const char *mountpoint, int missing_ok)
{
	char *enc = cs_client_urlencode(mountpoint), *path = NULL;
	int r;

	if (!enc || asprintf(&path, "/v1/mounts?mountpoint=%s", enc) < 0) {
		free(enc);
		return -ENOMEM;
	}
	free(enc);
	r = cs_client_request(c, "DELETE", path, NULL, 0, NULL);
	free(path);
	if (r == -ENOENT && missing_ok) {
		c->errmsg[0] = '\0';
		r = 0;
	}
	return r;
}

int cs_client_mount_list(struct cs_client *c, cJSON **out)
{
	return cs_client_request(c, "GET", "/v1/mounts", NULL, 0, out);
}

static char *snap_path(const char *volume, const char *snap)
{
	char *enc = cs_client_urlencode(snap ? snap : ""), *sfx = NULL, *p;

	if (!enc)
		return NULL;
	/* urlencode keeps '/', which a valid snapshot name never has. */
	if (asprintf(&sfx, "/snapshots%s%s", snap ? "/" : "", enc) < 0)
		sfx = NULL;
	free(enc);
	if (!sfx)
		return NULL;
	p = volume_path(volume, sfx);
	free(sfx);
	return p;
}

int cs_client_snapshot_list(struct cs_client *c, const char *volume, cJSON **out)
{
	return request_path(c, "GET", snap_path(volume, NULL), NULL, out);
}

int cs_client_snapshot_create(struct cs_client *c, const char *volume, const char *snap,
			      cJSON **out)
{
	cJSON *body = cJSON_CreateObject();
	int r = -ENOMEM;

	if (out)
		*out = NULL;
	if (body && cJSON_AddStringToObject(body, "name", snap))
		r = request_path(c, "POST", snap_path(volume, NULL), body, out);
	cJSON_Delete(body);
	return r;
}

int cs_client_snapshot_delete(struct cs_client *c, const char *volume, const char *snap)
{
	return request_path(c, "DELETE", snap_path(volume, snap), NULL, NULL);
}

int cs_client_scrub_start(struct cs_client *c, const char *volume, uint64_t rate, cJSON **out)
{
	cJSON *body = cJSON_CreateObject();
	int r = -ENOMEM;

	if (out)
		*out = NULL;
	if (body && (!volume || cJSON_AddStringToObject(body, "volume", volume)) &&
	    cJSON_AddNumberToObject(body, "rate", (double)rate))
		r = cs_client_request(c, "POST", "/v1/scrub", body, 0, out);
	cJSON_Delete(body);
	return r;
}

int cs_client_scrub_status(struct cs_client *c, cJSON **out)
{
	return cs_client_request(c, "GET", "/v1/scrub", NULL, 0, out);
}

int cs_client_scrub_cancel(struct cs_client *c, cJSON **out)
{
	return cs_client_request(c, "DELETE", "/v1/scrub", NULL, 0, out);
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
/* Replication streams                                                */
/* ------------------------------------------------------------------ */

/* State of one streamed transfer. A send writes the body to fd when the
 * answer is 2xx; an error answer (JSON) is gathered in err_body. */
struct xfer {
	struct cs_client *c;
	int fd;
	int ok_status; /* 1: 2xx answer, 0: error answer, -1: not known yet */
	uint64_t done, total;
	int io_err;	  /* errno of a failed read/write on fd */
	struct membuf mb; /* error answer (send) or the answer (receive) */
	cs_client_progress_fn progress;
	void *ctx;
};

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static size_t send_header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nitems;
	static const char name[] = "X-Cstorfs-Stream-Size:";

	if (n > sizeof(name) && !strncasecmp(buf, name, sizeof(name) - 1))
		x->total = strtoull(buf + sizeof(name) - 1, NULL, 10);
	return n;
}

static size_t send_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	long status = 0;

	if (x->ok_status < 0) {
		curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
		x->ok_status = status >= 200 && status <= 299;
	}
	if (!x->ok_status)
		return write_cb(ptr, size, nmemb, &x->mb);
	x->io_err = write_all(x->fd, ptr, n);
	if (x->io_err)
		return 0;
	x->done += n;
	if (x->progress)
		x->progress(x->ctx, x->done, x->total);
	return n;
}

static void stream_setup(struct cs_client *c, const char *url, struct curl_slist *hdrs)
{
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, (long)CS_CLIENT_CONNECT_TIMEOUT);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
}

/* The result of a streamed transfer that did not succeed at the HTTP
 * level, or of its error answer. */
static int stream_result(struct xfer *x, CURLcode rc, const char *what)
{
	struct cs_client *c = x->c;
	long status = 0;
	cJSON *json;
	int ret;

	if (x->io_err) {
		set_err(c, "%s: %s", what, strerror(x->io_err));
		return -x->io_err;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK && x->ok_status == 1) {
		set_err(c,
			"the stream was cut after %llu bytes: the daemon failed while sending "
			"(see its log): %s",
			(unsigned long long)x->done, curl_easy_strerror(rc));
		return -EIO;
	}
	if (rc != CURLE_OK)
		return x->mb.overflow ? (set_err(c, "answer too large"), -EPROTO)
				      : curl_failure(c, rc);
	if (status >= 200 && status <= 299)
		return 0;
	json = x->mb.data ? cJSON_Parse(x->mb.data) : NULL;
	ret = parse_error(c, status, json);
	cJSON_Delete(json);
	return ret;
}

int cs_client_send(struct cs_client *c, const char *path, int fd, cs_client_progress_fn progress,
		   void *ctx, uint64_t *bytes)
{
	struct xfer x = {.c = c, .fd = fd, .ok_status = -1, .progress = progress, .ctx = ctx};
	struct curl_slist *hdrs = NULL;
	char *url = NULL;
	CURLcode rc;
	int ret;

	c->errmsg[0] = '\0';
	if (bytes)
		*bytes = 0;
	if (asprintf(&url, "http://localhost%s", path) < 0) {
		set_err(c, "out of memory");
		return -ENOMEM;
	}
	hdrs = curl_slist_append(hdrs, "Accept: application/octet-stream, application/json");
	stream_setup(c, url, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, send_header_cb);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, send_write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &x);
	rc = curl_easy_perform(c->curl);
	ret = stream_result(&x, rc, "writing the stream");
	if (bytes)
		*bytes = x.done;
	curl_slist_free_all(hdrs);
	free(x.mb.data);
	free(url);
	return ret;
}

static size_t recv_read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct xfer *x = ud;
	ssize_t n;

	do
		n = read(x->fd, buf, size * nitems);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		x->io_err = errno;
		return CURL_READFUNC_ABORT;
	}
	x->done += (size_t)n;
	if (x->progress)
		x->progress(x->ctx, x->done, x->total);
	return (size_t)n;
}

int cs_client_receive(struct cs_client *c, const char *path, int fd, cs_client_progress_fn progress,
		      void *ctx, cJSON **out)
{
	struct xfer x = {.c = c, .fd = fd, .ok_status = -1, .progress = progress, .ctx = ctx};
	struct curl_slist *hdrs = NULL;
	char *url = NULL;
	cJSON *json = NULL;
	struct stat sb;
	CURLcode rc;
	int ret;

	c->errmsg[0] = '\0';
	if (out)
		*out = NULL;
	if (asprintf(&url, "http://localhost%s", path) < 0) {
		set_err(c, "out of memory");
		return -ENOMEM;
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	stream_setup(c, url, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, "POST");
	curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, recv_read_cb);
	curl_easy_setopt(c->curl, CURLOPT_READDATA, &x);
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && lseek(fd, 0, SEEK_CUR) == 0) {
		x.total = (uint64_t)sb.st_size;
		curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)sb.st_size);
	}
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &x.mb);
	rc = curl_easy_perform(c->curl);
	x.ok_status = 0; /* a failure after the upload is the daemon's, not a cut */
	ret = stream_result(&x, rc, "reading the stream");
	if (ret == 0) {
		json = x.mb.data ? cJSON_Parse(x.mb.data) : NULL;
		if (!json) {
			set_err(c, "the daemon's answer is not JSON");
			ret = -EPROTO;
		} else if (out) {
			*out = json;
			json = NULL;
		}
	}
	cJSON_Delete(json);
	curl_slist_free_all(hdrs);
	free(x.mb.data);
	free(url);
	return ret;
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
