/*
 * Policy decision point, common parts: the names of the enums as policies spell them, the
 * RFC 3339 and ISO 8601 duration parsers, and the purpose vocabulary (policy/purposes.json)
 * with its isA closure precomputed as bitsets so that a decision tests one bit.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdp_int.h"

static const char *const pdp_effect_names[] = {"DENY", "PERMIT"};
static const char *const pdp_action_names[] = {"aggregate", "read", "distribute",
                                               "derive",    "sell", "other"};
static const char *const pdp_kind_names[] = {
        "KIND_UNSPECIFIED",      "OPERATOR",   "HOLDER",    "PUBLIC_AUTHORITY", "REGULATOR",
        "RESEARCH_ORGANISATION", "NON_PROFIT", "COMMERCIAL"};
static const char *const pdp_role_names[] = {"unspecified", "operator", "holder", "user",
                                             "regulator"};
static const char *const pdp_gran_names[] = {"NONE", "HOUR", "DAY", "WEEK", "MONTH", "YEAR"};
static const char *const pdp_agg_names[] = {"COUNT", "SUM", "AVG", "MIN", "MAX"};
static const char *const pdp_scope_names[] = {"baseline", "dataset"};

#define PDP_NAME_OF(tab, v)                                                                        \
	((size_t)(v) < sizeof(tab) / sizeof((tab)[0]) ? (tab)[(size_t)(v)] : "?")

const char *pdp_effect_name(pdp_effect e)
{
	return PDP_NAME_OF(pdp_effect_names, e);
}

const char *pdp_action_name(pdp_action a)
{
	return PDP_NAME_OF(pdp_action_names, a);
}

const char *pdp_kind_name(pdp_kind k)
{
	return PDP_NAME_OF(pdp_kind_names, k);
}

const char *pdp_role_name(pdp_role r)
{
	return PDP_NAME_OF(pdp_role_names, r);
}

const char *pdp_granularity_name(pdp_granularity g)
{
	return PDP_NAME_OF(pdp_gran_names, g);
}

const char *pdp_agg_name(pdp_agg a)
{
	return PDP_NAME_OF(pdp_agg_names, a);
}

const char *pdp_scope_name(pdp_scope s)
{
	return PDP_NAME_OF(pdp_scope_names, s);
}

static int pdp_name_index(const char *const *tab, size_t n, const char *s)
{
	if (!s)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(tab[i], s) == 0)
			return (int)i;
	return -1;
}

#define PDP_PARSE_IN(tab, s) pdp_name_index(tab, sizeof(tab) / sizeof((tab)[0]), s)

bool pdp_action_parse(const char *s, pdp_action *out)
{
	int i = PDP_PARSE_IN(pdp_action_names, s);
	if (i < 0 || i == PDP_ACTION_OTHER)
		return false;
	*out = (pdp_action)i;
	return true;
}

bool pdp_kind_parse(const char *s, pdp_kind *out)
{
	int i = PDP_PARSE_IN(pdp_kind_names, s);
	if (i <= 0)
		return false;
	*out = (pdp_kind)i;
	return true;
}

bool pdp_role_parse(const char *s, pdp_role *out)
{
	int i = PDP_PARSE_IN(pdp_role_names, s);
	if (i <= 0)
		return false;
	*out = (pdp_role)i;
	return true;
}

bool pdp_granularity_parse(const char *s, pdp_granularity *out)
{
	int i = PDP_PARSE_IN(pdp_gran_names, s);
	if (i <= 0)
		return false;
	*out = (pdp_granularity)i;
	return true;
}

bool pdp_agg_parse(const char *s, pdp_agg *out)
{
	int i = PDP_PARSE_IN(pdp_agg_names, s);
	if (i < 0)
		return false;
	*out = (pdp_agg)i;
	return true;
}

/* Reads exactly n decimal digits. */
static bool pdp_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t pdp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

