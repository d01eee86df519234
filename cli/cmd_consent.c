/*
 * fiducia consent: data subjects' consent records on a personal dataset
 * (holder). give builds one record from flags; import sends a file of
 * records (a JSON array, or NDJSON: one record per line, sent in calls of
 * --per-call records, each call all or nothing; or a CSV file of several
 * datasets' consents, read here, then withdrawals); show prints a subject's
 * records and history; withdraw withdraws all of them or one purpose. The
 * subject is the holder's own identifier: fiduciad pseudonymises it at once,
 * and nothing here prints it.
 */
#include "cli.h"
#include "output.h"
#include "pbjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fiducia/v1/consent.pb-c.h"

static const char *state_name(int s)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	        &fiducia__v1__consent_record__state__descriptor, s);
	return v ? v->name : "?";
}

static void print_receipts(const Fiducia__V1__ConsentReceipts *r, bool all)
{
	size_t n = all || r->n_receipts <= 20 ? r->n_receipts : 10;
	for (size_t i = 0; i < n; i++) {
		const Fiducia__V1__ConsentReceipt *c = r->receipts[i];
		char t[OUTPUT_TIME_MAX];
		printf("%s  %s  given %s  purposes ", c->record_id, state_name(c->state),
		       output_time(t, c->given_at));
		for (size_t k = 0; k < c->n_purposes; k++)
			printf("%s%s", k ? "," : "", c->purposes[k]);
		if (c->n_withdrawn_purposes) {
			printf("  withdrawn ");
			for (size_t k = 0; k < c->n_withdrawn_purposes; k++)
				printf("%s%s", k ? "," : "", c->withdrawn_purposes[k]);
		}
		printf("\n");
	}
	if (n < r->n_receipts)
		printf("... and %zu more receipts (--json prints them all)\n", r->n_receipts - n);
	if (r->ledger_index)
		printf("ledger index: %llu\n", (unsigned long long)r->ledger_index);
}

/* POST a body of records; prints the receipts. */
static int send_records(struct cli_ctx *ctx, const char *ds, const char *ctype, const char *body,
                        size_t len, bool quiet, size_t *count)
{
	char *path = client_path("/v1/datasets/", ds, "/consents");
	if (!path)
		return CLI_EXIT_FAIL;
	client_result res;
	int rc = cli_call_body(ctx, "POST", path, ctype, body, len,
	                       &fiducia__v1__consent_receipts__descriptor, &res);
	free(path);
	if (rc == CLI_EXIT_OK && res.msg) {
		const Fiducia__V1__ConsentReceipts *r =
		        (const Fiducia__V1__ConsentReceipts *)res.msg;
		if (count)
			*count += r->n_receipts;
		if (!quiet)
			print_receipts(r, false);
	}
	client_result_free(&res);
	return rc;
}

static void split_list(char *s, char ***out, size_t *n)
{
	size_t cap = 1;
	for (char *p = s; *p; p++)
		cap += *p == ',';
	*out = calloc(cap, sizeof **out);
	*n = 0;
	if (!*out)
		return;
	char *save;
	for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save))
		(*out)[(*n)++] = t;
}

/* DELETE a subject's consent records, or one purpose of them (purpose not
 * NULL); prints the receipts unless quiet. */
static int withdraw_subject(struct cli_ctx *ctx, const char *ds, const char *subject,
                            const char *purpose, bool quiet)
{
	char *a = client_path("/v1/datasets/", ds, "/consents/");
	char *b = a ? client_path(a, subject, purpose ? "?purpose=" : "") : NULL;
	char *path = b && purpose ? client_path(b, purpose, "") : b;
	if (path != b)
		free(b);
	free(a);
	if (!path)
		return CLI_EXIT_FAIL;
	client_result res;
	int rc = cli_call(ctx, "DELETE", path, NULL, &fiducia__v1__consent_receipts__descriptor,
	                  &res);
	free(path);
	if (rc == CLI_EXIT_OK && res.msg && !quiet)
		print_receipts((const Fiducia__V1__ConsentReceipts *)res.msg, true);
	client_result_free(&res);
	return rc;
}

