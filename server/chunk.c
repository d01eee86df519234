/*
 * Chunk encoding and sealing. Plaintext layout of one column (little-endian):
 *
 *   u8 format (1) | u8 encoding | u32 rows | body
 *
 *   encoding 1, integers (INT64, TIMESTAMP): zigzag varint of each value's
 *              difference from the previous one (the first from 0)
 *   encoding 2, FLOAT64: rows * 8 bytes, IEEE 754 binary64
 *   encoding 3, BOOL: ceil(rows / 8) bytes, bit i of byte i/8 = row i
 *   encoding 4, STRING: varint ndict, ndict * (varint length, bytes), then
 *              rows indexes of width w
 *   encoding 5, SUBJECT: varint ndict, ndict * 32-byte pseudonyms, then rows
 *              indexes of width w
 *
 * w is 1 byte when ndict <= 256, 2 when <= 65536, else 4. Dictionaries are in
 * first-seen order, so the encoding of given rows is deterministic: it is
 * the batch's canonical content that the receipt's SHA-256 covers.
 */
#include "chunk.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ENC_INT = 1, ENC_F64 = 2, ENC_BOOL = 3, ENC_STR = 4, ENC_SUBJ = 5 };
#define HDR 6

static bool reserve(chunk_buf *b, size_t more)
{
	if (b->cap - b->len >= more)
		return true;
	size_t ncap = b->cap ? b->cap : 4096;
	while (ncap - b->len < more)
		ncap *= 2;
	uint8_t *p = realloc(b->p, ncap);
	if (!p)
		return false;
	b->p = p;
	b->cap = ncap;
	return true;
}

