/*
 * Datasets and deposits: the /v1/datasets resource. Registration creates the
 * dataset's first data key and its subject key, wrapped by the KEK; a
 * deposit is parsed, validated, pseudonymised, encoded and sealed on a
 * worker thread, then stored with its receipt and its ledger entry in one
 * transaction; withdrawal destroys the keys and the chunks.
 *
 * Holders see and change only their own datasets (another holder's is 404,
 * as if it did not exist); the operator and regulators read every dataset's
 * metadata; a data user sees the datasets it holds a grant on.
 */
#include "api.h"
#include "app.h"
#include "batch.h"
#include "chunk.h"
#include "colcache.h"
#include "projection.h"
#include "config.h"
#include "db.h"
#include "fiducia_names.h"
#include "keys.h"
#include "ledger.h"
#include "log.h"
#include "pbjson.h"
#include "policies.h"
#include "datasets.h"
#include "txn.h"
#include "pgutil.h"
#include "schema.h"
#include "vault.h"
#include "workers.h"
#include "fiducia/v1/datasets.pb-c.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DS_ID_LEN    19 /* "ds-" + 16 hex */
#define BATCH_ID_MAX 128

/* ---- small helpers ------------------------------------------------------ */

bool ds_id_valid(const char *s)
{
	if (!s || strlen(s) != DS_ID_LEN || strncmp(s, "ds-", 3) != 0)
		return false;
	for (int i = 3; i < DS_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool batch_id_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > BATCH_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return false;
	}
	return true;
}

static bool printable(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			return false;
	return n <= max;
}

/* ---- the dataset row ---------------------------------------------------- */

#define DS_COLUMNS                                                                                 \
	"d.id, d.holder, d.name, d.description, d.personal_data, d.columns::text, d.state, "       \
	"d.key_version, d.chunk_rows, extract(epoch from d.created_at)::float8, "                  \
	"coalesce(extract(epoch from d.withdrawn_at)::float8, 0), "                                \
	"(SELECT coalesce(sum(b.rows - b.erased_rows), 0) FROM batches b WHERE b.dataset = "       \
	"d.id), "                                                                                  \
	"(SELECT count(*) FROM batches b WHERE b.dataset = d.id)"

/* The pieces of one Dataset message, owned together. */
struct ds_msg {
	Fiducia__V1__Dataset d;
	Google__Protobuf__Timestamp created, withdrawn;
	Fiducia__V1__CreateDatasetRequest *cols; /* decoded schema (owns the columns) */
};

static void ds_msg_clear(struct ds_msg *m)
{
	if (m->cols)
		protobuf_c_message_free_unpacked(&m->cols->base, NULL);
	m->cols = NULL;
}

/* A data user does not see the exact row count of a personal dataset: compared before and
 * after an erasure, it would tell how many rows that person had. */
static bool ds_msg_from_row(const http_req *r, PGresult *res, int row, struct ds_msg *m)
{
	memset(m, 0, sizeof *m);
	fiducia__v1__dataset__init(&m->d);
	google__protobuf__timestamp__init(&m->created);
	google__protobuf__timestamp__init(&m->withdrawn);
	Fiducia__V1__Dataset *d = &m->d;
	d->id = PQgetvalue(res, row, 0);
	d->holder = PQgetvalue(res, row, 1);
	d->name = PQgetvalue(res, row, 2);
	d->description = PQgetvalue(res, row, 3);
	d->personal_data = PQgetvalue(res, row, 4)[0] == 't';
	const char *json = PQgetvalue(res, row, 5);
	pbjson_error e;
	if (!pbjson_decode(&fiducia__v1__create_dataset_request__descriptor, json, strlen(json),
	                   NULL, (ProtobufCMessage **)&m->cols, &e))
		return false;
	d->n_columns = m->cols->n_columns;
	d->columns = m->cols->columns;
	d->state = strcmp(PQgetvalue(res, row, 6), "ACTIVE") == 0
	                   ? FIDUCIA__V1__DATASET__STATE__ACTIVE
	                   : FIDUCIA__V1__DATASET__STATE__WITHDRAWN;
	d->key_version = atoi(PQgetvalue(res, row, 7));
	d->chunk_rows = atoi(PQgetvalue(res, row, 8));
	pg_timestamp(&m->created, PQgetvalue(res, row, 9));
	d->created_at = &m->created;
	if (d->state == FIDUCIA__V1__DATASET__STATE__WITHDRAWN) {
		pg_timestamp(&m->withdrawn, PQgetvalue(res, row, 10));
		d->withdrawn_at = &m->withdrawn;
	}
	d->rows = r->claims.role == AUTH_ROLE_USER && d->personal_data
	                  ? 0
	                  : strtoll(PQgetvalue(res, row, 11), NULL, 10);
	d->batches = strtoll(PQgetvalue(res, row, 12), NULL, 10);
	return true;
}

static void ds_msg_free_cb(void *p)
{
	struct ds_msg *m = p;
	ds_msg_clear(m);
	free(m);
}

static void reply_dataset_row(http_req *r, int status, PGresult *res)
{
	struct ds_msg *m = calloc(1, sizeof *m);
	if (!m)
		abort();
	http_on_complete(r, ds_msg_free_cb, m);
	if (!ds_msg_from_row(r, res, 0, m)) {
		http_reply_error(r, 500, "internal", "stored schema is unreadable");
		return;
	}
	http_reply(r, status, &m->d.base);
}

/* ---- loading a dataset with its keys ----------------------------------- */

void ds_free(ds *d)
{
	if (!d)
		return;
	if (d->subject_key)
		sodium_free(d->subject_key);
	if (d->deks)
		sodium_free(d->deks);
	free(d);
}

const uint8_t *ds_dek(const ds *d, int version)
{
	return version >= 1 && version <= d->key_version
	               ? d->deks + (size_t)(version - 1) * VAULT_KEY_BYTES
	               : NULL;
}

bool ds_schema_parse(const char *json, bool personal, schema *out)
{
	Fiducia__V1__CreateDatasetRequest *cols = NULL;
	pbjson_error e;
	char err[256];
	bool ok = pbjson_decode(&fiducia__v1__create_dataset_request__descriptor, json,
	                        strlen(json), NULL, (ProtobufCMessage **)&cols, &e) &&
	          schema_from_pb(out, personal, cols->n_columns, cols->columns, err, sizeof err);
	if (cols)
		protobuf_c_message_free_unpacked(&cols->base, NULL);
	return ok;
}

struct ds_load {
	http_req *r;
	ds_loaded_cb cb;
	unsigned who;
	char id[DS_ID_LEN + 1];
};

