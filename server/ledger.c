/*
 * The ledger: checkpoints signed by a timer and installed by
 * compare-and-swap (appends and the sequencer are in ledger_seq.c), and the
 * read routes: checkpoint,
 * verifier key, entries, inclusion and consistency proofs. Proofs fetch
 * exactly the stored subtrees they need: O(log n) rows.
 */
#include "ledger.h"
#include "app.h"
#include "auth.h"
#include "keys.h"
#include "log.h"
#include "merkle.h"
#include "note.h"

#include <event2/event.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define ENTRIES_MAX_LIMIT 1000
#define HEXH              (2 * MERKLE_HASH_LEN + 1)

struct ledger {
	struct app *app;
	char *origin;
	char vkey[NOTE_VKEY_MAX + 1];
	struct event *timer;
	bool signing; /* a signing round is in flight */
};

static bool unhex(const char *s, uint8_t *out, size_t n)
{
	size_t got = 0;
	return sodium_hex2bin(out, n, s, strlen(s), NULL, &got, NULL) == 0 && got == n;
}

void ledger_entry_from_request(Fiducia__V1__LedgerEntry *e, const http_req *r)
{
	e->actor_org = (char *)r->claims.org;
	e->actor_role = (char *)auth_role_name(r->claims.role);
	static const uint8_t zero[32];
	if (sodium_memcmp(r->claims.jti_hash, zero, 32) != 0) {
		e->token_jti_hash.data = (uint8_t *)r->claims.jti_hash;
		e->token_jti_hash.len = 32;
	}
}

/* ---- checkpoints ----------------------------------------------------- */

bool ledger_check_key(PGconn *c, const char *origin, const uint8_t pk[32], char *err, size_t errlen)
{
	PGresult *r = PQexec(c, "SELECT checkpoint FROM ledger_head WHERE id = 1");
	bool ok = true;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		const char *cp = PQgetvalue(r, 0, 0);
		size_t text_len;
		char why[128];
		if (*cp && !note_verify(cp, strlen(cp), origin, pk, &text_len, why, sizeof why)) {
			snprintf(err, errlen,
			         "the log's current checkpoint does not verify with this process's "
			         "ledger key and origin %s (%s): every fiduciad of a deployment "
			         "must "
			         "share ledger_key_file and ledger_origin",
			         origin, why);
			ok = false;
		}
	}
	PQclear(r);
	return ok;
}

struct sign_round {
	ledger *l;
	char *note;
	char size[24];
};

static void cas_done(PGresult *res, void *arg)
{
	struct sign_round *s = arg;
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK && atoi(PQcmdTuples(res)) == 1)
		log_debug("ledger: checkpoint at size %s", s->size);
	s->l->signing = false;
	free(s->note);
	free(s);
}

static void head_read(PGresult *res, void *arg)
{
	ledger *l = arg;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		l->signing = false;
		return;
	}
	uint64_t size = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	long long cp = atoll(PQgetvalue(res, 0, 2));
	if (cp >= 0 && (uint64_t)cp >= size) {
		l->signing = false;
		return;
	}
	uint8_t root[MERKLE_HASH_LEN];
	char text[NOTE_NAME_MAX + CHECKPOINT_OVERHEAD + 1], err[128];
	struct sign_round *s = calloc(1, sizeof *s);
	size_t len = 0;
	if (!s || !unhex(PQgetvalue(res, 0, 1), root, sizeof root) ||
	    !checkpoint_format(l->origin, size, root, text, sizeof text) ||
	    !note_sign(text, strlen(text), l->origin, l->app->keys->ledger_sk, &s->note, &len, err,
	               sizeof err)) {
		log_error("ledger: cannot sign a checkpoint");
		free(s);
		l->signing = false;
		return;
	}
	s->l = l;
	snprintf(s->size, sizeof s->size, "%llu", (unsigned long long)size);
	const char *p[2] = {s->size, s->note};
	/* Only forward, and only to a size the log has: never two
	 * inconsistent checkpoints, whoever signs. */
	db_query(l->app->db,
	         "UPDATE ledger_head SET checkpoint_size = $1, checkpoint = $2 WHERE id = 1 AND "
	         "checkpoint_size < $1::bigint AND size >= $1::bigint",
	         2, p, cas_done, s);
}

