/*
 * Deposit parsing. The CSV reader is a single pass over the body with a
 * byte-class table for the unquoted fast path; quoted fields are unescaped
 * into an arena only when they contain "". Every value is converted and
 * checked (type, measure bounds, UTF-8) as it is read, so the first fault
 * stops the parse and is reported with its line and column; nothing has
 * been stored by then. Error messages never quote a value (it may be a raw
 * identifier): they say what is wrong and where.
 */
#include "batch.h"

#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- values ------------------------------------------------------------ */

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool batch_parse_int64(const char *p, size_t n, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	if (n && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i == n || n - i > 19)
		return false;
	uint64_t v = 0;
	for (; i < n; i++) {
		unsigned d = (unsigned char)p[i] - '0';
		if (d > 9)
			return false;
		v = v * 10 + d;
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return false;
		*out = (int64_t)v;
	}
	return true;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

bool batch_parse_float64(const char *p, size_t n, double *out)
{
	/* Grammar: [+-] digits [. digits] [(e or E) [+-] digits]; digits before the point are
	 * optional. */
	size_t i = 0;
	bool neg = false;
	if (n && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	uint64_t mant = 0;
	int sig = 0, exp10 = 0, ndig = 0;
	bool exact = true;
	for (; i < n && is_digit(p[i]); i++, ndig++) {
		if (mant == 0 && p[i] == '0')
			continue;
		if (sig < 19) {
			mant = mant * 10 + (unsigned)(p[i] - '0');
			sig++;
		} else {
			exact = false;
			exp10++;
		}
	}
	if (i < n && p[i] == '.') {
		i++;
		for (; i < n && is_digit(p[i]); i++, ndig++) {
			if (mant == 0 && p[i] == '0') {
				exp10--;
				continue;
			}
			if (sig < 19) {
				mant = mant * 10 + (unsigned)(p[i] - '0');
				sig++;
				exp10--;
			} else {
				exact = false;
			}
		}
	}
	if (ndig == 0)
		return false;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		bool eneg = false;
		if (i < n && (p[i] == '-' || p[i] == '+')) {
			eneg = p[i] == '-';
			i++;
		}
		if (i == n)
			return false;
		int e = 0;
		for (; i < n; i++) {
			unsigned d = (unsigned char)p[i] - '0';
			if (d > 9)
				return false;
			if (e < 100000)
				e = e * 10 + (int)d;
		}
		exp10 += eneg ? -e : e;
	}
	if (i != n)
		return false;
	double v;
	if (mant == 0) {
		v = 0; /* -0 is stored as 0: one canonical zero */
		neg = false;
	} else if (exact && mant < (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
		/* Both operands exact: one correctly rounded operation (Clinger). */
		v = exp10 < 0 ? (double)mant / pow10_exact[-exp10]
		              : (double)mant * pow10_exact[exp10];
	} else {
		char buf[128];
		if (n >= sizeof buf)
			return false;
		memcpy(buf, p, n);
		buf[n] = '\0';
		char *end;
		v = strtod(buf, &end);
		if (end != buf + n)
			return false;
		v = fabs(v); /* also makes an underflowed -0 a 0 */
		if (v == 0)
			neg = false;
	}
	if (!isfinite(v))
		return false;
	*out = neg ? -v : v;
	return true;
}

bool batch_parse_bool(const char *p, size_t n, int64_t *out)
{
	if ((n == 4 && strncasecmp(p, "true", 4) == 0) || (n == 1 && p[0] == '1')) {
		*out = 1;
		return true;
	}
	if ((n == 5 && strncasecmp(p, "false", 5) == 0) || (n == 1 && p[0] == '0')) {
		*out = 0;
		return true;
	}
	return false;
}

static int digits(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		unsigned d = (unsigned char)p[i] - '0';
		if (d > 9)
			return -1;
		v = v * 10 + (int)d;
	}
	return v;
}

int64_t batch_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool batch_parse_timestamp(const char *p, size_t n, int64_t *micros)
{
	if (n >= 20 && p[4] == '-' && p[7] == '-' &&
	    (p[10] == 'T' || p[10] == 't' || p[10] == ' ') && p[13] == ':' && p[16] == ':') {
		int y = digits(p, 4), mo = digits(p + 5, 2), d = digits(p + 8, 2);
		int h = digits(p + 11, 2), mi = digits(p + 14, 2), s = digits(p + 17, 2);
		if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
		    s < 0 || s > 60)
			return false;
		static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
		bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		if (d > mdays[mo - 1] + (mo == 2 && leap))
			return false;
		if (s == 60)
			s = 59; /* a leap second is held at :59 (as RFC 9557 tools do) */
		size_t i = 19;
		int64_t frac = 0;
		if (i < n && p[i] == '.') {
			i++;
			size_t f0 = i;
			int64_t scale = 100000;
			for (; i < n && is_digit(p[i]); i++) {
				frac += scale * (p[i] - '0');
				scale /= 10;
			}
			if (i == f0 || i - f0 > 9)
				return false;
		}
		int64_t off = 0;
		if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
			i++;
		} else if (i + 6 == n && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
			int oh = digits(p + i + 1, 2), om = digits(p + i + 4, 2);
			if (oh < 0 || oh > 23 || om < 0 || om > 59)
				return false;
			off = (p[i] == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
			i += 6;
		} else {
			return false;
		}
		if (i != n)
			return false;
		int64_t secs =
		        batch_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off;
		*micros = secs * 1000000 + frac;
		return true;
	}
	/* Epoch milliseconds. */
	int64_t ms;
	if (!batch_parse_int64(p, n, &ms) || (n && p[0] == '+'))
		return false;
	if (ms > INT64_MAX / 1000 || ms < INT64_MIN / 1000)
		return false;
	*micros = ms * 1000;
	return true;
}

