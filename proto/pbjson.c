/*
 * pbjson: the canonical proto3 JSON mapping, generic over protobuf-c
 * descriptors. Encoding writes the JSON text directly (field-number key order,
 * shortest round-tripping floats); decoding parses with jansson and walks the
 * descriptor, building the message with the caller's allocator.
 */
#include "pbjson.h"

#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMESTAMP_NAME "google.protobuf.Timestamp"
/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z as Unix seconds. */
#define TS_MIN_SECONDS (-62135596800LL)
#define TS_MAX_SECONDS 253402300799LL
#define NANOS_PER_SEC  1000000000
/* From FLT_MAX plus half an ulp on, a double no longer rounds to a finite float. */
#define FLOAT_LIMIT ((double)FLT_MAX + 0x1p103)

#define MEMBER(msg, off)  ((void *)((char *)(msg) + (off)))
#define CMEMBER(msg, off) ((const void *)((const char *)(msg) + (off)))

/* ------------------------------------------------------------------------ */
/* Helpers shared by both directions                                         */
/* ------------------------------------------------------------------------ */

/* Size of one element of a repeated field of type t, as protobuf-c lays it out. */
static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

static const char *type_name(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
		return "int32";
	case PROTOBUF_C_TYPE_SINT32:
		return "sint32";
	case PROTOBUF_C_TYPE_SFIXED32:
		return "sfixed32";
	case PROTOBUF_C_TYPE_INT64:
		return "int64";
	case PROTOBUF_C_TYPE_SINT64:
		return "sint64";
	case PROTOBUF_C_TYPE_SFIXED64:
		return "sfixed64";
	case PROTOBUF_C_TYPE_UINT32:
		return "uint32";
	case PROTOBUF_C_TYPE_FIXED32:
		return "fixed32";
	case PROTOBUF_C_TYPE_UINT64:
		return "uint64";
	case PROTOBUF_C_TYPE_FIXED64:
		return "fixed64";
	case PROTOBUF_C_TYPE_FLOAT:
		return "float";
	case PROTOBUF_C_TYPE_DOUBLE:
		return "double";
	case PROTOBUF_C_TYPE_BOOL:
		return "bool";
	case PROTOBUF_C_TYPE_ENUM:
		return "enum";
	case PROTOBUF_C_TYPE_STRING:
		return "string";
	case PROTOBUF_C_TYPE_BYTES:
		return "bytes";
	case PROTOBUF_C_TYPE_MESSAGE:
		return "message";
	}
	return "?";
}

/* The int64 seconds / int32 nanos fields of a google.protobuf.Timestamp
 * descriptor, or false if d is not a (well-formed) Timestamp. */
static bool timestamp_fields(const ProtobufCMessageDescriptor *d,
                             const ProtobufCFieldDescriptor **sec,
                             const ProtobufCFieldDescriptor **nanos)
{
	if (!d || strcmp(d->name, TIMESTAMP_NAME) != 0)
		return false;
	*sec = protobuf_c_message_descriptor_get_field_by_name(d, "seconds");
	*nanos = protobuf_c_message_descriptor_get_field_by_name(d, "nanos");
	return *sec && *nanos && (*sec)->type == PROTOBUF_C_TYPE_INT64 &&
	       (*sec)->label != PROTOBUF_C_LABEL_REPEATED &&
	       (*nanos)->type == PROTOBUF_C_TYPE_INT32 &&
	       (*nanos)->label != PROTOBUF_C_LABEL_REPEATED;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* ------------------------------------------------------------------------ */
/* Encoder                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
} sbuf;

static bool sb_reserve(sbuf *b, size_t n)
{
	if (b->oom)
		return false;
	if (b->cap - b->len > n)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len <= n) {
		if (cap > SIZE_MAX / 2) {
			b->oom = true;
			return false;
		}
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (!sb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void sb_puts(sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_putc(sbuf *b, char c)
{
	sb_put(b, &c, 1);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* A JSON string literal; invalid UTF-8 becomes U+FFFD so the output always parses. */
static void put_json_string(sbuf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	sb_putc(b, '"');
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' &&
		       s[run] != '\\')
			run++;
		sb_put(b, str + i, run - i);
		i = run;
		if (i >= n)
			break;
		unsigned char c = s[i];
		if (c >= 0x80) {
			size_t l = utf8_seq_len(s + i, n - i);
			if (l == 0) {
				sb_puts(b, "\xef\xbf\xbd");
				i++;
			} else {
				sb_put(b, str + i, l);
				i += l;
			}
			continue;
		}
		char esc[8];
		switch (c) {
		case '"':
			sb_puts(b, "\\\"");
			break;
		case '\\':
			sb_puts(b, "\\\\");
			break;
		case '\n':
			sb_puts(b, "\\n");
			break;
		case '\r':
			sb_puts(b, "\\r");
			break;
		case '\t':
			sb_puts(b, "\\t");
			break;
		case '\b':
			sb_puts(b, "\\b");
			break;
		case '\f':
			sb_puts(b, "\\f");
			break;
		default:
			snprintf(esc, sizeof esc, "\\u%04x", c);
			sb_puts(b, esc);
		}
		i++;
	}
	sb_putc(b, '"');
}

