/*
 * libFuzzer harness for the deposit parsers and the chunk format
 * (server/batch.c, server/chunk.c). The first byte picks the mode (byte % 5):
 *
 *   0  the rest is a CSV deposit for the example traffic schema
 *   1  the rest is a binary DepositBatch for the example traffic schema
 *   2  the rest is a chunk plaintext; the next byte picks the column's type
 *      (% 6: INT64, FLOAT64, STRING, BOOL, TIMESTAMP, the SUBJECT)
 *   3  a CSV deposit for a schema with every type and an INT64 subject
 *   4  a DepositBatch for that schema
 *
 * A batch that parses is checked against what a batch may hold (bounds,
 * finite floats and one zero, valid UTF-8, well-formed subject indexes, and
 * for DepositBatch every typed cell and every pseudonym recomputed from its
 * cell); then every column is encoded into chunks of several sizes (every
 * row range, for a small batch), decoded back and compared with the batch,
 * and sealed and opened. A chunk plaintext that decodes is re-encoded,
 * decoded again to the same values, and re-encoded to the same bytes. Any
 * difference aborts.
 */
#include "../../server/schema.c"
#include "../../server/batch.c"
#include "../../server/chunk.c"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PSEUDO BATCH_PSEUDONYM_BYTES

static schema fz_traffic, fz_all;
static uint8_t fz_key[32], fz_dek[CHUNK_KEY_BYTES];
static chunk_encoder fz_enc; /* reused: its tables stay warm across inputs */
static bool fz_ready;

static void fz_col(Fiducia__V1__Column *c, const char *name, Fiducia__V1__Column__Type t,
                   Fiducia__V1__Column__Role r, double min, double max)
{
	Fiducia__V1__Column init = FIDUCIA__V1__COLUMN__INIT;
	*c = init;
	c->name = (char *)name;
	c->type = t;
	c->role = r;
	c->min = min;
	c->max = max;
}

static void fz_schema(schema *s, Fiducia__V1__Column *cols, size_t n)
{
	Fiducia__V1__Column *p[8];
	char err[256];
	for (size_t i = 0; i < n; i++)
		p[i] = &cols[i];
	if (!schema_from_pb(s, true, n, p, err, sizeof err))
		abort();
}

static void fz_init(void)
{
	if (sodium_init() < 0)
		abort();
	for (int i = 0; i < 32; i++) {
		fz_key[i] = (uint8_t)(0x5a ^ i);
		fz_dek[i] = (uint8_t)(0xa5 ^ i);
	}
	Fiducia__V1__Column t[6], a[6];
	/* The example. */
	fz_col(&t[0], "driver_id", FIDUCIA__V1__COLUMN__TYPE__STRING,
	       FIDUCIA__V1__COLUMN__ROLE__SUBJECT, 0, 0);
	fz_col(&t[1], "pub_time", FIDUCIA__V1__COLUMN__TYPE__TIMESTAMP,
	       FIDUCIA__V1__COLUMN__ROLE__TIME, 0, 0);
	fz_col(&t[2], "district", FIDUCIA__V1__COLUMN__TYPE__STRING,
	       FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	fz_col(&t[3], "road_type", FIDUCIA__V1__COLUMN__TYPE__INT64,
	       FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	fz_col(&t[4], "speed_kmh", FIDUCIA__V1__COLUMN__TYPE__FLOAT64,
	       FIDUCIA__V1__COLUMN__ROLE__MEASURE, 0, 200);
	fz_col(&t[5], "delay_s", FIDUCIA__V1__COLUMN__TYPE__INT64,
	       FIDUCIA__V1__COLUMN__ROLE__MEASURE, 0, 3600);
	fz_schema(&fz_traffic, t, 6);
	/* Every type once, an INT64 subject, an unbounded FLOAT64. */
	fz_col(&a[0], "uid", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__SUBJECT,
	       0, 0);
	fz_col(&a[1], "ok", FIDUCIA__V1__COLUMN__TYPE__BOOL, FIDUCIA__V1__COLUMN__ROLE__DIMENSION,
	       0, 0);
	fz_col(&a[2], "v", FIDUCIA__V1__COLUMN__TYPE__FLOAT64, FIDUCIA__V1__COLUMN__ROLE__DIMENSION,
	       0, 0);
	fz_col(&a[3], "at", FIDUCIA__V1__COLUMN__TYPE__TIMESTAMP, FIDUCIA__V1__COLUMN__ROLE__TIME,
	       0, 0);
	fz_col(&a[4], "tag", FIDUCIA__V1__COLUMN__TYPE__STRING,
	       FIDUCIA__V1__COLUMN__ROLE__DIMENSION, 0, 0);
	fz_col(&a[5], "m", FIDUCIA__V1__COLUMN__TYPE__INT64, FIDUCIA__V1__COLUMN__ROLE__MEASURE,
	       -1e6, 1e6);
	fz_schema(&fz_all, a, 6);
	fz_ready = true;
}

/* UTF-8 as Unicode's table 3-7 has it (independent of batch.c's reader). */
static bool fz_utf8(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i], lo = 0x80, hi = 0xbf;
		size_t k;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1;
		else if (c == 0xe0)
			k = 2, lo = 0xa0;
		else if (c == 0xed)
			k = 2, hi = 0x9f;
		else if (c >= 0xe1 && c <= 0xef)
			k = 2;
		else if (c == 0xf0)
			k = 3, lo = 0x90;
		else if (c == 0xf4)
			k = 3, hi = 0x8f;
		else if (c >= 0xf1 && c <= 0xf3)
			k = 3;
		else
			return false;
		if (n - i <= k || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t j = 2; j <= k; j++)
			if (s[i + j] < 0x80 || s[i + j] > 0xbf)
				return false;
		i += k + 1;
	}
	return true;
}

