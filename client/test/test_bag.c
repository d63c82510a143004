/*
 * test_bag.c
 *	  Unit tests (no server) of the bag: capacity, FIFO hand-off, timeout,
 *	  slot hand-off on remove, overflow closing once pool_size are idle or
 *	  after sitting idle for overflow_idle_ns.  Also run under TSan.
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
	/* with an overflow idle time too */
	bag.overflow_idle_ns = 1000000000;
	e = borrow_opened(&bag);
	CHECK(e != NULL && !gp_bag_give_back(&bag, e));
	gp_bag_remove(&bag, e);
	CHECK(bag.n_idle == 0 && bag.n_in_use == 0);
	gp_bag_destroy(&bag);
}

static void
give_back_at(gp_bag *bag, gp_entry *e, int64_t t)
{
	e->last_used_ns = t;
	CHECK_MSG(gp_bag_give_back(bag, e), "entry %d not kept idle", e->index);
}

/* gp_bag_reap's detach: record the entries, check the lock is held. */
typedef struct detached
{
	gp_bag	   *bag;
	int			n;
	gp_entry   *e[8];
	bool		unlocked;
} detached;

static void
detach(gp_entry *e, void *arg)
{
	detached   *d = arg;

	if (pthread_mutex_trylock(&d->bag->lock) == 0)
	{
		d->unlocked = true;
		pthread_mutex_unlock(&d->bag->lock);
	}
	if (d->n < 8)
		d->e[d->n] = e;
	d->n++;
}

static int
reap(gp_bag *bag, int64_t now, detached *d)
{
	*d = (detached) {bag, 0, {NULL}, false};
	return gp_bag_reap(bag, now, 8, detach, d);
}

/*
 * With overflow_idle_ns, connections above keep stay idle when given back
 * (clients pausing between transactions reuse them) and are reaped, oldest
 * first, only once idle that long; keep of them are never reaped.  A
 * reaped slot is free at once: never counted as checked out (the caller
 * closes the connection detach took out, after).  The clock is passed in:
 * nothing here waits.
 */
static void
test_overflow_stays_idle_until_idle_long_enough(void)
{
	gp_bag		bag;
	gp_entry   *a,
			   *b,
			   *c,
			   *again;
	detached	d;

	gp_bag_init(&bag, 1, 4);
	bag.overflow_idle_ns = 100;
	a = borrow_opened(&bag);
	b = borrow_opened(&bag);
	c = borrow_opened(&bag);
	CHECK(a && b && c);
	if (!(a && b && c))
		return;
	give_back_at(&bag, a, 1000);
	give_back_at(&bag, b, 1010);
	give_back_at(&bag, c, 1020);
	CHECK_MSG(bag.n_idle == 3 && bag.n_in_use == 0, "n_idle=%d", bag.n_idle);
	/* the newest is borrowed first (the oldest age out) */
	again = borrow_opened(&bag);
	CHECK(again == c);
	give_back_at(&bag, c, 1030);
	/* not before 100 ns */
	CHECK(reap(&bag, 1099, &d) == 0 && d.n == 0);
	CHECK(bag.n_idle == 3);
	/* then the oldest only, under the lock, its slot free at once */
	CHECK(reap(&bag, 1100, &d) == 1 && d.n == 1 && d.e[0] == a && !d.unlocked);
	CHECK_MSG(a->state == GP_SLOT_EMPTY && bag.n_in_use == 0 && bag.n_idle == 2,
			  "state=%d in_use=%d idle=%d", (int) a->state, bag.n_in_use, bag.n_idle);
	/* much later: all but keep, oldest first */
	CHECK(reap(&bag, 1000000, &d) == 1 && d.e[0] == b && b->state == GP_SLOT_EMPTY);
	CHECK(reap(&bag, 1000000, &d) == 0);
	CHECK(bag.n_idle == 1 && bag.n_in_use == 0);
	CHECK(borrow_opened(&bag) == c);
	CHECK(bag.n_idle == 0 && bag.idle == NULL && bag.idle_oldest == NULL);
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
			e->last_used_ns = gp_now_ns();
			if (i % 5 == 0 || !gp_bag_give_back(a->bag, e))
				gp_bag_remove(a->bag, e);
		}
	}
	return NULL;
}

typedef struct reaper_arg
{
	gp_bag	   *bag;
	volatile int stop;			/* set after the churn threads joined */
	int			reaped;
} reaper_arg;

static void
count_detach(gp_entry *e, void *arg)
{
	(void) e;
	(*(int *) arg)++;
}

/* The housekeeper's part: reap what has been idle long enough. */
static void *
reaper(void *p)
{
	reaper_arg *a = p;

	while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE))
	{
		int			n = 0;

		gp_bag_reap(a->bag, gp_now_ns(), 4, count_detach, &n);
		a->reaped += n;
		sched_yield();
	}
	return NULL;
}

/* Many threads over few slots: counts stay consistent, nobody is lost. */
#define CHURN_THREADS 8
#define CHURN_ITER 2000

/* Run CHURN_THREADS churn threads over the bag; the borrows that succeeded. */
static int
churn_threads(gp_bag *bag)
{
	pthread_t	th[CHURN_THREADS];
	churn_arg	args[CHURN_THREADS];
	int			total = 0;

	for (int i = 0; i < CHURN_THREADS; i++)
	{
		args[i] = (churn_arg) {bag, CHURN_ITER, 0};
		pthread_create(&th[i], NULL, churn, &args[i]);
	}
	for (int i = 0; i < CHURN_THREADS; i++)
	{
		pthread_join(th[i], NULL);
		total += args[i].ok;
	}
	return total;
}

static void
test_concurrent_churn_keeps_counts_consistent(void)
{
	gp_bag		bag;
	int			total;

	gp_bag_init(&bag, 2, 3);
	total = churn_threads(&bag);
	CHECK_MSG(total == CHURN_THREADS * CHURN_ITER, "%d of %d borrows succeeded", total,
			  CHURN_THREADS * CHURN_ITER);
	CHECK(bag.n_in_use == 0 && bag.n_opening == 0 && bag.n_waiters == 0);
	CHECK(bag.n_idle <= 2);
	gp_bag_destroy(&bag);
}

/* The same with overflow kept idle and reaped concurrently. */
static void
test_concurrent_churn_with_reaping_keeps_counts_consistent(void)
{
	gp_bag		bag;
	pthread_t	rt;
	reaper_arg	ra;
	int			total;

	gp_bag_init(&bag, 2, 4);
	bag.overflow_idle_ns = 1000;
	ra = (reaper_arg) {&bag, 0, 0};
	pthread_create(&rt, NULL, reaper, &ra);
	total = churn_threads(&bag);
	__atomic_store_n(&ra.stop, 1, __ATOMIC_RELEASE);
	pthread_join(rt, NULL);
	CHECK_MSG(total == CHURN_THREADS * CHURN_ITER, "%d of %d borrows succeeded", total,
			  CHURN_THREADS * CHURN_ITER);
	CHECK(bag.n_in_use == 0 && bag.n_opening == 0 && bag.n_waiters == 0);
	CHECK(bag.n_idle <= 4);
	/* once idle long enough, pool_size stay */
	{
		int			n = 0;

		gp_bag_reap(&bag, gp_now_ns() + 1000000000LL, 8, count_detach, &n);
	}
	CHECK_MSG(bag.n_idle <= 2 && bag.n_in_use == 0, "n_idle=%d", bag.n_idle);
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
	RUN(test_overflow_stays_idle_until_idle_long_enough);
	RUN(test_concurrent_churn_with_reaping_keeps_counts_consistent);
	return tap_done();
}
