/*
 * Consent. Records arrive with the holder's raw subject identifier, which is
 * replaced at once (on a worker thread, with the rest of the validation) by
 * the dataset's keyed pseudonym, the vault's own function; the raw value is
 * never stored, logged (the route marks {subject} sensitive) or ledgered.
 * An import is all or nothing: every record is checked before the first is
 * inserted, and all are inserted with their CONSENT_GIVEN ledger entry in
 * one transaction. Withdrawal (of everything, or of one purpose) changes no
 * record: it timestamps it, and takes effect for the next query, since the
 * set a query filters on is loaded from the database each time.
 */
#include "consent.h"
#include "consent_parse.h"
#include "consent_cache.h"
#include "pgutil.h"
#include "app.h"
#include "batch.h"
#include "chunk.h"
#include "colcache.h"
#include "projection.h"
#include "config.h"
#include "datasets.h"
#include "db.h"
#include "ledger.h"
#include "log.h"
#include "pbjson.h"
#include "pdp.h"
#include "txn.h"
#include "workers.h"
#include "fiducia/v1/consent.pb-c.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static int64_t now_micros(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ---- the set a query filters on -------------------------------------------- */

struct consent_set {
	size_t n, mask;
	uint8_t (*slots)[BATCH_PSEUDONYM_BYTES]; /* all-zero = empty */
	bool has_zero;                           /* the all-zero pseudonym, kept aside */
};

consent_set *consent_set_new(size_t n)
{
	consent_set *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	size_t cap = 16;
	while (cap < 2 * n + 1)
		cap <<= 1;
	s->slots = calloc(cap, sizeof *s->slots);
	if (!s->slots) {
		free(s);
		return NULL;
	}
	s->mask = cap - 1;
	return s;
}

static const uint8_t zero16[BATCH_PSEUDONYM_BYTES];

/* Pseudonyms are keyed hashes, uniform already; still, mix all 16 bytes,
 * so that no set degrades into one long probe sequence whatever it holds. */
static size_t slot_of(const consent_set *s, const uint8_t *p)
{
	uint64_t a, b;
	memcpy(&a, p, sizeof a);
	memcpy(&b, p + 8, sizeof b);
	uint64_t h = (a ^ (b << 32 | b >> 32)) * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h ^ h >> 29) & s->mask;
}

void consent_set_add(consent_set *s, const uint8_t *p)
{
	if (memcmp(p, zero16, sizeof zero16) == 0) {
		s->n += !s->has_zero;
		s->has_zero = true;
		return;
	}
	for (size_t at = slot_of(s, p);; at = (at + 1) & s->mask) {
		if (memcmp(s->slots[at], zero16, sizeof zero16) == 0) {
			memcpy(s->slots[at], p, BATCH_PSEUDONYM_BYTES);
			s->n++;
			return;
		}
		if (memcmp(s->slots[at], p, BATCH_PSEUDONYM_BYTES) == 0)
			return;
	}
}

bool consent_set_has(const consent_set *s, const uint8_t *p)
{
	if (memcmp(p, zero16, sizeof zero16) == 0)
		return s->has_zero;
	for (size_t at = slot_of(s, p);; at = (at + 1) & s->mask) {
		if (memcmp(s->slots[at], p, BATCH_PSEUDONYM_BYTES) == 0)
			return true;
		if (memcmp(s->slots[at], zero16, sizeof zero16) == 0)
			return false;
	}
}

size_t consent_set_size(const consent_set *s)
{
	return s->n;
}

void consent_set_free(consent_set *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s);
}

size_t consent_filter_chunk(const consent_set *s, const chunk_column *subj, uint8_t *keep)
{
	uint8_t small[4096] = {0},
	        *allowed = subj->ndict <= sizeof small ? small : malloc(subj->ndict);
	if (!allowed)
		abort();
	/* The table is larger than the caches: look a few entries ahead, so
	 * that the probes' memory latencies overlap. */
	enum { AHEAD = 8 };
	for (uint32_t k = 0; k < subj->ndict; k++) {
		const uint8_t *next =
		        subj->pseudonyms + (size_t)(k + AHEAD) * BATCH_PSEUDONYM_BYTES;
		if (k + AHEAD < subj->ndict)
			__builtin_prefetch(s->slots[slot_of(s, next)]);
		allowed[k] =
		        consent_set_has(s, subj->pseudonyms + (size_t)k * BATCH_PSEUDONYM_BYTES);
	}
	size_t kept = chunk_rows_by_dict(subj, allowed, keep);
	if (allowed != small)
		free(allowed);
	return kept;
}

struct set_load {
	consent_set_cb cb;
	void *arg;
};

static void set_loaded(PGresult *res, void *arg)
{
	struct set_load *l = arg;
	consent_set *s = NULL;
	if (pg_ok(res, PGRES_TUPLES_OK)) {
		int n = PQntuples(res);
		s = consent_set_new((size_t)n);
		for (int i = 0; s && i < n; i++) {
			const char *hex = PQgetvalue(res, i, 0);
			uint8_t p[BATCH_PSEUDONYM_BYTES];
			size_t got = 0;
			if (strncmp(hex, "\\x", 2) == 0 &&
			    sodium_hex2bin(p, sizeof p, hex + 2, strlen(hex + 2), NULL, &got,
			                   NULL) == 0 &&
			    got == sizeof p)
				consent_set_add(s, p);
		}
	} else {
		log_error("cannot load the consent set: %s",
		          res ? PQresultErrorMessage(res) : "connection lost");
	}
	l->cb(s, l->arg);
	free(l);
}

void consent_set_load(struct app *app, const char *dataset, const char *purpose,
                      int64_t at_unix_micros, consent_set_cb cb, void *arg)
{
	/* Records with no purpose withdrawn (nearly all) are decided without a
	 * subquery. */
	char list[4096];
	consent_purpose_list(app->vocab, purpose, list, sizeof list);
	char at[32];
	snprintf(at, sizeof at, "%lld", (long long)at_unix_micros);
	struct set_load *l = malloc(sizeof *l);
	if (!l)
		abort();
	l->cb = cb;
	l->arg = arg;
	const char *p[3] = {dataset, list, at};
	db_query(app->db,
	         "SELECT c.subject FROM consents c LEFT JOIN (SELECT DISTINCT consent FROM "
	         "consent_withdrawals) wd ON wd.consent = c.id WHERE c.dataset = $1 AND "
	         "c.withdrawn_at IS NULL AND c.valid_from <= 'epoch'::timestamptz + $3::bigint * "
	         "interval '1 microsecond' AND (c.valid_until IS NULL OR c.valid_until > "
	         "'epoch'::timestamptz + $3::bigint * interval '1 microsecond') AND c.purposes && "
	         "$2::text[] AND (wd.consent IS NULL OR EXISTS (SELECT 1 FROM unnest(c.purposes) p "
	         "WHERE p = ANY($2::text[]) AND NOT EXISTS (SELECT 1 FROM consent_withdrawals w "
	         "WHERE w.consent = c.id AND w.purpose = p)))",
	         3, p, set_loaded, l);
}

