/*-------------------------------------------------------------------------
 *
 * token.c
 *	  Signed-context token parsing and HMAC-SHA256 verification.
 *
 * A token is  base64url(payload) "." base64url(HMAC-SHA256(key, P))  where
 * P is the first part exactly as it appears in the token (as in JWS) and
 * payload is a JSON object:
 *
 *	  {"agent_id": "...", "tenant_id": "..."|null, "correlation_id": "..."|null,
 *	   "exp": <Unix seconds>, "role": "..." (optional), "kid": "..." (optional)}
 *
 * The signature is checked before the payload is decoded, with a
 * constant-time comparison, so nothing an attacker sends is parsed unless
 * it was signed with a key.  Key rotation: the signature is computed under
 * every configured key (current, then previous; all of them, whichever
 * matches, so the time taken does not depend on the match) and the first
 * that matches is the signing key; a "kid" claim, signed with the rest,
 * must then name that key's id, so a token says which key it was minted
 * for and cannot be taken for another.  exp must lie in the future and at
 * most max_lifetime seconds ahead.  "role" is returned for the caller to
 * compare with the session user (a server notion).  Unknown members are
 * ignored (room for iat, iss, ...); duplicate members are refused so that
 * no two readers can disagree about what a token says.
 *
 * This file uses only palloc, common/hmac.h, common/base64.h and
 * common/jsonapi.h, which exist in the backend and in libpgcommon, so the
 * parser can also be built as plain C (fuzzing) without a server.  It never
 * ereports: every outcome is a GovTokenStatus plus a static detail string.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FRONTEND
#include "postgres.h"
#else
#include "postgres_fe.h"
#endif

#include "common/base64.h"
#include "common/hmac.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#include "governance.h"

#define HMAC_SHA256_LEN 32
/* base64url of 32 bytes, unpadded */
#define SIGNATURE_B64_LEN 43

/*---- Function declarations ----*/
static char *b64url_decode(const char *src, size_t len, int *outlen);
static bool constant_time_equal(const uint8 *a, const uint8 *b, size_t len);
static bool compute_hmac(const char *key, size_t key_len, const char *data,
						 size_t len, uint8 *mac);
static GovTokenStatus parse_payload(char *json, int len, GovToken *out,
									const char **detail);

/* Decode base64url (padding optional).  NULL if not valid base64url. */
static char *
b64url_decode(const char *src, size_t len, int *outlen)
{
	char	   *std;
	char	   *dst;
	size_t		padded;
	int			n;

	while (len > 0 && src[len - 1] == '=')
		len--;
	if (len == 0 || len % 4 == 1 || len > GOV_MAX_TOKEN_BYTES)
		return NULL;

	padded = (len + 3) & ~(size_t) 3;
	std = palloc(padded + 1);
	for (size_t i = 0; i < len; i++)
	{
		char		c = src[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' ||
				 !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				   (c >= '0' && c <= '9')))
		{
			pfree(std);
			return NULL;
		}
		std[i] = c;
	}
	for (size_t i = len; i < padded; i++)
		std[i] = '=';
	std[padded] = '\0';

	dst = palloc(pg_b64_dec_len((int) padded) + 1);
	n = pg_b64_decode(std, (int) padded, dst, pg_b64_dec_len((int) padded));
	pfree(std);
	if (n < 0)
	{
		pfree(dst);
		return NULL;
	}
	dst[n] = '\0';
	*outlen = n;
	return dst;
}

static bool
constant_time_equal(const uint8 *a, const uint8 *b, size_t len)
{
	volatile uint8 diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/* HMAC-SHA256 of the payload part under one key; false if it failed. */
static bool
compute_hmac(const char *key, size_t key_len, const char *data, size_t len,
			 uint8 *mac)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	bool		ok;

	if (ctx == NULL)
		return false;
	ok = pg_hmac_init(ctx, (const uint8 *) key, key_len) >= 0 &&
		pg_hmac_update(ctx, (const uint8 *) data, len) >= 0 &&
		pg_hmac_final(ctx, mac, HMAC_SHA256_LEN) >= 0;
	pg_hmac_free(ctx);
	return ok;
}

/*
 * Verify a token and extract its claims.  keys[0..nkeys) are tried in
 * order (unset ones skipped); max_lifetime <= 0 means no limit.  On success
 * fills *out (palloc'd strings) and returns GOV_TOKEN_OK; otherwise *detail
 * says what is wrong without revealing anything about the keys or the
 * expected signature.
 */
