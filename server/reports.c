/*
 * The activity report (DGA Art. 20): GET /v1/reports/activity?from=&to=
 * [&dataset=][&format=csv]. It is computed from the transparency ledger's
 * own entries in the time range — the record regulators can verify — per
 * dataset, purpose and requester: queries granted and denied with the most
 * frequent denial reasons, epsilon spent, deposits, consent changes, policy
 * changes and key rotations, and the privacy-preserving techniques the
 * entries record. A regulator or the operator reads every dataset; a holder
 * its own.
 */
#include "api.h"
#include "app.h"
#include "auth.h"
#include "batch.h"
#include "db.h"
#include "pgutil.h"
#include "fiducia/v1/ledger.pb-c.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define MAX_REASONS_KEPT 64 /* distinct reasons counted per row */
#define TOP_REASONS      5

struct reason {
	char *text;
	int64_t count;
};

struct row {
	Fiducia__V1__ActivityReport__Row m;
	struct reason reasons[MAX_REASONS_KEPT];
	size_t nreasons;
	Fiducia__V1__ActivityReport__ReasonCount top[TOP_REASONS];
	Fiducia__V1__ActivityReport__ReasonCount *topp[TOP_REASONS];
	char *techniques[2];
	char *strs[4];
};

struct report {
	http_req *r;
	struct row *rows;
	size_t n, cap;
	int64_t from, to;
	bool csv;
};

static void report_free(void *p)
{
	struct report *rp = p;
	for (size_t i = 0; i < rp->n; i++) {
		for (int k = 0; k < 4; k++)
			free(rp->rows[i].strs[k]);
		for (size_t k = 0; k < rp->rows[i].nreasons; k++)
			free(rp->rows[i].reasons[k].text);
	}
	free(rp->rows);
	free(rp);
}

static struct row *row_for(struct report *rp, const char *dataset, const char *holder,
                           const char *purpose, const char *requester)
{
	for (size_t i = 0; i < rp->n; i++) {
		Fiducia__V1__ActivityReport__Row *m = &rp->rows[i].m;
		if (!strcmp(m->dataset, dataset) && !strcmp(m->purpose, purpose) &&
		    !strcmp(m->requester, requester))
			return &rp->rows[i];
	}
	if (rp->n == rp->cap) {
		size_t nc = rp->cap ? rp->cap * 2 : 16;
		struct row *nr = realloc(rp->rows, nc * sizeof *nr);
		if (!nr)
			abort();
		rp->rows = nr;
		rp->cap = nc;
	}
	struct row *w = &rp->rows[rp->n++];
	memset(w, 0, sizeof *w);
	fiducia__v1__activity_report__row__init(&w->m);
	const char *src[4] = {dataset, holder, purpose, requester};
	for (int k = 0; k < 4; k++)
		if (!(w->strs[k] = strdup(src[k])))
			abort();
	w->m.dataset = w->strs[0];
	w->m.holder = w->strs[1];
	w->m.purpose = w->strs[2];
	w->m.requester = w->strs[3];
	return w;
}

static void count_reason(struct row *w, const char *reason)
{
	for (size_t k = 0; k < w->nreasons; k++)
		if (!strcmp(w->reasons[k].text, reason)) {
			w->reasons[k].count++;
			return;
		}
	if (w->nreasons == MAX_REASONS_KEPT)
		return;
	if (!(w->reasons[w->nreasons].text = strdup(reason)))
		abort();
	w->reasons[w->nreasons++].count = 1;
}

static int by_count(const void *a, const void *b)
{
	const struct reason *x = a, *y = b;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp(x->text, y->text);
}

static void add_entry(struct report *rp, const Fiducia__V1__LedgerEntry *e, const char *holder)
{
	typedef Fiducia__V1__LedgerEntry__Action A;
	A a = e->action;
	bool query = a == FIDUCIA__V1__LEDGER_ENTRY__ACTION__QUERY;
	struct row *w = row_for(rp, e->dataset, holder, query ? e->purpose : "", e->actor_org);
	switch (a) {
	case FIDUCIA__V1__LEDGER_ENTRY__ACTION__QUERY:
		if (e->decision == FIDUCIA__V1__LEDGER_ENTRY__DECISION__GRANTED) {
			w->m.queries_granted++;
			w->m.epsilon_spent += e->epsilon_spent;
		} else {
			w->m.queries_denied++;
			for (size_t k = 0; k < e->n_reasons; k++)
				count_reason(w, e->reasons[k]);
		}
		break;
	case FIDUCIA__V1__LEDGER_ENTRY__ACTION__DEPOSIT:
		w->m.deposits++;
		break;
	case FIDUCIA__V1__LEDGER_ENTRY__ACTION__CONSENT_GIVEN:
		w->m.consents_given += (int64_t)e->n_subject_pseudonyms;
		break;
	case FIDUCIA__V1__LEDGER_ENTRY__ACTION__CONSENT_WITHDRAWN:
		w->m.consents_withdrawn++;
		break;
	case FIDUCIA__V1__LEDGER_ENTRY__ACTION__CONSENT_ERASED:
		w->m.consents_erased++;
		break;
	case FIDUCIA__V1__LEDGER_ENTRY__ACTION__POLICY_SET:
	case FIDUCIA__V1__LEDGER_ENTRY__ACTION__POLICY_WITHDRAWN:
		w->m.policy_changes++;
		break;
	case FIDUCIA__V1__LEDGER_ENTRY__ACTION__KEY_ROTATED:
		w->m.key_rotations++;
		break;
	default:
		break;
	}
}

