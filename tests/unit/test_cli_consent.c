/*
 * Unit tests for cli/cmd_consent.c's CSV import: the RFC 4180 reader (quotes,
 * doubled quotes, line breaks inside quotes, CRLF, a byte-order mark, blank
 * lines, and every malformation named by line and column), then
 * `fiducia consent import DS FILE.csv --select NAME` against a small evhttp
 * server forked by the test: only the selected dataset's rows sent, as NDJSON
 * records in calls of --per-call, then one DELETE per withdrawn subject; a
 * malformed file sends nothing; a refusal is traced to the file's line; and
 * no subject identifier is ever printed.
 */
#include "../../cli/cli.c"
#include "../../cli/client.c"
#include "../../cli/output.c"
#include "../../cli/cmd_consent.c"

#include <fcntl.h>
#include <unistd.h>

#include "testutil.h"
#include "clirun.h"
#include "fakeserver.h"

#define TEST_TOKEN "aaa.bbb.ccc"

/* ---- the reader ------------------------------------------------------------ */

/* Every record of text, fields joined by '|' and records ended by ';', or
 * "error L:C why" at the first failure. */
static char *read_records_n(const char *text, size_t len)
{
	static char out[1024];
	FILE *f = fmemopen((void *)text, len, "rb");
	struct csv_reader r = {0};
	csv_start(&r, f);
	out[0] = '\0';
	int got;
	while ((got = csv_next(&r)) > 0) {
		char rec[256] = "";
		for (size_t i = 0; i < r.nfields; i++) {
			strcat(rec, i ? "|" : "");
			strncat(rec, r.buf + r.off[i], 64);
		}
		snprintf(out + strlen(out), sizeof out - strlen(out), "%s@%zu;", rec, r.rec_line);
	}
	if (got < 0)
		snprintf(out + strlen(out), sizeof out - strlen(out), "error %zu:%zu %s",
		         r.err_line, r.err_col, r.err);
	csv_release(&r);
	fclose(f);
	return out;
}

#define read_records(s) read_records_n(s, sizeof(s) - 1)

static void test_reader(void)
{
	CHECK_STR_EQ(read_records("a,b,c\n1,2,3\n"), "a|b|c@1;1|2|3@2;");
	CHECK_STR_EQ(read_records("a,b\r\n1,2"), "a|b@1;1|2@2;"); /* CRLF; no final newline */
	CHECK_STR_EQ(read_records("\xef\xbb\xbf"
	                          "a,b\n\n\r\n,\n"),
	             "a|b@1;|@4;"); /* a BOM, blank lines, two empty fields */
	CHECK_STR_EQ(read_records("\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\nx,\"\",z\n"),
	             "a,b|say \"hi\"|two\nlines@1;x||z@3;");
	CHECK_STR_EQ(read_records("\"cr\r\"\n"), "cr\r@1;");
	CHECK_STR_EQ(read_records(""), "");
	CHECK_STR_EQ(read_records("\n\n"), "");
	CHECK_STR_EQ(read_records("caf\xc3\xa9\n"), "caf\xc3\xa9@1;");

	/* Malformations, by line and column. */
	CHECK_STR_EQ(read_records("a,b\n1,\"2\n3\n"),
	             "a|b@1;error 2:2 a quoted field is not closed");
	CHECK_STR_EQ(read_records("a,b\n1,2\"x\n"),
	             "a|b@1;error 2:2 a quote inside an unquoted field");
	CHECK_STR_EQ(read_records("a,b\n\"1\"x,2\n"), "a|b@1;error 2:1 text after a closing quote");
	CHECK_STR_EQ(read_records("a,b\r1,2\n"),
	             "error 1:2 a carriage return not followed by a line feed");
	CHECK_STR_EQ(read_records("a,\"b\n\nc\",d\ne\0f\n"), "a|b\n\nc|d@1;error 4:1 a NUL byte");
}

/* ---- the command against a fake server -------------------------------------- */

static pid_t server_pid;
static int server_port;
static char url[64], log_path[64];
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

