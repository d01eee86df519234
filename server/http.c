/*
 * The HTTP layer. One evhttp generic callback matches the route, negotiates
 * formats, authenticates, and hands an http_req to the resource's handler,
 * which replies through http_reply*() exactly once, now or after async work.
 * The reply path logs, counts and frees the request. evhttp keeps a request
 * alive after its client disconnects until we reply, so handlers may always
 * reply late.
 */
#include "http.h"
#include "app.h"
#include "config.h"
#include "log.h"
#include "orgs.h"
#include "pbjson.h"
#include "fiducia/v1/common.pb-c.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define N_BUCKETS 14
static const double bucket_bounds[N_BUCKETS - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,    0.25,  0.5,    1,     2.5,  5};

struct route_metrics {
	uint64_t by_status[600];
	uint64_t buckets[N_BUCKETS]; /* non-cumulative; the last is +Inf */
	double sum;
	uint64_t count;
};

struct compiled_route {
	const http_route *def;
	int nseg;
	const char *seg[12]; /* literal text, or NULL for a parameter */
	char *param[12];     /* parameter names (owned) */
	size_t seglen[12];
};

struct http_server {
	struct app *app;
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	int port;
	SSL_CTX *ssl;
	struct compiled_route routes[HTTP_MAX_ROUTES];
	int nroutes;
	struct route_metrics metrics[HTTP_MAX_ROUTES + 1]; /* last: unmatched */
	long inflight;
	bool draining;
	struct event *drain_timer;
	struct timespec drain_deadline;
	void (*drain_done)(void *);
	void *drain_arg;
	long long max_body;
};

/* ---- helpers ----------------------------------------------------------- */

static double elapsed_s(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	}
	return "?";
}

static bool request_id_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '-' && s[n] != '_' && s[n] != '.')
			return false;
	return n > 0 && n < sizeof(((http_req *)0)->id);
}

/* ---- completion -------------------------------------------------------- */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	}
	return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
}

static void access_log(http_req *r, const char *method)
{
	if (log_min_level > LOG_LEVEL_INFO)
		return;
	http_server *s = r->srv;
	char status[8], dur[32], path[512];
	snprintf(status, sizeof status, "%d", r->status);
	snprintf(dur, sizeof dur, "%.3f", elapsed_s(&r->start) * 1000.0);
	int lr = r->route >= 0 ? r->route : r->log_route;
	if (lr >= 0) {
		/* Rebuild from the pattern, so a sensitive parameter ("{x!}")
		 * is logged by name, never by value. */
		const struct compiled_route *cr = &s->routes[lr];
		size_t w = 0;
		int pi = 0;
		for (int i = 0; i < cr->nseg && w < sizeof path - 1; i++) {
			const char *seg;
			char tmp[80];
			if (cr->seg[i]) {
				seg = cr->seg[i];
				w += (size_t)snprintf(path + w, sizeof path - w, "/%.*s",
				                      (int)cr->seglen[i], seg);
			} else {
				const char *name = cr->param[i];
				size_t nl = strlen(name);
				if (nl && name[nl - 1] == '!') {
					snprintf(tmp, sizeof tmp, "{%.*s}", (int)nl - 1, name);
					seg = tmp;
				} else {
					seg = pi < r->nparams ? r->params[pi] : "";
				}
				pi++;
				w += (size_t)snprintf(path + w, sizeof path - w, "/%s", seg);
			}
			if (w >= sizeof path)
				w = sizeof path - 1;
		}
		if (cr->nseg == 0)
			snprintf(path, sizeof path, "/");
	} else {
		const char *uri = evhttp_request_get_uri(r->ev);
		size_t n = uri ? strcspn(uri, "?") : 0;
		snprintf(path, sizeof path, "%.*s", (int)(n < 200 ? n : 200), uri ? uri : "");
	}
	bool authed = r->route >= 0 && s->routes[r->route].def->roles && r->claims.org[0];
	log_event(LOG_LEVEL_INFO, "access", "request_id", r->id, "method", method, "path", path,
	          "status#", status, "duration_ms#", dur, "org", authed ? r->claims.org : "",
	          (const char *)NULL);
}