GovTokenStatus
gov_token_verify(const char *token, size_t token_len,
				 const GovTokenKey *keys, int nkeys, int64 now_unix,
				 int64 max_lifetime, GovToken *out, const char **detail)
{
	const char *dot;
	size_t		payload_b64_len;
	const char *sig_b64;
	size_t		sig_b64_len;
	char	   *sig;
	int			sig_len;
	uint8		expected[HMAC_SHA256_LEN];
	int			matched = -1;
	char	   *payload;
	int			payload_len;
	GovTokenStatus st;

	memset(out, 0, sizeof(*out));
	out->key_index = -1;

	if (token_len > GOV_MAX_TOKEN_BYTES)
	{
		*detail = "The token is longer than 8192 bytes.";
		return GOV_TOKEN_MALFORMED;
	}

	dot = memchr(token, '.', token_len);
	if (dot == NULL)
	{
		*detail = "The token has no signature part (expected payload.signature).";
		return GOV_TOKEN_TRUNCATED;
	}
	payload_b64_len = dot - token;
	sig_b64 = dot + 1;
	sig_b64_len = token_len - payload_b64_len - 1;
	if (memchr(sig_b64, '.', sig_b64_len) != NULL)
	{
		*detail = "The token has more than two parts.";
		return GOV_TOKEN_MALFORMED;
	}
	if (payload_b64_len == 0)
	{
		*detail = "The payload part is empty.";
		return GOV_TOKEN_MALFORMED;
	}
	while (sig_b64_len > 0 && sig_b64[sig_b64_len - 1] == '=')
		sig_b64_len--;
	if (sig_b64_len < SIGNATURE_B64_LEN)
	{
		*detail = "The signature part is shorter than an HMAC-SHA256 signature.";
		return GOV_TOKEN_TRUNCATED;
	}
	sig = b64url_decode(sig_b64, sig_b64_len, &sig_len);
	if (sig == NULL)
	{
		*detail = "The signature part is not valid base64url.";
		return GOV_TOKEN_MALFORMED;
	}
	if (sig_len != HMAC_SHA256_LEN)
	{
		pfree(sig);
		*detail = "The signature part is not an HMAC-SHA256 signature.";
		return GOV_TOKEN_MALFORMED;
	}

	for (int k = 0; k < nkeys; k++)
	{
		if (keys[k].key == NULL || keys[k].key_len == 0)
			continue;
		if (!compute_hmac(keys[k].key, keys[k].key_len, token, payload_b64_len,
						  expected))
		{
			pfree(sig);
			*detail = "HMAC computation failed.";
			return GOV_TOKEN_BAD_SIGNATURE;
		}
		if (constant_time_equal(expected, (const uint8 *) sig, HMAC_SHA256_LEN) &&
			matched < 0)
			matched = k;
	}
	pfree(sig);
	if (matched < 0)
	{
		*detail = "The signature does not match the payload under governance.signing_key "
			"(nor governance.signing_key_previous).";
		return GOV_TOKEN_BAD_SIGNATURE;
	}
	out->key_index = matched;

	payload = b64url_decode(token, payload_b64_len, &payload_len);
	if (payload == NULL)
	{
		*detail = "The payload part is not valid base64url.";
		return GOV_TOKEN_BAD_PAYLOAD;
	}
	st = parse_payload(payload, payload_len, out, detail);
	pfree(payload);
	if (st != GOV_TOKEN_OK)
		return st;

	if (out->kid != NULL &&
		(keys[matched].id == NULL || strcmp(out->kid, keys[matched].id) != 0))
	{
		*detail = "The token's kid does not name the key that signed it.";
		return GOV_TOKEN_BAD_SIGNATURE;
	}
	if (out->exp <= now_unix)
	{
		*detail = "The token's exp is in the past.";
		return GOV_TOKEN_EXPIRED;
	}
	if (max_lifetime > 0 && out->exp - now_unix > max_lifetime)
	{
		*detail = "The token's exp is further ahead than governance.token_max_lifetime allows.";
		return GOV_TOKEN_TOO_LONG;
	}
	return GOV_TOKEN_OK;
}

/*---- Payload JSON ----*/

typedef enum PayloadMember
{
	M_NONE = -1,
	M_AGENT,
	M_TENANT,
	M_CORRELATION,
	M_EXP,
	M_ROLE,
	M_KID,
	M_COUNT
} PayloadMember;

static const char *const member_names[M_COUNT] = {
	"agent_id", "tenant_id", "correlation_id", "exp", "role", "kid"
};

typedef struct PayloadState
{
	int			depth;
	bool		top_is_object;
	PayloadMember current;
	bool		seen[M_COUNT];
	const char *error;			/* first problem found, or NULL */
	GovToken   *out;
} PayloadState;

static void
payload_object_start(void *state)
{
	PayloadState *ps = state;

	if (ps->depth == 0)
		ps->top_is_object = true;
	else if (ps->depth == 1 && ps->current != M_NONE && ps->error == NULL)
		ps->error = "A claim must be a string, a number or null, not an object.";
	ps->depth++;
}

static void
payload_object_end(void *state)
{
	((PayloadState *) state)->depth--;
}