/* The receipts of n records in state (1 GIVEN, 2 WITHDRAWN). */
static void reply_receipts(struct evhttp_request *req, int code, size_t n, int state)
{
	char body[8192] = "{\"receipts\":[";
	for (size_t i = 0; i < n && strlen(body) < sizeof body - 100; i++)
		snprintf(body + strlen(body), sizeof body - strlen(body),
		         "%s{\"recordId\":\"cr-%016zx\",\"state\":\"%s\"}", i ? "," : "", i + 1,
		         state == 1 ? "GIVEN" : "WITHDRAWN");
	strcat(body, "],\"ledgerIndex\":\"7\"}");
	reply(req, code, body);
}

/*
 * POST /v1/datasets/ds-1/consents (NDJSON) logs "POST n" and each record as
 * "  subject|purposes|formId|objective", and refuses a call holding subject
 * "refuse-me" naming its line; DELETE /v1/datasets/ds-1/consents/S logs
 * "DELETE S" and answers 404 for S "gone".
 */
static void handle(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const char *auth =
	        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	const char *ctype =
	        evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	FILE *log = fopen(log_path, "a");
	if (!auth || strcmp(auth, "Bearer " TEST_TOKEN) != 0 || !log) {
		reply(req, 401, "{\"code\":\"unauthenticated\"}");
	} else if (strcmp(path, "/v1/datasets/ds-1/consents") == 0 && m == EVHTTP_REQ_POST &&
	           ctype && strcmp(ctype, "application/x-ndjson") == 0) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		char *body = malloc(len + 1);
		evbuffer_remove(in, body, len);
		body[len] = '\0';
		size_t n = 0, refuse = 0;
		char records[8192] = "";
		for (char *save, *line = strtok_r(body, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			ProtobufCMessage *msg = NULL;
			pbjson_error e;
			n++;
			if (!pbjson_decode(&fiducia__v1__consent_record__descriptor, line,
			                   strlen(line), NULL, &msg, &e)) {
				snprintf(records + strlen(records),
				         sizeof records - strlen(records), "  undecodable\n");
				continue;
			}
			const Fiducia__V1__ConsentRecord *c =
			        (const Fiducia__V1__ConsentRecord *)msg;
			char purposes[256] = "";
			for (size_t k = 0; k < c->n_purposes; k++) {
				strcat(purposes, k ? "," : "");
				strncat(purposes, c->purposes[k], 64);
			}
			snprintf(records + strlen(records), sizeof records - strlen(records),
			         "  %s|%s|%s|%s\n", c->subject, purposes, c->form_id, c->objective);
			if (!refuse && strcmp(c->subject, "refuse-me") == 0)
				refuse = n;
			protobuf_c_message_free_unpacked(msg, NULL);
		}
		free(body);
		fprintf(log, "POST %zu\n%s", n, records);
		if (refuse) {
			char msg[256];
			snprintf(msg, sizeof msg,
			         "{\"code\":\"invalid_argument\",\"message\":\"line %zu: "
			         "$.purposes[0]: not a purpose of the vocabulary\"}",
			         refuse);
			reply(req, 400, msg);
		} else {
			reply_receipts(req, 201, n, 1);
		}
	} else if (strncmp(path, "/v1/datasets/ds-1/consents/", 27) == 0 &&
	           m == EVHTTP_REQ_DELETE) {
		char *subject = evhttp_uridecode(path + 27, 0, NULL);
		fprintf(log, "DELETE %s\n", subject);
		if (strcmp(subject, "gone") == 0)
			reply(req, 404,
			      "{\"code\":\"not_found\",\"message\":\"no consent records for this "
			      "subject\"}");
		else
			reply_receipts(req, 200, 1, 2);
		free(subject);
	} else {
		reply(req, 404, "{\"code\":\"not_found\"}");
	}
	if (log)
		fclose(log);
}

/* Runs `fiducia consent` with args (NULL-terminated), stdout and stderr in
 * out_buf and err_buf; returns its exit status. */
