/*
 * Consent records from untrusted bytes: the import body (one JSON record, a
 * JSON array, NDJSON, or a ConsentBatch protobuf) decoded, every record
 * checked, its subject pseudonymised (the raw identifier then wiped), its
 * stored form built and hashed, and the insert's arrays prepared. Pure: no
 * libevent, libpq or server dependency, so that it can be fuzzed alone.
 */
#include "consent_parse.h"
#include "pbjson.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LEGAL_BASIS "consent for data altruism (DGA Art. 25; GDPR Art. 6(1)(a))"

int64_t consent_ts_micros(const Google__Protobuf__Timestamp *t)
{
	return t->seconds * 1000000 + t->nanos / 1000;
}

void consent_micros_ts(Google__Protobuf__Timestamp *t, int64_t us)
{
	google__protobuf__timestamp__init(t);
	t->seconds = us / 1000000;
	t->nanos = (int32_t)(us % 1000000) * 1000;
	if (t->nanos < 0) {
		t->seconds--;
		t->nanos += 1000000000;
	}
}

static bool printable(const char *s, size_t min, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f)
			return false;
	return n >= min && n <= max;
}

/* ---- subjects ------------------------------------------------------------------ */

/* The pseudonym of a raw subject identifier of dataset d; false (with err)
 * when it is not one (empty, too long, bad text, or not an INT64 for an
 * INT64 subject column). */
bool consent_pseudonymise(const schema *sch, const uint8_t *subject_key, const char *raw,
                          uint8_t out[BATCH_PSEUDONYM_BYTES], char *err, size_t errlen)
{
	size_t n = strlen(raw);
	if (sch->subject < 0) {
		snprintf(err, errlen, "the dataset has no SUBJECT column: it takes no consent");
		return false;
	}
	if (n == 0 || n > BATCH_MAX_STRING) {
		snprintf(err, errlen, "the subject must be 1-%d bytes", BATCH_MAX_STRING);
		return false;
	}
	if (sch->cols[sch->subject].type == SCHEMA_INT64) {
		int64_t v;
		char canon[24];
		if (!batch_parse_int64(raw, n, &v)) {
			snprintf(err, errlen, "the dataset's subjects are INT64 identifiers");
			return false;
		}
		int m = snprintf(canon, sizeof canon, "%lld", (long long)v);
		batch_pseudonym(subject_key, canon, (size_t)m, out);
		return true;
	}
	batch_pseudonym(subject_key, raw, n, out);
	return true;
}

/* ---- import ------------------------------------------------------------------- */

#define IMPORT_FAIL(...)                                                                           \
	do {                                                                                       \
		im->status = 400;                                                                  \
		snprintf(im->err, sizeof im->err, __VA_ARGS__);                                    \
		return false;                                                                      \
	} while (0)

static bool list_ok(char **v, size_t n, size_t max_n, size_t max_len)
{
	if (n > max_n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!printable(v[i], 1, max_len))
			return false;
	return true;
}

static bool language_ok(const char *s)
{
	/* BCP 47 in its common shape: 2-8 letters, then -subtags of 1-8 alphanumerics. */
	size_t i = 0, n = strlen(s);
	while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
		i++;
	if (i < 2 || i > 8)
		return false;
	while (i < n) {
		if (s[i++] != '-')
			return false;
		size_t k = 0;
		while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		                 (s[i] >= '0' && s[i] <= '9'))) {
			i++;
			k++;
		}
		if (k < 1 || k > 8)
			return false;
	}
	return true;
}

/* Check one record (pos = "$[3]" and the like), fill the server's fields
 * and its pseudonym; false with im->err. */