static inline uint8_t *put_varint(uint8_t *o, uint64_t v)
{
	while (v >= 0x80) {
		*o++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*o++ = (uint8_t)v;
	return o;
}

static inline void put_u32(uint8_t *o, uint32_t v)
{
	o[0] = (uint8_t)v;
	o[1] = (uint8_t)(v >> 8);
	o[2] = (uint8_t)(v >> 16);
	o[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int index_width(size_t ndict)
{
	return ndict <= 256 ? 1 : ndict <= 65536 ? 2 : 4;
}

static uint8_t *put_indexes(uint8_t *o, const uint32_t *idx, size_t n, int w)
{
	for (size_t k = 0; k < n; k++) {
		uint32_t v = idx[k];
		o[0] = (uint8_t)v;
		if (w >= 2)
			o[1] = (uint8_t)(v >> 8);
		if (w == 4) {
			o[2] = (uint8_t)(v >> 16);
			o[3] = (uint8_t)(v >> 24);
		}
		o += w;
	}
	return o;
}

void chunk_encoder_free(chunk_encoder *e)
{
	free(e->slots);
	free(e->dict);
	free(e->remap);
	free(e->touched);
	memset(e, 0, sizeof *e);
}

static bool encode_strings(chunk_encoder *e, const batch_str *s, size_t n, chunk_buf *out)
{
	size_t need = 1;
	while (need < 2 * n)
		need *= 2;
	if (e->nslots < need) {
		free(e->slots);
		free(e->dict);
		e->slots = malloc(need * sizeof *e->slots);
		e->dict = malloc(need / 2 * sizeof *e->dict);
		if (!e->slots || !e->dict) {
			e->nslots = 0;
			return false;
		}
		e->nslots = need;
	}
	if (!e->keyed) {
		randombytes_buf(e->hash_key, sizeof e->hash_key);
		e->keyed = true;
	}
	memset(e->slots, 0, need * sizeof *e->slots);
	uint32_t *idx = malloc((n ? n : 1) * sizeof *idx);
	if (!idx)
		return false;
	size_t ndict = 0, dict_bytes = 0, mask = need - 1;
	for (size_t r = 0; r < n; r++) {
		uint64_t h;
		crypto_shorthash((unsigned char *)&h, (const unsigned char *)s[r].p, s[r].len,
		                 e->hash_key);
		size_t at = h & mask;
		for (;;) {
			uint32_t v = e->slots[at];
			if (!v) {
				e->dict[ndict] = s[r];
				dict_bytes += s[r].len;
				e->slots[at] = (uint32_t)++ndict;
				idx[r] = (uint32_t)ndict - 1;
				break;
			}
			const batch_str *d = &e->dict[v - 1];
			if (d->len == s[r].len && memcmp(d->p, s[r].p, d->len) == 0) {
				idx[r] = v - 1;
				break;
			}
			at = (at + 1) & mask;
		}
	}
	int w = index_width(ndict);
	if (!reserve(out, 10 + ndict * 10 + dict_bytes + n * (size_t)w)) {
		free(idx);
		return false;
	}
	uint8_t *o = out->p + out->len;
	o = put_varint(o, ndict);
	for (size_t k = 0; k < ndict; k++) {
		o = put_varint(o, e->dict[k].len);
		memcpy(o, e->dict[k].p, e->dict[k].len);
		o += e->dict[k].len;
	}
	o = put_indexes(o, idx, n, w);
	out->len = (size_t)(o - out->p);
	free(idx);
	return true;
}

static bool encode_subjects(chunk_encoder *e, const batch *b, const uint32_t *sub, size_t n,
                            chunk_buf *out)
{
	if (e->nremap < b->npseudonyms) {
		free(e->remap);
		free(e->touched);
		e->remap = calloc(b->npseudonyms, sizeof *e->remap);
		e->touched = malloc(b->npseudonyms * sizeof *e->touched);
		if (!e->remap || !e->touched) {
			e->nremap = 0;
			return false;
		}
		e->nremap = b->npseudonyms;
	}
	uint32_t *idx = malloc((n ? n : 1) * sizeof *idx);
	if (!idx)
		return false;
	size_t ndict = 0;
	for (size_t r = 0; r < n; r++) {
		uint32_t g = sub[r];
		if (!e->remap[g]) {
			e->touched[ndict] = g;
			e->remap[g] = (uint32_t)++ndict;
		}
		idx[r] = e->remap[g] - 1;
	}
	int w = index_width(ndict);
	if (!reserve(out, 10 + ndict * BATCH_PSEUDONYM_BYTES + n * (size_t)w)) {
		free(idx);
		return false;
	}
	uint8_t *o = out->p + out->len;
	o = put_varint(o, ndict);
	for (size_t k = 0; k < ndict; k++) {
		memcpy(o, b->pseudonyms[e->touched[k]], BATCH_PSEUDONYM_BYTES);
		o += BATCH_PSEUDONYM_BYTES;
		e->remap[e->touched[k]] = 0;
	}
	o = put_indexes(o, idx, n, w);
	out->len = (size_t)(o - out->p);
	free(idx);
	return true;
}

bool chunk_encode(chunk_encoder *e, const batch *b, int c, size_t from, size_t to, chunk_buf *out)
{
	const schema_column *sc = &b->schema->cols[c];
	const batch_column *col = &b->cols[c];
	size_t n = to - from;
	if (!reserve(out, HDR))
		return false;
	uint8_t *h = out->p + out->len;
	h[0] = 1;
	put_u32(h + 2, (uint32_t)n);
	out->len += HDR;
	if (c == b->schema->subject) {
		h[1] = ENC_SUBJ;
		return encode_subjects(e, b, col->sub + from, n, out);
	}
	switch (sc->type) {
	case SCHEMA_INT64:
	case SCHEMA_TIMESTAMP: {
		h[1] = ENC_INT;
		if (!reserve(out, n * 10))
			return false;
		uint8_t *o = out->p + out->len;
		int64_t prev = 0;
		for (size_t r = from; r < to; r++) {
			uint64_t d = (uint64_t)col->i[r] - (uint64_t)prev;
			prev = col->i[r];
			o = put_varint(o, (d << 1) ^ (uint64_t)((int64_t)d >> 63));
		}
		out->len = (size_t)(o - out->p);
		return true;
	}
	case SCHEMA_FLOAT64:
		h[1] = ENC_F64;
		if (!reserve(out, n * 8))
			return false;
		for (size_t r = from; r < to; r++) {
			uint64_t bits;
			memcpy(&bits, &col->f[r], 8);
			uint8_t *o = out->p + out->len + (r - from) * 8;
			for (int k = 0; k < 8; k++)
				o[k] = (uint8_t)(bits >> (8 * k));
		}
		out->len += n * 8;
		return true;
	case SCHEMA_BOOL: {
		h[1] = ENC_BOOL;
		size_t nb = (n + 7) / 8;
		if (!reserve(out, nb))
			return false;
		uint8_t *o = out->p + out->len;
		memset(o, 0, nb);
		for (size_t r = from; r < to; r++)
			if (col->i[r])
				o[(r - from) / 8] |= (uint8_t)(1u << ((r - from) % 8));
		out->len += nb;
		return true;
	}
	case SCHEMA_STRING:
		h[1] = ENC_STR;
		return encode_strings(e, col->s + from, n, out);
	}
	return false;
}

/* ---- decoding ---------------------------------------------------------- */

void chunk_column_free(chunk_column *c)
{
	free(c->i);
	free(c->f);
	free(c->dict);
	free(c->idx);
	memset(c, 0, sizeof *c);
}

static bool get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (p == end)
			return false;
		uint8_t c = *p++;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			if (shift == 63 && c > 1)
				return false;
			*pp = p;
			*v = x;
			return true;
		}
	}
	return false;
}

