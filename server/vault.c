#include "vault.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void vault_kek_id(const uint8_t *kek, char out[VAULT_KEK_ID_LEN + 1])
{
	static const char label[] = "fiducia/kek-id/v1";
	uint8_t h[8];
	crypto_generichash(h, sizeof h, (const unsigned char *)label, sizeof label - 1, kek,
	                   VAULT_KEY_BYTES);
	sodium_bin2hex(out, VAULT_KEK_ID_LEN + 1, h, sizeof h);
}

static size_t wrap_ad(uint8_t *ad, size_t cap, const char *dataset, const char *kind, int version)
{
	int n = snprintf((char *)ad, cap, "fiducia/key/v1|%s|%s|%d", dataset, kind, version);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

void vault_wrap(const uint8_t *kek, const char *dataset, const char *kind, int version,
                const uint8_t *key, uint8_t *out)
{
	uint8_t ad[160];
	size_t adl = wrap_ad(ad, sizeof ad, dataset, kind, version);
	randombytes_buf(out, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, key, VAULT_KEY_BYTES, ad, adl,
	                                           NULL, out, kek);
}

bool vault_unwrap(const uint8_t *kek, const char *dataset, const char *kind, int version,
                  const uint8_t *wrapped, size_t n, uint8_t *key)
{
	if (n != VAULT_WRAPPED_BYTES)
		return false;
	uint8_t ad[160];
	size_t adl = wrap_ad(ad, sizeof ad, dataset, kind, version);
	return crypto_aead_xchacha20poly1305_ietf_decrypt(key, NULL, NULL, wrapped + 24, n - 24, ad,
	                                                  adl, wrapped, kek) == 0;
}

vault_keys *vault_keys_new(void)
{
	vault_keys *k = sodium_malloc(sizeof *k);
	if (k)
		sodium_memzero(k, sizeof *k);
	return k;
}

void vault_keys_free(vault_keys *k)
{
	if (k)
		sodium_free(k);
}
