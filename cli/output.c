/*
 * Printing for the fiducia CLI: one-line JSON, RFC 3339 times, numbers,
 * "label: value" fields, aligned tables, CSV fields, and the one shape of
 * every error message. Text that
 * came from the server is filtered of control characters before it reaches a
 * terminal.
 */
#include "output.h"
#include "cli.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void output_json_line(FILE *out, const char *body, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (body[i] != '\n' && body[i] != '\r')
			fputc(body[i], out);
	fputc('\n', out);
}

const char *output_time(char buf[OUTPUT_TIME_MAX], const Google__Protobuf__Timestamp *ts)
{
	/* 0001-01-01 .. 9999-12-31, the range of the JSON mapping. */
	if (!ts || ts->seconds < INT64_C(-62135596800) || ts->seconds > INT64_C(253402300799)) {
		snprintf(buf, OUTPUT_TIME_MAX, "-");
		return buf;
	}
	time_t t = (time_t)ts->seconds;
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(buf, OUTPUT_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, OUTPUT_TIME_MAX, "-");
	return buf;
}

/* "NaN", "Infinity", "-Infinity" (the proto3 JSON spellings) when v is not finite. */
static bool number_special(char buf[OUTPUT_NUM_MAX], double v)
{
	if (isfinite(v))
		return false;
	snprintf(buf, OUTPUT_NUM_MAX, "%s", isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
	return true;
}

const char *output_number(char buf[OUTPUT_NUM_MAX], double v)
{
	if (number_special(buf, v))
		return buf;
	double a = fabs(v);
	if (a == 0) {
		snprintf(buf, OUTPUT_NUM_MAX, "0");
		return buf;
	}
	if (a < 1e-4 || a >= 1e15) {
		snprintf(buf, OUTPUT_NUM_MAX, "%.6g", v);
		return buf;
	}
	int e = (int)floor(log10(a)); /* -4 .. 14 */
	int decimals = e >= 5 ? 0 : 5 - e;
	snprintf(buf, OUTPUT_NUM_MAX, "%.*f", decimals, v);
	if (decimals > 0) {
		size_t n = strlen(buf);
		while (n > 0 && buf[n - 1] == '0')
			buf[--n] = '\0';
		if (n > 0 && buf[n - 1] == '.')
			buf[--n] = '\0';
	}
	return buf;
}

const char *output_number_exact(char buf[OUTPUT_NUM_MAX], double v)
{
	if (number_special(buf, v))
		return buf;
	for (int p = 15; p <= 17; p++) {
		snprintf(buf, OUTPUT_NUM_MAX, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

void output_csv_field(FILE *out, const char *s)
{
	if (!s)
		s = "";
	if (!s[strcspn(s, ",\"\r\n")]) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void output_text(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
	}
}

void output_field(FILE *out, const char *label, const char *value)
{
	fprintf(out, "%s: ", label);
	output_text(out, value && *value ? value : "-");
	fputc('\n', out);
}

int output_call_error(const char *url, client_status st, const client_result *res)
{
	switch (st) {
	case CLIENT_OK:
		return CLI_EXIT_OK;
	case CLIENT_UNREACHABLE:
		fprintf(stderr, "fiducia: cannot reach %s: ", url);
		output_text(stderr, res->reason);
		fputc('\n', stderr);
		return CLI_EXIT_UNREACHABLE;
	case CLIENT_HTTP_ERROR: {
		const Fiducia__V1__Error *e = res->error;
		const char *rid = e && e->request_id[0] ? e->request_id : res->request_id;
		fprintf(stderr, "fiducia: %d ", res->status);
		if (e && (e->code[0] || e->message[0])) {
			output_text(stderr, e->code[0] ? e->code : "error");
			fputs(": ", stderr);
			output_text(stderr, e->message);
		} else {
			output_text(stderr, res->status_line[0] ? res->status_line : "HTTP error");
		}
		if (rid[0]) {
			fputs(" (request ", stderr);
			output_text(stderr, rid);
			fputc(')', stderr);
		}
		fputc('\n', stderr);
		/* a refused query: every reason, and where the refusal is ledgered */
		for (size_t i = 0; e && i < e->n_reasons; i++) {
			fputs("  reason: ", stderr);
			output_text(stderr, e->reasons[i]);
			fputc('\n', stderr);
		}
		if (e && e->ledger_index)
			fprintf(stderr, "  ledger entry: %llu\n",
			        (unsigned long long)e->ledger_index);
		return CLI_EXIT_FAIL;
	}
	case CLIENT_BAD_RESPONSE:
		fprintf(stderr, "fiducia: bad response from %s: ", url);
		output_text(stderr, res->reason);
		if (res->request_id[0]) {
			fputs(" (request ", stderr);
			output_text(stderr, res->request_id);
			fputc(')', stderr);
		}
		fputc('\n', stderr);
		return CLI_EXIT_FAIL;
	case CLIENT_LOCAL_ERROR:
	default:
		fputs("fiducia: ", stderr);
		output_text(stderr, res->reason[0] ? res->reason : "request failed");
		fputc('\n', stderr);
		return CLI_EXIT_FAIL;
	}
}

struct output_table {
	size_t ncols, nrows, cap;
	char **cells; /* (nrows + 1) * ncols, row 0 the headings */
};

static char *cell_dup(const char *s)
{
	return strdup(s && *s ? s : "-");
}

output_table *output_table_new(size_t ncols, const char *const *headings)
{
	output_table *t = calloc(1, sizeof *t);
	if (!t || ncols == 0)
		goto fail;
	t->ncols = ncols;
	if (!output_table_add(t, headings))
		goto fail;
	return t;
fail:
	output_table_free(t);
	return NULL;
}

bool output_table_add(output_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		char **n = realloc(t->cells, cap * t->ncols * sizeof *n);
		if (!n)
			return false;
		t->cells = n;
		t->cap = cap;
	}
	char **row = &t->cells[t->nrows * t->ncols];
	for (size_t i = 0; i < t->ncols; i++) {
		if (!(row[i] = cell_dup(cells[i]))) {
			while (i-- > 0)
				free(row[i]);
			return false;
		}
	}
	t->nrows++;
	return true;
}

/* Columns s takes on a terminal: its UTF-8 characters (continuation bytes not counted). */
static size_t text_width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

void output_table_print(const output_table *t, FILE *out)
{
	size_t *w = calloc(t->ncols, sizeof *w);
	if (!w)
		return;
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t n = text_width(t->cells[r * t->ncols + c]);
			if (n > w[c])
				w[c] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			output_text(out, s);
			if (c + 1 < t->ncols)
				fprintf(out, "%*s", (int)(w[c] - text_width(s) + 2), "");
		}
		fputc('\n', out);
	}
	free(w);
}

void output_table_free(output_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}
