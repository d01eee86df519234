/*
 * fiducia policy: ODRL policies. `check` compiles a document offline with the
 * same library and purpose vocabulary as the server (policy/), so its errors
 * are the server's; put, get and withdraw manage the versions of a dataset's
 * policy (holder) or of the baseline (--baseline, operator); explain asks
 * the server for a dry-run decision with its reasons.
 */
#include "cli.h"
#include "output.h"
#include "pbjson.h"
#include "pdp.h"

#include <stdlib.h>
#include <string.h>

#include "fiducia/v1/policies.pb-c.h"

extern const char fiducia_purposes_json[];
extern const size_t fiducia_purposes_json_len;

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(PDP_MAX_POLICY_SIZE + 2);
	size_t n = buf ? fread(buf, 1, PDP_MAX_POLICY_SIZE + 1, f) : 0;
	fclose(f);
	if (!buf || n > PDP_MAX_POLICY_SIZE) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void print_version(const Fiducia__V1__PolicyVersion *v, bool document)
{
	char t[OUTPUT_TIME_MAX], n[32], sha[65] = "";
	output_field(stdout, "scope", v->scope);
	snprintf(n, sizeof n, "%lld", (long long)v->version);
	output_field(stdout, "version", n);
	for (size_t i = 0; i < v->sha256.len && i < 32; i++)
		snprintf(sha + 2 * i, 3, "%02x", v->sha256.data[i]);
	output_field(stdout, "sha256", sha);
	output_field(stdout, "state", v->withdrawn ? "withdrawn" : "in force");
	output_field(stdout, "author", v->author);
	output_field(stdout, "created", output_time(t, v->created_at));
	snprintf(n, sizeof n, "%llu", (unsigned long long)v->ledger_index);
	output_field(stdout, "ledger index", n);
	if (document && v->document[0]) {
		printf("document:\n");
		output_text(stdout, v->document);
		printf("\n");
	}
}

/* Sends a raw body (or none) and prints the PolicyVersion it returns. */
static int version_call(struct cli_ctx *ctx, const char *method, const char *path, const char *body,
                        size_t len, bool document)
{
	client_result res;
	int rc = cli_call_body(ctx, method, path, body ? "application/json" : NULL, body, len,
	                       &fiducia__v1__policy_version__descriptor, &res);
	if (rc == CLI_EXIT_OK && res.msg)
		print_version((const Fiducia__V1__PolicyVersion *)res.msg, document);
	client_result_free(&res);
	return rc;
}

static char *scope_path(const char *ds, bool baseline)
{
	return baseline ? strdup("/v1/policy/baseline")
	                : client_path("/v1/datasets/", ds, "/policy");
}

static int policy_check(struct cli_ctx *ctx, int argc, char **argv)
{
	bool baseline = false;
	const char *pos[1];
	const struct cli_opt opts[] = {{"--baseline", NULL, NULL, &baseline},
	                               {NULL, NULL, NULL, NULL}};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, pos, 1, 1, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	size_t len;
	char *doc = slurp(pos[0], &len);
	if (!doc) {
		cli_error("cannot read %s (at most %d bytes)", pos[0], PDP_MAX_POLICY_SIZE);
		return CLI_EXIT_FAIL;
	}
	pdp_error e;
	pdp_vocab *v = pdp_vocab_load(fiducia_purposes_json, fiducia_purposes_json_len, &e);
	if (!v) {
		free(doc);
		cli_error("purpose vocabulary: %s", e.message);
		return CLI_EXIT_FAIL;
	}
	pdp_policy *p =
	        pdp_compile(v, baseline ? PDP_SCOPE_BASELINE : PDP_SCOPE_DATASET, doc, len, &e);
	free(doc);
	if (!p) {
		fprintf(stderr, "%s: %s: %s\n", pos[0], e.pointer[0] ? e.pointer : "/", e.message);
		pdp_vocab_free(v);
		return CLI_EXIT_FAIL;
	}
	printf("%s: a valid %s policy (%zu permissions, %zu prohibitions; assigner %s, target "
	       "%s)\n",
	       pos[0], baseline ? "baseline" : "dataset",
	       pdp_policy_rule_count(p, PDP_RULE_PERMISSION),
	       pdp_policy_rule_count(p, PDP_RULE_PROHIBITION), pdp_policy_assigner(p),
	       pdp_policy_target(p));
	pdp_policy_free(p);
	pdp_vocab_free(v);
	return CLI_EXIT_OK;
}

