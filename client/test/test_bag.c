/*
 * test_bag.c
 *	  Unit tests (no server) of the bag: capacity, FIFO hand-off, timeout,
 *	  slot hand-off on remove, overflow closing once pool_size are idle.  Also
 *	  run under TSan.
 *
 * Threads are started one at a time and each is known to be queued
 * (n_waiters observed under the lock) before the next starts, so the
 * expected order is exact; nothing depends on sleeping.
 */
#include <sched.h>
#include <stdlib.h>

#include "govpool_int.h"
#include "tap.h"

#define FAR_DEADLINE (gp_now_ns() + 30LL * 1000000000)

static int
waiters(gp_bag *bag)
{
	int			n;

	pthread_mutex_lock(&bag->lock);
	n = bag->n_waiters;
	pthread_mutex_unlock(&bag->lock);
	return n;
}

static void
wait_for_waiters(gp_bag *bag, int n)
{
	while (waiters(bag) < n)
		sched_yield();
}

static gp_entry *
borrow_opened(gp_bag *bag)
{
	gp_entry   *e = NULL;
	gp_borrow_result r = gp_bag_borrow(bag, -1, &e);

	if (r == GP_BORROW_OPEN)
		gp_bag_opened(bag, e);
	return r == GP_BORROW_OPEN || r == GP_BORROW_IDLE ? e : NULL;
}

static void
test_capacity_then_timeout(void)
{
	gp_bag		bag;
	gp_entry   *a,
			   *b,
			   *c = NULL;

	gp_bag_init(&bag, 1, 2);
	a = borrow_opened(&bag);
	b = borrow_opened(&bag);
	CHECK(a && b && a != b);
	CHECK(gp_bag_borrow(&bag, -1, &c) == GP_BORROW_TIMEOUT);
	CHECK(gp_bag_borrow(&bag, gp_now_ns() + 1000000, &c) == GP_BORROW_TIMEOUT);
	/* (timeouts and waits are counted by the pool's metrics: test_pool, test_async) */
	CHECK(bag.n_waiters == 0 && bag.wait_head == NULL);

	/*
	 * two open, keep 1: the first one given back is kept idle (nobody else
	 * is idle); the second, with pool_size idle already, is closed by the
	 * caller
	 */
	CHECK(gp_bag_give_back(&bag, a));
	CHECK(!gp_bag_give_back(&bag, b));
	gp_bag_remove(&bag, b);
	CHECK(bag.n_idle == 1 && bag.n_in_use == 0);
	/* idle is reused */
	CHECK(gp_bag_borrow(&bag, -1, &c) == GP_BORROW_IDLE && c == a);
	gp_bag_give_back(&bag, c);
	gp_bag_destroy(&bag);
}

typedef struct fifo_arg
{
	gp_bag	   *bag;
	int			id;
	int		   *order;
	int		   *n;
	pthread_mutex_t *mu;
	gp_borrow_result result;
} fifo_arg;

static void *
fifo_waiter(void *p)
{
	fifo_arg   *a = p;
	gp_entry   *e = NULL;

	a->result = gp_bag_borrow(a->bag, FAR_DEADLINE, &e);
	pthread_mutex_lock(a->mu);
	a->order[(*a->n)++] = a->id;
	pthread_mutex_unlock(a->mu);
	if (a->result == GP_BORROW_OPEN)
		gp_bag_opened(a->bag, e);
	if (e && !gp_bag_give_back(a->bag, e))
		gp_bag_remove(a->bag, e);
	return NULL;
}

