/*
 * ledger_seq: pending appends and the sequencer that places them in the
 * log in batches; see ledger_seq.h.
 */
#include "ledger_seq.h"
#include "app.h"
#include "keys.h"
#include "log.h"
#include "merkle.h"
#include "pgutil.h"

#include <event2/event.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define MAC_BYTES        LEDGER_MAC_BYTES
#define PLACE_TIMEOUT_US (10 * 1000000LL)
/* How long entries that nobody waits on may gather before a round. */
#define LEDGER_SEQ_COALESCE_US 20000

static int64_t now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, b, n);
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
	size_t got = 0;
	return sodium_hex2bin(out, n, s, strlen(s), NULL, &got, NULL) == 0 && got == n;
}

/* The MAC of a pending entry: keyed BLAKE2b-256 under a key derived from
 * the ledger signing key's seed, which every fiduciad of a deployment
 * shares (and nothing else holds). */
void ledger_entry_mac(const unsigned char *ledger_sk, const uint8_t *entry, size_t len,
                      uint8_t mac[LEDGER_MAC_BYTES])
{
	static const char ctx[] = "fiducia ledger pending entry MAC v1";
	uint8_t key[32];
	crypto_generichash(key, sizeof key, (const uint8_t *)ctx, sizeof ctx - 1, ledger_sk, 32);
	crypto_generichash(mac, LEDGER_MAC_BYTES, entry, len, key, sizeof key);
	sodium_memzero(key, sizeof key);
}

static void entry_mac(const struct app *app, const uint8_t *entry, size_t len,
                      uint8_t mac[MAC_BYTES])
{
	ledger_entry_mac(app->keys->ledger_sk, entry, len, mac);
}

/* ---- append: a pending row in the caller's transaction ---------------------- */

struct append {
	ledger_done_cb cb;
	void *arg;
	ledger_pending_text t;
};

static void appended(PGresult *res, void *arg)
{
	struct append *a = arg;
	bool ok = pg_ok(res, PGRES_TUPLES_OK) && PQntuples(res) == 1;
	if (!ok)
		log_error("ledger: cannot write an entry; the action it records fails too");
	a->cb(ok, ok ? atoll(PQgetvalue(res, 0, 0)) : -1, a->arg);
	ledger_pending_text_free(&a->t);
	free(a);
}

void ledger_pending_text_init(struct app *app, Fiducia__V1__LedgerEntry *e,
                              ledger_pending_text *out)
{
	if (!e->time_unix_micros)
		e->time_unix_micros = now_us();
	size_t len = protobuf_c_message_get_packed_size(&e->base);
	uint8_t *entry = malloc(len ? len : 1), mac[MAC_BYTES];
	out->entry_hex = malloc(2 * len + 1);
	if (!entry || !out->entry_hex)
		abort();
	protobuf_c_message_pack(&e->base, entry);
	entry_mac(app, entry, len, mac);
	hex(entry, len, out->entry_hex);
	hex(mac, MAC_BYTES, out->mac_hex);
	free(entry);
	snprintf(out->actor, sizeof out->actor, "%s", e->actor_org);
	snprintf(out->target, sizeof out->target, "%s", e->target_org);
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	        &fiducia__v1__ledger_entry__action__descriptor, (int)e->action);
	snprintf(out->action, sizeof out->action, "%s", v ? v->name : "UNKNOWN");
	snprintf(out->dataset, sizeof out->dataset, "%s", e->dataset);
}

void ledger_append(struct app *app, db_conn *conn, Fiducia__V1__LedgerEntry *e, ledger_done_cb cb,
                   void *arg)
{
	struct append *a = calloc(1, sizeof *a);
	if (!a)
		abort();
	a->cb = cb;
	a->arg = arg;
	ledger_pending_text_init(app, e, &a->t);
	const char *p[6] = {a->t.entry_hex, a->t.mac_hex, a->t.actor,
	                    a->t.target,    a->t.action,  a->t.dataset};
	db_conn_query(conn,
	              "INSERT INTO ledger_pending (entry, mac, actor_org, target_org, action, "
	              "dataset) VALUES (decode($1, 'hex'), decode($2, 'hex'), $3, $4, $5, $6) "
	              "RETURNING id",
	              6, p, appended, a);
}

