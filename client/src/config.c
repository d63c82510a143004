/*
 * config.c
 *	  govpool_config from the environment: DATABASE_URL and friends, the
 *	  ENVIRONMENT profiles, the overrides, Cloud SQL and serverless settings.
 *
 * Precedence, lowest first (docs/libgovpool.md, "Configuration", repeats it for users):
 *	  1. built-in defaults of the ENVIRONMENT profile (default "local");
 *	  2. K_SERVICE set (Cloud Run) -> serverless: pool_size 0;
 *	  3. the explicit variables (DATABASE_POOL_SIZE, ...); where two names
 *		 alias one setting, both may be set only to the same value.
 * Connection target, first match wins: DATABASE_URL; else a Cloud SQL
 * instance name (unix socket /cloudsql/NAME) with DB_USER/DB_PASS/DB_NAME;
 * else DB_USER/DB_PASS/DB_NAME alone.  Whatever the target leaves unset
 * falls back to libpq's own PG* variables (PGHOST, PGPASSWORD, ...) at
 * connect time.  An empty variable counts as unset.
 *
 * Every error names the variable and the problem and never echoes a
 * password (DB_PASS or the password part of DATABASE_URL), nor any piece of
 * one: DATABASE_URL messages quote no user, password, host or port (a
 * malformed URL can turn a piece of the password into any of them), and
 * what they do quote is cleared of every 4-byte piece of the password.  A
 * password pasted with unencoded '@', ':', '/', '?', '#' or spaces is read
 * as meant where only one reading exists; see parse_database_url.
 *
 * Why one file of about 1,400 lines: every setting is read, checked and
 * described here and nowhere else (one table of the enum settings, one
 * parser per value kind), and most of the length is the DATABASE_URL
 * parser and its redaction, which must stay next to the messages they
 * protect.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "govpool_int.h"

/* ---- The ENVIRONMENT profiles (seed defaults) ---- */

typedef struct profile
{
	const char *name;
	int			pool_size;
	int			max_overflow;
	bool		echo;
	int			statement_timeout_ms;
} profile;

static const profile profiles[] = {
	{"local", 5, 10, true, 0},
	{"demo", 1, 10, false, 0},
	{"uat", 1, 15, false, 0},
	{"prod", 5, 20, false, 60000},
};

#define MAX_POOL 10000

void
govpool_config_defaults(govpool_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->environment, sizeof(cfg->environment), "local");
	cfg->pool_size = 5;
	cfg->max_overflow = 10;
	cfg->pool_timeout_ms = 30000;
	cfg->pool_recycle_ms = 3600 * 1000;
	cfg->connect_timeout_ms = 10000;
	cfg->statement_timeout_ms = 0;
	cfg->echo = false;
	cfg->reset_on_return = GOVPOOL_RESET_ROLLBACK;
	cfg->liveness_idle_ms = 1;
	cfg->preping_idle_ms = 30000;
	cfg->leak_threshold_ms = 60000;
	cfg->connect_attempts = 3;
	cfg->connect_backoff_ms = 100;
	cfg->connect_backoff_max_ms = 2000;
	cfg->breaker_threshold = 5;
	cfg->breaker_cooldown_ms = 10000;
	cfg->breaker_window_ms = 3000;
	cfg->breaker_cooldown_min_ms = 500;
	cfg->report_interval_ms = 10000;
	cfg->pooler = GOVPOOL_POOLER_NONE;
	cfg->prepare_context = GOVPOOL_PREPARE_AUTO;
	cfg->statement_cache = 100;
	cfg->overflow_idle_ms = 10000;
}

/* ---- Reading variables ---- */

typedef struct env_reader
{
	govpool_getenv_fn fn;
	void	   *ud;
} env_reader;

/* The value, or NULL when unset or empty. */
static const char *
env_get(const env_reader *r, const char *name)
{
	const char *v = r->fn(name, r->ud);

	return (v && *v) ? v : NULL;
}

/*
 * Value of a setting with two names; both set to different values is an
 * error.  *used gets the name the value came from.
 *
 * Messages quote a value only up to 64 bytes ("%.64s"): a long value would
 * otherwise fill the whole message and push its end (the part saying what is
 * wrong) out of GOVPOOL_MESSAGE_MAX (found by fuzz_config).
 */
static bool
env_get_alias(const env_reader *r, const char *name, const char *alias,
			  const char **val, const char **used, govpool_error *err)
{
	const char *a = env_get(r, name);
	const char *b = alias ? env_get(r, alias) : NULL;

	if (a && b && strcmp(a, b) != 0)
	{
		gp_error_set(err, GOVPOOL_ERR_CONFIG,
					 "%s=\"%.64s\" and %s=\"%.64s\" disagree: set one of them", name, a, alias, b);
		return false;
	}
	*val = a ? a : b;
	*used = a ? name : alias;
	return true;
}

static bool
parse_int(const char *name, const char *val, long min, long max, int *out, govpool_error *err)
{
	char	   *end;
	long		v;

	while (isspace((unsigned char) *val))
		val++;
	v = strtol(val, &end, 10);
	while (end && isspace((unsigned char) *end))
		end++;
	if (end == val || *end != '\0' || *val == '+')
	{
		gp_error_set(err, GOVPOOL_ERR_CONFIG, "%s=\"%.64s\": not an integer", name, val);
		return false;
	}
	if (v < min || v > max)
	{
		gp_error_set(err, GOVPOOL_ERR_CONFIG, "%s=\"%.64s\": must be between %ld and %ld",
					 name, val, min, max);
		return false;
	}
	*out = (int) v;
	return true;
}

