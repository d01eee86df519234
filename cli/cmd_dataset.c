/*
 * fiducia dataset: the /v1/datasets resource. create reads a schema file
 * (a CreateDatasetRequest in JSON, e.g. the vault issue's probe-speeds
 * example) and checks it is well-formed JSON of that shape before sending;
 * the server checks the schema's rules.
 */
#include "cli.h"
#include "output.h"
#include "pbjson.h"

#include <stdlib.h>
#include <string.h>

#include "fiducia/v1/datasets.pb-c.h"

#define SCHEMA_FILE_MAX (1 << 20)

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v, char buf[16])
{
	const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
	if (e)
		return e->name;
	snprintf(buf, 16, "%d", v);
	return buf;
}

static void print_dataset(const Fiducia__V1__Dataset *d)
{
	char t[OUTPUT_TIME_MAX], n[32], b[16];
	output_field(stdout, "id", d->id);
	output_field(stdout, "name", d->name);
	output_field(stdout, "holder", d->holder);
	output_field(stdout, "description", d->description);
	output_field(stdout, "personal data", d->personal_data ? "yes" : "no");
	output_field(stdout, "state",
	             enum_name(&fiducia__v1__dataset__state__descriptor, (int)d->state, b));
	snprintf(n, sizeof n, "%lld", (long long)d->rows);
	output_field(stdout, "rows", n);
	snprintf(n, sizeof n, "%lld", (long long)d->batches);
	output_field(stdout, "batches", n);
	snprintf(n, sizeof n, "%d", d->key_version);
	output_field(stdout, "key version", n);
	output_field(stdout, "created", output_time(t, d->created_at));
	if (d->withdrawn_at)
		output_field(stdout, "withdrawn", output_time(t, d->withdrawn_at));
	printf("columns:\n");
	for (size_t i = 0; i < d->n_columns; i++) {
		const Fiducia__V1__Column *c = d->columns[i];
		char tb[16], rb[16];
		printf("  ");
		output_text(stdout, c->name);
		printf("  %s  %s",
		       enum_name(&fiducia__v1__column__type__descriptor, (int)c->type, tb),
		       enum_name(&fiducia__v1__column__role__descriptor, (int)c->role, rb));
		if (c->role == FIDUCIA__V1__COLUMN__ROLE__MEASURE)
			printf("  [%.17g, %.17g]", c->min, c->max);
		printf("\n");
	}
}

