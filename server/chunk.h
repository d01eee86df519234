/*
 * chunk: the vault's storage format. A chunk is up to chunk_rows rows of one
 * batch, stored column by column; each column is encoded compactly (integer
 * deltas as zigzag varints, floats as IEEE 754, booleans as a bitmap,
 * strings and subject pseudonyms dictionary-encoded per chunk) and sealed on
 * its own with XChaCha20-Poly1305-IETF, so a query opens only the columns it
 * needs. The associated data binds every ciphertext to its dataset, chunk
 * id, column, key version and row count: moved anywhere else, it fails to
 * open. Pure: no libevent, libpq or server dependency.
 */
#ifndef FIDUCIA_CHUNK_H
#define FIDUCIA_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "schema.h"

#define CHUNK_ID_BYTES      16
#define CHUNK_NONCE_BYTES   24 /* crypto_aead_xchacha20poly1305_ietf_NPUBBYTES */
#define CHUNK_TAG_BYTES     16 /* crypto_aead_xchacha20poly1305_ietf_ABYTES */
#define CHUNK_SEAL_OVERHEAD (CHUNK_NONCE_BYTES + CHUNK_TAG_BYTES)
#define CHUNK_KEY_BYTES     32

typedef struct chunk_buf {
	uint8_t *p;
	size_t len, cap;
} chunk_buf;

/* Reusable state of the encoder (dictionary tables). Zero-initialise;
 * release with chunk_encoder_free. */
typedef struct chunk_encoder {
	uint32_t *slots;
	size_t nslots;
	batch_str *dict;
	uint32_t *remap; /* batch pseudonym index -> 1 + chunk dictionary index */
	size_t nremap;
	uint32_t *touched;
	uint8_t hash_key[16];
	bool keyed;
} chunk_encoder;

/* Append the plaintext of column c, rows [from, to), of b to out. false on
 * out-of-memory. */
bool chunk_encode(chunk_encoder *e, const batch *b, int c, size_t from, size_t to, chunk_buf *out)
        __attribute__((warn_unused_result));
void chunk_encoder_free(chunk_encoder *e);

/* One decoded column. Strings and pseudonyms point into the plaintext,
 * which must outlive the column. */
typedef struct chunk_column {
	uint32_t rows;
	int64_t *i;                /* INT64, BOOL, TIMESTAMP */
	double *f;                 /* FLOAT64 */
	uint32_t ndict;            /* STRING and SUBJECT: the chunk's dictionary */
	batch_str *dict;           /* STRING */
	const uint8_t *pseudonyms; /* SUBJECT: ndict * BATCH_PSEUDONYM_BYTES */
	uint32_t *idx;             /* STRING and SUBJECT: dictionary index per row */
} chunk_column;

/* Decode a plaintext for a column of type t (subject: the SUBJECT column)
 * expected to hold rows rows. false with err on any inconsistency. */
bool chunk_decode(const uint8_t *pt, size_t len, schema_type t, bool subject, uint32_t rows,
                  chunk_column *out, char *err, size_t errlen) __attribute__((warn_unused_result));
void chunk_column_free(chunk_column *c);

/* keep[r] = by_dict[c->idx[r]] for each row of a dictionary-encoded column
 * (STRING or SUBJECT): what is decided per distinct value, spread to the
 * rows. Returns how many rows are kept. */
size_t chunk_rows_by_dict(const chunk_column *c, const uint8_t *by_dict, uint8_t *keep);

/* A batch of the rows of a decoded chunk (every column of schema s, in
 * cols) whose keep[] is true, to encode again. Strings point into the
 * decoded plaintexts. Free with batch_free. */
bool chunk_rebuild(const schema *s, const chunk_column *cols, const bool *keep, uint32_t rows,
                   batch *out) __attribute__((warn_unused_result));

/* Seal n plaintext bytes into out (n + CHUNK_SEAL_OVERHEAD bytes: nonce,
 * ciphertext, tag) under dek with the binding associated data. */
void chunk_seal(const uint8_t *dek, const char *dataset, const uint8_t id[CHUNK_ID_BYTES], int col,
                uint32_t key_version, uint32_t rows, const uint8_t *pt, size_t n, uint8_t *out);

/* Open n sealed bytes into pt (n - CHUNK_SEAL_OVERHEAD bytes). false when
 * the ciphertext was altered, or belongs to another dataset, chunk, column,
 * key version or row count. */
bool chunk_open(const uint8_t *dek, const char *dataset, const uint8_t id[CHUNK_ID_BYTES], int col,
                uint32_t key_version, uint32_t rows, const uint8_t *sealed, size_t n, uint8_t *pt)
        __attribute__((warn_unused_result));

#endif