/* ---- UTF-8 ------------------------------------------------------------- */

bool batch_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		/* ASCII runs, eight bytes at a time. */
		while (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + k >= n)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* ---- the batch --------------------------------------------------------- */

void batch_pseudonym(const uint8_t *subject_key, const char *raw, size_t len,
                     uint8_t out[BATCH_PSEUDONYM_BYTES])
{
	crypto_generichash(out, BATCH_PSEUDONYM_BYTES, (const unsigned char *)raw, len, subject_key,
	                   32);
}

void batch_free(batch *b)
{
	for (int c = 0; c < SCHEMA_MAX_COLUMNS; c++) {
		free(b->cols[c].i);
		free(b->cols[c].f);
		free(b->cols[c].s);
		free(b->cols[c].sub);
	}
	free(b->pseudonyms);
	free(b->arena);
	free(b->subj_slots);
	free(b->subj_raw);
	memset(b, 0, sizeof *b);
}

static bool batch_init(batch *b, const schema *s, const uint8_t *subject_key, size_t cap)
{
	memset(b, 0, sizeof *b);
	b->schema = s;
	b->subject_key = subject_key;
	b->cap = cap ? cap : 1;
	for (int c = 0; c < s->ncols; c++) {
		batch_column *col = &b->cols[c];
		if (c == s->subject) {
			col->sub = malloc(b->cap * sizeof *col->sub);
			b->subj_raw = malloc(b->cap * sizeof *b->subj_raw);
			if (!b->subj_raw)
				return false;
		} else if (s->cols[c].type == SCHEMA_FLOAT64)
			col->f = malloc(b->cap * sizeof *col->f);
		else if (s->cols[c].type == SCHEMA_STRING)
			col->s = malloc(b->cap * sizeof *col->s);
		else
			col->i = malloc(b->cap * sizeof *col->i);
		if (!col->sub && !col->f && !col->s && !col->i)
			return false;
	}
	randombytes_buf(b->hash_key, sizeof b->hash_key);
	return true;
}