static int dataset_call(struct cli_ctx *ctx, const char *method, const char *path,
                        const ProtobufCMessage *req)
{
	client_result res;
	int rc = cli_call(ctx, method, path, req, &fiducia__v1__dataset__descriptor, &res);
	if (rc == CLI_EXIT_OK && res.msg)
		print_dataset((const Fiducia__V1__Dataset *)res.msg);
	client_result_free(&res);
	return rc;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(SCHEMA_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, SCHEMA_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (!buf || n > SCHEMA_FILE_MAX) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static int dataset_create(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *file = NULL;
	const struct cli_opt opts[] = {{"--schema", "FILE", &file, NULL}, {NULL, NULL, NULL, NULL}};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, NULL, 0, 0, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!file)
		return cli_usage_error(ctx, "missing --schema FILE");
	size_t len;
	char *json = read_file(file, &len);
	if (!json) {
		cli_error("cannot read %s (a JSON file of at most 1 MiB)", file);
		return CLI_EXIT_FAIL;
	}
	ProtobufCMessage *req = NULL;
	pbjson_error e;
	bool ok = pbjson_decode(&fiducia__v1__create_dataset_request__descriptor, json, len, NULL,
	                        &req, &e);
	free(json);
	if (!ok) {
		cli_error("%s: %s", file, e.message);
		return CLI_EXIT_FAIL;
	}
	rc = dataset_call(ctx, "POST", "/v1/datasets", req);
	protobuf_c_message_free_unpacked(req, NULL);
	return rc;
}

static int dataset_list(struct cli_ctx *ctx, int argc, char **argv)
{
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, NULL, NULL, 0, 0, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	client_result res;
	rc = cli_call(ctx, "GET", "/v1/datasets", NULL,
	              &fiducia__v1__list_datasets_response__descriptor, &res);
	if (rc == CLI_EXIT_OK && res.msg) {
		const Fiducia__V1__ListDatasetsResponse *l =
		        (const Fiducia__V1__ListDatasetsResponse *)res.msg;
		static const char *const head[] = {"ID",       "NAME", "HOLDER",
		                                   "PERSONAL", "ROWS", "STATE"};
		output_table *t = output_table_new(6, head);
		for (size_t i = 0; t && i < l->n_datasets; i++) {
			const Fiducia__V1__Dataset *d = l->datasets[i];
			char rows[32], sb[16];
			snprintf(rows, sizeof rows, "%lld", (long long)d->rows);
			const char *row[] = {
			        d->id,
			        d->name,
			        d->holder,
			        d->personal_data ? "yes" : "no",
			        rows,
			        enum_name(&fiducia__v1__dataset__state__descriptor, (int)d->state, sb)};
			if (!output_table_add(t, row)) {
				output_table_free(t);
				t = NULL;
			}
		}
		if (!t) {
			cli_error("out of memory");
			rc = CLI_EXIT_FAIL;
		} else {
			output_table_print(t, stdout);
			output_table_free(t);
		}
	}
	client_result_free(&res);
	return rc;
}

/* show, withdraw, ...: one dataset id, percent-encoded into the path. */
static char *ds_path(struct cli_ctx *ctx, int argc, char **argv, const char *suffix, int *rc)
{
	const char *pos[1];
	size_t npos;
	*rc = cli_args_parse(ctx, argc, argv, NULL, pos, 0, 1, &npos);
	if (*rc != CLI_CONTINUE)
		return NULL;
	if (npos < 1 || !*pos[0]) {
		*rc = cli_usage_error(ctx, "missing the dataset id (ds-...)");
		return NULL;
	}
	char *path = client_path("/v1/datasets/", pos[0], suffix);
	if (!path) {
		cli_error("out of memory");
		*rc = CLI_EXIT_FAIL;
	}
	return path;
}

/* show and withdraw: one call on the dataset, the Dataset printed. */
static int dataset_simple(struct cli_ctx *ctx, int argc, char **argv, const char *method)
{
	int rc;
	char *path = ds_path(ctx, argc, argv, "", &rc);
	if (!path)
		return rc;
	rc = dataset_call(ctx, method, path, NULL);
	free(path);
	return rc;
}

static int dataset_show(struct cli_ctx *ctx, int argc, char **argv)
{
	return dataset_simple(ctx, argc, argv, "GET");
}

static int dataset_withdraw(struct cli_ctx *ctx, int argc, char **argv)
{
	return dataset_simple(ctx, argc, argv, "DELETE");
}

static int dataset_rotate_key(struct cli_ctx *ctx, int argc, char **argv)
{
	int rc;
	char *path = ds_path(ctx, argc, argv, "/keys/rotate", &rc);
	if (!path)
		return rc;
	client_result res;
	rc = cli_call(ctx, "POST", path, NULL, &fiducia__v1__key_rotation__descriptor, &res);
	if (rc == CLI_EXIT_OK && res.msg) {
		const Fiducia__V1__KeyRotation *k = (const Fiducia__V1__KeyRotation *)res.msg;
		char v[16], li[32];
		snprintf(v, sizeof v, "%d", k->key_version);
		snprintf(li, sizeof li, "%llu", (unsigned long long)k->ledger_index);
		output_field(stdout, "dataset", k->dataset);
		output_field(stdout, "key version", v);
		output_field(stdout, "ledger index", li);
	}
	client_result_free(&res);
	free(path);
	return rc;
}

static int dataset_verify(struct cli_ctx *ctx, int argc, char **argv)
{
	int rc;
	char *path = ds_path(ctx, argc, argv, "/verify", &rc);
	if (!path)
		return rc;
	client_result res;
	rc = cli_call(ctx, "POST", path, NULL, &fiducia__v1__verify_report__descriptor, &res);
	if (rc == CLI_EXIT_OK && res.msg) {
		const Fiducia__V1__VerifyReport *v = (const Fiducia__V1__VerifyReport *)res.msg;
		printf("%s: %lld chunks, %lld columns opened, %lld rows: %s\n", v->dataset,
		       (long long)v->chunks, (long long)v->columns_checked, (long long)v->rows,
		       v->ok ? "every ciphertext intact" : "FAULTS FOUND");
		for (size_t i = 0; i < v->n_faults; i++) {
			printf("  chunk %s column %s: ",
			       v->faults[i]->chunk[0] ? v->faults[i]->chunk : "-",
			       v->faults[i]->column[0] ? v->faults[i]->column : "-");
			output_text(stdout, v->faults[i]->error);
			printf("\n");
		}
		if (!v->ok)
			rc = CLI_EXIT_VERIFY;
	} else if (rc == CLI_EXIT_OK && ctx->json &&
	           strstr(res.body ? res.body : "", "\"ok\":true") == NULL) {
		rc = CLI_EXIT_VERIFY;
	}
	client_result_free(&res);
	free(path);
	return rc;
}

static int dataset_batches(struct cli_ctx *ctx, int argc, char **argv)
{
	int rc;
	char *path = ds_path(ctx, argc, argv, "/batches", &rc);
	if (!path)
		return rc;
	client_result res;
	rc = cli_call(ctx, "GET", path, NULL, &fiducia__v1__list_batches_response__descriptor,
	              &res);
	if (rc == CLI_EXIT_OK && res.msg) {
		const Fiducia__V1__ListBatchesResponse *l =
		        (const Fiducia__V1__ListBatchesResponse *)res.msg;
		static const char *const head[] = {"BATCH", "ROWS", "SHA256", "STORED", "LEDGER"};
		output_table *t = output_table_new(5, head);
		for (size_t i = 0; t && i < l->n_batches; i++) {
			const Fiducia__V1__BatchReceipt *b = l->batches[i];
			char rows[32], sha[65] = "", at[OUTPUT_TIME_MAX], li[32];
			snprintf(rows, sizeof rows, "%lld", (long long)b->rows);
			for (size_t k = 0; k < b->sha256.len && k < 32; k++)
				snprintf(sha + 2 * k, 3, "%02x", b->sha256.data[k]);
			snprintf(li, sizeof li, "%llu", (unsigned long long)b->ledger_index);
			const char *row[] = {b->batch_id, rows, sha, output_time(at, b->stored_at),
			                     li};
			if (!output_table_add(t, row)) {
				output_table_free(t);
				t = NULL;
			}
		}
		if (!t) {
			cli_error("out of memory");
			rc = CLI_EXIT_FAIL;
		} else {
			output_table_print(t, stdout);
			output_table_free(t);
		}
	}
	client_result_free(&res);
	free(path);
	return rc;
}

static const struct cli_subcmd dataset_subs[] = {
        {"create", "--schema FILE", dataset_create,
         "register a dataset from a JSON schema file (holder)"},
        {"list", "", dataset_list,
         "list the datasets you may see (holder: yours; user: those granted to you)"},
        {"show", "DS", dataset_show, "show a dataset's metadata and schema"},
        {"batches", "DS", dataset_batches, "list a dataset's deposit receipts"},
        {"rotate-key", "DS", dataset_rotate_key,
         "start a new data key version for new chunks (holder)"},
        {"verify", "DS", dataset_verify,
         "open every stored ciphertext and check it (exit 4 on any fault)"},
        {"withdraw", "DS", dataset_withdraw,
         "withdraw a dataset: its keys are destroyed and its chunks deleted (holder)"},
        {NULL, NULL, NULL, NULL},
};

static int run_dataset(struct cli_ctx *ctx, int argc, char **argv)
{
	return cli_run_sub(ctx, argc, argv);
}

const struct cli_cmd cmd_dataset_entry = {"dataset",
                                          "create|list|show|batches|rotate-key|verify|withdraw",
                                          run_dataset, dataset_subs, NULL};