static int consent_give(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *subject = NULL, *purposes = NULL, *form = NULL, *objective = NULL,
	           *until = NULL, *lang = NULL, *method = NULL, *pos[1];
	const struct cli_opt opts[] = {{"--subject", "ID", &subject, NULL},
	                               {"--purposes", "P,...", &purposes, NULL},
	                               {"--form-id", "ID", &form, NULL},
	                               {"--objective", "TEXT", &objective, NULL},
	                               {"--valid-until", "RFC3339", &until, NULL},
	                               {"--language", "TAG", &lang, NULL},
	                               {"--collection-method", "TEXT", &method, NULL},
	                               {NULL, NULL, NULL, NULL}};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, pos, 1, 1, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!subject || !purposes || !form || !objective)
		return cli_usage_error(ctx, "--subject, --purposes, --form-id and --objective are "
		                            "required");
	Fiducia__V1__ConsentRecord c = FIDUCIA__V1__CONSENT_RECORD__INIT;
	char *plist = strdup(purposes);
	if (!plist)
		return CLI_EXIT_FAIL;
	split_list(plist, &c.purposes, &c.n_purposes);
	c.subject = (char *)subject;
	c.form_id = (char *)form;
	c.objective = (char *)objective;
	c.language = (char *)(lang ? lang : "");
	c.collection_method = (char *)(method ? method : "fiducia consent give");
	Google__Protobuf__Timestamp vu = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	if (until) {
		struct tm tm = {0};
		char *end = strptime(until, "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (!end || *end) {
			free(c.purposes);
			free(plist);
			return cli_usage_error(ctx, "--valid-until %s: like 2027-01-01T00:00:00Z",
			                       until);
		}
		vu.seconds = timegm(&tm);
		c.valid_until = &vu;
	}
	size_t n;
	char *json = pbjson_encode(&c.base, &n);
	free(c.purposes);
	free(plist);
	if (!json)
		return CLI_EXIT_FAIL;
	rc = send_records(ctx, pos[0], "application/json", json, n, false, NULL);
	free(json);
	return rc;
}

/* ---- consents from a CSV file ------------------------------------------------ */

#define CSV_FIELD_MAX 65536 /* bytes of one field */

/*
 * A streaming RFC 4180 reader of the user's own file: comma-separated fields,
 * quoted fields with doubled quotes and line breaks inside, CRLF or LF line
 * ends, a UTF-8 byte-order mark skipped, blank lines skipped.
 */
struct csv_reader {
	FILE *f;
	size_t line;     /* the physical line being read, from 1 */
	size_t rec_line; /* the line the last record started on */
	char *buf;       /* the last record's fields, each NUL-terminated */
	size_t len, cap;
	size_t *off; /* where each field starts in buf */
	size_t nfields, fcap;
	size_t err_line, err_col; /* where csv_next failed (the column from 1), and why */
	const char *err;
};

/* Reads f from its start; f is borrowed. */
static void csv_start(struct csv_reader *r, FILE *f)
{
	unsigned char bom[3];
	r->f = f;
	r->line = 1;
	rewind(f);
	if (fread(bom, 1, 3, f) != 3 || memcmp(bom, "\xef\xbb\xbf", 3) != 0)
		rewind(f);
}

static void csv_release(struct csv_reader *r)
{
	free(r->buf);
	free(r->off);
}

static int csv_fail(struct csv_reader *r, size_t line, const char *why)
{
	r->err_line = line;
	r->err_col = r->nfields + 1;
	r->err = why;
	return -1;
}

/* Room for two more bytes in buf (a byte and a field's NUL); false after csv_fail. */
static bool csv_room(struct csv_reader *r)
{
	if (r->len + 2 <= r->cap)
		return true;
	size_t cap = r->cap ? 2 * r->cap : 1024;
	char *b = realloc(r->buf, cap);
	if (!b) {
		csv_fail(r, r->line, "out of memory");
		return false;
	}
	r->buf = b;
	r->cap = cap;
	return true;
}

