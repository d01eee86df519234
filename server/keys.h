/*
 * keys: the process's key material, loaded at start-up from data_dir/keys
 * (or configured paths): the key-encryption key, the ledger's Ed25519
 * signing key, and the development token issuer. In development they are
 * generated when absent; with production a missing key stops start-up.
 * Secrets live in sodium_malloc'd memory and are wiped when freed.
 */
#ifndef FIDUCIA_KEYS_H
#define FIDUCIA_KEYS_H

#include <stdbool.h>
#include <stddef.h>

struct config;

#define KEYS_KEK_BYTES 32 /* crypto_aead_xchacha20poly1305_ietf_KEYBYTES */

typedef struct keys {
	unsigned char *kek;          /* KEYS_KEK_BYTES, sodium_malloc'd */
	unsigned char *kek_previous; /* a retired KEK still accepted, or NULL */
	char kek_id[17];             /* vault_kek_id() of each */
	char kek_previous_id[17];
	unsigned char *ledger_sk;    /* crypto_sign_SECRETKEYBYTES, sodium_malloc'd */
	unsigned char ledger_pk[32]; /* crypto_sign_PUBLICKEYBYTES */
	char *dev_issuer_pub_pem;    /* NULL unless the dev issuer is trusted */
} keys;

/* Load (or, unless cfg->production, create) every key. */
keys *keys_load(const struct config *cfg, char *err, size_t errlen)
        __attribute__((warn_unused_result));
void keys_free(keys *k);

/* The KEK with this id (current or previous), or NULL. */
const unsigned char *keys_kek_by_id(const keys *k, const char *id);

/* Read a 32-byte key file (for rotate-kek's --new-key); when create is set
 * and the file is absent, generate it (mode 0600). */
bool keys_read_or_create(const char *path, bool create, unsigned char *out, char *err,
                         size_t errlen) __attribute__((warn_unused_result));
/* Replace path atomically with these bytes (mode 0600). */
bool keys_write_file(const char *path, const unsigned char *key, size_t len, char *err,
                     size_t errlen) __attribute__((warn_unused_result));

/* Write a new ES256 key pair: private key as PKCS#8 PEM at priv_path (0600),
 * public key as SubjectPublicKeyInfo PEM at pub_path. */
bool keys_generate_es256(const char *priv_path, const char *pub_path, char *err, size_t errlen)
        __attribute__((warn_unused_result));

#endif