static bool fz_same_double(double a, double b)
{
	return memcmp(&a, &b, sizeof a) == 0;
}

/* What any parsed batch may hold. */
static void fz_check_batch(const batch *b, const schema *s)
{
	if (b->schema != s || b->rows == 0)
		abort();
	for (int c = 0; c < s->ncols; c++) {
		const schema_column *sc = &s->cols[c];
		const batch_column *col = &b->cols[c];
		if (c == s->subject) {
			/* Indexes in first-seen order, each pseudonym once. */
			uint32_t next = 0;
			for (size_t r = 0; r < b->rows; r++) {
				if (col->sub[r] > next)
					abort();
				if (col->sub[r] == next)
					next++;
			}
			if (next != b->npseudonyms)
				abort();
			if (b->npseudonyms <= 256)
				for (size_t i = 0; i < b->npseudonyms; i++)
					for (size_t j = i + 1; j < b->npseudonyms; j++)
						if (memcmp(b->pseudonyms[i], b->pseudonyms[j],
						           PSEUDO) == 0)
							abort();
			continue;
		}
		for (size_t r = 0; r < b->rows; r++) {
			switch (sc->type) {
			case SCHEMA_FLOAT64: {
				double v = col->f[r];
				if (!isfinite(v) || (v == 0 && signbit(v)))
					abort(); /* finite, and one zero */
				if (sc->role == SCHEMA_MEASURE && (v < sc->min || v > sc->max))
					abort();
				break;
			}
			case SCHEMA_INT64:
				if (sc->role == SCHEMA_MEASURE &&
				    ((double)col->i[r] < sc->min || (double)col->i[r] > sc->max))
					abort();
				break;
			case SCHEMA_BOOL:
				if (col->i[r] != 0 && col->i[r] != 1)
					abort();
				break;
			case SCHEMA_STRING:
				if (col->s[r].len > BATCH_MAX_STRING ||
				    memchr(col->s[r].p, 0, col->s[r].len) ||
				    !fz_utf8((const uint8_t *)col->s[r].p, col->s[r].len))
					abort();
				break;
			case SCHEMA_TIMESTAMP:
				break;
			}
		}
	}
}