/* The lowerCamelCase JSON name of a field, as protoc derives json_name, quoted. */
static void put_json_key(sbuf *b, const char *name)
{
	sb_putc(b, '"');
	bool upper = false;
	for (const char *p = name; *p; p++) {
		if (*p == '_') {
			upper = true;
			continue;
		}
		char c = *p;
		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		upper = false;
		sb_putc(b, c);
	}
	sb_puts(b, "\":");
}

/* A float or double, NaN/Infinity as strings, otherwise the shortest decimal
 * form that decodes (through a double, as the decoder does) to the same value. */
static void put_real(sbuf *b, double d, bool is_float)
{
	if (isnan(d)) {
		sb_puts(b, "\"NaN\"");
		return;
	}
	if (isinf(d)) {
		sb_puts(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		return;
	}
	if (d == 0) {
		sb_puts(b, signbit(d) ? "-0.0" : "0");
		return;
	}
	char tmp[48];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, d);
		double back = strtod(tmp, NULL);
		if (is_float ? fabs(back) < FLOAT_LIMIT && (float)back == (float)d : back == d)
			break;
	}
	/* Shortest is not always clearest: 200 is "2e+02" at precision 1.
	 * Whole numbers of up to 17 digits are written positionally. */
	if (strchr(tmp, 'e') && fabs(d) >= 1 && fabs(d) < 1e17 && d == floor(d))
		snprintf(tmp, sizeof tmp, "%.0f", d);
	sb_puts(b, tmp);
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding, quoted. */
static void put_base64(sbuf *b, const uint8_t *data, size_t len)
{
	sb_putc(b, '"');
	char q[4];
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
		q[0] = b64_std[v >> 18];
		q[1] = b64_std[(v >> 12) & 63];
		q[2] = b64_std[(v >> 6) & 63];
		q[3] = b64_std[v & 63];
		sb_put(b, q, 4);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)data[i] << 16;
		q[0] = b64_std[v >> 18];
		q[1] = b64_std[(v >> 12) & 63];
		q[2] = q[3] = '=';
		sb_put(b, q, 4);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
		q[0] = b64_std[v >> 18];
		q[1] = b64_std[(v >> 12) & 63];
		q[2] = b64_std[(v >> 6) & 63];
		q[3] = '=';
		sb_put(b, q, 4);
	}
	sb_putc(b, '"');
}

/* RFC 3339 UTC with 0, 3, 6 or 9 fractional digits. Out-of-range values are
 * normalised and clamped to 0001-01-01..9999-12-31 so the output always decodes. */
static void put_timestamp(sbuf *b, int64_t sec, int64_t nanos)
{
	if (nanos < 0 || nanos >= NANOS_PER_SEC) {
		int64_t carry = nanos / NANOS_PER_SEC;
		nanos %= NANOS_PER_SEC;
		if (nanos < 0) {
			nanos += NANOS_PER_SEC;
			carry--;
		}
		if (carry > 0 && sec > INT64_MAX - carry)
			sec = INT64_MAX;
		else if (carry < 0 && sec < INT64_MIN - carry)
			sec = INT64_MIN;
		else
			sec += carry;
	}
	if (sec < TS_MIN_SECONDS) {
		sec = TS_MIN_SECONDS;
		nanos = 0;
	} else if (sec > TS_MAX_SECONDS) {
		sec = TS_MAX_SECONDS;
		nanos = NANOS_PER_SEC - 1;
	}
	int64_t days = sec / 86400, rem = sec % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	int64_t y;
	int m, d;
	civil_from_days(days, &y, &m, &d);
	char tmp[64];
	int n = snprintf(tmp, sizeof tmp, "\"%04d-%02d-%02dT%02d:%02d:%02d", (int)y, m, d,
	                 (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60));
	if (nanos == 0)
		snprintf(tmp + n, sizeof tmp - (size_t)n, "Z\"");
	else if (nanos % 1000000 == 0)
		snprintf(tmp + n, sizeof tmp - (size_t)n, ".%03dZ\"", (int)(nanos / 1000000));
	else if (nanos % 1000 == 0)
		snprintf(tmp + n, sizeof tmp - (size_t)n, ".%06dZ\"", (int)(nanos / 1000));
	else
		snprintf(tmp + n, sizeof tmp - (size_t)n, ".%09dZ\"", (int)nanos);
	sb_puts(b, tmp);
}