static int policy_put(struct cli_ctx *ctx, int argc, char **argv)
{
	bool baseline = false;
	const char *pos[2];
	const struct cli_opt opts[] = {{"--baseline", NULL, NULL, &baseline},
	                               {NULL, NULL, NULL, NULL}};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, pos, 1, 2, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	if (npos != (baseline ? 1u : 2u))
		return cli_usage_error(ctx,
		                       "usage: policy put DS FILE, or policy put --baseline FILE");
	const char *file = pos[npos - 1];
	size_t len;
	char *doc = slurp(file, &len);
	if (!doc) {
		cli_error("cannot read %s (at most %d bytes)", file, PDP_MAX_POLICY_SIZE);
		return CLI_EXIT_FAIL;
	}
	char *path = scope_path(pos[0], baseline);
	rc = path ? version_call(ctx, "PUT", path, doc, len, false) : CLI_EXIT_FAIL;
	free(path);
	free(doc);
	return rc;
}

static int policy_get(struct cli_ctx *ctx, int argc, char **argv)
{
	bool baseline = false;
	const char *version = NULL, *pos[1];
	const struct cli_opt opts[] = {{"--baseline", NULL, NULL, &baseline},
	                               {"--version", "N", &version, NULL},
	                               {NULL, NULL, NULL, NULL}};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, pos, 0, 1, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!baseline && npos != 1)
		return cli_usage_error(ctx, "missing the dataset id");
	char *path = scope_path(npos ? pos[0] : "", baseline);
	if (!path)
		return CLI_EXIT_FAIL;
	if (version) {
		char *end;
		long v = strtol(version, &end, 10);
		if (*end || v < 1) {
			free(path);
			return cli_usage_error(ctx, "--version %s: a positive integer", version);
		}
		char *p2 = malloc(strlen(path) + 32);
		if (!p2) {
			free(path);
			return CLI_EXIT_FAIL;
		}
		sprintf(p2, "%s?version=%ld", path, v);
		free(path);
		path = p2;
	}
	rc = version_call(ctx, "GET", path, NULL, 0, true);
	free(path);
	return rc;
}

static int policy_withdraw(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *pos[1];
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, NULL, pos, 1, 1, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	char *path = scope_path(pos[0], false);
	rc = path ? version_call(ctx, "DELETE", path, NULL, 0, false) : CLI_EXIT_FAIL;
	free(path);
	return rc;
}

/* explain DS --purpose P [--measure FN[:COLUMN]] [--group COLUMN[:BUCKET]] [--filter COLUMN]
 * [--requester ORG]: repeated options are given comma-separated. */
