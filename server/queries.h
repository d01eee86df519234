/*
 * queries: POST /v1/queries and GET /v1/budgets. A data user's aggregate
 * question goes: authenticate; decide with the policy decision point (a
 * DENY answers 403 and is ledgered); plan (query.h); a repeat of an answer
 * already released in the budget period, over the same data, gets that
 * answer again for nothing; otherwise scan the needed columns of every
 * chunk on the worker threads (decrypted columns kept in colcache.h),
 * dropping rows without consent for the purpose (consent_cache.h), and
 * aggregate (aggregate.h); apply disclosure control (disclose.h); then in
 * one transaction debit the budget and append the QUERY entry, and only
 * after its COMMIT (and the entry's place in the log) answer. If that
 * transaction fails nothing is released; if the budget is short, 429, and
 * the refusal is ledgered.
 */
#ifndef FIDUCIA_QUERIES_H
#define FIDUCIA_QUERIES_H

#include "http.h"

extern const http_route queries_routes[];

#endif
