/*
 * Unit tests for the CLI's HTTP client (cli/client.c), its printing
 * (cli/output.c) and option parsing (cli/cli.c), against a small evhttp
 * server forked by the test: the headers and bodies the client sends, how it
 * reads success, fiducia.v1.Error and non-API responses, and why it reports
 * a server unreachable (refused, timeout).
 */
#include "../../cli/cli.c"
#include "../../cli/client.c"
#include "../../cli/output.c"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fiducia/v1/orgs.pb-c.h"
#include "testutil.h"
#include "fakeserver.h"

static pid_t server_pid;
static int server_port;

static void reply(struct evhttp_request *req, int code, const char *ctype, const char *body)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, body, strlen(body));
	if (ctype)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evhttp_add_header(evhttp_request_get_output_headers(req), "X-Request-Id", "rid-1");
	evhttp_send_reply(req, code, code < 300 ? "OK" : code == 404 ? "Not Found" : "Bad", b);
	evbuffer_free(b);
}

/* The test server: each path answers one way; /echo describes the request in an Org. */
static void handle(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	if (strcmp(uri, "/ok") == 0) {
		reply(req, 200, "application/json", "{\"name\":\"a\",\"kind\":\"HOLDER\"}");
	} else if (strcmp(uri, "/err") == 0) {
		reply(req, 404, "application/json",
		      "{\"code\":\"not_found\",\"message\":\"no organisation x\","
		      "\"requestId\":\"abc123\"}");
	} else if (strcmp(uri, "/html502") == 0) {
		reply(req, 502, "text/html", "<html>gateway</html>");
	} else if (strcmp(uri, "/html200") == 0) {
		reply(req, 200, "text/html", "<html>hi</html>");
	} else if (strcmp(uri, "/badjson") == 0) {
		reply(req, 200, "application/json", "{\"name\":");
	} else {
		/* Echo: method, path, and headers of interest, in the contact field. */
		struct evbuffer *body = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(body);
		char b[512] = "", out[2048];
		evbuffer_copyout(body, b, n < sizeof b - 1 ? n : sizeof b - 1);
		const char *ct = evhttp_find_header(in, "Content-Type");
		const char *cl = evhttp_find_header(in, "Content-Length");
		const char *auth = evhttp_find_header(in, "Authorization");
		const char *acc = evhttp_find_header(in, "Accept");
		char desc[1024];
		snprintf(desc, sizeof desc, "%d %s ct=%s cl=%s auth=%s accept=%s body=%s",
		         (int)evhttp_request_get_command(req), uri, ct ? ct : "-", cl ? cl : "-",
		         auth ? auth : "-", acc ? acc : "-", b);
		Fiducia__V1__Org o = FIDUCIA__V1__ORG__INIT;
		o.name = "echo";
		o.contact = desc;
		char *json = pbjson_encode(&o.base, NULL);
		snprintf(out, sizeof out, "%s", json ? json : "{}");
		free(json);
		reply(req, 200, "application/json; charset=utf-8", out);
	}
}

static void server_start(void)
{
	server_pid = fake_server_start(handle, &server_port);
}

static void server_stop(void)
{
	fake_server_stop(&server_pid);
}

#define TEST_TOKEN "aaa.bbb.ccc"

static client *test_client(int timeout_s)
{
	char url[64], err[256] = "";
	snprintf(url, sizeof url, "http://127.0.0.1:%d", server_port);
	client *c = client_new(url, NULL, TEST_TOKEN, timeout_s, err, sizeof err);
	CHECK(c != NULL);
	if (!c)
		fprintf(stderr, "  client_new: %s\n", err);
	return c;
}

static void test_get_decodes(void)
{
	client *c = test_client(5);
	client_result r;
	client_result_init(&r);
	CHECK(client_call(c, "GET", "/ok", NULL, &fiducia__v1__org__descriptor, &r) == CLIENT_OK);
	CHECK(r.status == 200);
	CHECK_STR_EQ(r.request_id, "rid-1");
	CHECK(r.msg != NULL);
	if (r.msg) {
		const Fiducia__V1__Org *o = (const Fiducia__V1__Org *)r.msg;
		CHECK_STR_EQ(o->name, "a");
		CHECK(o->kind == FIDUCIA__V1__ORG__KIND__HOLDER);
	}
	client_result_free(&r);
	client_free(c);
}