static void record_metrics(http_req *r)
{
	http_server *s = r->srv;
	struct route_metrics *m = &s->metrics[r->route >= 0 ? r->route : HTTP_MAX_ROUTES];
	double d = elapsed_s(&r->start);
	if (r->status >= 100 && r->status < 600)
		m->by_status[r->status]++;
	int b = 0;
	while (b < N_BUCKETS - 1 && d > bucket_bounds[b])
		b++;
	m->buckets[b]++;
	m->sum += d;
	m->count++;
}

static void req_free(http_req *r)
{
	while (r->cleanups) {
		struct http_cleanup *c = r->cleanups;
		r->cleanups = c->next;
		c->fn(c->ptr);
		free(c);
	}
	for (int i = 0; i < r->nparams; i++)
		free(r->params[i]);
	if (r->query_parsed)
		evhttp_clear_headers(&r->query);
	free(r);
}

/* Sends the reply, logs it, counts it and frees r. */
static void finish(http_req *r, int status, const char *ctype, struct evbuffer *body)
{
	http_server *s = r->srv;
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
	const char *method = method_name(evhttp_request_get_command(r->ev));
	r->status = status;
	if (ctype)
		evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "X-Request-Id", r->id);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (s->draining)
		evhttp_add_header(h, "Connection", "close");
	evhttp_send_reply(r->ev, status, reason_phrase(status), body);
	record_metrics(r);
	access_log(r, method);
	s->inflight--;
	req_free(r);
}

void http_on_complete(http_req *r, void (*fn)(void *), void *ptr)
{
	struct http_cleanup *c = malloc(sizeof *c);
	if (!c)
		abort(); /* out of memory in the loop, like the rest of it */
	c->fn = fn;
	c->ptr = ptr;
	c->next = r->cleanups;
	r->cleanups = c;
}

static void free_json(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

void http_reply(http_req *r, int status, const ProtobufCMessage *msg)
{
	struct evbuffer *body = evbuffer_new();
	if (!body)
		abort();
	if (r->want_protobuf) {
		size_t n = protobuf_c_message_get_packed_size(msg);
		struct evbuffer_iovec v;
		if (n && evbuffer_reserve_space(body, (ev_ssize_t)n, &v, 1) == 1) {
			protobuf_c_message_pack(msg, v.iov_base);
			v.iov_len = n;
			evbuffer_commit_space(body, &v, 1);
		}
		finish(r, status, "application/x-protobuf", body);
	} else {
		size_t n;
		char *json = pbjson_encode(msg, &n);
		if (!json)
			abort();
		evbuffer_add_reference(body, json, n, free_json, NULL);
		finish(r, status, "application/json", body);
	}
	evbuffer_free(body);
}

void http_reply_error(http_req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	Fiducia__V1__Error e = FIDUCIA__V1__ERROR__INIT;
	e.code = (char *)code;
	e.message = msg;
	e.request_id = r->id;
	if (status == 401) {
		/* RFC 6750 3: the error description is a quoted-string; keep it plain. */
		char hdr[600], *w = hdr;
		w += sprintf(w, "Bearer realm=\"fiducia\", error=\"invalid_token\", "
		                "error_description=\"");
		for (const char *p = msg; *p && w < hdr + sizeof hdr - 4; p++)
			*w++ = (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) ? '\'' : *p;
		strcpy(w, "\"");
		evhttp_add_header(evhttp_request_get_output_headers(r->ev), "WWW-Authenticate",
		                  hdr);
	}
	if (status >= 500)
		log_warn("request %s: %d %s: %s", r->id, status, code, msg);
	http_reply(r, status, &e.base);
}

void http_reply_unavailable(http_req *r)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Retry-After", "1");
	http_reply_error(r, 503, "unavailable", "the database is unavailable; retry shortly");
}

