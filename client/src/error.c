/*
 * error.c
 *	  The error out-parameter: filling it, naming statuses, redacting secrets.
 *
 * Every message that leaves the library passes through here, so this is
 * where credentials are removed: the pool's password and every piece of it
 * of GP_REDACT_PIECE bytes or more, wherever they appear, "password=..."
 * conninfo fragments and the "user:secret@" part of URLs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "govpool_int.h"

/* the shortest piece of a password that is hidden wherever it appears */
#define GP_REDACT_PIECE 4

int64_t
gp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *
govpool_status_name(govpool_status status)
{
	switch (status)
	{
		case GOVPOOL_OK:
			return "ok";
		case GOVPOOL_ERR_CONFIG:
			return "config";
		case GOVPOOL_ERR_OOM:
			return "out_of_memory";
		case GOVPOOL_ERR_CONNECT:
			return "connect";
		case GOVPOOL_ERR_TIMEOUT:
			return "timeout";
		case GOVPOOL_ERR_CIRCUIT_OPEN:
			return "circuit_open";
		case GOVPOOL_ERR_QUERY:
			return "query";
		case GOVPOOL_ERR_CONNECTION_LOST:
			return "connection_lost";
		case GOVPOOL_ERR_COMMIT_UNKNOWN:
			return "commit_unknown";
		case GOVPOOL_ERR_ROLLED_BACK:
			return "rolled_back";
		case GOVPOOL_ERR_MISUSE:
			return "misuse";
		case GOVPOOL_ERR_CLOSED:
			return "closed";
		case GOVPOOL_ERR_CANCELLED:
			return "cancelled";
	}
	return "unknown";
}

void
gp_error_clear(govpool_error *err)
{
	if (err == NULL)
		return;
	err->kind = GOVPOOL_OK;
	err->sqlstate[0] = '\0';
	err->message[0] = '\0';
}

