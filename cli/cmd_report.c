/*
 * fiducia report activity: GET /v1/reports/activity, the activity report of
 * DGA Art. 20 that fiduciad computes from its own ledger entries: per
 * dataset, requester and purpose, the queries granted and denied (with the
 * most frequent denial reason), the epsilon spent, deposits, consent and
 * policy changes. A regulator or the operator reads every dataset, a holder
 * its own.
 */
#include "cli.h"
#include "output.h"

#include <event2/http.h>
#include <stdlib.h>
#include <string.h>

#include "fiducia/v1/ledger.pb-c.h"

#define REPORT_PATH_MAX 1024

/* Appends "&name=<value percent-encoded>" to path; false when it does not fit. */
static bool add_param(char *path, size_t cap, const char *name, const char *value)
{
	if (!value)
		return true;
	char *enc = evhttp_uriencode(value, -1, 0);
	if (!enc)
		return false;
	size_t n = strlen(path);
	int w = snprintf(path + n, cap - n, "%c%s=%s", strchr(path, '?') ? '&' : '?', name, enc);
	free(enc);
	return w > 0 && (size_t)w < cap - n;
}

static bool report_print_table(FILE *out, const Fiducia__V1__ActivityReport *a)
{
	static const char *const head[] = {"DATASET",  "REQUESTER",  "PURPOSE",   "GRANTED",
	                                   "DENIED",   "EPSILON",    "DEPOSITS",  "CONSENTS +/-",
	                                   "POLICIES", "TECHNIQUES", "TOP DENIAL"};
	output_table *t = output_table_new(11, head);
	for (size_t i = 0; t && i < a->n_rows; i++) {
		const Fiducia__V1__ActivityReport__Row *r = a->rows[i];
		char g[24], d[24], eps[OUTPUT_NUM_MAX], dep[24], con[48], pol[24], tech[256] = "";
		snprintf(g, sizeof g, "%lld", (long long)r->queries_granted);
		snprintf(d, sizeof d, "%lld", (long long)r->queries_denied);
		snprintf(dep, sizeof dep, "%lld", (long long)r->deposits);
		snprintf(con, sizeof con, "%lld/%lld", (long long)r->consents_given,
		         (long long)(r->consents_withdrawn + r->consents_erased));
		snprintf(pol, sizeof pol, "%lld", (long long)r->policy_changes);
		for (size_t k = 0; k < r->n_techniques; k++) {
			size_t n = strlen(tech);
			snprintf(tech + n, sizeof tech - n, "%s%s", k ? "," : "", r->techniques[k]);
		}
		const char *top = r->n_top_denial_reasons ? r->top_denial_reasons[0]->reason : "";
		const char *row[] = {r->dataset, r->requester,
		                     r->purpose, g,
		                     d,          output_number(eps, r->epsilon_spent),
		                     dep,        con,
		                     pol,        tech,
		                     top};
		if (!output_table_add(t, row)) {
			output_table_free(t);
			t = NULL;
		}
	}
	if (!t)
		return false;
	output_table_print(t, out);
	output_table_free(t);
	char f[OUTPUT_TIME_MAX], to[OUTPUT_TIME_MAX];
	fprintf(out, "from %s to %s, %llu ledger entries read\n", output_time(f, a->from),
	        output_time(to, a->to), (unsigned long long)a->entries_read);
	return true;
}

static int report_activity(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *ds = NULL;
	bool csv = false;
	const struct cli_opt opts[] = {{"--from", "TIME", &from, NULL},
	                               {"--to", "TIME", &to, NULL},
	                               {"--dataset", "DS", &ds, NULL},
	                               {"--csv", NULL, NULL, &csv},
	                               {NULL, NULL, NULL, NULL}};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, NULL, 0, 0, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	char path[REPORT_PATH_MAX] = "/v1/reports/activity";
	if (!add_param(path, sizeof path, "from", from) ||
	    !add_param(path, sizeof path, "to", to) ||
	    !add_param(path, sizeof path, "dataset", ds) ||
	    !add_param(path, sizeof path, "format", csv ? "csv" : NULL))
		return cli_usage_error(ctx, "the options are too long");
	client_result res;
	if (csv) { /* the server's CSV as it comes, control characters but line ends made harmless
		    */
		if ((rc = cli_connect(ctx)) != CLI_EXIT_OK)
			return rc;
		client_status st = client_call(ctx->client, "GET", path, NULL, NULL, &res);
		if (st != CLIENT_OK)
			rc = output_call_error(client_url(ctx->client), st, &res);
		for (size_t i = 0; st == CLIENT_OK && i < res.body_len; i++) {
			unsigned char c = (unsigned char)res.body[i];
			putchar((c < 0x20 && c != '\n' && c != '\r') || c == 0x7f ? '?' : c);
		}
		client_result_free(&res);
		return rc;
	}
	rc = cli_call(ctx, "GET", path, NULL, &fiducia__v1__activity_report__descriptor, &res);
	if (rc == CLI_EXIT_OK && res.msg &&
	    !report_print_table(stdout, (const Fiducia__V1__ActivityReport *)res.msg)) {
		cli_error("out of memory");
		rc = CLI_EXIT_FAIL;
	}
	client_result_free(&res);
	return rc;
}

static const struct cli_subcmd report_subs[] = {
        {"activity", "[--from TIME] [--to TIME] [--dataset DS] [--csv]", report_activity,
         "the activity report (DGA Art. 20) from the ledger's entries: queries granted and denied "
         "with the top denial reason, epsilon spent, deposits, consent and policy changes, per "
         "dataset, requester and purpose (regulator or operator: every dataset; holder: its own)"},
        {NULL, NULL, NULL, NULL},
};

const struct cli_cmd cmd_report_entry = {"report", "activity", cli_run_sub, report_subs, NULL};
