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

/* The files `fiduciad keygen` writes into its --out folder. */
#define KEYS_KEK_FILE    "kek.key"
#define KEYS_LEDGER_FILE "ledger-ed25519.key"
#define KEYS_VKEY_FILE   "ledger.vkey"

/*
 * `fiduciad keygen`: a new production key set in dir (created with mode 0700
 * when absent, its missing parents with 0755; an existing folder keeps its
 * mode). KEYS_KEK_FILE is the KEK,
 * KEYS_KEK_BYTES from libsodium's CSPRNG (the kek_file format);
 * KEYS_LEDGER_FILE the ledger's Ed25519 seed, 32 bytes from the same source
 * (the ledger_key_file format); both mode 0600. KEYS_VKEY_FILE (mode 0644)
 * holds the ledger's C2SP verifier key under origin (ledger_origin: the key
 * name), one line, as GET /v1/ledger/key returns it. Unless force, any of the
 * three files existing is an error and nothing is written; a failure part-way
 * removes what this call wrote. With force, each file is replaced atomically.
 * On success vkey (vkeylen >= NOTE_VKEY_MAX) holds the verifier key string and
 * kek_id the KEK's id (vault_kek_id). The secrets never leave sodium_malloc'd
 * memory, which is wiped before return.
 */
bool keys_generate(const char *dir, const char *origin, bool force, char *vkey, size_t vkeylen,
                   char kek_id[17], char *err, size_t errlen) __attribute__((warn_unused_result));

/* Write a new ES256 key pair: private key as PKCS#8 PEM at priv_path (0600),
 * public key as SubjectPublicKeyInfo PEM at pub_path. */
bool keys_generate_es256(const char *priv_path, const char *pub_path, char *err, size_t errlen)
        __attribute__((warn_unused_result));

#endif
