/*
 * bag.c
 *	  The pool's concurrency: borrow, give back and remove over per-slot
 *	  state, with FIFO waiters.
 *
 * Locking contract: every field of gp_bag and gp_entry.state change only
 * under bag->lock.  The connection inside an entry belongs to whoever
 * borrowed the slot and is never touched here.
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

gp_borrow_result
gp_bag_borrow(gp_bag *bag, int64_t deadline_ns, gp_entry **out)
{
	gp_waiter	w;
	gp_entry   *e;
	int64_t		start = 0;
	gp_borrow_result result;

	pthread_mutex_lock(&bag->lock);
	if (bag->closed)
	{
		pthread_mutex_unlock(&bag->lock);
		return GP_BORROW_CLOSED;
	}
	if (bag->idle)
	{
		e = bag->idle;
		bag->idle = e->next_idle;
		e->next_idle = NULL;
		bag->n_idle--;
		e->state = GP_SLOT_IN_USE;
		bag->n_in_use++;
		gp_hist_add(&bag->wait_hist, 0);
		pthread_mutex_unlock(&bag->lock);
		*out = e;
		return GP_BORROW_IDLE;
	}
	if (n_open(bag) < bag->capacity && bag->wait_head == NULL)
	{
		e = find_empty(bag);
		e->state = GP_SLOT_OPENING;
		bag->n_opening++;
		gp_hist_add(&bag->wait_hist, 0);
		pthread_mutex_unlock(&bag->lock);
		*out = e;
		return GP_BORROW_OPEN;
	}

	/* exhausted: queue up, or give up at once */
	bag->exhaustion_events++;
	start = gp_now_ns();
	if (deadline_ns < 0 || deadline_ns <= start)
	{
		bag->timeouts++;
		gp_hist_add(&bag->wait_hist, 0);
		pthread_mutex_unlock(&bag->lock);
		return GP_BORROW_TIMEOUT;
	}
	{
		pthread_condattr_t attr;

		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&w.cond, &attr);
		pthread_condattr_destroy(&attr);
	}
	w.granted = NULL;
	w.done = false;
	w.next = NULL;
	if (bag->wait_tail)
		bag->wait_tail->next = &w;
	else
		bag->wait_head = &w;
	bag->wait_tail = &w;
	bag->n_waiters++;

	while (!w.done && !bag->closed)
	{
		struct timespec ts;

		ts.tv_sec = deadline_ns / 1000000000;
		ts.tv_nsec = deadline_ns % 1000000000;
		if (pthread_cond_timedwait(&w.cond, &bag->lock, &ts) == ETIMEDOUT && !w.done)
			break;
	}
	if (w.done)
	{
		*out = w.granted;
		result = w.granted->state == GP_SLOT_OPENING ? GP_BORROW_OPEN : GP_BORROW_IDLE;
	}
	else
	{
		/* timed out or closed: leave the queue */
		gp_waiter **pp = &bag->wait_head;
		gp_waiter  *prev = NULL;

		while (*pp != &w)
		{
			prev = *pp;
			pp = &(*pp)->next;
		}
		*pp = w.next;
		if (bag->wait_tail == &w)
			bag->wait_tail = prev;
		bag->n_waiters--;
		if (bag->closed)
			result = GP_BORROW_CLOSED;
		else
		{
			bag->timeouts++;
			result = GP_BORROW_TIMEOUT;
		}
	}
	gp_hist_add(&bag->wait_hist, gp_now_ns() - start);
	pthread_mutex_unlock(&bag->lock);
	pthread_cond_destroy(&w.cond);
	return result;
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
	}
	return w;
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
		w->done = true;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&bag->lock);
		return true;
	}
	if (n_open(bag) > bag->keep || bag->closed)
	{
		pthread_mutex_unlock(&bag->lock);
		return false;
	}
	e->state = GP_SLOT_IDLE;
	bag->n_in_use--;
	bag->n_idle++;
	e->next_idle = bag->idle;
	bag->idle = e;
	pthread_mutex_unlock(&bag->lock);
	return true;
}

void
gp_bag_remove(gp_bag *bag, gp_entry *e)
{
	gp_waiter  *w;

	pthread_mutex_lock(&bag->lock);
	if (e->state == GP_SLOT_IN_USE)
		bag->n_in_use--;
	else if (e->state == GP_SLOT_OPENING)
		bag->n_opening--;
	w = pop_waiter(bag);
	if (w)
	{
		/* the slot is free: the first waiter opens a connection in it */
		e->state = GP_SLOT_OPENING;
		bag->n_opening++;
		w->granted = e;
		w->done = true;
		pthread_cond_signal(&w->cond);
	}
	else
		e->state = GP_SLOT_EMPTY;
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