/* Seconds, with up to three decimals, as milliseconds. */
static bool
parse_seconds(const char *name, const char *val, long max_s, int *out_ms, govpool_error *err)
{
	const char *p = val;
	long		secs = 0,
				ms = 0;
	int			ndigits = 0,
				nfrac = 0;

	/* past max_s, keep reading digits (without overflowing) so the error says "too large" */
	while (isdigit((unsigned char) *p))
	{
		if (secs <= max_s)
			secs = secs * 10 + (*p - '0');
		p++;
		ndigits++;
	}
	if (*p == '.')
	{
		p++;
		while (isdigit((unsigned char) *p) && nfrac < 3)
		{
			ms = ms * 10 + (*p++ - '0');
			nfrac++;
		}
		while (*p == '0')
			p++;
		if (isdigit((unsigned char) *p))
		{
			gp_error_set(err, GOVPOOL_ERR_CONFIG,
						 "%s=\"%.64s\": at most millisecond precision (3 decimals)", name, val);
			return false;
		}
		while (nfrac < 3)
		{
			ms *= 10;
			nfrac++;
		}
	}
	if (ndigits == 0 || *p != '\0')
	{
		gp_error_set(err, GOVPOOL_ERR_CONFIG,
					 "%s=\"%.64s\": not a non-negative number of seconds", name, val);
		return false;
	}
	if (secs > max_s || (secs == max_s && ms > 0))
	{
		gp_error_set(err, GOVPOOL_ERR_CONFIG, "%s=\"%.64s\": must be at most %ld seconds",
					 name, val, max_s);
		return false;
	}
	*out_ms = (int) (secs * 1000 + ms);
	return true;
}

static bool
parse_bool(const char *name, const char *val, bool *out, govpool_error *err)
{
	static const char *const yes[] = {"1", "true", "yes", "on", "t", "y"};
	static const char *const no[] = {"0", "false", "no", "off", "f", "n"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
	{
		if (strcasecmp(val, yes[i]) == 0)
		{
			*out = true;
			return true;
		}
		if (strcasecmp(val, no[i]) == 0)
		{
			*out = false;
			return true;
		}
	}
	gp_error_set(err, GOVPOOL_ERR_CONFIG,
				 "%s=\"%.64s\": not a boolean (use true/false, 1/0, yes/no, on/off)", name, val);
	return false;
}

/* ---- Building a libpq conninfo string ---- */

typedef struct cbuf
{
	char	   *buf;
	size_t		size;
	size_t		len;
	bool		overflow;
} cbuf;

static void
cbuf_add(cbuf *c, const char *key, const char *val)
{
	size_t		need = strlen(key) + 4;

	for (const char *p = val; *p; p++)
		need += (*p == '\'' || *p == '\\') ? 2 : 1;
	if (c->len + need + 1 > c->size)
	{
		c->overflow = true;
		return;
	}
	if (c->len > 0)
		c->buf[c->len++] = ' ';
	c->len += sprintf(c->buf + c->len, "%s='", key);
	for (const char *p = val; *p; p++)
	{
		if (*p == '\'' || *p == '\\')
			c->buf[c->len++] = '\\';
		c->buf[c->len++] = *p;
	}
	c->buf[c->len++] = '\'';
	c->buf[c->len] = '\0';
}

/* ---- DATABASE_URL ---- */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode [s, s+n) into out (size >= n+1).  False on a bad escape or NUL. */
static bool
pct_decode(const char *s, size_t n, char *out)
{
	size_t		o = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '%')
		{
			int			hi,
						lo;

			if (i + 2 >= n)
				return false;
			hi = hexval((unsigned char) s[i + 1]);
			lo = hexval((unsigned char) s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return false;
			out[o++] = (char) (hi * 16 + lo);
			i += 2;
		}
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return true;
}

static bool
valid_port(const char *p)
{
	long		v = 0;

	if (*p == '\0')
		return false;
	for (const char *c = p; *c; c++)
	{
		if (!isdigit((unsigned char) *c))
			return false;
		v = v * 10 + (*c - '0');
		if (v > 65535)
			return false;
	}
	return v > 0;
}

static bool
is_libpq_keyword(const char *k)
{
	PQconninfoOption *opts = PQconndefaults();
	bool		found = false;

	if (opts == NULL)
		return true;			/* out of memory: let libpq judge at connect */
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, k) == 0)
			found = true;
	PQconninfoFree(opts);
	return found;
}

static const char *const sslmodes[] = {
	"disable", "allow", "prefer", "require", "verify-ca", "verify-full", NULL
};

/*
 * How a DATABASE_URL is cut: the authority runs from auth to auth_end (the
 * host list ends there; the path or query follows), and at is the '@' that
 * ends the userinfo (NULL: no userinfo).
 */
typedef struct url_cut
{
	const char *auth;
	const char *at;
	const char *auth_end;
} url_cut;

/*
 * Hide every piece of a password from a DATABASE_URL message, but keep the
 * "DATABASE_URL: " that names the variable (a password may hold "BASE").
 */
static void
redact_message(govpool_error *err, const char *secret)
{
	size_t		skip = 0;

	if (err == NULL || secret == NULL || *secret == '\0')
		return;
	if (strncmp(err->message, "DATABASE_URL: ", 14) == 0)
		skip = 14;
	gp_redact(err->message + skip, sizeof(err->message) - skip, secret);
}

/* The same for the raw span [s, e) of a password. */
static void
redact_span(govpool_error *err, const char *s, const char *e)
{
	char	   *copy;

	if (err == NULL || s == NULL || e <= s)
		return;
	copy = strndup(s, e - s);
	if (copy == NULL)
	{
		snprintf(err->message, sizeof(err->message), "DATABASE_URL: invalid (and out of memory)");
		return;
	}
	redact_message(err, copy);
	memset(copy, 0, e - s);
	free(copy);
}

/*
 * Parse the URL as cut into conninfo (and the application_name base, kept
 * apart so the worker suffix can be added).
 *
 * Messages never quote the user name, the password, a host or a port: a
 * malformed URL can put a piece of the password in any of them (an
 * unencoded '/' or '?' in the password read as the end of the host list
 * made "invalid port \"S3cr\"").  They name the component instead.  Query
 * parameter names and values of the known ones are quoted (up to 40 bytes),
 * and every message is then cleared of any piece of 4 bytes or more of the
 * password as read, raw and decoded.
 */
