/*
 * epoll_sessions.c
 *	  One thread, one epoll loop, thousands of governed sessions in flight
 *	  on a small pool: the shape to copy for an event-loop service.
 *
 *	  build/examples/epoll_sessions [IN_FLIGHT [TRANSACTIONS [run|session]]]
 *
 * The pool comes from the environment as usual (DATABASE_URL or PG*,
 * DATABASE_POOL_SIZE, DATABASE_POOL_TIMEOUT, DATABASE_ECHO=false, ...).  Each "client" is one
 * govpool_op that does, over and over, a governed one-statement
 * transaction (run) or a session (begin, exec, commit), until TRANSACTIONS
 * have been done in all.  Prints transactions per second and what a
 * request in flight costs in memory.
 *
 * The pattern:
 *   - start an operation, then call govpool_op_poll() and do what the
 *     govpool_wait says: watch w.fd (read/write), or wait for the wake
 *     callback (queued for a connection), or just the deadline;
 *   - the socket can change from one poll to the next: (re)register it;
 *   - a file descriptor number can be reused by another connection as soon
 *     as the library closes one, so keep a table of which client owns
 *     which registered fd and never remove a registration you don't own;
 *   - the wake callback only queues the client (it runs with a pool lock
 *     held, maybe in another thread if other threads use the pool).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include "govpool.h"

typedef enum step
{
	ST_BEGIN,
	ST_EXEC,
	ST_COMMIT,
	ST_RUN
} step;

typedef struct client
{
	govpool_op *op;
	step		st;
	govpool_session *session;
	int			fd;				/* registered fd, -1 none */
	int64_t		deadline_ns;	/* when to poll anyway, -1 none */
	bool		ready;			/* on the ready list */
	struct client *next_ready;
	int			id;
} client;

static int	ep;
static client **fd_owner;		/* fd -> client whose registration it is */
static int	fd_max;
static client *ready_head;
static long remaining,
			committed,
			failed;
static bool session_mode;
static govpool_context ctx = {"example-agent", "example-tenant", NULL};

static void
make_ready(client *c)
{
	if (c->ready)
		return;
	c->ready = true;
	c->next_ready = ready_head;
	ready_head = c;
}

/* Wake callback: a queued checkout was granted.  Only take note. */
static void
on_wake(govpool_op *op, void *userdata)
{
	(void) op;
	make_ready(userdata);
}

static void
watch(client *c, const govpool_wait *w)
{
	struct epoll_event ev = {0};

	if (c->fd >= 0 && c->fd != w->fd)
	{
		/* our old socket: forget it, unless it was closed and reused by another */
		if (c->fd < fd_max && fd_owner[c->fd] == c)
		{
			(void) epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			fd_owner[c->fd] = NULL;
		}
		c->fd = -1;
	}
	c->deadline_ns = w->deadline_ns;
	if (w->fd < 0)
		return;
	if (w->fd >= fd_max)
	{
		fprintf(stderr, "fd %d beyond the table\n", w->fd);
		exit(1);
	}
	ev.events = (w->want_read ? EPOLLIN : 0) | (w->want_write ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(ep, c->fd == w->fd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->fd, &ev) != 0)
	{
		/* a stale registration of a closed and reused number: take it over */
		if (epoll_ctl(ep, errno == EEXIST ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->fd, &ev) != 0)
		{
			perror("epoll_ctl");
			exit(1);
		}
	}
	c->fd = w->fd;
	fd_owner[w->fd] = c;
}

/* Start the client's next operation; false when no work is left. */
static bool
start_next(client *c)
{
	char		id[16];
	const char *params[1] = {id};

	snprintf(id, sizeof(id), "%d", c->id);
	switch (c->st)
	{
		case ST_BEGIN:
			if (remaining <= 0)
				return false;
			remaining--;
			govpool_begin_start(c->op, &ctx, -1);
			return true;
		case ST_EXEC:
			govpool_exec_start(c->op, c->session, "SELECT $1::int", 1, params);
			return true;
		case ST_COMMIT:
			govpool_commit_start(c->op, c->session);
			return true;
		case ST_RUN:
			if (remaining <= 0)
				return false;
			remaining--;
			govpool_run_start(c->op, &ctx, "SELECT $1::int", 1, params);
			return true;
	}
	return false;
}

/* The operation finished: take its outcome, move the client on. */
static void
finished(client *c, govpool_poll p)
{
	PQclear(govpool_op_result(c->op));
	if (p == GOVPOOL_POLL_FAILED)
	{
		const govpool_error *e = govpool_op_error(c->op);

		if (failed++ < 5)
			fprintf(stderr, "client %d: %s: %s\n", c->id, govpool_status_name(e->kind), e->message);
	}
	switch (c->st)
	{
		case ST_BEGIN:
			c->session = govpool_op_session(c->op);
			c->st = c->session ? ST_EXEC : ST_BEGIN;
			break;
		case ST_EXEC:
			c->st = ST_COMMIT;	/* a failed exec: commit reports rolled back, ends it */
			break;
		case ST_COMMIT:
			committed += p == GOVPOOL_POLL_OK;
			c->session = NULL;
			c->st = ST_BEGIN;
			break;
		case ST_RUN:
			committed += p == GOVPOOL_POLL_OK;
			break;
	}
}