static void put_message(sbuf *b, const ProtobufCMessage *m);

/* One value of field f stored at v (a struct member or an array element). */
static void put_value(sbuf *b, const ProtobufCFieldDescriptor *f, const void *v)
{
	char tmp[32];
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		snprintf(tmp, sizeof tmp, "%" PRId32, *(const int32_t *)v);
		sb_puts(b, tmp);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		snprintf(tmp, sizeof tmp, "%" PRIu32, *(const uint32_t *)v);
		sb_puts(b, tmp);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(tmp, sizeof tmp, "\"%" PRId64 "\"", *(const int64_t *)v);
		sb_puts(b, tmp);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(tmp, sizeof tmp, "\"%" PRIu64 "\"", *(const uint64_t *)v);
		sb_puts(b, tmp);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		put_real(b, *(const float *)v, true);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		put_real(b, *(const double *)v, false);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		sb_puts(b, *(const protobuf_c_boolean *)v ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t e = *(const int32_t *)v;
		const ProtobufCEnumValue *ev =
		        protobuf_c_enum_descriptor_get_value(f->descriptor, e);
		if (ev) {
			put_json_string(b, ev->name, strlen(ev->name));
		} else {
			snprintf(tmp, sizeof tmp, "%" PRId32, e);
			sb_puts(b, tmp);
		}
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;
		if (!s)
			s = "";
		put_json_string(b, s, strlen(s));
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bd = v;
		put_base64(b, bd->data, bd->data ? bd->len : 0);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)v;
		const ProtobufCFieldDescriptor *sf, *nf;
		if (timestamp_fields(f->descriptor, &sf, &nf)) {
			int64_t sec = sub ? *(const int64_t *)CMEMBER(sub, sf->offset) : 0;
			int32_t ns = sub ? *(const int32_t *)CMEMBER(sub, nf->offset) : 0;
			put_timestamp(b, sec, ns);
		} else if (sub) {
			put_message(b, sub);
		} else {
			sb_puts(b, "{}");
		}
		break;
	}
	}
}

/* Whether proto3 JSON emits singular field f of message m. */
static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const void *v = CMEMBER(m, f->offset);
	bool is_ptr = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE;
	const void *ptr = is_ptr ? *(const void *const *)v : NULL;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		if (*(const uint32_t *)CMEMBER(m, f->quantifier_offset) != f->id)
			return false;
		return !is_ptr || (ptr && ptr != f->default_value);
	}
	switch (f->label) {
	case PROTOBUF_C_LABEL_REQUIRED:
		return !is_ptr || ptr;
	case PROTOBUF_C_LABEL_OPTIONAL:
		if (is_ptr)
			return ptr && ptr != f->default_value;
		return *(const protobuf_c_boolean *)CMEMBER(m, f->quantifier_offset) != 0;
	default:
		break;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return *(const uint32_t *)v != 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)v != 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)v != 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)v != 0;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)v != 0;
	case PROTOBUF_C_TYPE_STRING:
		return ptr && *(const char *)ptr;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)v)->len != 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return ptr != NULL;
	}
	return false;
}

static void put_message(sbuf *b, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	bool first = true;
	sb_putc(b, '{');
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)CMEMBER(m, f->quantifier_offset);
			const char *arr = *(const char *const *)CMEMBER(m, f->offset);
			if (n == 0 || !arr)
				continue;
			if (!first)
				sb_putc(b, ',');
			first = false;
			put_json_key(b, f->name);
			sb_putc(b, '[');
			size_t es = elem_size(f->type);
			for (size_t j = 0; j < n && !b->oom; j++) {
				if (j)
					sb_putc(b, ',');
				put_value(b, f, arr + j * es);
			}
			sb_putc(b, ']');
		} else if (field_present(m, f)) {
			if (!first)
				sb_putc(b, ',');
			first = false;
			put_json_key(b, f->name);
			put_value(b, f, CMEMBER(m, f->offset));
		}
		if (b->oom)
			return;
	}
	sb_putc(b, '}');
}

