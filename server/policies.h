/*
 * policies: the server side of the policy decision point (policy/pdp.h).
 * Stores every version of the operator baseline and of each dataset's
 * policy (immutable, numbered, content-hashed, ledgered), serves them, and
 * answers dry-run evaluations. The purpose vocabulary is compiled into the
 * binary (policy/purposes.json).
 */
#ifndef FIDUCIA_POLICIES_H
#define FIDUCIA_POLICIES_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "pdp.h"

struct app;

/* The vocabulary, loaded once at start-up. NULL with err on failure. */
pdp_vocab *policies_vocab_load(char *err, size_t errlen) __attribute__((warn_unused_result));

/* Whether user org `org` of kind `kind` holds a grant on a dataset: some
 * purpose of the vocabulary would be permitted, now, under the baseline and
 * the dataset policy documents given (NULL or "" when none is in force). */
bool policies_grants(const pdp_vocab *v, const char *baseline_doc, const char *dataset_doc,
                     const char *dataset_id, const char *dataset_name, bool personal,
                     const char *org, const char *kind);

extern const http_route policies_routes[];

#endif