static void ds_loaded(PGresult *res, void *arg)
{
	struct ds_load *l = arg;
	http_req *r = l->r;
	ds_loaded_cb cb = l->cb;
	unsigned who = l->who;
	char id[DS_ID_LEN + 1];
	memcpy(id, l->id, sizeof id);
	free(l);
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(r, res, "read the dataset");
		return;
	}
	if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 1), "ACTIVE") != 0) {
		http_reply_error(r, 404, "not_found", "no dataset %s", id);
		return;
	}
	bool owner = strcmp(PQgetvalue(res, 0, 0), r->claims.org) == 0 &&
	             r->claims.role == AUTH_ROLE_HOLDER;
	bool reader = r->claims.role == AUTH_ROLE_OPERATOR || r->claims.role == AUTH_ROLE_REGULATOR;
	if (!owner && !((who & DS_READERS) && reader) && !(who & DS_ANY)) {
		http_reply_error(r, 404, "not_found", "no dataset %s", id);
		return;
	}
	ds *d = calloc(1, sizeof *d);
	if (!d)
		abort();
	snprintf(d->id, sizeof d->id, "%s", id);
	snprintf(d->holder, sizeof d->holder, "%s", PQgetvalue(res, 0, 0));
	d->personal = PQgetvalue(res, 0, 2)[0] == 't';
	d->chunk_rows = atoi(PQgetvalue(res, 0, 4));
	d->key_version = atoi(PQgetvalue(res, 0, 5));
	d->schema_version = atoi(PQgetvalue(res, 0, 6));
	if (d->key_version < 1 || d->key_version > 100000 ||
	    !ds_schema_parse(PQgetvalue(res, 0, 3), d->personal, &d->sch)) {
		ds_free(d);
		http_reply_error(r, 500, "internal", "the stored schema of %s is unreadable", id);
		return;
	}
	d->subject_key = sodium_malloc(VAULT_KEY_BYTES);
	d->deks = sodium_malloc((size_t)d->key_version * VAULT_KEY_BYTES);
	if (!d->subject_key || !d->deks)
		abort();
	int have_deks = 0;
	bool have_subject = false;
	for (int i = 0; i < PQntuples(res); i++) {
		if (PQgetisnull(res, i, 7))
			continue;
		const char *kind = PQgetvalue(res, i, 7);
		int version = atoi(PQgetvalue(res, i, 8));
		const char *kek_id = PQgetvalue(res, i, 9);
		uint8_t wrapped[VAULT_WRAPPED_BYTES + 1];
		size_t n = 0;
		const unsigned char *kek = keys_kek_by_id(r->app->keys, kek_id);
		if (!kek) {
			ds_free(d);
			log_error("dataset %s: its %s key v%d is wrapped under KEK %s, which this "
			          "fiduciad does not hold (kek_file/kek_previous_file)",
			          id, kind, version, kek_id);
			http_reply_error(
			        r, 500, "key_unavailable",
			        "the data keys of %s are wrapped under a key-encryption key "
			        "this server does not hold",
			        id);
			return;
		}
		uint8_t *dst = strcmp(kind, "subject") == 0 ? d->subject_key
		               : version >= 1 && version <= d->key_version
		                       ? d->deks + (size_t)(version - 1) * VAULT_KEY_BYTES
		                       : NULL;
		if (!dst || !pg_bytea(PQgetvalue(res, i, 10), wrapped, sizeof wrapped, &n) ||
		    !vault_unwrap(kek, id, kind, version, wrapped, n, dst)) {
			ds_free(d);
			log_error(
			        "dataset %s: the %s key v%d fails to unwrap (altered or misplaced)",
			        id, kind, version);
			http_reply_error(r, 500, "integrity",
			                 "a data key of %s fails its integrity check", id);
			return;
		}
		if (dst == d->subject_key)
			have_subject = true;
		else
			have_deks++;
	}
	if (!have_subject || have_deks != d->key_version) {
		ds_free(d);
		log_error("dataset %s: keys are missing", id);
		http_reply_error(r, 500, "integrity", "data keys of %s are missing", id);
		return;
	}
	cb(r, d);
}

/* Load dataset {ds} with every key unwrapped, for `who`; replies 404 itself. */
void ds_load(http_req *r, unsigned who, ds_loaded_cb cb)
{
	ds_load_id(r, http_param(r, "ds"), who, cb);
}

void ds_load_id(http_req *r, const char *id, unsigned who, ds_loaded_cb cb)
{
	if (!ds_id_valid(id)) {
		http_reply_error(r, 404, "not_found", "no dataset %s",
		                 id && strlen(id) < 64 && printable(id, 64) ? id : "with that id");
		return;
	}
	struct ds_load *l = malloc(sizeof *l);
	if (!l)
		abort();
	l->r = r;
	l->cb = cb;
	l->who = who;
	snprintf(l->id, sizeof l->id, "%s", id);
	const char *p[1] = {id};
	db_query(r->app->db,
	         "SELECT d.holder, d.state, d.personal_data, d.columns::text, d.chunk_rows, "
	         "d.key_version, d.schema_version, k.kind, k.version, k.kek_id, k.wrapped "
	         "FROM datasets d LEFT JOIN dataset_keys k ON k.dataset = d.id WHERE d.id = $1",
	         1, p, ds_loaded, l);
}

static void reply_dataset_from_txn(txn *t)
{
	reply_dataset_row(t->r, t->ok_status, t->row);
}

/* ---- POST /v1/datasets, PUT /v1/datasets/{ds} ---------------------------- */

struct create {
	Fiducia__V1__CreateDatasetRequest *req;
	char id[DS_ID_LEN + 1];
	char *columns_json;
	char kek_id[VAULT_KEK_ID_LEN + 1];
	char chunk_rows[16];
	char dek_hex[2 * VAULT_WRAPPED_BYTES + 3], subject_hex[2 * VAULT_WRAPPED_BYTES + 3];
};

static void create_free(void *p)
{
	struct create *c = p;
	free(c->columns_json);
	free(c);
}

static void create_step(txn *t, PGresult *res)
{
	struct create *c = t->ctx;
	switch (t->stage++) {
	case 0: { /* BEGIN done */
		const char *p[7] = {c->id,
		                    t->r->claims.org,
		                    c->req->name,
		                    c->req->description,
		                    c->req->personal_data ? "true" : "false",
		                    c->columns_json,
		                    c->chunk_rows};
		txn_sql(t,
		        "INSERT INTO datasets (id, holder, name, description, personal_data, "
		        "columns, chunk_rows) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)",
		        7, p);
		return;
	}
	case 1: {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state && strcmp(state, "23505") == 0) {
			char msg[160];
			snprintf(msg, sizeof msg, "you already have an active dataset named %s",
			         c->req->name);
			txn_fail(t, 409, "already_exists", msg);
			return;
		}
		if (!pg_ok(res, PGRES_COMMAND_OK)) {
			txn_fail(t, 500, "internal", "cannot register the dataset");
			return;
		}
		const char *p[4] = {c->id, c->kek_id, c->dek_hex, c->subject_hex};
		txn_sql(t,
		        "INSERT INTO dataset_keys (dataset, kind, version, kek_id, wrapped) VALUES "
		        "($1, 'dek', 1, $2, $3::bytea), ($1, 'subject', 1, $2, $4::bytea)",
		        4, p);
		return;
	}
	case 2: {
		if (!pg_ok(res, PGRES_COMMAND_OK)) {
			txn_fail(t, 500, "internal", "cannot store the dataset's keys");
			return;
		}
		const char *p[1] = {c->id};
		txn_sql(t, "SELECT " DS_COLUMNS " FROM datasets d WHERE d.id = $1", 1, p);
		return;
	}
	case 3:
		if (!pg_ok(res, PGRES_TUPLES_OK) || PQntuples(res) != 1) {
			txn_fail(t, 500, "internal", "cannot read the dataset back");
			return;
		}
		txn_keep_row(t, res);
		txn_ledger(t, FIDUCIA__V1__LEDGER_ENTRY__ACTION__DATASET_REGISTERED, c->id, NULL,
		           NULL, 0);
		return;
	case 4: /* ledgered */
		txn_commit(t);
		return;
	}
}

/* The request's fields, checked; *json the columns as stored. */
static bool check_dataset_request(http_req *r, Fiducia__V1__CreateDatasetRequest *req, char **json)
{
	if (!fiducia_slug_valid(req->name, strlen(req->name))) {
		http_reply_error(r, 400, "invalid_argument",
		                 "$.name: must be a lowercase slug of 1-63 characters [a-z0-9-], "
		                 "not starting or ending with '-'");
		return false;
	}
	if (!printable(req->description, 1024)) {
		http_reply_error(r, 400, "invalid_argument",
		                 "$.description: at most 1024 characters, no control characters");
		return false;
	}
	schema s;
	char err[256];
	if (!schema_from_pb(&s, req->personal_data, req->n_columns, req->columns, err,
	                    sizeof err)) {
		http_reply_error(r, 400, "invalid_argument", "%s", err);
		return false;
	}
	Fiducia__V1__CreateDatasetRequest only = FIDUCIA__V1__CREATE_DATASET_REQUEST__INIT;
	only.n_columns = req->n_columns;
	only.columns = req->columns;
	if (!(*json = pbjson_encode(&only.base, NULL)))
		abort();
	return true;
}

static void create_dataset(http_req *r)
{
	Fiducia__V1__CreateDatasetRequest *req;
	if (!http_read_body(r, &fiducia__v1__create_dataset_request__descriptor,
	                    (ProtobufCMessage **)&req))
		return;
	struct create *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	http_on_complete(r, create_free, c);
	c->req = req;
	if (!check_dataset_request(r, req, &c->columns_json))
		return;
	uint8_t rnd[8];
	randombytes_buf(rnd, sizeof rnd);
	memcpy(c->id, "ds-", 3);
	sodium_bin2hex(c->id + 3, sizeof c->id - 3, rnd, sizeof rnd);
	snprintf(c->chunk_rows, sizeof c->chunk_rows, "%lld", r->app->cfg->chunk_rows);
	const keys *k = r->app->keys;
	memcpy(c->kek_id, k->kek_id, sizeof c->kek_id);
	uint8_t *key = sodium_malloc(VAULT_KEY_BYTES);
	if (!key)
		abort();
	uint8_t w[VAULT_WRAPPED_BYTES];
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	vault_wrap(k->kek, c->id, "dek", 1, key, w);
	pg_bytea_param(c->dek_hex, sizeof c->dek_hex, w, sizeof w);
	randombytes_buf(key, VAULT_KEY_BYTES);
	vault_wrap(k->kek, c->id, "subject", 1, key, w);
	pg_bytea_param(c->subject_hex, sizeof c->subject_hex, w, sizeof w);
	sodium_free(key);
	txn *t = txn_start(r, create_step, c);
	t->ok_status = 201;
	t->reply = reply_dataset_from_txn;
}