char *pbjson_encode(const ProtobufCMessage *msg, size_t *len_out)
{
	sbuf b = {0};
	put_message(&b, msg);
	sb_putc(&b, '\0');
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	if (len_out)
		*len_out = b.len - 1;
	return b.p;
}

/* ------------------------------------------------------------------------ */
/* Decoder                                                                   */
/* ------------------------------------------------------------------------ */

#define PATH_MAX_LEN  2048
#define KEY_MAX_SHOWN 64

typedef struct dctx {
	bool ignore_unknown; /* pbjson_decode_lenient */
	ProtobufCAllocator *alloc;
	pbjson_error *err;
	size_t plen;
	char path[PATH_MAX_LEN];
} dctx;

static void *sys_alloc(void *data, size_t size)
{
	return malloc(size);
}

static void sys_free(void *data, void *ptr)
{
	free(ptr);
}

static void *dalloc(dctx *c, size_t n)
{
	return c->alloc->alloc(c->alloc->allocator_data, n ? n : 1);
}

static void dfree(dctx *c, void *p)
{
	if (p)
		c->alloc->free(c->alloc->allocator_data, p);
}

/* Appends to the JSON path; on overflow the path is cut (the error elides it). */
__attribute__((format(printf, 2, 3))) static void path_push(dctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(c->path + c->plen, sizeof c->path - c->plen, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	c->plen += (size_t)n;
	if (c->plen >= sizeof c->path)
		c->plen = sizeof c->path - 1;
}

static void path_pop(dctx *c, size_t mark)
{
	c->plen = mark;
	c->path[mark] = '\0';
}

/* Records "<path>: <what>"; an overlong path keeps its tail. Always false. */
__attribute__((format(printf, 2, 3))) static bool fail(dctx *c, const char *fmt, ...)
{
	char what[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	size_t cap = sizeof c->err->message - 1, wl = strlen(what);
	size_t room = cap - wl - 2; /* what is < 160, message is 256 */
	if (c->plen <= room)
		snprintf(c->err->message, sizeof c->err->message, "%s: %s", c->path, what);
	else
		snprintf(c->err->message, sizeof c->err->message, "$...%s: %s",
		         c->path + c->plen - (room - 4), what);
	return false;
}

/* Whether key is the lowerCamelCase JSON name of the proto field name. */
static bool json_name_eq(const char *name, const char *key)
{
	bool upper = false;
	for (; *name; name++) {
		if (*name == '_') {
			upper = true;
			continue;
		}
		char ch = *name;
		if (upper && ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		upper = false;
		if (*key++ != ch)
			return false;
	}
	return *key == '\0';
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
                                                  const char *key)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
	if (f)
		return f;
	for (unsigned i = 0; i < d->n_fields; i++)
		if (json_name_eq(d->fields[i].name, key))
			return &d->fields[i];
	return NULL;
}

/* A key from the input made safe for an error: at most 64 printable ASCII. */
static void sanitize_key(const char *key, char *out, size_t outsz)
{
	size_t i = 0;
	for (; key[i] && i < KEY_MAX_SHOWN && i + 1 < outsz; i++) {
		unsigned char ch = (unsigned char)key[i];
		out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[i] = '\0';
}

/* Whether s[0..n) follows the JSON number grammar (so strtod accepts exactly it). */
static bool is_json_number(const char *s, size_t n)
{
	size_t i = 0;
	if (i < n && s[i] == '-')
		i++;
	if (i >= n)
		return false;
	if (s[i] == '0') {
		i++;
	} else if (s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return false;
	}
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n;
}

/* An integral double as sign and magnitude; false (with *range set) if not
 * integral or beyond 64 bits. */
static bool real_to_int(double d, bool *neg, uint64_t *mag, bool *range)
{
	*range = false;
	if (!isfinite(d) || d != floor(d))
		return false;
	double a = fabs(d);
	if (a >= 18446744073709551616.0) {
		*range = true;
		return false;
	}
	*neg = d < 0;
	*mag = (uint64_t)a;
	return true;
}

/* Reads an integer from a JSON number or a string holding one, checking it
 * against the range of type t, as a sign and magnitude. */
static bool get_int(dctx *c, json_t *v, ProtobufCType t, const char *what, bool *neg, uint64_t *mag)
{
	bool range = false;
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		*neg = x < 0;
		*mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
	} else if (json_is_real(v)) {
		if (!real_to_int(json_real_value(v), neg, mag, &range))
			goto bad;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v), i = 0;
		if (!is_json_number(s, n))
			return fail(c, "expected %s", what);
		*neg = s[0] == '-';
		i = *neg;
		*mag = 0;
		bool digits_only = true;
		for (size_t k = i; k < n; k++)
			if (s[k] < '0' || s[k] > '9')
				digits_only = false;
		if (digits_only) {
			for (; i < n; i++) {
				uint64_t dgt = (uint64_t)(s[i] - '0');
				if (*mag > (UINT64_MAX - dgt) / 10) {
					range = true;
					goto bad;
				}
				*mag = *mag * 10 + dgt;
			}
		} else if (!real_to_int(strtod(s, NULL), neg, mag, &range)) {
			goto bad;
		}
		if (*mag == 0)
			*neg = false;
	} else {
		return fail(c, "expected %s", what);
	}

	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		range = *mag > (*neg ? (uint64_t)INT32_MAX + 1 : (uint64_t)INT32_MAX);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		range = *mag > (*neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		range = *neg || *mag > UINT32_MAX;
		break;
	default:
		range = *neg;
		break;
	}
	if (range)
		return fail(c, "out of range for %s", type_name(t));
	return true;
bad:
	if (range)
		return fail(c, "out of range for %s", type_name(t));
	return fail(c, "expected %s", what);
}

static int64_t to_signed(bool neg, uint64_t mag)
{
	return neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
}

/* A float or double from a JSON number, a numeric string, or "NaN",
 * "Infinity", "-Infinity"; finite values must fit the type. */
static bool get_real(dctx *c, json_t *v, bool is_float, double *out)
{
	const char *tn = is_float ? "float" : "double";
	if (json_is_integer(v)) {
		*out = (double)json_integer_value(v);
	} else if (json_is_real(v)) {
		*out = json_real_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		if (strcmp(s, "NaN") == 0 && n == 3) {
			*out = NAN;
			return true;
		} else if (strcmp(s, "Infinity") == 0 && n == 8) {
			*out = INFINITY;
			return true;
		} else if (strcmp(s, "-Infinity") == 0 && n == 9) {
			*out = -INFINITY;
			return true;
		} else if (is_json_number(s, n)) {
			*out = strtod(s, NULL);
			if (isinf(*out))
				return fail(c, "out of range for %s", tn);
		} else {
			return fail(c, "expected %s", tn);
		}
	} else {
		return fail(c, "expected %s", tn);
	}
	if (is_float && fabs(*out) >= FLOAT_LIMIT)
		return fail(c, "out of range for float");
	return true;
}

static int b64_val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

/* Decodes standard or URL-safe base64, padding optional (but correct if
 * present), into out (room for n / 4 * 3 + 2 bytes); false if invalid. */
static bool b64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen)
{
	size_t pad = 0;
	while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
		pad++;
	size_t m = n - pad;
	if (m % 4 == 1 || (pad && (m % 4) + pad != 4))
		return false;
	size_t o = 0;
	uint32_t acc = 0;
	for (size_t i = 0; i < m; i++) {
		int v = b64_val((unsigned char)s[i]);
		if (v < 0)
			return false;
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 == 3) {
			out[o++] = (uint8_t)(acc >> 16);
			out[o++] = (uint8_t)(acc >> 8);
			out[o++] = (uint8_t)acc;
			acc = 0;
		}
	}
	if (m % 4 == 2) {
		out[o++] = (uint8_t)(acc >> 4);
	} else if (m % 4 == 3) {
		out[o++] = (uint8_t)(acc >> 10);
		out[o++] = (uint8_t)(acc >> 2);
	}
	*outlen = o;
	return true;
}