/* ---- the pseudonym cache ------------------------------------------------
 * A keyed BLAKE2b costs two compressions; a holder depositing the same
 * subjects batch after batch would pay it again and again. The cache maps a
 * tag, SipHash-128 under a random per-process key of (the subject key's
 * fingerprint, the raw identifier), to the pseudonym. It never holds a raw
 * identifier, and a tag means nothing outside this process. Each worker
 * thread has its own (no locks), direct-mapped, in sodium_malloc'd memory
 * wiped when the thread ends. */

struct cache_slot {
	uint8_t tag[16];
	uint8_t pseudonym[BATCH_PSEUDONYM_BYTES];
};

static size_t pcache_slots;    /* per thread; 0 = off */
static uint8_t pcache_key[16]; /* crypto_shorthash_siphashx24_KEYBYTES */
static pthread_key_t pcache_tls;
static _Thread_local struct cache_slot *pcache;
static uint64_t pcache_hits, pcache_misses;

static void pcache_destroy(void *p)
{
	sodium_free(p);
}

bool batch_cache_init(size_t slots)
{
	if (pcache_slots || slots == 0)
		return true;
	size_t n = 1;
	while (n < slots)
		n <<= 1;
	if (pthread_key_create(&pcache_tls, pcache_destroy) != 0)
		return false;
	randombytes_buf(pcache_key, sizeof pcache_key);
	pcache_slots = n;
	return true;
}

void batch_cache_free(void)
{
	if (!pcache_slots)
		return;
	if (pcache) { /* this thread's */
		pthread_setspecific(pcache_tls, NULL);
		sodium_free(pcache);
		pcache = NULL;
	}
	pcache_slots = 0;
	sodium_memzero(pcache_key, sizeof pcache_key);
}

void batch_cache_stats(uint64_t *hits, uint64_t *misses)
{
	*hits = __atomic_load_n(&pcache_hits, __ATOMIC_RELAXED);
	*misses = __atomic_load_n(&pcache_misses, __ATOMIC_RELAXED);
}

/* The subject's tag: SipHash-128 of (the subject key's fingerprint, raw)
 * under the cache's key (or, with no cache, the batch's own random key). */
static void subject_tag(batch *b, const char *raw, size_t len, uint64_t tag[2])
{
	if (!b->key_fp_set) {
		crypto_generichash(b->key_fp, sizeof b->key_fp, b->subject_key, 32, NULL, 0);
		b->key_fp_set = true;
	}
	uint8_t msg[sizeof b->key_fp + BATCH_MAX_STRING];
	memcpy(msg, b->key_fp, sizeof b->key_fp);
	memcpy(msg + sizeof b->key_fp, raw, len);
	crypto_shorthash_siphashx24((uint8_t *)tag, msg, sizeof b->key_fp + len,
	                            pcache_slots ? pcache_key : b->hash_key);
}

