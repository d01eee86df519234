/*
 * The HTTP client of the fiducia CLI: a private event_base, one evhttp
 * connection per request over a bufferevent we make ourselves (a socket one,
 * or an OpenSSL one for https), an overall deadline timer, and the response
 * copied out before the connection is freed outside its callbacks.
 */
#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "pbjson.h"

struct client {
	char *url;      /* normalised base URL, for messages */
	char *host;     /* without IPv6 brackets */
	char *hostport; /* the Host header */
	char *prefix;   /* path prefix, "" or "/x" (no trailing '/') */
	int port;
	bool tls;
	bool host_is_ip;
	const char *token;
	int timeout_s;
	struct event_base *base;
	SSL_CTX *ssl_ctx;
};

/* The state of one request, shared by its callbacks. */
struct call {
	client *c;
	client_result *res;
	struct evhttp_request *req; /* until it completes or fails */
	bool done;                  /* the response or failure callback ran */
	bool timed_out;
	bool failed;
	bool oom; /* a response came but could not be copied */
	bool have_err;
	enum evhttp_request_error err;
	int sock_err;                      /* errno at the first failure seen */
	bool connect_eof;                  /* the connection closed while connecting */
	bufferevent_event_cb http_eventcb; /* evhttp's, which on_bev_event wraps */
	void *http_eventarg;
	char tls_err[160]; /* the first certificate verification failure */
};

static int ssl_call_index = -1; /* SSL ex_data slot holding the struct call */

static void reasonf(client_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reasonf(client_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof res->reason, fmt, ap);
	va_end(ap);
}

static void errf(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Records why the peer's certificate was refused, for the error message. */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
	if (ok)
		return ok;
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct call *k = ssl ? SSL_get_ex_data(ssl, ssl_call_index) : NULL;
	if (k && !k->tls_err[0])
		snprintf(k->tls_err, sizeof k->tls_err, "TLS certificate verification failed: %s",
		         X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)));
	return ok;
}