/* ---- import ------------------------------------------------------------------- */

struct import {
	http_req *r;
	ds *d;
	struct evbuffer *body;
	consent_import p; /* the parse (consent_parse.c) */
	/* the transaction */
	size_t next;
	char given_s[24];
};

static void import_free(void *p)
{
	struct import *im = p;
	if (im->body)
		evbuffer_free(im->body);
	consent_import_clear(&im->p);
	ds_free(im->d);
	free(im);
}

/* On a worker thread. */
static void import_work(void *arg)
{
	struct import *im = arg;
	size_t len = evbuffer_get_length(im->body);
	const char *data = len ? (const char *)evbuffer_pullup(im->body, -1) : "";
	im->p.given_at = now_micros();
	if (!consent_import_parse(&im->p, data, len) && !im->p.status)
		im->p.status = 400; /* cannot happen: a failure sets it */
	if (len)
		sodium_memzero((void *)data, len); /* the raw identifiers */
	evbuffer_free(im->body);
	im->body = NULL;
}

/* ---- receipts ----------------------------------------------------------------- */

#define RECEIPT_COLUMNS                                                                            \
	"c.id, c.purposes::text, (SELECT coalesce(string_agg(w.purpose, ' '), '') FROM "           \
	"consent_withdrawals w WHERE w.consent = c.id), "                                          \
	"(extract(epoch from c.given_at) * 1000000)::bigint, "                                     \
	"(extract(epoch from c.valid_from) * 1000000)::bigint, "                                   \
	"coalesce((extract(epoch from c.valid_until) * 1000000)::bigint, 0), "                     \
	"coalesce((extract(epoch from c.withdrawn_at) * 1000000)::bigint, 0), c.record_hash, "     \
	"c.record"

/* Space-separated words into a NULL-terminated vector (in place). */
static size_t split_words(char *s, char **out, size_t max)
{
	size_t n = 0;
	for (char *save = NULL, *t = strtok_r(s, " {}\",", &save); t && n < max;
	     t = strtok_r(NULL, " {}\",", &save))
		out[n++] = t;
	return n;
}

struct receipts {
	Fiducia__V1__ConsentReceipt *r;
	Fiducia__V1__ConsentReceipt **p;
	Google__Protobuf__Timestamp *ts; /* 4 per receipt */
	uint8_t (*hash)[32];
	char **words; /* 128 per receipt: in force, then withdrawn */
	char **text;  /* copies of the purpose texts */
	size_t n;
};

static void receipts_free(void *p)
{
	struct receipts *rs = p;
	for (size_t i = 0; i < rs->n * 2; i++)
		free(rs->text[i]);
	free(rs->text);
	free(rs->words);
	free(rs->r);
	free(rs->p);
	free(rs->ts);
	free(rs->hash);
	free(rs);
}

static Fiducia__V1__ConsentRecord__State state_of(int64_t now, int64_t until, int64_t withdrawn)
{
	if (withdrawn)
		return FIDUCIA__V1__CONSENT_RECORD__STATE__WITHDRAWN;
	if (until && until <= now)
		return FIDUCIA__V1__CONSENT_RECORD__STATE__EXPIRED;
	return FIDUCIA__V1__CONSENT_RECORD__STATE__GIVEN;
}

/* Receipts from rows of RECEIPT_COLUMNS, freed with the request. */
static struct receipts *receipts_from(http_req *r, PGresult *res)
{
	size_t n = (size_t)PQntuples(res);
	struct receipts *rs = calloc(1, sizeof *rs);
	if (!rs)
		abort();
	rs->n = n;
	rs->r = calloc(n + 1, sizeof *rs->r);
	rs->p = calloc(n + 1, sizeof *rs->p);
	rs->ts = calloc(4 * n + 1, sizeof *rs->ts);
	rs->hash = calloc(n + 1, sizeof *rs->hash);
	rs->words = calloc(128 * n + 1, sizeof *rs->words);
	rs->text = calloc(2 * n + 1, sizeof *rs->text);
	if (!rs->r || !rs->p || !rs->ts || !rs->hash || !rs->words || !rs->text)
		abort();
	http_on_complete(r, receipts_free, rs);
	int64_t now = now_micros();
	for (size_t i = 0; i < n; i++) {
		int row = (int)i;
		Fiducia__V1__ConsentReceipt *c = &rs->r[i];
		fiducia__v1__consent_receipt__init(c);
		c->record_id = PQgetvalue(res, row, 0);
		rs->text[2 * i] = strdup(PQgetvalue(res, row, 1));
		rs->text[2 * i + 1] = strdup(PQgetvalue(res, row, 2));
		if (!rs->text[2 * i] || !rs->text[2 * i + 1])
			abort();
		char **all = rs->words + 128 * i;
		size_t na = split_words(rs->text[2 * i], all, 64);
		char **wd = all + 64;
		size_t nw = split_words(rs->text[2 * i + 1], wd, 64);
		/* In force: the record's purposes not withdrawn one by one. */
		size_t keep = 0;
		for (size_t k = 0; k < na; k++) {
			bool gone = false;
			for (size_t j = 0; j < nw; j++)
				gone |= strcmp(all[k], wd[j]) == 0;
			if (!gone)
				all[keep++] = all[k];
		}
		int64_t given = strtoll(PQgetvalue(res, row, 3), NULL, 10);
		int64_t from = strtoll(PQgetvalue(res, row, 4), NULL, 10);
		int64_t until = strtoll(PQgetvalue(res, row, 5), NULL, 10);
		int64_t withdrawn = strtoll(PQgetvalue(res, row, 6), NULL, 10);
		c->state = state_of(now, until, withdrawn);
		c->purposes = all;
		c->n_purposes =
		        c->state == FIDUCIA__V1__CONSENT_RECORD__STATE__WITHDRAWN ? 0 : keep;
		c->withdrawn_purposes = wd;
		c->n_withdrawn_purposes = nw;
		Google__Protobuf__Timestamp *t = rs->ts + 4 * i;
		consent_micros_ts(&t[0], given);
		c->given_at = &t[0];
		consent_micros_ts(&t[1], from);
		c->valid_from = &t[1];
		if (until) {
			consent_micros_ts(&t[2], until);
			c->valid_until = &t[2];
		}
		if (withdrawn) {
			consent_micros_ts(&t[3], withdrawn);
			c->withdrawn_at = &t[3];
		}
		const char *hex = PQgetvalue(res, row, 7);
		size_t got = 0;
		if (strncmp(hex, "\\x", 2) == 0 &&
		    sodium_hex2bin(rs->hash[i], 32, hex + 2, strlen(hex + 2), NULL, &got, NULL) ==
		            0 &&
		    got == 32) {
			c->record_hash.data = rs->hash[i];
			c->record_hash.len = 32;
		}
		rs->p[i] = c;
	}
	return rs;
}