static void sign_tick(evutil_socket_t fd, short what, void *arg)
{
	ledger *l = arg;
	if (l->signing || !db_pool_up(l->app->db))
		return;
	l->signing = true;
	db_query(l->app->db,
	         "SELECT size, encode(root, 'hex'), checkpoint_size FROM ledger_head WHERE id = 1",
	         0, NULL, head_read, l);
}

ledger *ledger_new(struct app *app, const char *origin, char *err, size_t errlen)
{
	ledger *l = calloc(1, sizeof *l);
	if (!l || !(l->origin = strdup(origin)))
		goto oom;
	l->app = app;
	if (!note_vkey_format(origin, app->keys->ledger_pk, l->vkey, sizeof l->vkey)) {
		snprintf(err, errlen, "option ledger_origin: \"%s\" is not a valid key name",
		         origin);
		ledger_free(l);
		return NULL;
	}
	l->timer = event_new(app->base, -1, EV_PERSIST, sign_tick, l);
	if (!l->timer)
		goto oom;
	struct timeval tv = {1, 0};
	event_add(l->timer, &tv);
	return l;
oom:
	snprintf(err, errlen, "out of memory");
	ledger_free(l);
	return NULL;
}

void ledger_free(ledger *l)
{
	if (!l)
		return;
	if (l->timer)
		event_free(l->timer);
	free(l->origin);
	free(l);
}

/* ---- routes ------------------------------------------------------------- */

static ledger *ledger_of(http_req *r)
{
	return r->app->ledger;
}

/* A query-string integer in [min, max], or def when absent. */
static bool query_u64(http_req *r, const char *name, uint64_t def, uint64_t min, uint64_t max,
                      uint64_t *out)
{
	const char *v = http_query(r, name);
	if (!v) {
		*out = def;
		return true;
	}
	char *end;
	unsigned long long x = strtoull(v, &end, 10);
	if (!*v || *end || v[0] == '-' || x < min || x > max) {
		http_reply_error(r, 400, "invalid_argument",
		                 "query parameter %s must be an integer in [%llu, %llu]", name,
		                 (unsigned long long)min, (unsigned long long)max);
		return false;
	}
	*out = x;
	return true;
}

/* GET /v1/ledger/checkpoint[?size=N]: with N, wait (up to 5 s) for a
 * checkpoint covering at least N entries, signing one at once. */
struct cp_wait {
	uint64_t want; /* 0: whatever is current */
	int tries;
	struct event *timer;
};

static void cp_poll(http_req *r);

static void cp_timer(evutil_socket_t fd, short what, void *arg)
{
	cp_poll(arg);
}

static void cp_free(void *p)
{
	struct cp_wait *w = p;
	if (w->timer)
		event_free(w->timer);
	free(w);
}

static void checkpoint_read(PGresult *res, void *arg)
{
	http_req *r = arg;
	struct cp_wait *w = r->ctx;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		http_reply_unavailable(r);
		return;
	}
	const char *cp = PQgetvalue(res, 0, 0);
	long long cp_size = atoll(PQgetvalue(res, 0, 1));
	uint64_t size = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
	if (w->want > size) {
		http_reply_error(r, 400, "invalid_argument", "the log has %llu entries, not %llu",
		                 (unsigned long long)size, (unsigned long long)w->want);
		return;
	}
	if (*cp && cp_size >= 0 && (uint64_t)cp_size >= w->want) {
		http_reply_raw(r, 200, "text/plain; charset=utf-8", cp, strlen(cp));
		return;
	}
	if (w->want == 0 && *cp) {
		http_reply_raw(r, 200, "text/plain; charset=utf-8", cp, strlen(cp));
		return;
	}
	if (++w->tries > 100) {
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Retry-After", "1");
		http_reply_error(r, 503, "unavailable", "no checkpoint covers %llu entries yet",
		                 (unsigned long long)w->want);
		return;
	}
	/* Ask for a signature now rather than at the next tick, then look again. */
	sign_tick(-1, 0, ledger_of(r));
	if (!w->timer && !(w->timer = evtimer_new(r->app->base, cp_timer, r)))
		abort();
	struct timeval tv = {0, 50000};
	evtimer_add(w->timer, &tv);
}

static void cp_poll(http_req *r)
{
	db_query(r->app->db,
	         "SELECT checkpoint, checkpoint_size, size FROM ledger_head WHERE id = 1", 0, NULL,
	         checkpoint_read, r);
}