static bool check_record(consent_import *im, Fiducia__V1__ConsentRecord *c, const char *pos,
                         size_t k)
{
	int64_t now = im->given_at;
	if (c->id[0])
		IMPORT_FAIL("%s.id: assigned by fiduciad; leave it out", pos);
	if (c->subject_pseudonym.len || c->state || c->n_withdrawn_purposes || c->n_history ||
	    c->record_hash.len || c->data_holder[0] || c->intermediary[0] ||
	    c->intermediary_contact[0] || c->dataset[0])
		IMPORT_FAIL("%s: subjectPseudonym, state, withdrawnPurposes, history, recordHash, "
		            "dataHolder, intermediary, intermediaryContact and dataset are set by "
		            "fiduciad",
		            pos);
	char why[160];
	if (!c->subject[0])
		IMPORT_FAIL("%s.subject: required (the holder's identifier of the person)", pos);
	if (!printable(c->subject, 1, BATCH_MAX_STRING))
		IMPORT_FAIL("%s.subject: 1-%d characters, no control characters", pos,
		            BATCH_MAX_STRING);
	if (!consent_pseudonymise(im->sch, im->subject_key, c->subject, im->pseud[k], why,
	                          sizeof why))
		IMPORT_FAIL("%s.subject: %s", pos, why);
	if (!printable(c->form_id, 1, 128))
		IMPORT_FAIL("%s.formId: required, 1-128 characters", pos);
	if (!printable(c->form_version, 0, 64))
		IMPORT_FAIL("%s.formVersion: at most 64 characters", pos);
	if (c->language[0] && !language_ok(c->language))
		IMPORT_FAIL("%s.language: a BCP 47 language tag such as fr or en-GB", pos);
	if (!printable(c->objective, 1, 1024))
		IMPORT_FAIL("%s.objective: required, the general-interest objective in 1-1024 "
		            "characters",
		            pos);
	if (c->n_purposes == 0 || c->n_purposes > 64)
		IMPORT_FAIL("%s.purposes: 1-64 purposes from the vocabulary", pos);
	for (size_t i = 0; i < c->n_purposes; i++) {
		if (pdp_vocab_find(im->vocab, c->purposes[i]) < 0)
			IMPORT_FAIL("%s.purposes[%zu]: not a purpose of the vocabulary "
			            "(policy/purposes.json)",
			            pos, i);
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->purposes[i], c->purposes[j]) == 0)
				IMPORT_FAIL("%s.purposes[%zu]: listed twice", pos, i);
	}
	if (c->n_processing > 1 ||
	    (c->n_processing == 1 && strcmp(c->processing[0], "aggregate") != 0))
		IMPORT_FAIL("%s.processing: the only processing is [\"aggregate\"]", pos);
	if (!list_ok(c->data_categories, c->n_data_categories, 64, 128))
		IMPORT_FAIL("%s.dataCategories: at most 64, each 1-128 characters", pos);
	if (!list_ok(c->recipient_categories, c->n_recipient_categories, 64, 128))
		IMPORT_FAIL("%s.recipientCategories: at most 64, each 1-128 characters", pos);
	if (!printable(c->processing_location, 0, 128) || !printable(c->legal_basis, 0, 256) ||
	    !printable(c->collection_method, 0, 256) || !printable(c->withdrawal_method, 0, 256))
		IMPORT_FAIL("%s: processingLocation (128), legalBasis, collectionMethod and "
		            "withdrawalMethod (256) are short texts without control characters",
		            pos);
	/* Timestamps from protobuf are not checked by the JSON mapping: years
	 * 0001-9999 and valid nanoseconds only, before any arithmetic. */
	const Google__Protobuf__Timestamp *ts[3] = {c->valid_from, c->valid_until, c->indicated_at};
	static const char *const tsname[3] = {"validFrom", "validUntil", "indicatedAt"};
	for (int i = 0; i < 3; i++)
		if (ts[i] && (ts[i]->seconds < -62135596800LL || ts[i]->seconds > 253402300799LL ||
		              ts[i]->nanos < 0 || ts[i]->nanos > 999999999))
			IMPORT_FAIL("%s.%s: not a time between the years 1 and 9999", pos,
			            tsname[i]);
	int64_t from = c->valid_from ? consent_ts_micros(c->valid_from) : now;
	if (c->valid_until && consent_ts_micros(c->valid_until) <= from)
		IMPORT_FAIL("%s.validUntil: must be after validFrom", pos);
	if (c->valid_until && consent_ts_micros(c->valid_until) <= now)
		IMPORT_FAIL("%s.validUntil: already past", pos);
	if (c->indicated_at && consent_ts_micros(c->indicated_at) > now + 300 * 1000000LL)
		IMPORT_FAIL("%s.indicatedAt: in the future", pos);
	return true;
}