/* Appends c to the field that starts at start; false after csv_fail. */
static bool csv_take(struct csv_reader *r, size_t start, int c)
{
	if (c == '\0') {
		csv_fail(r, r->line, "a NUL byte");
		return false;
	}
	if (r->len - start >= CSV_FIELD_MAX) {
		csv_fail(r, r->line, "a field longer than 65536 bytes");
		return false;
	}
	if (!csv_room(r))
		return false;
	r->buf[r->len++] = (char)c;
	return true;
}

static bool csv_end_field(struct csv_reader *r, size_t start)
{
	if (r->nfields == r->fcap) {
		size_t cap = r->fcap ? 2 * r->fcap : 16;
		size_t *o = cap <= 4096 ? realloc(r->off, cap * sizeof *o) : NULL;
		if (!o) {
			csv_fail(r, r->line, "more than 4096 fields");
			return false;
		}
		r->off = o;
		r->fcap = cap;
	}
	if (!csv_room(r))
		return false;
	r->off[r->nfields++] = start;
	r->buf[r->len++] = '\0';
	return true;
}

/*
 * Reads the next record: 1 when there is one (its fields at r->buf +
 * r->off[i], r->nfields of them), 0 at the end of the file, -1 when the file
 * is malformed or unreadable (r->err says why, r->err_line and r->err_col
 * where).
 */
static int csv_next(struct csv_reader *r)
{
	int c;
	r->len = r->nfields = 0;
	while ((c = getc(r->f)) == '\n' || c == '\r') { /* blank lines */
		if (c == '\r' && getc(r->f) != '\n')
			return csv_fail(r, r->line,
			                "a carriage return not followed by a line feed");
		r->line++;
	}
	if (c == EOF)
		return ferror(r->f) ? csv_fail(r, r->line, "cannot read the file") : 0;
	r->rec_line = r->line;
	for (;;) { /* one field a turn, c its first character */
		size_t start = r->len, field_line = r->line;
		if (c == '"') {
			for (;;) {
				c = getc(r->f);
				if (c == '"') {
					c = getc(r->f);
					if (c != '"')
						break;
				} else if (c == EOF) {
					return csv_fail(r, field_line,
					                "a quoted field is not closed");
				} else if (c == '\n') {
					r->line++;
				}
				if (!csv_take(r, start, c))
					return -1;
			}
			if (c != ',' && c != '\n' && c != '\r' && c != EOF)
				return csv_fail(r, r->line, "text after a closing quote");
		} else {
			for (; c != ',' && c != '\n' && c != '\r' && c != EOF; c = getc(r->f)) {
				if (c == '"')
					return csv_fail(r, r->line,
					                "a quote inside an unquoted field");
				if (!csv_take(r, start, c))
					return -1;
			}
		}
		if (c == '\r' && getc(r->f) != '\n')
			return csv_fail(r, r->line,
			                "a carriage return not followed by a line feed");
		if (!csv_end_field(r, start))
			return -1;
		if (c == ',') {
			c = getc(r->f);
			continue;
		}
		if (c == EOF && ferror(r->f))
			return csv_fail(r, r->line, "cannot read the file");
		if (c != EOF)
			r->line++;
		return 1;
	}
}

/* The columns of a consents CSV file, in any order, each once. */
enum csv_col {
	COL_DATASET,
	COL_SUBJECT,
	COL_PURPOSES,
	COL_FORM_ID,
	COL_OBJECTIVE,
	COL_WITHDRAWN,
	NCOLS
};
static const char *const csv_col_names[NCOLS] = {"dataset", "subject",   "purposes",
                                                 "form_id", "objective", "withdrawn"};

#define CSV_MAX_PURPOSES 64

struct csv_import {
	struct cli_ctx *ctx;
	const char *ds, *file, *select;
	struct csv_reader r;
	size_t field[NCOLS];     /* the field of each column */
	enum csv_col col[NCOLS]; /* the column of each field */
	/* the current record, when it is valid */
	const char *v[NCOLS];
	char *purposes[CSV_MAX_PURPOSES];
	size_t n_purposes;
	bool withdrawn;
};