/* The values of column c, rows [from, to), survive encoding and decoding. */
static void fz_roundtrip(chunk_encoder *e, const batch *b, int c, size_t from, size_t to)
{
	const schema_column *sc = &b->schema->cols[c];
	bool subj = c == b->schema->subject;
	uint32_t n = (uint32_t)(to - from);
	chunk_buf out = {0};
	chunk_column col;
	char err[128];
	if (!chunk_encode(e, b, c, from, to, &out))
		abort();
	if (!chunk_decode(out.p, out.len, sc->type, subj, n, &col, err, sizeof err) ||
	    col.rows != n)
		abort();
	for (uint32_t r = 0; r < n; r++) {
		size_t br = from + r;
		bool same;
		if (subj)
			same = col.idx[r] < col.ndict &&
			       memcmp(col.pseudonyms + (size_t)col.idx[r] * PSEUDO,
			              b->pseudonyms[b->cols[c].sub[br]], PSEUDO) == 0;
		else if (sc->type == SCHEMA_STRING)
			same = col.idx[r] < col.ndict &&
			       col.dict[col.idx[r]].len == b->cols[c].s[br].len &&
			       memcmp(col.dict[col.idx[r]].p, b->cols[c].s[br].p,
			              b->cols[c].s[br].len) == 0;
		else if (sc->type == SCHEMA_FLOAT64)
			same = fz_same_double(col.f[r], b->cols[c].f[br]);
		else
			same = col.i[r] == b->cols[c].i[br];
		if (!same)
			abort();
	}
	chunk_column_free(&col);
	free(out.p);
}

static void fz_check_chunks(const batch *b)
{
	size_t rows = b->rows;
	for (int c = 0; c < b->schema->ncols; c++) {
		/* The whole batch: deterministic (a fresh encoder gives the same
		 * bytes), and it seals and opens. */
		chunk_encoder fresh = {0};
		chunk_buf a = {0}, a2 = {0};
		if (!chunk_encode(&fz_enc, b, c, 0, rows, &a) ||
		    !chunk_encode(&fresh, b, c, 0, rows, &a2) || a.len != a2.len ||
		    memcmp(a.p, a2.p, a.len) != 0)
			abort();
		chunk_encoder_free(&fresh);
		uint8_t id[CHUNK_ID_BYTES] = {(uint8_t)c};
		uint8_t *sealed = malloc(a.len + CHUNK_SEAL_OVERHEAD), *back = malloc(a.len + 1);
		if (!sealed || !back)
			abort();
		chunk_seal(fz_dek, "ds-fuzz", id, c, 1, (uint32_t)rows, a.p, a.len, sealed);
		if (!chunk_open(fz_dek, "ds-fuzz", id, c, 1, (uint32_t)rows, sealed,
		                a.len + CHUNK_SEAL_OVERHEAD, back) ||
		    memcmp(back, a.p, a.len) != 0)
			abort();
		if (chunk_open(fz_dek, "ds-fuzz", id, c + 1, 1, (uint32_t)rows, sealed,
		               a.len + CHUNK_SEAL_OVERHEAD, back))
			abort();
		free(sealed);
		free(back);
		free(a.p);
		free(a2.p);

		fz_roundtrip(&fz_enc, b, c, 0, rows);
		if (rows <= 8) { /* every range */
			for (size_t from = 0; from <= rows; from++)
				for (size_t to = from; to <= rows; to++)
					fz_roundtrip(&fz_enc, b, c, from, to);
			continue;
		}
		static const size_t sizes[] = {1, 3, 7, 64};
		for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
			size_t step = sizes[k];
			if (step == 1 && rows > 256)
				continue;
			for (size_t from = 0; from < rows; from += step)
				fz_roundtrip(&fz_enc, b, c, from,
				             from + step < rows ? from + step : rows);
		}
	}
}

static void fz_csv(const schema *s, const uint8_t *data, size_t size)
{
	batch b;
	char err[256];
	err[0] = '\0';
	if (batch_parse_csv(&b, s, fz_key, (const char *)data, size, err, sizeof err)) {
		size_t lines = 1;
		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n';
		if (b.rows >= lines)
			abort(); /* the header takes a line */
		fz_check_batch(&b, s);
		fz_check_chunks(&b);
	} else if (err[0] == '\0' || b.rows != 0 || b.pseudonyms != NULL || b.arena != NULL) {
		abort(); /* a failure says why and leaves nothing */
	}
	batch_free(&b);
}

/* The canonical text of an INT64 subject given as text. */
static bool fz_canon_int(const char *p, size_t n, char out[24])
{
	int64_t v;
	if (!batch_parse_int64(p, n, &v))
		return false;
	snprintf(out, 24, "%lld", (long long)v);
	return true;
}

/* Each typed cell is stored as it was sent; each subject's pseudonym is the
 * one its cell names. */
