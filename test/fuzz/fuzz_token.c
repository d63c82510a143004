/*
 * fuzz_token.c
 *	  libFuzzer target for the signed-context token parser (extension/src/token.c),
 *	  built as plain C against libpgcommon, without a server.
 *
 * The first input byte picks what the rest is:
 *	  even: a whole token, verified as the server would (exercises splitting,
 *			base64url and the signature check);
 *	  odd:  a payload, which the harness encodes and signs with the key first,
 *			so that the JSON claims parser behind the signature is reached.
 * Either way the parser must return a status without crashing, leaking or
 * reading out of bounds, and a token it accepts must carry a non-empty
 * agent_id, an exp in the future but at most MAX_LIFETIME ahead, and a kid
 * (if any) naming the key that verified it.
 */
#include "postgres_fe.h"

#include "common/base64.h"
#include "common/hmac.h"

#include "governance.h"

#define KEY "0123456789abcdef0123456789abcdef-fuzz-key"
#define PREVIOUS_KEY "fedcba9876543210fedcba9876543210-fuzz-old"
#define NOW 1700000000
#define MAX_LIFETIME 3600

/* the current and the previous key, as the server passes them */
static const GovTokenKey keys[2] = {
	{KEY, sizeof(KEY) - 1, "k2"},
	{PREVIOUS_KEY, sizeof(PREVIOUS_KEY) - 1, "k1"}
};

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
b64url_encode(const uint8_t *src, size_t len, char *dst)
{
	int			n = pg_b64_encode((const char *) src, (int) len, dst, pg_b64_enc_len((int) len));
	size_t		out = 0;

	for (int i = 0; i < n; i++)
	{
		char		c = dst[i];

		if (c == '=')
			break;
		dst[out++] = (c == '+') ? '-' : (c == '/') ? '_' : c;
	}
	dst[out] = '\0';
	return out;
}

static void
check(GovTokenStatus st, GovToken *t)
{
	if (st == GOV_TOKEN_OK)
	{
		if (t->agent_id == NULL || t->agent_id[0] == '\0' || t->exp <= NOW ||
			t->exp - NOW > MAX_LIFETIME)
			abort();
		/* a kid, when present, names the key that verified the token */
		if (t->kid != NULL && strcmp(t->kid, keys[t->key_index].id) != 0)
			abort();
	}
	if (t->agent_id)
		pfree(t->agent_id);
	if (t->tenant_id)
		pfree(t->tenant_id);
	if (t->correlation_id)
		pfree(t->correlation_id);
	if (t->role)
		pfree(t->role);
	if (t->kid)
		pfree(t->kid);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	GovToken	t;
	const char *detail = NULL;
	GovTokenStatus st;

	if (size < 1 || size > 2 * GOV_MAX_TOKEN_BYTES)
		return 0;

	if ((data[0] & 1) == 0)
	{
		st = gov_token_verify((const char *) data + 1, size - 1, keys, 2,
							  NOW, MAX_LIFETIME, &t, &detail);
		check(st, &t);
	}
	else
	{
		size_t		plen = size - 1;
		char	   *tok = malloc(pg_b64_enc_len((int) plen) + 64 + 2);
		size_t		n = b64url_encode(data + 1, plen, tok);
		uint8		mac[32];
		pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

		if (ctx == NULL || pg_hmac_init(ctx, (const uint8 *) KEY, strlen(KEY)) < 0 ||
			pg_hmac_update(ctx, (const uint8 *) tok, n) < 0 ||
			pg_hmac_final(ctx, mac, sizeof(mac)) < 0)
			abort();
		pg_hmac_free(ctx);
		tok[n++] = '.';
		n += b64url_encode(mac, sizeof(mac), tok + n);
		st = gov_token_verify(tok, n, keys, 2, NOW, MAX_LIFETIME, &t, &detail);
		/*
		 * a signed payload never fails the signature check, unless its kid
		 * names another key than the one that signed it
		 */
		if (st == GOV_TOKEN_TRUNCATED ||
			(st == GOV_TOKEN_BAD_SIGNATURE &&
			 (t.kid == NULL || strcmp(t.kid, keys[0].id) == 0)))
			abort();
		check(st, &t);
		free(tok);
	}
	if (st != GOV_TOKEN_OK && detail == NULL)
		abort();
	return 0;
}