void http_reply_raw(http_req *r, int status, const char *content_type, const void *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();
	if (!b)
		abort();
	evbuffer_add(b, body, len);
	finish(r, status, content_type, b);
	evbuffer_free(b);
}

/* ---- request parsing ---------------------------------------------------- */

const char *http_param(const http_req *r, const char *name)
{
	size_t nl = strlen(name);
	for (int i = 0; i < r->nparams; i++) {
		const char *pn = r->param_names[i];
		if (strncmp(pn, name, nl) == 0 &&
		    (pn[nl] == '\0' || (pn[nl] == '!' && !pn[nl + 1])))
			return r->params[i];
	}
	return NULL;
}

const char *http_query(http_req *r, const char *name)
{
	if (!r->query_parsed) {
		TAILQ_INIT(&r->query);
		const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->ev);
		const char *q = u ? evhttp_uri_get_query(u) : NULL;
		if (q)
			evhttp_parse_query_str(q, &r->query);
		r->query_parsed = true;
	}
	return evhttp_find_header(&r->query, name);
}

bool http_media_is(const char *value, const char *type)
{
	size_t n = strlen(type);
	while (*value == ' ')
		value++;
	return strncasecmp(value, type, n) == 0 &&
	       (value[n] == '\0' || value[n] == ';' || value[n] == ' ');
}

static void free_msg(void *m)
{
	protobuf_c_message_free_unpacked(m, NULL);
}

/* Reject unknown fields in binary bodies too, as the JSON mapping does. */
static bool pb_has_unknown(const ProtobufCMessage *m, int depth)
{
	if (m->n_unknown_fields)
		return true;
	if (depth > 32)
		return true;
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const char *base = (const char *)m;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *arr =
			        *(ProtobufCMessage *const *const *)(base + f->offset);
			for (size_t j = 0; j < n; j++)
				if (pb_has_unknown(arr[j], depth + 1))
					return true;
		} else {
			const ProtobufCMessage *sub =
			        *(ProtobufCMessage *const *)(base + f->offset);
			if (sub && pb_has_unknown(sub, depth + 1))
				return true;
		}
	}
	return false;
}

bool http_read_body(http_req *r, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	*out = NULL;
	struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
	size_t len = evbuffer_get_length(in);
	const char *ct =
	        evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Content-Type");
	if ((long long)len > r->srv->max_body) {
		http_reply_error(r, 413, "body_too_large",
		                 "request body of %zu bytes exceeds max_body_size (%lld)", len,
		                 r->srv->max_body);
		return false;
	}
	bool json;
	if (ct && http_media_is(ct, "application/json"))
		json = true;
	else if (ct && (http_media_is(ct, "application/x-protobuf") ||
	                http_media_is(ct, "application/protobuf")))
		json = false;
	else {
		http_reply_error(r, 415, "unsupported_media_type",
		                 "Content-Type must be application/json or "
		                 "application/x-protobuf");
		return false;
	}
	const unsigned char *data = len ? evbuffer_pullup(in, -1) : (const unsigned char *)"";
	if (json) {
		pbjson_error e;
		if (len == 0) {
			http_reply_error(r, 400, "invalid_argument", "request body is empty");
			return false;
		}
		if (!pbjson_decode(desc, (const char *)data, len, NULL, out, &e)) {
			http_reply_error(r, 400, "invalid_argument", "%s", e.message);
			return false;
		}
	} else {
		*out = protobuf_c_message_unpack(desc, NULL, len, data);
		if (!*out) {
			http_reply_error(r, 400, "invalid_argument",
			                 "malformed protobuf body for %s", desc->name);
			return false;
		}
		if (pb_has_unknown(*out, 0)) {
			protobuf_c_message_free_unpacked(*out, NULL);
			*out = NULL;
			http_reply_error(r, 400, "invalid_argument",
			                 "protobuf body for %s has unknown fields", desc->name);
			return false;
		}
	}
	http_on_complete(r, free_msg, *out);
	return true;
}