struct update {
	Fiducia__V1__CreateDatasetRequest *req;
	char *columns_json;
};

static void update_free(void *p)
{
	struct update *u = p;
	free(u->columns_json);
	free(u);
}

static void update_step(txn *t, PGresult *res)
{
	struct update *u = t->ctx;
	const char *id = http_param(t->r, "ds");
	switch (t->stage++) {
	case 0: {
		const char *p[3] = {id, t->r->claims.org, u->columns_json};
		txn_sql(t,
		        "SELECT d.name, d.personal_data, d.columns = $3::jsonb, "
		        "EXISTS (SELECT 1 FROM batches b WHERE b.dataset = d.id) FROM datasets d "
		        "WHERE d.id = $1 AND d.holder = $2 AND d.state = 'ACTIVE' FOR UPDATE",
		        3, p);
		return;
	}
	case 1: {
		if (!pg_ok(res, PGRES_TUPLES_OK)) {
			txn_fail(t, 500, "internal", "cannot read the dataset");
			return;
		}
		if (PQntuples(res) == 0) {
			char msg[96];
			snprintf(msg, sizeof msg, "no dataset %s", id);
			txn_fail(t, 404, "not_found", msg);
			return;
		}
		if (strcmp(PQgetvalue(res, 0, 0), u->req->name) != 0) {
			txn_fail(t, 409, "failed_precondition",
			         "$.name: a dataset's name cannot change; register a new dataset");
			return;
		}
		bool same = PQgetvalue(res, 0, 2)[0] == 't' &&
		            (PQgetvalue(res, 0, 1)[0] == 't') == u->req->personal_data;
		if (!same && PQgetvalue(res, 0, 3)[0] == 't') {
			txn_fail(t, 409, "failed_precondition",
			         "the schema (columns, personalData) cannot change after the first "
			         "deposit");
			return;
		}
		t->ok_status = same ? 200 : 201; /* 201 marks a schema change, fixed below */
		const char *p[5] = {id, u->req->description,
		                    u->req->personal_data ? "true" : "false", u->columns_json,
		                    same ? "0" : "1"};
		txn_sql(t,
		        "UPDATE datasets SET description = $2, personal_data = $3, columns = "
		        "$4::jsonb, "
		        "schema_version = schema_version + $5 WHERE id = $1",
		        5, p);
		return;
	}
	case 2: {
		if (!pg_ok(res, PGRES_COMMAND_OK)) {
			txn_fail(t, 500, "internal", "cannot update the dataset");
			return;
		}
		const char *p[1] = {id};
		txn_sql(t, "SELECT " DS_COLUMNS " FROM datasets d WHERE d.id = $1", 1, p);
		return;
	}
	case 3: {
		if (!pg_ok(res, PGRES_TUPLES_OK) || PQntuples(res) != 1) {
			txn_fail(t, 500, "internal", "cannot read the dataset back");
			return;
		}
		txn_keep_row(t, res);
		bool changed = t->ok_status == 201;
		t->ok_status = 200;
		if (!changed) {
			txn_commit(t);
			return;
		}
		static char *why[] = {"schema replaced before the first deposit"};
		txn_ledger(t, FIDUCIA__V1__LEDGER_ENTRY__ACTION__DATASET_REGISTERED, id, NULL, why,
		           1);
		return;
	}
	case 4:
		txn_commit(t);
		return;
	}
}

static void update_dataset(http_req *r)
{
	Fiducia__V1__CreateDatasetRequest *req;
	if (!http_read_body(r, &fiducia__v1__create_dataset_request__descriptor,
	                    (ProtobufCMessage **)&req))
		return;
	if (!ds_id_valid(http_param(r, "ds"))) {
		http_reply_error(r, 404, "not_found", "no such dataset");
		return;
	}
	struct update *u = calloc(1, sizeof *u);
	if (!u)
		abort();
	http_on_complete(r, update_free, u);
	u->req = req;
	if (!check_dataset_request(r, req, &u->columns_json))
		return;
	txn *t = txn_start(r, update_step, u);
	t->reply = reply_dataset_from_txn;
}

/* ---- GET /v1/datasets, GET /v1/datasets/{ds} ------------------------------ */

/* What a data user may see: active datasets with a policy in force, each
 * with that policy, the baseline in force and the user's kind; list_done
 * keeps those on which some purpose would be permitted (policies_grants). */
#define USER_DATASETS                                                                              \
	"SELECT " DS_COLUMNS ", p.document, b.document, o.kind FROM datasets d "                   \
	"JOIN orgs o ON o.name = $1 "                                                              \
	"JOIN LATERAL (SELECT document, withdrawn FROM policies WHERE scope = d.id ORDER BY "      \
	"version DESC LIMIT 1) p ON NOT p.withdrawn "                                              \
	"JOIN LATERAL (SELECT document, withdrawn FROM policies WHERE scope = 'baseline' ORDER "   \
	"BY version DESC LIMIT 1) b ON NOT b.withdrawn WHERE d.state = 'ACTIVE'"

static void list_done(PGresult *res, void *arg)
{
	http_req *r = arg;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(r, res, "list datasets");
		return;
	}
	int n = PQntuples(res);
	/* A data user's rows carry the policies in force and its kind (columns
	 * 13-15): only the datasets it holds a grant on are shown. */
	bool *keep = calloc((size_t)n + 1, sizeof *keep);
	if (!keep)
		abort();
	for (int i = 0; i < n; i++) {
		keep[i] = PQnfields(res) < 16 ||
		          policies_grants(r->app->vocab, PQgetvalue(res, i, 14),
		                          PQgetvalue(res, i, 13), PQgetvalue(res, i, 0),
		                          PQgetvalue(res, i, 2), PQgetvalue(res, i, 4)[0] == 't',
		                          r->claims.org, PQgetvalue(res, i, 15));
	}
	if (r->ctx == (void *)1) { /* GET /v1/datasets/{ds} by a data user */
		bool ok = n == 1 && keep[0];
		free(keep);
		if (!ok)
			http_reply_error(r, 404, "not_found", "no dataset %s", http_param(r, "ds"));
		else
			reply_dataset_row(r, 200, res);
		return;
	}
	struct ds_msg *msgs = calloc((size_t)n + 1, sizeof *msgs);
	Fiducia__V1__Dataset **ptrs = calloc((size_t)n + 1, sizeof *ptrs);
	if (!msgs || !ptrs)
		abort();
	/* Freed in order: the messages' schemas, then the arrays. */
	struct cleanup {
		struct ds_msg *m;
		int n;
	} *cl = malloc(sizeof *cl);
	if (!cl)
		abort();
	cl->m = msgs;
	cl->n = n;
	http_on_complete(r, free, ptrs);
	int m = 0;
	for (int i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		if (!ds_msg_from_row(r, res, i, &msgs[m])) {
			for (int j = 0; j <= m; j++)
				ds_msg_clear(&msgs[j]);
			free(msgs);
			free(cl);
			free(keep);
			http_reply_error(r, 500, "internal", "a stored schema is unreadable");
			return;
		}
		ptrs[m] = &msgs[m].d;
		m++;
	}
	free(keep);
	n = m;
	Fiducia__V1__ListDatasetsResponse out = FIDUCIA__V1__LIST_DATASETS_RESPONSE__INIT;
	out.n_datasets = (size_t)n;
	out.datasets = ptrs;
	http_reply(r, 200, &out.base);
	for (int i = 0; i < n; i++)
		ds_msg_clear(&msgs[i]);
	free(msgs);
	free(cl);
}

