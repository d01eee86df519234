/*
 * vault: the key hierarchy. Each dataset has versioned data keys (DEKs) and
 * one subject key (for pseudonyms); PostgreSQL holds them only wrapped by
 * the key-encryption key (KEK), with XChaCha20-Poly1305 whose associated
 * data names the dataset, the key's kind and version, so a wrapped key
 * copied onto another row does not unwrap. Unwrapped keys live in
 * sodium_malloc'd memory and are wiped when released. Pure: libsodium only.
 */
#ifndef FIDUCIA_VAULT_H
#define FIDUCIA_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VAULT_KEY_BYTES     32
#define VAULT_WRAPPED_BYTES (24 + VAULT_KEY_BYTES + 16)
#define VAULT_KEK_ID_LEN    16 /* hex characters */

/* A KEK's public id: 8 bytes of keyed BLAKE2b of a constant, in hex. */
void vault_kek_id(const uint8_t *kek, char out[VAULT_KEK_ID_LEN + 1]);

/* A fresh random key, wrapped: out is VAULT_WRAPPED_BYTES. */
void vault_wrap(const uint8_t *kek, const char *dataset, const char *kind, int version,
                const uint8_t *key, uint8_t *out);
bool vault_unwrap(const uint8_t *kek, const char *dataset, const char *kind, int version,
                  const uint8_t *wrapped, size_t n, uint8_t *key)
        __attribute__((warn_unused_result));

/* Unwrapped keys of one dataset, in one sodium_malloc'd block. */
typedef struct vault_keys {
	uint8_t dek[VAULT_KEY_BYTES];     /* the version below */
	uint8_t subject[VAULT_KEY_BYTES]; /* the pseudonym key */
	int dek_version;
} vault_keys;

vault_keys *vault_keys_new(void) __attribute__((warn_unused_result));
void vault_keys_free(vault_keys *k); /* wipes */

#endif
