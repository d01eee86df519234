/*
 * The benchmark baseline: the smallest useful libevent evhttp server, built
 * from the same libevent as fiduciad. It answers every request with a fixed
 * JSON body, so it bounds what any evhttp-based server can do on this machine.
 * usage: bench_baseline_evhttp PORT
 */
#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>

static void reply(struct evhttp_request *req, void *arg)
{
	static const char body[] = "{\"org\":\"operator\",\"role\":\"operator\"}";
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	evbuffer_add_reference(out, body, sizeof body - 1, NULL, NULL);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evhttp_send_reply(req, 200, "OK", NULL);
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 8099;
	struct event_base *base = event_base_new();
	struct evhttp *http = evhttp_new(base);
	if (!base || !http || evhttp_bind_socket(http, "127.0.0.1", (unsigned short)port) != 0) {
		fprintf(stderr, "cannot listen on 127.0.0.1:%d\n", port);
		return 1;
	}
	evhttp_set_gencb(http, reply, NULL);
	event_base_dispatch(base);
	return 0;
}