static void
test_waiters_are_served_first_come_first_served(void)
{
	enum
	{
	N = 8};
	gp_bag		bag;
	pthread_t	th[N];
	fifo_arg	args[N];
	int			order[N],
				n = 0;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	gp_entry   *held;

	gp_bag_init(&bag, 1, 1);
	held = borrow_opened(&bag);
	for (int i = 0; i < N; i++)
	{
		args[i] = (fifo_arg) {&bag, i, order, &n, &mu, GP_BORROW_CLOSED};
		pthread_create(&th[i], NULL, fifo_waiter, &args[i]);
		wait_for_waiters(&bag, i + 1);
	}
	gp_bag_give_back(&bag, held);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	CHECK(n == N);
	for (int i = 0; i < N; i++)
	{
		CHECK_MSG(order[i] == i, "position %d served waiter %d", i, order[i]);
		CHECK(args[i].result == GP_BORROW_IDLE);
	}
	gp_bag_destroy(&bag);
}

static void
test_remove_hands_the_slot_to_the_first_waiter(void)
{
	gp_bag		bag;
	pthread_t	th;
	int			order[1],
				n = 0;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	fifo_arg	arg;
	gp_entry   *held;

	gp_bag_init(&bag, 1, 1);
	held = borrow_opened(&bag);
	arg = (fifo_arg) {&bag, 7, order, &n, &mu, GP_BORROW_CLOSED};
	pthread_create(&th, NULL, fifo_waiter, &arg);
	wait_for_waiters(&bag, 1);
	gp_bag_remove(&bag, held);	/* connection died: the waiter must open one */
	pthread_join(th, NULL);
	CHECK(arg.result == GP_BORROW_OPEN);
	CHECK(n == 1 && order[0] == 7);
	gp_bag_destroy(&bag);
}

static void
test_serverless_keeps_nothing_idle(void)
{
	gp_bag		bag;
	gp_entry   *e;

	gp_bag_init(&bag, 0, 3);
	e = borrow_opened(&bag);
	CHECK(e != NULL);
	CHECK(!gp_bag_give_back(&bag, e));
	gp_bag_remove(&bag, e);
	CHECK(bag.n_idle == 0 && bag.n_in_use == 0);
	gp_bag_destroy(&bag);
}

typedef struct churn_arg
{
	gp_bag	   *bag;
	int			iterations;
	int			ok;
} churn_arg;

static void *
churn(void *p)
{
	churn_arg  *a = p;

	for (int i = 0; i < a->iterations; i++)
	{
		gp_entry   *e = NULL;
		gp_borrow_result r = gp_bag_borrow(a->bag, FAR_DEADLINE, &e);

		if (r == GP_BORROW_OPEN)
			gp_bag_opened(a->bag, e);
		if (r == GP_BORROW_OPEN || r == GP_BORROW_IDLE)
		{
			a->ok++;
			if (i % 5 == 0 || !gp_bag_give_back(a->bag, e))
				gp_bag_remove(a->bag, e);
		}
	}
	return NULL;
}

/* Many threads over few slots: counts stay consistent, nobody is lost. */
static void
test_concurrent_churn_keeps_counts_consistent(void)
{
	enum
	{
	T = 8, ITER = 2000};
	gp_bag		bag;
	pthread_t	th[T];
	churn_arg	args[T];
	int			total = 0;

	gp_bag_init(&bag, 2, 3);
	for (int i = 0; i < T; i++)
	{
		args[i] = (churn_arg) {&bag, ITER, 0};
		pthread_create(&th[i], NULL, churn, &args[i]);
	}
	for (int i = 0; i < T; i++)
	{
		pthread_join(th[i], NULL);
		total += args[i].ok;
	}
	CHECK_MSG(total == T * ITER, "%d of %d borrows succeeded", total, T * ITER);
	CHECK(bag.n_in_use == 0 && bag.n_opening == 0 && bag.n_waiters == 0);
	CHECK(bag.n_idle <= 2);
	gp_bag_destroy(&bag);
}

int
main(void)
{
	RUN(test_capacity_then_timeout);
	RUN(test_waiters_are_served_first_come_first_served);
	RUN(test_remove_hands_the_slot_to_the_first_waiter);
	RUN(test_serverless_keeps_nothing_idle);
	RUN(test_concurrent_churn_keeps_counts_consistent);
	return tap_done();
}
