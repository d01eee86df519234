/*
 * consent_cache: consent views kept per dataset and purpose, checked against
 * the dataset's consent version on every load; see consent_cache.h.
 */
#include "consent_cache.h"
#include "app.h"
#include "batch.h"
#include "db.h"
#include "log.h"
#include "pdp.h"
#include "pgutil.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- bitmaps: immutable once published, shared by reference -------------- */

typedef struct cbits {
	int refs; /* atomic */
	uint32_t nbits, count;
	uint64_t w[];
} cbits;

static cbits *bits_new(uint32_t nbits, const cbits *from)
{
	size_t nw = ((size_t)nbits + 63) / 64;
	cbits *b = calloc(1, sizeof *b + nw * sizeof b->w[0]);
	if (!b)
		abort();
	b->refs = 1;
	b->nbits = nbits;
	if (from) {
		size_t fw = ((size_t)from->nbits + 63) / 64;
		memcpy(b->w, from->w, (fw < nw ? fw : nw) * sizeof b->w[0]);
		b->count = from->count;
	}
	return b;
}

static inline bool bits_test(const cbits *b, uint32_t no)
{
	return no < b->nbits && (b->w[no >> 6] >> (no & 63) & 1);
}

static void bits_set(cbits *b, uint32_t no, bool on)
{
	if (no == 0 || no >= b->nbits || bits_test(b, no) == on)
		return;
	b->w[no >> 6] ^= 1ULL << (no & 63);
	b->count += on ? 1 : (uint32_t)-1;
}

static cbits *bits_ref(cbits *b)
{
	if (b)
		__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	return b;
}

static void bits_unref(cbits *b)
{
	if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

/* ---- per dataset: the universe of numbered subjects, and the bitmaps ------ */

struct purpose_view {
	char purpose[128];
	cbits *bm;
	int64_t version;     /* the consent version bm reflects */
	int64_t at_lo;       /* bm holds for instants in [at_lo, next_change) */
	int64_t next_change; /* the first validity boundary after at_lo */
};

typedef struct dstate {
	struct dstate *next;
	char id[64];
	uint64_t gen; /* names this universe in chunk maps */
	pthread_rwlock_t lock;
	/* open addressing; a zero number marks an empty slot */
	uint8_t (*keys)[BATCH_PSEUDONYM_BYTES];
	uint32_t *nos;
	size_t mask;
	size_t n; /* numbers 1..n are given; atomic for readers */
	/* loop thread only */
	struct purpose_view *pv;
	size_t npv;
} dstate;

struct consent_cache {
	dstate *datasets; /* loop thread only */
	uint64_t next_gen;
	pthread_mutex_t mu; /* the chunk maps and the statistics */
	struct cmap **buckets;
	size_t nbuckets;
	struct cmap *head, *tail; /* most and least recently used */
	size_t bytes, max_bytes;
	consent_cache_stats st;
};

static size_t slot_of(const uint8_t *p, size_t mask)
{
	uint64_t a, b;
	memcpy(&a, p, sizeof a);
	memcpy(&b, p + 8, sizeof b);
	uint64_t h = (a ^ (b << 32 | b >> 32)) * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h ^ h >> 29) & mask;
}

/* Under the read (or write) lock. 0 = not numbered. */
static uint32_t universe_find(const dstate *d, const uint8_t *p)
{
	if (!d->nos)
		return 0;
	for (size_t at = slot_of(p, d->mask);; at = (at + 1) & d->mask) {
		if (d->nos[at] == 0)
			return 0;
		if (memcmp(d->keys[at], p, BATCH_PSEUDONYM_BYTES) == 0)
			return d->nos[at];
	}
}

static void universe_put(uint8_t (*keys)[BATCH_PSEUDONYM_BYTES], uint32_t *nos, size_t mask,
                         const uint8_t *p, uint32_t no)
{
	size_t at = slot_of(p, mask);
	while (nos[at])
		at = (at + 1) & mask;
	memcpy(keys[at], p, BATCH_PSEUDONYM_BYTES);
	nos[at] = no;
}

