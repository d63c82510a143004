/*
 * load.c
 *	  The governed, audited write load of the crash, restart and terminate
 *	  scenarios, the check of what the clients were told against what the
 *	  server has, and the heal figures of an outage.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "harness.h"

/* ---- The governed write load (crash, restart, terminate) ---- */

static const char insert_sql[] = "INSERT INTO fault_t (id, worker, seq) VALUES ($1, $2, $3)";

static int	stop_load;			/* atomic */

/* A failure is "clear" when its status says what happened, with a message. */
static bool
clear_failure(const govpool_error *err)
{
	if (err->message[0] == '\0')
		return false;
	switch (err->kind)
	{
		case GOVPOOL_ERR_CONNECT:
		case GOVPOOL_ERR_TIMEOUT:
		case GOVPOOL_ERR_CIRCUIT_OPEN:
		case GOVPOOL_ERR_CONNECTION_LOST:
		case GOVPOOL_ERR_COMMIT_UNKNOWN:
			return true;
		case GOVPOOL_ERR_QUERY:
			/* the server said it is going away / not accepting: class 57 or 08 */
			return strncmp(err->sqlstate, "57", 2) == 0 || strncmp(err->sqlstate, "08", 2) == 0;
		default:
			return false;
	}
}

static void
note_bad(worker *w, const char *what, const govpool_error *err)
{
	if (w->n_bad++ == 0)
		snprintf(w->bad, sizeof(w->bad), "%s: %s [%s] %.200s", what, govpool_status_name(err->kind),
				 err->sqlstate, err->message);
}

/*
 * One governed transaction writing row id: two of three through govpool_run
 * (one round trip), every third as begin / exec / exec (checks the context
 * is the session's) / commit.
 */
static void
nb_wake(govpool_op *op, void *ud)
{
	uint64_t	one = 1;

	(void) op;
	if (write(*(int *) ud, &one, sizeof(one)) < 0)
		return;					/* the counter is full: a wake is pending anyway */
}

/*
 * govpool_run through the event-loop API: govpool_run_start, then
 * govpool_op_poll driven by poll() on the socket it names and on an
 * eventfd its wake callback writes (a queued checkout).
 */
static PGresult *
nb_run(worker *w, const govpool_context *ctx, const char *sql, int nparams,
	   const char *const *params, govpool_error *err)
{
	govpool_op *op = w->nb_op;
	int			efd = w->nb_efd;
	PGresult   *r = NULL;

	govpool_run_start(op, ctx, sql, nparams, params);
	for (;;)
	{
		govpool_wait wt;
		govpool_poll p = govpool_op_poll(op, &wt);
		struct pollfd pf[2];
		int			n = 0;

		if (p == GOVPOOL_POLL_OK || p == GOVPOOL_POLL_FAILED)
			break;
		if (p != GOVPOOL_POLL_TIMER && p != GOVPOOL_POLL_WAITING && wt.fd >= 0)
			pf[n++] = (struct pollfd) {wt.fd, (short) ((wt.want_read ? POLLIN : 0) |
													   (wt.want_write ? POLLOUT : 0)), 0};
		pf[n++] = (struct pollfd) {efd, POLLIN, 0};
		if (poll(pf, n, govpool_wait_timeout_ms(&wt)) > 0 && (pf[n - 1].revents & POLLIN))
		{
			uint64_t	v;

			if (read(efd, &v, sizeof(v)) < 0)
				v = 0;			/* nothing to drain */
		}
	}
	if (govpool_op_status(op) == GOVPOOL_OK)
		r = govpool_op_result(op);
	else
		*err = *govpool_op_error(op);
	return r;
}