static int policy_explain(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *purpose = NULL, *measures = NULL, *groups = NULL, *filters = NULL,
	           *requester = NULL, *pos[1];
	const struct cli_opt opts[] = {{"--purpose", "PURPOSE", &purpose, NULL},
	                               {"--measures", "FN[:COL],...", &measures, NULL},
	                               {"--group-by", "COL[:BUCKET],...", &groups, NULL},
	                               {"--filters", "COL,...", &filters, NULL},
	                               {"--requester", "ORG", &requester, NULL},
	                               {NULL, NULL, NULL, NULL}};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, pos, 1, 1, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!purpose)
		return cli_usage_error(ctx,
		                       "missing --purpose (e.g. dpv:ImproveTransportMobility)");
	Fiducia__V1__EvaluateRequest q = FIDUCIA__V1__EVALUATE_REQUEST__INIT;
	q.dataset = (char *)pos[0];
	q.purpose = (char *)purpose;
	q.requester = (char *)(requester ? requester : "");
	enum { MAXN = 64 };
	Fiducia__V1__EvaluateRequest__Measure ms[MAXN], *msp[MAXN];
	Fiducia__V1__EvaluateRequest__Group gs[MAXN], *gsp[MAXN];
	char *fs[MAXN];
	char *mcopy = strdup(measures ? measures : ""), *gcopy = strdup(groups ? groups : ""),
	     *fcopy = strdup(filters ? filters : "");
	if (!mcopy || !gcopy || !fcopy) {
		free(mcopy);
		free(gcopy);
		free(fcopy);
		return CLI_EXIT_FAIL;
	}
	char *save;
	for (char *t = strtok_r(mcopy, ",", &save); t && q.n_measures < MAXN;
	     t = strtok_r(NULL, ",", &save)) {
		Fiducia__V1__EvaluateRequest__Measure *m = &ms[q.n_measures];
		fiducia__v1__evaluate_request__measure__init(m);
		char *c = strchr(t, ':');
		if (c)
			*c++ = '\0';
		m->fn = t;
		m->column = c ? c : "";
		msp[q.n_measures++] = m;
	}
	for (char *t = strtok_r(gcopy, ",", &save); t && q.n_group_by < MAXN;
	     t = strtok_r(NULL, ",", &save)) {
		Fiducia__V1__EvaluateRequest__Group *g = &gs[q.n_group_by];
		fiducia__v1__evaluate_request__group__init(g);
		char *c = strchr(t, ':');
		if (c)
			*c++ = '\0';
		g->column = t;
		g->bucket = c ? c : "";
		gsp[q.n_group_by++] = g;
	}
	for (char *t = strtok_r(fcopy, ",", &save); t && q.n_filters < MAXN;
	     t = strtok_r(NULL, ",", &save))
		fs[q.n_filters++] = t;
	q.measures = msp;
	q.group_by = gsp;
	q.filters = fs;
	client_result res;
	rc = cli_call(ctx, "POST", "/v1/policy/evaluate", &q.base,
	              &fiducia__v1__decision__descriptor, &res);
	if (rc == CLI_EXIT_OK && res.msg) {
		const Fiducia__V1__Decision *d = (const Fiducia__V1__Decision *)res.msg;
		printf("decision: %s\n", d->effect);
		for (size_t i = 0; i < d->n_reasons; i++) {
			printf("  because: ");
			output_text(stdout, d->reasons[i]);
			printf("\n");
		}
		if (d->obligations) {
			const Fiducia__V1__Obligations *o = d->obligations;
			printf("obligations: k >= %u", o->min_group_size);
			if (o->epsilon_per_query > 0)
				printf(", epsilon %.6g per query", o->epsilon_per_query);
			if (o->epsilon_budget > 0)
				printf(", budget %.6g per %s", o->epsilon_budget, o->budget_period);
			if (o->finest_time_bucket[0])
				printf(", time buckets %s or coarser", o->finest_time_bucket);
			if (o->max_contributions_per_subject)
				printf(", at most %u rows per subject",
				       o->max_contributions_per_subject);
			if (o->dominance_threshold > 0)
				printf(", dominance above %.0f%%", o->dominance_threshold * 100);
			printf("\n");
		}
		for (size_t i = 0; i < d->n_matched; i++)
			printf("  matched: %s %s %u\n", d->matched[i]->scope, d->matched[i]->type,
			       d->matched[i]->index);
		for (size_t i = 0; i < d->n_policies; i++)
			printf("  under: %s version %lld\n", d->policies[i]->scope,
			       (long long)d->policies[i]->version);
	}
	client_result_free(&res);
	free(mcopy);
	free(gcopy);
	free(fcopy);
	return rc;
}

static const struct cli_subcmd policy_subs[] = {
        {"check", "FILE [--baseline]", policy_check,
         "validate a policy offline, with the server's own rules and messages"},
        {"put", "DS FILE | --baseline FILE", policy_put,
         "put a new version of a dataset's policy (holder) or of the baseline (operator)"},
        {"get", "DS [--version N] | --baseline [--version N]", policy_get,
         "show the version in force, or version N"},
        {"withdraw", "DS", policy_withdraw,
         "withdraw a dataset's policy: every later query is denied (holder)"},
        {"explain",
         "DS --purpose P [--measures FN[:COL],...] [--group-by COL[:BUCKET],...] "
         "[--filters COL,...] [--requester ORG]",
         policy_explain, "a dry-run decision with its reasons and obligations; no data touched"},
        {NULL, NULL, NULL, NULL},
};

static int run_policy(struct cli_ctx *ctx, int argc, char **argv)
{
	return cli_run_sub(ctx, argc, argv);
}

const struct cli_cmd cmd_policy_entry = {"policy", "check|put|get|withdraw|explain", run_policy,
                                         policy_subs, NULL};