/* Valid UTF-8 without control characters (what fiduciad takes as text). */
static bool csv_text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p, n = c < 0x80                ? 0
		                     : c >= 0xc2 && c < 0xe0 ? 1
		                     : (c & 0xf0) == 0xe0    ? 2
		                     : c >= 0xf0 && c < 0xf5 ? 3
		                                             : 9;
		if (n == 9 || (n == 0 && (c < 0x20 || c == 0x7f)))
			return false;
		unsigned cp = n ? c & (0x3f >> n) : c;
		for (unsigned k = 1; k <= n; k++) {
			if ((p[k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[k] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		p += n + 1;
	}
	return true;
}

/* "FILE: line L, column C (name): why" on stderr; false. */
static bool csv_error(const struct csv_import *im, size_t line, size_t col, const char *why)
{
	if (col >= 1 && col <= NCOLS)
		cli_error("%s: line %zu, column %zu (%s): %s", im->file, line, col,
		          csv_col_names[im->col[col - 1]], why);
	else
		cli_error("%s: line %zu, column %zu: %s", im->file, line, col, why);
	return false;
}

/* Reads the header record and maps its columns; false after printing why. */
static bool csv_header(struct csv_import *im)
{
	struct csv_reader *r = &im->r;
	int got = csv_next(r);
	if (got < 0) {
		cli_error("%s: line %zu, column %zu: %s", im->file, r->err_line, r->err_col,
		          r->err);
		return false;
	}
	if (got == 0) {
		cli_error("%s: empty: the header row is missing (dataset,subject,purposes,form_id,"
		          "objective,withdrawn)",
		          im->file);
		return false;
	}
	bool seen[NCOLS] = {false};
	for (size_t i = 0; i < r->nfields; i++) {
		const char *name = r->buf + r->off[i];
		size_t k = 0;
		while (k < NCOLS && strcmp(name, csv_col_names[k]) != 0)
			k++;
		if (k == NCOLS || seen[k] || i >= NCOLS) {
			cli_error("%s: line %zu, column %zu: %s (the columns are dataset, subject, "
			          "purposes, form_id, objective and withdrawn)",
			          im->file, r->rec_line, i + 1,
			          k < NCOLS && seen[k] ? "a column named twice"
			                               : "an unknown column");
			return false;
		}
		seen[k] = true;
		im->field[k] = i;
		im->col[i] = (enum csv_col)k;
	}
	for (size_t k = 0; k < NCOLS; k++) {
		if (!seen[k]) {
			cli_error("%s: line 1: the header has no column %s", im->file,
			          csv_col_names[k]);
			return false;
		}
	}
	return true;
}

/*
 * Reads the next record: 1 with a record of the selected dataset checked and
 * split into im->v, im->purposes and im->withdrawn; 2 for a well-formed
 * record of another dataset; 0 at the end; -1 after printing what is wrong
 * (never the value).
 */
static int csv_record(struct csv_import *im)
{
	struct csv_reader *r = &im->r;
	int got = csv_next(r);
	if (got < 0) {
		csv_error(im, r->err_line, r->err_col, r->err);
		return -1;
	}
	if (got == 0)
		return 0;
	size_t line = r->rec_line;
	if (r->nfields != NCOLS) {
		char why[96];
		snprintf(why, sizeof why, "%zu fields where the header has %d", r->nfields, NCOLS);
		csv_error(im, line, r->nfields < NCOLS ? r->nfields + 1 : NCOLS + 1, why);
		return -1;
	}
	for (size_t k = 0; k < NCOLS; k++)
		im->v[k] = r->buf + r->off[im->field[k]];
	if (!im->v[COL_DATASET][0]) {
		csv_error(im, line, im->field[COL_DATASET] + 1, "empty");
		return -1;
	}
	if (strcmp(im->v[COL_DATASET], im->select) != 0)
		return 2;

	static const struct {
		enum csv_col col;
		size_t max;
	} texts[] = {{COL_SUBJECT, 4096}, {COL_FORM_ID, 128}, {COL_OBJECTIVE, 1024}};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		const char *t = im->v[texts[i].col];
		size_t n = strlen(t);
		if (n == 0 || n > texts[i].max || !csv_text_ok(t)) {
			char why[128];
			snprintf(why, sizeof why,
			         "required: 1-%zu bytes of UTF-8 text without control characters",
			         texts[i].max);
			csv_error(im, line, im->field[texts[i].col] + 1, why);
			return -1;
		}
	}
	const char *w = im->v[COL_WITHDRAWN];
	if (strcmp(w, "true") == 0 || strcmp(w, "1") == 0) {
		im->withdrawn = true;
	} else if (strcmp(w, "false") == 0 || strcmp(w, "0") == 0 || !w[0]) {
		im->withdrawn = false;
	} else {
		csv_error(im, line, im->field[COL_WITHDRAWN] + 1, "true or false (empty: false)");
		return -1;
	}
	/* Purposes separated by spaces, split in place. */
	char *p = r->buf + r->off[im->field[COL_PURPOSES]], *save;
	im->n_purposes = 0;
	for (char *t = strtok_r(p, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		const char *why = NULL;
		if (im->n_purposes == CSV_MAX_PURPOSES)
			why = "at most 64 purposes";
		else if (strlen(t) > 63 || !csv_text_ok(t))
			why = "purposes are ids of the vocabulary, separated by spaces";
		for (size_t j = 0; !why && j < im->n_purposes; j++)
			if (strcmp(im->purposes[j], t) == 0)
				why = "a purpose listed twice";
		if (why) {
			csv_error(im, line, im->field[COL_PURPOSES] + 1, why);
			return -1;
		}
		im->purposes[im->n_purposes++] = t;
	}
	if (!im->n_purposes) {
		csv_error(im, line, im->field[COL_PURPOSES] + 1,
		          "required: 1-64 purposes of the vocabulary, separated by spaces");
		return -1;
	}
	return 1;
}

/* A growable array of the CSV lines behind a call's records, and of the
 * subjects to withdraw. */
struct csv_lines {
	size_t *v, n, cap;
};

static bool lines_push(struct csv_lines *l, size_t line)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		size_t *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return false;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = line;
	return true;
}

/* POSTs one call of NDJSON records; on a refusal that names a line of the
 * call, says which line of the file it is. */
static int csv_send(struct csv_import *im, const char *body, size_t len,
                    const struct csv_lines *lines, size_t *given)
{
	char *path = client_path("/v1/datasets/", im->ds, "/consents");
	if (!path)
		return CLI_EXIT_FAIL;
	client_result res;
	int rc = cli_call_body(im->ctx, "POST", path, "application/x-ndjson", body, len,
	                       &fiducia__v1__consent_receipts__descriptor, &res);
	free(path);
	size_t k;
	if (rc == CLI_EXIT_OK && res.msg)
		*given += ((const Fiducia__V1__ConsentReceipts *)res.msg)->n_receipts;
	else if (rc == CLI_EXIT_OK)
		*given += lines->n; /* --json: the body was printed as is */
	else if (res.error && res.error->message &&
	         sscanf(res.error->message, "line %zu:", &k) == 1 && k >= 1 && k <= lines->n)
		cli_error("(the call's line %zu is line %zu of %s)", k, lines->v[k - 1], im->file);
	if (rc != CLI_EXIT_OK)
		cli_error("the call with lines %zu-%zu of %s failed; %zu records before it are "
		          "stored",
		          lines->v[0], lines->v[lines->n - 1], im->file, *given);
	client_result_free(&res);
	return rc;
}

/*
 * import DS FILE.csv --select NAME: the whole file is read and checked first,
 * so that a malformed file sends nothing; then the rows of dataset NAME go as
 * NDJSON records in calls of per_call, and last the subjects marked withdrawn
 * are withdrawn one DELETE each. Subjects never appear in a message: rows are
 * named by their line.
 */
static int consent_import_csv(struct cli_ctx *ctx, const char *ds, const char *file,
                              const char *select, size_t per_call)
{
	struct csv_import im = {.ctx = ctx, .ds = ds, .file = file, .select = select};
	struct csv_lines call = {0}, wd_lines = {0};
	char *body = NULL, *wd = NULL;
	size_t blen = 0, bcap = 0, wlen = 0, wcap = 0, selected = 0, given = 0, withdrawn = 0;
	int rc = CLI_EXIT_FAIL, got;
	FILE *f = fopen(file, "rb");
	if (!f) {
		cli_error("cannot read %s", file);
		return CLI_EXIT_FAIL;
	}

	/* Pass 1: check every row, send nothing. */
	csv_start(&im.r, f);
	if (!csv_header(&im))
		goto nothing_sent;
	while ((got = csv_record(&im)) > 0)
		selected += got == 1;
	if (got < 0)
		goto nothing_sent;
	if (!selected) {
		cli_error("%s: no row has dataset %s; nothing was sent", file, select);
		goto fail;
	}

	/* Pass 2: give, in calls of per_call records. */
	csv_release(&im.r);
	memset(&im.r, 0, sizeof im.r);
	csv_start(&im.r, f);
	if (!csv_header(&im))
		goto fail;
	for (;;) {
		got = csv_record(&im);
		if (got < 0) {
			cli_error("%s changed while it was read; %zu consent records given before",
			          file, given);
			goto fail;
		}
		if (got == 1) {
			Fiducia__V1__ConsentRecord c = FIDUCIA__V1__CONSENT_RECORD__INIT;
			c.subject = (char *)im.v[COL_SUBJECT];
			c.form_id = (char *)im.v[COL_FORM_ID];
			c.objective = (char *)im.v[COL_OBJECTIVE];
			c.purposes = im.purposes;
			c.n_purposes = im.n_purposes;
			size_t n;
			char *json = pbjson_encode(&c.base, &n);
			if (!json || !lines_push(&call, im.r.rec_line)) {
				free(json);
				goto oom;
			}
			if (blen + n + 1 > bcap) {
				size_t cap = (blen + n + 1) * 2;
				char *nb = realloc(body, cap);
				if (!nb) {
					free(json);
					goto oom;
				}
				body = nb;
				bcap = cap;
			}
			memcpy(body + blen, json, n);
			blen += n;
			body[blen++] = '\n';
			free(json);
			if (im.withdrawn) {
				size_t sl = strlen(im.v[COL_SUBJECT]) + 1;
				if (wlen + sl > wcap) {
					size_t cap = (wlen + sl) * 2;
					char *nw = realloc(wd, cap);
					if (!nw)
						goto oom;
					wd = nw;
					wcap = cap;
				}
				memcpy(wd + wlen, im.v[COL_SUBJECT], sl);
				wlen += sl;
				if (!lines_push(&wd_lines, im.r.rec_line))
					goto oom;
			}
		}
		if (call.n && (call.n == per_call || got == 0)) {
			rc = csv_send(&im, body, blen, &call, &given);
			if (rc != CLI_EXIT_OK)
				goto out;
			blen = 0;
			call.n = 0;
		}
		if (got == 0)
			break;
	}

	/* Then the withdrawals, through the same call as `consent withdraw`. */
	rc = CLI_EXIT_OK;
	for (size_t i = 0, at = 0; i < wd_lines.n; i++) {
		rc = withdraw_subject(ctx, ds, wd + at, NULL, true);
		if (rc != CLI_EXIT_OK) {
			cli_error(
			        "the withdrawal for line %zu of %s failed; before it, %zu consent "
			        "records were given and %zu subjects withdrawn",
			        wd_lines.v[i], file, given, withdrawn);
			goto out;
		}
		withdrawn++;
		at += strlen(wd + at) + 1;
	}
	if (!ctx->json)
		printf("%s: %zu consent records given, %zu withdrawn (rows of %s in %s)\n", ds,
		       given, withdrawn, select, file);
	goto out;

nothing_sent:
	cli_error("nothing was sent");
fail:
	rc = CLI_EXIT_FAIL;
	goto out;
oom:
	cli_error("out of memory");
	rc = CLI_EXIT_FAIL;
out:
	csv_release(&im.r);
	free(body);
	free(wd);
	free(call.v);
	free(wd_lines.v);
	fclose(f);
	return rc;
}

static int consent_import(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *per = NULL, *select = NULL, *pos[2];
	const struct cli_opt opts[] = {{"--per-call", "N", &per, NULL},
	                               {"--select", "NAME", &select, NULL},
	                               {NULL, NULL, NULL, NULL}};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, pos, 2, 2, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	long per_call = per ? strtol(per, NULL, 10) : 50000;
	if (per_call < 1 || per_call > 1000000)
		return cli_usage_error(ctx, "--per-call: 1 to 1000000 records");
	size_t flen = strlen(pos[1]);
	bool csv = flen >= 4 && strcasecmp(pos[1] + flen - 4, ".csv") == 0;
	if (csv && !select)
		return cli_usage_error(ctx, "a CSV file needs --select NAME: the value of its "
		                            "dataset column to import");
	if (!csv && select)
		return cli_usage_error(ctx, "--select is for a CSV file (FILE.csv)");
	if (csv)
		return consent_import_csv(ctx, pos[0], pos[1], select, (size_t)per_call);
	FILE *f = fopen(pos[1], "rb");
	if (!f) {
		cli_error("cannot read %s", pos[1]);
		return CLI_EXIT_FAIL;
	}
	int c0;
	while ((c0 = fgetc(f)) == ' ' || c0 == '\n' || c0 == '\t' || c0 == '\r')
		;
	if (c0 == '[') { /* a JSON array: one call */
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		rewind(f);
		char *buf = len > 0 ? malloc((size_t)len) : NULL;
		if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			fclose(f);
			cli_error("cannot read %s", pos[1]);
			return CLI_EXIT_FAIL;
		}
		fclose(f);
		rc = send_records(ctx, pos[0], "application/json", buf, (size_t)len, false, NULL);
		free(buf);
		return rc;
	}
	/* NDJSON: calls of per_call lines; each all or nothing. */
	rewind(f);
	char *line = NULL, *body = NULL;
	size_t lcap = 0, blen = 0, bcap = 0, total = 0, in_call = 0, lineno = 0, first_line = 1;
	ssize_t n;
	rc = CLI_EXIT_OK;
	for (;;) {
		n = getline(&line, &lcap, f);
		if (n > 0) {
			lineno++;
			if (blen + (size_t)n + 1 > bcap) {
				bcap = (blen + (size_t)n + 1) * 2;
				char *nb = realloc(body, bcap);
				if (!nb) {
					rc = CLI_EXIT_FAIL;
					break;
				}
				body = nb;
			}
			memcpy(body + blen, line, (size_t)n);
			blen += (size_t)n;
			in_call++;
		}
		if ((n <= 0 && blen) || in_call == (size_t)per_call) {
			rc = send_records(ctx, pos[0], "application/x-ndjson", body, blen, true,
			                  &total);
			if (rc != CLI_EXIT_OK) {
				fprintf(stderr,
				        "fiducia: the call with lines %zu-%zu of %s was refused "
				        "(line numbers in the error count from the first of them); "
				        "%zu records before it are stored\n",
				        first_line, lineno, pos[1], total);
				break;
			}
			first_line = lineno + 1;
			blen = 0;
			in_call = 0;
		}
		if (n <= 0)
			break;
	}
	free(line);
	free(body);
	fclose(f);
	if (rc == CLI_EXIT_OK && !ctx->json)
		printf("%s: %zu consent records given\n", pos[0], total);
	return rc;
}