/* Under the write lock: p's number, given now if it had none. */
static uint32_t universe_number(dstate *d, const uint8_t *p)
{
	uint32_t no = universe_find(d, p);
	if (no)
		return no;
	if (d->n >= UINT32_MAX - 1)
		abort(); /* four billion subjects in one dataset */
	if (!d->nos || 2 * (d->n + 1) > d->mask + 1) {
		size_t cap = d->nos ? 2 * (d->mask + 1) : 1024;
		uint8_t(*keys)[BATCH_PSEUDONYM_BYTES] = malloc(cap * sizeof *keys);
		uint32_t *nos = calloc(cap, sizeof *nos);
		if (!keys || !nos)
			abort();
		for (size_t i = 0; d->nos && i <= d->mask; i++)
			if (d->nos[i])
				universe_put(keys, nos, cap - 1, d->keys[i], d->nos[i]);
		free(d->keys);
		free(d->nos);
		d->keys = keys;
		d->nos = nos;
		d->mask = cap - 1;
	}
	no = (uint32_t)d->n + 1;
	universe_put(d->keys, d->nos, d->mask, p, no);
	__atomic_store_n(&d->n, d->n + 1, __ATOMIC_RELEASE);
	return no;
}

static dstate *dstate_get(consent_cache *c, const char *dataset)
{
	for (dstate *d = c->datasets; d; d = d->next)
		if (strcmp(d->id, dataset) == 0)
			return d;
	dstate *d = calloc(1, sizeof *d);
	if (!d || strlen(dataset) >= sizeof d->id)
		abort(); /* dataset ids are checked long before */
	strcpy(d->id, dataset);
	d->gen = ++c->next_gen;
	/* Workers read the universe continuously; the loop thread, which
	 * writes it, must not starve behind them (glibc prefers readers). */
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
#ifdef __GLIBC__
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
	pthread_rwlock_init(&d->lock, &a);
	pthread_rwlockattr_destroy(&a);
	d->next = c->datasets;
	c->datasets = d;
	return d;
}

static struct purpose_view *pv_get(dstate *d, const char *purpose, bool create)
{
	for (size_t i = 0; i < d->npv; i++)
		if (strcmp(d->pv[i].purpose, purpose) == 0)
			return &d->pv[i];
	if (!create)
		return NULL;
	struct purpose_view *pv = realloc(d->pv, (d->npv + 1) * sizeof *pv);
	if (!pv)
		abort();
	d->pv = pv;
	pv = &d->pv[d->npv++];
	memset(pv, 0, sizeof *pv);
	snprintf(pv->purpose, sizeof pv->purpose, "%s", purpose);
	pv->version = -1;
	return pv;
}

/* ---- views ---------------------------------------------------------------- */

struct consent_view {
	consent_cache *c;
	dstate *d;
	cbits *bm;
	int64_t until; /* the first validity boundary after the instant loaded */
};

static consent_view *view_new(consent_cache *c, dstate *d, cbits *bm, int64_t until)
{
	consent_view *v = malloc(sizeof *v);
	if (!v)
		abort();
	v->c = c;
	v->d = d;
	v->bm = bits_ref(bm);
	v->until = until;
	return v;
}

int64_t consent_view_until(const consent_view *v)
{
	return v->until;
}

void consent_view_release(consent_view *v)
{
	if (!v)
		return;
	bits_unref(v->bm);
	free(v);
}

size_t consent_view_size(const consent_view *v)
{
	return v->bm->count;
}

bool consent_view_has(const consent_view *v, const uint8_t *p)
{
	pthread_rwlock_rdlock(&v->d->lock);
	uint32_t no = universe_find(v->d, p);
	pthread_rwlock_unlock(&v->d->lock);
	return bits_test(v->bm, no);
}

/* ---- chunk maps: dictionary entry -> subject number ------------------------ */

typedef struct cmap {
	struct cmap *hnext, *prev, *next;
	uint8_t nonce[CHUNK_NONCE_BYTES];
	uint64_t gen;
	uint32_t ndict;
	size_t uni_n; /* the universe's size when built */
	int refs;
	bool linked;
	uint32_t nos[];
} cmap;

static size_t cmap_size(const cmap *m)
{
	return sizeof *m + (size_t)m->ndict * sizeof m->nos[0];
}

static size_t bucket_of(const consent_cache *c, const uint8_t *nonce)
{
	uint64_t h;
	memcpy(&h, nonce, sizeof h); /* random bytes */
	return (size_t)h & (c->nbuckets - 1);
}