void ledger_pending_text_free(ledger_pending_text *t)
{
	free(t->entry_hex);
	t->entry_hex = NULL;
}

/* ---- the sequencer ----------------------------------------------------------- */

struct waiter {
	struct waiter *next;
	int64_t pending;
	int64_t deadline;
	ledger_placed_cb cb;
	void *arg;
};

struct subtree {
	uint64_t start, size;
	uint8_t hash[MERKLE_HASH_LEN];
};

struct ledger_seq {
	struct app *app;
	struct event *tick;
	struct event *soon;     /* a round for entries nobody waits on, coalesced */
	struct waiter *waiting; /* registered since the current round began */
	bool running;           /* a round is in flight */
	bool again;             /* run another round when it ends */
	/* the round in flight */
	struct waiter *round;
	db_conn *conn;
	db_conn *vconn; /* the VACUUM's */
	bool sweep;     /* started by the tick: look before locking */
	uint64_t old_size;
	char old_frontier[64 * 2 * MERKLE_HASH_LEN + 1];
	int64_t *pids; /* placed, ascending; leaf i gets index old_size + i */
	size_t npids;
	int64_t *refused;
	size_t nrefused;
	struct subtree *done; /* completed by this round's leaves */
	size_t ndone, cap_done;
	uint64_t moved; /* rows taken out of ledger_pending since its last VACUUM */
	bool vacuuming; /* a VACUUM is in flight */
	bool full;      /* the batch was full: more may be waiting */
	bool failed;    /* the round failed: retry at the tick */
};

static void round_start(ledger_seq *s);

static void kick(ledger_seq *s)
{
	if (s->running)
		s->again = true;
	else
		round_start(s);
}

static void round_reset(ledger_seq *s)
{
	free(s->pids);
	free(s->refused);
	free(s->done);
	s->pids = s->refused = NULL;
	s->done = NULL;
	s->npids = s->nrefused = s->ndone = s->cap_done = 0;
	s->conn = NULL;
}

/* The index this round gave `pending`, or -1. */
static int64_t placed_here(const ledger_seq *s, int64_t pending)
{
	size_t lo = 0, hi = s->npids; /* ascending: binary search */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->pids[mid] < pending)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->npids && s->pids[lo] == pending ? (int64_t)(s->old_size + lo) : -1;
}

/* The round's waiters: placed ones answered, the others back to waiting
 * (or answered -1 past their deadline). */
static void resolve(ledger_seq *s, PGresult *found)
{
	int64_t now = now_us();
	struct waiter *w = s->round;
	s->round = NULL;
	while (w) {
		struct waiter *next = w->next;
		int64_t index = placed_here(s, w->pending);
		bool refused = false;
		for (size_t k = 0; k < s->nrefused && !refused; k++)
			refused = s->refused[k] == w->pending;
		if (w->pending == 0 && !s->failed && !s->full)
			index = 0; /* a barrier: all that was pending when it began is placed */
		for (int i = 0; index < 0 && found && i < PQntuples(found); i++)
			if (atoll(PQgetvalue(found, i, 0)) == w->pending)
				index = atoll(PQgetvalue(found, i, 1));
		if (index >= 0 || refused || now >= w->deadline) {
			if (refused)
				log_error(
				        "ledger: this process's own entry %lld was refused (its "
				        "MAC "
				        "does not verify: do all processes share ledger_key_file?)",
				        (long long)w->pending);
			else if (index < 0)
				log_error("ledger: entry %lld not placed in the log within %d s",
				          (long long)w->pending, (int)(PLACE_TIMEOUT_US / 1000000));
			w->cb(index, w->arg);
			free(w);
		} else { /* not placed yet: the next round or the tick */
			w->next = s->waiting;
			s->waiting = w;
		}
		w = next;
	}
}

