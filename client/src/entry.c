/*
 * entry.c
 *	  One pooled connection: preparing a new one, closing it, and telling
 *	  whether an idle one is still alive.  (Connecting is a step of the
 *	  operation state machine, op.c.)
 *
 * An entry is owned by whoever holds its slot (see bag.c); nothing here
 * takes a lock.
 */

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "govpool_int.h"

/* Server notices go to the pool's logger (debug), not to libpq's stderr. */
static void
notice_to_log(void *arg, const char *message)
{
	govpool    *pool = arg;
	char		msg[512];
	size_t		n;

	snprintf(msg, sizeof(msg), "%s", message);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	gp_log(&pool->logger, GOVPOOL_LOG_DEBUG, "notice", "message", msg, (char *) NULL);
}

void
gp_entry_opened(govpool *pool, PGconn *conn)
{
	PQsetNoticeProcessor(conn, notice_to_log, pool);
	(void) PQsetnonblocking(conn, 1);
}

void
gp_entry_publish_pid(gp_entry *e)
{
	__atomic_store_n(&e->backend_pid, e->conn ? PQbackendPID(e->conn) : 0, __ATOMIC_RELAXED);
}

void
gp_entry_detach(gp_entry *e, gp_detached *d)
{
	/* unpublished before the backend goes: a report never claims it after */
	__atomic_store_n(&e->backend_pid, 0, __ATOMIC_RELAXED);
	d->conn = e->conn;
	d->stmts = e->stmts;
	e->conn = NULL;
	e->ctx_prepared = 0;		/* prepared statements die with their connection */
	e->stmts = NULL;
}

void
gp_detached_close(gp_detached *d)
{
	if (d->conn)
		PQfinish(d->conn);
	gp_stmt_cache_free(d->stmts);
}

void
gp_entry_close(gp_entry *e)
{
	gp_detached d;

	gp_entry_detach(e, &d);
	gp_detached_close(&d);
}

/*
 * Does the socket of an idle connection say it is dead?  No round trip:
 * poll() for readability / hang-up with a zero timeout.  An idle
 * connection has nothing to read unless the server sent something on its
 * own: a notice, a notification or a parameter change (fine, libpq
 * absorbs them), or an ErrorResponse followed by EOF when the backend was
 * terminated (pg_terminate_backend, shutdown, idle_session_timeout).  We
 * peek at the first byte to tell them apart; through TLS the bytes are
 * opaque, so a readable TLS socket is "unsure" and gets pre-pinged.
 */
gp_liveness
gp_entry_liveness(gp_entry *e)
{
	PGconn	   *conn = e->conn;
	struct pollfd pfd;
	int			rc;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK || PQsocket(conn) < 0)
		return GP_DEAD;
	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN | POLLRDHUP;
	pfd.revents = 0;
	do
		rc = poll(&pfd, 1, 0);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return GP_ALIVE;
	if (rc < 0 || (pfd.revents & (POLLHUP | POLLERR | POLLNVAL | POLLRDHUP)))
		return GP_DEAD;

	if (PQsslInUse(conn))
		return GP_UNSURE;
	{
		char		type;
		ssize_t		n = recv(pfd.fd, &type, 1, MSG_PEEK | MSG_DONTWAIT);

		if (n == 0)
			return GP_DEAD;		/* EOF */
		if (n < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? GP_ALIVE : GP_DEAD;
		if (type == 'E')
			return GP_DEAD;		/* FATAL sent while idle: backend is exiting */
	}
	/* N, A or S: let libpq consume it, drop notifications nobody asked for */
	if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
		return GP_DEAD;
	{
		PGnotify   *n;

		while ((n = PQnotifies(conn)) != NULL)
			PQfreemem(n);
	}
	return GP_ALIVE;
}

/* Drop a connection found broken (counted and logged once). */
void
gp_pool_invalidate(govpool *pool, gp_entry *e, const char *why)
{
	if (e->conn == NULL)
		return;					/* already dropped */
	GP_INC(pool->m.invalidated);
	gp_log(&pool->logger, GOVPOOL_LOG_WARN, "connection_invalidated", "reason", why, (char *) NULL);
	gp_entry_close(e);
}
