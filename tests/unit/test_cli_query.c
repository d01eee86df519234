/*
 * Unit tests for cli/cmd_query.c and cli/cmd_budget.c: the table, summary
 * and CSV printed for a hand-built QueryResponse (± intervals, RFC 4180
 * quoting, suppression, repeats), the number formats they use, the budget
 * table, and both commands run in process against a small evhttp server
 * forked by the test (the body sent, --csv, --json, and refusals).
 */
#include "../../cli/cli.c"
#include "../../cli/client.c"
#include "../../cli/output.c"
#include "../../cli/cmd_query.c"
#include "../../cli/cmd_budget.c"

#include <fcntl.h>
#include <math.h>
#include <unistd.h>

#include "testutil.h"
#include "clirun.h"
#include "fakeserver.h"

#define TEST_TOKEN "aaa.bbb.ccc"
#define PM         "\xc2\xb1" /* ± in UTF-8 */

/* ---- a hand-built answer ------------------------------------------------ */

static Fiducia__V1__MeasureValue mv[4];
static Fiducia__V1__MeasureValue *r1v[2] = {&mv[0], &mv[1]}, *r2v[2] = {&mv[2], &mv[3]};
static Fiducia__V1__ResultRow row1, row2;
static Fiducia__V1__ResultRow *rows[2] = {&row1, &row2};
static char *cols[] = {"city", "day"};
static char *k1[] = {"Lyon, Rh\xc3\xb4ne", "2025-01-01T00:00:00Z"};
static char *k2[] = {"say \"hi\"", "2025-01-02T00:00:00Z"};
static Fiducia__V1__Suppressed sup[2];
static Fiducia__V1__Suppressed *supp[2] = {&sup[0], &sup[1]};
static Fiducia__V1__PolicyApplied pol[2];
static Fiducia__V1__PolicyApplied *polp[2] = {&pol[0], &pol[1]};

/* Two groups by city and day, a noisy COUNT and an exact histogram bin whose
 * label holds a comma; 4 groups suppressed for two reasons; a budget. */
static Fiducia__V1__QueryResponse sample(void)
{
	Fiducia__V1__QueryResponse r = FIDUCIA__V1__QUERY_RESPONSE__INIT;
	for (int i = 0; i < 4; i++)
		fiducia__v1__measure_value__init(&mv[i]);
	mv[0].measure = mv[2].measure = "COUNT";
	mv[1].measure = mv[3].measure = "HISTOGRAM(speed_kmh)[0,10)";
	mv[0].value = 1234.5;
	mv[0].ci95 = 12.3;
	mv[0].noise_scale = 4.1;
	mv[1].value = 42;
	mv[2].value = 0.1;
	mv[2].ci95 = 2.9957322735539909;
	mv[3].value = 7;
	fiducia__v1__result_row__init(&row1);
	fiducia__v1__result_row__init(&row2);
	row1.keys = k1;
	row1.n_keys = 2;
	row1.values = r1v;
	row1.n_values = 2;
	row2.keys = k2;
	row2.n_keys = 2;
	row2.values = r2v;
	row2.n_values = 2;
	r.columns = cols;
	r.n_columns = 2;
	r.rows = rows;
	r.n_rows = 2;
	fiducia__v1__suppressed__init(&sup[0]);
	fiducia__v1__suppressed__init(&sup[1]);
	sup[0].reason = "min_group_size";
	sup[0].groups = 3;
	sup[1].reason = "dominance";
	sup[1].groups = 1;
	r.suppressed = supp;
	r.n_suppressed = 2;
	r.suppressed_groups = 4;
	r.epsilon_spent = 0.1;
	r.budget_remaining = 0.9;
	r.budget_period_end = "2025-02-01T00:00:00Z";
	fiducia__v1__policy_applied__init(&pol[0]);
	fiducia__v1__policy_applied__init(&pol[1]);
	pol[0].scope = "baseline";
	pol[0].version = 3;
	pol[1].scope = "ds-1";
	pol[1].version = 2;
	r.policies = polp;
	r.n_policies = 2;
	r.ledger_index = 42;
	return r;
}

/* What fn printed to a memory stream, NUL-terminated (caller frees). */
#define CAPTURE(var, call)                                                                         \
	do {                                                                                       \
		size_t cap_n_ = 0;                                                                 \
		FILE *out = open_memstream(&(var), &cap_n_);                                       \
		call;                                                                              \
		fclose(out);                                                                       \
	} while (0)

/* ---- rendering ------------------------------------------------------------ */