bool http_take_body(http_req *r, struct evbuffer **out)
{
	*out = NULL;
	struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
	size_t len = evbuffer_get_length(in);
	if ((long long)len > r->srv->max_body) {
		http_reply_error(r, 413, "body_too_large",
		                 "request body of %zu bytes exceeds max_body_size (%lld)", len,
		                 r->srv->max_body);
		return false;
	}
	if (!(*out = evbuffer_new()))
		abort();
	evbuffer_add_buffer(*out, in);
	return true;
}

/* Accept allows this text media type ("text/plain"), or text/ *, or * / *. */
static bool accepts_text(http_req *r, const char *type)
{
	const char *acc = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Accept");
	if (!acc || !*acc)
		return true;
	for (const char *p = acc; *p; p += strcspn(p, ",")) {
		while (*p == ' ' || *p == ',')
			p++;
		if (http_media_is(p, type) || http_media_is(p, "text/*") || http_media_is(p, "*/*"))
			return true;
	}
	return false;
}

/* Accept: protobuf if asked for before JSON; JSON by default. false when the
 * client accepts neither. */
static bool negotiate(http_req *r)
{
	const char *acc = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Accept");
	r->want_protobuf = false;
	if (!acc || !*acc)
		return true;
	const char *p = acc;
	while (*p) {
		while (*p == ' ' || *p == ',')
			p++;
		if (http_media_is(p, "application/x-protobuf") ||
		    http_media_is(p, "application/protobuf")) {
			r->want_protobuf = true;
			return true;
		}
		if (http_media_is(p, "application/json") || http_media_is(p, "*/*") ||
		    http_media_is(p, "application/*"))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* ---- routing ----------------------------------------------------------- */

static bool compile_route(struct compiled_route *cr, const http_route *def)
{
	memset(cr, 0, sizeof *cr);
	cr->def = def;
	const char *p = def->pattern;
	while (*p == '/') {
		p++;
		if (!*p)
			break;
		if (cr->nseg == 12)
			return false;
		size_t n = strcspn(p, "/");
		if (p[0] == '{' && p[n - 1] == '}') {
			cr->seg[cr->nseg] = NULL;
			cr->param[cr->nseg] = strndup(p + 1, n - 2);
		} else {
			cr->seg[cr->nseg] = p;
			cr->seglen[cr->nseg] = n;
		}
		cr->nseg++;
		p += n;
	}
	return true;
}

/* Match path against route i; on success fill r's params. */
static bool match(http_server *s, int i, const char *path, http_req *r, bool fill)
{
	const struct compiled_route *cr = &s->routes[i];
	const char *p = path;
	int np = 0;
	char *vals[HTTP_MAX_PARAMS];
	const char *names[HTTP_MAX_PARAMS];
	for (int k = 0; k < cr->nseg; k++) {
		if (*p != '/')
			goto no;
		p++;
		size_t n = strcspn(p, "/");
		if (cr->seg[k]) {
			if (n != cr->seglen[k] || memcmp(p, cr->seg[k], n) != 0)
				goto no;
		} else {
			if (n == 0 || np == HTTP_MAX_PARAMS)
				goto no;
			if (fill) {
				char *raw = strndup(p, n);
				size_t dl = 0;
				char *dec = raw ? evhttp_uridecode(raw, 0, &dl) : NULL;
				free(raw);
				if (!dec || strlen(dec) != dl) { /* no NULs in parameters */
					free(dec);
					goto no;
				}
				vals[np] = dec;
			}
			names[np] = cr->param[k];
			np++;
		}
		p += n;
	}
	if (*p && strcmp(p, "/") != 0)
		goto no;
	if (fill) {
		for (int k = 0; k < np; k++) {
			r->params[k] = vals[k];
			r->param_names[k] = names[k];
		}
		r->nparams = np;
	}
	return true;
no:
	if (fill)
		for (int k = 0; k < np; k++)
			free(vals[k]);
	return false;
}

static void run_handler(http_req *r)
{
	r->srv->routes[r->route].def->handler(r);
}

static void org_checked(orgs_status st, void *arg)
{
	http_req *r = arg;
	switch (st) {
	case ORGS_OK:
		run_handler(r);
		return;
	case ORGS_UNKNOWN:
		http_reply_error(r, 401, "unauthenticated", "organisation in the token is unknown");
		return;
	case ORGS_DISABLED:
		http_reply_error(r, 403, "forbidden", "organisation %s is disabled", r->claims.org);
		return;
	default:
		http_reply_unavailable(r);
		return;
	}
}

static void authenticate(http_req *r)
{
	const http_route *def = r->srv->routes[r->route].def;
	const char *hdr =
	        evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Authorization");
	char why[160];
	auth_status st =
	        auth_verify(r->app->auth, hdr, (int64_t)time(NULL), &r->claims, why, sizeof why);
	if (st != AUTH_OK) {
		memset(&r->claims, 0, sizeof r->claims);
		http_reply_error(r, 401, "unauthenticated", "%s", why);
		return;
	}
	if (!(r->claims.role & def->roles)) {
		http_reply_error(r, 403, "forbidden", "role %s may not call %s %s",
		                 auth_role_name(r->claims.role), def->method, def->pattern);
		return;
	}
	orgs_status os = orgs_check(r->app, r->claims.org, org_checked, r);
	if (os != ORGS_PENDING)
		org_checked(os, r);
}

static void gencb(struct evhttp_request *ev, void *arg)
{
	http_server *s = arg;
	http_req *r = calloc(1, sizeof *r);
	if (!r) {
		evhttp_send_error(ev, 503, "Out of memory");
		return;
	}
	r->srv = s;
	r->app = s->app;
	r->ev = ev;
	r->route = -1;
	r->log_route = -1;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	s->inflight++;

	const char *rid = evhttp_find_header(evhttp_request_get_input_headers(ev), "X-Request-Id");
	if (rid && request_id_ok(rid)) {
		snprintf(r->id, sizeof r->id, "%s", rid);
	} else {
		unsigned char b[8];
		randombytes_buf(b, sizeof b);
		sodium_bin2hex(r->id, sizeof r->id, b, sizeof b);
	}
	bool neg_ok = negotiate(r);
	if (s->draining) {
		http_reply_error(r, 503, "shutting_down", "fiduciad is shutting down");
		return;
	}
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(ev);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	if (!path || path[0] != '/') {
		http_reply_error(r, 400, "invalid_argument", "request target must be a path");
		return;
	}
	const char *method = method_name(evhttp_request_get_command(ev));
	int path_match = -1;
	for (int i = 0; i < s->nroutes; i++) {
		if (!match(s, i, path, r, false))
			continue;
		if (strcmp(s->routes[i].def->method, method) != 0) {
			path_match = i;
			continue;
		}
		if (!match(s, i, path, r, true)) {
			http_reply_error(r, 400, "invalid_argument",
			                 "path parameter is not valid percent-encoding");
			return;
		}
		r->route = i;
		break;
	}
	if (r->route < 0) {
		if (path_match >= 0) {
			char allow[128] = "";
			for (int i = 0; i < s->nroutes; i++)
				if (match(s, i, path, r, false) && strlen(allow) < 100) {
					if (allow[0])
						strcat(allow, ", ");
					strcat(allow, s->routes[i].def->method);
				}
			evhttp_add_header(evhttp_request_get_output_headers(ev), "Allow", allow);
			/* Log the path as the route whose path matched, so that
			 * its sensitive parameters are redacted as usual. */
			if (match(s, path_match, path, r, true))
				r->log_route = path_match;
			http_reply_error(r, 405, "method_not_allowed",
			                 "%s is not allowed here (allowed: %s)", method, allow);
		} else {
			http_reply_error(r, 404, "not_found", "no such route");
		}
		return;
	}
	const char *text = s->routes[r->route].def->text;
	if (!neg_ok && text && accepts_text(r, text))
		neg_ok = r->want_text = true; /* a text route asked for in text alone */
	if (!neg_ok) {
		http_reply_error(r, 406, "not_acceptable",
		                 "Accept must allow application/json or application/x-protobuf");
		return;
	}
	if (s->routes[r->route].def->roles)
		authenticate(r);
	else
		run_handler(r);
}

/* ---- TLS --------------------------------------------------------------- */

static struct bufferevent *tls_bevcb(struct event_base *base, void *arg)
{
	SSL_CTX *ctx = arg;
	SSL *ssl = SSL_new(ctx);
	if (!ssl)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                      BEV_OPT_CLOSE_ON_FREE);
}

static SSL_CTX *tls_setup(const config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		snprintf(err, errlen, "tls_cert %s: cannot load the certificate chain",
		         cfg->tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "tls_key %s: cannot load it, or it does not match tls_cert",
		         cfg->tls_key);
		goto fail;
	}
	return ctx;
fail:
	if (!err[0])
		snprintf(err, errlen, "TLS set-up failed");
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

/* ---- server ------------------------------------------------------------ */

http_server *http_server_new(struct app *app, const http_route *const *tables, char *err,
                             size_t errlen)
{
	const config *cfg = app->cfg;
	err[0] = '\0';
	http_server *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->app = app;
	s->max_body = cfg->max_body_size;
	for (; *tables; tables++)
		for (const http_route *rt = *tables; rt->method; rt++) {
			if (s->nroutes == HTTP_MAX_ROUTES ||
			    !compile_route(&s->routes[s->nroutes], rt)) {
				snprintf(err, errlen, "too many routes, or a bad pattern %s",
				         rt->pattern);
				goto fail;
			}
			s->nroutes++;
		}
	s->http = evhttp_new(app->base);
	if (!s->http)
		goto fail;
	/* evhttp refuses larger bodies itself, before authentication (with its
	 * own 413 page and no Error message: libevent 2.1 has no hook for it);
	 * a little slack lets us answer bodies just over the limit properly. */
	evhttp_set_max_body_size(s->http, (ev_ssize_t)(cfg->max_body_size + 65536));
	evhttp_set_max_headers_size(s->http, 64 * 1024);
	evhttp_set_timeout(s->http, (int)cfg->http_timeout);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
	                                            EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_default_content_type(s->http, "application/json");
	evhttp_set_gencb(s->http, gencb, s);
	if (*cfg->tls_cert) {
		if (!(s->ssl = tls_setup(cfg, err, errlen)))
			goto fail;
		evhttp_set_bevcb(s->http, tls_bevcb, s->ssl);
	}
	s->sock = evhttp_bind_socket_with_handle(s->http, cfg->listen_host,
	                                         (ev_uint16_t)cfg->listen_port);
	if (!s->sock) {
		snprintf(err, errlen, "cannot listen on %s", cfg->listen);
		goto fail;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(evhttp_bound_socket_get_fd(s->sock), (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return s;
fail:
	if (!err[0])
		snprintf(err, errlen, "out of memory");
	http_server_free(s);
	return NULL;
}

int http_server_port(const http_server *s)
{
	return s->port;
}

void http_server_free(http_server *s)
{
	if (!s)
		return;
	if (s->drain_timer)
		event_free(s->drain_timer);
	if (s->http)
		evhttp_free(s->http);
	if (s->ssl)
		SSL_CTX_free(s->ssl);
	for (int i = 0; i < s->nroutes; i++)
		for (int k = 0; k < s->routes[i].nseg; k++)
			free(s->routes[i].param[k]);
	free(s);
}

static void drain_tick(evutil_socket_t fd, short what, void *arg)
{
	http_server *s = arg;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	bool late =
	        now.tv_sec > s->drain_deadline.tv_sec || (now.tv_sec == s->drain_deadline.tv_sec &&
	                                                  now.tv_nsec >= s->drain_deadline.tv_nsec);
	if (s->inflight > 0 && !late)
		return;
	if (s->inflight > 0)
		log_warn("drain timed out with %ld request(s) in flight", s->inflight);
	else
		log_info("drained: no request in flight");
	event_del(s->drain_timer);
	s->drain_done(s->drain_arg);
}

void http_server_drain(http_server *s, int timeout_s, void (*done)(void *), void *arg)
{
	if (s->draining)
		return;
	s->draining = true;
	if (s->sock) {
		evhttp_del_accept_socket(s->http, s->sock);
		s->sock = NULL;
	}
	log_info("draining: no new connections; waiting for %ld in-flight request(s)", s->inflight);
	s->drain_done = done;
	s->drain_arg = arg;
	clock_gettime(CLOCK_MONOTONIC, &s->drain_deadline);
	s->drain_deadline.tv_sec += timeout_s;
	s->drain_timer = event_new(s->app->base, -1, EV_PERSIST, drain_tick, s);
	struct timeval tv = {0, 20000};
	event_add(s->drain_timer, &tv);
	drain_tick(-1, 0, s);
}

void http_server_metrics(const http_server *s, struct evbuffer *b)
{
	evbuffer_add_printf(b, "# HELP fiducia_http_requests_total HTTP requests by route, "
	                       "method and status.\n# TYPE fiducia_http_requests_total counter\n");
	for (int i = 0; i <= HTTP_MAX_ROUTES; i++) {
		if (i >= s->nroutes && i != HTTP_MAX_ROUTES)
			continue;
		const char *route = i < HTTP_MAX_ROUTES ? s->routes[i].def->pattern : "unmatched";
		const char *method = i < HTTP_MAX_ROUTES ? s->routes[i].def->method : "";
		for (int st = 100; st < 600; st++)
			if (s->metrics[i].by_status[st])
				evbuffer_add_printf(
				        b,
				        "fiducia_http_requests_total{route=\"%s\","
				        "method=\"%s\",status=\"%d\"} %llu\n",
				        route, method, st,
				        (unsigned long long)s->metrics[i].by_status[st]);
	}
	evbuffer_add_printf(b, "# HELP fiducia_http_request_duration_seconds Request latency by "
	                       "route.\n# TYPE fiducia_http_request_duration_seconds histogram\n");
	for (int i = 0; i <= HTTP_MAX_ROUTES; i++) {
		if (i >= s->nroutes && i != HTTP_MAX_ROUTES)
			continue;
		const struct route_metrics *m = &s->metrics[i];
		if (!m->count)
			continue;
		const char *route = i < HTTP_MAX_ROUTES ? s->routes[i].def->pattern : "unmatched";
		const char *method = i < HTTP_MAX_ROUTES ? s->routes[i].def->method : "";
		uint64_t cum = 0;
		for (int k = 0; k < N_BUCKETS; k++) {
			cum += m->buckets[k];
			char le[32];
			if (k < N_BUCKETS - 1)
				snprintf(le, sizeof le, "%g", bucket_bounds[k]);
			else
				snprintf(le, sizeof le, "+Inf");
			evbuffer_add_printf(b,
			                    "fiducia_http_request_duration_seconds_bucket{route="
			                    "\"%s\",method=\"%s\",le=\"%s\"} %llu\n",
			                    route, method, le, (unsigned long long)cum);
		}
		evbuffer_add_printf(b,
		                    "fiducia_http_request_duration_seconds_sum{route=\"%s\","
		                    "method=\"%s\"} %.6f\n"
		                    "fiducia_http_request_duration_seconds_count{route=\"%s\","
		                    "method=\"%s\"} %llu\n",
		                    route, method, m->sum, route, method,
		                    (unsigned long long)m->count);
	}
	evbuffer_add_printf(b,
	                    "# HELP fiducia_http_requests_in_flight Requests being served.\n"
	                    "# TYPE fiducia_http_requests_in_flight gauge\n"
	                    "fiducia_http_requests_in_flight %ld\n",
	                    s->inflight);
}
