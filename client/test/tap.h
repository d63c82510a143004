/*
 * tap.h
 *	  The few macros the client tests use: CHECK an expression, RUN a test,
 *	  and print the closing "N passed, N failed" line (counting tests).
 */
#ifndef TAP_H
#define TAP_H

#include <stdio.h>
#include <string.h>

static int	tap_passed,
			tap_failed,
			tap_checks_failed;

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
		test(); \
		if (tap_checks_failed == before) tap_passed++; else tap_failed++; \
		printf("%s %s\n", tap_checks_failed == before ? "ok  " : "FAIL", #test); \
		fflush(stdout); \
	} while (0)

static inline int
tap_done(void)
{
	printf("%d passed, %d failed\n", tap_passed, tap_failed);
	return tap_failed ? 1 : 0;
}

#endif
