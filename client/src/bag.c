/*
 * bag.c
 *	  The pool's concurrency: borrow, give back and remove over per-slot
 *	  state, with FIFO waiters.
 *
 * Locking contract: every field of gp_bag and gp_entry.state change only
 * under bag->lock.  The connection inside an entry belongs to whoever
 * borrowed the slot and is never touched here.
 *
 * The bag counts nothing: what a borrow cost (waits, timeouts) is recorded
 * by its caller in the pool's metrics (stats.c).
 *
 * Fairness: a caller that finds no idle connection and no free slot queues
 * a waiter with its own condition variable.  Giving back hands the entry
 * straight to the first waiter (or, when the connection is gone, hands it
 * the slot to open a new one) and signals only that waiter: first come,
 * first served, no thundering herd, and no newcomer can barge in between.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "govpool_int.h"

int
gp_bag_init(gp_bag *bag, int keep, int capacity)
{
	memset(bag, 0, sizeof(*bag));
	bag->slots = calloc(capacity > 0 ? capacity : 1, sizeof(gp_entry));
	if (bag->slots == NULL)
		return -1;
	bag->capacity = capacity;
	bag->keep = keep;
	for (int i = capacity - 1; i >= 0; i--)
	{
		bag->slots[i].index = i;
		bag->slots[i].state = GP_SLOT_EMPTY;
	}
	pthread_mutex_init(&bag->lock, NULL);
	return 0;
}

void
gp_bag_destroy(gp_bag *bag)
{
	pthread_mutex_destroy(&bag->lock);
	free(bag->slots);
	bag->slots = NULL;
}

/* A free slot, or NULL.  Slots are few; a scan is cheap and only on growth. */
static gp_entry *
find_empty(gp_bag *bag)
{
	for (int i = 0; i < bag->capacity; i++)
		if (bag->slots[i].state == GP_SLOT_EMPTY)
			return &bag->slots[i];
	return NULL;
}

static int
n_open(const gp_bag *bag)
{
	return bag->n_idle + bag->n_in_use + bag->n_opening;
}

static void free_slot(gp_bag *bag, gp_entry *e);

/* Under the lock: unlink an IDLE entry from the idle stack. */
static void
unlink_idle(gp_bag *bag, gp_entry *e)
{
	if (e->prev_idle)
		e->prev_idle->next_idle = e->next_idle;
	else
		bag->idle = e->next_idle;
	if (e->next_idle)
		e->next_idle->prev_idle = e->prev_idle;
	else
		bag->idle_oldest = e->prev_idle;
	e->next_idle = e->prev_idle = NULL;
	bag->n_idle--;
}

/*
 * Under the lock: take an idle entry or a free slot, or NULL.  A free slot
 * is only taken when nobody queues before us (FIFO).
 */
static gp_borrow_result
take_now(gp_bag *bag, gp_entry **out)
{
	gp_entry   *e;

	if (bag->idle)
	{
		e = bag->idle;
		unlink_idle(bag, e);
		e->state = GP_SLOT_IN_USE;
		bag->n_in_use++;
		*out = e;
		return GP_BORROW_IDLE;
	}
	if (n_open(bag) < bag->capacity && bag->wait_head == NULL)
	{
		e = find_empty(bag);
		e->state = GP_SLOT_OPENING;
		bag->n_opening++;
		*out = e;
		return GP_BORROW_OPEN;
	}
	return GP_BORROW_QUEUED;
}

/* Under the lock: unlink w from the FIFO (it must be queued). */
static void
unlink_waiter(gp_bag *bag, gp_waiter *w)
{
	gp_waiter **pp = &bag->wait_head;
	gp_waiter  *prev = NULL;

	while (*pp != w)
	{
		prev = *pp;
		pp = &(*pp)->next;
	}
	*pp = w->next;
	if (bag->wait_tail == w)
		bag->wait_tail = prev;
	bag->n_waiters--;
	w->queued = false;
}

