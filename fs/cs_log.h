/*
 * cs_log.h - the daemon's one logging module: levels, a replaceable sink,
 * stderr by default, syslog when detached. The store library never logs;
 * fs/ and the shims do, through this.
 */
#ifndef CS_LOG_H
#define CS_LOG_H

enum cs_log_level { CS_LOG_ERROR = 0, CS_LOG_WARN, CS_LOG_INFO, CS_LOG_DEBUG };

typedef void (*cs_log_sink_fn)(int level, const char *msg);

/* Only messages at or below @level are emitted (default CS_LOG_INFO;
 * CS_LOG_DEBUG traces every FUSE operation). */
void cs_log_set_level(int level);
int cs_log_get_level(void);
/* Send messages to syslog (ident "cstorfsd") instead of stderr. */
void cs_log_use_syslog(int on);
/* Replace the sink (NULL restores the default). */
void cs_log_set_sink(cs_log_sink_fn fn);

void cs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cs_err(...)   cs_log(CS_LOG_ERROR, __VA_ARGS__)
#define cs_warn(...)  cs_log(CS_LOG_WARN, __VA_ARGS__)
#define cs_info(...)  cs_log(CS_LOG_INFO, __VA_ARGS__)
#define cs_debug(...) do { if (cs_log_get_level() >= CS_LOG_DEBUG) cs_log(CS_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif /* CS_LOG_H */
