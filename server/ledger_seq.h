/*
 * ledger_seq: group commit for the transparency ledger.
 *
 * An action's transaction writes its LedgerEntry to ledger_pending (no lock
 * taken, so concurrent actions commit in parallel and PostgreSQL flushes
 * their commits together), with a MAC under a key derived from the ledger
 * signing key, and commits: the entry is then durable with the change it
 * records, or neither is. A sequencer, in every fiduciad and one at a time
 * under ledger_head's row lock, moves committed pending entries into the
 * RFC 6962 tree in batches, in id order: leaves, completed perfect
 * subtrees, the new head, and the deletion of the pending rows, in one
 * transaction. A pending row whose MAC does not verify (not written by a
 * fiduciad of this deployment) is never placed in the log: it is moved to
 * ledger_refused and reported.
 *
 * The action answers only once its entry has a place in the log (ledger
 * index), so what a client saw answered is in the log. A sweep every
 * second places the entries of processes that died between their commit
 * and their answer, and of `fiduciad rotate-kek`.
 */
#ifndef FIDUCIA_LEDGER_SEQ_H
#define FIDUCIA_LEDGER_SEQ_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "fiducia/v1/ledger.pb-c.h"

struct app;
typedef struct ledger_seq ledger_seq;

ledger_seq *ledger_seq_new(struct app *app) __attribute__((warn_unused_result));
void ledger_seq_free(ledger_seq *s);

/* ok is false when the entry could not be written (the caller then rolls
 * back and fails the action: fail closed); pending names the entry until
 * it is placed. */
typedef void (*ledger_done_cb)(bool ok, int64_t pending, void *arg);

/* Write e (time is filled in when zero) to ledger_pending on conn, which
 * holds an open transaction; cb runs once, from the event loop. e is
 * borrowed for the call only. Takes no lock: the entry commits with the
 * caller's transaction. */
void ledger_append(struct app *app, db_conn *conn, Fiducia__V1__LedgerEntry *e, ledger_done_cb cb,
                   void *arg);

/* For an action that is one statement: e as text parameters for an
 * INSERT INTO ledger_pending inside that statement (a CTE), so that the
 * action and its entry commit together in one round trip, without BEGIN
 * and COMMIT. entry_hex and mac_hex go through decode(..., 'hex'). Free
 * with ledger_pending_text_free. */
typedef struct ledger_pending_text {
	char *entry_hex;
	char mac_hex[2 * 32 + 1];
	char actor[128], target[128], action[32], dataset[128];
} ledger_pending_text;
void ledger_pending_text_init(struct app *app, Fiducia__V1__LedgerEntry *e,
                              ledger_pending_text *out);
void ledger_pending_text_free(ledger_pending_text *t);

/* After the COMMIT of a transaction that appended `pending`: cb(index) once
 * the entry is placed in the log (at once, batched with others), or
 * cb(-1) when it could not be within 10 s (the database is failing; the
 * entry stays pending and the sweep places it later). */
typedef void (*ledger_placed_cb)(int64_t index, void *arg);
void ledger_placed(struct app *app, int64_t pending, ledger_placed_cb cb, void *arg);

/* The MAC a pending entry carries: keyed BLAKE2b-256 under a key derived
 * from the ledger signing key's seed (the first 32 bytes of ledger_sk). */
#define LEDGER_MAC_BYTES 32
void ledger_entry_mac(const unsigned char *ledger_sk, const uint8_t *entry, size_t len,
                      uint8_t mac[LEDGER_MAC_BYTES]);

/* After the COMMIT of a transaction that appended an entry whose answer
 * does not carry its index: have it placed soon (batched), not waiting. */
void ledger_kick(struct app *app);

/* cb(0) once every entry pending now (any process's) is placed, so that a
 * reader sees every change already answered (read-your-writes); cb(-1)
 * when that could not be done within 10 s. */
void ledger_flush(struct app *app, ledger_placed_cb cb, void *arg);

/* The largest number of entries placed in one sequencing transaction. */
#define LEDGER_SEQ_BATCH 4096

#endif