/* Under mu: take m out of the table and the LRU list; freed now if unused. */
static void cmap_unlink(consent_cache *c, cmap *m)
{
	cmap **pp = &c->buckets[bucket_of(c, m->nonce)];
	while (*pp != m)
		pp = &(*pp)->hnext;
	*pp = m->hnext;
	if (m->prev)
		m->prev->next = m->next;
	else
		c->head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		c->tail = m->prev;
	m->linked = false;
	c->bytes -= cmap_size(m);
	if (m->refs == 0)
		free(m);
}

static void cmap_release(consent_cache *c, cmap *m)
{
	pthread_mutex_lock(&c->mu);
	if (--m->refs == 0 && !m->linked)
		free(m);
	pthread_mutex_unlock(&c->mu);
}

/* Under mu: the map for nonce, or NULL. */
static cmap *cmap_find(consent_cache *c, const uint8_t *nonce)
{
	for (cmap *m = c->buckets[bucket_of(c, nonce)]; m; m = m->hnext)
		if (memcmp(m->nonce, nonce, CHUNK_NONCE_BYTES) == 0)
			return m;
	return NULL;
}

/* Number every dictionary entry, copying those old already had. */
static cmap *cmap_build(const dstate *d, const uint8_t *nonce, const chunk_column *subj,
                        const cmap *old)
{
	cmap *m = malloc(sizeof *m + (size_t)subj->ndict * sizeof m->nos[0]);
	if (!m)
		abort();
	memset(m, 0, sizeof *m);
	memcpy(m->nonce, nonce, CHUNK_NONCE_BYTES);
	m->gen = d->gen;
	m->ndict = subj->ndict;
	m->refs = 1;
	pthread_rwlock_rdlock((pthread_rwlock_t *)&d->lock);
	m->uni_n = d->n;
	for (uint32_t k = 0; k < subj->ndict; k++)
		m->nos[k] = old && old->nos[k]
		                    ? old->nos[k]
		                    : universe_find(d, subj->pseudonyms +
		                                               (size_t)k * BATCH_PSEUDONYM_BYTES);
	pthread_rwlock_unlock((pthread_rwlock_t *)&d->lock);
	return m;
}

/* Keep m (held once by the caller) in the cache, replacing any other map
 * of its nonce, and evict the least recently used beyond the cap. */
static void cmap_insert(consent_cache *c, cmap *m)
{
	pthread_mutex_lock(&c->mu);
	if (c->max_bytes == 0) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	cmap *old = cmap_find(c, m->nonce);
	if (old)
		cmap_unlink(c, old);
	size_t b = bucket_of(c, m->nonce);
	m->hnext = c->buckets[b];
	c->buckets[b] = m;
	m->prev = NULL;
	m->next = c->head;
	if (c->head)
		c->head->prev = m;
	c->head = m;
	if (!c->tail)
		c->tail = m;
	m->linked = true;
	c->bytes += cmap_size(m);
	while (c->bytes > c->max_bytes && c->tail && c->tail != m) {
		cmap_unlink(c, c->tail);
		c->st.map_evictions++;
	}
	pthread_mutex_unlock(&c->mu);
}

size_t consent_view_filter(consent_view *v, const uint8_t nonce[CHUNK_NONCE_BYTES],
                           const chunk_column *subj, uint8_t *keep)
{
	return consent_view_numbers(v, nonce, subj, keep, NULL);
}

size_t consent_view_numbers(consent_view *v, const uint8_t nonce[CHUNK_NONCE_BYTES],
                            const chunk_column *subj, uint8_t *keep, uint32_t *nos)
{
	consent_cache *c = v->c;
	dstate *d = v->d;
	size_t uni_n = __atomic_load_n(&d->n, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&c->mu);
	cmap *m = cmap_find(c, nonce);
	if (m && (m->gen != d->gen || m->ndict != subj->ndict)) {
		cmap_unlink(c, m); /* not this column's: never trust it */
		m = NULL;
	}
	if (m) {
		m->refs++;
		if (m != c->head) { /* most recently used */
			m->prev->next = m->next;
			if (m->next)
				m->next->prev = m->prev;
			else
				c->tail = m->prev;
			m->prev = NULL;
			m->next = c->head;
			c->head->prev = m;
			c->head = m;
		}
		if (m->uni_n < uni_n)
			c->st.map_refreshes++;
		else
			c->st.map_hits++;
	} else {
		c->st.map_builds++;
	}
	pthread_mutex_unlock(&c->mu);
	if (!m || m->uni_n < uni_n) {
		/* Subjects numbered since the map was built may be in it. */
		cmap *fresh = cmap_build(d, nonce, subj, m);
		if (m)
			cmap_release(c, m);
		m = fresh;
		cmap_insert(c, m);
	}

	uint8_t small[4096] = {0},
	        *allowed = subj->ndict <= sizeof small ? small : malloc(subj->ndict);
	if (!allowed)
		abort();
	const cbits *bm = v->bm;
	for (uint32_t k = 0; k < subj->ndict; k++)
		allowed[k] = bits_test(bm, m->nos[k]);
	if (nos)
		for (uint32_t k = 0; k < subj->ndict; k++)
			nos[k] = allowed[k] ? m->nos[k] : 0;
	size_t kept = chunk_rows_by_dict(subj, allowed, keep);
	if (allowed != small)
		free(allowed);
	cmap_release(c, m);
	return kept;
}

