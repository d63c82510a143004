/*-------------------------------------------------------------------------
 *
 * redact.c
 *	  Signed tokens never in denied_log or the server log.
 *
 * A statement that splices a token into its text (set_context_signed('...'))
 * is recorded by denied.c with the token replaced, and is not logged with
 * an error (denied_rls.c's emit_log_hook).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "governance.h"

#define TOKEN_PART_MIN 16
#define TOKEN_REDACTED "[token]"

static bool
is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * The first run in s that looks like a governance token (or any JWS-like
 * credential): two or three base64url parts of at least TOKEN_PART_MIN
 * characters joined by dots.  A token sent as a bind parameter is never in
 * the statement text; one spliced into SQL text would be, so the statement
 * is recorded with such runs replaced (denied_log.statement, the JSON log
 * line) and the server log's STATEMENT line is left out
 * (denied_emit_log_hook).
 */
static const char *
token_like_run(const char *s, size_t *len)
{
	const char *p = s;

	while (*p)
	{
		const char *start;
		const char *q;
		int			parts = 0;
		bool		short_part = false;

		if (!is_b64url(*p) || (p > s && is_b64url(p[-1])))
		{
			p++;
			continue;
		}
		start = q = p;
		for (;;)
		{
			const char *part = q;

			while (is_b64url(*q))
				q++;
			if (q - part < TOKEN_PART_MIN)
				short_part = true;
			parts++;
			if (*q == '.' && is_b64url(q[1]) && parts < 3)
			{
				q++;
				continue;
			}
			break;
		}
		if (parts >= 2 && !short_part)
		{
			*len = q - start;
			return start;
		}
		p = q > p ? q : p + 1;
	}
	return NULL;
}

/* Does s hold a token-like run? */
bool
gov_holds_token(const char *s)
{
	size_t		len;

	return token_like_run(s, &len) != NULL;
}

/* A palloc'd copy of s with every token-like run replaced. */
char *
gov_redact_tokens(const char *s)
{
	StringInfoData buf;
	const char *p = s;
	const char *run;
	size_t		len;

	if (token_like_run(s, &len) == NULL)
		return pstrdup(s);
	initStringInfo(&buf);
	while ((run = token_like_run(p, &len)) != NULL)
	{
		appendBinaryStringInfo(&buf, p, run - p);
		appendStringInfoString(&buf, TOKEN_REDACTED);
		p = run + len;
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}