static void get_checkpoint(http_req *r)
{
	struct cp_wait *w = calloc(1, sizeof *w);
	if (!w)
		abort();
	http_on_complete(r, cp_free, w);
	r->ctx = w;
	if (!query_u64(r, "size", 0, 0, INT64_MAX, &w->want))
		return;
	if (w->want)
		ledger_kick(r->app); /* place what is pending now, not at the sweep */
	cp_poll(r);
}

static void get_key(http_req *r)
{
	const char *k = ledger_of(r)->vkey;
	http_reply_raw(r, 200, "text/plain; charset=utf-8", k, strlen(k));
}

struct entries_ctx {
	Fiducia__V1__LedgerEntriesResponse out;
};

static void free_leaves(void *p)
{
	Fiducia__V1__LedgerEntriesResponse *o = p;
	for (size_t i = 0; i < o->n_leaves; i++) {
		if (o->leaves[i]->decoded)
			protobuf_c_message_free_unpacked(&o->leaves[i]->decoded->base, NULL);
		free(o->leaves[i]->entry.data);
		free(o->leaves[i]);
	}
	free(o->leaves);
	free(o);
}

static void entries_read(PGresult *res, void *arg)
{
	http_req *r = arg;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		if (!res || db_result_is_unavailable(res))
			http_reply_unavailable(r);
		else if (st && strncmp(st, "22", 2) == 0)
			http_reply_error(r, 400, "invalid_argument",
			                 "from and to must be RFC 3339 timestamps");
		else
			http_reply_error(r, 500, "internal", "cannot read the ledger");
		return;
	}
	int n = PQntuples(res);
	Fiducia__V1__LedgerEntriesResponse *o = calloc(1, sizeof *o);
	if (!o)
		abort();
	fiducia__v1__ledger_entries_response__init(o);
	o->leaves = calloc((size_t)n + 1, sizeof *o->leaves);
	if (!o->leaves)
		abort();
	http_on_complete(r, free_leaves, o);
	o->tree_size = n ? strtoull(PQgetvalue(res, 0, 2), NULL, 10) : 0;
	for (int i = 0; i < n; i++) {
		Fiducia__V1__LedgerLeaf *leaf = calloc(1, sizeof *leaf);
		if (!leaf)
			abort();
		fiducia__v1__ledger_leaf__init(leaf);
		o->leaves[o->n_leaves++] = leaf;
		leaf->index = strtoull(PQgetvalue(res, i, 0), NULL, 10);
		const char *h = PQgetvalue(res, i, 1);
		size_t len = strlen(h) / 2, got = 0;
		leaf->entry.data = malloc(len ? len : 1);
		if (!leaf->entry.data ||
		    sodium_hex2bin(leaf->entry.data, len, h, strlen(h), NULL, &got, NULL) != 0) {
			http_reply_error(r, 500, "internal", "corrupt ledger entry %llu",
			                 (unsigned long long)leaf->index);
			return;
		}
		leaf->entry.len = got;
		/* The decoded view is a convenience; the bytes are the record. */
		leaf->decoded = fiducia__v1__ledger_entry__unpack(NULL, got, leaf->entry.data);
	}
	http_reply(r, 200, &o->base);
}

static void entries_flushed(int64_t ok, void *arg)
{
	http_req *r = arg;
	if (ok < 0)
		log_warn("ledger: entries read before every pending entry could be placed");
	uint64_t start, limit;
	if (!query_u64(r, "start", 0, 0, INT64_MAX, &start) ||
	    !query_u64(r, "limit", 100, 1, ENTRIES_MAX_LIMIT, &limit))
		return;
	const char *org = http_query(r, "org"), *action = http_query(r, "action"),
	           *dataset = http_query(r, "dataset"), *from = http_query(r, "from"),
	           *to = http_query(r, "to");
	/* A regulator reads everything; anyone else what it did, what was done
	 * about it, and (a holder) what was done with its datasets. */
	const char *self = r->claims.role == AUTH_ROLE_REGULATOR ? "" : r->claims.org;
	char s[24], l[24];
	snprintf(s, sizeof s, "%llu", (unsigned long long)start);
	snprintf(l, sizeof l, "%llu", (unsigned long long)limit);
	const char *p[8] = {s,
	                    l,
	                    self,
	                    org ? org : "",
	                    action ? action : "",
	                    dataset ? dataset : "",
	                    from ? from : "",
	                    to ? to : ""};
	db_query(r->app->db,
	         "SELECT idx, encode(entry, 'hex'), (SELECT size FROM ledger_head WHERE id = 1) "
	         "FROM ledger_entries WHERE idx >= $1::bigint "
	         "AND ($3 = '' OR actor_org = $3 OR target_org = $3 OR (dataset <> '' AND "
	         "dataset IN (SELECT id FROM datasets WHERE holder = $3))) "
	         "AND ($4 = '' OR actor_org = $4 OR target_org = $4) "
	         "AND ($5 = '' OR action = $5) AND ($6 = '' OR dataset = $6) "
	         "AND ($7 = '' OR created_at >= $7::timestamptz) "
	         "AND ($8 = '' OR created_at < $8::timestamptz) "
	         "ORDER BY idx LIMIT $2::bigint",
	         8, p, entries_read, r);
}