/* ---- the import's transaction ------------------------------------------------------ */

static void analyzed(PGresult *res, void *arg)
{
	(void)arg;
	if (!pg_ok(res, PGRES_COMMAND_OK))
		log_warn("cannot analyze the consent records: %s",
		         res ? PQresultErrorMessage(res) : "connection lost");
}

static void import_reply(txn *t)
{
	struct import *im = t->ctx;
	/* The receipts straight from what was inserted. */
	struct receipts *rs = receipts_from(t->r, t->row);
	Fiducia__V1__ConsentReceipts out = FIDUCIA__V1__CONSENT_RECEIPTS__INIT;
	out.receipts = rs->p;
	out.n_receipts = rs->n;
	out.ledger_index = txn_index_out(t);
	char n[24];
	snprintf(n, sizeof n, "%zu", im->p.n);
	log_event(LOG_LEVEL_INFO, "consent_import", "dataset", im->d->id, "records#", n,
	          (const char *)NULL);
	/* After a large import, refresh the planner's statistics now rather
	 * than at autovacuum's next pass: until then it takes the table for
	 * small, and the cached views' delta loads (consent_cache.c) scan every
	 * live record instead of looking the changed subjects up. */
	if (im->p.n >= 10000)
		db_query(t->r->app->db, "ANALYZE consents", 0, NULL, analyzed, NULL);
	http_reply(t->r, 201, &out.base);
}

static void import_step(txn *t, PGresult *res)
{
	struct import *im = t->ctx;
	switch (t->stage) {
	case 0: /* BEGIN: the dataset must still be active (and stay so) */
		t->stage = 1;
		{
			const char *p[1] = {im->d->id};
			/* The version bump also orders this import among the
			 * dataset's consent changes (consent_cache.h). */
			txn_sql(t,
			        "WITH d AS (SELECT 1 FROM datasets WHERE id = $1 AND state = "
			        "'ACTIVE' FOR SHARE) INSERT INTO consent_versions AS v (dataset, "
			        "version) SELECT $1, 1 FROM d ON CONFLICT (dataset) DO UPDATE SET "
			        "version = v.version + 1 RETURNING version",
			        1, p);
		}
		return;
	case 1:
		if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
			txn_fail(t, 404, "not_found", "the dataset was withdrawn");
			return;
		}
		t->stage = 2;
		im->next = 0;
		/* fall through */
	case 2:
		if (t->stage == 2 && im->next > 0 &&
		    (!res || PQresultStatus(res) != PGRES_COMMAND_OK)) {
			txn_fail(t, 500, "internal", "cannot store the consent records");
			return;
		}
		if (im->next < im->p.nchunks) {
			char **a = im->p.sql_arrays + 7 * im->next++;
			const char *p[9] = {im->d->id, a[0],        a[1], a[2], a[3],
			                    a[4],      im->given_s, a[5], a[6]};
			txn_sql(t,
			        "INSERT INTO consents (id, dataset, subject, purposes, valid_from, "
			        "valid_until, given_at, record, record_hash, version) SELECT u.id, "
			        "$1, "
			        "decode(u.s, 'hex'), string_to_array(u.p, ' '), "
			        "'epoch'::timestamptz + "
			        "u.vf * interval '1 microsecond', 'epoch'::timestamptz + u.vu * "
			        "interval "
			        "'1 microsecond', 'epoch'::timestamptz + $7::bigint * interval '1 "
			        "microsecond', decode(u.rec, 'hex'), decode(u.h, "
			        "'hex'), " CONSENT_SQL_VERSION " FROM "
			        "unnest($2::text[], $3::text[], $4::text[], $5::bigint[], "
			        "$6::bigint[], "
			        "$8::text[], $9::text[]) AS u(id, s, p, vf, vu, rec, h)",
			        9, p);
			return;
		}
		t->stage = 3;
		{
			Fiducia__V1__LedgerEntry e = FIDUCIA__V1__LEDGER_ENTRY__INIT;
			ledger_entry_from_request(&e, t->r);
			e.action = FIDUCIA__V1__LEDGER_ENTRY__ACTION__CONSENT_GIVEN;
			e.dataset = im->d->id;
			e.decision = FIDUCIA__V1__LEDGER_ENTRY__DECISION__GRANTED;
			e.batch_receipt_hash.data = im->p.batch_hash;
			e.batch_receipt_hash.len = 32;
			ProtobufCBinaryData *ps = calloc(im->p.n, sizeof *ps);
			if (!ps)
				abort();
			for (size_t k = 0; k < im->p.n; k++) {
				ps[k].data = im->p.pseud[k];
				ps[k].len = BATCH_PSEUDONYM_BYTES;
			}
			e.subject_pseudonyms = ps;
			e.n_subject_pseudonyms = im->p.n;
			char why[64];
			snprintf(why, sizeof why, "%zu consent records given", im->p.n);
			char *reasons[1] = {why};
			e.reasons = reasons;
			e.n_reasons = 1;
			txn_ledger_entry(t, &e);
			free(ps);
		}
		return;
	case 3: { /* ledgered: the receipts, as stored */
		t->stage = 4;
		const char *p[2] = {im->d->id, im->p.all_ids};
		txn_sql(t,
		        "SELECT " RECEIPT_COLUMNS " FROM consents c JOIN unnest($2::text[]) WITH "
		        "ORDINALITY AS u(id, ord) ON u.id = c.id WHERE c.dataset = $1 ORDER BY "
		        "u.ord",
		        2, p);
		return;
	}
	case 4:
		if (!res || PQresultStatus(res) != PGRES_TUPLES_OK ||
		    (size_t)PQntuples(res) != im->p.n) {
			txn_fail(t, 500, "internal", "cannot read the consent records back");
			return;
		}
		txn_keep_row(t, res);
		txn_commit(t);
		return;
	}
}

static void import_parsed(void *arg)
{
	struct import *im = arg;
	http_req *r = im->r;
	if (im->p.status) {
		http_reply_error(r, im->p.status,
		                 im->p.status == 413 ? "body_too_large" : "invalid_argument", "%s",
		                 im->p.err);
		return;
	}
	snprintf(im->given_s, sizeof im->given_s, "%lld", (long long)im->p.given_at);
	txn *t = txn_start(r, import_step, im);
	t->reply = import_reply;
}

