/*
 * dp_log.h - the Docker plugin's logging: one line per message on stderr
 * (systemd's journal or the managed plugin's log collects it), with a level
 * and a timestamp. DEBUG lines appear only after dp_log_set_debug(1).
 * Thread-safe (one write(2) per line). Never logs request bodies: options
 * may carry secrets one day.
 */
#ifndef DP_LOG_H
#define DP_LOG_H

enum dp_log_level { DP_LOG_DEBUG, DP_LOG_INFO, DP_LOG_WARN, DP_LOG_ERR };

/* Turn DEBUG messages on (@on non-zero) or off. */
void dp_log_set_debug(int on);

/* Log one message at @level (printf format; a trailing newline is added). */
void dp_log(enum dp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define dp_debug(...) dp_log(DP_LOG_DEBUG, __VA_ARGS__)
#define dp_info(...) dp_log(DP_LOG_INFO, __VA_ARGS__)
#define dp_warn(...) dp_log(DP_LOG_WARN, __VA_ARGS__)
#define dp_err(...) dp_log(DP_LOG_ERR, __VA_ARGS__)

#endif /* DP_LOG_H */
