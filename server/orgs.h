/*
 * orgs: organisations, the parties that hold tokens. The operator creates,
 * lists, reads and disables them over /v1/orgs. Every authenticated request
 * checks its org through a per-process cache that is trusted only while the
 * LISTEN connection is up; changes from any fiduciad process are broadcast
 * by a trigger (sql/001_orgs.sql) and evict the cached entry.
 */
#ifndef FIDUCIA_ORGS_H
#define FIDUCIA_ORGS_H

#include <stdbool.h>
#include "http.h"

struct app;
typedef struct orgs_cache orgs_cache;

typedef enum orgs_status {
	ORGS_OK,
	ORGS_UNKNOWN,
	ORGS_DISABLED,
	ORGS_UNAVAILABLE, /* the database could not be asked */
	ORGS_PENDING,     /* the answer will come through the callback */
} orgs_status;

typedef void (*orgs_check_cb)(orgs_status st, void *arg);

/* Starts the LISTEN connection on app->db. NULL on OOM. */
orgs_cache *orgs_cache_new(struct app *app) __attribute__((warn_unused_result));
void orgs_cache_free(orgs_cache *c);

/* Is `org` an existing, enabled organisation? Answers at once from the cache
 * (never ORGS_PENDING then), or returns ORGS_PENDING and calls cb later. */
orgs_status orgs_check(struct app *app, const char *org, orgs_check_cb cb, void *arg)
        __attribute__((warn_unused_result));

/* true when s is a valid organisation name (lowercase slug, 1-63 bytes). */
bool orgs_name_valid(const char *s);

extern const http_route orgs_routes[];

#endif
