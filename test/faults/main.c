/*
 * main.c
 *	  Fault suite driver: real server faults under a governed load, seen
 *	  through libgovpool's public API only (govpool.h).
 *
 *	  faults [--short] crash|restart|terminate|breaker|exhaustion
 *
 * Runs one scenario against the throwaway cluster scripts/with-cluster
 * made; scripts/faults.sh runs each scenario in a cluster of its own.
 *
 * Output: one line per assertion, "ok      scenario/check: figures" or
 * "FAILED  scenario/check: what went wrong", and "# scenario: ..." lines
 * with the measured figures.  Exit status 0 only when every check passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const struct
{
	const char *name;
	void		(*run) (void);
}			scenarios[] = {
	{"crash", scenario_crash},
	{"restart", scenario_restart},
	{"terminate", scenario_terminate},
	{"breaker", scenario_breaker},
	{"exhaustion", scenario_exhaustion},
};

int
main(int argc, char **argv)
{
	int			argi = 1;
	size_t		i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argi < argc && strcmp(argv[argi], "--short") == 0)
	{
		short_run = true;
		argi++;
	}
	if (argi != argc - 1)
	{
		fprintf(stderr, "usage: faults [--short] crash|restart|terminate|breaker|exhaustion\n");
		return 2;
	}
	scenario = argv[argi];
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (strcmp(scenario, scenarios[i].name) == 0)
			break;
	if (i == sizeof(scenarios) / sizeof(scenarios[0]))
	{
		fprintf(stderr, "faults: unknown scenario %s\n", scenario);
		return 2;
	}
	log_verbose = getenv("FAULTS_VERBOSE") && strcmp(getenv("FAULTS_VERBOSE"), "0") != 0;
	if (getenv("FAULTS_WATCHDOG_MS") && atoi(getenv("FAULTS_WATCHDOG_MS")) > 0)
		call_watchdog_ms = atoi(getenv("FAULTS_WATCHDOG_MS"));
	scenario_deadline_ns = now_ns() + (int64_t) (short_run ? 150 : 600) * 1000000000;
	watchdog_start();

	scenarios[i].run();
	printf("# %s: %d checks passed, %d failed\n", scenario, checks_passed, checks_failed);
	return checks_failed ? 1 : 0;
}