static void fz_check_pb(const batch *b, const schema *s, const Fiducia__V1__DepositBatch *m)
{
	if (b->rows != m->n_rows)
		abort();
	for (size_t k = 0; k < m->n_columns; k++) {
		int c = schema_find(s, m->columns[k], strlen(m->columns[k]));
		if (c < 0)
			abort();
		const schema_column *sc = &s->cols[c];
		const batch_column *col = &b->cols[c];
		for (size_t r = 0; r < m->n_rows; r++) {
			const Fiducia__V1__Cell *cell = m->rows[r]->cells[k];
			if (c == s->subject) {
				char canon[24];
				const char *raw = NULL;
				if (cell->kind_case == FIDUCIA__V1__CELL__KIND_INT_VALUE) {
					snprintf(canon, sizeof canon, "%lld",
					         (long long)cell->int_value);
					raw = canon;
				} else if (cell->kind_case ==
				           FIDUCIA__V1__CELL__KIND_STRING_VALUE) {
					raw = cell->string_value;
					if (sc->type == SCHEMA_INT64) {
						if (!fz_canon_int(raw, strlen(raw), canon))
							abort();
						raw = canon;
					}
				} else {
					abort();
				}
				uint8_t want[PSEUDO];
				batch_pseudonym(fz_key, raw, strlen(raw), want);
				if (memcmp(b->pseudonyms[col->sub[r]], want, PSEUDO) != 0)
					abort();
				continue;
			}
			switch (cell->kind_case) {
			case FIDUCIA__V1__CELL__KIND_STRING_VALUE:
				if (sc->type == SCHEMA_STRING &&
				    (col->s[r].len != strlen(cell->string_value) ||
				     memcmp(col->s[r].p, cell->string_value, col->s[r].len) != 0))
					abort();
				break;
			case FIDUCIA__V1__CELL__KIND_INT_VALUE:
				if (sc->type == SCHEMA_INT64 ? col->i[r] != cell->int_value
				                             : col->f[r] != (double)cell->int_value)
					abort();
				break;
			case FIDUCIA__V1__CELL__KIND_DOUBLE_VALUE:
				if (col->f[r] != cell->double_value)
					abort();
				break;
			case FIDUCIA__V1__CELL__KIND_BOOL_VALUE:
				if (col->i[r] != (cell->bool_value ? 1 : 0))
					abort();
				break;
			case FIDUCIA__V1__CELL__KIND_TIMESTAMP_VALUE:
				if (col->i[r] != cell->timestamp_value->seconds * 1000000 +
				                         cell->timestamp_value->nanos / 1000)
					abort();
				break;
			default:
				abort();
			}
		}
	}
}

static void fz_pb(const schema *s, const uint8_t *data, size_t size)
{
	Fiducia__V1__DepositBatch *m = (Fiducia__V1__DepositBatch *)protobuf_c_message_unpack(
	        &fiducia__v1__deposit_batch__descriptor, NULL, size, data);
	if (!m)
		return;
	batch b;
	char err[256];
	err[0] = '\0';
	if (batch_parse_pb(&b, s, fz_key, m, err, sizeof err)) {
		fz_check_batch(&b, s);
		fz_check_pb(&b, s, m);
		fz_check_chunks(&b);
	} else if (err[0] == '\0' || b.rows != 0 || b.pseudonyms != NULL) {
		abort();
	}
	batch_free(&b);
	protobuf_c_message_free_unpacked(&m->base, NULL);
}

/* A decoded column as a one-column batch, so that it can be encoded again. */
static bool fz_reencode(const chunk_column *col, schema_type t, bool subj, chunk_buf *out)
{
	static schema s1;
	s1.ncols = 1;
	s1.subject = subj ? 0 : -1;
	s1.cols[0].type = subj ? SCHEMA_STRING : t;
	s1.cols[0].role = subj ? SCHEMA_SUBJECT : SCHEMA_DIMENSION;
	batch b;
	memset(&b, 0, sizeof b);
	b.schema = &s1;
	b.rows = col->rows;
	batch_str *strs = NULL;
	if (subj) {
		b.cols[0].sub = col->idx;
		b.pseudonyms = (uint8_t(*)[PSEUDO])(uintptr_t)col->pseudonyms;
		b.npseudonyms = col->ndict;
	} else if (t == SCHEMA_STRING) {
		strs = malloc((col->rows ? col->rows : 1) * sizeof *strs);
		if (!strs)
			abort();
		for (uint32_t r = 0; r < col->rows; r++)
			strs[r] = col->dict[col->idx[r]];
		b.cols[0].s = strs;
	} else if (t == SCHEMA_FLOAT64) {
		b.cols[0].f = col->f;
	} else {
		b.cols[0].i = col->i;
	}
	bool ok = chunk_encode(&fz_enc, &b, 0, 0, b.rows, out);
	free(strs);
	return ok;
}