static void get_entries(http_req *r)
{
	uint64_t start, limit;
	if (!query_u64(r, "start", 0, 0, INT64_MAX, &start) ||
	    !query_u64(r, "limit", 100, 1, ENTRIES_MAX_LIMIT, &limit))
		return;
	/* Read your writes: every change already answered is in the log. */
	ledger_flush(r->app, entries_flushed, r);
}

struct subtree {
	uint64_t start, size;
	uint8_t hash[MERKLE_HASH_LEN];
};

/* Proofs: a first pass records which stored subtrees the proof needs, one
 * query fetches exactly those, a second pass builds the proof. */
struct proof_ctx {
	bool inclusion;
	uint64_t a, b; /* index, size  |  first, second */
	struct subtree need[2 * 64 + 2];
	int nneed;
	bool missing;
};

static bool record_src(void *ctx, uint64_t start, uint64_t size, uint8_t out[MERKLE_HASH_LEN])
{
	struct proof_ctx *p = ctx;
	for (int i = 0; i < p->nneed; i++)
		if (p->need[i].start == start && p->need[i].size == size)
			goto found;
	if (p->nneed == (int)(sizeof p->need / sizeof p->need[0]))
		return false;
	p->need[p->nneed].start = start;
	p->need[p->nneed].size = size;
	p->nneed++;
found:
	memset(out, 0, MERKLE_HASH_LEN);
	return true;
}

static bool stored_src(void *ctx, uint64_t start, uint64_t size, uint8_t out[MERKLE_HASH_LEN])
{
	struct proof_ctx *p = ctx;
	for (int i = 0; i < p->nneed; i++)
		if (p->need[i].start == start && p->need[i].size == size) {
			memcpy(out, p->need[i].hash, MERKLE_HASH_LEN);
			return true;
		}
	p->missing = true;
	return false;
}

static bool run_proof(struct proof_ctx *p, merkle_subtree_fn src, uint8_t (*path)[MERKLE_HASH_LEN],
                      size_t *len)
{
	return p->inclusion ? merkle_inclusion_proof(p->a, p->b, src, p, path, len)
	                    : merkle_consistency_proof(p->a, p->b, src, p, path, len);
}

static void free_hashes(void *p)
{
	ProtobufCBinaryData *h = p;
	free(h);
}

static void proof_rows(PGresult *res, void *arg)
{
	http_req *r = arg;
	struct proof_ctx *p = r->ctx;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		http_reply_unavailable(r);
		return;
	}
	uint64_t head = PQntuples(res) ? strtoull(PQgetvalue(res, 0, 3), NULL, 10) : 0;
	if (p->b > head || (p->nneed && PQntuples(res) == 0)) {
		http_reply_error(r, 400, "invalid_argument",
		                 "tree size %llu exceeds the log (%llu)", (unsigned long long)p->b,
		                 (unsigned long long)head);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		uint64_t st = strtoull(PQgetvalue(res, i, 0), NULL, 10);
		uint64_t sz = strtoull(PQgetvalue(res, i, 1), NULL, 10);
		for (int k = 0; k < p->nneed; k++)
			if (p->need[k].start == st && p->need[k].size == sz)
				unhex(PQgetvalue(res, i, 2), p->need[k].hash, MERKLE_HASH_LEN);
	}
	uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_LEN];
	size_t len = 0;
	if (!run_proof(p, stored_src, path, &len) || p->missing) {
		http_reply_error(r, 500, "internal", "the ledger lacks a subtree this proof needs");
		return;
	}
	ProtobufCBinaryData *h = calloc(len + 1, sizeof *h);
	if (!h)
		abort();
	http_on_complete(r, free_hashes, h);
	for (size_t i = 0; i < len; i++) {
		h[i].data = path[i];
		h[i].len = MERKLE_HASH_LEN;
	}
	if (p->inclusion) {
		Fiducia__V1__InclusionProof out = FIDUCIA__V1__INCLUSION_PROOF__INIT;
		out.index = p->a;
		out.tree_size = p->b;
		out.n_hashes = len;
		out.hashes = h;
		http_reply(r, 200, &out.base);
	} else {
		Fiducia__V1__ConsistencyProof out = FIDUCIA__V1__CONSISTENCY_PROOF__INIT;
		out.first = p->a;
		out.second = p->b;
		out.n_hashes = len;
		out.hashes = h;
		http_reply(r, 200, &out.base);
	}
}

