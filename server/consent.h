/*
 * consent: data subjects' consent records for a dataset's purposes (the
 * /v1/datasets/{ds}/consents resource), and the set of subjects whose rows
 * a query may count.
 */
#ifndef FIDUCIA_CONSENT_H
#define FIDUCIA_CONSENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consent_cache.h"
#include "http.h"

struct app;

/* The pseudonyms (BATCH_PSEUDONYM_BYTES each) of the subjects with consent
 * in state GIVEN, valid at an instant, for a purpose or a purpose it isA:
 * an open-addressing hash set, immutable once loaded, safe to read from
 * worker threads. */
typedef struct consent_set consent_set;

/* set is NULL when the database failed (then the query must not run). */
typedef void (*consent_set_cb)(consent_set *set, void *arg);

/* Load the set for dataset `dataset`, purpose `purpose` (a vocabulary id)
 * at `at_unix_micros`, from the database, now: no cache, so a withdrawal
 * counts from the very next load. cb runs from the event loop. */
void consent_set_load(struct app *app, const char *dataset, const char *purpose,
                      int64_t at_unix_micros, consent_set_cb cb, void *arg);
bool consent_set_has(const consent_set *s, const uint8_t *pseudonym);
size_t consent_set_size(const consent_set *s);
void consent_set_free(consent_set *s);

/* The rows of a decoded chunk whose subject is in the set: keep[r] is set to
 * 1 or 0 for each of subj->rows rows, and the count kept is returned. The
 * set is asked once per distinct subject of the chunk (its dictionary),
 * not once per row. */
struct chunk_column;
size_t consent_filter_chunk(const consent_set *s, const struct chunk_column *subj, uint8_t *keep);

/* For tests and the loader: an empty set sized for n members, and adding. */
consent_set *consent_set_new(size_t n) __attribute__((warn_unused_result));
void consent_set_add(consent_set *s, const uint8_t *pseudonym);

/* Withdraw every record of a subject: $1 the dataset, $2 the pseudonym
 * (bytea); one row per record withdrawn. */
#define CONSENT_SQL_WITHDRAW_ALL                                                                   \
	"WITH v AS (" CONSENT_SQL_BUMP ") UPDATE consents SET withdrawn_at = now(), version = "    \
	"(SELECT version FROM v) WHERE dataset = $1 AND subject = $2::bytea AND withdrawn_at IS "  \
	"NULL RETURNING id"

extern const http_route consent_routes[];

#endif