static SSL_CTX *tls_ctx_new(const char *cacert, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		errf(err, errlen, "cannot set up TLS");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	if (cacert) {
		if (SSL_CTX_load_verify_locations(ctx, cacert, NULL) != 1) {
			errf(err, errlen, "cannot load CA certificates from %s", cacert);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		errf(err, errlen, "cannot load the system CA certificates");
		goto fail;
	}
	if (ssl_call_index < 0)
		ssl_call_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (ssl_call_index < 0) {
		errf(err, errlen, "cannot set up TLS");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

client *client_new(const char *url, const char *cacert, const char *token, int timeout_s, char *err,
                   size_t errlen)
{
	struct evhttp_uri *u = NULL;
	client *c = calloc(1, sizeof *c);
	if (!c)
		goto oom;
	c->token = token;
	c->timeout_s = timeout_s > 0 ? timeout_s : CLIENT_TIMEOUT_S;

	u = evhttp_uri_parse_with_flags(url, 0);
	if (!u) {
		errf(err, errlen, "%s is not a URL", url);
		goto fail;
	}
	const char *scheme = evhttp_uri_get_scheme(u);
	const char *host = evhttp_uri_get_host(u);
	const char *path = evhttp_uri_get_path(u);
	if (!scheme || (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
		errf(err, errlen, "%s is not an http:// or https:// URL", url);
		goto fail;
	}
	if (!host || !*host) {
		errf(err, errlen, "the URL %s has no host", url);
		goto fail;
	}
	if (evhttp_uri_get_userinfo(u) || evhttp_uri_get_query(u) || evhttp_uri_get_fragment(u)) {
		errf(err, errlen, "the URL %s must not have user info, a query or a fragment", url);
		goto fail;
	}
	c->tls = strcasecmp(scheme, "https") == 0;
	int port = evhttp_uri_get_port(u);
	c->port = port > 0 ? port : c->tls ? 443 : 80;
	/* libevent keeps an IPv6 literal's brackets in the host. */
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']')
		c->host = strndup(host + 1, hl - 2);
	else
		c->host = strdup(host);
	if (!c->host)
		goto oom;
	c->host_is_ip = is_ip_literal(c->host);
	bool v6 = strchr(c->host, ':') != NULL;
	bool default_port = c->port == (c->tls ? 443 : 80);
	size_t n = strlen(c->host) + 16;
	c->hostport = malloc(n);
	if (!c->hostport)
		goto oom;
	snprintf(c->hostport, n, "%s%s%s", v6 ? "[" : "", c->host, v6 ? "]" : "");
	if (!default_port)
		snprintf(c->hostport + strlen(c->hostport), n - strlen(c->hostport), ":%d",
		         c->port);

	c->prefix = strdup(path ? path : "");
	if (!c->prefix)
		goto oom;
	for (size_t l = strlen(c->prefix); l > 0 && c->prefix[l - 1] == '/'; l--)
		c->prefix[l - 1] = '\0';
	n = strlen(c->hostport) + strlen(c->prefix) + 16;
	c->url = malloc(n);
	if (!c->url)
		goto oom;
	snprintf(c->url, n, "%s://%s%s", c->tls ? "https" : "http", c->hostport, c->prefix);

	c->base = event_base_new();
	if (!c->base) {
		errf(err, errlen, "cannot create an event loop");
		goto fail;
	}
	if (c->tls && !(c->ssl_ctx = tls_ctx_new(cacert, err, errlen)))
		goto fail;
	evhttp_uri_free(u);
	return c;
oom:
	errf(err, errlen, "out of memory");
fail:
	if (u)
		evhttp_uri_free(u);
	client_free(c);
	return NULL;
}

void client_free(client *c)
{
	if (!c)
		return;
	if (c->base)
		event_base_free(c->base);
	SSL_CTX_free(c->ssl_ctx);
	free(c->url);
	free(c->host);
	free(c->hostport);
	free(c->prefix);
	free(c);
}

const char *client_url(const client *c)
{
	return c->url;
}

void client_result_init(client_result *res)
{
	memset(res, 0, sizeof *res);
}

void client_result_free(client_result *res)
{
	if (!res)
		return;
	free(res->body);
	if (res->msg)
		protobuf_c_message_free_unpacked(res->msg, NULL);
	if (res->error)
		protobuf_c_message_free_unpacked(&res->error->base, NULL);
	client_result_init(res);
}

char *client_path(const char *prefix, const char *segment, const char *suffix)
{
	char *enc = evhttp_uriencode(segment, -1, 0);
	if (!enc)
		return NULL;
	size_t n = strlen(prefix) + strlen(enc) + strlen(suffix) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s%s", prefix, enc, suffix);
	free(enc);
	return p;
}

static bool method_parse(const char *m, enum evhttp_cmd_type *out)
{
	static const struct {
		const char *name;
		enum evhttp_cmd_type type;
	} methods[] = {
	        {"GET", EVHTTP_REQ_GET},     {"POST", EVHTTP_REQ_POST},     {"PUT", EVHTTP_REQ_PUT},
	        {"PATCH", EVHTTP_REQ_PATCH}, {"DELETE", EVHTTP_REQ_DELETE},
	};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (strcmp(m, methods[i].name) == 0) {
			*out = methods[i].type;
			return true;
		}
	return false;
}

static void copy_header(char *dst, size_t n, struct evkeyvalq *h, const char *name)
{
	const char *v = evhttp_find_header(h, name);
	snprintf(dst, n, "%s", v ? v : "");
}

/* The response, or NULL (or a request without a status) when the request failed. */
static void on_done(struct evhttp_request *req, void *arg)
{
	struct call *k = arg;
	k->done = true;
	k->req = NULL;
	if (!req || evhttp_request_get_response_code(req) <= 0) {
		if (!k->sock_err)
			k->sock_err = EVUTIL_SOCKET_ERROR();
		k->failed = true;
		event_base_loopexit(k->c->base, NULL);
		return;
	}
	client_result *res = k->res;
	res->status = evhttp_request_get_response_code(req);
	const char *line = evhttp_request_get_response_code_line(req);
	snprintf(res->status_line, sizeof res->status_line, "%s", line ? line : "");
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	copy_header(res->request_id, sizeof res->request_id, h, "X-Request-Id");
	copy_header(res->content_type, sizeof res->content_type, h, "Content-Type");
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	res->body = malloc(n + 1);
	if (!res->body) {
		k->oom = true;
	} else {
		ev_ssize_t got = evbuffer_remove(in, res->body, n);
		res->body_len = got > 0 ? (size_t)got : 0;
		res->body[res->body_len] = '\0';
	}
	event_base_loopexit(k->c->base, NULL);
}

/* A failure, before on_done is called with NULL; the request is freed after both. */
static void on_error(enum evhttp_request_error e, void *arg)
{
	struct call *k = arg;
	k->req = NULL;
	k->have_err = true;
	k->err = e;
	if (!k->sock_err)
		k->sock_err = EVUTIL_SOCKET_ERROR();
}

/* An errno that says why a connection could not be made. */
static bool connect_errno(int e)
{
	return e == ECONNREFUSED || e == ECONNRESET || e == ECONNABORTED || e == EHOSTUNREACH ||
	       e == ENETUNREACH || e == ETIMEDOUT || e == EPIPE;
}

/*
 * evhttp's event callback while it connects, wrapped: a failed connect is
 * reported to the request without its errno (evhttp closes the socket
 * first), so it is taken here.
 */
static void on_bev_event(struct bufferevent *bev, short what, void *arg)
{
	struct call *k = arg;
	int e = EVUTIL_SOCKET_ERROR();
	if ((what & BEV_EVENT_ERROR) && !k->sock_err)
		k->sock_err = e;
	/* An OpenSSL bufferevent reports a refused connect as EOF. */
	if ((what & BEV_EVENT_EOF) && !k->sock_err && connect_errno(e))
		k->sock_err = e;
	if (what & BEV_EVENT_EOF)
		k->connect_eof = true;
	k->http_eventcb(bev, what, k->http_eventarg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct call *k = arg;
	k->timed_out = true;
	if (k->req && !k->done)
		evhttp_cancel_request(k->req);
	k->req = NULL;
	event_base_loopexit(k->c->base, NULL);
}

/* Why a request got no response, in words. */
static void failure_reason(const struct call *k, struct bufferevent *bev, client_result *res)
{
	if (k->timed_out || (k->have_err && k->err == EVREQ_HTTP_TIMEOUT)) {
		reasonf(res, "no response within %d s", k->c->timeout_s);
		return;
	}
	if (k->tls_err[0]) {
		reasonf(res, "%s", k->tls_err);
		return;
	}
	int dns = bev ? bufferevent_socket_get_dns_error(bev) : 0;
	if (dns) {
		reasonf(res, "cannot resolve %s: %s", k->c->host, evutil_gai_strerror(dns));
		return;
	}
	/* libevent also queues SSL_get_error() codes, which carry no library. */
	unsigned long ssl_err = 0;
	while (bev && k->c->tls && !ERR_GET_LIB(ssl_err) &&
	       (ssl_err = bufferevent_get_openssl_error(bev)))
		;
	if (!ERR_GET_LIB(ssl_err) && k->c->tls)
		ssl_err = ERR_peek_last_error();
	if (ssl_err && ERR_GET_LIB(ssl_err)) {
		char buf[200];
		ERR_error_string_n(ssl_err, buf, sizeof buf);
		const char *why = ERR_reason_error_string(ssl_err);
		reasonf(res, "TLS error: %s", why ? why : buf);
		return;
	}
	if (k->have_err && k->err == EVREQ_HTTP_DATA_TOO_LONG) {
		reasonf(res, "the response is larger than %d bytes", CLIENT_MAX_BODY);
		return;
	}
	if (k->have_err && k->err == EVREQ_HTTP_INVALID_HEADER) {
		reasonf(res, "the response is not valid HTTP");
		return;
	}
	if (k->sock_err && k->sock_err != ENOTCONN && k->sock_err != EINPROGRESS) {
		reasonf(res, "%s", evutil_socket_error_to_string(k->sock_err));
		return;
	}
	if (k->connect_eof && k->c->tls) {
		reasonf(res, "the connection closed during the TLS handshake");
		return;
	}
	if (k->have_err && k->err == EVREQ_HTTP_EOF) {
		reasonf(res, "the connection closed before a response");
		return;
	}
	reasonf(res, "the connection failed");
}

client_status client_send(client *c, const char *method, const char *path, const char *content_type,
                          const void *body, size_t len, client_result *res)
{
	return client_send_headers(c, method, path, content_type, body, len, NULL, res);
}

client_status client_send_headers(client *c, const char *method, const char *path,
                                  const char *content_type, const void *body, size_t len,
                                  const char *const *headers, client_result *res)
{
	struct call k = {.c = c, .res = res};
	struct bufferevent *bev = NULL;
	struct evhttp_connection *conn = NULL;
	struct event *deadline = NULL;
	char *uri = NULL, *auth = NULL;
	SSL *ssl = NULL;
	client_status st = CLIENT_LOCAL_ERROR;
	enum evhttp_cmd_type type;

	if (!method_parse(method, &type)) {
		reasonf(res, "unsupported method %s", method);
		return CLIENT_LOCAL_ERROR;
	}
	size_t n = strlen(c->prefix) + strlen(path) + 1;
	if (!(uri = malloc(n)))
		goto oom;
	snprintf(uri, n, "%s%s", c->prefix, path);

	if (c->tls) {
		ssl = SSL_new(c->ssl_ctx);
		if (!ssl)
			goto tls_fail;
		SSL_set_ex_data(ssl, ssl_call_index, &k);
		if (!c->host_is_ip && SSL_set_tlsext_host_name(ssl, c->host) != 1)
			goto tls_fail;
		if (c->host_is_ip) {
			if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->host) != 1)
				goto tls_fail;
		} else if (SSL_set1_host(ssl, c->host) != 1) {
			goto tls_fail;
		}
		/* The bufferevent owns ssl from here (BEV_OPT_CLOSE_ON_FREE). */
		bev = bufferevent_openssl_socket_new(c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
		                                     BEV_OPT_CLOSE_ON_FREE |
		                                             BEV_OPT_DEFER_CALLBACKS);
		if (!bev) {
			SSL_free(ssl);
			goto oom;
		}
		/* Many servers close without close_notify once the response is complete. */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	} else {
		bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (!bev)
			goto oom;
	}
	/* No evdns base: getaddrinfo resolves the host (with /etc/hosts and nsswitch),
	 * before the deadline starts; a CLI has nothing else to do meanwhile. */
	conn = evhttp_connection_base_bufferevent_new(c->base, NULL, bev, c->host,
	                                              (unsigned short)c->port);
	if (!conn) {
		bufferevent_free(bev);
		goto oom;
	}
	evhttp_connection_set_timeout(conn, c->timeout_s);
	evhttp_connection_set_max_body_size(conn, CLIENT_MAX_BODY);

	struct evhttp_request *req = evhttp_request_new(on_done, &k);
	if (!req)
		goto oom;
	evhttp_request_set_error_cb(req, on_error);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", c->hostport);
	evhttp_add_header(h, "User-Agent", "fiducia/" FIDUCIA_VERSION);
	evhttp_add_header(h, "Accept", "application/json");
	evhttp_add_header(h, "Connection", "close");
	for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
		evhttp_add_header(h, headers[i], headers[i + 1]);
	if (c->token) {
		size_t an = strlen(c->token) + sizeof "Bearer ";
		if (!(auth = malloc(an))) {
			evhttp_request_free(req);
			goto oom;
		}
		snprintf(auth, an, "Bearer %s", c->token);
		evhttp_add_header(h, "Authorization", auth);
	}
	if (body) {
		char cl[32];
		snprintf(cl, sizeof cl, "%zu", len);
		evhttp_add_header(h, "Content-Type", content_type);
		evhttp_add_header(h, "Content-Length", cl);
		if (evbuffer_add(evhttp_request_get_output_buffer(req), body, len) != 0) {
			evhttp_request_free(req);
			goto oom;
		}
	} else if (type == EVHTTP_REQ_POST || type == EVHTTP_REQ_PUT || type == EVHTTP_REQ_PATCH) {
		evhttp_add_header(h, "Content-Length", "0");
	}

	struct timeval tv = {.tv_sec = c->timeout_s};
	deadline = evtimer_new(c->base, on_deadline, &k);
	if (!deadline || evtimer_add(deadline, &tv) != 0) {
		evhttp_request_free(req);
		goto oom;
	}
	ERR_clear_error();
	/* A failure may be reported (and req freed) before evhttp_make_request returns. */
	k.req = req;
	if (evhttp_make_request(conn, req, type, uri) != 0) {
		k.req = NULL;
		if (!k.done) {
			k.failed = true;
			k.sock_err = EVUTIL_SOCKET_ERROR();
		}
	} else if (!k.done) {
		bufferevent_data_cb rcb, wcb;
		bufferevent_getcb(bev, &rcb, &wcb, &k.http_eventcb, &k.http_eventarg);
		if (k.http_eventcb)
			bufferevent_setcb(bev, rcb, wcb, on_bev_event, &k);
		event_base_dispatch(c->base);
	}
	if (k.done && !k.failed && k.oom) {
		reasonf(res, "out of memory reading the response");
		st = CLIENT_LOCAL_ERROR;
	} else if (k.done && !k.failed) {
		st = CLIENT_OK;
	} else {
		failure_reason(&k, bev, res);
		res->status = 0;
		free(res->body);
		res->body = NULL;
		res->body_len = 0;
		st = CLIENT_UNREACHABLE;
	}
	goto out;
tls_fail:
	SSL_free(ssl);
	reasonf(res, "cannot set up TLS for %s", c->host);
	st = CLIENT_LOCAL_ERROR;
	goto out;
oom:
	reasonf(res, "out of memory");
	st = CLIENT_LOCAL_ERROR;
out:
	if (deadline)
		event_free(deadline);
	/* Frees the bufferevent, and with it the SSL object and the socket. */
	if (conn)
		evhttp_connection_free(conn);
	if (auth) {
		sodium_memzero(auth, strlen(auth));
		free(auth);
	}
	free(uri);
	ERR_clear_error();
	return st;
}

static bool media_is_json(const char *ct)
{
	static const char json[] = "application/json";
	size_t n = sizeof json - 1;
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, json, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

client_status client_call(client *c, const char *method, const char *path,
                          const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                          client_result *res)
{
	char *json = NULL;
	size_t len = 0;
	if (req && !(json = pbjson_encode(req, &len))) {
		reasonf(res, "cannot encode the %s request", req->descriptor->name);
		return CLIENT_LOCAL_ERROR;
	}
	client_status st = client_call_body(c, method, path, json ? "application/json" : NULL, json,
	                                    len, NULL, resp_desc, res);
	free(json);
	return st;
}

client_status client_call_body(client *c, const char *method, const char *path,
                               const char *content_type, const void *body, size_t len,
                               const char *const *headers,
                               const ProtobufCMessageDescriptor *resp_desc, client_result *res)
{
	client_status st =
	        client_send_headers(c, method, path, content_type, body, len, headers, res);
	if (st != CLIENT_OK)
		return st;

	pbjson_error perr;
	bool is_json = media_is_json(res->content_type);
	if (res->status >= 400 && res->status <= 599) {
		ProtobufCMessage *e = NULL;
		if (is_json && pbjson_decode(&fiducia__v1__error__descriptor, res->body,
		                             res->body_len, NULL, &e, &perr))
			res->error = (Fiducia__V1__Error *)e;
		reasonf(res, "%s", res->status_line[0] ? res->status_line : "HTTP error");
		return CLIENT_HTTP_ERROR;
	}
	if (res->status < 200 || res->status > 299) {
		reasonf(res, "unexpected HTTP status %d %s", res->status, res->status_line);
		return CLIENT_BAD_RESPONSE;
	}
	if (!is_json && (resp_desc || res->body_len)) {
		reasonf(res, "the response is %s, not application/json",
		        res->content_type[0] ? res->content_type : "untyped");
		return CLIENT_BAD_RESPONSE;
	}
	if (!resp_desc)
		return CLIENT_OK;
	/* Lenient: a newer server may add response fields this client does not know. */
	if (!pbjson_decode_lenient(resp_desc, res->body, res->body_len, NULL, &res->msg, &perr)) {
		reasonf(res, "the response is not a valid %s: %s", resp_desc->name, perr.message);
		return CLIENT_BAD_RESPONSE;
	}
	return CLIENT_OK;
}