static void round_end(ledger_seq *s, PGresult *found)
{
	resolve(s, found);
	bool more = s->full && !s->failed;
	round_reset(s);
	s->running = false;
	if (s->failed) { /* let the tick retry, not a tight loop */
		s->failed = false;
		s->again = false;
		return;
	}
	if (more || s->again) {
		s->again = false;
		round_start(s);
	} else {
		s->again = false;
	}
}

static void looked_up(PGresult *res, void *arg)
{
	ledger_seq *s = arg;
	round_end(s, pg_ok(res, PGRES_TUPLES_OK) ? res : NULL);
}

/* Waiters not placed by this round were placed by another process's (or
 * are not placed yet): ask the log. */
static void look_up(ledger_seq *s)
{
	size_t n = 0;
	for (struct waiter *w = s->round; w; w = w->next)
		n += w->pending > 0 && placed_here(s, w->pending) < 0;
	if (n == 0) {
		round_end(s, NULL);
		return;
	}
	char *list = malloc(n * 24 + 3), *p = list;
	if (!list)
		abort();
	*p++ = '{';
	for (struct waiter *w = s->round; w; w = w->next)
		if (w->pending > 0 && placed_here(s, w->pending) < 0)
			p += sprintf(p, "%s%lld", p > list + 1 ? "," : "", (long long)w->pending);
	strcpy(p, "}");
	const char *params[1] = {list};
	db_query(s->app->db,
	         "SELECT pending_id, idx FROM ledger_entries WHERE pending_id = ANY($1::bigint[])",
	         1, params, looked_up, s);
	free(list);
}

static void round_failed(ledger_seq *s, const char *what, PGresult *res)
{
	log_error("ledger: sequencing failed (%s): %s", what,
	          res ? PQresultErrorMessage(res) : "connection lost");
	if (s->conn)
		db_release(s->conn); /* rolls back */
	s->conn = NULL;
	s->npids = 0;
	s->full = false;
	s->failed = true;
	look_up(s); /* placed elsewhere, or back to waiting until the tick */
}

static void committed(PGresult *res, void *arg)
{
	ledger_seq *s = arg;
	if (!pg_ok(res, PGRES_COMMAND_OK)) {
		round_failed(s, "commit", res);
		return;
	}
	db_release(s->conn);
	s->conn = NULL;
	if (s->npids)
		log_debug("ledger: %zu entries placed from %llu", s->npids,
		          (unsigned long long)s->old_size);
	s->moved += s->npids + s->nrefused;
	look_up(s);
}

static void written(PGresult *res, void *arg)
{
	ledger_seq *s = arg;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		round_failed(s, "write", res);
		return;
	}
	db_conn_exec(s->conn, "COMMIT", committed, s);
}

static bool on_complete(void *ctx, uint64_t start, uint64_t size,
                        const uint8_t hash[MERKLE_HASH_LEN])
{
	ledger_seq *s = ctx;
	if (size == 1)
		return true; /* a leaf: its hash is stored with its entry */
	if (s->ndone == s->cap_done) {
		size_t cap = s->cap_done ? 2 * s->cap_done : 2 * LEDGER_SEQ_BATCH;
		struct subtree *d = realloc(s->done, cap * sizeof *d);
		if (!d)
			abort();
		s->done = d;
		s->cap_done = cap;
	}
	s->done[s->ndone].start = start;
	s->done[s->ndone].size = size;
	memcpy(s->done[s->ndone].hash, hash, MERKLE_HASH_LEN);
	s->ndone++;
	return true;
}

/* The frontier's hashes, largest subtree first, as ledger_head stores them. */
struct frontier_src {
	uint64_t n;
	const char *hex;
};

static bool frontier_src(void *ctx, uint64_t start, uint64_t size, uint8_t out[MERKLE_HASH_LEN])
{
	const struct frontier_src *f = ctx;
	/* the k-th subtree of the decomposition, largest first */
	uint64_t at = 0;
	int k = 0;
	for (int l = 63; l >= 0; l--)
		if (f->n & (1ULL << l)) {
			if (at == start && (1ULL << l) == size) {
				char h[2 * MERKLE_HASH_LEN + 1];
				memcpy(h, f->hex + (size_t)k * 2 * MERKLE_HASH_LEN,
				       2 * MERKLE_HASH_LEN);
				h[2 * MERKLE_HASH_LEN] = '\0';
				return unhex(h, out, MERKLE_HASH_LEN);
			}
			at += 1ULL << l;
			k++;
		}
	return false;
}