static outcome
one_write(worker *w, int seq, govpool_error *err)
{
	char		ids[24],
				ws[12],
				seqs[12],
				agent[32],
				corr[40];
	const char *params[3] = {ids, ws, seqs};
	govpool_context ctx = {agent, "faults", corr};
	long long	id = (long long) w->id * ID_BASE + seq;
	PGresult   *r;

	snprintf(ids, sizeof(ids), "%lld", id);
	snprintf(ws, sizeof(ws), "%d", w->id);
	snprintf(seqs, sizeof(seqs), "%d", seq);
	snprintf(agent, sizeof(agent), "worker-%d", w->id);
	snprintf(corr, sizeof(corr), "op-%lld", id);

	if (seq % 3 != 2)
	{
		r = w->nonblocking ? nb_run(w, &ctx, insert_sql, 3, params, err) :
			govpool_run(w->pool, &ctx, insert_sql, 3, params, err);
		if (r)
		{
			bool		ok = PQresultStatus(r) == PGRES_COMMAND_OK;

			PQclear(r);
			if (!ok)
			{
				snprintf(err->message, sizeof(err->message), "govpool_run returned a non-command result");
				err->kind = GOVPOOL_ERR_MISUSE;
				return OUT_FAILED;	/* shows up as unclear: a bug */
			}
			return OUT_OK;
		}
		return err->kind == GOVPOOL_ERR_COMMIT_UNKNOWN ? OUT_UNKNOWN : OUT_FAILED;
	}
	else
	{
		govpool_session *s = govpool_begin(w->pool, &ctx, -1, err);
		govpool_status st;

		if (s == NULL)
			return OUT_FAILED;
		if ((r = govpool_exec(s, insert_sql, 3, params, err)) == NULL)
		{
			govpool_rollback(s);
			return OUT_FAILED;
		}
		PQclear(r);
		if ((r = govpool_exec(s, "SELECT governance.agent_id(), governance.correlation_id()",
							  0, NULL, err)) == NULL)
		{
			govpool_rollback(s);
			return OUT_FAILED;
		}
		if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), agent) != 0 ||
			strcmp(PQgetvalue(r, 0, 1), corr) != 0)
		{
			snprintf(err->message, sizeof(err->message), "session context is %s/%s, expected %s/%s",
					 PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), agent, corr);
			err->kind = GOVPOOL_ERR_MISUSE;
			PQclear(r);
			govpool_rollback(s);
			return OUT_FAILED;
		}
		PQclear(r);
		st = govpool_commit(s, err);
		if (st == GOVPOOL_OK)
			return OUT_OK;
		return st == GOVPOOL_ERR_COMMIT_UNKNOWN ? OUT_UNKNOWN : OUT_FAILED;
	}
}

static void *
worker_main(void *arg)
{
	worker	   *w = arg;

	for (int seq = 0; !__atomic_load_n(&stop_load, __ATOMIC_RELAXED); seq++)
	{
		govpool_error err;
		op			o;

		if (seq >= ID_BASE)
			break;
		if (w->n_ops == w->cap)
		{
			int			cap = w->cap ? w->cap * 2 : 1024;
			op		   *ops = realloc(w->ops, cap * sizeof(op));

			if (ops == NULL)
			{
				fprintf(stderr, "out of memory\n");
				_exit(2);
			}
			w->ops = ops;
			w->cap = cap;
		}
		memset(&err, 0, sizeof(err));
		o.start_ns = now_ns();
		watch_begin(w->slot, seq % 3 != 2 ? "govpool_run" : "govpool_begin/exec/commit",
					call_watchdog_ms);
		o.outcome = (uint8_t) one_write(w, seq, &err);
		watch_end(w->slot);
		o.end_ns = now_ns();
		o.kind = (uint8_t) (o.outcome == OUT_OK ? GOVPOOL_OK : err.kind);
		w->ops[w->n_ops++] = o;
		if (o.outcome == OUT_OK)
		{
			__atomic_store_n(&w->last_ok_start_ns, o.start_ns, __ATOMIC_RELAXED);
			__atomic_add_fetch(&w->n_ok, 1, __ATOMIC_RELAXED);
		}
		else
		{
			if (!clear_failure(&err))
				note_bad(w, "unclear failure", &err);
			if (log_verbose)
				fprintf(stderr, "t=%.6f worker %d seq %d failed after %.1f ms: %s [%s] %s\n",
						secs(o.end_ns), w->id, seq, msecs(o.end_ns - o.start_ns),
						govpool_status_name(err.kind), err.sqlstate, err.message);
			__atomic_add_fetch(&w->n_fail, 1, __ATOMIC_RELAXED);
			sleep_ms(10);		/* the application's own pacing after a failure */
		}
	}
	return NULL;
}