static void test_numbers(void)
{
	char b[OUTPUT_NUM_MAX];
	CHECK_STR_EQ(output_number(b, 1234.5), "1234.5");
	CHECK_STR_EQ(output_number(b, 12.3), "12.3");
	CHECK_STR_EQ(output_number(b, 2.9957322735539909), "2.99573");
	CHECK_STR_EQ(output_number(b, 12345678), "12345678");
	CHECK_STR_EQ(output_number(b, -0.0125), "-0.0125");
	CHECK_STR_EQ(output_number(b, 0.000123456), "0.000123456");
	CHECK_STR_EQ(output_number(b, 42), "42");
	CHECK_STR_EQ(output_number(b, -0.0), "0");
	CHECK_STR_EQ(output_number(b, 2e-7), "2e-07");
	CHECK_STR_EQ(output_number(b, 1e20), "1e+20");
	CHECK_STR_EQ(output_number(b, NAN), "NaN");
	CHECK_STR_EQ(output_number(b, -INFINITY), "-Infinity");

	/* Exact: the fewest digits that read back as the same double. */
	CHECK_STR_EQ(output_number_exact(b, 0.1), "0.1");
	CHECK_STR_EQ(output_number_exact(b, 1234.5), "1234.5");
	CHECK_STR_EQ(output_number_exact(b, 1.0 / 3), "0.3333333333333333");
	CHECK_STR_EQ(output_number_exact(b, 0.1 + 0.2), "0.30000000000000004");
	CHECK_STR_EQ(output_number_exact(b, 2.9957322735539909), "2.995732273553991");
	CHECK_STR_EQ(output_number_exact(b, INFINITY), "Infinity");
	const double hard[] = {1.0 / 3,
	                       0.1 + 0.2,
	                       2.9957322735539909,
	                       1e-300,
	                       123456789.123456789,
	                       -5e-324,
	                       1.7976931348623157e308};
	for (size_t i = 0; i < sizeof hard / sizeof hard[0]; i++)
		CHECK(strtod(output_number_exact(b, hard[i]), NULL) == hard[i]);
}

static void test_csv_field(void)
{
	char *s = NULL;
	CAPTURE(s, {
		output_csv_field(out, "plain");
		fputc('|', out);
		output_csv_field(out, "a,b");
		fputc('|', out);
		output_csv_field(out, "say \"hi\"");
		fputc('|', out);
		output_csv_field(out, "two\nlines");
		fputc('|', out);
		output_csv_field(out, "cr\r");
		fputc('|', out);
		output_csv_field(out, "");
	});
	CHECK_STR_EQ(s, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\"cr\r\"|");
	free(s);
}

static void test_table(void)
{
	Fiducia__V1__QueryResponse r = sample();
	char *s = NULL;
	bool ok = false;
	CAPTURE(s, ok = query_print_table(out, &r));
	CHECK(ok);
	/* Aligned in characters: "Lyon, Rhône" is 11 characters in 12 bytes, "±" one in two. */
	CHECK_STR_EQ(s,
	             "city         day                   COUNT         HISTOGRAM(speed_kmh)[0,10)\n"
	             "Lyon, Rh\xc3\xb4ne  2025-01-01T00:00:00Z  1234.5 " PM "12.3  42\n"
	             "say \"hi\"     2025-01-02T00:00:00Z  0.1 " PM "2.99573  7\n");
	free(s);

	/* No groups released, and a row short of keys and values. */
	Fiducia__V1__QueryResponse empty = FIDUCIA__V1__QUERY_RESPONSE__INIT;
	CAPTURE(s, ok = query_print_table(out, &empty));
	CHECK(ok);
	CHECK_STR_EQ(s, "no groups released\n");
	free(s);
	row2.n_keys = 1;
	row2.n_values = 1;
	CAPTURE(s, ok = query_print_table(out, &r));
	CHECK(ok);
	CHECK_CONTAINS(s, "\nsay \"hi\"     -                     0.1 " PM "2.99573  -\n");
	free(s);
}

