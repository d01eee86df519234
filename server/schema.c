/*
 * Dataset schemas. The rules (README, "Datasets"): 1-64 columns with unique
 * names [a-z_][a-z0-9_]{0,62}; a type and a role each; at most one SUBJECT
 * (STRING or INT64), required when the rows are personal data; TIME columns
 * are TIMESTAMPs; MEASUREs are INT64 or FLOAT64 with finite min < max
 * (integers for INT64), and only measures carry bounds.
 */
#include "schema.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static bool name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > SCHEMA_NAME_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

const char *schema_type_name(schema_type t)
{
	switch (t) {
	case SCHEMA_INT64:
		return "INT64";
	case SCHEMA_FLOAT64:
		return "FLOAT64";
	case SCHEMA_STRING:
		return "STRING";
	case SCHEMA_BOOL:
		return "BOOL";
	case SCHEMA_TIMESTAMP:
		return "TIMESTAMP";
	}
	return "?";
}

int schema_find(const schema *s, const char *name, size_t n)
{
	for (int i = 0; i < s->ncols; i++)
		if (strlen(s->cols[i].name) == n && memcmp(s->cols[i].name, name, n) == 0)
			return i;
	return -1;
}

bool schema_from_pb(schema *s, bool personal, size_t n, Fiducia__V1__Column *const *cols, char *err,
                    size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->personal = personal;
	s->subject = -1;
	if (n == 0) {
		snprintf(err, errlen, "$.columns: at least one column is required");
		return false;
	}
	if (n > SCHEMA_MAX_COLUMNS) {
		snprintf(err, errlen, "$.columns: at most %d columns", SCHEMA_MAX_COLUMNS);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		const Fiducia__V1__Column *c = cols[i];
		schema_column *o = &s->cols[i];
		if (!name_valid(c->name)) {
			snprintf(err, errlen,
			         "$.columns[%zu].name: must match [a-z_][a-z0-9_]{0,62}", i);
			return false;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(cols[j]->name, c->name) == 0) {
				snprintf(
				        err, errlen,
				        "$.columns[%zu].name: %s is already the name of column %zu",
				        i, c->name, j);
				return false;
			}
		snprintf(o->name, sizeof o->name, "%s", c->name);
		switch (c->type) {
		case FIDUCIA__V1__COLUMN__TYPE__INT64:
		case FIDUCIA__V1__COLUMN__TYPE__FLOAT64:
		case FIDUCIA__V1__COLUMN__TYPE__STRING:
		case FIDUCIA__V1__COLUMN__TYPE__BOOL:
		case FIDUCIA__V1__COLUMN__TYPE__TIMESTAMP:
			o->type = (schema_type)c->type;
			break;
		default:
			snprintf(err, errlen,
			         "$.columns[%zu].type: must be INT64, FLOAT64, STRING, BOOL or "
			         "TIMESTAMP",
			         i);
			return false;
		}
		bool bounds = c->min != 0 || c->max != 0;
		switch (c->role) {
		case FIDUCIA__V1__COLUMN__ROLE__SUBJECT:
			if (s->subject >= 0) {
				snprintf(
				        err, errlen,
				        "$.columns[%zu].role: column %d is already the SUBJECT; at "
				        "most one column may be",
				        i, s->subject);
				return false;
			}
			if (o->type != SCHEMA_STRING && o->type != SCHEMA_INT64) {
				snprintf(err, errlen,
				         "$.columns[%zu].type: a SUBJECT column is STRING or INT64",
				         i);
				return false;
			}
			s->subject = (int)i;
			break;
		case FIDUCIA__V1__COLUMN__ROLE__TIME:
			if (o->type != SCHEMA_TIMESTAMP) {
				snprintf(err, errlen,
				         "$.columns[%zu].type: a TIME column is a TIMESTAMP", i);
				return false;
			}
			break;
		case FIDUCIA__V1__COLUMN__ROLE__DIMENSION:
			break;
		case FIDUCIA__V1__COLUMN__ROLE__MEASURE:
			if (o->type != SCHEMA_INT64 && o->type != SCHEMA_FLOAT64) {
				snprintf(err, errlen,
				         "$.columns[%zu].type: a MEASURE is INT64 or FLOAT64", i);
				return false;
			}
			if (!isfinite(c->min) || !isfinite(c->max) || !(c->min < c->max)) {
				snprintf(err, errlen,
				         "$.columns[%zu]: a MEASURE needs finite bounds with min < "
				         "max",
				         i);
				return false;
			}
			if (o->type == SCHEMA_INT64 &&
			    (c->min != floor(c->min) || c->max != floor(c->max) ||
			     fabs(c->min) > 9007199254740992.0 ||
			     fabs(c->max) > 9007199254740992.0)) {
				snprintf(err, errlen,
				         "$.columns[%zu]: an INT64 MEASURE's bounds are integers "
				         "of at "
				         "most 2^53 in magnitude",
				         i);
				return false;
			}
			o->min = c->min;
			o->max = c->max;
			bounds = false;
			break;
		default:
			snprintf(err, errlen,
			         "$.columns[%zu].role: must be SUBJECT, TIME, DIMENSION or MEASURE",
			         i);
			return false;
		}
		if (bounds) {
			snprintf(err, errlen, "$.columns[%zu]: only a MEASURE has min and max", i);
			return false;
		}
		o->role = (schema_role)c->role;
	}
	s->ncols = (int)n;
	if (personal && s->subject < 0) {
		snprintf(err, errlen,
		         "$.columns: personalData is true, so one column must have role SUBJECT");
		return false;
	}
	return true;
}
