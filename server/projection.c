/*
 * projection: decrypted columns in subject order; see projection.h.
 */
#include "projection.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define DATASET_MAX 64

static void *pj_calloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p)
		abort();
	return p;
}

static void wipe_free(void *p, size_t n)
{
	if (!p)
		return;
	sodium_memzero(p, n);
	free(p);
}

#define BIG       ((size_t)2 << 20) /* a per-row array this large: a mapping of its own */
#define HUGE_PAGE ((size_t)2 << 20)

/* A zeroed per-row array of n bytes: from 2 MiB on, a mapping aligned to
 * huge pages and advised to use them (a query streams through hundreds of
 * megabytes: fewer TLB misses); free it with rows_free(p, n). */
static size_t mapped(size_t n) /* whole huge pages: munmap wants page boundaries */
{
	return (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

static void *rows_alloc(size_t n)
{
	if (n < BIG)
		return pj_calloc(n, 1);
	n = mapped(n);
	size_t len = n + HUGE_PAGE;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		abort();
	uint8_t *p = (uint8_t *)(((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	if (p > m)
		munmap(m, (size_t)(p - m));
	size_t tail = (size_t)(m + len - (p + n));
	if (tail)
		munmap(p + n, tail);
#ifdef MADV_HUGEPAGE
	(void)madvise(p, n, MADV_HUGEPAGE);
#endif
	return p;
}

static void rows_free(void *p, size_t n)
{
	if (!p)
		return;
	sodium_memzero(p, n);
	if (n < BIG)
		free(p);
	else
		munmap(p, mapped(n));
}

void proj_free(proj *p)
{
	if (!p)
		return;
	size_t rows = p->rows;
	for (int c = 0; c < SCHEMA_MAX_COLUMNS; c++) {
		chunk_column *k = &p->cols[c];
		if (!p->have[c])
			continue;
		rows_free(k->i, rows * sizeof *k->i);
		rows_free(k->f, rows * sizeof *k->f);
		rows_free(k->idx, rows * sizeof *k->idx);
		wipe_free(k->dict, k->dict ? (size_t)k->ndict * sizeof *k->dict : 0);
		wipe_free((void *)k->pseudonyms,
		          k->pseudonyms ? (size_t)k->ndict * BATCH_PSEUDONYM_BYTES : 0);
	}
	wipe_free(p->starts, ((size_t)p->nsubj + 1) * sizeof *p->starts);
	for (int c = 0; c < SCHEMA_MAX_COLUMNS; c++)
		wipe_free(p->arenas[c], p->arena_lens[c]);
	sodium_memzero(p, sizeof *p);
	free(p);
}

/* ---- building ------------------------------------------------------------- */

/* Open addressing over 16-byte keys (pseudonyms are keyed hashes: their
 * first 8 bytes hash them) or strings, numbering them in first-seen order. */
typedef struct numtab {
	uint32_t *slots; /* number + 1; 0: empty */
	size_t mask, n;
} numtab;

static void numtab_init(numtab *t, size_t hint)
{
	size_t cap = 1024;
	while (cap < 2 * hint)
		cap *= 2;
	t->slots = pj_calloc(cap, sizeof *t->slots);
	t->mask = cap - 1;
	t->n = 0;
}

static uint64_t pseud_hash(const uint8_t *p)
{
	uint64_t h;
	memcpy(&h, p, sizeof h);
	return h ^ (h >> 29);
}

static uint64_t str_hash(const char *s, size_t n)
{
	uint64_t h = UINT64_C(1469598103934665603);
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * UINT64_C(1099511628211);
	return h ^ (h >> 32);
}

/* Keep the table at most half full; hash(k) gives key k's hash. */
static void numtab_grow(numtab *t, uint64_t (*hash)(const void *ctx, uint32_t k), const void *ctx)
{
	if (2 * (t->n + 1) <= t->mask + 1)
		return;
	size_t cap = 2 * (t->mask + 1);
	uint32_t *ns = pj_calloc(cap, sizeof *ns);
	for (uint32_t k = 0; k < t->n; k++) {
		size_t s = hash(ctx, k) & (cap - 1);
		while (ns[s])
			s = (s + 1) & (cap - 1);
		ns[s] = k + 1;
	}
	free(t->slots);
	t->slots = ns;
	t->mask = cap - 1;
}

typedef struct subjects {
	numtab t;
	uint8_t *ps; /* n * BATCH_PSEUDONYM_BYTES */
	size_t cap;
} subjects;

static uint64_t subj_rehash(const void *ctx, uint32_t k)
{
	const subjects *s = ctx;
	return pseud_hash(s->ps + (size_t)k * BATCH_PSEUDONYM_BYTES);
}

static uint32_t subject_no(subjects *s, const uint8_t *p)
{
	numtab_grow(&s->t, subj_rehash, s);
	size_t i = pseud_hash(p) & s->t.mask;
	while (s->t.slots[i]) {
		uint32_t k = s->t.slots[i] - 1;
		if (memcmp(s->ps + (size_t)k * BATCH_PSEUDONYM_BYTES, p, BATCH_PSEUDONYM_BYTES) ==
		    0)
			return k;
		i = (i + 1) & s->t.mask;
	}
	if (s->t.n == s->cap) {
		size_t nc = s->cap ? 2 * s->cap : 4096;
		uint8_t *np = pj_calloc(nc, BATCH_PSEUDONYM_BYTES);
		if (s->cap) {
			memcpy(np, s->ps, s->cap * BATCH_PSEUDONYM_BYTES);
			wipe_free(s->ps, s->cap * BATCH_PSEUDONYM_BYTES);
		}
		s->ps = np;
		s->cap = nc;
	}
	uint32_t k = (uint32_t)s->t.n++;
	memcpy(s->ps + (size_t)k * BATCH_PSEUDONYM_BYTES, p, BATCH_PSEUDONYM_BYTES);
	s->t.slots[i] = k + 1;
	return k;
}

typedef struct strings {
	numtab t;
	batch_str *v; /* into the chunks' plaintexts until copied to the arena */
	size_t cap, bytes;
} strings;

static uint64_t str_rehash(const void *ctx, uint32_t k)
{
	const strings *s = ctx;
	return str_hash(s->v[k].p, s->v[k].len);
}

static uint32_t string_no(strings *s, const batch_str *v)
{
	numtab_grow(&s->t, str_rehash, s);
	size_t i = str_hash(v->p, v->len) & s->t.mask;
	while (s->t.slots[i]) {
		uint32_t k = s->t.slots[i] - 1;
		if (s->v[k].len == v->len && (!v->len || memcmp(s->v[k].p, v->p, v->len) == 0))
			return k;
		i = (i + 1) & s->t.mask;
	}
	if (s->t.n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		batch_str *nv = realloc(s->v, s->cap * sizeof *nv);
		if (!nv)
			abort();
		s->v = nv;
	}
	uint32_t k = (uint32_t)s->t.n++;
	s->v[k] = *v;
	s->bytes += v->len;
	s->t.slots[i] = k + 1;
	return k;
}

static bool fixed_type(schema_type t)
{
	return t == SCHEMA_INT64 || t == SCHEMA_BOOL || t == SCHEMA_TIMESTAMP;
}

#define SCATTER_THREADS 8
#define AHEAD           16 /* rows whose destination is prefetched ahead */

/* The columns' scatter, shared by its threads: each builds columns
 * cols[first], cols[first + step], ... of the projection. */
struct scatter {
	const schema *s;
	proj *p;
	const chunk_column *const (*chunks)[SCHEMA_MAX_COLUMNS];
	size_t nchunks;
	const uint32_t *dest, *rsub; /* per row: its place, its subject */
	int cols[SCHEMA_MAX_COLUMNS], ncols;
	size_t bytes[SCHEMA_MAX_COLUMNS];
};

struct scatter_job {
	struct scatter *sh;
	int first, step;
};

static size_t scatter_column(struct scatter *sh, int c)
{
	const schema *s = sh->s;
	proj *p = sh->p;
	uint32_t rows = p->rows;
	const uint32_t *dest = sh->dest;
	chunk_column *o = &p->cols[c];
	o->rows = rows;
	if (c == s->subject) {
		o->idx = rows_alloc((size_t)rows * sizeof *o->idx);
		uint32_t pre = rows > AHEAD ? rows - AHEAD : 0, r = 0;
		for (; r < pre; r++) {
			__builtin_prefetch(&o->idx[dest[r + AHEAD]], 1);
			o->idx[dest[r]] = sh->rsub[r];
		}
		for (; r < rows; r++)
			o->idx[dest[r]] = sh->rsub[r];
		return (size_t)rows * 4;
	}
	schema_type ty = s->cols[c].type;
	size_t at = 0;
	if (fixed_type(ty) || ty == SCHEMA_FLOAT64) {
		bool fl = ty == SCHEMA_FLOAT64;
		if (fl)
			o->f = rows_alloc((size_t)rows * sizeof *o->f);
		else
			o->i = rows_alloc((size_t)rows * sizeof *o->i);
		for (size_t i = 0; i < sh->nchunks; i++) {
			const chunk_column *k = sh->chunks[i][c];
			const uint32_t *dr = dest + at;
			uint32_t n = k->rows, pre = n > AHEAD ? n - AHEAD : 0, r = 0;
			if (fl) {
				for (; r < pre;
				     r++) { /* random writes: each one's line asked for early */
					__builtin_prefetch(&o->f[dr[r + AHEAD]], 1);
					o->f[dr[r]] = k->f[r];
				}
				for (; r < n; r++)
					o->f[dr[r]] = k->f[r];
			} else {
				for (; r < pre; r++) {
					__builtin_prefetch(&o->i[dr[r + AHEAD]], 1);
					o->i[dr[r]] = k->i[r];
				}
				for (; r < n; r++)
					o->i[dr[r]] = k->i[r];
			}
			at += k->rows;
		}
		return (size_t)rows * 8;
	}
	/* STRING: one dictionary for the dataset, its bytes in an arena of the column's */
	strings st = {0};
	numtab_init(&st.t, 256);
	uint32_t *map = NULL;
	size_t mapcap = 0;
	o->idx = rows_alloc((size_t)rows * sizeof *o->idx);
	for (size_t i = 0; i < sh->nchunks; i++) {
		const chunk_column *k = sh->chunks[i][c];
		if (k->ndict > mapcap) {
			free(map);
			mapcap = k->ndict;
			map = pj_calloc(mapcap, sizeof *map);
		}
		for (uint32_t d = 0; d < k->ndict; d++)
			map[d] = string_no(&st, &k->dict[d]);
		const uint32_t *dr = dest + at;
		for (uint32_t r = 0; r < k->rows; r++) {
			uint32_t x = k->idx[r];
			if (r + AHEAD < k->rows)
				__builtin_prefetch(&o->idx[dr[r + AHEAD]], 1);
			o->idx[dr[r]] = x < k->ndict ? map[x] : 0; /* chunk_decode checked idx */
		}
		at += k->rows;
	}
	free(map);
	char *arena = pj_calloc(st.bytes + 1, 1);
	o->ndict = (uint32_t)st.t.n;
	o->dict = pj_calloc(o->ndict, sizeof *o->dict);
	size_t w = 0;
	for (uint32_t d = 0; d < o->ndict; d++) {
		if (st.v[d].len)
			memcpy(arena + w, st.v[d].p, st.v[d].len);
		o->dict[d] = (batch_str){.p = arena + w, .len = st.v[d].len};
		w += st.v[d].len;
	}
	p->arenas[c] = arena;
	p->arena_lens[c] = st.bytes + 1;
	free(st.v);
	free(st.t.slots);
	return (size_t)rows * 4 + (size_t)o->ndict * sizeof *o->dict + st.bytes;
}

static void *scatter_thread(void *arg)
{
	struct scatter_job *j = arg;
	struct scatter *sh = j->sh;
	for (int k = j->first; k < sh->ncols; k += j->step)
		sh->bytes[k] = scatter_column(sh, sh->cols[k]);
	return NULL;
}

proj *proj_build(const schema *s, const bool need[SCHEMA_MAX_COLUMNS],
                 const chunk_column *const (*chunks)[SCHEMA_MAX_COLUMNS], size_t nchunks,
                 int threads, char *err, size_t errlen)
{
	int sc = s->subject;
	if (sc < 0 || !need[sc]) {
		snprintf(err, errlen, "a projection needs the SUBJECT column");
		return NULL;
	}
	/* the chunks' rows, and every needed column as its chunk says */
	uint64_t total = 0;
	for (size_t i = 0; i < nchunks; i++) {
		uint32_t rows = chunks[i][sc]->rows;
		for (int c = 0; c < s->ncols; c++) {
			const chunk_column *k = need[c] ? chunks[i][c] : NULL;
			bool ok =
			        !need[c] || (k && k->rows == rows &&
			                     (c == sc ? k->idx && k->pseudonyms
			                      : s->cols[c].type == SCHEMA_STRING
			                              ? k->idx && (k->dict || !k->ndict)
			                      : s->cols[c].type == SCHEMA_FLOAT64 ? k->f != NULL
			                                                          : k->i != NULL));
			if (!ok) {
				snprintf(err, errlen,
				         "chunk %zu: column %s does not match its chunk", i,
				         s->cols[c].name);
				return NULL;
			}
		}
		total += rows;
	}
	if (total >= UINT32_MAX) {
		snprintf(err, errlen, "%llu rows: more than a projection holds",
		         (unsigned long long)total);
		return NULL;
	}
	uint32_t rows = (uint32_t)total;
	/* number the subjects; each row's subject */
	subjects sj = {0};
	numtab_init(&sj.t, 4096);
	uint32_t *rsub = pj_calloc(rows, sizeof *rsub), *map = NULL;
	size_t mapcap = 0;
	for (size_t i = 0, at = 0; i < nchunks; i++) {
		const chunk_column *k = chunks[i][sc];
		if (k->ndict > mapcap) {
			free(map);
			mapcap = k->ndict;
			map = pj_calloc(mapcap, sizeof *map);
		}
		for (uint32_t d = 0; d < k->ndict; d++)
			map[d] = subject_no(&sj, k->pseudonyms + (size_t)d * BATCH_PSEUDONYM_BYTES);
		for (uint32_t r = 0; r < k->rows; r++) {
			uint32_t x = k->idx[r];
			rsub[at++] = x < k->ndict ? map[x] : 0; /* chunk_decode checked idx */
		}
	}
	proj *p = pj_calloc(1, sizeof *p);
	p->rows = rows;
	p->nsubj = (uint32_t)sj.t.n;
	randombytes_buf(p->nonce, sizeof p->nonce);
	/* counting sort: each row's place */
	p->starts = pj_calloc((size_t)p->nsubj + 1, sizeof *p->starts);
	for (uint32_t r = 0; r < rows; r++)
		p->starts[rsub[r] + 1]++;
	for (uint32_t k = 0; k < p->nsubj; k++)
		p->starts[k + 1] += p->starts[k];
	uint32_t *dest = pj_calloc(rows, sizeof *dest), *cur = map;
	if (mapcap < p->nsubj || !cur) {
		free(map);
		cur = pj_calloc(p->nsubj, sizeof *cur);
	}
	memcpy(cur, p->starts, (size_t)p->nsubj * sizeof *cur);
	for (uint32_t r = 0; r < rows; r++)
		dest[r] = cur[rsub[r]]++;
	free(cur);
	for (int c = 0; c < s->ncols; c++)
		p->have[c] = need[c];
	/* the columns, scattered to their places, on threads */
	p->cols[sc].ndict = p->nsubj;
	p->cols[sc].pseudonyms = sj.ps; /* nsubj used of its cap: shrink so that free wipes all */
	if (sj.cap > p->nsubj) {
		uint8_t *ps = pj_calloc(p->nsubj, BATCH_PSEUDONYM_BYTES);
		memcpy(ps, sj.ps, (size_t)p->nsubj * BATCH_PSEUDONYM_BYTES);
		wipe_free(sj.ps, sj.cap * BATCH_PSEUDONYM_BYTES);
		p->cols[sc].pseudonyms = ps;
	}
	free(sj.t.slots);
	p->bytes =
	        sizeof *p + ((size_t)p->nsubj + 1) * 4 + (size_t)p->nsubj * BATCH_PSEUDONYM_BYTES;
	struct scatter sh = {
	        .s = s, .p = p, .chunks = chunks, .nchunks = nchunks, .dest = dest, .rsub = rsub};
	for (int c = 0; c < s->ncols; c++)
		if (need[c])
			sh.cols[sh.ncols++] = c;
	if (threads < 1)
		threads = 1;
	if (threads > SCATTER_THREADS)
		threads = SCATTER_THREADS;
	struct scatter_job jobs[SCATTER_THREADS];
	pthread_t tid[SCATTER_THREADS];
	bool started[SCATTER_THREADS] = {false};
	for (int t = 0; t < threads; t++) {
		jobs[t] = (struct scatter_job){.sh = &sh, .first = t, .step = threads};
		if (t > 0)
			started[t] = pthread_create(&tid[t], NULL, scatter_thread, &jobs[t]) == 0;
	}
	scatter_thread(&jobs[0]);
	for (int t = 1; t < threads; t++) {
		if (started[t])
			pthread_join(tid[t], NULL);
		else
			scatter_thread(&jobs[t]); /* no thread: this one does its share */
	}
	for (int k = 0; k < sh.ncols; k++)
		p->bytes += sh.bytes[k];
	wipe_free(rsub, (size_t)rows * sizeof *rsub);
	wipe_free(dest, (size_t)rows * sizeof *dest); /* with starts, it names each row's subject */
	return p;
}

void proj_digest_init(proj_digest_state *d)
{
	crypto_generichash_init(&d->st, (const uint8_t *)"fiducia-projection-v1", 21,
	                        PROJ_DIGEST_BYTES);
}

void proj_digest_chunk(proj_digest_state *d, const uint8_t id[CHUNK_ID_BYTES], uint32_t rows,
                       int key_version)
{
	uint32_t kv = (uint32_t)key_version;
	uint8_t b[8] = {
	        (uint8_t)(rows >> 24), (uint8_t)(rows >> 16), (uint8_t)(rows >> 8), (uint8_t)rows,
	        (uint8_t)(kv >> 24),   (uint8_t)(kv >> 16),   (uint8_t)(kv >> 8),   (uint8_t)kv};
	crypto_generichash_update(&d->st, id, CHUNK_ID_BYTES);
	crypto_generichash_update(&d->st, b, sizeof b);
}

void proj_digest_final(proj_digest_state *d, uint8_t out[PROJ_DIGEST_BYTES])
{
	crypto_generichash_final(&d->st, out, PROJ_DIGEST_BYTES);
}

/* ---- the cache -------------------------------------------------------------- */

/* A projection the cache handed out or holds. */
typedef struct held {
	struct held *next;
	proj *p;
	int refs;
	bool linked; /* its dataset's current one; else freed at its last release */
} held;

/* One dataset's slot. */
typedef struct pent {
	struct pent *next;
	char dataset[DATASET_MAX];
	uint8_t digest[PROJ_DIGEST_BYTES]; /* of cur */
	held *cur;
	uint64_t used;    /* tick of its last hit or put: the LRU */
	uint64_t forgets; /* projcache_forget calls: a build begun before the last is void */
	bool building;
	uint8_t bdigest[PROJ_DIGEST_BYTES]; /* the build's */
	uint64_t bepoch;                    /* ... and the forgets it was begun under */
} pent;

struct projcache {
	pthread_mutex_t mu;
	pent *ents;
	held *helds; /* every projection not yet freed */
	size_t bytes, max_bytes;
	uint64_t tick;
	projcache_stats st;
};

projcache *projcache_new(size_t max_bytes)
{
	projcache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	c->max_bytes = max_bytes;
	return c;
}

static pent *find(projcache *c, const char *dataset, bool make)
{
	for (pent *e = c->ents; e; e = e->next)
		if (strcmp(e->dataset, dataset) == 0)
			return e;
	if (!make || strlen(dataset) >= DATASET_MAX)
		return NULL;
	pent *e = pj_calloc(1, sizeof *e);
	memcpy(e->dataset, dataset, strlen(dataset) + 1);
	e->next = c->ents;
	c->ents = e;
	return e;
}

/* h off the cache's list, onto dead: wiped by bury once the lock is let go
 * (wiping hundreds of MiB must not hold up other threads' lookups). */
static void held_drop(projcache *c, held *h, held **dead)
{
	for (held **pp = &c->helds; *pp; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	h->next = *dead;
	*dead = h;
}

static void bury(held *dead)
{
	while (dead) {
		held *h = dead;
		dead = h->next;
		proj_free(h->p);
		free(h);
	}
}

/* The dataset's projection is no longer current: wiped now, or at its
 * last release. Under the lock. */
static void unlink_cur(projcache *c, pent *e, held **dead)
{
	held *h = e->cur;
	if (!h)
		return;
	e->cur = NULL;
	h->linked = false;
	c->bytes -= h->p->bytes;
	if (!h->refs)
		held_drop(c, h, dead);
}

void projcache_free(projcache *c)
{
	if (!c)
		return;
	while (c->ents) {
		pent *e = c->ents;
		c->ents = e->next;
		free(e);
	}
	held *dead = NULL;
	while (c->helds) /* no query may be reading any more */
		held_drop(c, c->helds, &dead);
	bury(dead);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

proj *projcache_get(projcache *c, const char *dataset, const uint8_t digest[PROJ_DIGEST_BYTES],
                    const bool need[SCHEMA_MAX_COLUMNS])
{
	proj *out = NULL;
	held *dead = NULL;
	pthread_mutex_lock(&c->mu);
	pent *e = find(c, dataset, false);
	if (e && e->cur && sodium_memcmp(e->digest, digest, PROJ_DIGEST_BYTES) != 0) {
		/* the dataset's chunks changed (in this process or another): its
		 * content is not coming back, and may hold erased rows */
		unlink_cur(c, e, &dead);
		c->st.purged++;
	}
	if (e && e->cur) {
		bool all = true;
		for (int k = 0; k < SCHEMA_MAX_COLUMNS && all; k++)
			all = !need[k] || e->cur->p->have[k];
		if (all) {
			e->cur->refs++;
			e->used = ++c->tick;
			out = e->cur->p;
		}
	}
	if (out)
		c->st.hits++;
	else
		c->st.misses++;
	pthread_mutex_unlock(&c->mu);
	bury(dead);
	return out;
}

void projcache_release(projcache *c, proj *p)
{
	if (!p)
		return;
	held *dead = NULL;
	pthread_mutex_lock(&c->mu);
	for (held *h = c->helds; h; h = h->next)
		if (h->p == p) {
			if (--h->refs == 0 && !h->linked)
				held_drop(c, h, &dead);
			break;
		}
	pthread_mutex_unlock(&c->mu);
	bury(dead);
}

uint64_t projcache_epoch(projcache *c, const char *dataset)
{
	pthread_mutex_lock(&c->mu);
	pent *e = find(c, dataset, true);
	uint64_t n = e ? e->forgets : 0;
	pthread_mutex_unlock(&c->mu);
	return n;
}

bool projcache_begin(projcache *c, const char *dataset, const uint8_t digest[PROJ_DIGEST_BYTES],
                     uint64_t epoch, bool also[SCHEMA_MAX_COLUMNS])
{
	memset(also, 0, SCHEMA_MAX_COLUMNS * sizeof *also);
	if (!c->max_bytes)
		return false;
	pthread_mutex_lock(&c->mu);
	pent *e = find(c, dataset, true);
	bool ok = e && !e->building && e->forgets == epoch;
	if (ok) {
		e->building = true;
		e->bepoch = epoch;
		memcpy(e->bdigest, digest, PROJ_DIGEST_BYTES);
		if (e->cur && sodium_memcmp(e->digest, digest, PROJ_DIGEST_BYTES) == 0)
			memcpy(also, e->cur->p->have, SCHEMA_MAX_COLUMNS * sizeof *also);
	}
	pthread_mutex_unlock(&c->mu);
	return ok;
}

/* Evict the least recently used projections nobody reads until the bytes
 * fit (keep: the one just put). Under the lock. */
static void evict(projcache *c, const pent *keep, held **dead)
{
	while (c->bytes > c->max_bytes) {
		pent *lru = NULL;
		for (pent *e = c->ents; e; e = e->next)
			if (e != keep && e->cur && !e->cur->refs && (!lru || e->used < lru->used))
				lru = e;
		if (!lru)
			return;
		unlink_cur(c, lru, dead);
		c->st.evictions++;
	}
}

void projcache_put(projcache *c, const char *dataset, proj *p)
{
	pthread_mutex_lock(&c->mu);
	pent *e = find(c, dataset, false);
	if (!e || !e->building) { /* not claimed: never kept */
		pthread_mutex_unlock(&c->mu);
		proj_free(p);
		return;
	}
	e->building = false;
	if (e->forgets != e->bepoch || p->bytes > c->max_bytes) {
		c->st.dropped++;
		pthread_mutex_unlock(&c->mu);
		proj_free(p);
		return;
	}
	held *dead = NULL;
	unlink_cur(c, e, &dead);
	held *h = pj_calloc(1, sizeof *h);
	h->p = p;
	h->linked = true;
	h->next = c->helds;
	c->helds = h;
	e->cur = h;
	memcpy(e->digest, e->bdigest, PROJ_DIGEST_BYTES);
	e->used = ++c->tick;
	c->bytes += p->bytes;
	c->st.builds++;
	evict(c, e, &dead);
	pthread_mutex_unlock(&c->mu);
	bury(dead);
}

void projcache_abandon(projcache *c, const char *dataset)
{
	pthread_mutex_lock(&c->mu);
	pent *e = find(c, dataset, false);
	if (e)
		e->building = false;
	pthread_mutex_unlock(&c->mu);
}

void projcache_forget(projcache *c, const char *dataset)
{
	held *dead = NULL;
	pthread_mutex_lock(&c->mu);
	pent *e = find(c, dataset, true);
	if (e) {
		if (e->cur)
			c->st.purged++;
		unlink_cur(c, e, &dead);
		e->forgets++; /* a build begun before (on chunks listed before) is void */
	}
	pthread_mutex_unlock(&c->mu);
	bury(dead);
}

void projcache_stats_get(projcache *c, projcache_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	out->bytes = c->bytes;
	out->max_bytes = c->max_bytes;
	out->entries = 0;
	for (pent *e = c->ents; e; e = e->next)
		out->entries += e->cur != NULL;
	pthread_mutex_unlock(&c->mu);
}