void
load_setup_table(void)
{
	PQclear(admin_query("CREATE EXTENSION IF NOT EXISTS pg_governance"));
	PQclear(admin_query("DROP TABLE IF EXISTS fault_t"));
	PQclear(admin_query("CREATE TABLE fault_t (id bigint PRIMARY KEY, worker int NOT NULL, "
						"seq int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())"));
	PQclear(admin_query("SELECT governance.enable_audit('fault_t'::regclass)"));
}

void
load_start(load *l, govpool *pool, int n, int n_nonblocking)
{
	memset(l, 0, sizeof(*l));
	l->n = n;
	l->pool = pool;
	__atomic_store_n(&stop_load, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++)
	{
		l->w[i].id = i + 1;
		l->w[i].slot = watch_slot();
		l->w[i].pool = pool;
		l->w[i].nb_efd = -1;
		if (i < n_nonblocking)
		{
			l->w[i].nonblocking = true;
			if ((l->w[i].nb_op = govpool_op_create(pool)) == NULL ||
				(l->w[i].nb_efd = eventfd(0, EFD_NONBLOCK)) < 0)
				die("govpool_op_create / eventfd failed");
			govpool_op_set_wake(l->w[i].nb_op, nb_wake, &l->w[i].nb_efd);
		}
		if (pthread_create(&l->w[i].th, NULL, worker_main, &l->w[i]) != 0)
			die("pthread_create failed");
	}
}

void
load_stop(load *l)
{
	__atomic_store_n(&stop_load, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < l->n; i++)
	{
		pthread_join(l->w[i].th, NULL);
		govpool_op_destroy(l->w[i].nb_op);
		l->w[i].nb_op = NULL;
		if (l->w[i].nb_efd >= 0)
			close(l->w[i].nb_efd);
		l->w[i].nb_efd = -1;
	}
}

void
load_free(load *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->w[i].ops);
}

long
load_ok(load *l)
{
	long		n = 0;

	for (int i = 0; i < l->n; i++)
		n += __atomic_load_n(&l->w[i].n_ok, __ATOMIC_RELAXED);
	return n;
}

long
load_failed(load *l)
{
	long		n = 0;

	for (int i = 0; i < l->n; i++)
		n += __atomic_load_n(&l->w[i].n_fail, __ATOMIC_RELAXED);
	return n;
}

/* Wait (with a deadline) until the load has committed `more` transactions. */
bool
load_wait_ok(load *l, long more, int timeout_s)
{
	long		target = load_ok(l) + more;
	int64_t		deadline = now_ns() + (int64_t) timeout_s * 1000000000;

	while (load_ok(l) < target)
	{
		if (now_ns() > deadline)
			return check(false, "load_progress", "%ld of %ld transactions committed within %d s",
						 load_ok(l) - (target - more), more, timeout_s);
		sleep_ms(5);
	}
	return true;
}

/* Wait until every worker committed a transaction it started at or after t. */
bool
load_wait_healed(load *l, int64_t t, int timeout_s)
{
	int64_t		deadline = now_ns() + (int64_t) timeout_s * 1000000000;

	for (;;)
	{
		int			healed = 0;

		for (int i = 0; i < l->n; i++)
			if (__atomic_load_n(&l->w[i].last_ok_start_ns, __ATOMIC_RELAXED) >= t)
				healed++;
		if (healed == l->n)
			return true;
		if (now_ns() > deadline)
			return check(false, "pool_heals", "only %d of %d clients succeeded again within %d s "
						 "of the server being back", healed, l->n, timeout_s);
		sleep_ms(5);
	}
}

/* Failures by status, e.g. "connect=12 circuit_open=40". */
void
failures_by_status(load *l, char *buf, size_t size)
{
	long		by[32] = {0};
	size_t		pos = 0;

	for (int i = 0; i < l->n; i++)
		for (int j = 0; j < l->w[i].n_ops; j++)
			if (l->w[i].ops[j].outcome != OUT_OK && l->w[i].ops[j].kind < 32)
				by[l->w[i].ops[j].kind]++;
	buf[0] = '\0';
	for (int k = 0; k < 32; k++)
		if (by[k] && pos < size)
			pos += snprintf(buf + pos, size - pos, "%s%s=%ld", pos ? " " : "",
							govpool_status_name((govpool_status) k), by[k]);
	if (pos == 0)
		snprintf(buf, size, "none");
}