static void list_datasets(http_req *r)
{
	const char *p[1] = {r->claims.org};
	switch (r->claims.role) {
	case AUTH_ROLE_HOLDER:
		db_query(r->app->db,
		         "SELECT " DS_COLUMNS " FROM datasets d WHERE d.holder = $1 AND d.state = "
		         "'ACTIVE' ORDER BY d.created_at, d.id",
		         1, p, list_done, r);
		return;
	case AUTH_ROLE_USER:
		db_query(r->app->db, USER_DATASETS " ORDER BY d.created_at, d.id", 1, p, list_done,
		         r);
		return;
	default: /* operator, regulator: every dataset's metadata, withdrawn ones too */
		db_query(r->app->db,
		         "SELECT " DS_COLUMNS " FROM datasets d ORDER BY d.created_at, d.id", 0,
		         NULL, list_done, r);
		return;
	}
}

static void get_done(PGresult *res, void *arg)
{
	http_req *r = arg;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(r, res, "read the dataset");
		return;
	}
	if (PQntuples(res) == 0) {
		http_reply_error(r, 404, "not_found", "no dataset %s", http_param(r, "ds"));
		return;
	}
	reply_dataset_row(r, 200, res);
}

static void get_dataset(http_req *r)
{
	const char *id = http_param(r, "ds");
	if (!ds_id_valid(id)) {
		http_reply_error(r, 404, "not_found", "no such dataset");
		return;
	}
	/* The same visibility as the list; a withdrawn dataset is gone for all. */
	if (r->claims.role == AUTH_ROLE_USER) {
		const char *p[2] = {r->claims.org, id};
		r->ctx = (void *)1;
		db_query(r->app->db, USER_DATASETS " AND d.id = $2", 2, p, list_done, r);
		return;
	}
	const char *p[2] = {id, r->claims.org};
	db_query(
	        r->app->db,
	        "SELECT " DS_COLUMNS " FROM datasets d, orgs o WHERE d.id = $1 AND o.name = $2 "
	        "AND d.state = 'ACTIVE' AND (o.kind IN ('OPERATOR', 'REGULATOR') OR d.holder = $2)",
	        2, p, get_done, r);
}

/* ---- DELETE /v1/datasets/{ds}: withdrawal ------------------------------- */

static void withdraw_step(txn *t, PGresult *res)
{
	const char *id = http_param(t->r, "ds");
	const char *p[2] = {id, t->r->claims.org};
	switch (t->stage++) {
	case 0:
		txn_sql(t,
		        "UPDATE datasets SET state = 'WITHDRAWN', withdrawn_at = now() WHERE id = "
		        "$1 "
		        "AND holder = $2 AND state = 'ACTIVE' RETURNING id",
		        2, p);
		return;
	case 1:
		if (!pg_ok(res, PGRES_TUPLES_OK)) {
			txn_fail(t, 500, "internal", "cannot withdraw the dataset");
			return;
		}
		if (PQntuples(res) == 0) {
			char msg[96];
			snprintf(msg, sizeof msg, "no dataset %s", id);
			txn_fail(t, 404, "not_found", msg);
			return;
		}
		/* Crypto-shredding: without its keys no copy of a chunk opens.
		 * Keys, chunks (their columns cascade) and receipts in one
		 * statement. */
		txn_sql(t,
		        "WITH k AS (DELETE FROM dataset_keys WHERE dataset = $1), b AS (DELETE "
		        "FROM batches WHERE dataset = $1) DELETE FROM chunks WHERE dataset = $1 "
		        "RETURNING id",
		        1, p);
		return;
	case 2:
		if (!pg_ok(res, PGRES_TUPLES_OK)) {
			txn_fail(t, 500, "internal",
			         "cannot destroy the dataset's keys and chunks");
			return;
		}
		/* Their plaintext leaves this process's column cache now (wiping early
		 * is harmless should the transaction fail: the cache refills). */
		for (int i = 0; i < PQntuples(res); i++) {
			uint8_t cid[CHUNK_ID_BYTES];
			size_t n = 0;
			if (pg_bytea(PQgetvalue(res, i, 0), cid, sizeof cid, &n) && n == sizeof cid)
				colcache_forget(t->r->app->columns, cid);
		}
		projcache_forget(t->r->app->projections, id);
		txn_sql(t, "SELECT " DS_COLUMNS " FROM datasets d WHERE d.id = $1", 1, p);
		return;
	case 3: {
		if (!pg_ok(res, PGRES_TUPLES_OK) || PQntuples(res) != 1) {
			txn_fail(t, 500, "internal", "cannot read the dataset back");
			return;
		}
		txn_keep_row(t, res);
		static char *why[] = {"data keys and subject key destroyed, chunks deleted"};
		txn_ledger(t, FIDUCIA__V1__LEDGER_ENTRY__ACTION__DATASET_WITHDRAWN, id, NULL, why,
		           1);
		return;
	}
	case 4:
		txn_commit(t);
		return;
	}
}

/* After the COMMIT: void any projection built from chunks listed before it
 * (the forget before the COMMIT wiped the one there was). */
static void withdraw_reply(txn *t)
{
	projcache_forget(t->r->app->projections, http_param(t->r, "ds"));
	reply_dataset_from_txn(t);
}

static void withdraw_dataset(http_req *r)
{
	if (!ds_id_valid(http_param(r, "ds"))) {
		http_reply_error(r, 404, "not_found", "no such dataset");
		return;
	}
	txn *t = txn_start(r, withdraw_step, NULL);
	t->ok_status = 200;
	t->reply = withdraw_reply;
}

/* ---- POST /v1/datasets/{ds}/keys/rotate --------------------------------- */

struct rotate {
	int version;
	char version_s[16];
	char kek_id[VAULT_KEK_ID_LEN + 1];
	char wrapped_hex[2 * VAULT_WRAPPED_BYTES + 3];
	char reason[64];
};

static void rotate_reply(txn *t)
{
	struct rotate *k = t->ctx;
	Fiducia__V1__KeyRotation out = FIDUCIA__V1__KEY_ROTATION__INIT;
	out.dataset = (char *)http_param(t->r, "ds");
	out.key_version = k->version;
	out.ledger_index = txn_index_out(t);
	http_reply(t->r, 201, &out.base);
}

static void rotate_step(txn *t, PGresult *res)
{
	struct rotate *k = t->ctx;
	const char *id = http_param(t->r, "ds");
	switch (t->stage++) {
	case 0: {
		const char *p[2] = {id, t->r->claims.org};
		txn_sql(t,
		        "SELECT key_version FROM datasets WHERE id = $1 AND holder = $2 AND state "
		        "= "
		        "'ACTIVE' FOR UPDATE",
		        2, p);
		return;
	}
	case 1: {
		if (!pg_ok(res, PGRES_TUPLES_OK)) {
			txn_fail(t, 500, "internal", "cannot read the dataset");
			return;
		}
		if (PQntuples(res) == 0) {
			char msg[96];
			snprintf(msg, sizeof msg, "no dataset %s", id);
			txn_fail(t, 404, "not_found", msg);
			return;
		}
		k->version = atoi(PQgetvalue(res, 0, 0)) + 1;
		snprintf(k->version_s, sizeof k->version_s, "%d", k->version);
		const keys *ks = t->r->app->keys;
		memcpy(k->kek_id, ks->kek_id, sizeof k->kek_id);
		uint8_t *key = sodium_malloc(VAULT_KEY_BYTES);
		if (!key)
			abort();
		crypto_aead_xchacha20poly1305_ietf_keygen(key);
		uint8_t w[VAULT_WRAPPED_BYTES];
		vault_wrap(ks->kek, id, "dek", k->version, key, w);
		sodium_free(key);
		pg_bytea_param(k->wrapped_hex, sizeof k->wrapped_hex, w, sizeof w);
		const char *p[4] = {id, k->version_s, k->kek_id, k->wrapped_hex};
		txn_sql(t,
		        "WITH k AS (INSERT INTO dataset_keys (dataset, kind, version, kek_id, "
		        "wrapped) "
		        "VALUES ($1, 'dek', $2, $3, $4::bytea)) UPDATE datasets SET key_version = "
		        "$2 "
		        "WHERE id = $1",
		        4, p);
		return;
	}
	case 2: {
		if (!pg_ok(res, PGRES_COMMAND_OK)) {
			txn_fail(t, 500, "internal", "cannot store the new data key");
			return;
		}
		snprintf(k->reason, sizeof k->reason, "data key version %d", k->version);
		char *why[1] = {k->reason};
		txn_ledger(t, FIDUCIA__V1__LEDGER_ENTRY__ACTION__KEY_ROTATED, id, NULL, why, 1);
		return;
	}
	case 3:
		txn_commit(t);
		return;
	}
}