static bool
parse_url_parts(const url_cut *cut, cbuf *out, char *appname, size_t appname_len,
				govpool_error *err)
{
	const char *auth = cut->auth,
			   *auth_end = cut->auth_end,
			   *at = cut->at;
	size_t		n = strlen(auth);
	char	   *tmp;
	const char *host = NULL,
			   *port = NULL;
	char	   *user = NULL,
			   *pass = NULL,
			   *db = NULL;
	/* the raw spans of the passwords (userinfo, password= query value) */
	const char *pw_raw = NULL,
			   *pw_raw_end = NULL,
			   *qpw_raw = NULL,
			   *qpw_raw_end = NULL;
	char	   *upass = NULL;
	bool		ok = false;
	/* host/port overridden by query parameters */
	const char *qhost = NULL,
			   *qport = NULL;
	cbuf		extra;
	char		extrabuf[GOVPOOL_CONNINFO_MAX];

	extra.buf = extrabuf;
	extra.size = sizeof(extrabuf);
	extra.len = 0;
	extra.overflow = false;
	extrabuf[0] = '\0';

	/* scratch space for decoded pieces */
	tmp = calloc(1, n * 6 + 16);
	if (tmp == NULL)
	{
		gp_error_set(err, GOVPOOL_ERR_OOM, "out of memory");
		return false;
	}
	{
		char	   *cursor = tmp;
		const char *p;
		const char *path_start;
		const char *query;

#define TAKE(dst, s, len, what) do { \
			if (!pct_decode((s), (len), cursor)) { \
				gp_error_set(err, GOVPOOL_ERR_CONFIG, "DATABASE_URL: bad percent-encoding in the %s", (what)); \
				goto done; } \
			(dst) = cursor; \
			cursor += strlen(cursor) + 1; } while (0)

		if (at)
		{
			const char *colon = memchr(auth, ':', at - auth);

			if (colon)
			{
				pw_raw = colon + 1;
				pw_raw_end = at;
				TAKE(user, auth, colon - auth, "user name");
				TAKE(pass, colon + 1, at - colon - 1, "password");
				upass = pass;
			}
			else
				TAKE(user, auth, at - auth, "user name");
			p = at + 1;
		}
		else
			p = auth;

		/* host list: host[:port][,host[:port]...], [v6]:port */
		if (p < auth_end)
		{
			char		hosts[1024] = "",
						ports[256] = "";
			size_t		hl = 0,
						pl = 0;
			bool		any_port = false;
			int			nitems = 0;

			while (p < auth_end)
			{
				const char *item_end = p;
				const char *h,
						   *he,
						   *pp = NULL,
						   *pe = NULL;
				char	   *dh,
						   *dp = NULL;

				if (*p == '[')
				{
					const char *rb = memchr(p, ']', auth_end - p);

					if (rb == NULL)
					{
						gp_error_set(err, GOVPOOL_ERR_CONFIG, "DATABASE_URL: unterminated [IPv6] host");
						goto done;
					}
					h = p + 1;
					he = rb;
					item_end = rb + 1;
					if (item_end < auth_end && *item_end == ':')
					{
						pp = item_end + 1;
						pe = pp + strcspn(pp, ",/?");
						if (pe > auth_end)
							pe = auth_end;
						item_end = pe;
					}
				}
				else
				{
					h = p;
					he = p + strcspn(p, ":,/?");
					if (he > auth_end)
						he = auth_end;
					item_end = he;
					if (he < auth_end && *he == ':')
					{
						pp = he + 1;
						pe = pp + strcspn(pp, ",/?");
						if (pe > auth_end)
							pe = auth_end;
						item_end = pe;
					}
				}
				TAKE(dh, h, he - h, "host");
				if (pp)
				{
					TAKE(dp, pp, pe - pp, "port");
					if (!valid_port(dp))
					{
						gp_error_set(err, GOVPOOL_ERR_CONFIG,
									 "DATABASE_URL: invalid port for host %d of the host list "
									 "(expected a number 1-65535)", nitems + 1);
						goto done;
					}
					any_port = true;
				}
				/* a valid port may be long: leading zeros (was a stack overflow) */
				if (hl + strlen(dh) + 2 >= sizeof(hosts) ||
					pl + (dp ? strlen(dp) : 0) + 2 >= sizeof(ports))
				{
					gp_error_set(err, GOVPOOL_ERR_CONFIG, "DATABASE_URL: host list too long");
					goto done;
				}
				hl += sprintf(hosts + hl, "%s%s", nitems ? "," : "", dh);
				pl += sprintf(ports + pl, "%s%s", nitems ? "," : "", dp ? dp : "");
				nitems++;
				p = item_end;
				if (p < auth_end && *p == ',')
					p++;
				else if (p < auth_end)
				{
					gp_error_set(err, GOVPOOL_ERR_CONFIG, "DATABASE_URL: malformed host list");
					goto done;
				}
			}
			if (hosts[0] && strspn(hosts, ",") != strlen(hosts))
			{
				host = cursor;
				cursor += sprintf(cursor, "%s", hosts) + 1;
			}
			if (any_port)
			{
				port = cursor;
				cursor += sprintf(cursor, "%s", ports) + 1;
			}
		}

		path_start = auth_end;
		query = strchr(path_start, '?');
		if (*path_start == '/')
		{
			const char *pend = query ? query : path_start + strlen(path_start);

			/*
			 * An unencoded '@' in the path is refused: valid in a URL, but
			 * far more often the tail of a password that held a '/' and
			 * would be shown as the database name.
			 */
			if (memchr(path_start, '@', pend - path_start) != NULL)
			{
				gp_error_set(err, GOVPOOL_ERR_CONFIG,
							 "DATABASE_URL: unencoded '@' after the host list, in the database name: "
							 "write it as %%40 (in a password too, with '/' as %%2F and '?' as %%3F)");
				goto done;
			}
			if (pend - path_start > 1)
				TAKE(db, path_start + 1, pend - path_start - 1, "database name");
		}

		/* query parameters */
		if (query)
		{
			const char *q = query + 1;

			while (*q)
			{
				const char *amp = q + strcspn(q, "&");
				const char *eq = memchr(q, '=', amp - q);
				char	   *k,
						   *v;

				if (amp == q)
				{
					q++;
					continue;
				}
				if (eq == NULL)
				{
					gp_error_set(err, GOVPOOL_ERR_CONFIG,
								 "DATABASE_URL: query parameter \"%.*s\" has no value",
								 (int) ((amp - q) > 40 ? 40 : (amp - q)), q);
					goto done;
				}
				TAKE(k, q, eq - q, "query parameter name");
				TAKE(v, eq + 1, amp - eq - 1, "query parameter value");

				if (strcmp(k, "unix_sock") == 0)
				{
					/* /cloudsql/P:R:I/.s.PGSQL.5432 -> host dir + port */
					char	   *slash = strrchr(v, '/');

					if (v[0] != '/')
					{
						gp_error_set(err, GOVPOOL_ERR_CONFIG,
									 "DATABASE_URL: unix_sock must be an absolute path");
						goto done;
					}
					if (slash && strncmp(slash + 1, ".s.PGSQL.", 9) == 0)
					{
						if (!valid_port(slash + 10))
						{
							gp_error_set(err, GOVPOOL_ERR_CONFIG,
										 "DATABASE_URL: unix_sock \"%.200s\": bad port suffix", v);
							goto done;
						}
						qport = slash + 10;
						*slash = '\0';
						if (slash == v)
							v = "/";
					}
					qhost = v;
				}
				else if (strcmp(k, "host") == 0)
					qhost = v;
				else if (strcmp(k, "port") == 0)
				{
					if (!valid_port(v))
					{
						gp_error_set(err, GOVPOOL_ERR_CONFIG,
									 "DATABASE_URL: invalid port= query parameter (expected a number 1-65535)");
						goto done;
					}
					qport = v;
				}
				else if (strcmp(k, "ssl") == 0 || strcmp(k, "sslmode") == 0)
				{
					/* asyncpg spells it ssl=, libpq sslmode= */
					const char *mode = NULL;

					if (strcmp(k, "ssl") == 0 && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0))
						mode = "require";
					else if (strcmp(k, "ssl") == 0 && (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0))
						mode = "disable";
					for (int i = 0; !mode && sslmodes[i]; i++)
						if (strcmp(v, sslmodes[i]) == 0)
							mode = sslmodes[i];
					if (mode == NULL)
					{
						gp_error_set(err, GOVPOOL_ERR_CONFIG,
									 "DATABASE_URL: %s=\"%.40s\" is not an SSL mode "
									 "(disable, allow, prefer, require, verify-ca, verify-full)", k, v);
						goto done;
					}
					cbuf_add(&extra, "sslmode", mode);
				}
				else if (strcmp(k, "application_name") == 0)
					snprintf(appname, appname_len, "%s", v);
				else if (strcmp(k, "user") == 0)
					user = v;
				else if (strcmp(k, "password") == 0)
				{
					pass = v;
					qpw_raw = eq + 1;
					qpw_raw_end = amp;
				}
				else if (strcmp(k, "dbname") == 0)
					db = v;
				else if (is_libpq_keyword(k))
					cbuf_add(&extra, k, v);
				else
				{
					gp_error_set(err, GOVPOOL_ERR_CONFIG,
								 "DATABASE_URL: unknown query parameter \"%.40s\"", k);
					goto done;
				}
				q = *amp ? amp + 1 : amp;
			}
		}
