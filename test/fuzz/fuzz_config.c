/*
 * fuzz_config.c
 *	  libFuzzer target for libgovpool's environment / DATABASE_URL parser
 *	  (client/src/config.c), through govpool_config_from_getenv() with a
 *	  getenv callback that reads the variables from the fuzz input.
 *
 * Input: text lines.  A line "NAME=VALUE" whose NAME is [A-Z0-9_]+ sets that
 * variable; any other non-empty line is DATABASE_URL, as is a
 * "DATABASE_URL=..." line (the last one wins, as for every variable).  Lines end at
 * '\n'; a NUL byte ends the whole input (a C environment cannot hold one).
 *
 * Passwords are made recognisable before the call: the password part of
 * DATABASE_URL ("user:PASSWORD@"), every "password=" query value and DB_PASS
 * are wrapped in a canary, CANARY + fuzzed bytes + CANARY.  Whatever the
 * parser returns, these properties must hold:
 *
 *	  always:	the status is OK or CONFIG (nothing else can come out of a
 *				parser), err.kind equals it, and no string in the config or
 *				the error runs past its buffer;
 *	  on OK:	cfg.conninfo parses with PQconninfoParse; the password libpq
 *				gets is exactly the (percent-decoded) password of the input;
 *				application_name is printable ASCII; the pool can hold at
 *				least one connection; govpool_config_describe() shows no
 *				password;
 *	  on error: the message is non-empty, names what is wrong (a variable
 *				the parser asked the getenv callback for, DATABASE_URL among
 *				them), and contains neither the canary nor the decoded
 *				password.
 *
 * The password as people paste it (finding 13): a line "RAWPW=BYTES" makes
 * DATABASE_URL "postgresql://app:" PW "@" URL-LINE, PW being BYTES with
 * '?', '/', '#', '@', ':', '%', digits, space and the other URL punctuation
 * kept and every other byte mapped to one of the marker letters QJZXK, left
 * unencoded.  Then, whatever the parser makes of it:
 *
 *	  no piece:	no 4-byte piece of PW, raw or percent-decoded, that holds a
 *				marker letter (no message template has such a run) and does
 *				not stand in the rest of the input anyway, appears in the
 *				error or in govpool_config_describe();
 *	  on OK:	when the URL line has no '@' before its first '/' or '?' and
 *				no password= parameter, libpq gets exactly the decoded PW.
 *
 * A property that fails calls abort(), which libFuzzer reports as a crash
 * and saves the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "govpool.h"

#define CANARY "Zq7Kw9Xc"
#define MARKERS "QJZXK"
#define PIECE 4
#define MAX_VARS 32
#define MAX_ASKED 128
#define MAX_INPUT 8192

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_env
{
	int			n;
	const char *name[MAX_VARS];
	const char *value[MAX_VARS];
	const char *url;
	/* every name the parser asked for, in order: an error must name one */
	int			nasked;
	char		asked[MAX_ASKED][64];
} fuzz_env;

static const char *
fuzz_getenv(const char *name, void *ud)
{
	fuzz_env   *e = ud;
	const char *v = NULL;

	if (e->nasked < MAX_ASKED)
		snprintf(e->asked[e->nasked++], sizeof(e->asked[0]), "%s", name);

	if (strcmp(name, "DATABASE_URL") == 0 && e->url)
		v = e->url;
	for (int i = 0; i < e->n; i++)
		if (strcmp(e->name[i], name) == 0)
			v = e->value[i];	/* last one wins, like a shell */
	return v;
}

static bool
is_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

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

/* Independent percent-decoder: false on a bad escape or %00. */
static bool
decode(const char *s, size_t n, char *out)
{
	size_t		o = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '%')
		{
			if (i + 2 >= n)
				return false;
			if (hexval((unsigned char) s[i + 1]) < 0 || hexval((unsigned char) s[i + 2]) < 0)
				return false;
			out[o] = (char) (hexval((unsigned char) s[i + 1]) * 16 + hexval((unsigned char) s[i + 2]));
			if (out[o] == '\0')
				return false;
			o++;
			i += 2;
		}
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return true;
}

/* strnlen that aborts when a fixed buffer is not NUL-terminated. */
static size_t
bounded(const char *buf, size_t size)
{
	size_t		n = strnlen(buf, size);

	if (n == size)
		abort();
	return n;
}

/*
 * Append s[0, n) to *dst, wrapping it in the canary.  The canary is a
 * plain token, so it survives percent-decoding unchanged (unless fuzzed
 * bytes right before it form an escape with it; then the raw form is still
 * there to be caught).
 */
static char *
put_wrapped(char *o, const char *s, size_t n)
{
	memcpy(o, CANARY, strlen(CANARY));
	o += strlen(CANARY);
	memcpy(o, s, n);
	o += n;
	memcpy(o, CANARY, strlen(CANARY));
	return o + strlen(CANARY);
}