static void finish_rows(struct report *rp)
{
	for (size_t i = 0; i < rp->n; i++) {
		struct row *w = &rp->rows[i];
		qsort(w->reasons, w->nreasons, sizeof *w->reasons, by_count);
		size_t t = w->nreasons < TOP_REASONS ? w->nreasons : TOP_REASONS;
		for (size_t k = 0; k < t; k++) {
			fiducia__v1__activity_report__reason_count__init(&w->top[k]);
			w->top[k].reason = w->reasons[k].text;
			w->top[k].count = w->reasons[k].count;
			w->topp[k] = &w->top[k];
		}
		w->m.top_denial_reasons = w->topp;
		w->m.n_top_denial_reasons = t;
		size_t nt = 0;
		if (w->m.epsilon_spent > 0)
			w->techniques[nt++] = "differential privacy";
		if (w->m.queries_granted > 0)
			w->techniques[nt++] = "aggregation only, under the policy's obligations";
		w->m.techniques = w->techniques;
		w->m.n_techniques = nt;
	}
}

/* One CSV field, RFC 4180. */
static void csv_field(struct evbuffer *b, const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n")) {
		evbuffer_add(b, "\"", 1);
		for (const char *p = s; *p; p++) {
			if (*p == '"')
				evbuffer_add(b, "\"", 1);
			evbuffer_add(b, p, 1);
		}
		evbuffer_add(b, "\"", 1);
	} else {
		evbuffer_add(b, s, strlen(s));
	}
	evbuffer_add(b, last ? "\r\n" : ",", last ? 2 : 1);
}

static void reply_csv(struct report *rp)
{
	struct evbuffer *b = evbuffer_new();
	if (!b)
		abort();
	static const char *const head[] = {"dataset",
	                                   "holder",
	                                   "purpose",
	                                   "requester",
	                                   "queries_granted",
	                                   "queries_denied",
	                                   "top_denial_reasons",
	                                   "epsilon_spent",
	                                   "deposits",
	                                   "consents_given",
	                                   "consents_withdrawn",
	                                   "consents_erased",
	                                   "policy_changes",
	                                   "key_rotations",
	                                   "techniques"};
	for (size_t k = 0; k < 15; k++)
		csv_field(b, head[k], k == 14);
	for (size_t i = 0; i < rp->n; i++) {
		const Fiducia__V1__ActivityReport__Row *m = &rp->rows[i].m;
		char num[9][32], reasons[2048] = "", techniques[256] = "";
		for (size_t k = 0; k < m->n_top_denial_reasons; k++) {
			size_t l = strlen(reasons);
			snprintf(reasons + l, sizeof reasons - l, "%s%s (%lld)", k ? " | " : "",
			         m->top_denial_reasons[k]->reason,
			         (long long)m->top_denial_reasons[k]->count);
		}
		for (size_t k = 0; k < m->n_techniques; k++) {
			size_t l = strlen(techniques);
			snprintf(techniques + l, sizeof techniques - l, "%s%s", k ? " | " : "",
			         m->techniques[k]);
		}
		snprintf(num[0], 32, "%lld", (long long)m->queries_granted);
		snprintf(num[1], 32, "%lld", (long long)m->queries_denied);
		snprintf(num[2], 32, "%.6g", m->epsilon_spent);
		snprintf(num[3], 32, "%lld", (long long)m->deposits);
		snprintf(num[4], 32, "%lld", (long long)m->consents_given);
		snprintf(num[5], 32, "%lld", (long long)m->consents_withdrawn);
		snprintf(num[6], 32, "%lld", (long long)m->consents_erased);
		snprintf(num[7], 32, "%lld", (long long)m->policy_changes);
		snprintf(num[8], 32, "%lld", (long long)m->key_rotations);
		const char *f[15] = {m->dataset, m->holder, m->purpose, m->requester, num[0],
		                     num[1],     reasons,   num[2],     num[3],       num[4],
		                     num[5],     num[6],    num[7],     num[8],       techniques};
		for (size_t k = 0; k < 15; k++)
			csv_field(b, f[k], k == 14);
	}
	size_t len = evbuffer_get_length(b);
	http_reply_raw(rp->r, 200, "text/csv; charset=utf-8", evbuffer_pullup(b, -1), len);
	evbuffer_free(b);
}