gp_borrow_result
gp_bag_try_borrow(gp_bag *bag, gp_waiter *w, int64_t deadline_ns, gp_entry **out)
{
	gp_borrow_result r;
	int64_t		now;

	pthread_mutex_lock(&bag->lock);
	if (bag->closed)
	{
		pthread_mutex_unlock(&bag->lock);
		return GP_BORROW_CLOSED;
	}
	r = take_now(bag, out);
	if (r != GP_BORROW_QUEUED)
	{
		pthread_mutex_unlock(&bag->lock);
		return r;
	}
	/* exhausted: queue up, or give up at once */
	now = gp_now_ns();
	if (w == NULL || deadline_ns < 0 || deadline_ns <= now)
	{
		pthread_mutex_unlock(&bag->lock);
		return GP_BORROW_TIMEOUT;
	}
	w->granted = NULL;
	w->done = false;
	w->queued = true;
	w->next = NULL;
	w->since_ns = now;
	if (bag->wait_tail)
		bag->wait_tail->next = w;
	else
		bag->wait_head = w;
	bag->wait_tail = w;
	bag->n_waiters++;
	pthread_mutex_unlock(&bag->lock);
	return GP_BORROW_QUEUED;
}

/* Under the lock: the outcome of a queued waiter at now_ns. */
static gp_borrow_result
check_waiter(gp_bag *bag, gp_waiter *w, int64_t now_ns, int64_t deadline_ns, gp_entry **out)
{
	gp_borrow_result r;

	if (w->done)
	{
		*out = w->granted;
		w->done = false;
		r = w->granted->state == GP_SLOT_OPENING ? GP_BORROW_OPEN : GP_BORROW_IDLE;
	}
	else if (bag->closed || now_ns >= deadline_ns)
	{
		unlink_waiter(bag, w);
		r = bag->closed ? GP_BORROW_CLOSED : GP_BORROW_TIMEOUT;
	}
	else
		return GP_BORROW_QUEUED;
	return r;
}

gp_borrow_result
gp_bag_check_wait(gp_bag *bag, gp_waiter *w, int64_t deadline_ns, gp_entry **out)
{
	gp_borrow_result r;

	pthread_mutex_lock(&bag->lock);
	r = check_waiter(bag, w, gp_now_ns(), deadline_ns, out);
	pthread_mutex_unlock(&bag->lock);
	return r;
}

gp_borrow_result
gp_bag_wait(gp_bag *bag, gp_waiter *w, int64_t deadline_ns, gp_entry **out)
{
	gp_borrow_result r;

	pthread_mutex_lock(&bag->lock);
	for (;;)
	{
		struct timespec ts;

		r = check_waiter(bag, w, gp_now_ns(), deadline_ns, out);
		if (r != GP_BORROW_QUEUED)
			break;
		ts.tv_sec = deadline_ns / 1000000000;
		ts.tv_nsec = deadline_ns % 1000000000;
		pthread_cond_timedwait(w->cond, &bag->lock, &ts);
	}
	pthread_mutex_unlock(&bag->lock);
	return r;
}

gp_entry *
gp_bag_abandon(gp_bag *bag, gp_waiter *w)
{
	gp_entry   *granted = NULL;

	pthread_mutex_lock(&bag->lock);
	if (w->done)
	{
		granted = w->granted;
		w->done = false;
	}
	else if (w->queued)
		unlink_waiter(bag, w);
	pthread_mutex_unlock(&bag->lock);
	return granted;
}

gp_borrow_result
gp_bag_borrow(gp_bag *bag, int64_t deadline_ns, gp_entry **out)
{
	gp_waiter	w;
	pthread_cond_t cond;
	gp_borrow_result r;

	memset(&w, 0, sizeof(w));
	r = gp_bag_try_borrow(bag, &w, deadline_ns, out);
	if (r != GP_BORROW_QUEUED)
		return r;
	/* queued: w is linked, but nobody signals before w.cond is set (lock) */
	{
		pthread_condattr_t attr;

		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&cond, &attr);
		pthread_condattr_destroy(&attr);
	}
	pthread_mutex_lock(&bag->lock);
	w.cond = &cond;
	pthread_mutex_unlock(&bag->lock);
	r = gp_bag_wait(bag, &w, deadline_ns, out);
	pthread_cond_destroy(&cond);
	return r;
}