/*
 * Rewrite url into out with the password of the userinfo and of every
 * password= query parameter wrapped.  The split follows the documented
 * grammar: the authority ends at the first '/' or '?', userinfo at its
 * last '@', the password starts after userinfo's first ':'.
 */
static void
wrap_url_passwords(const char *url, char *out)
{
	const char *sep = strstr(url, "://");
	const char *auth,
			   *auth_end,
			   *at = NULL,
			   *p;
	char	   *o = out;

	if (sep == NULL)
	{
		strcpy(out, url);
		return;
	}
	auth = sep + 3;
	auth_end = auth + strcspn(auth, "/?");
	for (p = auth; p < auth_end; p++)
		if (*p == '@')
			at = p;
	p = url;
	if (at)
	{
		const char *colon = memchr(auth, ':', at - auth);

		if (colon)
		{
			memcpy(o, url, colon + 1 - url);
			o += colon + 1 - url;
			o = put_wrapped(o, colon + 1, at - colon - 1);
			p = at;
		}
	}
	/* copy up to the query, then wrap password= values */
	{
		const char *q = strchr(auth_end, '?');
		const char *upto = q ? q + 1 : url + strlen(url);

		memcpy(o, p, upto - p);
		o += upto - p;
		p = upto;
		while (q && *p)
		{
			size_t		len = strcspn(p, "&");

			if (strncmp(p, "password=", 9) == 0)
			{
				memcpy(o, p, 9);
				o += 9;
				o = put_wrapped(o, p + 9, len - 9);
			}
			else
			{
				memcpy(o, p, len);
				o += len;
			}
			p += len;
			if (*p == '&')
				*o++ = *p++;
		}
	}
	*o = '\0';
}

/* The password libpq would get from the (wrapped) URL, decoded; "" if none. */
static bool
url_password(const char *url, char *out)
{
	const char *sep = strstr(url, "://");
	const char *auth,
			   *auth_end,
			   *at = NULL,
			   *q;
	bool		found = false;

	out[0] = '\0';
	if (sep == NULL)
		return false;
	auth = sep + 3;
	auth_end = auth + strcspn(auth, "/?");
	for (const char *p = auth; p < auth_end; p++)
		if (*p == '@')
			at = p;
	if (at)
	{
		const char *colon = memchr(auth, ':', at - auth);

		if (colon && decode(colon + 1, at - colon - 1, out))
			found = out[0] != '\0';
	}
	q = strchr(auth_end, '?');
	while (q)
	{
		const char *v = q + 1;
		size_t		len = strcspn(v, "&");

		/* the parser decodes keys too: only the plain spelling is followed */
		if (strncmp(v, "password=", 9) == 0)
		{
			char	   *tmp = malloc(len + 1);

			if (decode(v + 9, len - 9, tmp))
			{
				strcpy(out, tmp);
				found = out[0] != '\0';
			}
			free(tmp);
		}
		q = v[len] == '&' ? v + len : NULL;
	}
	return found;
}

/* Map fuzz bytes to a pasted password: URL punctuation kept, the rest markers. */
static void
map_password(const char *in, char *out)
{
	static const char keep[] = "?/#@:% &=,[]'()+;!$*\\~.-_0123456789";
	size_t		o = 0;

	for (const char *c = in; *c; c++)
		out[o++] = strchr(keep, *c) ? *c : MARKERS[(unsigned char) *c % 5];
	out[o] = '\0';
}

/* Lenient percent-decoding: valid escapes decoded, anything else kept. */
static void
decode_lenient(const char *s, char *out)
{
	size_t		o = 0;

	for (size_t i = 0; s[i]; i++)
	{
		if (s[i] == '%' && hexval((unsigned char) s[i + 1]) >= 0 &&
			hexval((unsigned char) s[i + 2]) >= 0)
		{
			out[o++] = (char) (hexval((unsigned char) s[i + 1]) * 16 + hexval((unsigned char) s[i + 2]));
			i += 2;
		}
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
}

static bool contains(const char *hay, size_t n, const char *needle);

/*
 * A piece of pw (PIECE bytes holding a marker letter, standing nowhere in
 * others) in text?  Returns it in piece.
 */
static bool
shows_piece(const char *text, const char *pw, const char *others, char *piece)
{
	size_t		n = strlen(pw);

	for (size_t i = 0; i + PIECE <= n; i++)
	{
		bool		marker = false;

		memcpy(piece, pw + i, PIECE);
		piece[PIECE] = '\0';
		if (strlen(piece) < PIECE)
			continue;			/* a decoded %00 cannot occur: decode() refuses it */
		for (int j = 0; j < PIECE; j++)
			if (strchr(MARKERS, piece[j]))
				marker = true;
		if (marker && !contains(others, strlen(others), piece) &&
			contains(text, strlen(text), piece))
			return true;
	}
	return false;
}

/*
 * Substring search the fuzzer does not see: libFuzzer hooks strstr() and
 * would learn the canary from it, then plant it outside a password.
 */
static bool
contains(const char *hay, size_t n, const char *needle)
{
	size_t		m = strlen(needle);

	for (size_t i = 0; i + m <= n; i++)
	{
		size_t		j = 0;

		while (j < m && hay[i + j] == needle[j])
			j++;
		if (j == m)
			return true;
	}
	return false;
}

static bool
only_printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || (unsigned char) *s > 0x7e)
			return false;
	return true;
}