static void loaded(PGresult *res, void *arg)
{
	struct report *rp = arg;
	http_req *r = rp->r;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(r, res, "read the ledger");
		return;
	}
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		const char *hex = PQgetvalue(res, i, 0);
		size_t cap = strlen(hex) / 2 + 1, got = 0;
		uint8_t *buf = malloc(cap);
		if (!buf)
			abort();
		Fiducia__V1__LedgerEntry *e = NULL;
		if (pg_bytea(hex, buf, cap, &got))
			e = fiducia__v1__ledger_entry__unpack(NULL, got, buf);
		free(buf);
		if (!e) {
			http_reply_error(r, 500, "internal", "a ledger entry does not decode");
			return;
		}
		add_entry(rp, e, PQgetvalue(res, i, 1));
		fiducia__v1__ledger_entry__free_unpacked(e, NULL);
	}
	finish_rows(rp);
	if (rp->csv) {
		reply_csv(rp);
		return;
	}
	Fiducia__V1__ActivityReport out = FIDUCIA__V1__ACTIVITY_REPORT__INIT;
	Google__Protobuf__Timestamp from = GOOGLE__PROTOBUF__TIMESTAMP__INIT,
	                            to = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	from.seconds = rp->from / 1000000;
	from.nanos = (int32_t)(rp->from % 1000000) * 1000;
	to.seconds = rp->to / 1000000;
	to.nanos = (int32_t)(rp->to % 1000000) * 1000;
	out.from = &from;
	out.to = &to;
	Fiducia__V1__ActivityReport__Row **rows = calloc(rp->n + 1, sizeof *rows);
	if (!rows)
		abort();
	for (size_t i = 0; i < rp->n; i++)
		rows[i] = &rp->rows[i].m;
	out.rows = rows;
	out.n_rows = rp->n;
	out.entries_read = (uint64_t)n;
	http_on_complete(r, free, rows);
	http_reply(r, 200, &out.base);
}

static bool parse_time(http_req *r, const char *name, int64_t *out)
{
	const char *v = http_query(r, name);
	if (!v)
		return true;
	if (!batch_parse_timestamp(v, strlen(v), out) || *out < 0) {
		http_reply_error(r, 400, "invalid_argument",
		                 "%s: an RFC 3339 time, such as 2026-01-01T00:00:00Z", name);
		return false;
	}
	return true;
}

static void activity(http_req *r)
{
	struct report *rp = calloc(1, sizeof *rp);
	if (!rp)
		abort();
	http_on_complete(r, report_free, rp);
	rp->r = r;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	rp->from = 0;
	rp->to = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec + 1;
	if (!parse_time(r, "from", &rp->from) || !parse_time(r, "to", &rp->to))
		return;
	if (rp->to <= rp->from) {
		http_reply_error(r, 400, "invalid_argument", "to must be after from");
		return;
	}
	const char *fmt = http_query(r, "format");
	if (fmt && strcmp(fmt, "csv") != 0 && strcmp(fmt, "json") != 0) {
		http_reply_error(r, 400, "invalid_argument", "format: csv or json");
		return;
	}
	/* CSV when asked for by format=csv, or by an Accept that allows CSV and not JSON. */
	rp->csv = fmt ? strcmp(fmt, "csv") == 0 : r->want_text;
	const char *ds = http_query(r, "dataset");
	char f[24], t[24];
	snprintf(f, sizeof f, "%lld", (long long)rp->from);
	snprintf(t, sizeof t, "%lld", (long long)rp->to);
	/* A holder reads the entries about its own datasets only. */
	const char *holder = r->claims.role == AUTH_ROLE_HOLDER ? r->claims.org : "";
	const char *p[4] = {f, t, ds ? ds : "", holder};
	db_query(
	        r->app->db,
	        "SELECT e.entry, coalesce(d.holder, '') FROM ledger_entries e LEFT JOIN datasets d "
	        "ON d.id = e.dataset WHERE e.dataset <> '' AND e.created_at >= "
	        "'epoch'::timestamptz "
	        "+ $1::bigint * interval '1 microsecond' AND e.created_at < 'epoch'::timestamptz + "
	        "$2::bigint * interval '1 microsecond' AND ($3 = '' OR e.dataset = $3) AND ($4 = "
	        "'' "
	        "OR d.holder = $4) ORDER BY e.idx",
	        4, p, loaded, rp);
}

const http_route reports_routes[] = {
        {"GET", "/v1/reports/activity", activity,
         AUTH_ROLE_REGULATOR | AUTH_ROLE_OPERATOR | AUTH_ROLE_HOLDER, "text/csv"},
        {NULL, NULL, NULL, 0, NULL},
};