static void import_loaded(http_req *r, ds *d)
{
	struct import *im = r->ctx;
	im->d = d;
	im->p.dataset = d->id;
	im->p.holder = d->holder;
	im->p.sch = &d->sch;
	im->p.subject_key = d->subject_key;
	if (d->sch.subject < 0 || !d->personal) {
		http_reply_error(
		        r, 409, "failed_precondition",
		        "dataset %s holds no personal data: it needs no subject consent (its "
		        "holder's policy is its permission)",
		        d->id);
		return;
	}
	workers_submit(r->app->workers, import_work, import_parsed, im);
}

static void import_consents(http_req *r)
{
	const char *ct =
	        evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Content-Type");
	int format;
	if (ct && http_media_is(ct, "application/json"))
		format = CONSENT_JSON;
	else if (ct && (http_media_is(ct, "application/x-ndjson") ||
	                http_media_is(ct, "application/jsonl")))
		format = CONSENT_NDJSON;
	else if (ct && (http_media_is(ct, "application/x-protobuf") ||
	                http_media_is(ct, "application/protobuf")))
		format = CONSENT_PB;
	else {
		http_reply_error(r, 415, "unsupported_media_type",
		                 "Content-Type must be application/json (a record or an array), "
		                 "application/x-ndjson or application/x-protobuf");
		return;
	}
	struct import *im = calloc(1, sizeof *im);
	if (!im)
		abort();
	http_on_complete(r, import_free, im);
	im->r = r;
	im->p.format = format;
	im->p.vocab = r->app->vocab;
	im->p.intermediary = r->app->cfg->intermediary_name;
	im->p.intermediary_contact = r->app->cfg->intermediary_contact;
	if (!http_take_body(r, &im->body))
		return;
	r->ctx = im;
	ds_load(r, DS_OWNER, import_loaded);
}

/* ---- one subject: show and withdraw -------------------------------------------------- */

struct subj {
	http_req *r;
	ds *d;
	uint8_t pseud[BATCH_PSEUDONYM_BYTES];
	char hex[2 * BATCH_PSEUDONYM_BYTES + 3];
	const char *purpose; /* withdraw ?purpose=P, or NULL */
	int changed;
	void (*next)(struct subj *s);
};

static void subj_free(void *p)
{
	struct subj *s = p;
	ds_free(s->d);
	free(s);
}

/* Load the dataset, pseudonymise {subject}; cb runs with the context. */
static void subject_loaded(http_req *r, ds *d)
{
	struct subj *s = r->ctx;
	s->d = d;
	char why[160];
	if (!consent_pseudonymise(&d->sch, d->subject_key, http_param(r, "subject"), s->pseud, why,
	                          sizeof why)) {
		http_reply_error(r, 400, "invalid_argument", "subject: %s", why);
		return;
	}
	s->hex[0] = '\\';
	s->hex[1] = 'x';
	sodium_bin2hex(s->hex + 2, sizeof s->hex - 2, s->pseud, sizeof s->pseud);
	s->next(s);
}

static void with_subject(http_req *r, const char *purpose, void (*next)(struct subj *))
{
	struct subj *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	http_on_complete(r, subj_free, s);
	s->r = r;
	s->purpose = purpose;
	r->ctx = s;
	s->next = next;
	ds_load(r, DS_OWNER, subject_loaded);
}

struct shown {
	Fiducia__V1__ConsentRecord **recs;
	Fiducia__V1__ConsentRecord__Event *ev;
	Fiducia__V1__ConsentRecord__Event **evp;
	Google__Protobuf__Timestamp *ts;
	size_t n;
};

static void shown_free(void *p)
{
	struct shown *sh = p;
	for (size_t i = 0; i < sh->n; i++)
		if (sh->recs[i]) {
			/* Fields set here point into the reply's own storage. */
			sh->recs[i]->withdrawn_purposes = NULL;
			sh->recs[i]->n_withdrawn_purposes = 0;
			sh->recs[i]->history = NULL;
			sh->recs[i]->n_history = 0;
			sh->recs[i]->record_hash.data = NULL;
			sh->recs[i]->record_hash.len = 0;
			protobuf_c_message_free_unpacked(&sh->recs[i]->base, NULL);
		}
	free(sh->recs);
	free(sh->ev);
	free(sh->evp);
	free(sh->ts);
	free(sh);
}

static void show_done(PGresult *res, void *arg)
{
	struct subj *s = arg;
	http_req *r = s->r;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		if (!res || db_result_is_unavailable(res))
			http_reply_unavailable(r);
		else
			http_reply_error(r, 500, "internal", "cannot read the consent records");
		return;
	}
	size_t n = (size_t)PQntuples(res);
	if (n == 0) {
		http_reply_error(r, 404, "not_found", "no consent record for this subject");
		return;
	}
	struct receipts *rs = receipts_from(r, res);
	struct shown *sh = calloc(1, sizeof *sh);
	if (!sh)
		abort();
	sh->n = n;
	sh->recs = calloc(n, sizeof *sh->recs);
	sh->ev = calloc(n * 68, sizeof *sh->ev);
	sh->evp = calloc(n * 68, sizeof *sh->evp);
	sh->ts = calloc(n * 68, sizeof *sh->ts);
	if (!sh->recs || !sh->ev || !sh->evp || !sh->ts)
		abort();
	http_on_complete(r, shown_free, sh);
	/* Withdrawal times per purpose, for the history. */
	for (size_t i = 0; i < n; i++) {
		const char *hex = PQgetvalue(res, (int)i, 8);
		size_t cap = strlen(hex) / 2 + 1, got = 0;
		uint8_t *buf = malloc(cap);
		if (!buf)
			abort();
		if (strncmp(hex, "\\x", 2) == 0 &&
		    sodium_hex2bin(buf, cap, hex + 2, strlen(hex + 2), NULL, &got, NULL) == 0)
			sh->recs[i] = (Fiducia__V1__ConsentRecord *)protobuf_c_message_unpack(
			        &fiducia__v1__consent_record__descriptor, NULL, got, buf);
		free(buf);
		if (!sh->recs[i]) {
			http_reply_error(r, 500, "internal",
			                 "a stored consent record is unreadable");
			return;
		}
		Fiducia__V1__ConsentRecord *c = sh->recs[i];
		Fiducia__V1__ConsentReceipt *rc = rs->p[i];
		c->state = rc->state;
		c->withdrawn_purposes = rc->withdrawn_purposes;
		c->n_withdrawn_purposes = rc->n_withdrawn_purposes;
		c->record_hash = rc->record_hash;
		Fiducia__V1__ConsentRecord__Event *ev = sh->ev + 68 * i;
		Fiducia__V1__ConsentRecord__Event **evp = sh->evp + 68 * i;
		Google__Protobuf__Timestamp *ts = sh->ts + 68 * i;
		size_t ne = 0;
		fiducia__v1__consent_record__event__init(&ev[ne]);
		ev[ne].type = "GIVEN";
		ev[ne].at = rc->given_at;
		evp[ne] = &ev[ne];
		ne++;
		for (size_t k = 0; k < rc->n_withdrawn_purposes && ne < 66; k++) {
			fiducia__v1__consent_record__event__init(&ev[ne]);
			ev[ne].type = "PURPOSE_WITHDRAWN";
			ev[ne].purpose = rc->withdrawn_purposes[k];
			evp[ne] = &ev[ne];
			ne++;
		}
		if (rc->withdrawn_at) {
			fiducia__v1__consent_record__event__init(&ev[ne]);
			ev[ne].type = "WITHDRAWN";
			ev[ne].at = rc->withdrawn_at;
			evp[ne] = &ev[ne];
			ne++;
		} else if (rc->state == FIDUCIA__V1__CONSENT_RECORD__STATE__EXPIRED) {
			fiducia__v1__consent_record__event__init(&ev[ne]);
			ev[ne].type = "EXPIRED";
			ts[0] = *rc->valid_until;
			ev[ne].at = &ts[0];
			evp[ne] = &ev[ne];
			ne++;
		}
		c->history = evp;
		c->n_history = ne;
	}
	Fiducia__V1__SubjectConsents out = FIDUCIA__V1__SUBJECT_CONSENTS__INIT;
	out.subject_pseudonym.data = s->pseud;
	out.subject_pseudonym.len = sizeof s->pseud;
	out.records = sh->recs;
	out.n_records = n;
	http_reply(r, 200, &out.base);
}

