/*
 * test_reads.c
 *	  What a governed transaction costs the client in reads from its
 *	  socket: as many as the same statement sent ungoverned.  One
 *	  round trip is one send, one wait and one read; a read tried before
 *	  the answer can be there finds nothing (EAGAIN) and is a system call
 *	  per transaction for nothing (libgovpool made two of them per
 *	  govpool_run until 0.8: five system calls where the ungoverned
 *	  statement makes three).
 *
 * The reads are counted by defining recv() in this program: libpq calls
 * recv() through the dynamic linker, which finds this definition before
 * the C library's (and before a sanitizer's).  Only the reads on the
 * connection under test are counted, so the pool's housekeeper and the
 * admin connection do not disturb the count.  Counts, not timing.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "itest.h"

#define N 200

static govpool_context alice = {"alice", "acme", "req-reads"};

static int	watched_fd = -1;
static int	reads,
			empty_reads;

ssize_t		recv(int fd, void *buf, size_t len, int flags);

ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t		n = syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
	int			saved = errno;

	if (fd == __atomic_load_n(&watched_fd, __ATOMIC_RELAXED) && !(flags & MSG_PEEK))
	{
		__atomic_add_fetch(&reads, 1, __ATOMIC_RELAXED);
		if (n < 0 && (saved == EAGAIN || saved == EWOULDBLOCK))
			__atomic_add_fetch(&empty_reads, 1, __ATOMIC_RELAXED);
	}
	errno = saved;
	return n;
}

static void
watch(int fd)
{
	__atomic_store_n(&watched_fd, fd, __ATOMIC_RELAXED);
	__atomic_store_n(&reads, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&empty_reads, 0, __ATOMIC_RELAXED);
}

/* The reads of N ungoverned one-statement round trips on a connection of its own. */
static int
ungoverned_reads(void)
{
	const char *url = getenv("DATABASE_URL");
	PGconn	   *c = PQconnectdb(url ? url : "");
	int			n;

	PQclear(PQexec(c, "SELECT 1"));
	watch(PQsocket(c));
	for (int i = 0; i < N; i++)
		PQclear(PQexecParams(c, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0));
	n = __atomic_load_n(&reads, __ATOMIC_RELAXED);
	watch(-1);
	PQfinish(c);
	return n;
}

/* A pool of one connection, warmed up (the context and the statement prepared). */
static govpool *
warm_pool(const char *app, PGconn **conn)
{
	govpool    *p = itest_one_conn_pool(app, -1, GOVPOOL_PREPARE_AUTO, GOVPOOL_POOLER_NONE,
										GOVPOOL_RESET_ROLLBACK, NULL);
	govpool_error err;

	for (int i = 0; i < 3; i++)
		PQclear(govpool_run(p, &alice, "SELECT 1", 0, NULL, &err));
	*conn = itest_the_conn(p, &alice);
	return p;
}

static void
check_reads(const char *what, int ok, int raw)
{
	int			r = __atomic_load_n(&reads, __ATOMIC_RELAXED);
	int			e = __atomic_load_n(&empty_reads, __ATOMIC_RELAXED);

	/* a few reads may find an answer split in two; none may come early */
	CHECK_MSG(ok == N, "%s: %d of %d round trips succeeded", what, ok, N);
	CHECK_MSG(e <= N / 20, "%s: %d of %d reads found nothing in %d round trips", what, e, r, N);
	CHECK_MSG(r <= raw + N / 20, "%s: %d reads in %d round trips, the ungoverned statement %d", what, r, N, raw);
}

/*
 * Each test: the ungoverned statement's reads (*raw), then a warm pool
 * whose connection is watched from here on; NULL (the test is skipped)
 * through TLS, where OpenSSL reads a record's header and body separately:
 * two reads per answer for the ungoverned statement too.
 */
static govpool *
setup(const char *app, int *raw)
{
	PGconn	   *conn;
	govpool    *p;

	if (PQsslInUse(admin))
	{
		SKIP("the server connection uses TLS: OpenSSL makes two reads per record");
		return NULL;
	}
	*raw = ungoverned_reads();
	CHECK_MSG(*raw >= N && *raw <= N + N / 20, "ungoverned: %d reads in %d round trips", *raw, N);
	p = warm_pool(app, &conn);
	watch(PQsocket(conn));
	return p;
}

static void
test_govpool_run_reads_as_much_as_the_ungoverned_statement(void)
{
	int			raw;
	govpool    *p = setup("test_reads_run", &raw);
	govpool_error err;
	int			ok = 0;

	if (p == NULL)
		return;
	for (int i = 0; i < N; i++)
	{
		PGresult   *r = govpool_run(p, &alice, "SELECT 1", 0, NULL, &err);

		ok += r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK;
		PQclear(r);
	}
	check_reads("govpool_run", ok, raw);
	watch(-1);
	govpool_destroy(p);
}

static void
test_the_event_loop_path_reads_as_much(void)
{
	int			raw;
	govpool    *p = setup("test_reads_async", &raw);
	govpool_op *op;
	int			ok = 0;

	if (p == NULL)
		return;
	op = govpool_op_create(p);
	for (int i = 0; i < N; i++)
	{
		govpool_poll st;

		govpool_run_start(op, &alice, "SELECT 1", 0, NULL);
		for (;;)
		{
			govpool_wait w;
			struct pollfd pfd;

			st = govpool_op_poll(op, &w);
			if (st == GOVPOOL_POLL_OK || st == GOVPOOL_POLL_FAILED)
				break;
			pfd = (struct pollfd) {w.fd, (short) ((w.want_read ? POLLIN : 0) | (w.want_write ? POLLOUT : 0)), 0};
			(void) poll(w.fd >= 0 ? &pfd : NULL, w.fd >= 0 ? 1 : 0, govpool_wait_timeout_ms(&w));
		}
		if (st == GOVPOOL_POLL_OK)
		{
			PGresult   *r = govpool_op_result(op);

			ok += r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK;
			PQclear(r);
		}
	}
	check_reads("govpool_run_start", ok, raw);
	watch(-1);
	govpool_op_destroy(op);
	govpool_destroy(p);
}

static void
test_a_session_reads_once_per_round_trip(void)
{
	int			raw;
	govpool    *p = setup("test_reads_session", &raw);
	govpool_error err;
	int			ok = 0;

	if (p == NULL)
		return;
	/* begin + the first statement: one round trip; commit: another */
	for (int i = 0; i < N / 2; i++)
	{
		govpool_session *s = govpool_begin(p, &alice, -1, &err);
		PGresult   *r = s ? govpool_exec(s, "SELECT 1", 0, NULL, &err) : NULL;

		ok += r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK &&
			govpool_commit(s, &err) == GOVPOOL_OK;
		PQclear(r);
	}
	check_reads("begin/exec/commit", ok * 2, raw);
	watch(-1);
	govpool_destroy(p);
}

int
main(void)
{
	(void) session_pid;
	(void) count_substr;
	(void) terminate_and_wait;
	itest_connect_admin();
	itest_governance();
	RUN(test_govpool_run_reads_as_much_as_the_ungoverned_statement);
	RUN(test_the_event_loop_path_reads_as_much);
	RUN(test_a_session_reads_once_per_round_trip);
	PQfinish(admin);
	return tap_done();
}