static bool fz_same_column(const chunk_column *x, const chunk_column *y, schema_type t, bool subj)
{
	if (x->rows != y->rows)
		return false;
	for (uint32_t r = 0; r < x->rows; r++) {
		if (subj) {
			if (memcmp(x->pseudonyms + (size_t)x->idx[r] * PSEUDO,
			           y->pseudonyms + (size_t)y->idx[r] * PSEUDO, PSEUDO) != 0)
				return false;
		} else if (t == SCHEMA_STRING) {
			const batch_str *a = &x->dict[x->idx[r]], *c = &y->dict[y->idx[r]];
			if (a->len != c->len || memcmp(a->p, c->p, a->len) != 0)
				return false;
		} else if (t == SCHEMA_FLOAT64) {
			if (!fz_same_double(x->f[r], y->f[r]))
				return false;
		} else if (x->i[r] != y->i[r]) {
			return false;
		}
	}
	return true;
}

static void fz_chunk(uint8_t sel, const uint8_t *pt, size_t len)
{
	static const schema_type types[] = {SCHEMA_INT64, SCHEMA_FLOAT64, SCHEMA_STRING,
	                                    SCHEMA_BOOL, SCHEMA_TIMESTAMP};
	bool subj = sel % 6 == 5;
	schema_type t = subj ? SCHEMA_STRING : types[sel % 6];
	uint32_t rows = len >= 6 ? get_u32(pt + 2) : sel;
	/* No valid plaintext holds more than 8 rows a byte (a BOOL bitmap);
	 * past that, the decoder would only be asked for a huge allocation. */
	if (rows / 8 > len)
		return;
	/* An exact-size copy, so that a read past the end is caught. */
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		abort();
	memcpy(copy, pt, len);
	chunk_column col, col2;
	char err[128];
	err[0] = '\0';
	if (!chunk_decode(copy, len, t, subj, rows, &col, err, sizeof err)) {
		if (err[0] == '\0' || col.i || col.f || col.dict || col.idx)
			abort();
		free(copy);
		return;
	}
	/* In bounds, and nothing else decodes under another row count. */
	if (col.rows != rows)
		abort();
	if (subj || t == SCHEMA_STRING) {
		for (uint32_t r = 0; r < rows; r++)
			if (col.idx[r] >= col.ndict)
				abort();
		for (uint32_t d = 0; subj == false && d < col.ndict; d++)
			if ((const uint8_t *)col.dict[d].p < copy ||
			    (const uint8_t *)col.dict[d].p + col.dict[d].len > copy + len)
				abort();
		if (subj && (col.pseudonyms < copy ||
		             col.pseudonyms + (size_t)col.ndict * PSEUDO > copy + len))
			abort();
	}
	if (chunk_decode(copy, len, t, subj, rows + 1, &col2, err, sizeof err))
		abort();
	/* decode(encode(decode(x))) == decode(x), and encode is then a fixed
	 * point. */
	chunk_buf e1 = {0}, e2 = {0};
	if (!fz_reencode(&col, t, subj, &e1))
		abort();
	if (!chunk_decode(e1.p, e1.len, t, subj, rows, &col2, err, sizeof err) ||
	    !fz_same_column(&col, &col2, t, subj))
		abort();
	if (!fz_reencode(&col2, t, subj, &e2) || e1.len != e2.len ||
	    memcmp(e1.p, e2.p, e1.len) != 0)
		abort();
	if (e1.len > len)
		abort(); /* the canonical form is never longer */
	chunk_column_free(&col2);
	chunk_column_free(&col);
	free(e1.p);
	free(e2.p);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_ready)
		fz_init();
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		fz_csv(&fz_traffic, data + 1, size - 1);
		break;
	case 1:
		fz_pb(&fz_traffic, data + 1, size - 1);
		break;
	case 2:
		if (size >= 2)
			fz_chunk(data[1], data + 2, size - 2);
		break;
	case 3:
		fz_csv(&fz_all, data + 1, size - 1);
		break;
	case 4:
		fz_pb(&fz_all, data + 1, size - 1);
		break;
	}
	return 0;
}