#undef TAKE
	}

	if (qhost)
		host = qhost;
	if (qport)
		port = qport;
	if (host && *host)
		cbuf_add(out, "host", host);
	if (port && *port)
		cbuf_add(out, "port", port);
	if (user && *user)
		cbuf_add(out, "user", user);
	if (pass && *pass)
		cbuf_add(out, "password", pass);
	if (db && *db)
		cbuf_add(out, "dbname", db);
	if (extra.len)
	{
		if (out->len + extra.len + 2 > out->size)
			out->overflow = true;
		else
		{
			if (out->len)
				out->buf[out->len++] = ' ';
			memcpy(out->buf + out->len, extrabuf, extra.len + 1);
			out->len += extra.len;
		}
	}
	if (extra.overflow || out->overflow)
	{
		gp_error_set(err, GOVPOOL_ERR_CONFIG, "DATABASE_URL: longer than %d bytes",
					 GOVPOOL_CONNINFO_MAX - 1);
		goto done;
	}
	ok = true;
done:
	if (!ok)
	{
		/* no piece of a password, as written or decoded */
		redact_span(err, pw_raw, pw_raw_end);
		redact_span(err, qpw_raw, qpw_raw_end);
		redact_message(err, upass);
		if (pass != upass)
			redact_message(err, pass);
	}
	if (upass)
		memset(upass, 0, strlen(upass));
	if (pass && pass != upass)
		memset(pass, 0, strlen(pass));
	free(tmp);
	return ok;
}

/* Could [s, e) be a host list: host[:port][,host[:port]...], [v6] hosts? */
static bool
looks_like_host_list(const char *s, const char *e)
{
	const char *p = s;

	for (;;)
	{
		if (p < e && *p == '[')
		{
			const char *rb = memchr(p, ']', e - p);

			if (rb == NULL)
				return false;
			for (const char *c = p + 1; c < rb; c++)
				if (!isalnum((unsigned char) *c) && *c != ':' && *c != '.' && *c != '%')
					return false;
			p = rb + 1;
		}
		else
			while (p < e && (isalnum((unsigned char) *p) || *p == '.' || *p == '-' ||
							 *p == '_' || *p == '~' || *p == '%'))
				p++;
		if (p < e && *p == ':')
			for (p++; p < e && isdigit((unsigned char) *p); p++)
				;
		if (p == e)
			return true;
		if (*p != ',')
			return false;
		p++;
	}
}

/*
 * Does a query parameter that the strict reading would take for a password
 * (password= or sslpassword=, the name percent-decoded) start in the query
 * that begins at query ('?') and before end?  Then a cut at a later '@'
 * would turn the rest of that value into a host and a database name.
 */
static bool
secret_param_before(const char *query, const char *end)
{
	static const char *const secret_keys[] = {"password", "sslpassword", NULL};
	const char *q;

	if (query == NULL)
		return false;
	for (q = query + 1; q < end && *q; q++)
	{
		size_t		klen = strcspn(q, "=&");
		char		key[32];

		if (q[klen] == '=' && klen < sizeof(key) && pct_decode(q, klen, key))
			for (int i = 0; secret_keys[i]; i++)
				if (strcmp(key, secret_keys[i]) == 0)
					return true;
		q += strcspn(q, "&");
		if (*q == '\0')
			break;
	}
	return false;
}