/* A growing "{a,b,...}" array literal. */
struct arr {
	char *p;
	size_t len, cap;
};

static void arr_grow(struct arr *a, size_t extra)
{
	if (a->len + extra + 1 > a->cap) {
		a->cap = 2 * (a->len + extra + 1);
		a->p = realloc(a->p, a->cap);
		if (!a->p)
			abort();
	}
}

static void arr_add(struct arr *a, const char *item)
{
	size_t n = strlen(item);
	arr_grow(a, n + 1);
	a->p[a->len] = a->len ? ',' : '{';
	a->len++;
	memcpy(a->p + a->len, item, n + 1);
	a->len += n;
}

/* An element of a text[] literal, double-quoted, with " and \ escaped. */
static void arr_add_quoted(struct arr *a, const char *item)
{
	size_t n = strlen(item);
	arr_grow(a, 2 * n + 3);
	a->p[a->len] = a->len ? ',' : '{';
	a->len++;
	a->p[a->len++] = '"';
	for (const char *c = item; *c; c++) {
		if (*c == '"' || *c == '\\')
			a->p[a->len++] = '\\';
		a->p[a->len++] = *c;
	}
	a->p[a->len++] = '"';
	a->p[a->len] = '\0';
}

static const char *arr_done(struct arr *a)
{
	arr_grow(a, 2);
	if (a->len == 0) {
		strcpy(a->p, "{}");
		a->len = 2;
	} else {
		a->p[a->len++] = '}';
		a->p[a->len] = '\0';
	}
	return a->p;
}

