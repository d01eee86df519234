/*
 * colcache: decrypted chunk columns in a bounded LRU; see colcache.h.
 */
#include "colcache.h"
#include "schema.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct colcache_entry {
	struct colcache_entry *hnext, *prev, *next;
	uint8_t id[CHUNK_ID_BYTES];
	int col, key_version;
	uint32_t rows;
	uint8_t nonce[CHUNK_NONCE_BYTES];
	uint8_t *pt;
	size_t ptlen, bytes;
	chunk_column c;
	int refs;
	bool linked;
};

struct colcache {
	pthread_mutex_t mu;
	colcache_entry **buckets;
	size_t nbuckets;
	colcache_entry *head, *tail; /* most and least recently used */
	size_t bytes, max_bytes, entries;
	colcache_stats st;
};

static size_t entry_bytes(const colcache_entry *e)
{
	const chunk_column *c = &e->c;
	size_t n = e->ptlen + sizeof *e;
	if (c->i)
		n += (size_t)c->rows * sizeof *c->i;
	if (c->f)
		n += (size_t)c->rows * sizeof *c->f;
	if (c->idx)
		n += (size_t)c->rows * sizeof *c->idx;
	if (c->dict)
		n += (size_t)c->ndict * sizeof *c->dict;
	return n;
}

static void entry_wipe_free(colcache_entry *e)
{
	chunk_column *c = &e->c;
	if (c->i)
		sodium_memzero(c->i, (size_t)c->rows * sizeof *c->i);
	if (c->f)
		sodium_memzero(c->f, (size_t)c->rows * sizeof *c->f);
	if (c->idx)
		sodium_memzero(c->idx, (size_t)c->rows * sizeof *c->idx);
	if (c->dict)
		sodium_memzero(c->dict, (size_t)c->ndict * sizeof *c->dict);
	chunk_column_free(c);
	if (e->pt) {
		sodium_memzero(e->pt, e->ptlen);
		free(e->pt);
	}
	free(e);
}

colcache *colcache_new(size_t max_bytes)
{
	colcache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->nbuckets = 65536;
	c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	c->max_bytes = max_bytes;
	return c;
}

