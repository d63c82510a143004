/*
 * log.c
 *	  Structured key=value log lines, to the application's logger or stderr.
 *
 * A line is "ts=... level=... event=... key=value ...": values with spaces,
 * quotes, '=' or control characters are double-quoted with backslash
 * escapes, so every line splits unambiguously.  The logger callback is
 * copied under the logger's own lock and called without any lock held.
 * Callers never pass a password; the whole line is redacted once more anyway.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "govpool_int.h"

#define GP_LINE_MAX 2048

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
gp_logger_init(gp_logger *lg)
{
	const char *lvl = getenv("GOVPOOL_LOG_LEVEL");

	lg->fn = NULL;
	lg->userdata = NULL;
	lg->min_level = GOVPOOL_LOG_INFO;
	if (lvl)
	{
		for (int i = 0; i < 4; i++)
			if (strcasecmp(lvl, level_names[i]) == 0)
				lg->min_level = (govpool_log_level) i;
		if (strcasecmp(lvl, "off") == 0)
			lg->min_level = (govpool_log_level) 4;
	}
	pthread_mutex_init(&lg->lock, NULL);
}

void
gp_logger_destroy(gp_logger *lg)
{
	pthread_mutex_destroy(&lg->lock);
}

void
govpool_set_logger(govpool *pool, govpool_log_fn fn, void *userdata)
{
	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->logger.lock);
	pool->logger.fn = fn;
	pool->logger.userdata = userdata;
	pthread_mutex_unlock(&pool->logger.lock);
}

bool
gp_log_enabled(gp_logger *lg, govpool_log_level level)
{
	bool		enabled;

	pthread_mutex_lock(&lg->lock);
	enabled = lg->fn != NULL || level >= lg->min_level;
	pthread_mutex_unlock(&lg->lock);
	return enabled;
}

void
gp_kv_append(char *buf, size_t size, size_t *pos, const char *key, const char *val)
{
	bool		quote = (*val == '\0');
	size_t		p = *pos;

	for (const char *c = val; *c && !quote; c++)
		if (*c == ' ' || *c == '"' || *c == '=' || *c == '\\' || (unsigned char) *c < 0x20)
			quote = true;

#define PUT(ch) do { if (p + 1 < size) buf[p++] = (ch); } while (0)
	if (p > 0)
		PUT(' ');
	for (const char *c = key; *c; c++)
		PUT(*c);
	PUT('=');
	if (quote)
		PUT('"');
	for (const char *c = val; *c; c++)
	{
		if (!quote)
			PUT(*c);
		else if (*c == '"' || *c == '\\')
		{
			PUT('\\');
			PUT(*c);
		}
		else if (*c == '\n')
		{
			PUT('\\');
			PUT('n');
		}
		else if ((unsigned char) *c < 0x20)
			PUT(' ');
		else
			PUT(*c);
	}
	if (quote)
		PUT('"');
#undef PUT
	buf[p < size ? p : size - 1] = '\0';
	*pos = p;
}

void
gp_log(gp_logger *lg, govpool_log_level level, const char *event,...)
{
	char		line[GP_LINE_MAX];
	char		ts[48];
	size_t		pos = 0;
	va_list		ap;
	govpool_log_fn fn;
	void	   *ud;
	struct timeval tv;
	struct tm	tm;

	pthread_mutex_lock(&lg->lock);
	fn = lg->fn;
	ud = lg->userdata;
	if (fn == NULL && level < lg->min_level)
	{
		pthread_mutex_unlock(&lg->lock);
		return;
	}
	pthread_mutex_unlock(&lg->lock);

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	{
		size_t		n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

		snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int) (tv.tv_usec / 1000) % 1000);
	}
	line[0] = '\0';
	gp_kv_append(line, sizeof(line), &pos, "ts", ts);
	gp_kv_append(line, sizeof(line), &pos, "level", level_names[level]);
	gp_kv_append(line, sizeof(line), &pos, "event", event);
	va_start(ap, event);
	for (;;)
	{
		const char *key = va_arg(ap, const char *);
		const char *val;

		if (key == NULL)
			break;
		val = va_arg(ap, const char *);
		if (val != NULL)
			gp_kv_append(line, sizeof(line), &pos, key, val);
	}
	va_end(ap);
	gp_redact(line, sizeof(line), NULL);

	if (fn)
		fn(level, line, ud);
	else
		fprintf(stderr, "govpool: %s\n", line);
}

/* DATABASE_ECHO: a statement logged with the session's context. */
void
gp_echo(govpool *pool, const govpool_session *s, const char *sql)
{
	if (!pool->cfg.echo)
		return;
	gp_log(&pool->logger, GOVPOOL_LOG_INFO, "sql",
		   "agent_id", s ? s->agent : NULL,
		   "tenant_id", s && s->has_tenant ? s->tenant : NULL,
		   "correlation_id", s && s->has_correlation ? s->correlation : NULL,
		   "sql", sql, (char *) NULL);
}