static void pending_read(PGresult *res, void *arg)
{
	ledger_seq *s = arg;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		round_failed(s, "read", res);
		return;
	}
	int rows = PQntuples(res);
	if (rows < 1 || !PQgetisnull(res, 0, 0)) {
		round_failed(s, "no head", NULL);
		return;
	}
	s->old_size = strtoull(PQgetvalue(res, 0, 3), NULL, 10);
	const char *f = PQgetvalue(res, 0, 4);
	if (strlen(f) != (size_t)__builtin_popcountll(s->old_size) * 2 * MERKLE_HASH_LEN) {
		log_error("ledger: the frontier of size %llu is corrupt",
		          (unsigned long long)s->old_size);
		round_failed(s, "frontier", NULL);
		return;
	}
	memcpy(s->old_frontier, f, strlen(f) + 1);
	int n = rows - 1; /* the pending entries, rows 1..n */
	if (n == 0) {     /* nothing to place: let the lock go */
		s->full = false;
		db_conn_exec(s->conn, "COMMIT", committed, s);
		return;
	}
	s->full = n == LEDGER_SEQ_BATCH;
	s->pids = malloc((size_t)n * sizeof *s->pids);
	s->refused = malloc((size_t)n * sizeof *s->refused);
	if (!s->pids || !s->refused)
		abort();
	merkle_builder b;
	merkle_builder_init(&b, on_complete, s);
	struct frontier_src fs = {s->old_size, s->old_frontier};
	if (!merkle_builder_restore(&b, s->old_size, frontier_src, &fs)) {
		log_error("ledger: the frontier of size %llu is corrupt",
		          (unsigned long long)s->old_size);
		round_failed(s, "frontier", NULL);
		return;
	}
	struct arr pids = {0}, idxs = {0}, leaves = {0}, refused = {0};
	/* The columns readers filter on, from the verified entry itself, never
	 * from the pending row's own (unauthenticated) columns. */
	struct arr actors = {0}, targets = {0}, actions = {0}, datasets = {0}, times = {0};
	uint8_t *entry = NULL;
	size_t cap = 0;
	for (int i = 1; i <= n; i++) {
		int64_t pid = atoll(PQgetvalue(res, i, 0));
		const char *ehex = PQgetvalue(res, i, 1);
		size_t elen = strlen(ehex) / 2;
		if (elen + 1 > cap) {
			cap = 2 * (elen + 1);
			entry = realloc(entry, cap);
			if (!entry)
				abort();
		}
		uint8_t mac[MAC_BYTES], want[MAC_BYTES];
		bool ok = unhex(ehex, entry, elen) && unhex(PQgetvalue(res, i, 2), mac, MAC_BYTES);
		if (ok) {
			entry_mac(s->app, entry, elen, want);
			ok = sodium_memcmp(mac, want, MAC_BYTES) == 0;
		}
		Fiducia__V1__LedgerEntry *le =
		        ok ? fiducia__v1__ledger_entry__unpack(NULL, elen, entry) : NULL;
		ok = le != NULL;
		char num[24];
		snprintf(num, sizeof num, "%lld", (long long)pid);
		if (!ok) {
			log_error("ledger: pending entry %lld has no valid MAC: not written by a "
			          "fiduciad of this deployment; refused, moved to ledger_refused",
			          (long long)pid);
			s->refused[s->nrefused++] = pid;
			arr_add(&refused, num);
			continue;
		}
		const ProtobufCEnumValue *av = protobuf_c_enum_descriptor_get_value(
		        &fiducia__v1__ledger_entry__action__descriptor, (int)le->action);
		char tm[24];
		snprintf(tm, sizeof tm, "%lld", (long long)le->time_unix_micros);
		arr_add_quoted(&actors, le->actor_org);
		arr_add_quoted(&targets, le->target_org);
		arr_add_quoted(&actions, av ? av->name : "UNKNOWN");
		arr_add_quoted(&datasets, le->dataset);
		arr_add(&times, tm);
		fiducia__v1__ledger_entry__free_unpacked(le, NULL);
		uint8_t leaf[MERKLE_HASH_LEN];
		merkle_leaf_hash(entry, elen, leaf);
		if (!merkle_builder_append(&b, leaf))
			abort(); /* the callback never refuses; 2^64 leaves are far */
		char ix[24], lh[2 * MERKLE_HASH_LEN + 1];
		snprintf(ix, sizeof ix, "%llu", (unsigned long long)(s->old_size + s->npids));
		hex(leaf, MERKLE_HASH_LEN, lh);
		s->pids[s->npids++] = pid;
		arr_add(&pids, num);
		arr_add(&idxs, ix);
		arr_add(&leaves, lh);
	}
	free(entry);
	/* The new head and frontier. */
	uint8_t root[MERKLE_HASH_LEN];
	merkle_builder_root(&b, root);
	uint64_t size = merkle_builder_size(&b);
	char frontier[64 * 2 * MERKLE_HASH_LEN + 1] = "";
	size_t fl = 0;
	for (int l = 63; l >= 0; l--) {
		uint8_t peak[MERKLE_HASH_LEN];
		if (merkle_builder_peak(&b, l, peak)) {
			hex(peak, MERKLE_HASH_LEN, frontier + fl);
			fl += 2 * MERKLE_HASH_LEN;
		}
	}
	struct arr starts = {0}, sizes = {0}, hashes = {0};
	for (size_t k = 0; k < s->ndone; k++) {
		char a[24], z[24], h[2 * MERKLE_HASH_LEN + 1];
		snprintf(a, sizeof a, "%llu", (unsigned long long)s->done[k].start);
		snprintf(z, sizeof z, "%llu", (unsigned long long)s->done[k].size);
		hex(s->done[k].hash, MERKLE_HASH_LEN, h);
		arr_add(&starts, a);
		arr_add(&sizes, z);
		arr_add(&hashes, h);
	}
	char size_s[24], old_s[24], root_s[2 * MERKLE_HASH_LEN + 1];
	snprintf(size_s, sizeof size_s, "%llu", (unsigned long long)size);
	snprintf(old_s, sizeof old_s, "%llu", (unsigned long long)s->old_size);
	hex(root, MERKLE_HASH_LEN, root_s);
	/* The write (a statement prepared once per connection, so not parsed
	 * again each round), with a check that turns any miscount into an
	 * error, which aborts the transaction; then the COMMIT. */
	const char *pid_list = arr_done(&pids);
	const char *p[16] = {pid_list,
	                     arr_done(&idxs),
	                     arr_done(&leaves),
	                     arr_done(&starts),
	                     arr_done(&sizes),
	                     arr_done(&hashes),
	                     arr_done(&refused),
	                     size_s,
	                     root_s,
	                     frontier,
	                     old_s,
	                     arr_done(&actors),
	                     arr_done(&targets),
	                     arr_done(&actions),
	                     arr_done(&datasets),
	                     arr_done(&times)};
	db_conn_query(
	        s->conn,
	        "WITH m AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], "
	        "$12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[]) AS m(pid, idx, "
	        "leaf, actor, target, action, dataset, t)), e AS (INSERT INTO ledger_entries (idx, "
	        "entry, leaf_hash, actor_org, target_org, action, dataset, created_at, pending_id) "
	        "SELECT m.idx, p.entry, decode(m.leaf, 'hex'), m.actor, m.target, m.action, "
	        "m.dataset, 'epoch'::timestamptz + m.t * interval '1 microsecond', p.id FROM "
	        "ledger_pending p JOIN m ON p.id = m.pid WHERE p.id = "
	        "ANY($1::bigint[]) RETURNING 1), s AS (INSERT INTO ledger_subtrees (start, size, "
	        "hash) SELECT a, b, decode(c, 'hex') FROM unnest($4::bigint[], $5::bigint[], "
	        "$6::text[]) AS t(a, b, c)), r AS (INSERT INTO ledger_refused (id, entry, mac, "
	        "actor_org, created_at) SELECT id, entry, mac, actor_org, created_at FROM "
	        "ledger_pending WHERE id = ANY($7::bigint[])), d AS (DELETE FROM ledger_pending "
	        "WHERE id = ANY($1::bigint[]) OR id = ANY($7::bigint[])), h AS (UPDATE ledger_head "
	        "SET size = $8::bigint, root = decode($9, 'hex'), frontier = decode($10, 'hex') "
	        "WHERE id = 1 AND size = $11::bigint RETURNING 1) SELECT 1 / ((SELECT count(*) "
	        "FROM "
	        "e) = cardinality($1::bigint[]) AND (SELECT count(*) FROM h) = 1)::int",
	        16, p, written, s);
	free(pids.p), free(idxs.p), free(leaves.p), free(refused.p);
	free(actors.p), free(targets.p), free(actions.p), free(datasets.p), free(times.p);
	free(starts.p), free(sizes.p), free(hashes.p);
}

