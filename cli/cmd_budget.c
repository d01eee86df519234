/*
 * fiducia budget: GET /v1/budgets, the caller's differential-privacy budgets,
 * one row per dataset and period: epsilon granted, spent and left, and how
 * many queries spent it.
 */
#include "cli.h"
#include "output.h"

#include "fiducia/v1/queries.pb-c.h"

/* The budgets as an aligned table (headings alone when there are none); false
 * on out-of-memory. */
static bool budget_print_table(FILE *out, const Fiducia__V1__BudgetsResponse *b)
{
	static const char *const head[] = {"DATASET", "PERIOD START", "PERIOD END", "EPSILON TOTAL",
	                                   "SPENT",   "REMAINING",    "QUERIES"};
	output_table *t = output_table_new(7, head);
	for (size_t i = 0; t && i < b->n_budgets; i++) {
		const Fiducia__V1__Budget *g = b->budgets[i];
		char total[OUTPUT_NUM_MAX], spent[OUTPUT_NUM_MAX], left[OUTPUT_NUM_MAX], n[32];
		snprintf(n, sizeof n, "%lld", (long long)g->queries);
		const char *row[] = {g->dataset,
		                     g->period_start,
		                     g->period_end,
		                     output_number(total, g->epsilon_total),
		                     output_number(spent, g->epsilon_spent),
		                     output_number(left, g->epsilon_remaining),
		                     n};
		if (!output_table_add(t, row)) {
			output_table_free(t);
			t = NULL;
		}
	}
	if (!t)
		return false;
	output_table_print(t, out);
	output_table_free(t);
	return true;
}

static int run_budget(struct cli_ctx *ctx, int argc, char **argv)
{
	bool json = false;
	const struct cli_opt opts[] = {{"--json", NULL, NULL, &json}, {NULL, NULL, NULL, NULL}};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, NULL, 0, 0, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	if (json)
		ctx->json = true;
	client_result res;
	rc = cli_call(ctx, "GET", "/v1/budgets", NULL, &fiducia__v1__budgets_response__descriptor,
	              &res);
	if (rc == CLI_EXIT_OK && res.msg &&
	    !budget_print_table(stdout, (const Fiducia__V1__BudgetsResponse *)res.msg)) {
		cli_error("out of memory");
		rc = CLI_EXIT_FAIL;
	}
	client_result_free(&res);
	return rc;
}

const struct cli_cmd cmd_budget_entry = {
        .name = "budget",
        .usage = "[--json]",
        .run = run_budget,
        .help = "show your privacy budgets: per dataset and period, epsilon granted, spent and "
                "remaining, and the queries that spent it",
};