/* ---- the cache --------------------------------------------------------------- */

consent_cache *consent_cache_new(size_t max_bytes)
{
	consent_cache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->nbuckets = 1 << 14;
	c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->max_bytes = max_bytes;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void consent_cache_free(consent_cache *c)
{
	if (!c)
		return;
	while (c->head)
		cmap_unlink(c, c->head); /* no view may be in use any more */
	free(c->buckets);
	for (dstate *d = c->datasets, *next; d; d = next) {
		next = d->next;
		for (size_t i = 0; i < d->npv; i++)
			bits_unref(d->pv[i].bm);
		free(d->pv);
		if (d->keys)
			sodium_memzero(d->keys, (d->mask + 1) * sizeof *d->keys);
		free(d->keys);
		free(d->nos);
		pthread_rwlock_destroy(&d->lock);
		free(d);
	}
	pthread_mutex_destroy(&c->mu);
	free(c);
}

void consent_cache_stats_get(consent_cache *c, consent_cache_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->st;
	out->map_bytes = c->bytes;
	pthread_mutex_unlock(&c->mu);
}

/* ---- loading ----------------------------------------------------------------- */

#define AT "('epoch'::timestamptz + $3::bigint * interval '1 microsecond')"
/* Consent GIVEN, valid at AT, for one of the purposes $2 (the query's and
 * its ancestors), with that purpose not withdrawn. */
#define LIVE(c)                                                                                    \
	c ".withdrawn_at IS NULL AND " c ".valid_from <= " AT " AND (" c                           \
	  ".valid_until IS NULL OR " c ".valid_until > " AT ") AND " c                             \
	  ".purposes && $2::text[] AND EXISTS (SELECT 1 FROM unnest(" c                            \
	  ".purposes) p WHERE p = ANY($2::text[]) AND NOT EXISTS (SELECT 1 FROM "                  \
	  "consent_withdrawals w WHERE w.consent = " c ".id AND w.purpose = p))"
/* The first validity boundary after AT of the live records (of WHERE). */
#define BOUNDARY(where)                                                                            \
	"(SELECT (extract(epoch FROM least(min(valid_from) FILTER (WHERE valid_from > " AT         \
	"), min(valid_until) FILTER (WHERE valid_until > " AT "))) * 1000000)::bigint FROM "       \
	"consents WHERE dataset = $1 AND withdrawn_at IS NULL" where ")"
#define VERSION "coalesce((SELECT version FROM consent_versions WHERE dataset = $1), 0)"

/* Every subject counted: (subject, NULL, NULL, true) rows and one
 * (NULL, version, boundary, NULL) row, from one snapshot. Records with no
 * purpose withdrawn (nearly all) are decided without the subquery. */
static const char sql_full[] = "SELECT NULL::bytea, " VERSION ", " BOUNDARY(
        "") ", NULL::bool UNION ALL "
            "SELECT c.subject, NULL, NULL, true FROM consents c LEFT JOIN (SELECT DISTINCT consent "
            "FROM consent_withdrawals) wd ON wd.consent = c.id WHERE c.dataset = $1 AND "
            "c.withdrawn_at IS NULL AND c.valid_from <= " AT " AND (c.valid_until IS NULL OR "
            "c.valid_until > " AT
            ") AND c.purposes && $2::text[] AND (wd.consent IS NULL OR " LIVE("c") ")";

/* The subjects whose records changed since version $4, each decided anew.
 * The meta row's last column says whether an erasure (which deletes records
 * and leaves no stamp) happened since: then the delta cannot be trusted. */
static const char sql_delta[] =
        "WITH ch AS (SELECT subject FROM consents WHERE dataset = $1 AND version > $4::bigint "
        "UNION SELECT c.subject FROM consent_withdrawals w JOIN consents c ON c.id = w.consent "
        "WHERE w.version > $4::bigint AND c.dataset = $1) "
        "SELECT NULL::bytea, " VERSION ", " BOUNDARY(
                " AND subject IN (SELECT subject FROM ch)") ", "
                                                            "coalesce((SELECT full_since FROM "
                                                            "consent_versions WHERE dataset = "
                                                            "$1), 0) > $4::bigint UNION ALL SELECT "
                                                            "ch.subject, NULL, NULL, EXISTS "
                                                            "(SELECT 1 FROM consents c "
                                                            "WHERE c.dataset = $1 AND c.subject = "
                                                            "ch.subject AND " LIVE("c") ") FROM ch";

enum { LOAD_CHECK, LOAD_DELTA, LOAD_FULL };

struct vload {
	struct app *app;
	dstate *d;
	char purpose[128];
	char list[4096]; /* the purpose and its ancestors, a SQL array */
	char at_s[24], base_s[24];
	int64_t at;
	int mode;
	/* the bitmap a delta applies to */
	cbits *base;
	int64_t base_version, base_next;
	consent_view_cb cb;
	void *arg;
};

static void vload_done(struct vload *l, consent_view *v)
{
	bits_unref(l->base);
	l->cb(v, l->arg);
	free(l);
}

static void loaded(PGresult *res, void *arg);

static void vload_send(struct vload *l)
{
	const char *p[4] = {l->d->id, l->list, l->at_s, l->base_s};
	if (l->mode == LOAD_DELTA)
		db_query(l->app->db, sql_delta, 4, p, loaded, l);
	else
		db_query(l->app->db, sql_full, 3, p, loaded, l);
}

static bool hex16(const char *hex, uint8_t p[BATCH_PSEUDONYM_BYTES])
{
	size_t got = 0;
	return strncmp(hex, "\\x", 2) == 0 &&
	       sodium_hex2bin(p, BATCH_PSEUDONYM_BYTES, hex + 2, strlen(hex + 2), NULL, &got,
	                      NULL) == 0 &&
	       got == BATCH_PSEUDONYM_BYTES;
}

static void loaded(PGresult *res, void *arg)
{
	struct vload *l = arg;
	consent_cache *c = l->app->consents;
	dstate *d = l->d;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		log_error("cannot load the consent of a dataset: %s",
		          res ? PQresultErrorMessage(res) : "connection lost");
		vload_done(l, NULL);
		return;
	}
	int n = PQntuples(res);
	if (l->mode == LOAD_CHECK) {
		int64_t version = n ? atoll(PQgetvalue(res, 0, 0)) : 0;
		int64_t full_since = n ? atoll(PQgetvalue(res, 0, 1)) : 0;
		struct purpose_view *pv = pv_get(d, l->purpose, false);
		bool in_window = pv && pv->bm && l->at >= pv->at_lo && l->at < pv->next_change;
		if (in_window && pv->version == version) {
			pthread_mutex_lock(&c->mu);
			c->st.fresh++;
			pthread_mutex_unlock(&c->mu);
			vload_done(l, view_new(c, d, pv->bm, pv->next_change));
			return;
		}
		if (in_window && pv->version >= full_since && pv->version < version) {
			l->mode = LOAD_DELTA;
			l->base = bits_ref(pv->bm);
			l->base_version = pv->version;
			l->base_next = pv->next_change;
			snprintf(l->base_s, sizeof l->base_s, "%lld", (long long)pv->version);
		} else {
			l->mode = LOAD_FULL;
		}
		vload_send(l);
		return;
	}

	/* The rows: the meta row, then subjects. */
	int64_t version = -1, next_change = INT64_MAX;
	bool erased_since = false;
	size_t nsub = 0;
	uint8_t(*ps)[BATCH_PSEUDONYM_BYTES] = malloc(((size_t)n + 1) * sizeof *ps);
	bool *live = malloc((size_t)n + 1);
	if (!ps || !live)
		abort();
	bool bad = false;
	for (int i = 0; i < n; i++) {
		if (PQgetisnull(res, i, 0)) {
			version = atoll(PQgetvalue(res, i, 1));
			if (!PQgetisnull(res, i, 2))
				next_change = atoll(PQgetvalue(res, i, 2));
			erased_since = !PQgetisnull(res, i, 3) && PQgetvalue(res, i, 3)[0] == 't';
			continue;
		}
		if (!hex16(PQgetvalue(res, i, 0), ps[nsub])) {
			bad = true;
			break;
		}
		live[nsub++] = strcmp(PQgetvalue(res, i, 3), "t") == 0;
	}
	if (!bad && l->mode == LOAD_DELTA && erased_since) {
		/* An erasure committed between the check and this read. */
		sodium_memzero(ps, ((size_t)n + 1) * sizeof *ps);
		free(ps);
		free(live);
		bits_unref(l->base);
		l->base = NULL;
		l->mode = LOAD_FULL;
		vload_send(l);
		return;
	}
	if (bad || version < 0) {
		log_error("the consent of dataset %s did not load: malformed rows", d->id);
		sodium_memzero(ps, ((size_t)n + 1) * sizeof *ps);
		free(ps);
		free(live);
		vload_done(l, NULL);
		return;
	}
	/* Number the subjects counted, then build the bitmap over the numbers. */
	pthread_rwlock_wrlock(&d->lock);
	uint32_t *nos = malloc((nsub + 1) * sizeof *nos);
	if (!nos)
		abort();
	for (size_t i = 0; i < nsub; i++)
		nos[i] = live[i] ? universe_number(d, ps[i]) : universe_find(d, ps[i]);
	uint32_t nbits = (uint32_t)d->n + 1;
	pthread_rwlock_unlock(&d->lock);
	cbits *bm = bits_new(nbits, l->mode == LOAD_DELTA ? l->base : NULL);
	for (size_t i = 0; i < nsub; i++)
		bits_set(bm, nos[i], live[i]);
	if (l->mode == LOAD_DELTA && l->base_next < next_change)
		next_change = l->base_next;
	sodium_memzero(ps, ((size_t)n + 1) * sizeof *ps);
	free(ps);
	free(live);
	free(nos);

	pthread_mutex_lock(&c->mu);
	if (l->mode == LOAD_DELTA)
		c->st.delta++;
	else
		c->st.full++;
	pthread_mutex_unlock(&c->mu);
	/* Keep it for the next query, unless a newer one was kept meanwhile. */
	struct purpose_view *pv = pv_get(d, l->purpose, true);
	if (version > pv->version || (version == pv->version && l->at >= pv->at_lo)) {
		bits_unref(pv->bm);
		pv->bm = bits_ref(bm);
		pv->version = version;
		pv->at_lo = l->at;
		pv->next_change = next_change;
	}
	consent_view *v = view_new(c, d, bm, next_change);
	bits_unref(bm);
	vload_done(l, v);
}

