/*
 * stmtcache.c
 *	  The per-connection cache of prepared user statements.
 *
 * A statement the caller sends through govpool_run or govpool_exec is
 * prepared on its connection the second time that connection sees it
 * (GP_STMT_PREPARE_ON_USE), and then executed by name: the server skips
 * parse and analysis, and after five executions may settle on a generic
 * plan (plan_cache_mode).  Preparing costs no round trip of its own: the
 * named Parse replaces the unnamed one in the same pipeline, before the
 * same Sync.
 *
 * Bounded: at most cap statements per connection (least recently used
 * out first) and none longer than GP_STMT_MAX_LEN bytes.  An evicted
 * statement the server holds is closed later ("DEALLOCATE name" in its
 * own Sync segment at the front of the connection's next pipeline that
 * starts outside a transaction), so eviction adds no round trip either.
 *
 * Only statements with a plan to keep are cached (SELECT, INSERT, UPDATE,
 * DELETE, MERGE, WITH, VALUES, TABLE): preparing a utility statement
 * saves nothing, and some (DEALLOCATE, DISCARD, PREPARE) act on prepared
 * statements themselves.
 *
 * Names are "govpool_<tag>_<n>": the tag is random per connection, so a
 * name this connection prepared is never valid on another client's
 * connection (behind an undeclared transaction pooler we get "does not
 * exist" and recover, never someone else's statement).
 *
 * The cache belongs to its entry (entry.c): whoever holds the slot owns
 * it; no lock.  It dies with the connection (gp_entry_close).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "govpool_int.h"

#define GP_STMT_MAX_LEN 16384	/* longer statements are never cached */

typedef struct gp_stmt
{
	char	   *sql;			/* NULL: free slot */
	uint64_t	hash;
	int			nparams;
	int			prev;			/* LRU list: towards the head (most recent) */
	int			next;			/* towards the tail; free list link */
	int			chain;			/* next in its hash bucket */
	bool		prepared;		/* the server has it (a Parse succeeded) */
	char		name[GP_STMT_NAME_LEN];
} gp_stmt;

struct gp_stmt_cache
{
	int			cap;
	int			n;
	int			head;			/* most recently used, -1 none */
	int			tail;			/* least recently used */
	int			free_slot;		/* free list head */
	unsigned	bucket_mask;
	int		   *buckets;		/* slot index, -1 empty */
	gp_stmt    *slots;
	uint64_t   *seen;			/* hashes of statements seen once (direct-mapped) */
	uint64_t	tag;
	unsigned	next_id;
	int			n_closing;
	char		closing[GP_STMT_CLOSE_MAX][GP_STMT_NAME_LEN + 16];
};

/* FNV-1a over the text, then the parameter count; never 0 (0 = empty seen slot). */
static uint64_t
stmt_hash(const char *sql, int nparams)
{
	uint64_t	h = 14695981039346656037ULL;

	for (const unsigned char *p = (const unsigned char *) sql; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	h = (h ^ (uint64_t) (unsigned) nparams) * 1099511628211ULL;
	return h ? h : 1;
}

static uint64_t
splitmix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

/* Does the statement have a plan worth keeping?  (Its first keyword.) */
static bool
plannable(const char *sql)
{
	static const char *const words[] = {"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE",
	"WITH", "VALUES", "TABLE", NULL};
	const char *p = sql;
	size_t		n;

	for (;;)
	{
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '(')
			p++;
		if (p[0] == '-' && p[1] == '-')
			p += strcspn(p, "\n");
		else if (p[0] == '/' && p[1] == '*')
		{
			const char *end = strstr(p + 2, "*/");

			if (end == NULL)
				return false;
			p = end + 2;		/* nested comments: not worth it, the keyword
								 * test below just fails */
		}
		else
			break;
	}
	n = 0;
	while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z'))
		n++;
	for (int i = 0; words[i]; i++)
		if (strlen(words[i]) == n && strncasecmp(p, words[i], n) == 0)
			return true;
	return false;
}

gp_stmt_cache *
gp_stmt_cache_new(int cap)
{
	gp_stmt_cache *c;
	unsigned	nb = 16;
	static uint64_t counter;

	if (cap <= 0 || cap > GP_STMT_CACHE_MAX)
		return NULL;
	while (nb < 2u * (unsigned) cap)
		nb <<= 1;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->cap = cap;
	c->bucket_mask = nb - 1;
	c->buckets = malloc(sizeof(int) * nb);
	c->slots = calloc((size_t) cap, sizeof(gp_stmt));
	c->seen = calloc(nb, sizeof(uint64_t));
	if (c->buckets == NULL || c->slots == NULL || c->seen == NULL)
	{
		gp_stmt_cache_free(c);
		return NULL;
	}
	for (unsigned i = 0; i < nb; i++)
		c->buckets[i] = -1;
	for (int i = 0; i < cap; i++)
		c->slots[i].next = i + 1 < cap ? i + 1 : -1;
	c->free_slot = 0;
	c->head = c->tail = -1;
	c->tag = splitmix((uint64_t) gp_now_ns() ^ ((uint64_t) getpid() << 32) ^
					  (uint64_t) (uintptr_t) c ^
					  splitmix(__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED)));
	return c;
}

void
gp_stmt_cache_free(gp_stmt_cache *c)
{
	if (c == NULL)
		return;
	if (c->slots)
		for (int i = 0; i < c->cap; i++)
			free(c->slots[i].sql);
	free(c->slots);
	free(c->buckets);
	free(c->seen);
	free(c);
}