void
check_clear_errors(load *l)
{
	int			bad = 0;
	const char *first = "";

	for (int i = 0; i < l->n; i++)
		if (l->w[i].n_bad)
		{
			if (bad == 0)
				first = l->w[i].bad;
			bad += l->w[i].n_bad;
		}
	if (bad)
		check(false, "failures_are_clear", "%d failures without a clear status and message, "
			  "first: %s", bad, first);
	else
		check(true, "failures_are_clear", "every failure came back as a govpool status with a message");
}

/*
 * Compare what the clients were told with what the server has: every
 * acknowledged commit is there with exactly one audit row carrying its
 * context, every row is one the API reported committed or unknown, every
 * audit row has its change.
 */
void
verify_data(load *l)
{
	uint8_t    *present[MAX_WORKERS],
			   *audits[MAX_WORKERS];
	long		ok = 0,
				unknown = 0,
				unknown_present = 0,
				failed = 0;
	long		ok_missing = 0,
				failed_present = 0,
				stray_rows = 0,
				missing_audit = 0,
				dup_audit = 0,
				stray_audit = 0,
				bad_ctx = 0,
				rows = 0,
				audit_rows = 0;
	PGresult   *r;
	char		by[512];

	for (int i = 0; i < l->n; i++)
	{
		present[i] = calloc(l->w[i].n_ops + 1, 1);
		audits[i] = calloc(l->w[i].n_ops + 1, 1);
		if (!present[i] || !audits[i])
			die("out of memory");
	}
	r = admin_query("SELECT id FROM fault_t");
	rows = PQntuples(r);
	for (int i = 0; i < PQntuples(r); i++)
	{
		long long	id = atoll(PQgetvalue(r, i, 0));
		long long	w = id / ID_BASE - 1,
					seq = id % ID_BASE;

		if (w < 0 || w >= l->n || seq >= l->w[w].n_ops)
			stray_rows++;
		else
			present[w][seq] = 1;
	}
	PQclear(r);
	r = admin_query("SELECT (new_row->>'id')::bigint, agent_id, correlation_id, tenant_id "
					"FROM governance.audit_log WHERE relid = 'fault_t'::regclass AND op = 'INSERT'");
	audit_rows = PQntuples(r);
	for (int i = 0; i < PQntuples(r); i++)
	{
		long long	id = atoll(PQgetvalue(r, i, 0));
		long long	w = id / ID_BASE - 1,
					seq = id % ID_BASE;
		char		agent[32],
					corr[40];

		if (w < 0 || w >= l->n || seq >= l->w[w].n_ops || !present[w][seq])
		{
			stray_audit++;
			continue;
		}
		if (audits[w][seq] < 255)
			audits[w][seq]++;
		snprintf(agent, sizeof(agent), "worker-%lld", w + 1);
		snprintf(corr, sizeof(corr), "op-%lld", id);
		if (strcmp(PQgetvalue(r, i, 1), agent) != 0 || strcmp(PQgetvalue(r, i, 2), corr) != 0 ||
			strcmp(PQgetvalue(r, i, 3), "faults") != 0)
			bad_ctx++;
	}
	PQclear(r);

	for (int i = 0; i < l->n; i++)
	{
		for (int j = 0; j < l->w[i].n_ops; j++)
		{
			switch (l->w[i].ops[j].outcome)
			{
				case OUT_OK:
					ok++;
					if (!present[i][j])
						ok_missing++;
					break;
				case OUT_UNKNOWN:
					unknown++;
					if (present[i][j])
						unknown_present++;
					break;
				default:
					failed++;
					if (present[i][j])
						failed_present++;
					break;
			}
			if (present[i][j] && audits[i][j] == 0)
				missing_audit++;
			if (audits[i][j] > 1)
				dup_audit++;
		}
		free(present[i]);
		free(audits[i]);
	}

	check(ok > 0 && ok_missing == 0, "acknowledged_commits_survive",
		  "%ld of %ld transactions the API reported committed are missing", ok_missing, ok);
	check(missing_audit == 0 && dup_audit == 0 && bad_ctx == 0, "every_change_has_its_audit_row",
		  "%ld rows, %ld audit rows: %ld without an audit row, %ld with more than one, "
		  "%ld audit rows with the wrong context", rows, audit_rows, missing_audit, dup_audit, bad_ctx);
	check(stray_audit == 0, "no_audit_row_without_its_change",
		  "%ld audit rows whose row does not exist", stray_audit);
	check(failed_present == 0 && stray_rows == 0, "reported_failures_did_not_commit",
		  "%ld rows of transactions the API reported as not committed, %ld rows nobody wrote",
		  failed_present, stray_rows);
	failures_by_status(l, by, sizeof(by));
	figure("committed=%ld commit_unknown=%ld (%ld committed, %ld not) failed=%ld; "
		   "failures by status: %s", ok, unknown, unknown_present, unknown - unknown_present,
		   failed, by);
}