static const char *echo_of(client_result *r)
{
	return r->msg ? ((const Fiducia__V1__Org *)r->msg)->contact : "";
}

static void test_request_headers(void)
{
	client *c = test_client(5);
	client_result r;

	/* GET: bearer token, Accept, no body and no Content-Type. */
	client_result_init(&r);
	CHECK(client_call(c, "GET", "/echo", NULL, &fiducia__v1__org__descriptor, &r) == CLIENT_OK);
	CHECK_CONTAINS(echo_of(&r), "/echo ct=- ");
	CHECK_CONTAINS(echo_of(&r), "auth=Bearer " TEST_TOKEN " ");
	CHECK_CONTAINS(echo_of(&r), "accept=application/json ");
	client_result_free(&r);

	/* POST with a message: its proto3 JSON, typed. */
	Fiducia__V1__CreateOrgRequest req = FIDUCIA__V1__CREATE_ORG_REQUEST__INIT;
	req.name = "city-lyon";
	req.kind = FIDUCIA__V1__ORG__KIND__PUBLIC_AUTHORITY;
	req.country = "FR";
	client_result_init(&r);
	CHECK(client_call(c, "POST", "/v1/orgs", &req.base, &fiducia__v1__org__descriptor, &r) ==
	      CLIENT_OK);
	CHECK_CONTAINS(echo_of(&r), "ct=application/json cl=61 ");
	CHECK_CONTAINS(
	        echo_of(&r),
	        "body={\"name\":\"city-lyon\",\"kind\":\"PUBLIC_AUTHORITY\",\"country\":\"FR\"}");
	client_result_free(&r);

	/* POST without a body: Content-Length 0, no Content-Type. */
	char *path = client_path("/v1/orgs/", "a b/c?", "/disable");
	CHECK_STR_EQ(path, "/v1/orgs/a%20b%2Fc%3F/disable");
	client_result_init(&r);
	CHECK(client_call(c, "POST", path, NULL, &fiducia__v1__org__descriptor, &r) == CLIENT_OK);
	CHECK_CONTAINS(echo_of(&r), "/v1/orgs/a%20b%2Fc%3F/disable ct=- cl=0 ");
	client_result_free(&r);
	free(path);
	client_free(c);
}