bool pdp_datetime_parse(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (!s || strlen(s) < 20)
		return false;
	if (!pdp_digits(s, 4, &y) || s[4] != '-' || !pdp_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !pdp_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !pdp_digits(s + 11, 2, &h) || s[13] != ':' || !pdp_digits(s + 14, 2, &mi) ||
	    s[16] != ':' || !pdp_digits(s + 17, 2, &se))
		return false;
	const char *z = s + 19;
	if ((z[0] == 'Z' || z[0] == 'z') && z[1] == '\0') {
		sign = 0;
	} else if ((z[0] == '+' || z[0] == '-') && strlen(z) == 6 && pdp_digits(z + 1, 2, &oh) &&
	           z[3] == ':' && pdp_digits(z + 4, 2, &om)) {
		sign = z[0] == '+' ? 1 : -1;
		if (oh > 23 || om > 59)
			return false;
	} else {
		return false;
	}
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
	    se > 59)
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return false;
	int64_t t =
	        pdp_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
	*out = t - sign * (oh * 3600 + om * 60);
	return true;
}

bool pdp_period_parse(const char *s, pdp_period *out)
{
	bool time = false;
	uint64_t n = 0;
	size_t digits = 0;

	if (!s || s[0] != 'P')
		return false;
	s++;
	if (*s == 'T') {
		time = true;
		s++;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		n = n * 10 + (uint64_t)(*s - '0');
		if (++digits > 6)
			return false;
	}
	if (digits == 0 || n == 0 || s[0] == '\0' || s[1] != '\0')
		return false;
	pdp_period p = {.count = (uint32_t)n};
	switch (time ? s[0] | 0x100 : s[0]) {
	case 'Y':
		p.unit = PDP_PERIOD_YEAR;
		p.seconds = 31556952;
		break;
	case 'M':
		p.unit = PDP_PERIOD_MONTH;
		p.seconds = 2629746;
		break;
	case 'W':
		p.unit = PDP_PERIOD_WEEK;
		p.seconds = 604800;
		break;
	case 'D':
		p.unit = PDP_PERIOD_DAY;
		p.seconds = 86400;
		break;
	case 'H' | 0x100:
		p.unit = PDP_PERIOD_HOUR;
		p.seconds = 3600;
		break;
	default:
		return false;
	}
	p.seconds *= (int64_t)n;
	*out = p;
	return true;
}

/* --- the purpose vocabulary ------------------------------------------------ */