static void pseudonym_cached(batch *b, const uint64_t tag[2], const char *raw, size_t len,
                             uint8_t out[BATCH_PSEUDONYM_BYTES])
{
	if (pcache_slots && !pcache) {
		pcache = sodium_malloc(pcache_slots * sizeof *pcache);
		if (pcache) {
			sodium_memzero(pcache, pcache_slots * sizeof *pcache);
			pthread_setspecific(pcache_tls, pcache);
		}
	}
	if (!pcache) {
		batch_pseudonym(b->subject_key, raw, len, out);
		return;
	}
	struct cache_slot *sl = &pcache[(size_t)tag[1] & (pcache_slots - 1)];
	if (memcmp(sl->tag, tag, sizeof sl->tag) == 0) {
		memcpy(out, sl->pseudonym, BATCH_PSEUDONYM_BYTES);
		__atomic_add_fetch(&pcache_hits, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_add_fetch(&pcache_misses, 1, __ATOMIC_RELAXED);
	batch_pseudonym(b->subject_key, raw, len, out);
	memcpy(sl->tag, tag, sizeof sl->tag);
	memcpy(sl->pseudonym, out, BATCH_PSEUDONYM_BYTES);
}

/* Every row's subject to an index in b->pseudonyms, each distinct subject's
 * pseudonym computed once. Distinct subjects are found by their 128-bit
 * keyed tag (two subjects share one with probability 2^-128), held in the
 * table slot itself, so a lookup touches one slot and never the raw strings.
 * The table is bigger than the caches, so the tags are computed first and
 * each slot is prefetched a few rows ahead: the lookups overlap their
 * memory latency instead of paying it one after the other. */
#define PREFETCH_AHEAD 12

static bool resolve_subjects(batch *b)
{
	size_t rows = b->rows;
	size_t ncap = 1024;
	while (ncap < rows + rows / 2)
		ncap <<= 1;
	size_t mask = ncap - 1;
	b->subj_slots = calloc(ncap, sizeof *b->subj_slots);
	b->pseudonyms = malloc((rows ? rows : 1) * sizeof *b->pseudonyms);
	uint64_t(*tags)[2] = malloc((rows ? rows : 1) * sizeof *tags);
	uint32_t *sub = b->cols[b->schema->subject].sub;
	if (!b->subj_slots || !b->pseudonyms || !tags) {
		free(tags);
		return false;
	}
	for (size_t r = 0; r < rows; r++)
		subject_tag(b, b->subj_raw[r].p, b->subj_raw[r].len, tags[r]);
	for (size_t r = 0; r < rows; r++) {
		if (r + PREFETCH_AHEAD < rows) {
			__builtin_prefetch(&b->subj_slots[tags[r + PREFETCH_AHEAD][0] & mask]);
			if (pcache)
				__builtin_prefetch(
				        &pcache[tags[r + PREFETCH_AHEAD][1] & (pcache_slots - 1)]);
		}
		size_t at = tags[r][0] & mask;
		for (;;) {
			batch_slot *sl = &b->subj_slots[at];
			if (!sl->idx) {
				size_t k = b->npseudonyms++;
				sl->tag[0] = tags[r][0];
				sl->tag[1] = tags[r][1];
				sl->idx = (uint32_t)k + 1;
				pseudonym_cached(b, tags[r], b->subj_raw[r].p, b->subj_raw[r].len,
				                 b->pseudonyms[k]);
				sub[r] = (uint32_t)k;
				break;
			}
			if (sl->tag[0] == tags[r][0] && sl->tag[1] == tags[r][1]) {
				sub[r] = sl->idx - 1;
				break;
			}
			at = (at + 1) & mask;
		}
	}
	free(tags);
	/* The raw identifiers are not needed any more. */
	free(b->subj_raw);
	b->subj_raw = NULL;
	return true;
}

typedef struct where {
	const char *unit; /* "line" or "row" */
	size_t n;
} where;

#define FAULT(...)                                                                                 \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		return false;                                                                      \
	} while (0)

/* Store the text value of column c at row r. The text must outlive b. */
static bool set_text(batch *b, int c, size_t r, const char *p, size_t n, where w, char *err,
                     size_t errlen)
{
	const schema_column *sc = &b->schema->cols[c];
	batch_column *col = &b->cols[c];
	if (c == b->schema->subject) {
		if (n == 0)
			FAULT("%s %zu, column %s: the subject is empty", w.unit, w.n, sc->name);
		if (sc->type == SCHEMA_INT64) {
			int64_t v;
			if (!batch_parse_int64(p, n, &v))
				FAULT("%s %zu, column %s: not an INT64", w.unit, w.n, sc->name);
			/* The canonical text, so that 007 and 7 are one subject. */
			char *t = b->arena + b->arena_used;
			if (b->arena_cap - b->arena_used < 24)
				FAULT("%s %zu, column %s: out of memory", w.unit, w.n, sc->name);
			int m = snprintf(t, 24, "%lld", (long long)v);
			b->arena_used += (size_t)m;
			p = t;
			n = (size_t)m;
		} else if (n > BATCH_MAX_STRING || !batch_utf8_valid((const unsigned char *)p, n) ||
		           memchr(p, 0, n)) {
			FAULT("%s %zu, column %s: not valid UTF-8 text of at most %d bytes", w.unit,
			      w.n, sc->name, BATCH_MAX_STRING);
		}
		/* Pseudonymised after the parse, all rows at once (resolve_subjects). */
		b->subj_raw[r].p = p;
		b->subj_raw[r].len = (uint32_t)n;
		return true;
	}
	switch (sc->type) {
	case SCHEMA_INT64: {
		int64_t v;
		if (!batch_parse_int64(p, n, &v))
			FAULT("%s %zu, column %s: not an INT64", w.unit, w.n, sc->name);
		if (sc->role == SCHEMA_MEASURE && ((double)v < sc->min || (double)v > sc->max))
			FAULT("%s %zu, column %s: outside the bounds [%.17g, %.17g]", w.unit, w.n,
			      sc->name, sc->min, sc->max);
		col->i[r] = v;
		return true;
	}
	case SCHEMA_FLOAT64: {
		double v;
		if (!batch_parse_float64(p, n, &v))
			FAULT("%s %zu, column %s: not a finite FLOAT64", w.unit, w.n, sc->name);
		if (sc->role == SCHEMA_MEASURE && (v < sc->min || v > sc->max))
			FAULT("%s %zu, column %s: outside the bounds [%.17g, %.17g]", w.unit, w.n,
			      sc->name, sc->min, sc->max);
		col->f[r] = v;
		return true;
	}
	case SCHEMA_BOOL:
		if (!batch_parse_bool(p, n, &col->i[r]))
			FAULT("%s %zu, column %s: not a BOOL (true, false, 1 or 0)", w.unit, w.n,
			      sc->name);
		return true;
	case SCHEMA_TIMESTAMP:
		if (!batch_parse_timestamp(p, n, &col->i[r]))
			FAULT("%s %zu, column %s: not a TIMESTAMP (RFC 3339 or epoch milliseconds)",
			      w.unit, w.n, sc->name);
		return true;
	case SCHEMA_STRING:
		if (n > BATCH_MAX_STRING || !batch_utf8_valid((const unsigned char *)p, n) ||
		    memchr(p, 0, n))
			FAULT("%s %zu, column %s: not valid UTF-8 text of at most %d bytes", w.unit,
			      w.n, sc->name, BATCH_MAX_STRING);
		col->s[r].p = p;
		col->s[r].len = (uint32_t)n;
		return true;
	}
	FAULT("column %s: unknown type", sc->name);
}

/* ---- CSV --------------------------------------------------------------- */

/* 1 for the bytes that end an unquoted field's fast path. */
static unsigned char csv_special[256] = {[','] = 1, ['\n'] = 1, ['\r'] = 1, ['"'] = 1};

typedef struct csv {
	const char *p, *end;
	size_t line;
	batch *b;
} csv;

enum { CSV_MORE = 1, CSV_EOR = 2 };

/* One field: *fp and *fl its (unescaped) text. Returns CSV_MORE when a comma
 * follows, CSV_EOR at the end of a record (newline or end of input), 0 on a
 * quoting fault (err says where). */
static int csv_field(csv *c, const char **fp, size_t *fl, char *err, size_t errlen)
{
	const char *p = c->p, *end = c->end;
	if (p < end && *p == '"') {
		size_t line0 = c->line;
		const char *s = ++p;
		bool escaped = false;
		for (;;) {
			const char *q = memchr(p, '"', (size_t)(end - p));
			if (!q) {
				snprintf(
				        err, errlen,
				        "line %zu: a quoted field is never closed (broken quoting)",
				        line0);
				return 0;
			}
			for (const char *k = p; k < q; k++)
				c->line += *k == '\n';
			if (q + 1 < end && q[1] == '"') {
				escaped = true;
				p = q + 2;
				continue;
			}
			p = q + 1;
			break;
		}
		const char *e = p - 1; /* the closing quote */
		if (escaped) {
			char *dst = c->b->arena + c->b->arena_used, *o = dst;
			for (const char *k = s; k < e; k++) {
				*o++ = *k;
				if (*k == '"')
					k++;
			}
			*fp = dst;
			*fl = (size_t)(o - dst);
			c->b->arena_used += *fl;
		} else {
			*fp = s;
			*fl = (size_t)(e - s);
		}
		if (p == end) {
			c->p = p;
			return CSV_EOR;
		}
		if (*p == ',') {
			c->p = p + 1;
			return CSV_MORE;
		}
		if (*p == '\r' && p + 1 == end) {
			c->p = end;
			return CSV_EOR;
		}
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
			c->p = p + (*p == '\r' ? 2 : 1);
			c->line++;
			return CSV_EOR;
		}
		snprintf(err, errlen,
		         "line %zu: text after the closing quote of a field (broken quoting)",
		         c->line);
		return 0;
	}
	const char *s = p;
	while (p < end && !csv_special[(unsigned char)*p])
		p++;
	*fp = s;
	*fl = (size_t)(p - s);
	if (p == end) {
		c->p = p;
		return CSV_EOR;
	}
	switch (*p) {
	case ',':
		c->p = p + 1;
		return CSV_MORE;
	case '\n':
		c->p = p + 1;
		c->line++;
		return CSV_EOR;
	case '\r':
		if (p + 1 < end && p[1] == '\n') {
			c->p = p + 2;
			c->line++;
			return CSV_EOR;
		}
		if (p + 1 == end) { /* a CR ending the input ends the record */
			c->p = end;
			return CSV_EOR;
		}
		snprintf(err, errlen, "line %zu: a bare carriage return (broken quoting)", c->line);
		return 0;
	default: /* '"' */
		snprintf(err, errlen,
		         "line %zu: a quote inside an unquoted field (broken quoting; quote the "
		         "whole field and double the quote)",
		         c->line);
		return 0;
	}
}