static void got_conn(db_conn *c, void *arg)
{
	ledger_seq *s = arg;
	if (!c) {
		round_failed(s, "no connection", NULL);
		return;
	}
	s->conn = c;
	/* One round trip: one sequencer at a time, across processes (the
	 * head's row lock), then, in a statement whose snapshot is taken once
	 * the lock is held, the head and the oldest pending entries. */
	char sql[512];
	snprintf(sql, sizeof sql,
	         "BEGIN; SELECT 1 FROM ledger_head WHERE id = 1 FOR UPDATE; SELECT NULL::bigint, "
	         "NULL, NULL, size, encode(frontier, 'hex') FROM ledger_head WHERE id = 1 UNION "
	         "ALL (SELECT id, encode(entry, 'hex'), encode(mac, 'hex'), NULL, NULL FROM "
	         "ledger_pending ORDER BY id LIMIT %d) ORDER BY 1 NULLS FIRST",
	         LEDGER_SEQ_BATCH);
	db_conn_exec(c, sql, pending_read, s);
}

static void swept(PGresult *res, void *arg)
{
	ledger_seq *s = arg;
	if (pg_ok(res, PGRES_TUPLES_OK) && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		db_acquire(s->app->db, got_conn, s);
		return;
	}
	look_up(s);
}