static int consent_show(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *pos[2];
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, NULL, pos, 2, 2, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	char *a = client_path("/v1/datasets/", pos[0], "/consents/");
	char *path = a ? client_path(a, pos[1], "") : NULL;
	free(a);
	if (!path)
		return CLI_EXIT_FAIL;
	client_result res;
	rc = cli_call(ctx, "GET", path, NULL, &fiducia__v1__subject_consents__descriptor, &res);
	free(path);
	if (rc == CLI_EXIT_OK && res.msg) {
		const Fiducia__V1__SubjectConsents *s =
		        (const Fiducia__V1__SubjectConsents *)res.msg;
		for (size_t i = 0; i < s->n_records; i++) {
			const Fiducia__V1__ConsentRecord *c = s->records[i];
			char t[OUTPUT_TIME_MAX];
			printf("%s  %s  form %s %s\n", c->id, state_name(c->state), c->form_id,
			       c->form_version);
			printf("  purposes:");
			for (size_t k = 0; k < c->n_purposes; k++)
				printf(" %s", c->purposes[k]);
			printf("\n  objective: ");
			output_text(stdout, c->objective);
			printf("\n  valid from %s", output_time(t, c->valid_from));
			if (c->valid_until)
				printf(" until %s", output_time(t, c->valid_until));
			printf("\n");
			for (size_t k = 0; k < c->n_history; k++)
				printf("  %s %s%s%s\n", output_time(t, c->history[k]->at),
				       c->history[k]->type, c->history[k]->purpose[0] ? " " : "",
				       c->history[k]->purpose);
		}
	}
	client_result_free(&res);
	return rc;
}