bool batch_parse_csv(batch *b, const schema *s, const uint8_t *subject_key, const char *data,
                     size_t len, char *err, size_t errlen)
{
	size_t lines = 1;
	for (const char *q = data, *end = data + len; (q = memchr(q, '\n', (size_t)(end - q))); q++)
		lines++;
	if (!batch_init(b, s, subject_key, lines)) {
		batch_free(b);
		FAULT("out of memory");
	}
	/* Unescaped strings are never longer than their source; INT64 subjects
	 * become at most 21 bytes of text each. */
	b->arena_cap = len + 24 * (s->subject >= 0 ? lines : 0) + 1;
	b->arena = malloc(b->arena_cap);
	if (!b->arena) {
		batch_free(b);
		FAULT("out of memory");
	}
	csv c = {.p = data, .end = data + len, .line = 1, .b = b};
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		c.p += 3; /* a UTF-8 byte-order mark */

	/* The header: every schema column once, in any order. */
	int pos[SCHEMA_MAX_COLUMNS + 1];
	int nf = 0;
	bool seen[SCHEMA_MAX_COLUMNS] = {false};
	if (c.p == c.end) {
		batch_free(b);
		FAULT("the batch is empty: no header row and no rows");
	}
	for (;;) {
		const char *f;
		size_t fl;
		int r = csv_field(&c, &f, &fl, err, errlen);
		if (!r) {
			batch_free(b);
			return false;
		}
		if (nf == s->ncols) {
			batch_free(b);
			FAULT("line 1: the header has more than the schema's %d columns", s->ncols);
		}
		int k = schema_find(s, f, fl);
		if (k < 0) {
			/* The message first: f may point into the arena batch_free frees. */
			if (fl && fl <= SCHEMA_NAME_MAX &&
			    batch_utf8_valid((const unsigned char *)f, fl) && !memchr(f, 0, fl))
				snprintf(err, errlen,
				         "line 1, header field %d: unknown column \"%.*s\"", nf + 1,
				         (int)fl, f);
			else
				snprintf(err, errlen, "line 1, header field %d: unknown column",
				         nf + 1);
			batch_free(b);
			return false;
		}
		if (seen[k]) {
			batch_free(b);
			FAULT("line 1, header field %d: column %s appears twice", nf + 1,
			      s->cols[k].name);
		}
		seen[k] = true;
		pos[nf++] = k;
		if (r == CSV_EOR)
			break;
	}
	for (int k = 0; k < s->ncols; k++)
		if (!seen[k]) {
			batch_free(b);
			FAULT("line 1: column %s is missing from the header", s->cols[k].name);
		}

	size_t r = 0;
	while (c.p < c.end) {
		/* A lone empty line at the very end is not a row. */
		if ((c.end - c.p == 1 && c.p[0] == '\n') ||
		    (c.end - c.p == 2 && c.p[0] == '\r' && c.p[1] == '\n'))
			break;
		if (r >= b->cap) { /* cannot happen: every row ends at a newline or the end */
			batch_free(b);
			FAULT("internal error: row count");
		}
		size_t line = c.line;
		where w = {"line", line};
		for (int k = 0;; k++) {
			const char *f;
			size_t fl;
			int st = csv_field(&c, &f, &fl, err, errlen);
			if (!st) {
				batch_free(b);
				return false;
			}
			if (k >= nf) {
				batch_free(b);
				FAULT("line %zu: more than %d fields", line, nf);
			}
			if (st == CSV_EOR && k + 1 != nf) {
				batch_free(b);
				FAULT("line %zu: %d field%s, expected %d", line, k + 1,
				      k ? "s" : "", nf);
			}
			if (!set_text(b, pos[k], r, f, fl, w, err, errlen)) {
				batch_free(b);
				return false;
			}
			if (st == CSV_EOR)
				break;
		}
		r++;
	}
	if (r == 0) {
		batch_free(b);
		FAULT("the batch is empty: a header row but no rows");
	}
	b->rows = r;
	if (s->subject >= 0 && !resolve_subjects(b)) {
		batch_free(b);
		FAULT("out of memory");
	}
	return true;
}