static void round_start(ledger_seq *s)
{
	s->running = true;
	s->again = false;
	s->round = s->waiting;
	s->waiting = NULL;
	if (s->sweep && !s->round) { /* look before taking the lock */
		s->sweep = false;
		db_query(s->app->db, "SELECT EXISTS (SELECT 1 FROM ledger_pending)", 0, NULL, swept,
		         s);
		return;
	}
	s->sweep = false;
	db_acquire(s->app->db, got_conn, s);
}

static void vacuumed(PGresult *res, void *arg)
{
	ledger_seq *s = arg;
	if (!pg_ok(res, PGRES_COMMAND_OK))
		log_warn("ledger: cannot vacuum ledger_pending: %s",
		         res ? PQresultErrorMessage(res) : "connection lost");
	db_release(s->vconn);
	s->vconn = NULL;
	s->vacuuming = false;
}

static void vacuum_conn(db_conn *c, void *arg)
{
	ledger_seq *s = arg;
	if (!c) {
		s->vacuuming = false;
		return;
	}
	s->vconn = c;
	db_conn_exec(c, "VACUUM ledger_pending", vacuumed, s); /* not in a transaction */
}

/* Waiters past their deadline, while no round can run (the database is
 * down): answered -1 now rather than when a round next ends. */
static void expire(ledger_seq *s)
{
	int64_t now = now_us();
	struct waiter **pp = &s->waiting;
	while (*pp) {
		struct waiter *w = *pp;
		if (now < w->deadline) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		log_error("ledger: entry %lld not placed in the log within %d s",
		          (long long)w->pending, (int)(PLACE_TIMEOUT_US / 1000000));
		w->cb(-1, w->arg);
		free(w);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	ledger_seq *s = arg;
	expire(s);
	/* Dead rows of ledger_pending would make every round's read slower. */
	if (s->moved >= 1000 && !s->vacuuming && db_pool_up(s->app->db)) {
		s->moved = 0;
		s->vacuuming = true;
		db_acquire(s->app->db, vacuum_conn, s);
	}
	if (s->running || !db_pool_up(s->app->db))
		return;
	s->sweep = true;
	round_start(s);
}

static void on_soon(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	kick(arg);
}

void ledger_kick(struct app *app)
{
	/* Nobody waits on these entries: let a few milliseconds' worth gather
	 * into one round rather than run a round per change. */
	ledger_seq *s = app->sequencer;
	if (!evtimer_pending(s->soon, NULL)) {
		struct timeval tv = {0, LEDGER_SEQ_COALESCE_US};
		evtimer_add(s->soon, &tv);
	}
}

void ledger_flush(struct app *app, ledger_placed_cb cb, void *arg)
{
	ledger_placed(app, 0, cb, arg);
}

void ledger_placed(struct app *app, int64_t pending, ledger_placed_cb cb, void *arg)
{
	ledger_seq *s = app->sequencer;
	struct waiter *w = calloc(1, sizeof *w);
	if (!w)
		abort();
	w->pending = pending;
	w->deadline = now_us() + PLACE_TIMEOUT_US;
	w->cb = cb;
	w->arg = arg;
	w->next = s->waiting;
	s->waiting = w;
	kick(s);
}

ledger_seq *ledger_seq_new(struct app *app)
{
	ledger_seq *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->app = app;
	s->tick = event_new(app->base, -1, EV_PERSIST, on_tick, s);
	if (!s->tick) {
		free(s);
		return NULL;
	}
	s->soon = evtimer_new(app->base, on_soon, s);
	if (!s->soon) {
		event_free(s->tick);
		free(s);
		return NULL;
	}
	struct timeval tv = {1, 0};
	event_add(s->tick, &tv);
	return s;
}

void ledger_seq_free(ledger_seq *s)
{
	if (!s)
		return;
	event_free(s->tick);
	event_free(s->soon);
	/* Requests still waiting are being torn down with the server. */
	for (struct waiter *w = s->waiting, *next; w; w = next) {
		next = w->next;
		free(w);
	}
	for (struct waiter *w = s->round, *next; w; w = next) {
		next = w->next;
		free(w);
	}
	round_reset(s);
	free(s);
}
