/*
 * kek_rotate: `fiduciad rotate-kek --new-key FILE`. Re-wraps every dataset
 * key that is not yet under the new KEK, a hundred keys per transaction,
 * each transaction with its KEY_ROTATED ledger entry. Chunks are never
 * touched. A key row is updated only from the KEK it was read under, so an
 * interrupted run leaves every key under the old KEK or the new one, and
 * running it again finishes the job. per_txn keys per transaction (0: 100).
 */
#ifndef FIDUCIA_KEK_ROTATE_H
#define FIDUCIA_KEK_ROTATE_H

#include <stdbool.h>
#include <stdint.h>

struct app;

/* Runs on app's event loop; per_txn keys per transaction (0: 100); done(ok, keys re-wrapped, arg)
 * runs at the end. */
void kek_rotate_start(struct app *app, const uint8_t *new_kek, int per_txn,
                      void (*done)(bool ok, long long rewrapped, void *arg), void *arg);

#endif