static void rotate_key(http_req *r)
{
	if (!ds_id_valid(http_param(r, "ds"))) {
		http_reply_error(r, 404, "not_found", "no such dataset");
		return;
	}
	struct rotate *k = calloc(1, sizeof *k);
	if (!k)
		abort();
	http_on_complete(r, free, k);
	txn *t = txn_start(r, rotate_step, k);
	t->reply = rotate_reply;
}

/* ---- deposits ------------------------------------------------------------ */

enum { FMT_CSV, FMT_JSON, FMT_PB };

struct sealed_chunk {
	uint8_t id[CHUNK_ID_BYTES];
	uint32_t rows;
	uint8_t *cols[SCHEMA_MAX_COLUMNS];
	size_t lens[SCHEMA_MAX_COLUMNS];
};

struct deposit {
	http_req *r;
	ds *d;
	struct evbuffer *body;
	int format;
	char batch_id[BATCH_ID_MAX + 1]; /* from the header, or the body */
	bool header_id;
	/* the worker's results */
	int status; /* 0 = sealed; else the 4xx to answer */
	char err[400];
	size_t rows;
	uint8_t sha256[32];
	struct sealed_chunk *chunks;
	size_t nchunks;
	/* the transaction */
	size_t next;
	uint8_t receipt_hash[32];
	char s_rows[24], s_nchunks[16], s_kv[16], s_ord[16], s_crows[16], s_ledger[24];
	char *insert_sql;
	const char *values[6 + SCHEMA_MAX_COLUMNS];
	int lengths[6 + SCHEMA_MAX_COLUMNS], formats[6 + SCHEMA_MAX_COLUMNS];
};

static void deposit_free(void *p)
{
	struct deposit *dp = p;
	if (dp->body)
		evbuffer_free(dp->body);
	for (size_t i = 0; i < dp->nchunks; i++)
		for (int c = 0; c < SCHEMA_MAX_COLUMNS; c++)
			free(dp->chunks[i].cols[c]);
	free(dp->chunks);
	free(dp->insert_sql);
	ds_free(dp->d);
	free(dp);
}

static bool pb_unknown_fields(const Fiducia__V1__DepositBatch *m)
{
	if (m->base.n_unknown_fields)
		return true;
	for (size_t i = 0; i < m->n_rows; i++) {
		if (m->rows[i]->base.n_unknown_fields)
			return true;
		for (size_t k = 0; k < m->rows[i]->n_cells; k++)
			if (m->rows[i]->cells[k]->base.n_unknown_fields ||
			    (m->rows[i]->cells[k]->timestamp_value &&
			     m->rows[i]->cells[k]->kind_case ==
			             FIDUCIA__V1__CELL__KIND_TIMESTAMP_VALUE &&
			     m->rows[i]->cells[k]->timestamp_value->base.n_unknown_fields))
				return true;
	}
	return false;
}

#define DEPOSIT_FAIL(...)                                                                          \
	do {                                                                                       \
		dp->status = 400;                                                                  \
		snprintf(dp->err, sizeof dp->err, __VA_ARGS__);                                    \
		goto out;                                                                          \
	} while (0)

/* On a worker thread: parse, validate, encode, hash and seal the batch. */
static void deposit_work(void *arg)
{
	struct deposit *dp = arg;
	ds *d = dp->d;
	Fiducia__V1__DepositBatch *msg = NULL;
	batch b = {0};
	chunk_encoder enc = {0};
	chunk_buf pt = {0};
	size_t len = evbuffer_get_length(dp->body);
	const char *data = len ? (const char *)evbuffer_pullup(dp->body, -1) : "";
	char err[300];
	bool parsed;
	if (dp->format == FMT_CSV) {
		parsed = batch_parse_csv(&b, &d->sch, d->subject_key, data, len, err, sizeof err);
	} else {
		if (dp->format == FMT_JSON) {
			pbjson_error e;
			if (!pbjson_decode(&fiducia__v1__deposit_batch__descriptor, data, len, NULL,
			                   (ProtobufCMessage **)&msg, &e))
				DEPOSIT_FAIL("%s", e.message);
		} else {
			msg = (Fiducia__V1__DepositBatch *)protobuf_c_message_unpack(
			        &fiducia__v1__deposit_batch__descriptor, NULL, len,
			        (const uint8_t *)data);
			if (!msg)
				DEPOSIT_FAIL("malformed protobuf body for fiducia.v1.DepositBatch");
			if (pb_unknown_fields(msg))
				DEPOSIT_FAIL(
				        "protobuf body for fiducia.v1.DepositBatch has unknown "
				        "fields");
		}
		if (msg->batch_id[0]) {
			if (dp->header_id && strcmp(msg->batch_id, dp->batch_id) != 0)
				DEPOSIT_FAIL("$.batchId differs from the Idempotency-Key header");
			if (!batch_id_valid(msg->batch_id))
				DEPOSIT_FAIL("$.batchId: 1-%d characters of [A-Za-z0-9._:-]",
				             BATCH_ID_MAX);
			snprintf(dp->batch_id, sizeof dp->batch_id, "%s", msg->batch_id);
		}
		parsed = batch_parse_pb(&b, &d->sch, d->subject_key, msg, err, sizeof err);
	}
	if (!parsed)
		DEPOSIT_FAIL("%s", err);
	if (!dp->batch_id[0])
		DEPOSIT_FAIL("the batch has no id: send an Idempotency-Key header (or batchId in "
		             "the body)");
	size_t per = (size_t)d->chunk_rows;
	dp->nchunks = (b.rows + per - 1) / per;
	dp->chunks = calloc(dp->nchunks, sizeof *dp->chunks);
	if (!dp->chunks)
		abort();
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	const uint8_t *dek = ds_dek(d, d->key_version);
	for (size_t k = 0; k < dp->nchunks; k++) {
		struct sealed_chunk *sc = &dp->chunks[k];
		size_t from = k * per, to = from + per < b.rows ? from + per : b.rows;
		randombytes_buf(sc->id, sizeof sc->id);
		sc->rows = (uint32_t)(to - from);
		for (int c = 0; c < d->sch.ncols; c++) {
			pt.len = 0;
			if (!chunk_encode(&enc, &b, c, from, to, &pt))
				abort();
			crypto_hash_sha256_update(&h, pt.p, pt.len);
			sc->lens[c] = pt.len + CHUNK_SEAL_OVERHEAD;
			if (!(sc->cols[c] = malloc(sc->lens[c])))
				abort();
			chunk_seal(dek, d->id, sc->id, c, (uint32_t)d->key_version, sc->rows, pt.p,
			           pt.len, sc->cols[c]);
		}
	}
	crypto_hash_sha256_final(&h, dp->sha256);
	dp->rows = b.rows;
out:
	if (pt.p) {
		sodium_memzero(pt.p, pt.cap);
		free(pt.p);
	}
	chunk_encoder_free(&enc);
	batch_free(&b);
	if (msg)
		protobuf_c_message_free_unpacked(&msg->base, NULL);
	/* The deposited plaintext is not needed any more: wipe it. */
	if (len)
		sodium_memzero((void *)data, len);
	evbuffer_free(dp->body);
	dp->body = NULL;
}

static void receipt_from_row(PGresult *res, int row, const char *dataset,
                             Fiducia__V1__BatchReceipt *o, Google__Protobuf__Timestamp *ts,
                             uint8_t sha[32])
{
	fiducia__v1__batch_receipt__init(o);
	google__protobuf__timestamp__init(ts);
	o->batch_id = PQgetvalue(res, row, 0);
	o->dataset = (char *)dataset;
	o->rows = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	o->chunks = strtoll(PQgetvalue(res, row, 2), NULL, 10);
	size_t n = 0;
	if (pg_bytea(PQgetvalue(res, row, 3), sha, 32, &n) && n == 32) {
		o->sha256.data = sha;
		o->sha256.len = 32;
	}
	o->key_version = atoi(PQgetvalue(res, row, 4));
	long long li = strtoll(PQgetvalue(res, row, 5), NULL, 10);
	o->ledger_index = li > 0 ? (uint64_t)li : 0;
	pg_timestamp(ts, PQgetvalue(res, row, 6));
	o->stored_at = ts;
}