void
gp_error_set(govpool_error *err, govpool_status kind, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return;
	err->kind = kind;
	err->sqlstate[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	gp_redact(err->message, sizeof(err->message), NULL);
}

/* Copy a libpq message without its trailing newline(s). */
static void
copy_trimmed(char *dst, size_t size, const char *what, const char *msg)
{
	size_t		n;

	if (what && *what)
		snprintf(dst, size, "%s: %s", what, msg ? msg : "");
	else
		snprintf(dst, size, "%s", msg ? msg : "");
	n = strlen(dst);
	while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
		dst[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (dst[i] == '\n')
			dst[i] = ' ';
}

void
gp_error_from_result(govpool_error *err, const PGresult *res, const char *what)
{
	const char *state;

	if (err == NULL)
		return;
	err->kind = GOVPOOL_ERR_QUERY;
	state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state ? state : "");
	copy_trimmed(err->message, sizeof(err->message), what,
				 res ? PQresultErrorMessage(res) : "no result");
	gp_redact(err->message, sizeof(err->message), NULL);
}

void
gp_error_from_conn(govpool_error *err, govpool_status kind, PGconn *conn, const char *what)
{
	if (err == NULL)
		return;
	err->kind = kind;
	err->sqlstate[0] = '\0';
	copy_trimmed(err->message, sizeof(err->message), what,
				 conn ? PQerrorMessage(conn) : "out of memory");
	gp_redact(err->message, sizeof(err->message), NULL);
}

/*
 * A failed connection attempt, made with PQERRORS_VERBOSE: libpq has no
 * call that returns the SQLSTATE of a refused connection, but the verbose
 * message carries it ("FATAL:  57P03: the database system is starting
 * up", then a "LOCATION:" line).  The code goes to err->sqlstate; the
 * message loses the code and the LOCATION line, so it reads as at the
 * default verbosity.  No code (refused, no socket, timeout): sqlstate "".
 */
void
gp_error_from_connect(govpool_error *err, PGconn *conn, const char *what)
{
	gp_error_from_connect_message(err, conn ? PQerrorMessage(conn) : "out of memory", what);
}

void
gp_error_from_connect_message(govpool_error *err, const char *verbose, const char *what)
{
	char		msg[GOVPOOL_MESSAGE_MAX * 2];
	char	   *p,
			   *loc;

	if (err == NULL)
		return;
	snprintf(msg, sizeof(msg), "%s", verbose);
	err->sqlstate[0] = '\0';
	/* "SEVERITY:  XXXXX: " -- the first one is the server's answer */
	for (p = strstr(msg, ":  "); p; p = strstr(p + 1, ":  "))
	{
		char	   *code = p + 3;
		int			i;

		for (i = 0; i < 5; i++)
			if (!((code[i] >= '0' && code[i] <= '9') || (code[i] >= 'A' && code[i] <= 'Z')))
				break;
		if (i == 5 && code[5] == ':' && code[6] == ' ')
		{
			memcpy(err->sqlstate, code, 5);
			err->sqlstate[5] = '\0';
			memmove(code, code + 7, strlen(code + 7) + 1);
			break;
		}
	}
	/* drop "LOCATION:  function, file.c:line" lines */
	while ((loc = strstr(msg, "LOCATION:  ")) != NULL && (loc == msg || loc[-1] == '\n'))
	{
		char	   *eol = strchr(loc, '\n');

		memmove(loc, eol ? eol + 1 : loc + strlen(loc), strlen(eol ? eol + 1 : "") + 1);
	}
	err->kind = GOVPOOL_ERR_CONNECT;
	copy_trimmed(err->message, sizeof(err->message), what, msg);
	gp_redact(err->message, sizeof(err->message), NULL);
}

/*
 * Replace text[start, end) by "***" (start <= end <= strlen(text) < size).
 * Returns where scanning may go on: just past the stars, or the end of the
 * text when they did not fit.  A secret that ends the buffer is cut, never
 * left half-visible.
 */
static size_t
splice_stars(char *text, size_t size, size_t start, size_t end)
{
	size_t		len = strlen(text);
	size_t		tail = len - end;

	if (start + 4 > size)
	{
		/* not even room for the stars: end the text where the secret began */
		text[start] = '\0';
		return start;
	}
	if (start + 3 + tail + 1 > size)
		tail = size - start - 4;
	memmove(text + start + 3, text + end, tail);
	memcpy(text + start, "***", 3);
	text[start + 3 + tail] = '\0';
	return start + 3;
}

/*
 * Every piece of GP_REDACT_PIECE bytes or more of secret, wherever it
 * stands in text, becomes "***" (one "***" for adjacent or overlapping
 * pieces).  A message may quote part of a password: a malformed URL read
 * as host or port, a server that cuts a value short.  For each position of
 * text, the longest piece of secret starting there is the longest common
 * prefix of text there and secret at some position: the classic dynamic
 * programme over (text, secret) positions, one row at a time, O(text x
 * secret).  A secret shorter than a piece is removed where it stands whole.
 * Never makes the text longer (a run of 4 or more bytes becomes 3).
 */
static void
redact_pieces(char *text, size_t size, const char *secret)
{
	size_t		tl = strlen(text);
	size_t		sl = strlen(secret);
	unsigned short *row,
			   *next;
	unsigned char *hide;
	size_t		o = 0;

	if (sl < GP_REDACT_PIECE || tl < GP_REDACT_PIECE)
	{
		char	   *p = text;

		/* on from past the stars: a secret of "*" must not loop */
		while ((p = strstr(p, secret)) != NULL)
			p = text + splice_stars(text, size, p - text, p - text + sl);
		return;
	}
	if (sl > 65535)
		sl = 65535;				/* match lengths fit an unsigned short */
	row = calloc(sl + 1, sizeof(*row));
	next = calloc(sl + 1, sizeof(*next));
	hide = calloc(tl, 1);
	if (row == NULL || next == NULL || hide == NULL)
	{
		/* out of memory: hide the whole text rather than risk a piece */
		if (tl >= 3)
			memcpy(text, "***", 4);
		free(row);
		free(next);
		free(hide);
		return;
	}
	/* next[j] = common prefix length of text[i+1..] and secret[j..] */
	for (size_t i = tl; i-- > 0;)
	{
		size_t		best = 0;

		for (size_t j = 0; j < sl; j++)
		{
			row[j] = text[i] == secret[j] ? (unsigned short) (next[j + 1] + 1) : 0;
			if (row[j] > best)
				best = row[j];
		}
		if (best >= GP_REDACT_PIECE)
			memset(hide + i, 1, best);
		{
			unsigned short *t = row;

			row = next;
			next = t;
		}
	}
	for (size_t i = 0; i < tl;)
	{
		if (!hide[i])
		{
			text[o++] = text[i++];
			continue;
		}
		while (i < tl && hide[i])
			i++;
		memcpy(text + o, "***", 3);
		o += 3;
	}
	text[o] = '\0';
	free(row);
	free(next);
	free(hide);
}

void
gp_redact(char *text, size_t size, const char *secret)
{
	char	   *p;

	if (text == NULL || size < 8)
		return;

	/* the known secret, and any piece of it */
	if (secret && *secret)
		redact_pieces(text, size, secret);

	/* password=value (conninfo), value up to a space or quote-delimited */
	p = text;
	while ((p = strstr(p, "password=")) != NULL)
	{
		size_t		start = (p - text) + strlen("password=");
		size_t		end = start;

		if (strncmp(text + start, "***", 3) == 0)
		{
			p = text + start + 3;
			continue;
		}
		if (text[end] == '\'')
		{
			end++;
			while (text[end] && text[end] != '\'')
				end += (text[end] == '\\' && text[end + 1]) ? 2 : 1;
			if (text[end])
				end++;
		}
		else
			while (text[end] && text[end] != ' ' && text[end] != '&')
				end++;
		p = text + splice_stars(text, size, start, end);
	}

	/*
	 * scheme://user:secret@host: the password runs from the first ':' to the
	 * LAST '@' of the word (a password may hold unencoded '@', '/', '?' or
	 * ':'; the parser reads it so too).  A word ends at white space or a
	 * quote.  An '@' in a query value makes this hide more than the
	 * password: it errs on that side.
	 */
	p = text;
	while ((p = strstr(p, "://")) != NULL)
	{
		char	   *auth = p + 3;
		char	   *e = auth;
		char	   *colon = NULL;
		char	   *at = NULL;

		while (*e && *e != ' ' && *e != '\t' && *e != '\n' && *e != '"' && *e != '\'')
		{
			if (*e == ':' && colon == NULL && at == NULL)
				colon = e;
			if (*e == '@')
				at = e;
			e++;
		}
		if (at && colon && colon < at && !(at - colon == 4 && strncmp(colon + 1, "***", 3) == 0))
			(void) splice_stars(text, size, colon + 1 - text, at - text);
		p = auth;
	}
}