static void test_url_prefix(void)
{
	char url[64], err[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/", server_port);
	client *c = client_new(url, NULL, NULL, 5, err, sizeof err);
	CHECK(c != NULL);
	if (!c)
		return;
	char want[64];
	snprintf(want, sizeof want, "http://127.0.0.1:%d/api", server_port);
	CHECK_STR_EQ(client_url(c), want);
	client_result r;
	client_result_init(&r);
	CHECK(client_call(c, "DELETE", "/x", NULL, &fiducia__v1__org__descriptor, &r) == CLIENT_OK);
	CHECK_CONTAINS(echo_of(&r), "/api/x ct=- cl=- auth=- ");
	client_result_free(&r);
	client_free(c);
}

static void test_errors(void)
{
	client *c = test_client(5);
	client_result r;

	client_result_init(&r);
	CHECK(client_call(c, "GET", "/err", NULL, &fiducia__v1__org__descriptor, &r) ==
	      CLIENT_HTTP_ERROR);
	CHECK(r.status == 404 && r.msg == NULL && r.error != NULL);
	if (r.error) {
		CHECK_STR_EQ(r.error->code, "not_found");
		CHECK_STR_EQ(r.error->message, "no organisation x");
		CHECK_STR_EQ(r.error->request_id, "abc123");
	}
	CHECK(output_call_error("u", CLIENT_HTTP_ERROR, &r) == CLI_EXIT_FAIL);
	client_result_free(&r);

	client_result_init(&r);
	CHECK(client_call(c, "GET", "/html502", NULL, &fiducia__v1__org__descriptor, &r) ==
	      CLIENT_HTTP_ERROR);
	CHECK(r.status == 502 && r.error == NULL);
	client_result_free(&r);

	client_result_init(&r);
	CHECK(client_call(c, "GET", "/html200", NULL, &fiducia__v1__org__descriptor, &r) ==
	      CLIENT_BAD_RESPONSE);
	CHECK_CONTAINS(r.reason, "text/html");
	CHECK(output_call_error("u", CLIENT_BAD_RESPONSE, &r) == CLI_EXIT_FAIL);
	client_result_free(&r);

	/* --json does not decode, but still wants JSON. */
	client_result_init(&r);
	CHECK(client_call(c, "GET", "/html200", NULL, NULL, &r) == CLIENT_BAD_RESPONSE);
	client_result_free(&r);
	client_result_init(&r);
	CHECK(client_call(c, "GET", "/badjson", NULL, NULL, &r) == CLIENT_OK);
	CHECK(r.body_len == 8 && r.msg == NULL);
	client_result_free(&r);
	client_result_init(&r);
	CHECK(client_call(c, "GET", "/badjson", NULL, &fiducia__v1__org__descriptor, &r) ==
	      CLIENT_BAD_RESPONSE);
	client_result_free(&r);
	client_free(c);
}

static void test_unreachable(void)
{
	/* A port nobody listens on: bind, read the port, close. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sin;
	bind(fd, (struct sockaddr *)&sin, sizeof sin);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	close(fd);
	char url[64], err[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sin.sin_port));
	client *c = client_new(url, NULL, NULL, 5, err, sizeof err);
	client_result r;
	client_result_init(&r);
	CHECK(client_call(c, "GET", "/x", NULL, NULL, &r) == CLIENT_UNREACHABLE);
	CHECK_CONTAINS(r.reason, "refused");
	CHECK(r.status == 0);
	CHECK(output_call_error(url, CLIENT_UNREACHABLE, &r) == CLI_EXIT_UNREACHABLE);
	client_result_free(&r);
	client_free(c);
}

static void test_timeout(void)
{
	/* Listening but never accepting: the connection completes, no response ever comes. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sin;
	CHECK(bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(fd, 4) == 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	char url[64], err[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sin.sin_port));
	client *c = client_new(url, NULL, NULL, 1, err, sizeof err);
	client_result r;
	client_result_init(&r);
	time_t t0 = time(NULL);
	CHECK(client_call(c, "GET", "/x", NULL, NULL, &r) == CLIENT_UNREACHABLE);
	CHECK(time(NULL) - t0 <= 3);
	CHECK_CONTAINS(r.reason, "no response within 1 s");
	client_result_free(&r);
	client_free(c);
	close(fd);
}

static void test_bad_urls(void)
{
	char err[256];
	const char *bad[] = {"ftp://x",       "127.0.0.1:8080", "http://",  "http://u:p@h/",
	                     "http://h/?q=1", "http://h/#f",    "not a url"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		client *c = client_new(bad[i], NULL, NULL, 5, err, sizeof err);
		CHECK(c == NULL && err[0]);
		if (c) {
			fprintf(stderr, "  url '%s' accepted\n", bad[i]);
			client_free(c);
		}
	}
	client *c =
	        client_new("https://example.org", "/nonexistent/ca.pem", NULL, 5, err, sizeof err);
	CHECK(c == NULL);
	CHECK_CONTAINS(err, "/nonexistent/ca.pem");
	c = client_new("https://[::1]:8443/x", NULL, NULL, 5, err, sizeof err);
	CHECK(c != NULL);
	if (c) {
		CHECK_STR_EQ(client_url(c), "https://[::1]:8443/x");
		CHECK(c->host_is_ip && strcmp(c->host, "::1") == 0);
	}
	client_free(c);
}

static char *capture(void (*fn)(FILE *, void *), void *arg)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	fn(f, arg);
	fclose(f);
	return buf;
}

static void print_json(FILE *f, void *arg)
{
	const char *s = arg;
	output_json_line(f, s, strlen(s));
}

static void print_table(FILE *f, void *arg)
{
	static const char *const head[] = {"NAME", "KIND"};
	static const char *const r1[] = {"city-lyon", "PUBLIC_AUTHORITY"};
	static const char *const r2[] = {"x\x1b[2J", ""};
	output_table *t = output_table_new(2, head);
	CHECK(t && output_table_add(t, r1) && output_table_add(t, r2));
	output_table_print(t, f);
	output_table_free(t);
}

static void test_output(void)
{
	char *s = capture(print_json, "{\n  \"a\": \"b\\n\"\r\n}\n");
	CHECK_STR_EQ(s, "{  \"a\": \"b\\n\"}\n");
	free(s);
	s = capture(print_table, NULL);
	CHECK_STR_EQ(s, "NAME       KIND\n"
	                "city-lyon  PUBLIC_AUTHORITY\n"
	                "x?[2J      -\n");
	free(s);

	char buf[OUTPUT_TIME_MAX];
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	ts.seconds = 1700000000;
	ts.nanos = 123000000;
	CHECK_STR_EQ(output_time(buf, &ts), "2023-11-14T22:13:20Z");
	CHECK_STR_EQ(output_time(buf, NULL), "-");
	ts.seconds = INT64_C(253402300800);
	CHECK_STR_EQ(output_time(buf, &ts), "-");
}

static void test_args(void)
{
	const struct cli_subcmd sub = {"create", "NAME --kind KIND", NULL, NULL};
	const struct cli_cmd cmd = {"org", "create", NULL, NULL, NULL};
	struct cli_ctx ctx = {.cmd = &cmd, .sub = &sub};
	const char *kind = NULL, *country = NULL, *pos[2];
	bool flag = false;
	const struct cli_opt opts[] = {
	        {"--kind", "KIND", &kind, NULL},
	        {"--country", "CC", &country, NULL},
	        {"--force", NULL, NULL, &flag},
	        {NULL, NULL, NULL, NULL},
	};
	size_t np;
	char *a1[] = {"x", "--kind=HOLDER", "--force", "--country", "FR", "--", "--y"};
	CHECK(cli_args_parse(&ctx, 7, a1, opts, pos, 0, 2, &np) == CLI_CONTINUE);
	CHECK(np == 2 && strcmp(pos[0], "x") == 0 && strcmp(pos[1], "--y") == 0);
	CHECK(kind && strcmp(kind, "HOLDER") == 0 && country && strcmp(country, "FR") == 0 && flag);

	kind = country = NULL;
	char *a2[] = {"--kind", "A", "--kind", "B"};
	CHECK(cli_args_parse(&ctx, 4, a2, opts, pos, 0, 2, &np) == CLI_EXIT_USAGE);
	kind = NULL;
	char *a3[] = {"--nope"};
	CHECK(cli_args_parse(&ctx, 1, a3, opts, pos, 0, 2, &np) == CLI_EXIT_USAGE);
	char *a4[] = {"--kind"};
	CHECK(cli_args_parse(&ctx, 1, a4, opts, pos, 0, 2, &np) == CLI_EXIT_USAGE);
	kind = NULL;
	char *a5[] = {"a", "b", "c"};
	CHECK(cli_args_parse(&ctx, 3, a5, opts, pos, 0, 2, &np) == CLI_EXIT_USAGE);
	char *a6[] = {"--force=1"};
	CHECK(cli_args_parse(&ctx, 1, a6, opts, pos, 0, 2, &np) == CLI_EXIT_USAGE);
	char *a7[] = {"--help"};
	fflush(stdout);
	CHECK(cli_args_parse(&ctx, 1, a7, opts, pos, 0, 2, &np) == CLI_EXIT_OK);
}

static void test_token_shape(void)
{
	CHECK(token_shaped("eyJh.eyJi.c2ln"));
	CHECK(token_shaped("a-_.b.c"));
	CHECK(!token_shaped("a.b"));
	CHECK(!token_shaped("a.b.c.d"));
	CHECK(!token_shaped("a.b.c\n"));
	CHECK(!token_shaped("a.b.c d"));
	CHECK(!token_shaped("a.b.c=="));
}

int main(void)
{
	static const tu_case cases[] = {
	        TU_CASE(test_get_decodes), TU_CASE(test_request_headers), TU_CASE(test_url_prefix),
	        TU_CASE(test_errors),      TU_CASE(test_unreachable),     TU_CASE(test_timeout),
	        TU_CASE(test_bad_urls),    TU_CASE(test_output),          TU_CASE(test_args),
	        TU_CASE(test_token_shape),
	};
	signal(SIGPIPE, SIG_IGN);
	server_start();
	int rc = tu_run(cases, sizeof cases / sizeof cases[0]);
	server_stop();
	return rc;
}