/* ledger_idx is -1 for receipts written since group commit: their entry is
 * found by the pending id recorded instead (-1 until it is placed). */
#define LEDGER_IDX_OF(t)                                                                           \
	"CASE WHEN " t "ledger_idx >= 0 THEN " t "ledger_idx ELSE coalesce((SELECT e.idx FROM "    \
	"ledger_entries e WHERE e.pending_id = " t "ledger_pending), -1) END"
#define RECEIPT_COLUMNS                                                                            \
	"batch_id, rows, chunks, sha256, key_version, " LEDGER_IDX_OF(                             \
	        "") ", "                                                                           \
	            "extract(epoch from stored_at)::float8"

static void deposit_reply(txn *t)
{
	struct deposit *dp = t->ctx;
	Fiducia__V1__BatchReceipt o;
	Google__Protobuf__Timestamp ts;
	uint8_t sha[32];
	receipt_from_row(t->row, 0, dp->d->id, &o, &ts, sha);
	if (t->ledger_index > 0)
		o.ledger_index = (uint64_t)t->ledger_index; /* placed after the row was read */
	log_event(LOG_LEVEL_INFO, "deposit", "dataset", dp->d->id, "rows#", dp->s_rows, "chunks#",
	          dp->s_nchunks, "status#", t->ok_status == 201 ? "201" : "200",
	          (const char *)NULL);
	http_reply(t->r, t->ok_status, &o.base);
}

/* The receipt's hash in the ledger: SHA-256 of the receipt's canonical
 * protobuf without stored_at and ledger_index (unknown until the append). */
static void receipt_hash(struct deposit *dp)
{
	Fiducia__V1__BatchReceipt o = FIDUCIA__V1__BATCH_RECEIPT__INIT;
	o.batch_id = dp->batch_id;
	o.dataset = dp->d->id;
	o.rows = (int64_t)dp->rows;
	o.sha256.data = dp->sha256;
	o.sha256.len = 32;
	o.chunks = (int64_t)dp->nchunks;
	o.key_version = dp->d->key_version;
	size_t n = protobuf_c_message_get_packed_size(&o.base);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		abort();
	protobuf_c_message_pack(&o.base, buf);
	crypto_hash_sha256(dp->receipt_hash, buf, n);
	free(buf);
}

static void deposit_insert_chunk(txn *t)
{
	struct deposit *dp = t->ctx;
	struct sealed_chunk *sc = &dp->chunks[dp->next];
	int ncols = dp->d->sch.ncols;
	snprintf(dp->s_ord, sizeof dp->s_ord, "%zu", dp->next);
	snprintf(dp->s_crows, sizeof dp->s_crows, "%u", sc->rows);
	dp->values[0] = (const char *)sc->id;
	dp->lengths[0] = CHUNK_ID_BYTES;
	dp->formats[0] = 1;
	const char *text[5] = {dp->d->id, dp->batch_id, dp->s_ord, dp->s_crows, dp->s_kv};
	for (int i = 0; i < 5; i++) {
		dp->values[1 + i] = text[i];
		dp->lengths[1 + i] = 0;
		dp->formats[1 + i] = 0;
	}
	for (int c = 0; c < ncols; c++) {
		dp->values[6 + c] = (const char *)sc->cols[c];
		dp->lengths[6 + c] = (int)sc->lens[c];
		dp->formats[6 + c] = 1;
	}
	db_conn_query_bin(t->conn, dp->insert_sql, 6 + ncols, dp->values, dp->lengths, dp->formats,
	                  txn_result, t);
}

static void deposit_step(txn *t, PGresult *res)
{
	struct deposit *dp = t->ctx;
	ds *d = dp->d;
	switch (t->stage) {
	case 0: { /* BEGIN done: the dataset must still be active, with this schema */
		t->stage = 1;
		const char *p[1] = {d->id};
		txn_sql(t, "SELECT state, schema_version FROM datasets WHERE id = $1 FOR SHARE", 1,
		        p);
		return;
	}
	case 1: {
		if (!pg_ok(res, PGRES_TUPLES_OK)) {
			txn_fail(t, 500, "internal", "cannot read the dataset");
			return;
		}
		if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "ACTIVE") != 0) {
			char msg[96];
			snprintf(msg, sizeof msg, "no dataset %s", d->id);
			txn_fail(t, 404, "not_found", msg);
			return;
		}
		if (atoi(PQgetvalue(res, 0, 1)) != d->schema_version) {
			txn_fail(t, 409, "aborted",
			         "the dataset's schema changed during the deposit; send it again");
			return;
		}
		t->stage = 2;
		char sha_hex[67];
		pg_bytea_param(sha_hex, sizeof sha_hex, dp->sha256, 32);
		const char *p[6] = {d->id,         dp->batch_id, dp->s_rows,
		                    dp->s_nchunks, sha_hex,      dp->s_kv};
		/* The row is created first: a concurrent deposit of the same id
		 * waits here for ours to commit or roll back. */
		txn_sql(t,
		        "INSERT INTO batches (dataset, batch_id, rows, chunks, sha256, "
		        "key_version, "
		        "ledger_idx) VALUES ($1, $2, $3, $4, $5::bytea, $6, -1) ON CONFLICT DO "
		        "NOTHING "
		        "RETURNING seq",
		        6, p);
		return;
	}
	case 2: {
		if (!pg_ok(res, PGRES_TUPLES_OK)) {
			txn_fail(t, 500, "internal", "cannot record the batch");
			return;
		}
		if (PQntuples(res) == 0) { /* this batch id exists: a retry, or a conflict */
			t->stage = 10;
			const char *p[2] = {d->id, dp->batch_id};
			txn_sql(t,
			        "SELECT " RECEIPT_COLUMNS " FROM batches WHERE dataset = $1 AND "
			        "batch_id = $2",
			        2, p);
			return;
		}
		t->stage = 3;
		dp->next = 0;
		deposit_insert_chunk(t);
		return;
	}
	case 3:
		if (!pg_ok(res, PGRES_COMMAND_OK)) {
			txn_fail(t, 500, "internal", "cannot store a chunk");
			return;
		}
		if (++dp->next < dp->nchunks) {
			deposit_insert_chunk(t);
			return;
		}
		t->stage = 4;
		receipt_hash(dp);
		txn_ledger(t, FIDUCIA__V1__LEDGER_ENTRY__ACTION__DEPOSIT, d->id, dp->receipt_hash,
		           NULL, 0);
		return;
	case 4: { /* ledgered */
		t->stage = 5;
		snprintf(dp->s_ledger, sizeof dp->s_ledger, "%lld", (long long)t->ledger_pending);
		const char *p[3] = {d->id, dp->batch_id, dp->s_ledger};
		txn_sql(t,
		        "UPDATE batches SET ledger_pending = $3 WHERE dataset = $1 AND batch_id = "
		        "$2 "
		        "RETURNING " RECEIPT_COLUMNS,
		        3, p);
		return;
	}
	case 5:
		if (!pg_ok(res, PGRES_TUPLES_OK) || PQntuples(res) != 1) {
			txn_fail(t, 500, "internal", "cannot complete the receipt");
			return;
		}
		txn_keep_row(t, res);
		t->ok_status = 201;
		txn_commit(t);
		return;
	case 10: { /* the existing receipt */
		if (!pg_ok(res, PGRES_TUPLES_OK) || PQntuples(res) != 1) {
			txn_fail(t, 500, "internal", "cannot read the existing batch");
			return;
		}
		uint8_t sha[32];
		size_t n = 0;
		if (!pg_bytea(PQgetvalue(res, 0, 3), sha, sizeof sha, &n) || n != 32 ||
		    sodium_memcmp(sha, dp->sha256, 32) != 0) {
			char msg[256];
			snprintf(msg, sizeof msg,
			         "batch %s was already stored with different content; a new batch "
			         "needs a new id",
			         dp->batch_id);
			txn_fail(t, 409, "conflict", msg);
			return;
		}
		/* The same batch again: its original receipt, nothing stored. */
		txn_keep_row(t, res);
		t->ok_status = 200;
		db_release(t->conn); /* rolls back: nothing was written */
		t->reply(t);
		return;
	}
	}
}