/* Poll a client until it waits (or runs out of work). */
static bool
advance(client *c)
{
	for (;;)
	{
		govpool_wait w;
		govpool_poll p = govpool_op_poll(c->op, &w);

		if (p != GOVPOOL_POLL_OK && p != GOVPOOL_POLL_FAILED)
		{
			watch(c, &w);
			return true;
		}
		finished(c, p);
		if (!start_next(c))
		{
			w.fd = -1;
			w.deadline_ns = -1;
			watch(c, &w);
			return false;
		}
	}
}

int
main(int argc, char **argv)
{
	int			n = argc > 1 ? atoi(argv[1]) : 1000;
	long		total = argc > 2 ? atol(argv[2]) : 20000;
	govpool_config cfg;
	govpool_error err;
	govpool    *pool;
	client	   *clients;
	int			active = 0;
	int64_t		t0,
				t1,
				last_scan = 0;
	struct rlimit rl;
	struct epoll_event *events;

	session_mode = argc > 3 && strcmp(argv[3], "session") == 0;
	if (n < 1 || total < 1)
	{
		fprintf(stderr, "usage: %s [IN_FLIGHT [TRANSACTIONS [run|session]]]\n", argv[0]);
		return 2;
	}
	if (govpool_config_from_env(&cfg, &err) != GOVPOOL_OK)
	{
		fprintf(stderr, "%s\n", err.message);
		return 1;
	}
	pool = govpool_create(&cfg, &err);
	if (pool == NULL || err.kind != GOVPOOL_OK)
	{
		fprintf(stderr, "govpool_create: %s\n", pool ? err.message : "out of memory");
		govpool_destroy(pool);
		return 1;
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	fd_max = (int) (rl.rlim_cur > 1048576 ? 1048576 : rl.rlim_cur);
	fd_owner = calloc((size_t) fd_max, sizeof(client *));
	ep = epoll_create1(EPOLL_CLOEXEC);
	clients = calloc((size_t) n, sizeof(client));
	events = calloc((size_t) n, sizeof(*events));
	if (!fd_owner || !clients || !events || ep < 0)
	{
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	remaining = total;

	t0 = govpool_now_ns();
	for (int i = 0; i < n; i++)
	{
		client	   *c = &clients[i];

		c->id = i;
		c->fd = -1;
		c->deadline_ns = -1;
		c->st = session_mode ? ST_BEGIN : ST_RUN;
		c->op = govpool_op_create(pool);
		if (c->op == NULL)
		{
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		govpool_op_set_wake(c->op, on_wake, c);
		if (start_next(c))
		{
			active++;
			make_ready(c);
		}
	}

	while (active > 0)
	{
		int			got;
		int64_t		now;

		/* everything woken or started: poll it until it waits */
		while (ready_head)
		{
			client	   *c = ready_head;

			ready_head = c->next_ready;
			c->ready = false;
			if (!advance(c))
				active--;
		}
		if (active == 0)
			break;
		got = epoll_wait(ep, events, n, 100);
		for (int i = 0; i < got; i++)
			make_ready(events[i].data.ptr);
		/* deadlines (queue timeouts, connect timeouts, back-off): a coarse scan */
		now = govpool_now_ns();
		if (now - last_scan >= 100000000)
		{
			last_scan = now;
			for (int i = 0; i < n; i++)
				if (clients[i].deadline_ns >= 0 && clients[i].deadline_ns <= now)
					make_ready(&clients[i]);
		}
	}
	t1 = govpool_now_ns();

	{
		govpool_stats st;

		govpool_stats_get(pool, &st);
		printf("mode=%s in_flight=%d pool_size=%d transactions=%ld committed=%ld failed=%ld "
			   "seconds=%.3f tx_per_s=%.0f max_connections=%d threads=1 "
			   "bytes_per_request_in_flight=%zu\n",
			   session_mode ? "session" : "run", n, st.pool_size, total, committed, failed,
			   (double) (t1 - t0) / 1e9, (double) committed / ((double) (t1 - t0) / 1e9),
			   st.pool_size + st.max_overflow, govpool_op_size() + sizeof(client));
	}
	for (int i = 0; i < n; i++)
		govpool_op_destroy(clients[i].op);
	govpool_destroy(pool);
	free(clients);
	free(events);
	free(fd_owner);
	return failed ? 1 : 0;
}