void colcache_free(colcache *c)
{
	if (!c)
		return;
	for (colcache_entry *e = c->head, *n; e; e = n) {
		n = e->next;
		entry_wipe_free(e); /* queries are gone by now */
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static size_t bucket_of(const colcache *c, const uint8_t *id, int col)
{
	uint64_t h;
	memcpy(&h, id, sizeof h); /* chunk ids are random */
	return (size_t)((h ^ ((uint64_t)col * UINT64_C(0x9e3779b97f4a7c15))) & (c->nbuckets - 1));
}

static colcache_entry **find(colcache *c, const uint8_t *id, int col, uint32_t rows, int kv)
{
	colcache_entry **p = &c->buckets[bucket_of(c, id, col)];
	for (; *p; p = &(*p)->hnext)
		if ((*p)->col == col && (*p)->rows == rows && (*p)->key_version == kv &&
		    memcmp((*p)->id, id, CHUNK_ID_BYTES) == 0)
			return p;
	return p;
}

static void lru_unlink(colcache *c, colcache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(colcache *c, colcache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

/* Drop *p from the map and the LRU, counting it in *counter (mu held); freed
 * now if unpinned, else by the query holding it when it releases it. */
static void detach(colcache *c, colcache_entry **p, uint64_t *counter)
{
	colcache_entry *e = *p;
	*p = e->hnext;
	lru_unlink(c, e);
	e->linked = false;
	c->bytes -= e->bytes;
	c->entries--;
	(*counter)++;
	if (e->refs == 0)
		entry_wipe_free(e);
}

static void unlink_entry(colcache *c, colcache_entry *e)
{
	colcache_entry **p = find(c, e->id, e->col, e->rows, e->key_version);
	if (*p == e)
		detach(c, p, &c->st.evictions);
}

/* Drop the entries of chunk id and column col other than (rows, kv), or all of
 * them when all is set (mu held): an erasure or a re-seal made them stale, and
 * stale plaintext is wiped now rather than when the LRU gets to it. */
static void drop_chunk_col(colcache *c, const uint8_t *id, int col, bool all, uint32_t rows, int kv)
{
	colcache_entry **p = &c->buckets[bucket_of(c, id, col)];
	while (*p) {
		colcache_entry *e = *p;
		if (e->col != col || memcmp(e->id, id, CHUNK_ID_BYTES) != 0 ||
		    (!all && e->rows == rows && e->key_version == kv)) {
			p = &e->hnext;
			continue;
		}
		detach(c, p, &c->st.purged);
	}
}

void colcache_forget(colcache *c, const uint8_t id[CHUNK_ID_BYTES])
{
	pthread_mutex_lock(&c->mu);
	for (int col = 0; col < SCHEMA_MAX_COLUMNS; col++)
		drop_chunk_col(c, id, col, true, 0, 0);
	pthread_mutex_unlock(&c->mu);
}

static void evict(colcache *c)
{
	colcache_entry *e = c->tail;
	while (c->bytes > c->max_bytes && e) {
		colcache_entry *prev = e->prev;
		if (e->refs == 0)
			unlink_entry(c, e);
		e = prev;
	}
}

colcache_entry *colcache_get(colcache *c, const uint8_t id[CHUNK_ID_BYTES], int col, uint32_t rows,
                             int key_version)
{
	pthread_mutex_lock(&c->mu);
	colcache_entry *e = *find(c, id, col, rows, key_version);
	if (e) {
		e->refs++;
		lru_unlink(c, e);
		lru_front(c, e);
		c->st.hits++;
	} else {
		c->st.misses++;
	}
	pthread_mutex_unlock(&c->mu);
	return e;
}

colcache_entry *colcache_put(colcache *c, const uint8_t id[CHUNK_ID_BYTES], int col, uint32_t rows,
                             int key_version, const uint8_t nonce[CHUNK_NONCE_BYTES], uint8_t *pt,
                             size_t ptlen, chunk_column *decoded)
{
	colcache_entry *n = calloc(1, sizeof *n);
	if (!n)
		abort();
	memcpy(n->id, id, CHUNK_ID_BYTES);
	n->col = col;
	n->rows = rows;
	n->key_version = key_version;
	memcpy(n->nonce, nonce, CHUNK_NONCE_BYTES);
	n->pt = pt;
	n->ptlen = ptlen;
	n->c = *decoded;
	memset(decoded, 0, sizeof *decoded);
	n->bytes = entry_bytes(n);
	n->refs = 1;
	pthread_mutex_lock(&c->mu);
	colcache_entry **p = find(c, id, col, rows, key_version);
	if (*p) {
		colcache_entry *e = *p;
		e->refs++;
		pthread_mutex_unlock(&c->mu);
		entry_wipe_free(n);
		return e;
	}
	drop_chunk_col(c, id, col, false, rows, key_version);
	p = find(c, id, col, rows, key_version); /* the chain may have changed */
	if (c->max_bytes > 0 && n->bytes <= c->max_bytes) {
		*p = n;
		n->linked = true;
		lru_front(c, n);
		c->bytes += n->bytes;
		c->entries++;
		evict(c);
	}
	pthread_mutex_unlock(&c->mu);
	return n;
}

void colcache_release(colcache *c, colcache_entry *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&c->mu);
	bool gone = --e->refs == 0 && !e->linked;
	if (!gone && e->refs == 0 && c->bytes > c->max_bytes)
		evict(c);
	pthread_mutex_unlock(&c->mu);
	if (gone)
		entry_wipe_free(e);
}

const chunk_column *colcache_column(const colcache_entry *e)
{
	return &e->c;
}

const uint8_t *colcache_nonce(const colcache_entry *e)
{
	return e->nonce;
}

void colcache_stats_get(colcache *c, colcache_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	out->bytes = c->bytes;
	out->entries = c->entries;
	out->max_bytes = c->max_bytes;
	pthread_mutex_unlock(&c->mu);
}
