/*
 * fiducia query FILE.json: sends a fiducia.v1.Query (proto3 JSON, checked
 * to be one before it is sent; "-" reads stdin) to POST /v1/queries and
 * prints the released aggregates: a table with each noisy value and its 95%
 * interval, then what was suppressed, spent and recorded; or, with --csv,
 * the rows at full precision for other tools.
 */
#include "cli.h"
#include "output.h"
#include "pbjson.h"

#include <stdlib.h>
#include <string.h>

#include "fiducia/v1/queries.pb-c.h"

#define QUERY_FILE_MAX (4 << 20) /* bytes of a query file (IN lists make it long) */

/* All of f (at most QUERY_FILE_MAX bytes) in a malloc'd buffer; NULL when
 * it cannot be read or is larger. */
static char *query_read(FILE *f, size_t *len)
{
	size_t cap = 0, n = 0;
	char *buf = NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			if (cap > QUERY_FILE_MAX + 1)
				cap = QUERY_FILE_MAX + 1;
			if (n == cap)
				goto fail; /* larger than QUERY_FILE_MAX */
			char *nb = realloc(buf, cap);
			if (!nb)
				goto fail;
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f))
				goto fail;
			break;
		}
	}
	if (n > QUERY_FILE_MAX)
		goto fail;
	*len = n;
	return buf;
fail:
	free(buf);
	return NULL;
}

/* A released value for a reader: "1234.5 ±12.3", or "1234.5" when exact. */
static void query_cell(char *buf, size_t len, const Fiducia__V1__MeasureValue *v)
{
	char a[OUTPUT_NUM_MAX], b[OUTPUT_NUM_MAX];
	output_number(a, v->value);
	if (v->ci95 > 0)
		snprintf(buf, len, "%s \u00b1%s", a, output_number(b, v->ci95));
	else
		snprintf(buf, len, "%s", a);
}

/*
 * The rows as an aligned table: the group keys, then one column per measure
 * label of the first row. "no groups released" when there are none. false on
 * out-of-memory.
 */
static bool query_print_table(FILE *out, const Fiducia__V1__QueryResponse *r)
{
	if (r->n_rows == 0) {
		fputs("no groups released\n", out);
		return true;
	}
	size_t nkeys = r->n_columns, nvals = r->rows[0]->n_values, ncols = nkeys + nvals;
	if (ncols == 0) { /* rows with neither keys nor values: nothing to show */
		fprintf(out, "%zu empty rows\n", r->n_rows);
		return true;
	}
	bool ok = false;
	const char **cells = calloc(ncols, sizeof *cells);
	char *text = calloc(nvals ? nvals : 1, 2 * OUTPUT_NUM_MAX + 8);
	output_table *t = NULL;
	if (!cells || !text)
		goto out;
	for (size_t c = 0; c < nkeys; c++)
		cells[c] = r->columns[c];
	for (size_t c = 0; c < nvals; c++)
		cells[nkeys + c] = r->rows[0]->values[c]->measure;
	if (!(t = output_table_new(ncols, cells)))
		goto out;
	for (size_t i = 0; i < r->n_rows; i++) {
		const Fiducia__V1__ResultRow *row = r->rows[i];
		for (size_t c = 0; c < nkeys; c++)
			cells[c] = c < row->n_keys ? row->keys[c] : NULL;
		for (size_t c = 0; c < nvals; c++) {
			char *cell = text + c * (2 * OUTPUT_NUM_MAX + 8);
			cell[0] = '\0';
			if (c < row->n_values)
				query_cell(cell, 2 * OUTPUT_NUM_MAX + 8, row->values[c]);
			cells[nkeys + c] = cell;
		}
		if (!output_table_add(t, cells))
			goto out;
	}
	output_table_print(t, out);
	ok = true;
out:
	output_table_free(t);
	free(text);
	free(cells);
	return ok;
}

/* What comes after the table: suppression, privacy budget, policies, ledger. */
static void query_print_summary(FILE *out, const Fiducia__V1__QueryResponse *r)
{
	char n[OUTPUT_NUM_MAX], line[256];
	int64_t listed = 0;
	for (size_t i = 0; i < r->n_suppressed; i++) {
		const Fiducia__V1__Suppressed *s = r->suppressed[i];
		listed += s->groups;
		snprintf(line, sizeof line, "%lld group%s (%s)", (long long)s->groups,
		         s->groups == 1 ? "" : "s", s->reason[0] ? s->reason : "unspecified");
		output_field(out, "suppressed", line);
	}
	if (r->suppressed_groups > listed) { /* a total the reasons do not break down */
		snprintf(line, sizeof line, "%lld group%s in all", (long long)r->suppressed_groups,
		         r->suppressed_groups == 1 ? "" : "s");
		output_field(out, "suppressed", line);
	}
	if (r->privacy[0])
		output_field(out, "privacy", r->privacy);
	output_field(out, "epsilon spent", output_number(n, r->epsilon_spent));
	if (r->budget_remaining >= 0) {
		output_number(n, r->budget_remaining);
		if (r->budget_period_end[0])
			snprintf(line, sizeof line, "%s (period ends %s)", n, r->budget_period_end);
		else
			snprintf(line, sizeof line, "%s", n);
		output_field(out, "budget remaining", line);
	} else {
		output_field(out, "budget remaining", "no budget applies");
	}
	fputs("policies applied: ", out);
	for (size_t i = 0; i < r->n_policies; i++) {
		fputs(i ? ", " : "", out);
		output_text(out, r->policies[i]->scope);
		fprintf(out, " v%lld", (long long)r->policies[i]->version);
	}
	fputs(r->n_policies ? "\n" : "-\n", out);
	fprintf(out, "ledger index: %llu\n", (unsigned long long)r->ledger_index);
	if (r->repeat)
		fprintf(out, "repeat of ledger entry %llu (no budget spent)\n",
		        (unsigned long long)r->repeat_of);
}