/* Reads exactly n decimal digits. */
static bool digits(const char **p, const char *end, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (*p >= end || **p < '0' || **p > '9')
			return false;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return true;
}

static bool expect(const char **p, const char *end, char a, char b)
{
	if (*p >= end || (**p != a && **p != b))
		return false;
	(*p)++;
	return true;
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+hh:mm|-hh:mm)" to Unix seconds and
 * nanos, within 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999999Z. */
static bool parse_rfc3339(const char *s, size_t n, int64_t *sec_out, int32_t *nanos_out)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	const char *p = s, *end = s + n;
	int y, mo, d, h, mi, se, nanos = 0;
	if (!digits(&p, end, 4, &y) || !expect(&p, end, '-', '-') || !digits(&p, end, 2, &mo) ||
	    !expect(&p, end, '-', '-') || !digits(&p, end, 2, &d) || !expect(&p, end, 'T', 't') ||
	    !digits(&p, end, 2, &h) || !expect(&p, end, ':', ':') || !digits(&p, end, 2, &mi) ||
	    !expect(&p, end, ':', ':') || !digits(&p, end, 2, &se))
		return false;
	if (p < end && *p == '.') {
		p++;
		int nd = 0;
		while (p < end && *p >= '0' && *p <= '9') {
			if (++nd > 9)
				return false;
			nanos = nanos * 10 + (*p++ - '0');
		}
		if (nd == 0)
			return false;
		for (; nd < 9; nd++)
			nanos *= 10;
	}
	int offset = 0;
	if (p < end && (*p == 'Z' || *p == 'z')) {
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (!digits(&p, end, 2, &oh) || !expect(&p, end, ':', ':') ||
		    !digits(&p, end, 2, &om) || oh > 23 || om > 59)
			return false;
		offset = sign * (oh * 3600 + om * 60);
	} else {
		return false;
	}
	if (p != end)
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) ||
	    h > 23 || mi > 59 || se > 59)
		return false;
	int64_t sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
	if (sec < TS_MIN_SECONDS || sec > TS_MAX_SECONDS)
		return false;
	*sec_out = sec;
	*nanos_out = nanos;
	return true;
}