/* The stored form of c (packed into *out, malloc'd): the server's fields
 * filled in and the raw subject replaced by its pseudonym. The decoded
 * message is not changed except that its raw subject is wiped. */
static size_t stored_record(consent_import *im, Fiducia__V1__ConsentRecord *c, size_t k,
                            uint8_t **out)
{
	static char *aggregate[] = {"aggregate"};
	struct consent_parsed *pv = &im->pv[k];
	uint8_t rnd[8];
	randombytes_buf(rnd, sizeof rnd);
	memcpy(pv->id, "cr-", 3);
	sodium_bin2hex(pv->id + 3, sizeof pv->id - 3, rnd, sizeof rnd);
	Fiducia__V1__ConsentRecord s = *c;
	Google__Protobuf__Timestamp from, ind;
	s.id = pv->id;
	s.subject = (char *)protobuf_c_empty_string;
	s.subject_pseudonym.data = im->pseud[k];
	s.subject_pseudonym.len = BATCH_PSEUDONYM_BYTES;
	s.data_holder = (char *)im->holder;
	s.intermediary = (char *)im->intermediary;
	s.intermediary_contact = (char *)im->intermediary_contact;
	s.dataset = (char *)im->dataset;
	if (!s.n_processing) {
		s.processing = aggregate;
		s.n_processing = 1;
	}
	if (!s.legal_basis[0])
		s.legal_basis = DEFAULT_LEGAL_BASIS;
	if (!s.withdrawal_method[0])
		s.withdrawal_method = "ask the data holder, who withdraws it at the intermediary "
		                      "(DELETE /v1/datasets/{ds}/consents/{subject})";
	if (!s.valid_from) {
		consent_micros_ts(&from, im->given_at);
		s.valid_from = &from;
	}
	if (!s.indicated_at) {
		consent_micros_ts(&ind, im->given_at);
		s.indicated_at = &ind;
	}
	pv->from = consent_ts_micros(s.valid_from);
	pv->until = s.valid_until ? consent_ts_micros(s.valid_until) : 0;
	size_t n = protobuf_c_message_get_packed_size(&s.base);
	*out = malloc(n ? n : 1);
	if (!*out)
		abort();
	protobuf_c_message_pack(&s.base, *out);
	sodium_memzero(c->subject, strlen(c->subject));
	return n;
}

struct strbuf {
	char *p;
	size_t len, cap;
};

