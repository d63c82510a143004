/*
 * test_stats.c
 *	  Unit tests of the wait histogram, redaction and log-line quoting.
 */
#include <stdlib.h>

#include "govpool_int.h"
#include "tap.h"

static void
test_histogram_quantiles_within_bucket_error(void)
{
	gp_hist		h = {{0}, 0};

	CHECK(gp_hist_quantile_us(&h, 0.5) == 0.0);
	for (int i = 0; i < 98; i++)
		gp_hist_add(&h, 10 * 1000);		/* 10 us */
	gp_hist_add(&h, 5 * 1000 * 1000);	/* 5 ms */
	gp_hist_add(&h, 5 * 1000 * 1000);
	{
		double		p50 = gp_hist_quantile_us(&h, 0.50);
		double		p99 = gp_hist_quantile_us(&h, 0.99);
		double		p100 = gp_hist_quantile_us(&h, 1.0);

		CHECK_MSG(p50 >= 10 && p50 <= 10 * 1.5, "p50=%f", p50);
		CHECK_MSG(p99 >= 5000 && p99 <= 5000 * 1.5, "p99=%f", p99);
		CHECK(p100 == p99);
	}
	gp_hist_add(&h, 0);
	CHECK(h.counts[0] == 1);
	gp_hist_add(&h, INT64_MAX);		/* clamps into the last bucket */
	CHECK(h.counts[GP_HIST_BUCKETS - 1] == 1);
}

typedef struct redact_case
{
	const char *in;
	const char *secret;
	const char *want;
} redact_case;

static void
test_redaction(void)
{
	static const redact_case cases[] = {
		{"connect to postgresql://app:s3cret@db/x failed", NULL, "connect to postgresql://app:***@db/x failed"},
		{"host=db password=s3cret user=app", NULL, "host=db password=*** user=app"},
		{"host=db password='s3 cr\\'et' user=app", NULL, "host=db password=*** user=app"},
		{"authentication failed: s3cret", "s3cret", "authentication failed: ***"},
		{"no secrets here", "s3cret", "no se***s here"},	/* "cret": a piece of the password */
		{"nothing to hide", "s3cret", "nothing to hide"},
		{"postgresql://app@db/x", NULL, "postgresql://app@db/x"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char		buf[256];

		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		gp_redact(buf, sizeof(buf), cases[i].secret);
		CHECK_MSG(strcmp(buf, cases[i].want) == 0, "got \"%s\" want \"%s\"", buf, cases[i].want);
	}
}

static void
test_kv_quoting(void)
{
	char		buf[256] = "";
	size_t		pos = 0;

	gp_kv_append(buf, sizeof(buf), &pos, "a", "plain");
	gp_kv_append(buf, sizeof(buf), &pos, "b", "two words");
	gp_kv_append(buf, sizeof(buf), &pos, "c", "say \"hi\"\n");
	gp_kv_append(buf, sizeof(buf), &pos, "d", "");
	CHECK_MSG(strcmp(buf, "a=plain b=\"two words\" c=\"say \\\"hi\\\"\\n\" d=\"\"") == 0, "%s", buf);

	/* never overflows */
	{
		char		small[8] = "";
		size_t		p = 0;

		gp_kv_append(small, sizeof(small), &p, "key", "a long value");
		CHECK(strlen(small) < sizeof(small));
	}
}

static void
test_status_names_are_stable(void)
{
	CHECK(strcmp(govpool_status_name(GOVPOOL_OK), "ok") == 0);
	CHECK(strcmp(govpool_status_name(GOVPOOL_ERR_TIMEOUT), "timeout") == 0);
	CHECK(strcmp(govpool_status_name(GOVPOOL_ERR_COMMIT_UNKNOWN), "commit_unknown") == 0);
	CHECK(GOVPOOL_ERR_CLOSED == 11);	/* values are never renumbered */
	CHECK(strcmp(govpool_circuit_name(GOVPOOL_CIRCUIT_HALF_OPEN), "half_open") == 0);
}

int
main(void)
{
	RUN(test_histogram_quantiles_within_bucket_error);
	RUN(test_redaction);
	RUN(test_kv_quoting);
	RUN(test_status_names_are_stable);
	return tap_done();
}