static int consent_withdraw(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *purpose = NULL, *pos[2];
	const struct cli_opt opts[] = {{"--purpose", "P", &purpose, NULL},
	                               {NULL, NULL, NULL, NULL}};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, pos, 2, 2, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	return withdraw_subject(ctx, pos[0], pos[1], purpose, false);
}

static int consent_erase(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *pos[2];
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, NULL, pos, 2, 2, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	char *a = client_path("/v1/datasets/", pos[0], "/subjects/");
	char *path = a ? client_path(a, pos[1], "/erase") : NULL;
	free(a);
	if (!path)
		return CLI_EXIT_FAIL;
	client_result res;
	rc = cli_call(ctx, "POST", path, NULL, &fiducia__v1__erasure_report__descriptor, &res);
	free(path);
	if (rc == CLI_EXIT_OK && res.msg) {
		const Fiducia__V1__ErasureReport *e = (const Fiducia__V1__ErasureReport *)res.msg;
		printf("erased: %lld rows from %lld chunks, %lld consent records; ledger index "
		       "%llu\n",
		       (long long)e->rows_erased, (long long)e->chunks_resealed,
		       (long long)e->consent_records_erased, (unsigned long long)e->ledger_index);
	}
	client_result_free(&res);
	return rc;
}

static const struct cli_subcmd consent_subs[] = {
        {"give",
         "DS --subject ID --purposes P,... --form-id ID --objective TEXT [--valid-until T] "
         "[--language TAG] [--collection-method TEXT]",
         consent_give, "record one subject's consent (holder)"},
        {"import", "DS FILE [--per-call N] [--select NAME]", consent_import,
         "record consents from a JSON array (one call) or NDJSON (calls of N records, 50000 by "
         "default; each all or nothing); or from FILE.csv (dataset,subject,purposes,form_id,"
         "objective,withdrawn), checked whole before anything is sent: its rows whose dataset "
         "is NAME, in calls of N, then a withdrawal for each row whose withdrawn is true"},
        {"show", "DS SUBJECT", consent_show, "a subject's consent records and their history"},
        {"withdraw", "DS SUBJECT [--purpose P]", consent_withdraw,
         "withdraw a subject's consent, or one purpose of it; it counts for the next query"},
        {"erase", "DS SUBJECT", consent_erase,
         "erase a subject's rows from the vault and their consent records (right to erasure)"},
        {NULL, NULL, NULL, NULL},
};

static int run_consent(struct cli_ctx *ctx, int argc, char **argv)
{
	return cli_run_sub(ctx, argc, argv);
}

const struct cli_cmd cmd_consent_entry = {"consent", "give|import|show|withdraw|erase", run_consent,
                                          consent_subs, NULL};