void consent_purpose_list(const struct pdp_vocab *vocab, const char *purpose, char *out, size_t n)
{
	size_t len = 1;
	out[0] = '{';
	int i = pdp_vocab_find(vocab, purpose);
	while (i >= 0) {
		const char *id = pdp_vocab_id(vocab, (size_t)i);
		if (len + strlen(id) + 4 >= n)
			break; /* cannot happen with the vocabulary's ids; never overflow */
		len += (size_t)snprintf(out + len, n - len, "%s\"%s\"", len > 1 ? "," : "", id);
		i = pdp_vocab_parent(vocab, (size_t)i);
	}
	snprintf(out + len, n - len, "}");
}

void consent_view_load(struct app *app, const char *dataset, const char *purpose,
                       int64_t at_unix_micros, consent_view_cb cb, void *arg)
{
	struct vload *l = calloc(1, sizeof *l);
	if (!l)
		abort();
	l->app = app;
	l->d = dstate_get(app->consents, dataset);
	snprintf(l->purpose, sizeof l->purpose, "%s", purpose);
	consent_purpose_list(app->vocab, purpose, l->list, sizeof l->list);
	l->at = at_unix_micros;
	snprintf(l->at_s, sizeof l->at_s, "%lld", (long long)at_unix_micros);
	l->mode = LOAD_CHECK;
	l->cb = cb;
	l->arg = arg;
	const char *p[1] = {l->d->id};
	db_query(app->db, "SELECT version, full_since FROM consent_versions WHERE dataset = $1", 1,
	         p, loaded, l);
}