/*
 * Parse DATABASE_URL into conninfo (and the application_name base).
 *
 * Where the userinfo ends.  A URL's password may hold '@', '/', '?', '#' and
 * ':' only percent-encoded, but people paste generated passwords as they
 * are.  libpq ends the userinfo at the first '@' before the first '/' (so a
 * '/' in the password breaks it, and a second '@' too); the strict URL
 * grammar ends the authority at the first '/' or '?'.  Both turn the rest of
 * such a password into a host, a port or a database name, which messages
 * and log lines used to show.  Here:
 *
 *   1. No '@' after the first '/' or '?': the strict grammar, with the
 *      userinfo ending at the authority's LAST '@' (so unencoded '@' and
 *      ':' in a password are fine).
 *   2. Otherwise, if the strict reading is a valid URL in full (the '@'
 *      then stands in a query value; an '@' in the database name is
 *      refused), it is taken when it has a password, or when 3 finds no
 *      cut; else ("h:5432/db?options=x@y": host h and no password, or the
 *      password "5432/db?options=x" for host y) the URL is refused.
 *   3. Otherwise the password is taken to hold '/' or '?': the userinfo
 *      ends at the '@' that is the last of its run (no '/' or '?' between
 *      it and the next '@') and is followed by a host list, with a user
 *      name (before the first ':') free of '/' and '?'.  Such an '@' not
 *      followed by a host list, or more than one of them, is refused with a
 *      message that quotes nothing and says to percent-encode: there are
 *      two readings and one of them would show a piece of the password.
 *      None at all: the strict reading's own error.  A password= (or
 *      sslpassword=) parameter of the strict reading's query that starts
 *      before the cut is refused the same way: the cut would make the rest
 *      of its value a host and a database name (fuzz_config found it).
 */
static bool
parse_database_url(const char *url, cbuf *out, char *appname, size_t appname_len,
				   govpool_error *err)
{
	static const char *const schemes[] = {
		"postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg2",
		"postgresql+psycopg", "postgresql+pg8000", "postgres+asyncpg",
		"postgres+psycopg2", NULL
	};
	const char *sep = strstr(url, "://");
	bool		known = false;
	url_cut		strict,
				lenient;
	const char *first_colon;
	int			ncut = 0;
	bool		bad_host = false;
	bool		other_password = false; /* a cut of 3 reads a password */

	if (sep == NULL)
	{
		gp_error_set(err, GOVPOOL_ERR_CONFIG,
					 "DATABASE_URL: not a URL (expected postgresql://user:password@host:port/dbname)");
		return false;
	}
	for (int i = 0; schemes[i]; i++)
		if ((size_t) (sep - url) == strlen(schemes[i]) &&
			strncasecmp(url, schemes[i], sep - url) == 0)
			known = true;
	if (!known)
	{
		/* not quoted: "user:password://..." is a scheme too */
		gp_error_set(err, GOVPOOL_ERR_CONFIG,
					 "DATABASE_URL: unsupported scheme before \"://\" (expected postgresql://, postgres://, "
					 "postgresql+asyncpg:// or postgresql+psycopg2://)");
		return false;
	}

	strict.auth = sep + 3;
	strict.auth_end = strict.auth + strcspn(strict.auth, "/?");
	strict.at = NULL;
	for (const char *p = strict.auth; p < strict.auth_end; p++)
		if (*p == '@')
			strict.at = p;
	if (strchr(strict.auth_end, '@') == NULL)
		return parse_url_parts(&strict, out, appname, appname_len, err);

	/* the lenient cuts: see 3 */
	lenient.auth = strict.auth;
	lenient.at = NULL;
	lenient.auth_end = NULL;
	first_colon = strchr(strict.auth, ':');
	for (const char *p = strict.auth; *p; p++)
	{
		const char *seg,
				   *seg_end,
				   *user_end;

		if (*p != '@')
			continue;
		seg = p + 1;
		seg_end = seg + strcspn(seg, "/?@");
		if (*seg_end == '@')
			continue;			/* not the last '@' of its run */
		user_end = (first_colon && first_colon < p) ? first_colon : p;
		if (memchr(strict.auth, '/', user_end - strict.auth) ||
			memchr(strict.auth, '?', user_end - strict.auth))
			continue;			/* in the path or query of a URL without userinfo */
		if (!looks_like_host_list(seg, seg_end))
		{
			bad_host = true;
			continue;
		}
		if (ncut++ == 0)
		{
			lenient.at = p;
			lenient.auth_end = seg_end;
		}
		if (p != strict.at && first_colon && first_colon < p)
			other_password = true;
	}

	/* 2: the strict reading, if it is valid in full */
	{
		char		sbuf[GOVPOOL_CONNINFO_MAX];
		char		sapp[GOVPOOL_NAME_MAX] = "";
		cbuf		scratch = {sbuf, sizeof(sbuf), 0, false};
		govpool_error serr;
		bool		valid;
		bool		has_password = strict.at && memchr(strict.auth, ':', strict.at - strict.auth);

		sbuf[0] = '\0';
		valid = parse_url_parts(&strict, &scratch, sapp, sizeof(sapp), &serr);
		memset(sbuf, 0, sizeof(sbuf));
		memset(&serr, 0, sizeof(serr));
		if (valid && (has_password || !other_password))
			return parse_url_parts(&strict, out, appname, appname_len, err);
		if (valid)
		{
			/*
			 * "h:5432/db?options=x@y" is a URL without a password, or the
			 * password "5432/db?options=x" for host y: refused.
			 */
			gp_error_set(err, GOVPOOL_ERR_CONFIG,
						 "DATABASE_URL: reads both with and without a password (an '@' after the host "
						 "list, and a ':' before it): percent-encode '@' as %%40 in a query value, "
						 "or '@', '/' and '?' in the password (%%40, %%2F, %%3F)");
			return false;
		}
	}

	/* 3: a password with '/' or '?' */
	if (bad_host)
	{
		gp_error_set(err, GOVPOOL_ERR_CONFIG,
					 "DATABASE_URL: what follows an '@' is not a host list (host[:port][,...]); "
					 "percent-encode '@', '/' and '?' in the password (%%40, %%2F, %%3F)");
		return false;
	}
	if (ncut > 1)
	{
		gp_error_set(err, GOVPOOL_ERR_CONFIG,
					 "DATABASE_URL: the user:password part could end at more than one '@' "
					 "(an '@' followed by a '/' or '?' in the password?): "
					 "percent-encode '@', '/' and '?' in the password (%%40, %%2F, %%3F)");
		return false;
	}
	if (ncut == 1)
	{
		const char *lenient_query = strchr(lenient.auth_end, '?');

		if (secret_param_before(strchr(strict.auth_end, '?'),
								lenient_query ? lenient_query : lenient.auth_end + strlen(lenient.auth_end)))
		{
			gp_error_set(err, GOVPOOL_ERR_CONFIG,
						 "DATABASE_URL: a password parameter in the query before an '@' that is followed by a "
						 "host list: percent-encode '@' as %%40 in the parameter's value, "
						 "or '@', '/' and '?' in the password (%%40, %%2F, %%3F)");
			return false;
		}
		return parse_url_parts(&lenient, out, appname, appname_len, err);
	}
	return parse_url_parts(&strict, out, appname, appname_len, err);
}