static void show_subject(struct subj *s)
{
	const char *p[2] = {s->d->id, s->hex};
	db_query(s->r->app->db,
	         "SELECT " RECEIPT_COLUMNS " FROM consents c WHERE c.dataset = $1 AND c.subject = "
	         "$2::bytea ORDER BY c.given_at, c.id",
	         2, p, show_done, s);
}

static void show_consents(http_req *r)
{
	with_subject(r, NULL, show_subject);
}

static void withdraw_reply(txn *t)
{
	struct receipts *rs = receipts_from(t->r, t->row);
	Fiducia__V1__ConsentReceipts out = FIDUCIA__V1__CONSENT_RECEIPTS__INIT;
	out.receipts = rs->p;
	out.n_receipts = rs->n;
	out.ledger_index = txn_index_out(t);
	http_reply(t->r, 200, &out.base);
}

static void withdraw_step(txn *t, PGresult *res)
{
	struct subj *s = t->ctx;
	const char *p[3] = {s->d->id, s->hex, s->purpose};
	switch (t->stage) {
	case 0:
		t->stage = 1;
		if (s->purpose)
			txn_sql(t,
			        "WITH v AS (" CONSENT_SQL_BUMP ") INSERT INTO consent_withdrawals "
			        "(consent, purpose, version) SELECT c.id, $3, (SELECT version FROM "
			        "v) "
			        "FROM "
			        "consents c WHERE c.dataset = $1 AND c.subject = $2::bytea AND "
			        "c.withdrawn_at IS NULL AND $3 = ANY(c.purposes) ON CONFLICT DO "
			        "NOTHING "
			        "RETURNING consent",
			        3, p);
		else
			txn_sql(t, CONSENT_SQL_WITHDRAW_ALL, 2, p);
		return;
	case 1:
		if (!pg_ok(res, PGRES_TUPLES_OK)) {
			txn_fail(t, 500, "internal", "cannot withdraw the consent");
			return;
		}
		s->changed = PQntuples(res);
		t->stage = 2;
		if (s->purpose) { /* a record with no purpose left is withdrawn whole */
			txn_sql(t,
			        "UPDATE consents c SET withdrawn_at = now(), version "
			        "= " CONSENT_SQL_VERSION " WHERE c.dataset = $1 "
			        "AND "
			        "c.subject = $2::bytea AND c.withdrawn_at IS NULL AND NOT EXISTS "
			        "(SELECT 1 "
			        "FROM unnest(c.purposes) p WHERE p NOT IN (SELECT w.purpose FROM "
			        "consent_withdrawals w WHERE w.consent = c.id))",
			        2, p);
			return;
		}
		/* fall through */
	case 2:
		if (s->purpose && !pg_ok(res, PGRES_COMMAND_OK)) {
			txn_fail(t, 500, "internal", "cannot withdraw the consent");
			return;
		}
		t->stage = 3;
		if (s->changed) {
			Fiducia__V1__LedgerEntry e = FIDUCIA__V1__LEDGER_ENTRY__INIT;
			ledger_entry_from_request(&e, t->r);
			e.action = FIDUCIA__V1__LEDGER_ENTRY__ACTION__CONSENT_WITHDRAWN;
			e.dataset = s->d->id;
			e.purpose = (char *)(s->purpose ? s->purpose : "");
			e.decision = FIDUCIA__V1__LEDGER_ENTRY__DECISION__GRANTED;
			ProtobufCBinaryData ps = {BATCH_PSEUDONYM_BYTES, s->pseud};
			ProtobufCBinaryData *pp = &ps;
			e.subject_pseudonyms = pp;
			e.n_subject_pseudonyms = 1;
			txn_ledger_entry(t, &e);
			return;
		}
		/* fall through */
	case 3:
		t->stage = 4;
		txn_sql(t,
		        "SELECT " RECEIPT_COLUMNS " FROM consents c WHERE c.dataset = $1 AND "
		        "c.subject = $2::bytea ORDER BY c.given_at, c.id",
		        2, p);
		return;
	case 4:
		if (!pg_ok(res, PGRES_TUPLES_OK)) {
			txn_fail(t, 500, "internal", "cannot read the consent records");
			return;
		}
		if (PQntuples(res) == 0) {
			txn_fail(t, 404, "not_found", "no consent record for this subject");
			return;
		}
		txn_keep_row(t, res);
		txn_commit(t);
		return;
	}
}

static void withdraw_subject(struct subj *s)
{
	txn *t = txn_start(s->r, withdraw_step, s);
	t->reply = withdraw_reply;
}

static void withdraw_consents(http_req *r)
{
	const char *purpose = http_query(r, "purpose");
	if (purpose && pdp_vocab_find(r->app->vocab, purpose) < 0) {
		http_reply_error(r, 400, "invalid_argument",
		                 "purpose: not a purpose of the vocabulary (policy/purposes.json)");
		return;
	}
	with_subject(r, purpose, withdraw_subject);
}