/* Under the lock: pop the first waiter, or NULL. */
static gp_waiter *
pop_waiter(gp_bag *bag)
{
	gp_waiter  *w = bag->wait_head;

	if (w)
	{
		bag->wait_head = w->next;
		if (bag->wait_head == NULL)
			bag->wait_tail = NULL;
		bag->n_waiters--;
		w->queued = false;
	}
	return w;
}

/*
 * Under the lock: tell a popped waiter it has been granted w->granted.  A
 * blocked thread is signalled; a non-blocking operation's wake callback is
 * called (with the lock held: it may only take note, see govpool.h).
 */
static void
grant(gp_waiter *w)
{
	w->done = true;
	if (w->cond)
		pthread_cond_signal(w->cond);
	else if (w->wake)
		w->wake(w->wake_arg);
}

bool
gp_bag_give_back(gp_bag *bag, gp_entry *e)
{
	gp_waiter  *w;

	pthread_mutex_lock(&bag->lock);
	w = pop_waiter(bag);
	if (w)
	{
		/* stays IN_USE: ownership moves to the waiter */
		w->granted = e;
		grant(w);
		pthread_mutex_unlock(&bag->lock);
		return true;
	}
	/*
	 * Keep it idle.  Above pool_size it closes once it has been idle for
	 * overflow_idle_ns (gp_bag_reap), so clients that pause between
	 * transactions reuse the overflow connections instead of opening new
	 * ones.  With overflow_idle_ns 0 it closes now if pool_size are idle
	 * already (SQLAlchemy's QueuePool rule).  Serverless keeps nothing.
	 */
	if (bag->closed || bag->keep == 0 ||
		(bag->overflow_idle_ns == 0 && bag->n_idle >= bag->keep))
	{
		pthread_mutex_unlock(&bag->lock);
		return false;
	}
	e->state = GP_SLOT_IDLE;
	bag->n_in_use--;
	bag->n_idle++;
	e->prev_idle = NULL;
	e->next_idle = bag->idle;
	if (bag->idle)
		bag->idle->prev_idle = e;
	else
		bag->idle_oldest = e;
	bag->idle = e;
	pthread_mutex_unlock(&bag->lock);
	return true;
}

int
gp_bag_reap(gp_bag *bag, int64_t now_ns, int max, void (*detach) (gp_entry *e, void *arg), void *arg)
{
	int			n = 0;

	pthread_mutex_lock(&bag->lock);
	while (n < max && bag->n_idle > bag->keep &&
		   now_ns - bag->idle_oldest->last_used_ns >= bag->overflow_idle_ns)
	{
		gp_entry   *e = bag->idle_oldest;

		unlink_idle(bag, e);
		detach(e, arg);
		free_slot(bag, e);
		n++;
	}
	pthread_mutex_unlock(&bag->lock);
	return n;
}

/*
 * Under the lock: a slot no longer counted (its entry unlinked and
 * uncounted) is free: the first waiter opens a connection in it.
 */
static void
free_slot(gp_bag *bag, gp_entry *e)
{
	gp_waiter  *w = pop_waiter(bag);

	if (w)
	{
		e->state = GP_SLOT_OPENING;
		bag->n_opening++;
		w->granted = e;
		grant(w);
	}
	else
		e->state = GP_SLOT_EMPTY;
}

void
gp_bag_remove(gp_bag *bag, gp_entry *e)
{
	pthread_mutex_lock(&bag->lock);
	if (e->state == GP_SLOT_IN_USE)
		bag->n_in_use--;
	else if (e->state == GP_SLOT_OPENING)
		bag->n_opening--;
	free_slot(bag, e);
	pthread_mutex_unlock(&bag->lock);
}

/* Mark an OPENING slot as holding a live connection, checked out. */
void
gp_bag_opened(gp_bag *bag, gp_entry *e)
{
	pthread_mutex_lock(&bag->lock);
	if (e->state == GP_SLOT_OPENING)
	{
		bag->n_opening--;
		bag->n_in_use++;
		e->state = GP_SLOT_IN_USE;
	}
	pthread_mutex_unlock(&bag->lock);
}

void
gp_bag_counts(gp_bag *bag, int *open, int *in_use, int *idle, int *waiters)
{
	*open = bag->n_idle + bag->n_in_use;
	*in_use = bag->n_in_use;
	*idle = bag->n_idle;
	*waiters = bag->n_waiters;
}