/* PROJECT:REGION:INSTANCE, optionally DOMAIN:PROJECT:REGION:INSTANCE. */
static bool
valid_instance_name(const char *v)
{
	int			parts = 1;
	bool		empty = true;

	for (const char *c = v; *c; c++)
	{
		if (*c == ':')
		{
			if (empty)
				return false;
			parts++;
			empty = true;
		}
		else if (isalnum((unsigned char) *c) || *c == '-' || *c == '_' || *c == '.')
			empty = false;
		else
			return false;
	}
	return !empty && (parts == 3 || parts == 4);
}

static bool
valid_token(const char *v, size_t maxlen, const char *extra_chars)
{
	size_t		n = strlen(v);

	if (n == 0 || n > maxlen)
		return false;
	for (const char *c = v; *c; c++)
		if (!isalnum((unsigned char) *c) && strchr(extra_chars, *c) == NULL)
			return false;
	return true;
}

/* ---- The variables ---- */

typedef enum var_kind
{
	V_INT,						/* plain integer in [min, max] */
	V_SECONDS,					/* seconds (decimals ok) -> ms */
	V_BOOL,
} var_kind;

/* One row per numeric/boolean setting: names, kind, range, field. */
typedef struct var_def
{
	const char *name;
	const char *alias;
	var_kind	kind;
	long		min;
	long		max;
	size_t		offset;
} var_def;

#define F(field) offsetof(govpool_config, field)
static const var_def var_table[] = {
	{"DATABASE_POOL_SIZE", "DB_POOL_SIZE", V_INT, 0, MAX_POOL, F(pool_size)},
	{"DATABASE_MAX_OVERFLOW", "DB_MAX_OVERFLOW", V_INT, 0, MAX_POOL, F(max_overflow)},
	{"DATABASE_POOL_TIMEOUT", NULL, V_SECONDS, 0, 86400, F(pool_timeout_ms)},
	{"DATABASE_POOL_RECYCLE", NULL, V_SECONDS, 0, 2000000, F(pool_recycle_ms)},
	{"DATABASE_CONNECT_TIMEOUT", NULL, V_SECONDS, 0, 3600, F(connect_timeout_ms)},
	{"DATABASE_STATEMENT_TIMEOUT_MS", NULL, V_INT, 0, 2147483647L, F(statement_timeout_ms)},
	{"DATABASE_ECHO", "DB_ECHO_SQL", V_BOOL, 0, 0, F(echo)},
	{"GOVPOOL_REPORT_INTERVAL", NULL, V_SECONDS, 0, 86400, F(report_interval_ms)},
	{"GOVPOOL_LIVENESS_IDLE_MS", NULL, V_INT, 0, 86400000, F(liveness_idle_ms)},
	{"GOVPOOL_PREPING_IDLE_MS", NULL, V_INT, -1, 86400000, F(preping_idle_ms)},
	{"GOVPOOL_LEAK_THRESHOLD_MS", NULL, V_INT, 0, 86400000, F(leak_threshold_ms)},
	{"GOVPOOL_CONNECT_ATTEMPTS", NULL, V_INT, 1, 100, F(connect_attempts)},
	{"GOVPOOL_CONNECT_BACKOFF_MS", NULL, V_INT, 0, 60000, F(connect_backoff_ms)},
	{"GOVPOOL_CONNECT_BACKOFF_MAX_MS", NULL, V_INT, 0, 600000, F(connect_backoff_max_ms)},
	{"GOVPOOL_BREAKER_THRESHOLD", NULL, V_INT, 0, 1000, F(breaker_threshold)},
	{"GOVPOOL_BREAKER_COOLDOWN_MS", NULL, V_INT, 0, 3600000, F(breaker_cooldown_ms)},
	{"GOVPOOL_BREAKER_COOLDOWN_MIN_MS", NULL, V_INT, 0, 3600000, F(breaker_cooldown_min_ms)},
	{"GOVPOOL_BREAKER_WINDOW_MS", NULL, V_INT, 0, 3600000, F(breaker_window_ms)},
	{"GOVPOOL_STATEMENT_CACHE", NULL, V_INT, 0, GP_STMT_CACHE_MAX, F(statement_cache)},
	{"GOVPOOL_OVERFLOW_IDLE_MS", NULL, V_INT, 0, 86400000, F(overflow_idle_ms)},
};

/*
 * One row per enum setting: its words in the enum's order.
 *
 * GOVPOOL_RESET_ON_RETURN: what a returned connection gets (govpool_reset).
 * GOVPOOL_POOLER: "transaction" when a transaction pooler (PgBouncer in
 * transaction mode) is between the pool and the server; nothing may then
 * outlive a transaction, so the context statement is not prepared.
 * GOVPOOL_PREPARE_CONTEXT: prepare set_context once per connection (auto:
 * unless GOVPOOL_POOLER=transaction, and not after the server lost the
 * statement three times); "off" sends its text every time.
 */
typedef struct enum_def
{
	const char *name;
	const char *const *values;	/* NULL-terminated */
	const char *expected;
	size_t		offset;			/* of an enum field (int-sized) */
} enum_def;