static int run(int global_json, ...)
{
	char *argv[16];
	int argc = 0;
	va_list ap;
	va_start(ap, global_json);
	for (const char *a = va_arg(ap, const char *); a && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	setenv("FIDUCIA_TOKEN", TEST_TOKEN, 1);
	struct cli_ctx ctx = {.url = url, .json = global_json != 0, .cmd = &cmd_consent_entry};
	return clirun(&ctx, &cmd_consent_entry, argc, argv, NULL, out_buf, sizeof out_buf, err_buf,
	              sizeof err_buf);
}

/* What the server received since the last call, and the log emptied. */
static char *server_log(void)
{
	static char buf[16384];
	FILE *f = fopen(log_path, "r");
	buf[0] = '\0';
	if (f) {
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	f = fopen(log_path, "w");
	if (f)
		fclose(f);
	return buf;
}

static char csv_path[64];

static void write_csv(const char *text)
{
	FILE *f = fopen(csv_path, "wb");
	CHECK(f && fwrite(text, 1, strlen(text), f) == strlen(text));
	if (f)
		fclose(f);
}

#define HEADER    "dataset,subject,purposes,form_id,objective,withdrawn\n"
#define STAYS_P   "dpv:PublicPolicyMaking dpv:ProvideOfficialStatistics"
#define STAYS_TXT STAYS_P ",rental-platform-altruism,Evidence for Lyon's housing policy,"
#define DRV_TXT                                                                                    \
	"dpv:ImproveTransportMobility,navigation-app-altruism,Better mobility planning in Lyon,"
#define STAYS_LOG                                                                                  \
	"|dpv:PublicPolicyMaking,dpv:ProvideOfficialStatistics|rental-platform-altruism|Evidence " \
	"for Lyon's housing policy\n"

/* Nothing printed names a subject of the file. */
static void check_no_subject(void)
{
	CHECK(strstr(out_buf, "host-") == NULL && strstr(err_buf, "host-") == NULL);
	CHECK(strstr(out_buf, "drv-") == NULL && strstr(err_buf, "drv-") == NULL);
	CHECK(strstr(err_buf, "refuse-me") == NULL && strstr(err_buf, "gone") == NULL);
}

static void test_import(void)
{
	/* Two datasets' rows; a quoted subject with a quote and comma, an
	 * objective with a comma, CRLF line ends in part, a blank line. */
	write_csv(HEADER "stays,host-000001," STAYS_TXT "false\n"
	                 "probe-speeds,drv-000001," DRV_TXT "false\n"
	                 "stays,host-000002," STAYS_TXT "true\r\n"
	                 "stays,\"host \"\"3\"\", annex\"," STAYS_P
	                 ",rental-platform-altruism,\"Evidence, quoted\",false\r\n"
	                 "\n"
	                 "stays,host-000004," STAYS_TXT "false\n"
	                 "probe-speeds,drv-000002," DRV_TXT "true\n"
	                 "stays,host-000005," STAYS_TXT "true");
	server_log();
	CHECK(run(false, "import", "ds-1", csv_path, "--select", "stays", "--per-call", "2",
	          NULL) == CLI_EXIT_OK);
	CHECK_STR_EQ(server_log(),
	             "POST 2\n"
	             "  host-000001" STAYS_LOG "  host-000002" STAYS_LOG "POST 2\n"
	             "  host \"3\", annex|dpv:PublicPolicyMaking,dpv:ProvideOfficialStatistics|"
	             "rental-platform-altruism|Evidence, quoted\n"
	             "  host-000004" STAYS_LOG "POST 1\n"
	             "  host-000005" STAYS_LOG "DELETE host-000002\n"
	             "DELETE host-000005\n");
	CHECK_CONTAINS(out_buf, "ds-1: 5 consent records given, 2 withdrawn");
	CHECK_STR_EQ(err_buf, "");
	check_no_subject();

	/* The other dataset, in one call (the default --per-call). */
	CHECK(run(false, "import", "ds-1", csv_path, "--select=probe-speeds", NULL) == CLI_EXIT_OK);
	CHECK_STR_EQ(server_log(), "POST 2\n"
	                           "  drv-000001|dpv:ImproveTransportMobility|navigation-app-"
	                           "altruism|Better mobility planning in Lyon\n"
	                           "  drv-000002|dpv:ImproveTransportMobility|navigation-app-"
	                           "altruism|Better mobility planning in Lyon\n"
	                           "DELETE drv-000002\n");
	CHECK_CONTAINS(out_buf, "ds-1: 2 consent records given, 1 withdrawn");

	/* --json: the server's bodies, one a line, and no summary. */
	CHECK(run(true, "import", "ds-1", csv_path, "--select", "probe-speeds", NULL) ==
	      CLI_EXIT_OK);
	CHECK(strncmp(out_buf, "{\"receipts\":[", 13) == 0);
	CHECK(strstr(out_buf, "consent records given") == NULL);
	server_log();

	/* A dataset no row has: an error, nothing sent. */
	CHECK(run(false, "import", "ds-1", csv_path, "--select", "jams", NULL) == CLI_EXIT_FAIL);
	CHECK_CONTAINS(err_buf, ": no row has dataset jams; nothing was sent");
	CHECK_STR_EQ(server_log(), "");

	/* --select belongs to CSV files, and CSV files need it. */
	CHECK(run(false, "import", "ds-1", csv_path, NULL) == CLI_EXIT_USAGE);
	CHECK_CONTAINS(err_buf, "a CSV file needs --select NAME");
	CHECK(run(false, "import", "ds-1", "records.ndjson", "--select", "stays", NULL) ==
	      CLI_EXIT_USAGE);
	CHECK_CONTAINS(err_buf, "--select is for a CSV file");
	CHECK_STR_EQ(server_log(), "");
}

/* Each malformed file: refused with its line and column, nothing sent. */
static void test_malformed(void)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
	        {HEADER "stays,host-1," STAYS_TXT "false\nstays,\"host-2," STAYS_TXT "false\n",
	         ": line 3, column 2 (subject): a quoted field is not closed"},
	        {HEADER "stays,host-1," STAYS_TXT "false\nstays,host-2," STAYS_P ",form\n",
	         ": line 3, column 5 (objective): 4 fields where the header has 6"},
	        {HEADER "stays,host-1," STAYS_TXT "false,extra\n",
	         ": line 2, column 7: 7 fields where the header has 6"},
	        {HEADER "stays,host-1," STAYS_TXT "yes\n",
	         ": line 2, column 6 (withdrawn): true or false (empty: false)"},
	        {HEADER "stays,host-\"1\"," STAYS_TXT "false\n",
	         ": line 2, column 2 (subject): a quote inside an unquoted field"},
	        {HEADER "stays,," STAYS_TXT "false\n", ": line 2, column 2 (subject): required"},
	        {HEADER "stays,host-1,,rental-platform-altruism,x,false\n",
	         ": line 2, column 3 (purposes): required"},
	        {HEADER "stays,host-1,dpv:A dpv:A,rental-platform-altruism,x,false\n",
	         ": line 2, column 3 (purposes): a purpose listed twice"},
	        {HEADER "stays,host\xff," STAYS_TXT "false\n",
	         ": line 2, column 2 (subject): required: 1-4096 bytes of UTF-8 text"},
	        {HEADER "stays,\"host\n1\"," STAYS_TXT "false\n",
	         ": line 2, column 2 (subject): required: 1-4096 bytes"},
	        /* a bad row of another dataset stops the import too */
	        {HEADER "stays,host-1," STAYS_TXT "false\nprobe-speeds,\"drv\"x," DRV_TXT "false\n",
	         ": line 3, column 2 (subject): text after a closing quote"},
	        {"dataset,subject,purposes,form_id,objective\nstays,host-1," STAYS_P ",f,o\n",
	         ": line 1: the header has no column withdrawn"},
	        {"dataset,subject,purposes,form_id,objective,withdrawn,valid_until\n",
	         ": line 1, column 7: an unknown column"},
	        {"dataset,subject,subject,form_id,objective,withdrawn\n",
	         ": line 1, column 3: a column named twice"},
	        {"", ": empty: the header row is missing"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		write_csv(cases[i].text);
		server_log();
		/* One record a call: a row sent before the bad one would show. */
		int rc = run(false, "import", "ds-1", csv_path, "--select", "stays", "--per-call",
		             "1", NULL);
		CHECK(rc == CLI_EXIT_FAIL);
		if (!strstr(err_buf, cases[i].error))
			fprintf(stderr, "case %zu: %s", i, err_buf);
		CHECK_CONTAINS(err_buf, cases[i].error);
		CHECK_STR_EQ(server_log(), "");
		CHECK_STR_EQ(out_buf, "");
		check_no_subject();
	}
	CHECK(run(false, "import", "ds-1", "/nonexistent/c.csv", "--select", "stays", NULL) ==
	      CLI_EXIT_FAIL);
	CHECK_CONTAINS(err_buf, "cannot read /nonexistent/c.csv");
}

static void test_refusals(void)
{
	/* The server refuses the second call at its line 2: file line 5. */
	write_csv(HEADER "stays,host-1," STAYS_TXT "true\n"
	                 "stays,host-2," STAYS_TXT "false\n"
	                 "probe-speeds,drv-1," DRV_TXT "false\n"
	                 "stays,host-3," STAYS_TXT "false\n"
	                 "stays,refuse-me," STAYS_TXT "false\n");
	server_log();
	CHECK(run(false, "import", "ds-1", csv_path, "--select", "stays", "--per-call", "2",
	          NULL) == CLI_EXIT_FAIL);
	CHECK_CONTAINS(err_buf, "400 invalid_argument: line 2: $.purposes[0]: not a purpose");
	CHECK_CONTAINS(err_buf, "(the call's line 2 is line 6 of ");
	CHECK_CONTAINS(err_buf, "the call with lines 5-6 of ");
	CHECK_CONTAINS(err_buf, " failed; 2 records before it are stored");
	/* No withdrawal after a refused call. */
	const char *log = server_log();
	CHECK(strstr(log, "POST 2\n") == log && strstr(log, "DELETE") == NULL);
	check_no_subject();

	/* A withdrawal refused: named by its line, the count so far. */
	write_csv(HEADER "stays,host-1," STAYS_TXT "true\n"
	                 "stays,gone," STAYS_TXT "true\n"
	                 "stays,host-3," STAYS_TXT "true\n");
	CHECK(run(false, "import", "ds-1", csv_path, "--select", "stays", NULL) == CLI_EXIT_FAIL);
	CHECK_CONTAINS(err_buf, "404 not_found");
	CHECK_CONTAINS(err_buf, "the withdrawal for line 3 of ");
	CHECK_CONTAINS(err_buf, " failed; before it, 3 consent records were given and 1 subjects "
	                        "withdrawn");
	CHECK_STR_EQ(server_log(),
	             "POST 3\n"
	             "  host-1" STAYS_LOG "  gone" STAYS_LOG "  host-3" STAYS_LOG "DELETE host-1\n"
	             "DELETE gone\n");
	check_no_subject();
}

static void test_commands(void)
{
	strcpy(log_path, "/tmp/fiducia-test-consent-log-XXXXXX");
	int fd = mkstemp(log_path);
	CHECK(fd >= 0);
	close(fd);
	strcpy(csv_path, "/tmp/fiducia-test-consent-XXXXXX.csv");
	fd = mkstemps(csv_path, 4);
	CHECK(fd >= 0);
	close(fd);
	server_pid = fake_server_start(handle, &server_port);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", server_port);
	test_import();
	test_malformed();
	test_refusals();
	fake_server_stop(&server_pid);
	unlink(log_path);
	unlink(csv_path);
}

TEST_MAIN(TU_CASE(test_reader), TU_CASE(test_commands))