/*
 * The rows as CSV (RFC 4180 quoting, LF line ends): the group keys, then for
 * each measure label of the first row the value and "<label>_ci95", numbers
 * in the fewest digits that read back exactly.
 */
static void query_print_csv(FILE *out, const Fiducia__V1__QueryResponse *r)
{
	size_t nvals = r->n_rows ? r->rows[0]->n_values : 0;
	bool first = true;
	for (size_t c = 0; c < r->n_columns; c++, first = false) {
		fputs(first ? "" : ",", out);
		output_csv_field(out, r->columns[c]);
	}
	for (size_t c = 0; c < nvals; c++, first = false) {
		const char *label = r->rows[0]->values[c]->measure;
		size_t len = strlen(label) + sizeof "_ci95";
		char *ci = malloc(len);
		fputs(first ? "" : ",", out);
		output_csv_field(out, label);
		fputc(',', out);
		if (ci)
			snprintf(ci, len, "%s_ci95", label);
		output_csv_field(out, ci ? ci : "ci95");
		free(ci);
	}
	fputc('\n', out);
	for (size_t i = 0; i < r->n_rows; i++) {
		const Fiducia__V1__ResultRow *row = r->rows[i];
		first = true;
		for (size_t c = 0; c < r->n_columns; c++, first = false) {
			fputs(first ? "" : ",", out);
			output_csv_field(out, c < row->n_keys ? row->keys[c] : "");
		}
		for (size_t c = 0; c < nvals; c++, first = false) {
			char a[OUTPUT_NUM_MAX], b[OUTPUT_NUM_MAX];
			fputs(first ? "" : ",", out);
			if (c < row->n_values)
				fprintf(out, "%s,%s", output_number_exact(a, row->values[c]->value),
				        output_number_exact(b, row->values[c]->ci95));
			else
				fputc(',', out);
		}
		fputc('\n', out);
	}
}

static int run_query(struct cli_ctx *ctx, int argc, char **argv)
{
	bool json = false, csv = false;
	const char *pos[1];
	const struct cli_opt opts[] = {{"--json", NULL, NULL, &json},
	                               {"--csv", NULL, NULL, &csv},
	                               {NULL, NULL, NULL, NULL}};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, pos, 1, 1, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	if (json)
		ctx->json = true;
	if (csv && ctx->json)
		return cli_usage_error(ctx, "--csv and --json: one or the other");

	bool from_stdin = strcmp(pos[0], "-") == 0;
	const char *name = from_stdin ? "stdin" : pos[0];
	FILE *f = from_stdin ? stdin : fopen(pos[0], "rb");
	size_t len = 0;
	char *text = f ? query_read(f, &len) : NULL;
	if (f && !from_stdin)
		fclose(f);
	if (!text) {
		cli_error("cannot read %s (a JSON file of at most %d MiB)", name,
		          QUERY_FILE_MAX >> 20);
		return CLI_EXIT_FAIL;
	}
	ProtobufCMessage *q = NULL;
	pbjson_error e;
	bool ok = pbjson_decode(&fiducia__v1__query__descriptor, text, len, NULL, &q, &e);
	free(text);
	if (!ok) {
		cli_error("%s: not a fiducia.v1.Query: %s", name, e.message);
		return CLI_EXIT_FAIL;
	}

	client_result res;
	rc = cli_call(ctx, "POST", "/v1/queries", q, &fiducia__v1__query_response__descriptor,
	              &res);
	protobuf_c_message_free_unpacked(q, NULL);
	if (rc == CLI_EXIT_OK && res.msg) {
		const Fiducia__V1__QueryResponse *r = (const Fiducia__V1__QueryResponse *)res.msg;
		if (csv) {
			query_print_csv(stdout, r);
		} else if (query_print_table(stdout, r)) {
			query_print_summary(stdout, r);
		} else {
			cli_error("out of memory");
			rc = CLI_EXIT_FAIL;
		}
	}
	client_result_free(&res);
	return rc;
}

const struct cli_cmd cmd_query_entry = {
        .name = "query",
        .usage = "FILE.json [--json | --csv]",
        .run = run_query,
        .help = "ask an aggregate query (a fiducia.v1.Query in JSON; - reads stdin): the "
                "released groups, each value with its 95% noise interval, then what was "
                "suppressed, the budget spent and left, the policies and the ledger index; "
                "--csv prints the rows alone at full precision",
};
