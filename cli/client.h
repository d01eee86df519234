/*
 * client: one HTTP/1.1 request at a time to fiduciad, over libevent's evhttp,
 * plain or TLS (OpenSSL: peer verified against the system CA store or a given
 * bundle, SNI, host-name check). client_call adds the API conventions: a
 * protobuf message as a JSON body, a typed JSON response, fiducia.v1.Error.
 */
#ifndef FIDUCIA_CLIENT_H
#define FIDUCIA_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "fiducia/v1/common.pb-c.h"

#define CLIENT_TIMEOUT_S  30                 /* seconds for a whole request */
#define CLIENT_MAX_BODY   (64 * 1024 * 1024) /* bytes of a response body */
#define CLIENT_REASON_MAX 256

typedef struct client client;

typedef enum client_status {
	CLIENT_OK,           /* client_send: a response arrived; client_call: a 2xx, decoded */
	CLIENT_HTTP_ERROR,   /* a 4xx/5xx response; res->error when its body is an Error */
	CLIENT_BAD_RESPONSE, /* a response that is not what the API promises */
	CLIENT_UNREACHABLE,  /* no response: connection, TLS, or timeout */
	CLIENT_LOCAL_ERROR,  /* out of memory, or a request we cannot encode */
} client_status;

typedef struct client_result {
	int status;             /* HTTP status; 0 when no response came */
	char status_line[64];   /* the reason phrase, e.g. "Not Found" */
	char request_id[64];    /* the X-Request-Id response header, or "" */
	char content_type[128]; /* the Content-Type response header, or "" */
	char *body;             /* the response body, NUL-terminated (malloc) */
	size_t body_len;
	ProtobufCMessage *msg;          /* client_call: the decoded 2xx body, or NULL */
	Fiducia__V1__Error *error;      /* client_call: the decoded error body, or NULL */
	char reason[CLIENT_REASON_MAX]; /* why, for anything but CLIENT_OK */
} client_result;

/*
 * A client for the server at base URL `url` (http:// or https://, optionally
 * with a path prefix; no user info, query or fragment). cacert: a PEM bundle
 * to verify an https server with instead of the system store (NULL: system).
 * token: the bearer token, borrowed until client_free (NULL: none sent).
 * timeout_s: seconds a request may take in all. Returns NULL with a reason in
 * err when the URL or the TLS set-up is unusable.
 */
client *client_new(const char *url, const char *cacert, const char *token, int timeout_s, char *err,
                   size_t errlen) __attribute__((warn_unused_result));
void client_free(client *c);

/* Zeroes *res before a call; client_result_free releases what a call put in it. */
void client_result_init(client_result *res);
void client_result_free(client_result *res);

/*
 * Sends one request: method ("GET", "POST", "PUT", "PATCH", "DELETE"), path
 * (starting with '/', already percent-encoded, appended to the URL's path),
 * and a body of len bytes with content_type (body NULL: none, and no
 * Content-Type; Content-Length 0 for POST/PUT/PATCH). Returns CLIENT_OK when
 * any HTTP response arrived (res->status, body, headers filled in),
 * CLIENT_UNREACHABLE or CLIENT_LOCAL_ERROR with res->reason otherwise.
 */
client_status client_send(client *c, const char *method, const char *path, const char *content_type,
                          const void *body, size_t len, client_result *res)
        __attribute__((warn_unused_result));

/* client_send with extra request headers: name, value, name, value, ...,
 * NULL (headers NULL: none). */
client_status client_send_headers(client *c, const char *method, const char *path,
                                  const char *content_type, const void *body, size_t len,
                                  const char *const *headers, client_result *res)
        __attribute__((warn_unused_result));

/* client_call's handling of the response, for a body that is not a message
 * (a CSV batch, an ODRL document, NDJSON): body of len bytes sent as
 * content_type (NULL body: none), with extra headers as for
 * client_send_headers. */
client_status client_call_body(client *c, const char *method, const char *path,
                               const char *content_type, const void *body, size_t len,
                               const char *const *headers,
                               const ProtobufCMessageDescriptor *resp_desc, client_result *res)
        __attribute__((warn_unused_result));

/*
 * client_send with req (NULL: no body) encoded as proto3 JSON, then: a 2xx
 * body must be JSON (or empty when resp_desc is NULL) and is decoded into
 * res->msg as resp_desc (resp_desc NULL: not decoded); a 4xx/5xx is decoded
 * into res->error when it is a JSON fiducia.v1.Error (else res->error NULL).
 */
client_status client_call(client *c, const char *method, const char *path,
                          const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                          client_result *res) __attribute__((warn_unused_result));

/*
 * prefix + segment percent-encoded (everything but RFC 3986 unreserved
 * characters) + suffix, e.g. ("/v1/orgs/", name, "/disable"). Returns a
 * malloc'd string the caller frees, NULL on out-of-memory.
 */
char *client_path(const char *prefix, const char *segment, const char *suffix)
        __attribute__((warn_unused_result));

/* The base URL the client was made with, without a trailing '/'. */
const char *client_url(const client *c);

#endif