static void test_summary(void)
{
	Fiducia__V1__QueryResponse r = sample();
	char *s = NULL;
	CAPTURE(s, query_print_summary(out, &r));
	CHECK_STR_EQ(s, "suppressed: 3 groups (min_group_size)\n"
	                "suppressed: 1 group (dominance)\n"
	                "epsilon spent: 0.1\n"
	                "budget remaining: 0.9 (period ends 2025-02-01T00:00:00Z)\n"
	                "policies applied: baseline v3, ds-1 v2\n"
	                "ledger index: 42\n");
	free(s);

	/* A repeat: nothing spent, the first answer's ledger entry named; no budget. */
	r.repeat = true;
	r.repeat_of = 17;
	r.epsilon_spent = 0;
	r.budget_remaining = -1;
	r.budget_period_end = "";
	r.n_suppressed = 0;
	r.suppressed_groups = 2;
	r.n_policies = 0;
	r.privacy = "discrete Laplace noise\x1b[2J";
	CAPTURE(s, query_print_summary(out, &r));
	CHECK_STR_EQ(s, "suppressed: 2 groups in all\n"
	                "privacy: discrete Laplace noise?[2J\n"
	                "epsilon spent: 0\n"
	                "budget remaining: no budget applies\n"
	                "policies applied: -\n"
	                "ledger index: 42\n"
	                "repeat of ledger entry 17 (no budget spent)\n");
	free(s);

	/* Nothing suppressed: no suppressed line. */
	r.suppressed_groups = 0;
	r.repeat = false;
	CAPTURE(s, query_print_summary(out, &r));
	CHECK(strstr(s, "suppressed") == NULL);
	CHECK(strstr(s, "repeat") == NULL);
	free(s);
}

static void test_csv(void)
{
	Fiducia__V1__QueryResponse r = sample();
	char *s = NULL;
	CAPTURE(s, query_print_csv(out, &r));
	CHECK_STR_EQ(s, "city,day,COUNT,COUNT_ci95,\"HISTOGRAM(speed_kmh)[0,10)\","
	                "\"HISTOGRAM(speed_kmh)[0,10)_ci95\"\n"
	                "\"Lyon, Rh\xc3\xb4ne\",2025-01-01T00:00:00Z,1234.5,12.3,42,0\n"
	                "\"say \"\"hi\"\"\",2025-01-02T00:00:00Z,0.1,2.995732273553991,7,0\n");
	free(s);

	/* A row short of keys and values keeps the field count. */
	row2.n_keys = 1;
	row2.n_values = 1;
	CAPTURE(s, query_print_csv(out, &r));
	CHECK_CONTAINS(s, "\n\"say \"\"hi\"\"\",,0.1,2.995732273553991,,\n");
	free(s);

	/* No rows: the key columns alone. */
	r.n_rows = 0;
	CAPTURE(s, query_print_csv(out, &r));
	CHECK_STR_EQ(s, "city,day\n");
	free(s);
}

static Fiducia__V1__Budget bud[2];
static Fiducia__V1__Budget *budp[2] = {&bud[0], &bud[1]};

static Fiducia__V1__BudgetsResponse budgets(void)
{
	Fiducia__V1__BudgetsResponse b = FIDUCIA__V1__BUDGETS_RESPONSE__INIT;
	fiducia__v1__budget__init(&bud[0]);
	fiducia__v1__budget__init(&bud[1]);
	bud[0].dataset = "ds-1";
	bud[0].period_start = "2025-01-01T00:00:00Z";
	bud[0].period_end = "2025-02-01T00:00:00Z";
	bud[0].epsilon_total = 1;
	bud[0].epsilon_spent = 0.30000000000000004;
	bud[0].epsilon_remaining = 0.7;
	bud[0].queries = 3;
	bud[1].dataset = "ds-22";
	bud[1].period_start = "2025-01-06T00:00:00Z";
	bud[1].period_end = "2025-01-13T00:00:00Z";
	bud[1].epsilon_total = 10;
	b.org = "city-lyon";
	b.budgets = budp;
	b.n_budgets = 2;
	return b;
}

static void test_budget_table(void)
{
	Fiducia__V1__BudgetsResponse b = budgets();
	char *s = NULL;
	bool ok = false;
	CAPTURE(s, ok = budget_print_table(out, &b));
	CHECK(ok);
	CHECK_STR_EQ(s,
	             "DATASET  PERIOD START          PERIOD END            EPSILON TOTAL  SPENT  "
	             "REMAINING  QUERIES\n"
	             "ds-1     2025-01-01T00:00:00Z  2025-02-01T00:00:00Z  1              0.3    "
	             "0.7        3\n"
	             "ds-22    2025-01-06T00:00:00Z  2025-01-13T00:00:00Z  10             0      "
	             "0          0\n");
	free(s);
	b.n_budgets = 0;
	CAPTURE(s, ok = budget_print_table(out, &b));
	CHECK(ok);
	CHECK(strncmp(s, "DATASET  ", 9) == 0 && strchr(s, '\n') == s + strlen(s) - 1);
	free(s);
}