/* ---- erasure: the subject's rows re-sealed out of their chunks --------------------- */

struct affected {
	uint8_t id[CHUNK_ID_BYTES];
	uint32_t rows, kept;
	int key_version;
	char batch_id[129];
	bool *keep;
	uint8_t *sealed[SCHEMA_MAX_COLUMNS]; /* the new columns (kept > 0) */
	size_t lens[SCHEMA_MAX_COLUMNS];
	char s_id[2 * CHUNK_ID_BYTES + 3], s_rows[16], s_kept[16], s_kv[16], s_erased[16];
};

struct erase {
	struct subj *s;
	PGresult *res; /* the rows a worker reads */
	struct affected *aff;
	size_t naff, cur;
	int status;
	char err[200];
	int64_t rows_erased, chunks_emptied, consents_erased;
	int64_t searched; /* the dataset's chunks when they were searched */
	char *update_sql;
	const char *values[4 + SCHEMA_MAX_COLUMNS];
	int lengths[4 + SCHEMA_MAX_COLUMNS], formats[4 + SCHEMA_MAX_COLUMNS];
	char reason[160];
};

static void erase_free(void *p)
{
	struct erase *e = p;
	PQclear(e->res);
	for (size_t i = 0; i < e->naff; i++) {
		free(e->aff[i].keep);
		for (int c = 0; c < SCHEMA_MAX_COLUMNS; c++)
			free(e->aff[i].sealed[c]);
	}
	free(e->aff);
	free(e->update_sql);
	free(e);
}

static bool hex_to(const char *hex, uint8_t **out, size_t *n)
{
	size_t cap = strlen(hex) / 2 + 1;
	*out = malloc(cap);
	if (!*out)
		abort();
	return strncmp(hex, "\\x", 2) == 0 &&
	       sodium_hex2bin(*out, cap, hex + 2, strlen(hex + 2), NULL, n, NULL) == 0;
}

/* Worker: which chunks hold the subject, and which of their rows to keep. */
static void erase_find(void *arg)
{
	struct erase *e = arg;
	const ds *d = e->s->d;
	int n = PQntuples(e->res);
	e->aff = calloc((size_t)n + 1, sizeof *e->aff);
	if (!e->aff)
		abort();
	for (int i = 0; i < n && !e->status; i++) {
		struct affected a = {0};
		uint8_t *id = NULL, *sealed = NULL;
		size_t idn = 0, sn = 0;
		a.rows = (uint32_t)strtoul(PQgetvalue(e->res, i, 1), NULL, 10);
		a.key_version = atoi(PQgetvalue(e->res, i, 2));
		const uint8_t *dek = ds_dek(d, a.key_version);
		bool ok = hex_to(PQgetvalue(e->res, i, 0), &id, &idn) && idn == CHUNK_ID_BYTES &&
		          hex_to(PQgetvalue(e->res, i, 4), &sealed, &sn) &&
		          sn >= CHUNK_SEAL_OVERHEAD && dek;
		uint8_t *pt = ok ? malloc(sn - CHUNK_SEAL_OVERHEAD + 1) : NULL;
		chunk_column cc;
		char why[128];
		ok = ok && pt &&
		     chunk_open(dek, d->id, id, d->sch.subject, (uint32_t)a.key_version, a.rows,
		                sealed, sn, pt) &&
		     chunk_decode(pt, sn - CHUNK_SEAL_OVERHEAD, d->sch.cols[d->sch.subject].type,
		                  true, a.rows, &cc, why, sizeof why);
		if (!ok) {
			e->status = 500;
			snprintf(e->err, sizeof e->err,
			         "a chunk of the dataset fails its integrity check: nothing was "
			         "erased "
			         "(POST .../verify says which)");
		} else {
			int64_t found = -1;
			for (uint32_t k = 0; k < cc.ndict; k++)
				if (sodium_memcmp(cc.pseudonyms + (size_t)k * BATCH_PSEUDONYM_BYTES,
				                  e->s->pseud, BATCH_PSEUDONYM_BYTES) == 0)
					found = k;
			if (found >= 0) {
				memcpy(a.id, id, CHUNK_ID_BYTES);
				snprintf(a.batch_id, sizeof a.batch_id, "%s",
				         PQgetvalue(e->res, i, 3));
				a.keep = malloc(a.rows ? a.rows : 1);
				if (!a.keep)
					abort();
				for (uint32_t r = 0; r < a.rows; r++) {
					a.keep[r] = cc.idx[r] != (uint32_t)found;
					a.kept += a.keep[r];
				}
				e->aff[e->naff++] = a;
			}
			chunk_column_free(&cc);
			sodium_memzero(pt, sn - CHUNK_SEAL_OVERHEAD);
		}
		free(pt);
		free(id);
		free(sealed);
	}
	PQclear(e->res);
	e->res = NULL;
}

/* Worker: open the current chunk's columns and seal them again without the
 * subject's rows, under the dataset's current data key. */
static void erase_reseal(void *arg)
{
	struct erase *e = arg;
	const ds *d = e->s->d;
	struct affected *a = &e->aff[e->cur];
	chunk_column cols[SCHEMA_MAX_COLUMNS];
	uint8_t *pts[SCHEMA_MAX_COLUMNS] = {0};
	size_t ptl[SCHEMA_MAX_COLUMNS] = {0};
	int ncols = d->sch.ncols, decoded = 0;
	memset(cols, 0, sizeof cols);
	const uint8_t *dek = ds_dek(d, a->key_version);
	bool ok = PQntuples(e->res) == ncols && dek;
	for (int c = 0; ok && c < ncols; c++) {
		uint8_t *sealed = NULL;
		size_t sn = 0;
		char why[128];
		ok = atoi(PQgetvalue(e->res, c, 0)) == c &&
		     hex_to(PQgetvalue(e->res, c, 1), &sealed, &sn) && sn >= CHUNK_SEAL_OVERHEAD;
		if (ok) {
			ptl[c] = sn - CHUNK_SEAL_OVERHEAD;
			pts[c] = malloc(ptl[c] + 1);
			if (!pts[c])
				abort();
			ok = chunk_open(dek, d->id, a->id, c, (uint32_t)a->key_version, a->rows,
			                sealed, sn, pts[c]) &&
			     chunk_decode(pts[c], ptl[c], d->sch.cols[c].type, c == d->sch.subject,
			                  a->rows, &cols[c], why, sizeof why);
			decoded += ok;
		}
		free(sealed);
	}
	batch b;
	if (ok && a->kept > 0 && chunk_rebuild(&d->sch, cols, a->keep, a->rows, &b)) {
		chunk_encoder enc = {0};
		chunk_buf pt = {0};
		const uint8_t *cur = ds_dek(d, d->key_version);
		for (int c = 0; ok && c < ncols; c++) {
			pt.len = 0;
			if (!chunk_encode(&enc, &b, c, 0, b.rows, &pt))
				abort();
			a->lens[c] = pt.len + CHUNK_SEAL_OVERHEAD;
			if (!(a->sealed[c] = malloc(a->lens[c])))
				abort();
			chunk_seal(cur, d->id, a->id, c, (uint32_t)d->key_version, a->kept, pt.p,
			           pt.len, a->sealed[c]);
		}
		if (pt.p)
			sodium_memzero(pt.p, pt.cap);
		free(pt.p);
		chunk_encoder_free(&enc);
		batch_free(&b);
	} else if (ok && a->kept > 0) {
		abort(); /* out of memory */
	}
	if (!ok) {
		e->status = 500;
		snprintf(e->err, sizeof e->err,
		         "a chunk of the dataset fails its integrity check: nothing was erased");
	}
	for (int c = 0; c < decoded; c++)
		chunk_column_free(&cols[c]);
	for (int c = 0; c < ncols; c++) {
		if (pts[c])
			sodium_memzero(pts[c], ptl[c]);
		free(pts[c]);
	}
	PQclear(e->res);
	e->res = NULL;
}