/* ---- DepositBatch (JSON or protobuf) ----------------------------------- */

bool batch_parse_pb(batch *b, const schema *s, const uint8_t *subject_key,
                    const Fiducia__V1__DepositBatch *m, char *err, size_t errlen)
{
	int pos[SCHEMA_MAX_COLUMNS];
	bool seen[SCHEMA_MAX_COLUMNS] = {false};
	if (m->n_columns != (size_t)s->ncols) {
		memset(b, 0, sizeof *b);
		FAULT("$.columns: names %zu columns, the schema has %d", m->n_columns, s->ncols);
	}
	for (size_t k = 0; k < m->n_columns; k++) {
		int c = schema_find(s, m->columns[k], strlen(m->columns[k]));
		if (c < 0) {
			memset(b, 0, sizeof *b);
			FAULT("$.columns[%zu]: unknown column", k);
		}
		if (seen[c]) {
			memset(b, 0, sizeof *b);
			FAULT("$.columns[%zu]: column %s appears twice", k, s->cols[c].name);
		}
		seen[c] = true;
		pos[k] = c;
	}
	if (m->n_rows == 0) {
		memset(b, 0, sizeof *b);
		FAULT("the batch is empty: no rows");
	}
	if (!batch_init(b, s, subject_key, m->n_rows)) {
		batch_free(b);
		FAULT("out of memory");
	}
	b->arena_cap = 24 * m->n_rows + 1;
	b->arena = malloc(b->arena_cap);
	if (!b->arena) {
		batch_free(b);
		FAULT("out of memory");
	}
	for (size_t r = 0; r < m->n_rows; r++) {
		const Fiducia__V1__Row *row = m->rows[r];
		where w = {"row", r + 1};
		if (row->n_cells != m->n_columns) {
			batch_free(b);
			FAULT("row %zu: %zu cells, expected %zu", r + 1, row->n_cells,
			      m->n_columns);
		}
		for (size_t k = 0; k < row->n_cells; k++) {
			const Fiducia__V1__Cell *cell = row->cells[k];
			int c = pos[k];
			const schema_column *sc = &s->cols[c];
			bool ok = true;
			char num[32];
			switch (cell->kind_case) {
			case FIDUCIA__V1__CELL__KIND_STRING_VALUE:
				ok = set_text(b, c, r, cell->string_value,
				              strlen(cell->string_value), w, err, errlen);
				break;
			case FIDUCIA__V1__CELL__KIND_INT_VALUE:
				if (sc->type != SCHEMA_INT64 && sc->type != SCHEMA_FLOAT64) {
					batch_free(b);
					FAULT("row %zu, column %s: an intValue for a %s column",
					      r + 1, sc->name, schema_type_name(sc->type));
				}
				/* Through the text path: one set of rules and bounds. */
				snprintf(num, sizeof num, "%lld", (long long)cell->int_value);
				ok = set_text(b, c, r, num, strlen(num), w, err, errlen);
				break;
			case FIDUCIA__V1__CELL__KIND_DOUBLE_VALUE:
				if (sc->type != SCHEMA_FLOAT64) {
					batch_free(b);
					FAULT("row %zu, column %s: a doubleValue for a %s column",
					      r + 1, sc->name, schema_type_name(sc->type));
				}
				if (!isfinite(cell->double_value)) {
					batch_free(b);
					FAULT("row %zu, column %s: not a finite FLOAT64", r + 1,
					      sc->name);
				}
				if (sc->role == SCHEMA_MEASURE && (cell->double_value < sc->min ||
				                                   cell->double_value > sc->max)) {
					batch_free(b);
					FAULT("row %zu, column %s: outside the bounds [%.17g, "
					      "%.17g]",
					      r + 1, sc->name, sc->min, sc->max);
				}
				b->cols[c].f[r] = cell->double_value == 0 ? 0 : cell->double_value;
				break;
			case FIDUCIA__V1__CELL__KIND_BOOL_VALUE:
				if (sc->type != SCHEMA_BOOL) {
					batch_free(b);
					FAULT("row %zu, column %s: a boolValue for a %s column",
					      r + 1, sc->name, schema_type_name(sc->type));
				}
				b->cols[c].i[r] = cell->bool_value ? 1 : 0;
				break;
			case FIDUCIA__V1__CELL__KIND_TIMESTAMP_VALUE: {
				const Google__Protobuf__Timestamp *t = cell->timestamp_value;
				if (sc->type != SCHEMA_TIMESTAMP) {
					batch_free(b);
					FAULT("row %zu, column %s: a timestampValue for a %s "
					      "column",
					      r + 1, sc->name, schema_type_name(sc->type));
				}
				if (!t || t->nanos < 0 || t->nanos > 999999999 ||
				    t->seconds > INT64_MAX / 1000000 - 1 ||
				    t->seconds < INT64_MIN / 1000000 + 1) {
					batch_free(b);
					FAULT("row %zu, column %s: not a valid timestamp", r + 1,
					      sc->name);
				}
				b->cols[c].i[r] = t->seconds * 1000000 + t->nanos / 1000;
				break;
			}
			default:
				batch_free(b);
				FAULT("row %zu, column %s: the cell has no value", r + 1, sc->name);
			}
			if (!ok) {
				batch_free(b);
				return false;
			}
		}
	}
	b->rows = m->n_rows;
	if (s->subject >= 0 && !resolve_subjects(b)) {
		batch_free(b);
		FAULT("out of memory");
	}
	return true;
}