/* ---- the commands against a fake server ------------------------------------ */

static pid_t server_pid;
static int server_port;
static char url[64];
static char out_buf[16384], err_buf[16384];

static void reply(struct evhttp_request *req, int code, const char *body)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, body, strlen(body));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evhttp_send_reply(req, code, code < 300 ? "OK" : "Refused", b);
	evbuffer_free(b);
}

static void reply_msg(struct evhttp_request *req, const ProtobufCMessage *m)
{
	char *json = pbjson_encode(m, NULL);
	reply(req, json ? 200 : 500, json ? json : "{}");
	free(json);
}

/* POST /v1/queries answers the sample for dataset ds-1 and purpose p, 403 for
 * ds-denied, 429 for ds-busy, 400 for a body that is not a Query; GET
 * /v1/budgets answers the budgets. */
static void handle(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const char *auth =
	        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	if (!auth || strcmp(auth, "Bearer " TEST_TOKEN) != 0) {
		reply(req, 401, "{\"code\":\"unauthenticated\"}");
	} else if (strcmp(path, "/v1/queries") == 0 && m == EVHTTP_REQ_POST) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);
		const char *body = (const char *)evbuffer_pullup(in, -1);
		ProtobufCMessage *msg = NULL;
		pbjson_error e;
		if (!pbjson_decode(&fiducia__v1__query__descriptor, body, n, NULL, &msg, &e)) {
			reply(req, 400,
			      "{\"code\":\"invalid_argument\",\"message\":\"not a query\"}");
			return;
		}
		const Fiducia__V1__Query *q = (const Fiducia__V1__Query *)msg;
		if (strcmp(q->dataset, "ds-denied") == 0) {
			reply(req, 403,
			      "{\"code\":\"permission_denied\",\"message\":\"denied: purpose "
			      "not permitted by ds-1 v2\",\"requestId\":\"r-403\"}");
		} else if (strcmp(q->dataset, "ds-busy") == 0) {
			reply(req, 429,
			      "{\"code\":\"resource_exhausted\",\"message\":\"privacy budget "
			      "exhausted until 2025-02-01T00:00:00Z\"}");
		} else if (strcmp(q->dataset, "ds-1") == 0 && strcmp(q->purpose, "p") == 0 &&
		           q->n_measures == 1 && q->measures[0]->fn == 1) {
			Fiducia__V1__QueryResponse r = sample();
			reply_msg(req, &r.base);
		} else {
			reply(req, 400,
			      "{\"code\":\"invalid_argument\",\"message\":\"unexpected\"}");
		}
		protobuf_c_message_free_unpacked(msg, NULL);
	} else if (strcmp(path, "/v1/budgets") == 0 && m == EVHTTP_REQ_GET) {
		Fiducia__V1__BudgetsResponse b = budgets();
		reply_msg(req, &b.base);
	} else {
		reply(req, 404, "{\"code\":\"not_found\"}");
	}
}

/*
 * Runs the command of entry with args (NULL-terminated), stdout and stderr
 * in out_buf and err_buf, stdin from in_file when not NULL; returns its exit
 * status. global_json: the global --json flag.
 */