static const char *const reset_words[] = {"rollback", "commit", "none", "discard", NULL};
static const char *const pooler_words[] = {"none", "session", "transaction", NULL};
static const char *const prepare_words[] = {"auto", "on", "off", NULL};

static const enum_def enum_table[] = {
	{"GOVPOOL_POOLER", pooler_words, "none, session or transaction", F(pooler)},
	{"GOVPOOL_PREPARE_CONTEXT", prepare_words, "auto, on or off", F(prepare_context)},
	{"GOVPOOL_RESET_ON_RETURN", reset_words, "rollback, commit, none or discard", F(reset_on_return)},
};
#undef F

#define lengthof(a) (sizeof(a) / sizeof((a)[0]))

static const char *
real_getenv(const char *name, void *ud)
{
	(void) ud;
	return getenv(name);
}

govpool_status
govpool_config_from_env(govpool_config *cfg, govpool_error *err)
{
	return govpool_config_from_getenv(cfg, real_getenv, NULL, err);
}

govpool_status
govpool_config_from_getenv(govpool_config *cfg, govpool_getenv_fn getenv_fn, void *ud,
						   govpool_error *err)
{
	env_reader	r = {getenv_fn, ud};
	const char *v,
			   *used;
	const char *url;
	char		appbase[GOVPOOL_NAME_MAX] = "";
	const char *appsrc;
	cbuf		ci;

	gp_error_clear(err);
	govpool_config_defaults(cfg);

	/* 1. profile */
	if ((v = env_get(&r, "ENVIRONMENT")) != NULL)
	{
		const profile *pf = NULL;

		for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
			if (strcasecmp(v, profiles[i].name) == 0)
				pf = &profiles[i];
		if (pf == NULL)
		{
			gp_error_set(err, GOVPOOL_ERR_CONFIG,
						 "ENVIRONMENT=\"%.40s\": unknown profile (expected local, demo, uat or prod)", v);
			return GOVPOOL_ERR_CONFIG;
		}
		snprintf(cfg->environment, sizeof(cfg->environment), "%s", pf->name);
		cfg->pool_size = pf->pool_size;
		cfg->max_overflow = pf->max_overflow;
		cfg->echo = pf->echo;
		cfg->statement_timeout_ms = pf->statement_timeout_ms;
	}
	else
		cfg->echo = profiles[0].echo;

	/* 2. serverless */
	if (env_get(&r, "K_SERVICE") != NULL)
		cfg->pool_size = 0;

	/* 3. explicit settings */
	for (size_t i = 0; i < sizeof(var_table) / sizeof(var_table[0]); i++)
	{
		const var_def *d = &var_table[i];
		void	   *field = (char *) cfg + d->offset;

		if (!env_get_alias(&r, d->name, d->alias, &v, &used, err))
			return GOVPOOL_ERR_CONFIG;
		if (v == NULL)
			continue;
		switch (d->kind)
		{
			case V_INT:
				if (!parse_int(used, v, d->min, d->max, (int *) field, err))
					return GOVPOOL_ERR_CONFIG;
				break;
			case V_SECONDS:
				/* SQLAlchemy spells "never recycle" as -1 */
				if (strcmp(used, "DATABASE_POOL_RECYCLE") == 0 && strcmp(v, "-1") == 0)
				{
					*(int *) field = 0;
					break;
				}
				if (!parse_seconds(used, v, d->max, (int *) field, err))
					return GOVPOOL_ERR_CONFIG;
				break;
			case V_BOOL:
				if (!parse_bool(used, v, (bool *) field, err))
					return GOVPOOL_ERR_CONFIG;
				break;
		}
	}
	if (cfg->pool_size + cfg->max_overflow == 0)
	{
		gp_error_set(err, GOVPOOL_ERR_CONFIG,
					 "DATABASE_POOL_SIZE=0 with DATABASE_MAX_OVERFLOW=0 allows no connection at all");
		return GOVPOOL_ERR_CONFIG;
	}
	for (const enum_def *d = enum_table; d < enum_table + lengthof(enum_table); d++)
		if ((v = env_get(&r, d->name)) != NULL)
		{
			int			i = 0;

			while (d->values[i] && strcasecmp(v, d->values[i]) != 0)
				i++;
			if (d->values[i] == NULL)
			{
				gp_error_set(err, GOVPOOL_ERR_CONFIG, "%s=\"%.40s\": expected %s",
							 d->name, v, d->expected);
				return GOVPOOL_ERR_CONFIG;
			}
			*(int *) ((char *) cfg + d->offset) = i;
		}
	if ((v = env_get(&r, "GOVPOOL_LOG_LEVEL")) != NULL &&
		strcasecmp(v, "debug") && strcasecmp(v, "info") && strcasecmp(v, "warn") &&
		strcasecmp(v, "error") && strcasecmp(v, "off"))
	{
		gp_error_set(err, GOVPOOL_ERR_CONFIG,
					 "GOVPOOL_LOG_LEVEL=\"%.40s\": expected debug, info, warn, error or off", v);
		return GOVPOOL_ERR_CONFIG;
	}

	/* extensions: a comma list of names, quoted as identifiers at start */
	if ((v = env_get(&r, "GOVPOOL_EXTENSIONS")) != NULL)
	{
		size_t		o = 0;
		const char *p = v;

		while (*p)
		{
			const char *e = p + strcspn(p, ",");
			const char *s = p,
					   *t = e;

			while (s < t && isspace((unsigned char) *s))
				s++;
			while (t > s && isspace((unsigned char) t[-1]))
				t--;
			if (t == s)
			{
				gp_error_set(err, GOVPOOL_ERR_CONFIG,
							 "GOVPOOL_EXTENSIONS=\"%.100s\": empty extension name", v);
				return GOVPOOL_ERR_CONFIG;
			}
			if (t - s > 63)
			{
				gp_error_set(err, GOVPOOL_ERR_CONFIG,
							 "GOVPOOL_EXTENSIONS: name \"%.*s...\" longer than 63 bytes", 20, s);
				return GOVPOOL_ERR_CONFIG;
			}
			for (const char *c = s; c < t; c++)
				if ((unsigned char) *c < 0x20 || *c == '"')
				{
					gp_error_set(err, GOVPOOL_ERR_CONFIG,
								 "GOVPOOL_EXTENSIONS: extension name contains a control character or '\"'");
					return GOVPOOL_ERR_CONFIG;
				}
			if (o + (t - s) + 2 > sizeof(cfg->extensions))
			{
				gp_error_set(err, GOVPOOL_ERR_CONFIG, "GOVPOOL_EXTENSIONS: list longer than %d bytes",
							 (int) sizeof(cfg->extensions) - 1);
				return GOVPOOL_ERR_CONFIG;
			}
			if (o)
				cfg->extensions[o++] = ',';
			memcpy(cfg->extensions + o, s, t - s);
			o += t - s;
			cfg->extensions[o] = '\0';
			p = *e ? e + 1 : e;
			if (*e && *p == '\0')
			{
				gp_error_set(err, GOVPOOL_ERR_CONFIG,
							 "GOVPOOL_EXTENSIONS=\"%.100s\": empty extension name", v);
				return GOVPOOL_ERR_CONFIG;
			}
		}
	}

	/* connection target */
	ci.buf = cfg->conninfo;
	ci.size = sizeof(cfg->conninfo);
	ci.len = 0;
	ci.overflow = false;
	cfg->conninfo[0] = '\0';
	url = env_get(&r, "DATABASE_URL");
	if (url)
	{
		if (!parse_database_url(url, &ci, appbase, sizeof(appbase), err))
			return err ? err->kind : GOVPOOL_ERR_CONFIG;
	}
	else
	{
		const char *inst;

		if (!env_get_alias(&r, "CLOUD_SQL_CONNECTION_NAME", "INSTANCE_CONNECTION_NAME",
						   &inst, &used, err))
			return GOVPOOL_ERR_CONFIG;
		if (inst)
		{
			char		path[300];

			if (!valid_instance_name(inst))
			{
				gp_error_set(err, GOVPOOL_ERR_CONFIG,
							 "%s=\"%.100s\": expected PROJECT:REGION:INSTANCE", used, inst);
				return GOVPOOL_ERR_CONFIG;
			}
			snprintf(path, sizeof(path), "/cloudsql/%s", inst);
			cbuf_add(&ci, "host", path);
		}
		if ((v = env_get(&r, "DB_USER")) != NULL)
			cbuf_add(&ci, "user", v);
		if ((v = env_get(&r, "DB_PASS")) != NULL)
			cbuf_add(&ci, "password", v);
		if ((v = env_get(&r, "DB_NAME")) != NULL)
			cbuf_add(&ci, "dbname", v);
		if (ci.overflow)
		{
			gp_error_set(err, GOVPOOL_ERR_CONFIG, "DB_USER/DB_PASS/DB_NAME: longer than %d bytes",
						 GOVPOOL_CONNINFO_MAX - 1);
			return GOVPOOL_ERR_CONFIG;
		}
	}

	/* application_name, with the worker id: <app>_<worker>_<pid> */
	appsrc = "DATABASE_URL's application_name";
	if ((v = env_get(&r, "GOVPOOL_APPLICATION_NAME")) != NULL)
	{
		snprintf(appbase, sizeof(appbase), "%s", v);
		appsrc = "GOVPOOL_APPLICATION_NAME";
	}
	else if (appbase[0] == '\0')
	{
		if ((v = env_get(&r, "PGAPPNAME")) != NULL)
			appsrc = "PGAPPNAME";
		else if ((v = env_get(&r, "K_SERVICE")) != NULL)
			appsrc = "K_SERVICE";
		snprintf(appbase, sizeof(appbase), "%s", v ? v : "govpool");
	}
	for (char *c = appbase; *c; c++)
		if ((unsigned char) *c < 0x20 || (unsigned char) *c > 0x7e)
		{
			/* the error names where the name came from (found by fuzz_config) */
			gp_error_set(err, GOVPOOL_ERR_CONFIG,
						 "%s: application name may only contain printable ASCII", appsrc);
			return GOVPOOL_ERR_CONFIG;
		}
	if ((v = env_get(&r, "GOVPOOL_WORKER_ID")) != NULL)
	{
		if (!valid_token(v, 32, "._-"))
		{
			gp_error_set(err, GOVPOOL_ERR_CONFIG,
						 "GOVPOOL_WORKER_ID=\"%.40s\": expected 1-32 characters of [A-Za-z0-9._-]", v);
			return GOVPOOL_ERR_CONFIG;
		}
		/* keep the worker and pid: shorten the base to fit NAMEDATALEN-1 */
		{
			char		suffix[64];
			size_t		sl,
						bl = strlen(appbase),
						cap = sizeof(cfg->application_name) - 1;

			snprintf(suffix, sizeof(suffix), "_%s_%ld", v, (long) getpid());
			sl = strlen(suffix);
			if (bl + sl > cap)
				bl = cap - sl;
			memcpy(cfg->application_name, appbase, bl);
			memcpy(cfg->application_name + bl, suffix, sl + 1);
		}
	}
	else
		snprintf(cfg->application_name, sizeof(cfg->application_name), "%s", appbase);

	return GOVPOOL_OK;
}

void
govpool_config_describe(const govpool_config *cfg, char *buf, size_t len)
{
	PQconninfoOption *opts;
	char	   *errmsg = NULL;
	size_t		pos = 0;
	static const char *const shown[] = {"host", "hostaddr", "port", "dbname", "user", "sslmode", NULL};

	if (len == 0)
		return;
	buf[0] = '\0';
	opts = PQconninfoParse(cfg->conninfo[0] ? cfg->conninfo : "", &errmsg);
	if (opts == NULL)
	{
		snprintf(buf, len, "invalid conninfo");
		PQfreemem(errmsg);
		return;
	}
	for (int i = 0; shown[i]; i++)
		for (PQconninfoOption *o = opts; o->keyword; o++)
			if (strcmp(o->keyword, shown[i]) == 0 && o->val && *o->val)
				gp_kv_append(buf, len, &pos, o->keyword, o->val);
	if (pos == 0)
		snprintf(buf, len, "(libpq defaults / PG* variables)");
	PQconninfoFree(opts);
}