/* A new, initialised message of type d, or NULL when out of memory. */
static ProtobufCMessage *new_message(dctx *c, const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = dalloc(c, d->sizeof_message);
	if (!m)
		return NULL;
	if (d->message_init) {
		d->message_init(m);
	} else {
		memset(m, 0, d->sizeof_message);
		m->descriptor = d;
	}
	return m;
}

static bool decode_message(dctx *c, const ProtobufCMessageDescriptor *d, json_t *obj,
                           ProtobufCMessage *m, int depth);

/* Decodes one JSON value (not null) of field f into the slot at v. The slot
 * is zeroed or default-initialised; everything allocated is stored there at
 * once so that free_unpacked on the root releases it on any later failure. */
static bool decode_value(dctx *c, const ProtobufCFieldDescriptor *f, json_t *jv, void *v,
                         bool in_array, int depth)
{
	bool neg;
	uint64_t mag;
	double dbl;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (!get_int(c, jv, f->type, "integer", &neg, &mag))
			return false;
		*(int32_t *)v = (int32_t)to_signed(neg, mag);
		return true;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (!get_int(c, jv, f->type, "integer", &neg, &mag))
			return false;
		*(uint32_t *)v = (uint32_t)mag;
		return true;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (!get_int(c, jv, f->type, "integer", &neg, &mag))
			return false;
		*(int64_t *)v = to_signed(neg, mag);
		return true;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (!get_int(c, jv, f->type, "integer", &neg, &mag))
			return false;
		*(uint64_t *)v = mag;
		return true;
	case PROTOBUF_C_TYPE_FLOAT:
		if (!get_real(c, jv, true, &dbl))
			return false;
		*(float *)v = (float)dbl;
		return true;
	case PROTOBUF_C_TYPE_DOUBLE:
		if (!get_real(c, jv, false, &dbl))
			return false;
		*(double *)v = dbl;
		return true;
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(jv))
			return fail(c, "expected boolean");
		*(protobuf_c_boolean *)v = json_is_true(jv);
		return true;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		if (json_is_string(jv)) {
			const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(
			        ed, json_string_value(jv));
			if (!ev && c->ignore_unknown &&
			    strlen(json_string_value(jv)) == json_string_length(jv)) {
				/* As the proto3 JSON mapping says: a reader that ignores
				 * unknown fields ignores unknown enum names too (a newer
				 * server's value reads as the default). */
				*(int32_t *)v = 0;
				return true;
			}
			if (!ev || strlen(json_string_value(jv)) != json_string_length(jv))
				return fail(c, "unknown enum value for %s", ed->name);
			*(int32_t *)v = ev->value;
			return true;
		}
		if (!json_is_number(jv))
			return fail(c, "expected enum name or number for %s", ed->name);
		if (!get_int(c, jv, PROTOBUF_C_TYPE_ENUM, "enum name or number", &neg, &mag))
			return false;
		*(int32_t *)v = (int32_t)to_signed(neg, mag);
		return true;
	}
	case PROTOBUF_C_TYPE_STRING: {
		if (!json_is_string(jv))
			return fail(c, "expected string");
		const char *s = json_string_value(jv);
		size_t n = json_string_length(jv);
		if (memchr(s, '\0', n))
			return fail(c, "string contains NUL");
		/* An empty proto3 scalar string stays the shared default. */
		if (n == 0 && !in_array && f->label == PROTOBUF_C_LABEL_NONE &&
		    !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			return true;
		char *copy = dalloc(c, n + 1);
		if (!copy)
			return fail(c, "out of memory");
		memcpy(copy, s, n + 1);
		*(char **)v = copy;
		return true;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		if (!json_is_string(jv))
			return fail(c, "expected base64 string");
		ProtobufCBinaryData *bd = v;
		size_t n = json_string_length(jv), outlen = 0;
		if (n == 0) {
			bd->len = 0;
			bd->data = NULL;
			return true;
		}
		uint8_t *buf = dalloc(c, n / 4 * 3 + 3);
		if (!buf)
			return fail(c, "out of memory");
		if (!b64_decode(json_string_value(jv), n, buf, &outlen)) {
			dfree(c, buf);
			return fail(c, "invalid base64");
		}
		if (outlen == 0) {
			dfree(c, buf);
			buf = NULL;
		}
		bd->data = buf;
		bd->len = outlen;
		return true;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *sd = f->descriptor;
		const ProtobufCFieldDescriptor *sf, *nf;
		bool ts = timestamp_fields(sd, &sf, &nf);
		int64_t sec = 0;
		int32_t nanos = 0;
		if (ts) {
			if (!json_is_string(jv))
				return fail(c, "expected RFC 3339 timestamp string");
			if (!parse_rfc3339(json_string_value(jv), json_string_length(jv), &sec,
			                   &nanos))
				return fail(c, "invalid RFC 3339 timestamp");
		} else if (!json_is_object(jv)) {
			return fail(c, "expected object");
		}
		ProtobufCMessage *sub = new_message(c, sd);
		if (!sub)
			return fail(c, "out of memory");
		*(ProtobufCMessage **)v = sub;
		if (ts) {
			*(int64_t *)MEMBER(sub, sf->offset) = sec;
			*(int32_t *)MEMBER(sub, nf->offset) = nanos;
			return true;
		}
		return decode_message(c, sd, jv, sub, depth + 1);
	}
	}
	return fail(c, "unsupported field type");
}