static void deposit_sealed(void *arg)
{
	struct deposit *dp = arg;
	http_req *r = dp->r;
	if (dp->status) {
		http_reply_error(r, dp->status, "invalid_argument", "%s", dp->err);
		return;
	}
	int ncols = dp->d->sch.ncols;
	snprintf(dp->s_rows, sizeof dp->s_rows, "%zu", dp->rows);
	snprintf(dp->s_nchunks, sizeof dp->s_nchunks, "%zu", dp->nchunks);
	snprintf(dp->s_kv, sizeof dp->s_kv, "%d", dp->d->key_version);
	/* One statement per chunk: its row and its sealed columns. */
	size_t cap = 512 + (size_t)ncols * 32;
	dp->insert_sql = malloc(cap);
	if (!dp->insert_sql)
		abort();
	int n = snprintf(dp->insert_sql, cap,
	                 "WITH c AS (INSERT INTO chunks (id, dataset, batch_id, ordinal, rows, "
	                 "key_version) VALUES ($1, $2, $3, $4, $5, $6)) INSERT INTO chunk_columns "
	                 "(chunk, col, sealed) VALUES ");
	for (int c = 0; c < ncols; c++)
		n += snprintf(dp->insert_sql + n, cap - (size_t)n, "%s($1, %d, $%d)", c ? ", " : "",
		              c, 7 + c);
	txn *t = txn_start(r, deposit_step, dp);
	t->reply = deposit_reply;
}

static void deposit_loaded(http_req *r, ds *d)
{
	struct deposit *dp = r->ctx;
	dp->d = d;
	workers_submit(r->app->workers, deposit_work, deposit_sealed, dp);
}

static void deposit(http_req *r)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(r->ev);
	const char *ct = evhttp_find_header(h, "Content-Type");
	const char *key = evhttp_find_header(h, "Idempotency-Key");
	int format;
	if (ct && http_media_is(ct, "text/csv"))
		format = FMT_CSV;
	else if (ct && http_media_is(ct, "application/json"))
		format = FMT_JSON;
	else if (ct && (http_media_is(ct, "application/x-protobuf") ||
	                http_media_is(ct, "application/protobuf")))
		format = FMT_PB;
	else {
		http_reply_error(r, 415, "unsupported_media_type",
		                 "Content-Type must be text/csv, application/json or "
		                 "application/x-protobuf");
		return;
	}
	if (key && !batch_id_valid(key)) {
		http_reply_error(r, 400, "invalid_argument",
		                 "Idempotency-Key: 1-%d characters of [A-Za-z0-9._:-]",
		                 BATCH_ID_MAX);
		return;
	}
	if (format == FMT_CSV && !key) {
		http_reply_error(r, 400, "invalid_argument",
		                 "a CSV batch needs its id in the Idempotency-Key header");
		return;
	}
	struct deposit *dp = calloc(1, sizeof *dp);
	if (!dp)
		abort();
	http_on_complete(r, deposit_free, dp);
	dp->r = r;
	dp->format = format;
	if (key) {
		snprintf(dp->batch_id, sizeof dp->batch_id, "%s", key);
		dp->header_id = true;
	}
	if (!http_take_body(r, &dp->body))
		return;
	r->ctx = dp;
	ds_load(r, DS_OWNER, deposit_loaded);
}

/* ---- GET /v1/datasets/{ds}/batches ------------------------------------- */

static void batches_done(PGresult *res, void *arg)
{
	http_req *r = arg;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(r, res, "list the batches");
		return;
	}
	int n = PQntuples(res);
	if (n == 0 || PQgetisnull(res, 0, 0)) { /* no visible dataset: the LEFT JOIN's NULL row */
		if (n == 0) {
			http_reply_error(r, 404, "not_found", "no dataset %s", http_param(r, "ds"));
			return;
		}
		n = 0;
	}
	Fiducia__V1__BatchReceipt *rs = calloc((size_t)n + 1, sizeof *rs);
	Fiducia__V1__BatchReceipt **ptrs = calloc((size_t)n + 1, sizeof *ptrs);
	Google__Protobuf__Timestamp *ts = calloc((size_t)n + 1, sizeof *ts);
	uint8_t(*sha)[32] = calloc((size_t)n + 1, sizeof *sha);
	if (!rs || !ptrs || !ts || !sha)
		abort();
	http_on_complete(r, free, rs);
	http_on_complete(r, free, ptrs);
	http_on_complete(r, free, ts);
	http_on_complete(r, free, sha);
	for (int i = 0; i < n; i++) {
		receipt_from_row(res, i, http_param(r, "ds"), &rs[i], &ts[i], sha[i]);
		ptrs[i] = &rs[i];
	}
	Fiducia__V1__ListBatchesResponse out = FIDUCIA__V1__LIST_BATCHES_RESPONSE__INIT;
	out.n_batches = (size_t)n;
	out.batches = ptrs;
	http_reply(r, 200, &out.base);
}

static void list_batches(http_req *r)
{
	const char *id = http_param(r, "ds");
	if (!ds_id_valid(id)) {
		http_reply_error(r, 404, "not_found", "no such dataset");
		return;
	}
	const char *lim = http_query(r, "limit"), *off = http_query(r, "offset");
	char *end;
	long long limit = lim ? strtoll(lim, &end, 10) : 1000;
	if (lim && (*end || limit < 1 || limit > 10000)) {
		http_reply_error(r, 400, "invalid_argument", "limit: an integer from 1 to 10000");
		return;
	}
	long long offset = off ? strtoll(off, &end, 10) : 0;
	if (off && (*end || offset < 0)) {
		http_reply_error(r, 400, "invalid_argument", "offset: a non-negative integer");
		return;
	}
	char ls[24], os[24];
	snprintf(ls, sizeof ls, "%lld", limit);
	snprintf(os, sizeof os, "%lld", offset);
	const char *p[4] = {id, r->claims.org, ls, os};
	/* One row per receipt, or one NULL row when the dataset is visible but
	 * has none, or no row when it is not visible. */
	db_query(r->app->db,
	         "SELECT b.batch_id, b.rows, b.chunks, b.sha256, b.key_version, " LEDGER_IDX_OF(
	                 "b.") ", "
	                       "extract(epoch from b.stored_at)::float8 FROM datasets d JOIN orgs "
	                       "o ON o.name = "
	                       "$2 LEFT JOIN LATERAL (SELECT * FROM batches x WHERE x.dataset = "
	                       "d.id ORDER BY "
	                       "x.seq LIMIT $3 OFFSET $4) b ON true WHERE d.id = $1 AND d.state = "
	                       "'ACTIVE' AND "
	                       "(d.holder = $2 OR o.kind IN ('OPERATOR', 'REGULATOR')) ORDER BY "
	                       "b.seq",
	         4, p, batches_done, r);
}

/* ---- POST /v1/datasets/{ds}/verify: open every ciphertext ---------------- */

#define VERIFY_MAX_FAULTS 100

struct vchunk {
	uint8_t id[CHUNK_ID_BYTES];
	uint32_t rows;
	int key_version;
};

struct verify {
	http_req *r;
	ds *d;
	struct vchunk *chunks;
	size_t nchunks, next;
	PGresult *cols; /* the current chunk's sealed columns */
	int64_t columns_checked, rows;
	Fiducia__V1__VerifyReport__Fault faults[VERIFY_MAX_FAULTS];
	Fiducia__V1__VerifyReport__Fault *fault_ptrs[VERIFY_MAX_FAULTS];
	char fault_text[VERIFY_MAX_FAULTS][3][160];
	size_t nfaults, more_faults;
	char id_param[2 * CHUNK_ID_BYTES + 3];
};

static void verify_free(void *p)
{
	struct verify *v = p;
	PQclear(v->cols);
	free(v->chunks);
	ds_free(v->d);
	free(v);
}

