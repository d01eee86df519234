/*
 * http: the HTTP/1.1 front of fiduciad on libevent's evhttp. Routing by
 * method and path pattern from per-resource route tables, bearer-token
 * authentication and role checks, content negotiation between binary
 * protobuf and proto3 JSON, Error bodies, the JSON-lines access log, request
 * metrics, optional TLS and the SIGTERM drain.
 */
#ifndef FIDUCIA_HTTP_H
#define FIDUCIA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <protobuf-c/protobuf-c.h>

#include "auth.h"

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_ROUTES 64

struct app;
typedef struct http_server http_server;
typedef struct http_req http_req;
typedef void (*http_handler)(http_req *r);

typedef struct http_route {
	const char *method;  /* "GET", "POST", "DELETE", "PUT" */
	const char *pattern; /* "/v1/orgs/{org}"; a {name} is one path segment */
	http_handler handler;
	unsigned roles;   /* AUTH_ROLE_* mask; 0 = no authentication */
	const char *text; /* the text media type the route answers in ("text/plain"), or NULL */
} http_route;

struct http_cleanup {
	struct http_cleanup *next;
	void (*fn)(void *);
	void *ptr;
};

struct http_req {
	http_server *srv;
	struct app *app;
	struct evhttp_request *ev;
	char id[40];
	int route;     /* index into the server's routes; -1 unmatched */
	int log_route; /* a 405's path-matching route, for the access log */
	const char *param_names[HTTP_MAX_PARAMS];
	char *params[HTTP_MAX_PARAMS]; /* percent-decoded */
	int nparams;
	struct evkeyvalq query;
	bool query_parsed;
	auth_claims claims; /* valid when the route needs a role */
	bool want_protobuf;
	bool want_text; /* Accept allows the route's text type and neither JSON nor protobuf */
	struct timespec start;
	int status;
	struct http_cleanup *cleanups;
	void *ctx; /* the handler's own state */
};

/* Creates the server, binds HOST:PORT and registers the NULL-terminated
 * list of route tables (each ended by a {NULL} row). */
http_server *http_server_new(struct app *app, const http_route *const *tables, char *err,
                             size_t errlen) __attribute__((warn_unused_result));
void http_server_free(http_server *s);

/* The port actually bound (useful with port 0). */
int http_server_port(const http_server *s);

/* Stop accepting; call done() once no request is in flight or after
 * timeout_s seconds, whichever comes first. */
void http_server_drain(http_server *s, int timeout_s, void (*done)(void *), void *arg);

/* Prometheus text for the request metrics (appended to buf). */
struct evbuffer;
void http_server_metrics(const http_server *s, struct evbuffer *buf);

/* A path parameter by name ("org" for /v1/orgs/{org}), or NULL. */
const char *http_param(const http_req *r, const char *name);
/* A query-string argument, or NULL. */
const char *http_query(http_req *r, const char *name);

/* Decode the request body as desc, from JSON or protobuf per Content-Type.
 * On failure replies 4xx (the reply is sent) and returns false. On success
 * *out is freed automatically when the request completes. */
bool http_read_body(http_req *r, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
        __attribute__((warn_unused_result));

/* Move the raw request body into *out (the caller frees it), after the
 * max_body_size check (413 is sent and false returned above it). */
struct evbuffer;
bool http_take_body(http_req *r, struct evbuffer **out) __attribute__((warn_unused_result));

/* A Content-Type/Accept value names this media type (parameters ignored). */
bool http_media_is(const char *value, const char *type);

/* Reply with msg in the negotiated format. Completes the request: r is
 * freed before this returns. */
void http_reply(http_req *r, int status, const ProtobufCMessage *msg);
/* Reply with an Error{code, message, request_id}. Completes the request. */
void http_reply_error(http_req *r, int status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* 503 for a database outage. Completes the request. */
void http_reply_unavailable(http_req *r);
/* Reply with a raw body of the given content type. Completes the request. */
void http_reply_raw(http_req *r, int status, const char *content_type, const void *body,
                    size_t len);

/* Run fn(ptr) when the request completes (in reverse order of registration). */
void http_on_complete(http_req *r, void (*fn)(void *), void *ptr);

#endif