static void erase_reply(txn *t)
{
	struct erase *e = t->ctx;
	Fiducia__V1__ErasureReport out = FIDUCIA__V1__ERASURE_REPORT__INIT;
	out.subject_pseudonym.data = e->s->pseud;
	out.subject_pseudonym.len = BATCH_PSEUDONYM_BYTES;
	out.rows_erased = e->rows_erased;
	out.chunks_resealed = (int64_t)e->naff;
	out.consent_records_erased = e->consents_erased;
	out.ledger_index = txn_index_out(t);
	/* The old plaintext of these chunks, the erased rows with it, leaves this
	 * process's column cache now (other processes drop it at their next read). */
	for (size_t i = 0; i < e->naff; i++)
		colcache_forget(t->r->app->columns, e->aff[i].id);
	projcache_forget(t->r->app->projections, e->s->d->id);
	log_info("dataset %s: a subject's %lld rows erased from %zu chunks", e->s->d->id,
	         (long long)e->rows_erased, e->naff);
	http_reply(t->r, 200, &out.base);
}

static void erase_chunk_sql(txn *t)
{
	struct erase *e = t->ctx;
	struct affected *a = &e->aff[e->cur];
	const ds *d = e->s->d;
	a->s_id[0] = '\\';
	a->s_id[1] = 'x';
	sodium_bin2hex(a->s_id + 2, sizeof a->s_id - 2, a->id, CHUNK_ID_BYTES);
	snprintf(a->s_rows, sizeof a->s_rows, "%u", a->rows);
	snprintf(a->s_kept, sizeof a->s_kept, "%u", a->kept);
	snprintf(a->s_kv, sizeof a->s_kv, "%d", d->key_version);
	if (a->kept == 0) {
		const char *p[2] = {a->s_id, a->s_rows};
		txn_sql(t, "DELETE FROM chunks WHERE id = $1::bytea AND rows = $2 RETURNING id", 2,
		        p);
		return;
	}
	int ncols = d->sch.ncols;
	const char *text[4] = {a->s_id, a->s_kept, a->s_kv, a->s_rows};
	for (int i = 0; i < 4; i++) {
		e->values[i] = text[i];
		e->lengths[i] = 0;
		e->formats[i] = 0;
	}
	for (int c = 0; c < ncols; c++) {
		e->values[4 + c] = (const char *)a->sealed[c];
		e->lengths[4 + c] = (int)a->lens[c];
		e->formats[4 + c] = 1;
	}
	db_conn_query_bin(t->conn, e->update_sql, 4 + ncols, e->values, e->lengths, e->formats,
	                  txn_result, t);
}

static void erase_step(txn *t, PGresult *res)
{
	struct erase *e = t->ctx;
	struct subj *sj = e->s;
	const ds *d = sj->d;
	switch (t->stage) {
	case 0: { /* BEGIN */
		t->stage = 1;
		const char *p[1] = {d->id};
		/* FOR UPDATE: deposits (FOR SHARE) wait until the erasure commits,
		 * and the chunks counted now must be the ones searched. */
		txn_sql(t,
		        "SELECT key_version, (SELECT count(*) FROM chunks c WHERE c.dataset = $1) "
		        "FROM "
		        "datasets WHERE id = $1 AND state = 'ACTIVE' FOR UPDATE",
		        1, p);
		return;
	}
	case 1:
		if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
			txn_fail(t, 404, "not_found", "the dataset was withdrawn");
			return;
		}
		if (atoi(PQgetvalue(res, 0, 0)) != d->key_version) {
			txn_fail(t, 409, "aborted",
			         "the dataset's data key rotated meanwhile; erase again");
			return;
		}
		if (strtoll(PQgetvalue(res, 0, 1), NULL, 10) != e->searched) {
			txn_fail(t, 409, "aborted",
			         "rows were deposited or erased during the erasure; nothing was "
			         "erased: "
			         "erase again");
			return;
		}
		t->stage = 2;
		e->cur = 0;
		if (e->naff) {
			erase_chunk_sql(t);
			return;
		}
		/* fall through */
	case 2:
		if (e->naff && e->cur < e->naff) {
			/* The chunk just written: it must have been as we read it. */
			struct affected *a = &e->aff[e->cur];
			bool ok = res &&
			          (PQresultStatus(res) == PGRES_TUPLES_OK ||
			           PQresultStatus(res) == PGRES_COMMAND_OK) &&
			          atoi(PQcmdTuples(res)) == (a->kept ? d->sch.ncols : 1);
			if (!ok) {
				txn_fail(t, 409, "aborted",
				         "the dataset changed during the erasure; nothing was "
				         "erased: erase "
				         "again");
				return;
			}
			t->stage = 3;
			snprintf(a->s_erased, sizeof a->s_erased, "%u", a->rows - a->kept);
			const char *p[4] = {d->id, a->batch_id, a->s_erased, a->kept ? "0" : "1"};
			txn_sql(t,
			        "UPDATE batches SET erased_rows = erased_rows + $3, erased_chunks "
			        "= "
			        "erased_chunks + $4 WHERE dataset = $1 AND batch_id = $2",
			        4, p);
			return;
		}
		t->stage = 4;
		{
			const char *p[2] = {d->id, sj->hex};
			/* Deleted records leave no version stamp: every cached
			 * view older than this reloads in full. */
			txn_sql(t,
			        "WITH v AS (" CONSENT_SQL_BUMP_FULL ") DELETE FROM consents WHERE "
			        "dataset = $1 AND subject = $2::bytea AND (SELECT version FROM v) "
			        "> 0 "
			        "RETURNING id",
			        2, p);
		}
		return;
	case 3: /* the batch's counts */
		if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
			txn_fail(t, 500, "internal", "cannot update the batch's counts");
			return;
		}
		e->rows_erased += e->aff[e->cur].rows - e->aff[e->cur].kept;
		e->cur++;
		t->stage = 2;
		if (e->cur < e->naff) {
			erase_chunk_sql(t);
			return;
		}
		erase_step(t, NULL);
		return;
	case 4: {
		if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
			txn_fail(t, 500, "internal", "cannot erase the consent records");
			return;
		}
		e->consents_erased = PQntuples(res);
		t->stage = 5;
		Fiducia__V1__LedgerEntry le = FIDUCIA__V1__LEDGER_ENTRY__INIT;
		ledger_entry_from_request(&le, t->r);
		le.action = FIDUCIA__V1__LEDGER_ENTRY__ACTION__CONSENT_ERASED;
		le.dataset = (char *)d->id;
		le.decision = FIDUCIA__V1__LEDGER_ENTRY__DECISION__GRANTED;
		ProtobufCBinaryData ps = {BATCH_PSEUDONYM_BYTES, sj->pseud};
		le.subject_pseudonyms = &ps;
		le.n_subject_pseudonyms = 1;
		snprintf(e->reason, sizeof e->reason,
		         "%lld rows erased from %zu chunks; %lld consent records erased",
		         (long long)e->rows_erased, e->naff, (long long)e->consents_erased);
		char *why[1] = {e->reason};
		le.reasons = why;
		le.n_reasons = 1;
		txn_ledger_entry(t, &le);
		return;
	}
	case 5:
		txn_commit(t);
		return;
	}
}