/* Decodes the JSON value of field f (any, including null) into message m. */
static bool decode_field(dctx *c, const ProtobufCFieldDescriptor *f, json_t *jv,
                         ProtobufCMessage *m, int depth)
{
	void *v = MEMBER(m, f->offset);
	if (json_is_null(jv))
		return true;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		if (!json_is_array(jv))
			return fail(c, "expected array");
		if (depth + 1 > PBJSON_MAX_DEPTH)
			return fail(c, "nesting deeper than %d levels", PBJSON_MAX_DEPTH);
		size_t n = json_array_size(jv), es = elem_size(f->type);
		if (n == 0)
			return true;
		if (n > SIZE_MAX / es)
			return fail(c, "out of memory");
		char *arr = dalloc(c, n * es);
		if (!arr)
			return fail(c, "out of memory");
		memset(arr, 0, n * es);
		*(void **)v = arr;
		*(size_t *)MEMBER(m, f->quantifier_offset) = n;
		for (size_t i = 0; i < n; i++) {
			size_t mark = c->plen;
			json_t *ev = json_array_get(jv, i);
			path_push(c, "[%zu]", i);
			if (json_is_null(ev))
				return fail(c, "null is not allowed in an array");
			if (!decode_value(c, f, ev, arr + i * es, true, depth + 1))
				return false;
			path_pop(c, mark);
		}
		return true;
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *cs = MEMBER(m, f->quantifier_offset);
		if (*cs != 0 && *cs != f->id)
			return fail(c, "another member of the same oneof is already set");
		/* Set the case first: free_unpacked then owns whatever lands in v. */
		*cs = f->id;
		return decode_value(c, f, jv, v, false, depth);
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE) {
		if (!decode_value(c, f, jv, v, false, depth))
			return false;
		*(protobuf_c_boolean *)MEMBER(m, f->quantifier_offset) = 1;
		return true;
	}
	return decode_value(c, f, jv, v, false, depth);
}

