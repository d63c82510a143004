/*
 * context.c
 *	  The governance context a session carries: checked on the client before
 *	  anything is sent (so a bad value names its field instead of failing
 *	  with a generic error after a round trip) and copied into the session.
 *	  Used by the blocking calls (session.c) and the non-blocking starts
 *	  (op.c) alike.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "govpool_int.h"

/*
 * Characters in a NUL-terminated UTF-8 string (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF), or -1 when it is not valid UTF-8.
 * Refused here, the value names its field; the server would refuse it too,
 * but only with a generic encoding error after a round trip.
 */
static long
utf8_chars(const char *s)
{
	const unsigned char *p = (const unsigned char *) s;
	long		chars = 0;

	while (*p)
	{
		int			n;
		unsigned int cp;

		if (*p < 0x80)
		{
			p++;
			chars++;
			continue;
		}
		else if ((*p & 0xE0) == 0xC0)
			n = 1, cp = *p & 0x1F;
		else if ((*p & 0xF0) == 0xE0)
			n = 2, cp = *p & 0x0F;
		else if ((*p & 0xF8) == 0xF0)
			n = 3, cp = *p & 0x07;
		else
			return -1;
		for (int i = 1; i <= n; i++)
		{
			if ((p[i] & 0xC0) != 0x80)
				return -1;
			cp = (cp << 6) | (p[i] & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
			cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return -1;
		p += n + 1;
		chars++;
	}
	return chars;
}

bool
gp_check_ctx(const govpool_context *ctx, govpool_error *err)
{
	const char *bad = NULL;
	long		n;

	if (ctx == NULL || ctx->agent_id == NULL || ctx->agent_id[0] == '\0')
		bad = "a governed session needs ctx->agent_id";
	else if ((n = utf8_chars(ctx->agent_id)) < 0)
		bad = "agent_id is not valid UTF-8";
	else if (n > GP_MAX_AGENT)
		bad = "agent_id is longer than 256 characters";
	else if (ctx->tenant_id && (n = utf8_chars(ctx->tenant_id)) < 0)
		bad = "tenant_id is not valid UTF-8";
	else if (ctx->tenant_id && n > GP_MAX_TENANT)
		bad = "tenant_id is longer than 256 characters";
	else if (ctx->correlation_id && strlen(ctx->correlation_id) > GP_MAX_CORRELATION)
		bad = "correlation_id is longer than 128 characters";
	else if (ctx->correlation_id)
	{
		for (const char *c = ctx->correlation_id; *c; c++)
			if (!isalnum((unsigned char) *c) && !strchr("._:-", *c))
				bad = "correlation_id may only contain [A-Za-z0-9._:-]";
	}
	if (bad)
	{
		gp_error_set(err, GOVPOOL_ERR_MISUSE, "%s", bad);
		return false;
	}
	return true;
}

void
gp_fill_session(govpool_session *s, gp_entry *e, const char *agent, const char *tenant,
				const char *correlation, const char *file, int line)
{
	s->entry = e;
	s->state = GP_SESSION_QUEUED;
	snprintf(s->agent, sizeof(s->agent), "%s", agent);
	s->has_tenant = tenant != NULL;
	snprintf(s->tenant, sizeof(s->tenant), "%s", s->has_tenant ? tenant : "");
	s->has_correlation = correlation != NULL;
	snprintf(s->correlation, sizeof(s->correlation), "%s",
			 s->has_correlation ? correlation : "");
	s->file = file;
	s->line = line;
	s->leak_reported = false;
}