static void erase_write(struct erase *e)
{
	http_req *r = e->s->r;
	if (e->status) {
		http_reply_error(r, e->status, "integrity", "%s", e->err);
		return;
	}
	int ncols = e->s->d->sch.ncols;
	size_t cap = 512 + (size_t)ncols * 32;
	e->update_sql = malloc(cap);
	if (!e->update_sql)
		abort();
	/* One statement per chunk: its row, guarded by the row count and key
	 * version read, and its columns. */
	int n = snprintf(
	        e->update_sql, cap,
	        "WITH c AS (UPDATE chunks SET rows = $2, key_version = $3 WHERE id = "
	        "$1::bytea AND rows = $4 RETURNING id) UPDATE chunk_columns k SET sealed = "
	        "v.s FROM c, (VALUES ");
	for (int c = 0; c < ncols; c++)
		n += snprintf(e->update_sql + n, cap - (size_t)n, "%s(%d, $%d::bytea)",
		              c ? ", " : "", c, 5 + c);
	snprintf(e->update_sql + n, cap - (size_t)n,
	         ") AS v(col, s) WHERE k.chunk = c.id AND k.col = v.col");
	txn *t = txn_start(r, erase_step, e);
	t->reply = erase_reply;
}

static void erase_next(struct erase *e);

static void erase_resealed(void *arg)
{
	struct erase *e = arg;
	if (e->status) {
		erase_write(e);
		return;
	}
	e->cur++;
	erase_next(e);
}

static void erase_columns(PGresult *res, void *arg)
{
	struct erase *e = arg;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		http_reply_unavailable(e->s->r);
		return;
	}
	e->res = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	if (!e->res)
		abort();
	workers_submit(e->s->r->app->workers, erase_reseal, erase_resealed, e);
}

/* Read and re-seal the affected chunks one after the other, then write. */
static void erase_next(struct erase *e)
{
	while (e->cur < e->naff && e->aff[e->cur].kept == 0)
		e->cur++; /* emptied: nothing to re-seal */
	if (e->cur == e->naff) {
		e->cur = 0;
		erase_write(e);
		return;
	}
	struct affected *a = &e->aff[e->cur];
	a->s_id[0] = '\\';
	a->s_id[1] = 'x';
	sodium_bin2hex(a->s_id + 2, sizeof a->s_id - 2, a->id, CHUNK_ID_BYTES);
	const char *p[1] = {a->s_id};
	db_query(e->s->r->app->db,
	         "SELECT col, sealed FROM chunk_columns WHERE chunk = $1::bytea ORDER BY col", 1, p,
	         erase_columns, e);
}

static void erase_found(void *arg)
{
	struct erase *e = arg;
	if (e->status) {
		erase_write(e);
		return;
	}
	e->cur = 0;
	erase_next(e);
}

static void erase_subject_rows(PGresult *res, void *arg)
{
	struct erase *e = arg;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		if (!res || db_result_is_unavailable(res))
			http_reply_unavailable(e->s->r);
		else
			http_reply_error(e->s->r, 500, "internal", "cannot read the chunks");
		return;
	}
	e->res = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	if (!e->res)
		abort();
	e->searched = PQntuples(res);
	workers_submit(e->s->r->app->workers, erase_find, erase_found, e);
}

static void erase_subject(struct subj *s)
{
	struct erase *e = calloc(1, sizeof *e);
	if (!e)
		abort();
	http_on_complete(s->r, erase_free, e);
	e->s = s;
	char col[8];
	snprintf(col, sizeof col, "%d", s->d->sch.subject);
	const char *p[2] = {s->d->id, col};
	db_query(s->r->app->db,
	         "SELECT c.id, c.rows, c.key_version, c.batch_id, k.sealed FROM chunks c JOIN "
	         "chunk_columns k ON k.chunk = c.id AND k.col = $2::int WHERE c.dataset = $1",
	         2, p, erase_subject_rows, e);
}

static void erase_consents(http_req *r)
{
	with_subject(r, NULL, erase_subject);
}

const http_route consent_routes[] = {
        {"POST", "/v1/datasets/{ds}/consents", import_consents, AUTH_ROLE_HOLDER, NULL},
        {"GET", "/v1/datasets/{ds}/consents/{subject!}", show_consents, AUTH_ROLE_HOLDER, NULL},
        {"DELETE", "/v1/datasets/{ds}/consents/{subject!}", withdraw_consents, AUTH_ROLE_HOLDER,
         NULL},
        {"POST", "/v1/datasets/{ds}/subjects/{subject!}/erase", erase_consents, AUTH_ROLE_HOLDER,
         NULL},
        {NULL, NULL, NULL, 0, NULL},
};
