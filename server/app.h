/*
 * app: the state of one fiduciad process that request handlers share. It is
 * built by main.c at start-up and torn down at exit; handlers reach it as
 * r->app.
 */
#ifndef FIDUCIA_APP_H
#define FIDUCIA_APP_H

#include <stdbool.h>

struct event_base;
struct config;
struct db_pool;
struct auth_verifier;
struct orgs_cache;
struct http_server;
struct keys;
struct ledger;
struct ledger_seq;
struct workers;
struct pdp_vocab;
struct consent_cache;
struct colcache;

struct app {
	const struct config *cfg;
	struct event_base *base;
	struct db_pool *db;
	struct auth_verifier *auth;
	struct orgs_cache *orgs;
	struct http_server *http;
	struct keys *keys;
	struct ledger *ledger;
	struct ledger_seq *sequencer;   /* places ledger entries (ledger_seq.h) */
	struct workers *workers;        /* CPU-heavy work off the loop */
	struct pdp_vocab *vocab;        /* the purpose vocabulary (policy/purposes.json) */
	struct consent_cache *consents; /* what queries filter on (consent_cache.h) */
	struct colcache *columns;       /* decrypted columns queries keep (colcache.h) */
	struct projcache *projections;  /* ... and in subject order (projection.h) */
	int schema_version;             /* the latest migration this binary knows */
};

#endif