static bool decode_message(dctx *c, const ProtobufCMessageDescriptor *d, json_t *obj,
                           ProtobufCMessage *m, int depth)
{
	if (depth > PBJSON_MAX_DEPTH)
		return fail(c, "nesting deeper than %d levels", PBJSON_MAX_DEPTH);
	if (!json_is_object(obj))
		return fail(c, "expected object");
	unsigned char seen_small[64];
	unsigned char *seen = seen_small;
	if (d->n_fields > sizeof seen_small) {
		seen = calloc(d->n_fields, 1);
		if (!seen)
			return fail(c, "out of memory");
	} else {
		memset(seen_small, 0, sizeof seen_small);
	}
	bool ok = true;
	const char *key;
	json_t *jv;
	json_object_foreach(obj, key, jv)
	{
		size_t mark = c->plen;
		const ProtobufCFieldDescriptor *f = find_field(d, key);
		if (!f && c->ignore_unknown)
			continue;
		if (!f) {
			char safe[KEY_MAX_SHOWN + 1];
			sanitize_key(key, safe, sizeof safe);
			path_push(c, ".%s", safe);
			ok = fail(c, "unknown field");
			break;
		}
		path_push(c, ".%s", key);
		size_t idx = (size_t)(f - d->fields);
		if (seen[idx]) {
			ok = fail(c, "field given twice (by proto and JSON name)");
			break;
		}
		seen[idx] = 1;
		if (!decode_field(c, f, jv, m, depth)) {
			ok = false;
			break;
		}
		path_pop(c, mark);
	}
	if (seen != seen_small)
		free(seen);
	return ok;
}

/* A fixed description of a jansson syntax error; jansson's own text may quote
 * the input ("near '...'"), which must never reach the error. */
static const char *syntax_error_text(const json_error_t *je)
{
	switch (json_error_code(je)) {
	case json_error_out_of_memory:
		return "out of memory";
	case json_error_stack_overflow:
		return "nesting too deep";
	case json_error_invalid_utf8:
		return "invalid UTF-8";
	case json_error_premature_end_of_input:
		return "unexpected end of input";
	case json_error_end_of_input_expected:
		return "unexpected data after the JSON value";
	case json_error_null_character:
		return "\\u0000 is not allowed in strings";
	case json_error_null_byte_in_key:
		return "NUL byte in object key";
	case json_error_duplicate_key:
		return "duplicate object key";
	case json_error_numeric_overflow:
		return "number too large";
	default:
		break;
	}
	if (strstr(je->text, "Unicode"))
		return "invalid Unicode escape";
	if (strstr(je->text, "control character"))
		return "control character in string";
	if (strstr(je->text, "escape"))
		return "invalid escape";
	static const char *const known[] = {
	        "'[' or '{' expected",    "string or '}' expected", "'}' expected",
	        "':' expected",           "']' expected",           "unexpected newline",
	        "invalid token",          "unexpected token",       "end of file expected",
	        "premature end of input",
	};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strncmp(je->text, known[i], strlen(known[i])) == 0)
			return known[i];
	return "invalid syntax";
}

static bool decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                   ProtobufCAllocator *alloc, ProtobufCMessage **out, pbjson_error *err,
                   bool lenient)
{
	ProtobufCAllocator sys = {.alloc = sys_alloc, .free = sys_free, .allocator_data = NULL};
	dctx ctx = {.ignore_unknown = lenient,
	            .alloc = alloc ? alloc : &sys,
	            .err = err,
	            .plen = 1,
	            .path = "$"};
	dctx *c = &ctx;
	*out = NULL;
	err->message[0] = '\0';

	json_error_t je;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!root) {
		snprintf(err->message, sizeof err->message, "malformed JSON at byte %d: %s",
		         je.position, syntax_error_text(&je));
		return false;
	}
	bool ok;
	ProtobufCMessage *m = NULL;
	if (!json_is_object(root)) {
		ok = fail(c, "top-level value must be an object");
	} else if (!(m = new_message(c, desc))) {
		ok = fail(c, "out of memory");
	} else {
		ok = decode_message(c, desc, root, m, 1);
	}
	json_decref(root);
	if (!ok) {
		if (m)
			protobuf_c_message_free_unpacked(m, c->alloc);
		m = NULL;
	}
	*out = m;
	return ok;
}

bool pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                   ProtobufCAllocator *alloc, ProtobufCMessage **out, pbjson_error *err)
{
	return decode(desc, json, len, alloc, out, err, false);
}

bool pbjson_decode_lenient(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                           ProtobufCAllocator *alloc, ProtobufCMessage **out, pbjson_error *err)
{
	return decode(desc, json, len, alloc, out, err, true);
}