/* Does any URL query key need decoding to be "password"?  Then skip checks. */
static bool
has_encoded_keys(const char *url)
{
	const char *q = strchr(url, '?');

	if (q == NULL)
		return false;
	for (const char *p = q; *p; p++)
		if (*p == '%')
		{
			/* a '%' before the next '=' is in a key */
			const char *eq = strchr(p, '=');
			const char *amp = strchr(p, '&');

			if (eq && (amp == NULL || eq < amp))
				return true;
		}
	return false;
}

/* Is there an '@' after the first '/' or '?' of the authority? */
static bool
late_at(const char *url)
{
	const char *sep = strstr(url, "://");
	const char *auth;

	if (sep == NULL)
		return false;
	auth = sep + 3;
	return strchr(auth + strcspn(auth, "/?"), '@') != NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[MAX_INPUT + 1];
	static char url_buf[MAX_INPUT * 4];	/* room for a canary pair per password= */
	static char pass_buf[MAX_INPUT * 2 + 64];
	static char decoded_pw[MAX_INPUT * 2 + 64];
	fuzz_env	env = {0};
	govpool_config cfg;
	govpool_error err;
	govpool_status st;
	char	   *line;
	static char raw_pw[MAX_INPUT + 1];
	static char raw_pw_dec[MAX_INPUT + 1];
	static char others[MAX_INPUT * 2 + 2];
	const char *db_pass = NULL;
	const char *rawpw_line = NULL;
	bool		url_has_pw = false;
	bool		canary_in_input;
	bool		exact_pw = false;

	if (size > MAX_INPUT)
		return 0;
	/* a canary the input brought itself proves nothing */
	canary_in_input = contains((const char *) data, size, CANARY);
	memcpy(text, data, size);
	text[size] = '\0';			/* stops at the first NUL, as getenv would */

	for (line = text; line && *line;)
	{
		char	   *nl = strchr(line, '\n');
		char	   *eq;

		if (nl)
			*nl = '\0';
		eq = strchr(line, '=');
		if (eq && is_name(line, eq - line))
		{
			if (eq - line == 12 && strncmp(line, "DATABASE_URL", 12) == 0)
				env.url = eq + 1;
			else if (eq - line == 5 && strncmp(line, "RAWPW", 5) == 0)
				rawpw_line = eq + 1;
			else if (env.n < MAX_VARS)
			{
				*eq = '\0';
				env.name[env.n] = line;
				env.value[env.n] = eq + 1;
				if (strcmp(line, "DB_PASS") == 0)
				{
					char	   *o = put_wrapped(pass_buf, eq + 1, strlen(eq + 1));

					*o = '\0';
					env.value[env.n] = pass_buf;
				}
				env.n++;
			}
		}
		else if (*line)
			env.url = line;
		line = nl ? nl + 1 : NULL;
	}
	/* DB_PASS: only the last one counts; wrap only that one (pass_buf is shared) */
	for (int i = 0; i < env.n; i++)
		if (strcmp(env.name[i], "DB_PASS") == 0)
			db_pass = env.value[i];
	if (rawpw_line)
	{
		/* postgresql://app:PW@URL-LINE, PW unencoded */
		const char *rest = env.url ? env.url : "";
		size_t		auth_len = strcspn(rest, "/?");
		char	   *o = others;

		map_password(rawpw_line, raw_pw);
		decode_lenient(raw_pw, raw_pw_dec);
		snprintf(url_buf, sizeof(url_buf), "postgresql://app:%s@%s", raw_pw, rest);
		env.url = url_buf;
		/* what stands in the input anyway: the URL line, every value, decoded too */
		o += sprintf(o, "%s\n", rest);
		decode_lenient(rest, o);
		o += strlen(o);
		for (int i = 0; i < env.n && (size_t) (o - others) < sizeof(others) / 2; i++)
		{
			size_t		l = strlen(env.value[i]);

			if ((size_t) (o - others) + l + 2 >= sizeof(others))
				break;
			*o++ = '\n';
			memcpy(o, env.value[i], l + 1);
			o += l;
		}
		exact_pw = memchr(rest, '@', auth_len) == NULL && strstr(rest, "password=") == NULL &&
			!has_encoded_keys(url_buf);
		/* the decoded password libpq must get: strict decoding, as the parser */
		url_has_pw = decode(raw_pw, strlen(raw_pw), decoded_pw) && decoded_pw[0] != '\0';
		if (!url_has_pw)
			exact_pw = false;
	}
	else if (env.url && *env.url == '\0')
		env.url = NULL;			/* an empty variable counts as unset */
	else if (env.url)
	{
		wrap_url_passwords(env.url, url_buf);
		env.url = url_buf;
		url_has_pw = url_password(url_buf, decoded_pw);
	}

	memset(&cfg, 0x5a, sizeof(cfg));
	memset(&err, 0x5a, sizeof(err));
	st = govpool_config_from_getenv(&cfg, fuzz_getenv, &env, &err);

	if (err.kind != st)
		abort();
	bounded(err.message, sizeof(err.message));
	bounded(err.sqlstate, sizeof(err.sqlstate));

	if (st == GOVPOOL_OK)
	{
		PQconninfoOption *opts;
		char	   *perr = NULL;
		char		desc[4096];

		bounded(cfg.conninfo, sizeof(cfg.conninfo));
		bounded(cfg.application_name, sizeof(cfg.application_name));
		bounded(cfg.environment, sizeof(cfg.environment));
		bounded(cfg.extensions, sizeof(cfg.extensions));
		if (!only_printable_ascii(cfg.application_name))
			abort();
		if (cfg.pool_size < 0 || cfg.max_overflow < 0 || cfg.pool_size + cfg.max_overflow <= 0)
			abort();
		if (cfg.connect_attempts < 1)
			abort();
		if (err.message[0] != '\0')
			abort();

		opts = PQconninfoParse(cfg.conninfo, &perr);
		if (opts == NULL)
		{
			fprintf(stderr, "conninfo does not parse: %s\n%s\n", perr ? perr : "(oom)", cfg.conninfo);
			abort();
		}
		/* the password that reaches libpq is the input's, byte for byte */
		{
			const char *got = NULL;
			const char *want = NULL;

			for (PQconninfoOption *o = opts; o->keyword; o++)
				if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
					got = o->val;
			if (env.url)
				want = url_has_pw ? decoded_pw : NULL;
			else if (db_pass)
				want = db_pass;
			/*
			 * The strict grammar's password, unless an '@' stands after the
			 * first '/' or '?' (then the parser may read the password as
			 * holding them: the RAWPW form checks that reading).
			 */
			if (rawpw_line ? exact_pw
				: !(env.url && (has_encoded_keys(env.url) || late_at(env.url))))
			{
				if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0))
				{
					fprintf(stderr, "password mismatch: want [%s] got [%s]\n",
							want ? want : "(none)", got ? got : "(none)");
					abort();
				}
			}
		}
		PQconninfoFree(opts);

		govpool_config_describe(&cfg, desc, sizeof(desc));
		bounded(desc, sizeof(desc));
		if (rawpw_line)
		{
			char		piece[PIECE + 1];

			if (shows_piece(desc, raw_pw, others, piece) || shows_piece(desc, raw_pw_dec, others, piece))
			{
				fprintf(stderr, "a piece of the password (%s) in the description: %s\n", piece, desc);
				abort();
			}
		}
		if (!canary_in_input && contains(desc, strlen(desc), CANARY))
		{
			fprintf(stderr, "password in the description: %s\n", desc);
			abort();
		}
	}
	else
	{
		bool		named = false;

		if (st != GOVPOOL_ERR_CONFIG)
			abort();
		if (err.message[0] == '\0')
			abort();
		if (!canary_in_input && contains(err.message, strlen(err.message), CANARY))
		{
			fprintf(stderr, "password in the error: %s\n", err.message);
			abort();
		}
		if (rawpw_line)
		{
			char		piece[PIECE + 1];

			if (shows_piece(err.message, raw_pw, others, piece) ||
				shows_piece(err.message, raw_pw_dec, others, piece))
			{
				fprintf(stderr, "a piece of the password (%s) in the error: %s\n", piece, err.message);
				abort();
			}
		}
		/*
		 * The names come from the parser's own getenv calls, so a variable
		 * added to config.c is known here without a list to keep in step.
		 */
		for (int i = 0; i < env.nasked; i++)
			if (strstr(err.message, env.asked[i]))
				named = true;
		if (!named)
		{
			fprintf(stderr, "error names no variable: %s\n", err.message);
			abort();
		}
	}
	return 0;
}