static int run(const struct cli_cmd *entry, bool global_json, const char *in_file, ...)
{
	char *argv[16];
	int argc = 0;
	va_list ap;
	va_start(ap, in_file);
	for (const char *a = va_arg(ap, const char *); a && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	setenv("FIDUCIA_TOKEN", TEST_TOKEN, 1);
	struct cli_ctx ctx = {.url = url, .json = global_json, .cmd = entry};
	return clirun(&ctx, entry, argc, argv, in_file, out_buf, sizeof out_buf, err_buf,
	              sizeof err_buf);
}

static char query_file[64], denied_file[64], busy_file[64], bad_file[64];

static void write_file(char *path, const char *text)
{
	strcpy(path, "/tmp/fiducia-test-query-XXXXXX");
	int fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void test_query_command(void)
{
	/* The table and summary. */
	CHECK(run(&cmd_query_entry, false, NULL, query_file, NULL) == CLI_EXIT_OK);
	CHECK_CONTAINS(out_buf, "city         day                   COUNT  ");
	CHECK_CONTAINS(out_buf, "  1234.5 " PM "12.3  ");
	CHECK_CONTAINS(out_buf, "\nsuppressed: 3 groups (min_group_size)\n");
	CHECK_CONTAINS(out_buf, "\nledger index: 42\n");
	CHECK_STR_EQ(err_buf, "");

	/* --csv, the query read from stdin. */
	CHECK(run(&cmd_query_entry, false, query_file, "-", "--csv", NULL) == CLI_EXIT_OK);
	CHECK(strncmp(out_buf, "city,day,COUNT,COUNT_ci95,", 26) == 0);
	CHECK_CONTAINS(out_buf, "\n\"Lyon, Rh\xc3\xb4ne\",2025-01-01T00:00:00Z,1234.5,12.3,42,0\n");
	CHECK(strstr(out_buf, "ledger index") == NULL);

	/* --json, after the command or before it: the server's body on one line. */
	CHECK(run(&cmd_query_entry, false, NULL, query_file, "--json", NULL) == CLI_EXIT_OK);
	CHECK(out_buf[0] == '{' && strchr(out_buf, '\n') == out_buf + strlen(out_buf) - 1);
	CHECK_CONTAINS(out_buf, "\"ledgerIndex\":\"42\"");
	CHECK(run(&cmd_query_entry, true, NULL, query_file, NULL) == CLI_EXIT_OK);
	CHECK_CONTAINS(out_buf, "\"ledgerIndex\":\"42\"");
	CHECK(run(&cmd_query_entry, true, NULL, query_file, "--csv", NULL) == CLI_EXIT_USAGE);
	CHECK_CONTAINS(err_buf, "one or the other");

	/* Refusals go through the shared error path: status, code, message, request id. */
	CHECK(run(&cmd_query_entry, false, NULL, denied_file, NULL) == CLI_EXIT_FAIL);
	CHECK_STR_EQ(out_buf, "");
	CHECK_STR_EQ(err_buf, "fiducia: 403 permission_denied: denied: purpose not permitted by "
	                      "ds-1 v2 (request r-403)\n");
	CHECK(run(&cmd_query_entry, false, NULL, busy_file, "--csv", NULL) == CLI_EXIT_FAIL);
	CHECK_STR_EQ(out_buf, "");
	CHECK_CONTAINS(err_buf, "fiducia: 429 resource_exhausted: privacy budget exhausted");

	/* A file that is not a Query is refused before anything is sent. */
	CHECK(run(&cmd_query_entry, false, NULL, bad_file, NULL) == CLI_EXIT_FAIL);
	CHECK_CONTAINS(err_buf, ": not a fiducia.v1.Query: $.measure: unknown field");
	CHECK(run(&cmd_query_entry, false, NULL, "/nonexistent/q.json", NULL) == CLI_EXIT_FAIL);
	CHECK_CONTAINS(err_buf, "cannot read /nonexistent/q.json");
	CHECK(run(&cmd_query_entry, false, NULL, NULL) == CLI_EXIT_USAGE);
}

static void test_budget_command(void)
{
	CHECK(run(&cmd_budget_entry, false, NULL, NULL) == CLI_EXIT_OK);
	CHECK(strncmp(out_buf, "DATASET  PERIOD START  ", 23) == 0);
	CHECK_CONTAINS(out_buf, "\nds-1     2025-01-01T00:00:00Z  2025-02-01T00:00:00Z  1  ");
	CHECK(run(&cmd_budget_entry, false, NULL, "--json", NULL) == CLI_EXIT_OK);
	CHECK_CONTAINS(out_buf, "\"org\":\"city-lyon\"");
	CHECK(run(&cmd_budget_entry, false, NULL, "extra", NULL) == CLI_EXIT_USAGE);
}

static void test_commands(void)
{
	server_pid = fake_server_start(handle, &server_port);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", server_port);
	write_file(query_file, "{\"dataset\":\"ds-1\",\"purpose\":\"p\",\"measures\":[{\"fn\":"
	                       "\"COUNT\"}],\"groupBy\":[{\"column\":\"city\"}]}\n");
	write_file(denied_file, "{\"dataset\":\"ds-denied\",\"purpose\":\"p\"}");
	write_file(busy_file, "{\"dataset\":\"ds-busy\",\"purpose\":\"p\"}");
	write_file(bad_file, "{\"dataset\":\"ds-1\",\"measure\":[]}");
	test_query_command();
	test_budget_command();
	unlink(query_file);
	unlink(denied_file);
	unlink(busy_file);
	unlink(bad_file);
	fake_server_stop(&server_pid);
}

TEST_MAIN(TU_CASE(test_numbers), TU_CASE(test_csv_field), TU_CASE(test_table),
          TU_CASE(test_summary), TU_CASE(test_csv), TU_CASE(test_budget_table),
          TU_CASE(test_commands))