static bool pdp_vocab_fail(pdp_error *err, const char *pointer, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static bool pdp_vocab_fail(pdp_error *err, const char *pointer, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return false;
	snprintf(err->pointer, sizeof err->pointer, "%s", pointer);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return false;
}

/* A purpose id: prefix:Name, ASCII letters, digits and _ . - only. */
static bool pdp_purpose_id_ok(const char *s)
{
	size_t n = strlen(s), colon = 0;
	if (n < 3 || n > PDP_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == ':') {
			if (colon || i == 0 || i + 1 == n)
				return false;
			colon = i;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		             (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) {
			return false;
		}
	}
	return colon != 0;
}

int pdp_vocab_find(const pdp_vocab *v, const char *id)
{
	if (!v || !id)
		return -1;
	uint32_t h = pdp_hash(id);
	for (uint32_t i = 0; i < PDP_VOCAB_SLOTS; i++) {
		uint16_t s = v->slot[(h + i) & (PDP_VOCAB_SLOTS - 1)];
		if (s == 0)
			return -1;
		if (strcmp(v->p[s - 1].id, id) == 0)
			return s - 1;
	}
	return -1;
}

static bool pdp_vocab_entry(pdp_vocab *v, json_t *e, size_t i, pdp_error *err)
{
	char ptr[64];
	const char *key;
	json_t *val;

	snprintf(ptr, sizeof ptr, "/purposes/%zu", i);
	if (!json_is_object(e))
		return pdp_vocab_fail(err, ptr, "purpose entry must be an object");
	json_object_foreach(e, key, val)
	{
		if (strcmp(key, "id") && strcmp(key, "label") && strcmp(key, "parent") &&
		    strcmp(key, "description") && strcmp(key, "source"))
			return pdp_vocab_fail(err, ptr, "unknown member in purpose entry");
	}
	json_t *id = json_object_get(e, "id"), *label = json_object_get(e, "label"),
	       *parent = json_object_get(e, "parent");
	snprintf(ptr, sizeof ptr, "/purposes/%zu/id", i);
	if (!json_is_string(id) || !pdp_purpose_id_ok(json_string_value(id)))
		return pdp_vocab_fail(err, ptr,
		                      "purpose id must be prefix:Name of at most 63 characters");
	if (pdp_vocab_find(v, json_string_value(id)) >= 0)
		return pdp_vocab_fail(err, ptr, "duplicate purpose id");
	snprintf(ptr, sizeof ptr, "/purposes/%zu/label", i);
	if (!json_is_string(label) || json_string_length(label) == 0 ||
	    json_string_length(label) >= sizeof v->p[0].label)
		return pdp_vocab_fail(err, ptr, "label must be a string of 1 to 127 bytes");
	int pi = -1;
	snprintf(ptr, sizeof ptr, "/purposes/%zu/parent", i);
	if (json_is_string(parent)) {
		pi = pdp_vocab_find(v, json_string_value(parent));
		if (pi < 0)
			return pdp_vocab_fail(err, ptr, "parent must be a purpose listed earlier");
	} else if (parent && !json_is_null(parent)) {
		return pdp_vocab_fail(err, ptr, "parent must be a purpose id or null");
	}

	pdp_purpose *p = &v->p[i];
	snprintf(p->id, sizeof p->id, "%s", json_string_value(id));
	snprintf(p->label, sizeof p->label, "%s", json_string_value(label));
	p->parent = pi;
	uint32_t h = pdp_hash(p->id);
	for (uint32_t k = 0;; k++) {
		uint16_t *s = &v->slot[(h + k) & (PDP_VOCAB_SLOTS - 1)];
		if (*s == 0) {
			*s = (uint16_t)(i + 1);
			break;
		}
	}
	/* i descends from itself and from each ancestor. */
	for (int a = (int)i; a >= 0; a = v->p[a].parent)
		pdp_pset_add(&v->desc[a], (int)i);
	v->n = i + 1;
	return true;
}

pdp_vocab *pdp_vocab_load(const char *json, size_t len, pdp_error *err)
{
	json_error_t jerr;
	json_t *root = NULL, *arr;
	pdp_vocab *v = NULL;

	if (!json) {
		pdp_vocab_fail(err, "", "no vocabulary document");
		goto fail;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		pdp_vocab_fail(err, "", "invalid JSON at line %d, column %d", jerr.line,
		               jerr.column);
		goto fail;
	}
	arr = json_object_get(root, "purposes");
	if (!json_is_object(root) || !json_is_array(arr)) {
		pdp_vocab_fail(err, "/purposes",
		               "vocabulary must be an object with a purposes array");
		goto fail;
	}
	if (json_array_size(arr) == 0 || json_array_size(arr) > PDP_MAX_PURPOSES) {
		pdp_vocab_fail(err, "/purposes", "a vocabulary has 1 to %d purposes",
		               PDP_MAX_PURPOSES);
		goto fail;
	}
	v = calloc(1, sizeof *v);
	if (!v) {
		pdp_vocab_fail(err, "", "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (!pdp_vocab_entry(v, json_array_get(arr, i), i, err))
			goto fail;
	json_decref(root);
	return v;
fail:
	free(v);
	json_decref(root);
	return NULL;
}

void pdp_vocab_free(pdp_vocab *v)
{
	free(v);
}

size_t pdp_vocab_size(const pdp_vocab *v)
{
	return v ? v->n : 0;
}

const char *pdp_vocab_id(const pdp_vocab *v, size_t i)
{
	return v && i < v->n ? v->p[i].id : NULL;
}

const char *pdp_vocab_label(const pdp_vocab *v, size_t i)
{
	return v && i < v->n ? v->p[i].label : NULL;
}

int pdp_vocab_parent(const pdp_vocab *v, size_t i)
{
	return v && i < v->n ? v->p[i].parent : -1;
}

bool pdp_vocab_is_a(const pdp_vocab *v, int child, int ancestor)
{
	if (!v || ancestor < 0 || (size_t)ancestor >= v->n)
		return false;
	return pdp_pset_has(&v->desc[ancestor], child);
}
