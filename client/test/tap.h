/*
 * tap.h
 *	  The few macros the client tests use: CHECK an expression, RUN a test,
 *	  SKIP one (with its reason, printed as "skip <test>: <reason>"), and
 *	  print the closing "N passed, N failed" line (counting tests; a
 *	  skipped test is neither, and "N skipped" precedes that line).
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <string.h>

static int	tap_passed,
			tap_failed,
			tap_skipped,
			tap_checks_failed;
static char tap_skip_reason[512];

/* In a test: record why it does not apply here; the caller then returns. */
#define SKIP(...) snprintf(tap_skip_reason, sizeof(tap_skip_reason), __VA_ARGS__)

#define CHECK_MSG(cond, ...) do { \
		if (!(cond)) { \
			tap_checks_failed++; \
			fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
		} } while (0)
#define CHECK(cond) CHECK_MSG(cond, "%s", "")

#define RUN(test) do { \
		int before = tap_checks_failed; \
		tap_skip_reason[0] = '\0'; \
		test(); \
		if (tap_checks_failed != before) tap_failed++; \
		else if (tap_skip_reason[0]) tap_skipped++; \
		else tap_passed++; \
		if (tap_checks_failed == before && tap_skip_reason[0]) \
			printf("skip %s: %s\n", #test, tap_skip_reason); \
		else \
			printf("%s %s\n", tap_checks_failed == before ? "ok  " : "FAIL", #test); \
		fflush(stdout); \
	} while (0)

static inline int
tap_done(void)
{
	if (tap_skipped)
		printf("%d skipped\n", tap_skipped);
	printf("%d passed, %d failed\n", tap_passed, tap_failed);
	return tap_failed ? 1 : 0;
}

#endif
