/*
 * ledger: the transparency log. Entries are written inside the caller's
 * PostgreSQL transaction (so an event and its record commit together, or
 * neither does) and placed by the sequencer (ledger_seq.h) as leaves of an
 * RFC 6962 Merkle tree whose perfect-subtree hashes are stored once; a
 * per-process timer signs new C2SP checkpoints with the ledger's Ed25519 key
 * and installs them by compare-and-swap.
 */
#ifndef FIDUCIA_LEDGER_H
#define FIDUCIA_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "http.h"
#include "ledger_seq.h" /* appends */
#include "fiducia/v1/ledger.pb-c.h"

struct app;
typedef struct ledger ledger;

/* Starts the checkpoint signer (every second when the log grew). */
ledger *ledger_new(struct app *app, const char *origin, char *err, size_t errlen)
        __attribute__((warn_unused_result));
void ledger_free(ledger *l);

/* Start-up only (blocking): false when the log's current checkpoint was not
 * signed by (origin, pk), i.e. this process would sign with another key
 * than the rest of the deployment, or under another origin. */
bool ledger_check_key(PGconn *c, const char *origin, const uint8_t pk[32], char *err, size_t errlen)
        __attribute__((warn_unused_result));

/* Fill the actor fields of e from an authenticated request. */
void ledger_entry_from_request(Fiducia__V1__LedgerEntry *e, const http_req *r);

extern const http_route ledger_routes[];

#endif