static void sb_put(struct strbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 4096;
		while (nc < b->len + n + 1)
			nc *= 2;
		char *p = realloc(b->p, nc);
		if (!p)
			abort();
		b->p = p;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct strbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_hex(struct strbuf *b, const uint8_t *d, size_t n)
{
	char tmp[2 * 64 + 1];
	for (size_t o = 0; o < n; o += 64) {
		size_t k = n - o < 64 ? n - o : 64;
		sodium_bin2hex(tmp, sizeof tmp, d + o, k);
		sb_put(b, tmp, 2 * k);
	}
}

static bool decode_body(consent_import *im, const char *data, size_t len)
{
	pbjson_error e;
	if (im->format == CONSENT_PB) {
		Fiducia__V1__ConsentBatch *b =
		        (Fiducia__V1__ConsentBatch *)protobuf_c_message_unpack(
		                &fiducia__v1__consent_batch__descriptor, NULL, len,
		                (const uint8_t *)data);
		if (!b)
			IMPORT_FAIL("malformed protobuf body for fiducia.v1.ConsentBatch");
		im->owned = malloc(sizeof *im->owned);
		if (!im->owned)
			abort();
		im->owned[im->nowned++] = &b->base;
		bool unknown = b->base.n_unknown_fields;
		for (size_t i = 0; i < b->n_records && !unknown; i++)
			unknown = b->records[i]->base.n_unknown_fields;
		if (unknown)
			IMPORT_FAIL("protobuf body for fiducia.v1.ConsentBatch has unknown fields");
		im->n = b->n_records;
		im->recs = malloc((im->n ? im->n : 1) * sizeof *im->recs);
		if (!im->recs)
			abort();
		if (im->n)
			memcpy(im->recs, b->records, im->n * sizeof *im->recs);
		return true;
	}
	size_t i = 0;
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
		i++;
	if (im->format == CONSENT_JSON && i < len && data[i] == '[') {
		/* An array of records: decoded as {"records": [...]}, so that
		 * errors name the position. */
		char *w = malloc(len + 16);
		if (!w)
			abort();
		memcpy(w, "{\"records\":", 11);
		memcpy(w + 11, data, len);
		w[11 + len] = '}';
		ProtobufCMessage *m = NULL;
		bool ok = pbjson_decode(&fiducia__v1__consent_batch__descriptor, w, len + 12, NULL,
		                        &m, &e);
		sodium_memzero(w, len + 12); /* it held every raw subject */
		free(w);
		if (!ok) {
			const char *msg = e.message;
			if (strncmp(msg, "$.records", 9) == 0)
				IMPORT_FAIL("$%s", msg + 9);
			IMPORT_FAIL("%s", msg);
		}
		Fiducia__V1__ConsentBatch *b = (Fiducia__V1__ConsentBatch *)m;
		im->owned = malloc(sizeof *im->owned);
		if (!im->owned)
			abort();
		im->owned[im->nowned++] = m;
		im->n = b->n_records;
		im->recs = malloc((im->n ? im->n : 1) * sizeof *im->recs);
		if (!im->recs)
			abort();
		if (im->n)
			memcpy(im->recs, b->records, im->n * sizeof *im->recs);
		return true;
	}
	/* One JSON object, or NDJSON: one object per line. */
	size_t lines = 1;
	for (size_t k = 0; k < len; k++)
		lines += data[k] == '\n';
	im->owned = malloc(lines * sizeof *im->owned);
	im->recs = malloc(lines * sizeof *im->recs);
	if (!im->owned || !im->recs)
		abort();
	size_t line = 0;
	for (size_t s = 0; s < len;) {
		const char *nl =
		        im->format == CONSENT_NDJSON ? memchr(data + s, '\n', len - s) : NULL;
		size_t e_ = nl ? (size_t)(nl - data) : len;
		line++;
		size_t k = s;
		while (k < e_ && (data[k] == ' ' || data[k] == '\t' || data[k] == '\r'))
			k++;
		if (k < e_) {
			ProtobufCMessage *m = NULL;
			if (!pbjson_decode(&fiducia__v1__consent_record__descriptor, data + s,
			                   e_ - s, NULL, &m, &e)) {
				if (im->format == CONSENT_NDJSON)
					IMPORT_FAIL("line %zu: %s", line, e.message);
				IMPORT_FAIL("%s", e.message);
			}
			im->owned[im->nowned++] = m;
			im->recs[im->n++] = (Fiducia__V1__ConsentRecord *)m;
		}
		s = e_ + 1;
	}
	return true;
}

bool consent_import_parse(consent_import *im, const char *data, size_t len)
{
	if (!decode_body(im, data, len))
		goto out;
	if (im->n == 0) {
		im->status = 400;
		snprintf(im->err, sizeof im->err, "no consent records in the body");
		goto out;
	}
	if (im->n > CONSENT_MAX_RECORDS) {
		im->status = 413;
		snprintf(im->err, sizeof im->err, "at most %d records per call",
		         CONSENT_MAX_RECORDS);
		goto out;
	}
	im->pseud = malloc(im->n * sizeof *im->pseud);
	im->hash = malloc(im->n * sizeof *im->hash);
	im->pv = calloc(im->n, sizeof *im->pv);
	if (!im->pseud || !im->hash || !im->pv)
		abort();
	for (size_t k = 0; k < im->n; k++) {
		char pos[48];
		if (im->format == CONSENT_NDJSON)
			snprintf(pos, sizeof pos, "record %zu: $", k + 1);
		else if (im->format == CONSENT_JSON && im->nowned == 1 && im->n == 1 &&
		         im->owned[0] == &im->recs[0]->base)
			snprintf(pos, sizeof pos, "$");
		else
			snprintf(pos, sizeof pos, "$[%zu]", k);
		if (!check_record(im, im->recs[k], pos, k))
			goto out;
	}
	/* All valid: complete, hash, and build the insert's arrays. */
	im->nchunks = (im->n + CONSENT_INSERT_CHUNK - 1) / CONSENT_INSERT_CHUNK;
	im->sql_arrays = calloc(im->nchunks * 7, sizeof *im->sql_arrays);
	if (!im->sql_arrays)
		abort();
	crypto_hash_sha256_state bh;
	crypto_hash_sha256_init(&bh);
	struct strbuf a[7] = {{0}};
	for (size_t k = 0; k < im->n; k++) {
		Fiducia__V1__ConsentRecord *c = im->recs[k];
		uint8_t *buf;
		size_t n = stored_record(im, c, k, &buf);
		crypto_hash_sha256(im->hash[k], buf, n);
		crypto_hash_sha256_update(&bh, im->hash[k], 32);
		bool first = k % CONSENT_INSERT_CHUNK == 0;
		for (int j = 0; j < 7; j++)
			sb_puts(&a[j], first ? "{" : ",");
		sb_puts(&a[0], im->pv[k].id);
		sb_hex(&a[1], im->pseud[k], BATCH_PSEUDONYM_BYTES);
		sb_puts(&a[2], "\"");
		for (size_t i = 0; i < c->n_purposes; i++) {
			if (i)
				sb_puts(&a[2], " ");
			sb_puts(&a[2], c->purposes[i]);
		}
		sb_puts(&a[2], "\"");
		char num[32];
		snprintf(num, sizeof num, "%lld", (long long)im->pv[k].from);
		sb_puts(&a[3], num);
		if (im->pv[k].until) {
			snprintf(num, sizeof num, "%lld", (long long)im->pv[k].until);
			sb_puts(&a[4], num);
		} else {
			sb_puts(&a[4], "NULL");
		}
		sb_hex(&a[5], buf, n);
		sb_hex(&a[6], im->hash[k], 32);
		free(buf);
		if (k % CONSENT_INSERT_CHUNK == CONSENT_INSERT_CHUNK - 1 || k + 1 == im->n) {
			size_t ch = k / CONSENT_INSERT_CHUNK;
			for (int j = 0; j < 7; j++) {
				sb_puts(&a[j], "}");
				im->sql_arrays[ch * 7 + (size_t)j] = a[j].p;
				a[j] = (struct strbuf){0};
			}
		}
	}
	crypto_hash_sha256_final(&bh, im->batch_hash);
	struct strbuf ids = {0};
	for (size_t k = 0; k < im->n; k++) {
		sb_puts(&ids, k ? "," : "{");
		sb_puts(&ids, im->pv[k].id);
	}
	sb_puts(&ids, "}");
	im->all_ids = ids.p;
out:
	/* No raw identifier outlives the parse, valid or not. */
	for (size_t k = 0; k < im->n; k++)
		if (im->recs[k]->subject)
			sodium_memzero(im->recs[k]->subject, strlen(im->recs[k]->subject));
	return im->status == 0;
}

void consent_import_clear(consent_import *im)
{
	for (size_t i = 0; i < im->nowned; i++)
		protobuf_c_message_free_unpacked(im->owned[i], NULL);
	free(im->owned);
	free(im->recs);
	free(im->pseud);
	free(im->hash);
	free(im->pv);
	for (size_t i = 0; im->sql_arrays && i < im->nchunks * 7; i++)
		free(im->sql_arrays[i]);
	free(im->sql_arrays);
	free(im->all_ids);
	im->owned = NULL;
	im->recs = NULL;
	im->pseud = NULL;
	im->hash = NULL;
	im->pv = NULL;
	im->sql_arrays = NULL;
	im->all_ids = NULL;
	im->n = im->nowned = im->nchunks = 0;
}