static void
payload_array_start(void *state)
{
	PayloadState *ps = state;

	if (ps->depth == 1 && ps->current != M_NONE && ps->error == NULL)
		ps->error = "A claim must be a string, a number or null, not an array.";
	ps->depth++;
}

static void
payload_array_end(void *state)
{
	((PayloadState *) state)->depth--;
}

static void
payload_field_start(void *state, char *fname, bool isnull)
{
	PayloadState *ps = state;

	if (ps->depth == 1)
	{
		ps->current = M_NONE;
		for (int m = 0; m < M_COUNT; m++)
		{
			if (strcmp(fname, member_names[m]) == 0)
			{
				if (ps->seen[m] && ps->error == NULL)
					ps->error = "A claim appears twice in the payload.";
				ps->seen[m] = true;
				ps->current = (PayloadMember) m;
			}
		}
	}
	pfree(fname);				/* the parser hands over ownership */
}

/* Take a claim's string; the parser hands over ownership of token. */
static void
take_string(char **slot, char *token)
{
	if (*slot)
		pfree(*slot);
	*slot = token;
}

static void
payload_scalar(void *state, char *token, JsonTokenType tokentype)
{
	PayloadState *ps = state;

	if (ps->depth != 1 || ps->current == M_NONE || ps->error != NULL)
	{
		pfree(token);
		return;
	}

	if (ps->current == M_EXP)
	{
		char	   *end;
		long long	v;

		if (tokentype != JSON_TOKEN_NUMBER)
			ps->error = "exp must be a number of Unix seconds.";
		else
		{
			errno = 0;
			v = strtoll(token, &end, 10);
			if (errno != 0 || *end != '\0')
				ps->error = "exp must be a whole number of Unix seconds.";
			else
				ps->out->exp = (int64) v;
		}
		pfree(token);
		return;
	}

	if ((ps->current == M_ROLE || ps->current == M_KID) &&
		tokentype != JSON_TOKEN_STRING)
	{
		ps->error = "role and kid must be strings.";
		pfree(token);
		return;
	}

	if (tokentype == JSON_TOKEN_NULL)
	{
		if (ps->current == M_AGENT)
			ps->error = "agent_id must not be null.";
		pfree(token);
		return;
	}
	if (tokentype != JSON_TOKEN_STRING)
	{
		ps->error = "agent_id, tenant_id and correlation_id must be strings.";
		pfree(token);
		return;
	}
	switch (ps->current)
	{
		case M_AGENT:
			take_string(&ps->out->agent_id, token);
			break;
		case M_TENANT:
			take_string(&ps->out->tenant_id, token);
			break;
		case M_CORRELATION:
			take_string(&ps->out->correlation_id, token);
			break;
		case M_ROLE:
			take_string(&ps->out->role, token);
			break;
		case M_KID:
			take_string(&ps->out->kid, token);
			break;
		default:
			pfree(token);
			break;
	}
}

static GovTokenStatus
parse_payload(char *json, int len, GovToken *out, const char **detail)
{
	JsonLexContext *lex;
	JsonSemAction sem;
	PayloadState ps;
	JsonParseErrorType rc;

	/* JSON text must be UTF-8 (RFC 8259); the lexer assumes valid input. */
	if (pg_encoding_verifymbstr(PG_UTF8, json, len) != len)
	{
		*detail = "The payload is not valid UTF-8.";
		return GOV_TOKEN_BAD_PAYLOAD;
	}

	memset(&ps, 0, sizeof(ps));
	ps.current = M_NONE;
	ps.out = out;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &ps;
	sem.object_start = payload_object_start;
	sem.object_end = payload_object_end;
	sem.array_start = payload_array_start;
	sem.array_end = payload_array_end;
	sem.object_field_start = payload_field_start;
	sem.scalar = payload_scalar;

	lex = makeJsonLexContextCstringLen(json, len, PG_UTF8, true);
	rc = pg_parse_json(lex, &sem);
	/* PostgreSQL 15 has no freeJsonLexContext() */
	if (lex->strval)
	{
		pfree(lex->strval->data);
		pfree(lex->strval);
	}
	pfree(lex);
	if (rc != JSON_SUCCESS)
	{
		*detail = "The payload is not valid JSON.";
		return GOV_TOKEN_BAD_PAYLOAD;
	}
	if (!ps.top_is_object)
	{
		*detail = "The payload is not a JSON object.";
		return GOV_TOKEN_BAD_PAYLOAD;
	}
	if (ps.error)
	{
		*detail = ps.error;
		return GOV_TOKEN_BAD_PAYLOAD;
	}
	if (out->agent_id == NULL || out->agent_id[0] == '\0')
	{
		*detail = "The payload has no agent_id.";
		return GOV_TOKEN_BAD_PAYLOAD;
	}
	if (!ps.seen[M_EXP])
	{
		*detail = "The payload has no exp.";
		return GOV_TOKEN_BAD_PAYLOAD;
	}
	return GOV_TOKEN_OK;
}
