/*
 * fiducia consent: data subjects' consent records on a personal dataset
 * (holder). give builds one record from flags; import sends a file of
 * records (a JSON array, or NDJSON: one record per line, sent in calls of
 * --per-call records, each call all or nothing); show prints a subject's
 * records and history; withdraw withdraws all of them or one purpose. The
 * subject is the holder's own identifier: fiduciad pseudonymises it at once.
 */
#include "cli.h"
#include "output.h"
#include "pbjson.h"

#include <stdlib.h>
#include <string.h>
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

static int consent_import(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *per = NULL, *pos[2];
	const struct cli_opt opts[] = {{"--per-call", "N", &per, NULL}, {NULL, NULL, NULL, NULL}};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, pos, 2, 2, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	long per_call = per ? strtol(per, NULL, 10) : 50000;
	if (per_call < 1 || per_call > 1000000)
		return cli_usage_error(ctx, "--per-call: 1 to 1000000 records");
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
	char *a = client_path("/v1/datasets/", pos[0], "/consents/");
	char *b = a ? client_path(a, pos[1], purpose ? "?purpose=" : "") : NULL;
	char *path = b && purpose ? client_path(b, purpose, "") : b;
	if (path != b)
		free(b);
	free(a);
	if (!path)
		return CLI_EXIT_FAIL;
	client_result res;
	rc = cli_call(ctx, "DELETE", path, NULL, &fiducia__v1__consent_receipts__descriptor, &res);
	free(path);
	if (rc == CLI_EXIT_OK && res.msg)
		print_receipts((const Fiducia__V1__ConsentReceipts *)res.msg, true);
	client_result_free(&res);
	return rc;
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
        {"import", "DS FILE [--per-call N]", consent_import,
         "record consents from a JSON array (one call) or NDJSON (calls of N records, 50000 by "
         "default; each all or nothing)"},
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