static void fault(struct verify *v, const uint8_t *chunk, const char *column, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void fault(struct verify *v, const uint8_t *chunk, const char *column, const char *fmt, ...)
{
	if (v->nfaults == VERIFY_MAX_FAULTS) {
		v->more_faults++;
		return;
	}
	size_t i = v->nfaults++;
	char(*t)[160] = v->fault_text[i];
	if (chunk)
		sodium_bin2hex(t[0], sizeof t[0], chunk, CHUNK_ID_BYTES);
	else
		t[0][0] = '\0';
	snprintf(t[1], sizeof t[1], "%s", column ? column : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t[2], sizeof t[2], fmt, ap);
	va_end(ap);
	fiducia__v1__verify_report__fault__init(&v->faults[i]);
	v->faults[i].chunk = t[0];
	v->faults[i].column = t[1];
	v->faults[i].error = t[2];
	v->fault_ptrs[i] = &v->faults[i];
}

static void verify_reply(struct verify *v)
{
	Fiducia__V1__VerifyReport out = FIDUCIA__V1__VERIFY_REPORT__INIT;
	out.dataset = v->d->id;
	out.chunks = (int64_t)v->nchunks;
	out.columns_checked = v->columns_checked;
	out.rows = v->rows;
	out.ok = v->nfaults == 0;
	out.n_faults = v->nfaults;
	out.faults = v->fault_ptrs;
	if (v->nfaults)
		log_warn("dataset %s failed verification: %zu faults", v->d->id,
		         v->nfaults + v->more_faults);
	http_reply(v->r, 200, &out.base);
}

/* Worker: open and decode every column of the current chunk. */
static void verify_work(void *arg)
{
	struct verify *v = arg;
	struct vchunk *c = &v->chunks[v->next];
	const schema *s = &v->d->sch;
	bool seen[SCHEMA_MAX_COLUMNS] = {false};
	const uint8_t *dek = ds_dek(v->d, c->key_version);
	for (int i = 0; i < PQntuples(v->cols); i++) {
		int col = atoi(PQgetvalue(v->cols, i, 0));
		if (col < 0 || col >= s->ncols || seen[col]) {
			fault(v, c->id, NULL, "unexpected column number %d", col);
			continue;
		}
		seen[col] = true;
		const char *hex = PQgetvalue(v->cols, i, 1);
		size_t cap = strlen(hex) / 2 + 1, n = 0;
		uint8_t *sealed = malloc(cap), *pt = malloc(cap);
		if (!sealed || !pt)
			abort();
		char err[128];
		chunk_column cc;
		if (!dek) {
			fault(v, c->id, s->cols[col].name, "no data key version %d",
			      c->key_version);
		} else if (!pg_bytea(hex, sealed, cap, &n) || n < CHUNK_SEAL_OVERHEAD ||
		           !chunk_open(dek, v->d->id, c->id, col, (uint32_t)c->key_version, c->rows,
		                       sealed, n, pt)) {
			fault(v, c->id, s->cols[col].name,
			      "integrity check failed: the ciphertext was altered or does not "
			      "belong "
			      "here");
		} else if (!chunk_decode(pt, n - CHUNK_SEAL_OVERHEAD, s->cols[col].type,
		                         col == s->subject, c->rows, &cc, err, sizeof err)) {
			fault(v, c->id, s->cols[col].name, "decodes badly: %s", err);
		} else {
			chunk_column_free(&cc);
			v->columns_checked++;
		}
		if (n > CHUNK_SEAL_OVERHEAD)
			sodium_memzero(pt, n - CHUNK_SEAL_OVERHEAD);
		free(sealed);
		free(pt);
	}
	for (int col = 0; col < s->ncols; col++)
		if (!seen[col])
			fault(v, c->id, s->cols[col].name, "column missing");
	v->rows += c->rows;
}

static void verify_next(struct verify *v);

static void verify_worked(void *arg)
{
	struct verify *v = arg;
	PQclear(v->cols);
	v->cols = NULL;
	v->next++;
	verify_next(v);
}

static void verify_columns(PGresult *res, void *arg)
{
	struct verify *v = arg;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(v->r, res, "read the chunks");
		return;
	}
	v->cols = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
	if (!v->cols)
		abort();
	workers_submit(v->r->app->workers, verify_work, verify_worked, v);
}

static void verify_next(struct verify *v)
{
	if (v->next == v->nchunks) {
		verify_reply(v);
		return;
	}
	pg_bytea_param(v->id_param, sizeof v->id_param, v->chunks[v->next].id, CHUNK_ID_BYTES);
	const char *p[1] = {v->id_param};
	db_query(v->r->app->db,
	         "SELECT col, sealed FROM chunk_columns WHERE chunk = $1::bytea ORDER BY col", 1, p,
	         verify_columns, v);
}

static void verify_chunks(PGresult *res, void *arg)
{
	struct verify *v = arg;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(v->r, res, "list the chunks");
		return;
	}
	v->nchunks = (size_t)PQntuples(res);
	v->chunks = calloc(v->nchunks + 1, sizeof *v->chunks);
	if (!v->chunks)
		abort();
	for (size_t i = 0; i < v->nchunks; i++) {
		size_t n = 0;
		if (!pg_bytea(PQgetvalue(res, (int)i, 0), v->chunks[i].id, CHUNK_ID_BYTES, &n) ||
		    n != CHUNK_ID_BYTES)
			fault(v, NULL, NULL, "chunk %zu has a malformed id", i);
		v->chunks[i].rows = (uint32_t)strtoul(PQgetvalue(res, (int)i, 1), NULL, 10);
		v->chunks[i].key_version = atoi(PQgetvalue(res, (int)i, 2));
	}
	verify_next(v);
}

static void verify_batches(PGresult *res, void *arg)
{
	struct verify *v = arg;
	if (!pg_ok(res, PGRES_TUPLES_OK)) {
		pg_reply_error(v->r, res, "read the batches");
		return;
	}
	/* Every receipt's rows and chunks must all be there: a deleted chunk
	 * is a fault too. */
	for (int i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 1), PQgetvalue(res, i, 4)) != 0 ||
		    strcmp(PQgetvalue(res, i, 2), PQgetvalue(res, i, 3)) != 0)
			fault(v, NULL, NULL,
			      "batch %.128s: its receipt (less erasures) says %s rows in %s "
			      "chunks, "
			      "the vault holds %s rows in %s chunks",
			      PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
			      PQgetvalue(res, i, 4), PQgetvalue(res, i, 3));
	const char *p[1] = {v->d->id};
	db_query(v->r->app->db,
	         "SELECT c.id, c.rows, c.key_version FROM chunks c JOIN batches b ON b.dataset = "
	         "c.dataset AND b.batch_id = c.batch_id WHERE c.dataset = $1 ORDER BY b.seq, "
	         "c.ordinal",
	         1, p, verify_chunks, v);
}

static void verify_loaded(http_req *r, ds *d)
{
	struct verify *v = calloc(1, sizeof *v);
	if (!v)
		abort();
	http_on_complete(r, verify_free, v);
	v->r = r;
	v->d = d;
	const char *p[1] = {d->id};
	db_query(r->app->db,
	         "SELECT b.batch_id, b.rows - b.erased_rows, b.chunks - b.erased_chunks, "
	         "count(c.id), "
	         "coalesce(sum(c.rows), 0) FROM batches b LEFT JOIN chunks c ON c.dataset = "
	         "b.dataset AND c.batch_id = b.batch_id WHERE b.dataset = $1 GROUP BY b.batch_id, "
	         "b.rows, b.erased_rows, b.chunks, b.erased_chunks, b.seq ORDER BY b.seq",
	         1, p, verify_batches, v);
}

static void verify_dataset(http_req *r)
{
	ds_load(r, DS_OWNER | DS_READERS, verify_loaded);
}

const http_route datasets_routes[] = {
        {"POST", "/v1/datasets", create_dataset, AUTH_ROLE_HOLDER, NULL},
        {"GET", "/v1/datasets", list_datasets, AUTH_ROLE_ANY, NULL},
        {"GET", "/v1/datasets/{ds}", get_dataset, AUTH_ROLE_ANY, NULL},
        {"PUT", "/v1/datasets/{ds}", update_dataset, AUTH_ROLE_HOLDER, NULL},
        {"DELETE", "/v1/datasets/{ds}", withdraw_dataset, AUTH_ROLE_HOLDER, NULL},
        {"POST", "/v1/datasets/{ds}/batches", deposit, AUTH_ROLE_HOLDER, NULL},
        {"GET", "/v1/datasets/{ds}/batches", list_batches,
         AUTH_ROLE_HOLDER | AUTH_ROLE_OPERATOR | AUTH_ROLE_REGULATOR, NULL},
        {"POST", "/v1/datasets/{ds}/keys/rotate", rotate_key, AUTH_ROLE_HOLDER, NULL},
        {"POST", "/v1/datasets/{ds}/verify", verify_dataset,
         AUTH_ROLE_HOLDER | AUTH_ROLE_OPERATOR | AUTH_ROLE_REGULATOR, NULL},
        {NULL, NULL, NULL, 0, NULL},
};