static void proof(http_req *r, bool inclusion)
{
	struct proof_ctx *p = calloc(1, sizeof *p);
	if (!p)
		abort();
	http_on_complete(r, free, p);
	r->ctx = p;
	p->inclusion = inclusion;
	if (inclusion) {
		if (!query_u64(r, "index", UINT64_MAX, 0, INT64_MAX, &p->a) ||
		    !query_u64(r, "size", UINT64_MAX, 1, INT64_MAX, &p->b))
			return;
		if (p->a == UINT64_MAX || p->b == UINT64_MAX || p->a >= p->b) {
			http_reply_error(r, 400, "invalid_argument",
			                 "need index and size with index < size");
			return;
		}
	} else {
		if (!query_u64(r, "first", UINT64_MAX, 0, INT64_MAX, &p->a) ||
		    !query_u64(r, "second", UINT64_MAX, 0, INT64_MAX, &p->b))
			return;
		if (p->a == UINT64_MAX || p->b == UINT64_MAX || p->a > p->b) {
			http_reply_error(r, 400, "invalid_argument",
			                 "need first and second with first <= second");
			return;
		}
	}
	uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_LEN];
	size_t len = 0;
	if (!run_proof(p, record_src, path, &len)) {
		http_reply_error(r, 400, "invalid_argument", "no such proof");
		return;
	}
	/* '{s1,...}' and '{z1,...}' of the subtrees needed (possibly none). */
	char *s = malloc((size_t)p->nneed * 24 + 3), *z = malloc((size_t)p->nneed * 24 + 3);
	if (!s || !z)
		abort();
	size_t ws = 0, wz = 0;
	s[ws++] = '{', z[wz++] = '{';
	for (int i = 0; i < p->nneed; i++) {
		ws += (size_t)sprintf(s + ws, "%s%llu", i ? "," : "",
		                      (unsigned long long)p->need[i].start);
		wz += (size_t)sprintf(z + wz, "%s%llu", i ? "," : "",
		                      (unsigned long long)p->need[i].size);
	}
	strcpy(s + ws, "}"), strcpy(z + wz, "}");
	const char *prm[2] = {s, z};
	/* One row even when no subtree is needed, to learn the log's size. */
	db_query(r->app->db,
	         "SELECT t.start, t.size, encode(t.hash, 'hex'), h.size FROM ledger_head h "
	         "LEFT JOIN (SELECT st.start, st.size, st.hash FROM ledger_subtrees st JOIN "
	         "unnest($1::bigint[], $2::bigint[]) AS w(a, b) ON st.start = w.a AND st.size = "
	         "w.b WHERE w.b > 1 UNION ALL SELECT e.idx, 1, e.leaf_hash FROM ledger_entries e "
	         "JOIN unnest($1::bigint[], $2::bigint[]) AS w(a, b) ON e.idx = w.a WHERE w.b = "
	         "1) t ON true WHERE h.id = 1",
	         2, prm, proof_rows, r);
	free(s);
	free(z);
}

static void get_inclusion(http_req *r)
{
	proof(r, true);
}

static void get_consistency(http_req *r)
{
	proof(r, false);
}

const http_route ledger_routes[] = {
        {"GET", "/v1/ledger/checkpoint", get_checkpoint, 0, "text/plain"},
        {"GET", "/v1/ledger/key", get_key, 0, "text/plain"},
        {"GET", "/v1/ledger/entries", get_entries, AUTH_ROLE_ANY, NULL},
        {"GET", "/v1/ledger/proof/inclusion", get_inclusion, AUTH_ROLE_ANY, NULL},
        {"GET", "/v1/ledger/proof/consistency", get_consistency, AUTH_ROLE_ANY, NULL},
        {NULL, NULL, NULL, 0, NULL},
};
