/*
 * libFuzzer harness for server/note.c: the input is fed whole to note_verify
 * (against a key derived from a fixed, public, test-only seed, so that corpus
 * notes signed with it reach signature checking), checkpoint_parse,
 * note_vkey_parse and note_skey_parse. What they accept must round-trip
 * through the formatters byte for byte, and valid note text must sign and verify.
 */
#include "../../server/note.c"

#define FZ_NAME "fuzz.example/log"

static uint8_t fz_pk[32], fz_sk[64];
static bool fz_ready;

/* The key pair of seed 00 01 02 .. 1f; aborts if libsodium cannot start. */
static void fz_init(void)
{
	uint8_t seed[32];

	if (sodium_init() < 0)
		abort();
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)i;
	if (crypto_sign_seed_keypair(fz_pk, fz_sk, seed) != 0)
		abort();
	fz_ready = true;
}

static void fz_note(const char *data, size_t size)
{
	char err[256], origin[512], cp[512 + CHECKPOINT_OVERHEAD], *out = NULL;
	uint8_t root[32];
	uint64_t sz;
	size_t tl = 0, n = 0;

	if (note_verify(data, size, FZ_NAME, fz_pk, &tl, err, sizeof err)) {
		if (tl == 0 || tl >= size || data[tl - 1] != '\n' || data[tl] != '\n')
			abort();
		if (checkpoint_parse(data, tl, origin, sizeof origin, &sz, root, err, sizeof err) &&
		    !checkpoint_format(origin, sz, root, cp, sizeof cp))
			abort();
	}
	if (checkpoint_parse(data, size, origin, sizeof origin, &sz, root, err, sizeof err)) {
		/* The first three lines are canonical: formatting gives them back. */
		if (!checkpoint_format(origin, sz, root, cp, sizeof cp) || strlen(cp) > size ||
		    memcmp(cp, data, strlen(cp)) != 0)
			abort();
	}
	/* Any valid note text signs, and the signed note verifies to that text. */
	if (size > 0 && size < 65536 && data[size - 1] == '\n' &&
	    text_chars_ok(data, size, "text", NULL, 0)) {
		if (!note_sign(data, size, FZ_NAME, fz_sk, &out, &n, err, sizeof err) ||
		    !note_verify(out, n, FZ_NAME, fz_pk, &tl, err, sizeof err) || tl != size)
			abort();
		free(out);
	}
}

static void fz_keys(const char *s)
{
	char err[256], name[NOTE_NAME_MAX + 1], again[NOTE_SKEY_MAX];
	uint8_t pk[32], id[4], sk[64];

	if (note_vkey_parse(s, name, sizeof name, pk, id, err, sizeof err)) {
		/* Only the canonical spelling is accepted. */
		if (!note_vkey_format(name, pk, again, sizeof again) || strcmp(again, s) != 0)
			abort();
	}
	if (note_skey_parse(s, name, sizeof name, sk, err, sizeof err)) {
		if (!note_skey_format(name, sk, again, sizeof again) || strcmp(again, s) != 0)
			abort();
		sodium_memzero(again, sizeof again);
	}
	sodium_memzero(sk, sizeof sk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (!fz_ready)
		fz_init();
	fz_note((const char *)data, size);
	/* The key parsers read C strings. */
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fz_keys(s);
	free(s);
	return 0;
}