/*
 * Heal figures of one outage, from the op records: a client healed at the
 * end of its first successful op that started after pg_ctl was invoked
 * and ended after the server accepted connections again (it can only have
 * committed on the new server).  After the last client healed, no op may
 * fail until the next outage.
 */
long
outage_report(load *l, const outage *o, int k, int64_t *heal_all_ns, int64_t *heal_first_ns)
{
	int64_t		first = INT64_MAX,
				last = 0;
	int			healed = 0;
	long		after = 0,
				after_failed = 0,
				failed = 0;

	for (int i = 0; i < l->n; i++)
	{
		for (int j = 0; j < l->w[i].n_ops; j++)
		{
			const op   *p = &l->w[i].ops[j];

			if (p->outcome != OUT_OK && p->end_ns >= o->t_stop && p->end_ns < o->t_end)
				failed++;
		}
		for (int j = 0; j < l->w[i].n_ops; j++)
		{
			const op   *p = &l->w[i].ops[j];

			if (p->outcome == OUT_OK && p->start_ns >= o->t_stop && p->end_ns >= o->t_up)
			{
				healed++;
				if (p->end_ns < first)
					first = p->end_ns;
				if (p->end_ns > last)
					last = p->end_ns;
				break;
			}
		}
	}
	for (int i = 0; i < l->n && healed == l->n; i++)
		for (int j = 0; j < l->w[i].n_ops; j++)
		{
			const op   *p = &l->w[i].ops[j];

			if (p->start_ns >= last && p->end_ns < o->t_end)
			{
				after++;
				if (p->outcome != OUT_OK)
					after_failed++;
			}
		}
	if (!check(healed == l->n, "pool_heals", "outage %d: %d of %d clients succeeded again", k,
			   healed, l->n))
		return failed;
	check(after_failed == 0, "no_failures_after_healing",
		  "outage %d: %ld of %ld transactions started after the pool healed failed",
		  k, after_failed, after);
	*heal_all_ns = last - o->t_up;
	*heal_first_ns = first - o->t_up;
	figure("outage %d: server unavailable %.2f s (refusing %.2f s after pg_ctl was invoked); "
		   "first success %.3f s, all %d clients healed %.3f s after the server accepted "
		   "connections again; %ld sessions failed", k, secs(o->t_up - o->t_down),
		   secs(o->t_down - o->t_stop), secs(first - o->t_up), l->n, secs(last - o->t_up), failed);
	return failed;
}

/*
 * Under the running load: `cycles` times, wait for `before` commits, make
 * an outage (make fills o[k]'s times), wait until every client committed a
 * transaction it started after the server went down; then `after` more
 * commits, and stop the load.  Returns how many outages completed (a load
 * that stops making progress or does not heal is reported and ends it).
 */
int
load_outages(load *l, outage *o, int cycles, long before, long after,
			 void (*make) (load *l, outage *o, void *arg), void *arg)
{
	for (int k = 0; k < cycles; k++)
	{
		if (!load_wait_ok(l, before, 120))
		{
			cycles = k;
			break;
		}
		make(l, &o[k], arg);
		if (k > 0)
			o[k - 1].t_end = o[k].t_stop;
		if (!load_wait_healed(l, o[k].t_down, 60))
		{
			cycles = k;			/* reported there; verify what we have */
			break;
		}
	}
	if (cycles > 0)
		load_wait_ok(l, after, 120);
	load_stop(l);
	if (cycles > 0)
		o[cycles - 1].t_end = INT64_MAX;
	return cycles;
}