static void
lru_unlink(gp_stmt_cache *c, int i)
{
	gp_stmt    *s = &c->slots[i];

	if (s->prev >= 0)
		c->slots[s->prev].next = s->next;
	else
		c->head = s->next;
	if (s->next >= 0)
		c->slots[s->next].prev = s->prev;
	else
		c->tail = s->prev;
}

static void
lru_push_front(gp_stmt_cache *c, int i)
{
	gp_stmt    *s = &c->slots[i];

	s->prev = -1;
	s->next = c->head;
	if (c->head >= 0)
		c->slots[c->head].prev = i;
	c->head = i;
	if (c->tail < 0)
		c->tail = i;
}

/* Queue "DEALLOCATE name" for the next pipeline; false when the queue is full. */
static bool
queue_close(gp_stmt_cache *c, int i)
{
	if (c->n_closing >= GP_STMT_CLOSE_MAX)
		return false;
	snprintf(c->closing[c->n_closing++], sizeof(c->closing[0]), "DEALLOCATE %s", c->slots[i].name);
	return true;
}

/* Take slot i out of the cache (its name is never used again). */
static void
remove_slot(gp_stmt_cache *c, int i)
{
	gp_stmt    *s = &c->slots[i];
	int		   *link = &c->buckets[s->hash & c->bucket_mask];

	while (*link != i)
		link = &c->slots[*link].chain;
	*link = s->chain;
	lru_unlink(c, i);
	free(s->sql);
	s->sql = NULL;
	s->prepared = false;
	s->next = c->free_slot;
	c->free_slot = i;
	c->n--;
}

int
gp_stmt_lookup(gp_stmt_cache *c, const char *sql, int nparams)
{
	uint64_t	h;
	uint64_t   *seen;
	gp_stmt    *s;
	size_t		len;
	int			i;

	if (c == NULL || (len = strlen(sql)) > GP_STMT_MAX_LEN || !plannable(sql))
		return -1;
	h = stmt_hash(sql, nparams);
	for (i = c->buckets[h & c->bucket_mask]; i >= 0; i = c->slots[i].chain)
	{
		s = &c->slots[i];
		if (s->hash == h && s->nparams == nparams && strcmp(s->sql, sql) == 0)
		{
			if (c->head != i)
			{
				lru_unlink(c, i);
				lru_push_front(c, i);
			}
			return i;
		}
	}
	/* the first use is only noted: a statement run once costs the server nothing */
	seen = &c->seen[h & c->bucket_mask];
	if (*seen != h)
	{
		*seen = h;
		return -1;
	}
	*seen = 0;
	if (c->n == c->cap)
	{
		int			victim = c->tail;

		/* the server's copy must be closed; no room to note that: stay unprepared */
		if (c->slots[victim].prepared && !queue_close(c, victim))
			return -1;
		remove_slot(c, victim);
	}
	i = c->free_slot;
	s = &c->slots[i];
	s->sql = malloc(len + 1);
	if (s->sql == NULL)
		return -1;
	memcpy(s->sql, sql, len + 1);
	c->free_slot = s->next;
	s->hash = h;
	s->nparams = nparams;
	s->prepared = false;
	snprintf(s->name, sizeof(s->name), "govpool_%016llx_%u", (unsigned long long) c->tag,
			 ++c->next_id);
	s->chain = c->buckets[h & c->bucket_mask];
	c->buckets[h & c->bucket_mask] = i;
	lru_push_front(c, i);
	c->n++;
	return i;
}

const char *
gp_stmt_name(const gp_stmt_cache *c, int i)
{
	return c->slots[i].name;
}

bool
gp_stmt_prepared(const gp_stmt_cache *c, int i)
{
	return c->slots[i].prepared;
}

void
gp_stmt_set_prepared(gp_stmt_cache *c, int i)
{
	if (c && i >= 0 && c->slots[i].sql)
		c->slots[i].prepared = true;
}

void
gp_stmt_drop(gp_stmt_cache *c, int i, bool server_has_it)
{
	if (c == NULL || i < 0 || c->slots[i].sql == NULL)
		return;
	/*
	 * A full close queue leaves the server's copy until the connection
	 * closes: harmless (nobody uses the name again), and bounded by the
	 * rare errors that lead here.
	 */
	if (server_has_it)
		(void) queue_close(c, i);
	remove_slot(c, i);
}

void
gp_stmt_cache_forget(gp_stmt_cache *c)
{
	if (c == NULL)
		return;
	for (int i = c->head; i >= 0; i = c->slots[i].next)
		c->slots[i].prepared = false;
	c->n_closing = 0;
}

int
gp_stmt_closing(const gp_stmt_cache *c, const char **sql)
{
	if (c == NULL)
		return 0;
	for (int i = 0; i < c->n_closing; i++)
		sql[i] = c->closing[i];
	return c->n_closing;
}

void
gp_stmt_closed(gp_stmt_cache *c, int n)
{
	if (c == NULL || n <= 0)
		return;
	memmove(c->closing[0], c->closing[n], sizeof(c->closing[0]) * (size_t) (c->n_closing - n));
	c->n_closing -= n;
}

int
gp_stmt_count(const gp_stmt_cache *c, int *prepared)
{
	int			p = 0;

	if (c == NULL)
	{
		if (prepared)
			*prepared = 0;
		return 0;
	}
	for (int i = c->head; i >= 0; i = c->slots[i].next)
		p += c->slots[i].prepared;
	if (prepared)
		*prepared = p;
	return c->n;
}