#define BAD(...)                                                                                   \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		chunk_column_free(out);                                                            \
		return false;                                                                      \
	} while (0)

static bool get_indexes(const uint8_t *p, const uint8_t *end, uint32_t rows, uint32_t ndict,
                        chunk_column *out, char *err, size_t errlen)
{
	int w = index_width(ndict);
	if ((size_t)(end - p) != (size_t)rows * (size_t)w)
		BAD("index section has the wrong size");
	out->idx = malloc((rows ? rows : 1) * sizeof *out->idx);
	if (!out->idx)
		BAD("out of memory");
	for (uint32_t r = 0; r < rows; r++, p += w) {
		uint32_t v = p[0];
		if (w >= 2)
			v |= (uint32_t)p[1] << 8;
		if (w == 4)
			v |= (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		if (v >= ndict)
			BAD("dictionary index out of range");
		out->idx[r] = v;
	}
	return true;
}

bool chunk_decode(const uint8_t *pt, size_t len, schema_type t, bool subject, uint32_t rows,
                  chunk_column *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (len < HDR || pt[0] != 1)
		BAD("unknown chunk format");
	if (get_u32(pt + 2) != rows)
		BAD("row count differs from the chunk's");
	out->rows = rows;
	const uint8_t *p = pt + HDR, *end = pt + len;
	int enc = pt[1];
	int want = subject                                        ? ENC_SUBJ
	           : t == SCHEMA_FLOAT64                          ? ENC_F64
	           : t == SCHEMA_BOOL                             ? ENC_BOOL
	           : t == SCHEMA_STRING                           ? ENC_STR
	           : (t == SCHEMA_INT64 || t == SCHEMA_TIMESTAMP) ? ENC_INT
	                                                          : -1;
	if (enc != want)
		BAD("encoding does not match the column's type");
	/* Every encoding needs at least rows bits (BOOL) or bytes (the others)
	 * after the header: refuse a row count the plaintext cannot hold before
	 * allocating for it. */
	size_t body = (size_t)(end - p);
	if (enc == ENC_BOOL ? body < ((size_t)rows + 7) / 8 : body < rows)
		BAD("plaintext too short for %u rows", rows);
	size_t alloc = rows ? rows : 1;
	switch (enc) {
	case ENC_INT: {
		out->i = malloc(alloc * sizeof *out->i);
		if (!out->i)
			BAD("out of memory");
		uint64_t prev = 0;
		for (uint32_t r = 0; r < rows; r++) {
			uint64_t z;
			if (!get_varint(&p, end, &z))
				BAD("truncated integer at row %u", r);
			uint64_t d = (z >> 1) ^ (0 - (z & 1));
			prev += d;
			out->i[r] = (int64_t)prev;
		}
		if (p != end)
			BAD("trailing bytes after the integers");
		return true;
	}
	case ENC_F64:
		if ((size_t)(end - p) != (size_t)rows * 8)
			BAD("float section has the wrong size");
		out->f = malloc(alloc * sizeof *out->f);
		if (!out->f)
			BAD("out of memory");
		for (uint32_t r = 0; r < rows; r++, p += 8) {
			uint64_t bits = 0;
			for (int k = 7; k >= 0; k--)
				bits = bits << 8 | p[k];
			memcpy(&out->f[r], &bits, 8);
		}
		return true;
	case ENC_BOOL:
		if ((size_t)(end - p) != ((size_t)rows + 7) / 8)
			BAD("bitmap has the wrong size");
		out->i = malloc(alloc * sizeof *out->i);
		if (!out->i)
			BAD("out of memory");
		for (uint32_t r = 0; r < rows; r++)
			out->i[r] = (p[r / 8] >> (r % 8)) & 1;
		return true;
	case ENC_STR: {
		uint64_t nd;
		if (!get_varint(&p, end, &nd) || nd > rows || (nd == 0 && rows))
			BAD("bad dictionary size");
		out->ndict = (uint32_t)nd;
		out->dict = malloc((nd ? nd : 1) * sizeof *out->dict);
		if (!out->dict)
			BAD("out of memory");
		for (uint64_t k = 0; k < nd; k++) {
			uint64_t l;
			if (!get_varint(&p, end, &l) || l > (uint64_t)(end - p))
				BAD("truncated dictionary entry %llu", (unsigned long long)k);
			out->dict[k].p = (const char *)p;
			out->dict[k].len = (uint32_t)l;
			p += l;
		}
		return get_indexes(p, end, rows, out->ndict, out, err, errlen);
	}
	case ENC_SUBJ: {
		uint64_t nd;
		if (!get_varint(&p, end, &nd) || nd > rows || (nd == 0 && rows))
			BAD("bad dictionary size");
		if ((size_t)(end - p) / BATCH_PSEUDONYM_BYTES < nd)
			BAD("truncated pseudonym dictionary");
		out->ndict = (uint32_t)nd;
		out->pseudonyms = p;
		p += nd * BATCH_PSEUDONYM_BYTES;
		return get_indexes(p, end, rows, out->ndict, out, err, errlen);
	}
	}
	BAD("unknown encoding");
}

/* ---- sealing ----------------------------------------------------------- */

#define AD_MAX (16 + 1 + 64 + CHUNK_ID_BYTES + 2 + 4 + 4)

static size_t build_ad(uint8_t *ad, const char *dataset, const uint8_t id[CHUNK_ID_BYTES], int col,
                       uint32_t key_version, uint32_t rows)
{
	size_t n = 0, dl = strlen(dataset);
	if (dl > 64)
		dl = 64;
	memcpy(ad, "fiducia/chunk/v1", 16);
	n = 16;
	ad[n++] = (uint8_t)dl;
	memcpy(ad + n, dataset, dl);
	n += dl;
	memcpy(ad + n, id, CHUNK_ID_BYTES);
	n += CHUNK_ID_BYTES;
	ad[n++] = (uint8_t)col;
	ad[n++] = (uint8_t)(col >> 8);
	put_u32(ad + n, key_version);
	n += 4;
	put_u32(ad + n, rows);
	n += 4;
	return n;
}

void chunk_seal(const uint8_t *dek, const char *dataset, const uint8_t id[CHUNK_ID_BYTES], int col,
                uint32_t key_version, uint32_t rows, const uint8_t *pt, size_t n, uint8_t *out)
{
	uint8_t ad[AD_MAX];
	size_t adl = build_ad(ad, dataset, id, col, key_version, rows);
	randombytes_buf(out, CHUNK_NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + CHUNK_NONCE_BYTES, NULL, pt, n, ad, adl,
	                                           NULL, out, dek);
}

bool chunk_open(const uint8_t *dek, const char *dataset, const uint8_t id[CHUNK_ID_BYTES], int col,
                uint32_t key_version, uint32_t rows, const uint8_t *sealed, size_t n, uint8_t *pt)
{
	if (n < CHUNK_SEAL_OVERHEAD)
		return false;
	uint8_t ad[AD_MAX];
	size_t adl = build_ad(ad, dataset, id, col, key_version, rows);
	return crypto_aead_xchacha20poly1305_ietf_decrypt(
	               pt, NULL, NULL, sealed + CHUNK_NONCE_BYTES, n - CHUNK_NONCE_BYTES, ad, adl,
	               sealed, dek) == 0;
}

/* ---- rebuilding a chunk without some rows ---------------------------------- */

bool chunk_rebuild(const schema *s, const chunk_column *cols, const bool *keep, uint32_t rows,
                   batch *out)
{
	memset(out, 0, sizeof *out);
	out->schema = s;
	size_t kept = 0;
	for (uint32_t r = 0; r < rows; r++)
		kept += keep[r];
	out->cap = kept ? kept : 1;
	for (int c = 0; c < s->ncols; c++) {
		const chunk_column *in = &cols[c];
		batch_column *o = &out->cols[c];
		size_t k = 0;
		if (c == s->subject) {
			o->sub = malloc(out->cap * sizeof *o->sub);
			out->pseudonyms =
			        malloc((in->ndict ? in->ndict : 1) * sizeof *out->pseudonyms);
			if (!o->sub || !out->pseudonyms)
				goto oom;
			/* The chunk's dictionary becomes the batch's; unused entries
			 * drop out when the encoder builds the new dictionary. */
			memcpy(out->pseudonyms, in->pseudonyms,
			       (size_t)in->ndict * BATCH_PSEUDONYM_BYTES);
			out->npseudonyms = in->ndict;
			for (uint32_t r = 0; r < rows; r++)
				if (keep[r])
					o->sub[k++] = in->idx[r];
		} else if (s->cols[c].type == SCHEMA_FLOAT64) {
			if (!(o->f = malloc(out->cap * sizeof *o->f)))
				goto oom;
			for (uint32_t r = 0; r < rows; r++)
				if (keep[r])
					o->f[k++] = in->f[r];
		} else if (s->cols[c].type == SCHEMA_STRING) {
			if (!(o->s = malloc(out->cap * sizeof *o->s)))
				goto oom;
			for (uint32_t r = 0; r < rows; r++)
				if (keep[r])
					o->s[k++] = in->dict[in->idx[r]];
		} else {
			if (!(o->i = malloc(out->cap * sizeof *o->i)))
				goto oom;
			for (uint32_t r = 0; r < rows; r++)
				if (keep[r])
					o->i[k++] = in->i[r];
		}
	}
	out->rows = kept;
	return true;
oom:
	batch_free(out);
	return false;
}

size_t chunk_rows_by_dict(const chunk_column *c, const uint8_t *by_dict, uint8_t *keep)
{
	size_t kept = 0;
	for (uint32_t r = 0; r < c->rows; r++) {
		keep[r] = by_dict[c->idx[r]];
		kept += keep[r];
	}
	return kept;
}
