/*
 * Unit tests for server/note.c: known answers from the reference
 * implementation (golang.org/x/mod/sumdb/note) and the C2SP specs, base64 and
 * UTF-8 edge cases, sign/verify round trips with every tampering we can think
 * of, key-string manglings, and strict tlog-checkpoint parsing.
 */
#include "../../server/note.c"

#include "testutil.h"

/*
 * Known answers, copied from golang.org/x/mod/sumdb/note/note_test.go
 * (TestNewVerifier, TestNewSigner, TestSign, TestVerifierList, TestOpen).
 */
static const char GO_PETER_VKEY[] =
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char GO_PETER_SKEY[] =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char GO_ENOCH_VKEY[] =
        "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
static const char GO_TEXT[] = "If you think cryptography is the answer to your problem,\n"
                              "then you don't know what your problem is.\n";
static const char GO_PETER_SIG[] =
        "\xe2\x80\x94 PeterNeumann "
        "x08go/ZJkuBS9UG/"
        "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
static const char GO_ENOCH_SIG[] = "\xe2\x80\x94 EnochRoot "
                                   "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/"
                                   "5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

/* The example at the top of https://c2sp.org/signed-note (C2SP/C2SP signed-note.md). */
static const char C2SP_NOTE[] = "Ognuno sta solo sul cuor della terra\n"
                                "trafitto da un raggio di sole:\n"
                                "\n"
                                "ed \xc3\xa8 subito sera.\n"
                                "\n"
                                "\xe2\x80\x94 quasimodo.example/salvatore "
                                "NnugSzTjtVAewIS+Z/iJhUPeFDkO/"
                                "5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";

/* The example of https://c2sp.org/tlog-checkpoint (C2SP/C2SP tlog-checkpoint.md). */
static const char C2SP_CHECKPOINT_TEXT[] = "example.com/behind-the-sofa\n"
                                           "20852163\n"
                                           "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
static const char C2SP_CHECKPOINT_SIG[] =
        "\xe2\x80\x94 example.com/behind-the-sofa "
        "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
        "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

#define NAME  "fiducia.example/ledger"
#define NAME2 "witness.example/w1"

static uint8_t pk1[32], sk1[64], pk2[32], sk2[64];

/* Two deterministic test keys (seeds "1111..." and "2222..."). */
static void test_keys(void)
{
	uint8_t seed[32];

	CHECK(sodium_init() >= 0);
	memset(seed, '1', sizeof seed);
	CHECK(crypto_sign_seed_keypair(pk1, sk1, seed) == 0);
	memset(seed, '2', sizeof seed);
	CHECK(crypto_sign_seed_keypair(pk2, sk2, seed) == 0);
}

/* a || b || c, NUL-terminated, malloc'd. */
static char *cat3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *r = malloc(la + lb + lc + 1);

	if (!r)
		abort();
	memcpy(r, a, la);
	memcpy(r + la, b, lb);
	memcpy(r + la + lb, c, lc + 1);
	return r;
}

static bool verify_str(const char *msg, const char *name, const uint8_t pk[32], char *err,
                       size_t errlen)
{
	size_t tl;

	return note_verify(msg, strlen(msg), name, pk, &tl, err, errlen);
}

/* The signed note of text by (name, sk); aborts on failure. */
static char *sign_str(const char *text, const char *name, const uint8_t sk[64])
{
	char *out = NULL, err[256];
	size_t n;

	if (!note_sign(text, strlen(text), name, sk, &out, &n, err, sizeof err)) {
		fprintf(stderr, "sign_str: %s\n", err);
		abort();
	}
	return out;
}

/* The signature line alone ("— name base64\n") of text by (name, sk). */
static char *sig_line(const char *text, const char *name, const uint8_t sk[64])
{
	char *signed_note = sign_str(text, name, sk);
	char *line = strdup(signed_note + strlen(text) + 1);

	free(signed_note);
	return line;
}

static void test_base64_rfc4648(void)
{
	/* RFC 4648 section 10 test vectors. */
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	static const char *const bad[] = {
	        "Zg=",   "Zg",   "Zh==", "Zm9=", "Zm9v====", "Z===",     "Zm=v",  "=Zm9",
	        "Zm9\n", "Zm-_", "Zm9 ", "Zg=a", "Zg==Zm9v", "Zm8=Zm8=", "Zm8\0",
	};
	char out[16];
	uint8_t dec[16];
	size_t n;

	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		b64_encode((const uint8_t *)plain[i], strlen(plain[i]), out);
		CHECK_STR_EQ(out, enc[i]);
		CHECK(b64_encoded_len(strlen(plain[i])) == strlen(enc[i]));
		CHECK(b64_decode(enc[i], strlen(enc[i]), dec, sizeof dec, &n));
		CHECK(n == strlen(plain[i]) && memcmp(dec, plain[i], n) == 0);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t len = i == sizeof bad / sizeof bad[0] - 1 ? 4 : strlen(bad[i]);

		CHECK(!b64_decode(bad[i], len, dec, sizeof dec, &n));
	}
	/* Longer than the output buffer: validated in full, stored in part. */
	CHECK(b64_decode("Zm9vYmFy", 8, dec, 2, &n) && n == 6 && memcmp(dec, "fo", 2) == 0);
	CHECK(b64_decode("Zm9vYmFy", 8, NULL, 0, &n) && n == 6);
}

static void test_utf8(void)
{
	static const char *const good[] = {"plain\n",          "\xc3\xa8",     "\xe2\x80\x94",
	                                   "\xf0\x9f\x94\x91", "\xef\xbf\xbd", "\x7f",
	                                   "\xf4\x8f\xbf\xbf"};
	static const char *const bad[] = {
	        "\xc0\x80",         /* overlong NUL */
	        "\xc1\xbf",         /* overlong */
	        "\xe0\x80\x80",     /* overlong */
	        "\xed\xa0\x80",     /* surrogate */
	        "\xf0\x80\x80\x80", /* overlong */
	        "\xf4\x90\x80\x80", /* above U+10FFFF */
	        "\xf5\x80\x80\x80",
	        "\xe2\x80", /* truncated */
	        "\x80",     /* stray continuation */
	        "\xff",
	        "\xe2\x28\xa1",
	};
	char err[128];

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		CHECK(text_chars_ok(good[i], strlen(good[i]), "t", err, sizeof err));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK(!text_chars_ok(bad[i], strlen(bad[i]), "t", err, sizeof err));
		CHECK_CONTAINS(err, "not valid UTF-8");
	}
	CHECK(!text_chars_ok("a\rb", 3, "t", err, sizeof err));
	CHECK_STR_EQ(err, "t has a carriage return at byte 1");
	CHECK(!text_chars_ok("ab\tc", 4, "t", err, sizeof err));
	CHECK_STR_EQ(err, "t has a control character at byte 2");
	CHECK(!text_chars_ok("a\0b", 3, "t", err, sizeof err));
	CHECK_CONTAINS(err, "control character at byte 1");
}

static void test_names(void)
{
	uint8_t id[4];
	char longname[NOTE_NAME_MAX + 2];

	test_keys();
	CHECK(note_keyid("a", pk1, id));
	CHECK(note_keyid("\xc3\xa8xample.com/log", pk1, id));
	CHECK(!note_keyid("", pk1, id));
	CHECK(!note_keyid("a+b", pk1, id));
	CHECK(!note_keyid("a b", pk1, id));
	CHECK(!note_keyid("a\tb", pk1, id));
	CHECK(!note_keyid("a\xc2\xa0"
	                  "b",
	                  pk1, id)); /* U+00A0 NO-BREAK SPACE */
	CHECK(!note_keyid("a\xe3\x80\x80"
	                  "b",
	                  pk1, id)); /* U+3000 IDEOGRAPHIC SPACE */
	CHECK(!note_keyid("a\x01"
	                  "b",
	                  pk1, id));
	CHECK(!note_keyid("a\xff", pk1, id));
	CHECK(!note_keyid(NULL, pk1, id));
	memset(longname, 'n', sizeof longname);
	longname[NOTE_NAME_MAX] = '\0';
	CHECK(note_keyid(longname, pk1, id));
	longname[NOTE_NAME_MAX] = 'n';
	longname[NOTE_NAME_MAX + 1] = '\0';
	CHECK(!note_keyid(longname, pk1, id));
}

/* Go's key strings: key id, vkey and skey reproduced from the seed in the skey. */
static void test_go_known_keys(void)
{
	static const uint8_t want_id[4] = {0xc7, 0x4f, 0x20, 0xa3};
	uint8_t blob[40], pk[32], sk[64], vpk[32], id[4];
	char name[64], vkey[NOTE_VKEY_MAX], skey[NOTE_SKEY_MAX], err[256];
	size_t n;

	test_keys();
	/* The seed by hand from the skey's base64, independent of note_skey_parse. */
	CHECK(b64_decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", 44, blob, sizeof blob,
	                 &n));
	CHECK(n == 33 && blob[0] == 0x01);
	CHECK(crypto_sign_seed_keypair(pk, sk, blob + 1) == 0);

	CHECK(note_keyid("PeterNeumann", pk, id));
	CHECK(memcmp(id, want_id, 4) == 0);
	CHECK(note_vkey_format("PeterNeumann", pk, vkey, sizeof vkey));
	CHECK_STR_EQ(vkey, GO_PETER_VKEY);
	CHECK(!note_vkey_format("PeterNeumann", pk, vkey, strlen(GO_PETER_VKEY)));
	CHECK(note_vkey_format("PeterNeumann", pk, vkey, strlen(GO_PETER_VKEY) + 1));
	CHECK(note_skey_format("PeterNeumann", sk, skey, sizeof skey));
	CHECK_STR_EQ(skey, GO_PETER_SKEY);

	CHECK(note_vkey_parse(GO_PETER_VKEY, name, sizeof name, vpk, id, err, sizeof err));
	CHECK_STR_EQ(name, "PeterNeumann");
	CHECK(memcmp(vpk, pk, 32) == 0 && memcmp(id, want_id, 4) == 0);
	CHECK(!note_vkey_parse(GO_PETER_VKEY, name, 12, vpk, id, err, sizeof err));
	CHECK_CONTAINS(err, "does not fit");
	CHECK(note_vkey_parse(GO_PETER_VKEY, name, 13, vpk, id, err, sizeof err));

	memset(sk, 0, sizeof sk);
	CHECK(note_skey_parse(GO_PETER_SKEY, name, sizeof name, sk, err, sizeof err));
	CHECK_STR_EQ(name, "PeterNeumann");
	CHECK(memcmp(sk + 32, pk, 32) == 0);
	CHECK(memcmp(sk, blob + 1, 32) == 0);

	CHECK(note_vkey_parse(GO_ENOCH_VKEY, name, sizeof name, vpk, id, err, sizeof err));
	CHECK_STR_EQ(name, "EnochRoot");
	sodium_memzero(sk, sizeof sk);
	sodium_memzero(skey, sizeof skey);
}

/* TestSign: Ed25519 is deterministic, so our signed note is Go's byte for byte. */
static void test_go_known_signature(void)
{
	uint8_t sk[64];
	char name[64], err[256], *out = NULL, *want = cat3(GO_TEXT, "\n", GO_PETER_SIG);
	size_t n = 0;

	CHECK(note_skey_parse(GO_PETER_SKEY, name, sizeof name, sk, err, sizeof err));
	CHECK(note_sign(GO_TEXT, strlen(GO_TEXT), "PeterNeumann", sk, &out, &n, err, sizeof err));
	CHECK_STR_EQ(out, want);
	CHECK(n == strlen(want));
	/* Go's "Sign with short text" case. */
	free(out);
	CHECK(!note_sign("abc", 3, "PeterNeumann", sk, &out, &n, err, sizeof err));
	CHECK(out == NULL && n == 0);
	CHECK_CONTAINS(err, "end with a newline");
	free(want);
	sodium_memzero(sk, sizeof sk);
}

/* TestOpen, with Go's signatures. */
static void test_go_open(void)
{
	uint8_t peter[32], enoch[32], id[4];
	char name[64], err[256], *msg, *bad;
	size_t tl = 0;

	CHECK(note_vkey_parse(GO_PETER_VKEY, name, sizeof name, peter, id, err, sizeof err));
	CHECK(note_vkey_parse(GO_ENOCH_VKEY, name, sizeof name, enoch, id, err, sizeof err));

	/* One signature verified, the other ignored; then the other way round. */
	msg = cat3(GO_TEXT, "\n", GO_PETER_SIG);
	bad = cat3(msg, GO_ENOCH_SIG, "");
	free(msg);
	msg = bad;
	CHECK(note_verify(msg, strlen(msg), "PeterNeumann", peter, &tl, err, sizeof err));
	CHECK(tl == strlen(GO_TEXT) && memcmp(msg, GO_TEXT, tl) == 0);
	CHECK(note_verify(msg, strlen(msg), "EnochRoot", enoch, &tl, err, sizeof err));
	CHECK(tl == strlen(GO_TEXT));
	CHECK(!verify_str(msg, "EnochRoot", peter, err, sizeof err));
	CHECK_CONTAINS(err, "no signature by EnochRoot");
	free(msg);

	/* Duplicated verified and unverified signatures. */
	msg = cat3(GO_TEXT, "\n", GO_PETER_SIG);
	bad = cat3(msg, GO_PETER_SIG, GO_ENOCH_SIG);
	free(msg);
	msg = cat3(bad, GO_ENOCH_SIG, "");
	free(bad);
	CHECK(verify_str(msg, "PeterNeumann", peter, err, sizeof err));
	free(msg);

	/* Too many signatures: 101 of Peter's. */
	{
		size_t sl = strlen(GO_PETER_SIG), tlen = strlen(GO_TEXT);
		char *big = malloc(tlen + 1 + 101 * sl + 1);

		memcpy(big, GO_TEXT, tlen);
		big[tlen] = '\n';
		for (int i = 0; i < 101; i++)
			memcpy(big + tlen + 1 + i * sl, GO_PETER_SIG, sl);
		big[tlen + 1 + 101 * sl] = '\0';
		CHECK(!verify_str(big, "PeterNeumann", peter, err, sizeof err));
		CHECK_CONTAINS(err, "more than 100 signature lines");
		/* 100 are fine. */
		big[tlen + 1 + 100 * sl] = '\0';
		CHECK(verify_str(big, "PeterNeumann", peter, err, sizeof err));
		free(big);
	}

	/* Invalid signature: "ABCD" inserted at byte 60 of the signature line. */
	{
		char sig[256];

		memcpy(sig, GO_PETER_SIG, 60);
		memcpy(sig + 60, "ABCD", 4);
		strcpy(sig + 64, GO_PETER_SIG + 60);
		msg = cat3(GO_TEXT, "\n", sig);
		CHECK(!verify_str(msg, "PeterNeumann", peter, err, sizeof err));
		CHECK_STR_EQ(err, "signature line 1 by PeterNeumann does not verify");
		free(msg);
	}

	/* Go's malformed messages. */
	{
		char *cases[7];

		cases[0] = cat3(GO_TEXT, "", "");
		cases[1] = cat3(GO_TEXT, "\n", "");
		cases[2] = cat3(GO_TEXT, "\n", GO_PETER_SIG);
		cases[2][strlen(cases[2]) - 1] = '\0';
		cases[3] = cat3("\x01", GO_TEXT, "\n");
		cases[4] = cat3("\xff", GO_TEXT, "\n");
		cases[5] = cat3(GO_TEXT, "\n",
		                "\xe2\x80\x94 Bad Name "
		                "x08go/ZJkuBS9UG/"
		                "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6"
		                "RyyBwJnAM=");
		msg = cat3(GO_TEXT, "\n", GO_PETER_SIG);
		cases[6] = cat3(msg, "Unexpected line.\n", "");
		free(msg);
		for (int i = 3; i <= 4; i++) {
			msg = cases[i];
			cases[i] = cat3(msg, GO_PETER_SIG, "");
			free(msg);
		}
		for (int i = 0; i < 7; i++) {
			err[0] = '\0';
			CHECK(!verify_str(cases[i], "PeterNeumann", peter, err, sizeof err));
			CHECK(err[0] != '\0' && !strstr(err, "no signature by"));
			free(cases[i]);
		}
	}

	/* Misnamed signature and wrong key hash: not ours, so ignored. */
	{
		char sig[256];

		snprintf(sig, sizeof sig, "\xe2\x80\x94 CarmenSandiego %s",
		         GO_PETER_SIG + strlen("\xe2\x80\x94 PeterNeumann "));
		msg = cat3(GO_TEXT, "\n", sig);
		CHECK(!verify_str(msg, "PeterNeumann", peter, err, sizeof err));
		CHECK_CONTAINS(err, "no signature by PeterNeumann");
		free(msg);
		strcpy(sig, GO_PETER_SIG);
		memcpy(strstr(sig, "x08g"), "xxxx", 4);
		msg = cat3(GO_TEXT, "\n", sig);
		CHECK(!verify_str(msg, "PeterNeumann", peter, err, sizeof err));
		CHECK_CONTAINS(err, "no signature by PeterNeumann");
		free(msg);
	}
}

/* TestNewVerifier / TestNewSigner: every substring and every byte incremented is rejected. */
static void mangle_key(const char *key, bool signer)
{
	size_t len = strlen(key), rejected = 0, tried = 0;
	char *b = malloc(len + 1), name[NOTE_NAME_MAX + 1], err[256];
	uint8_t pk[32], sk[64], id[4];

	for (size_t i = 0; i <= len; i++) {
		for (size_t j = i + 1; j <= len; j++) {
			if (i == 0 && j == len)
				continue;
			memcpy(b, key + i, j - i);
			b[j - i] = '\0';
			tried++;
			if (signer ? !note_skey_parse(b, name, sizeof name, sk, err, sizeof err)
			           : !note_vkey_parse(b, name, sizeof name, pk, id, err,
			                              sizeof err))
				rejected++;
		}
	}
	memcpy(b, key, len + 1);
	for (size_t i = 0; i < len; i++) {
		b[i]++;
		tried++;
		if (signer ? !note_skey_parse(b, name, sizeof name, sk, err, sizeof err)
		           : !note_vkey_parse(b, name, sizeof name, pk, id, err, sizeof err))
			rejected++;
		if (signer)
			CHECK(!strstr(err, "AYEKFALV")); /* never quotes the secret */
		b[i]--;
	}
	CHECK(tried > 2000 && rejected == tried);
	free(b);
}

static void test_key_manglings(void)
{
	char name[64], err[256];
	uint8_t pk[32], id[4], sk[64];

	mangle_key(GO_PETER_VKEY, false);
	mangle_key(GO_PETER_SKEY, true);
	/* Go's wrong-length key and unknown algorithm, each with an adjusted key hash. */
	CHECK(!note_vkey_parse(
	        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", name,
	        sizeof name, pk, id, err, sizeof err));
	CHECK_CONTAINS(err, "not valid base64"); /* its pad bits are not zero */
	/* A 33-byte key, canonically encoded: refused for its length. */
	{
		uint8_t blob[34] = {0x01};
		char vkey[128];

		memcpy(vkey, "PeterNeumann+cc469956+", 22);
		b64_encode(blob, sizeof blob, vkey + 22);
		CHECK(!note_vkey_parse(vkey, name, sizeof name, pk, id, err, sizeof err));
		CHECK_CONTAINS(err, "Ed25519 key is 33 bytes, not 32");
	}
	CHECK(!note_vkey_parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	                       name, sizeof name, pk, id, err, sizeof err));
	CHECK_CONTAINS(err, "unknown key algorithm 0x65");
	/* Upper-case key id. */
	CHECK(!note_vkey_parse("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	                       name, sizeof name, pk, id, err, sizeof err));
	CHECK_CONTAINS(err, "lowercase hex");
	/* A small-order point with a correct key id is still refused. */
	{
		uint8_t zero[32] = {1}; /* the identity point */
		char vkey[NOTE_VKEY_MAX];

		CHECK(note_vkey_format("n", zero, vkey, sizeof vkey));
		CHECK(!note_vkey_parse(vkey, name, sizeof name, pk, id, err, sizeof err));
		CHECK_CONTAINS(err, "not a valid Ed25519 public key");
	}
	CHECK(!note_vkey_parse("", name, sizeof name, pk, id, err, sizeof err));
	CHECK(!note_skey_parse("PRIVATE+KEY+", name, sizeof name, sk, err, sizeof err));
	CHECK(!note_skey_parse(GO_PETER_VKEY, name, sizeof name, sk, err, sizeof err));
	CHECK_CONTAINS(err, "PRIVATE+KEY+");
	/* Inconsistent secret keys are not formatted. */
	{
		char skey[NOTE_SKEY_MAX];

		test_keys();
		memcpy(sk, sk1, 64);
		sk[40] ^= 1;
		CHECK(!note_skey_format(NAME, sk, skey, sizeof skey));
		CHECK(skey[0] == '\0');
		CHECK(note_skey_format(NAME, sk1, skey, sizeof skey));
		CHECK(note_skey_parse(skey, name, sizeof name, sk, err, sizeof err));
		CHECK(memcmp(sk, sk1, 64) == 0);
		CHECK(!note_skey_format(NAME, sk1, skey, strlen(skey)));
		sodium_memzero(skey, sizeof skey);
	}
	sodium_memzero(sk, sizeof sk);
}

/* The C2SP examples: well-formed, and their signatures are not ours. */
static void test_c2sp_examples(void)
{
	char origin[64], err[256], *msg;
	uint8_t root[32], want_root[32];
	uint64_t size = 0;
	size_t n;
	char text[128];

	test_keys();
	/* Text with an inner blank line and non-ASCII; the signature line shares the name. */
	CHECK(!verify_str(C2SP_NOTE, "quasimodo.example/salvatore", pk1, err, sizeof err));
	CHECK_CONTAINS(err, "no signature by quasimodo.example/salvatore");

	CHECK(checkpoint_parse(C2SP_CHECKPOINT_TEXT, strlen(C2SP_CHECKPOINT_TEXT), origin,
	                       sizeof origin, &size, root, err, sizeof err));
	CHECK_STR_EQ(origin, "example.com/behind-the-sofa");
	CHECK(size == 20852163);
	CHECK(b64_decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", 44, want_root, 32, &n));
	CHECK(n == 32 && memcmp(root, want_root, 32) == 0);
	CHECK(checkpoint_format(origin, size, root, text, sizeof text));
	CHECK_STR_EQ(text, C2SP_CHECKPOINT_TEXT);

	msg = cat3(C2SP_CHECKPOINT_TEXT, "\n", C2SP_CHECKPOINT_SIG);
	CHECK(!verify_str(msg, "example.com/behind-the-sofa", pk1, err, sizeof err));
	CHECK_CONTAINS(err, "no signature by example.com/behind-the-sofa");
	free(msg);
}

static void test_sign_verify_roundtrip(void)
{
	char cp[256], err[256], *msg = NULL, *prefix, origin[64];
	uint8_t root[32], root2[32];
	uint64_t size;
	size_t n = 0, tl = 0;

	test_keys();
	for (int i = 0; i < 32; i++)
		root[i] = (uint8_t)(i * 7 + 1);
	CHECK(checkpoint_format(NAME, 42, root, cp, sizeof cp));
	CHECK(note_sign(cp, strlen(cp), NAME, sk1, &msg, &n, err, sizeof err));
	CHECK(msg && n == strlen(msg));
	prefix = cat3(cp, "\n\xe2\x80\x94 ", NAME " ");
	CHECK(strncmp(msg, prefix, strlen(prefix)) == 0);
	CHECK(n == strlen(prefix) + 92 + 1 && msg[n - 1] == '\n');
	free(prefix);

	CHECK(note_verify(msg, n, NAME, pk1, &tl, err, sizeof err));
	CHECK(tl == strlen(cp) && memcmp(msg, cp, tl) == 0);
	CHECK(checkpoint_parse(msg, tl, origin, sizeof origin, &size, root2, err, sizeof err));
	CHECK_STR_EQ(origin, NAME);
	CHECK(size == 42 && memcmp(root, root2, 32) == 0);
	/* text_len_out is optional; the input need not be NUL-terminated. */
	CHECK(note_verify(msg, n, NAME, pk1, NULL, err, sizeof err));
	free(msg);

	/* Text with blank lines inside, non-ASCII, and a single "\n". */
	{
		static const char *const texts[] = {"\n", "a\n\n\nb\n", "x\n\n",
		                                    "\xe2\x80\x94 not a signature\n", "\xc3\xa8\n"};

		for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
			msg = sign_str(texts[i], NAME, sk1);
			CHECK(note_verify(msg, strlen(msg), NAME, pk1, &tl, err, sizeof err));
			CHECK(tl == strlen(texts[i]));
			free(msg);
		}
	}
}

/* Every one-byte change, deletion and insertion anywhere in a signed note fails. */
static void test_tamper_every_byte(void)
{
	static const uint8_t masks[] = {0x01, 0x02, 0x20, 0x40, 0x80};
	char *msg, *t, err[256];
	size_t n, failures = 0, tries = 0;

	test_keys();
	msg = sign_str("example.com/log\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", NAME,
	               sk1);
	n = strlen(msg);
	t = malloc(n + 2);
	for (size_t i = 0; i < n; i++) {
		for (size_t m = 0; m < sizeof masks; m++) {
			memcpy(t, msg, n);
			t[i] = (char)(t[i] ^ masks[m]);
			tries++;
			if (!note_verify(t, n, NAME, pk1, NULL, err, sizeof err))
				failures++;
		}
		/* Deleted. */
		memcpy(t, msg, i);
		memcpy(t + i, msg + i + 1, n - i - 1);
		tries++;
		if (!note_verify(t, n - 1, NAME, pk1, NULL, err, sizeof err))
			failures++;
		/* A byte inserted (an 'A', which keeps base64 well-formed up to its length). */
		memcpy(t, msg, i);
		t[i] = 'A';
		memcpy(t + i + 1, msg + i, n - i);
		tries++;
		if (!note_verify(t, n + 1, NAME, pk1, NULL, err, sizeof err))
			failures++;
	}
	CHECK(tries == n * (sizeof masks + 2));
	CHECK(failures == tries);
	/* Unchanged, it verifies (so that the loop above tests something). */
	CHECK(note_verify(msg, n, NAME, pk1, NULL, err, sizeof err));
	free(t);
	free(msg);
}

static void test_verify_rejects(void)
{
	char err[256], *msg, *m2, *line;
	const char *text = "origin.example\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
	uint8_t badpk[32];

	test_keys();
	msg = sign_str(text, NAME, sk1);

	/* Wrong name, wrong key. */
	CHECK(!verify_str(msg, NAME2, pk1, err, sizeof err));
	CHECK_CONTAINS(err, "no signature by " NAME2);
	CHECK(!verify_str(msg, NAME, pk2, err, sizeof err));
	CHECK_CONTAINS(err, "no signature by " NAME);
	memcpy(badpk, pk1, 32);
	badpk[0] ^= 1;
	CHECK(!verify_str(msg, NAME, badpk, err, sizeof err));

	/* Our own name must be valid. */
	CHECK(!verify_str(msg, "bad name", pk1, err, sizeof err));
	CHECK_CONTAINS(err, "invalid key name");
	CHECK(!verify_str(msg, "a+b", pk1, err, sizeof err));

	/* Missing blank line. */
	line = sig_line(text, NAME, sk1);
	m2 = cat3(text, line, "");
	CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
	CHECK_CONTAINS(err, "no blank line");
	free(m2);

	/* Duplicate separators: the text then ends in a blank line it was not signed with. */
	m2 = cat3(text, "\n\n", line);
	CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
	CHECK_CONTAINS(err, "does not verify");
	free(m2);
	/* A blank line among the signature lines. */
	m2 = cat3(msg, "\n", line);
	CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
	free(m2);

	/* CRLF line endings. */
	{
		size_t n = strlen(msg), o = 0;
		char *crlf = malloc(2 * n + 1);

		for (size_t i = 0; i < n; i++) {
			if (msg[i] == '\n')
				crlf[o++] = '\r';
			crlf[o++] = msg[i];
		}
		crlf[o] = '\0';
		CHECK(!verify_str(crlf, NAME, pk1, err, sizeof err));
		CHECK_CONTAINS(err, "carriage return");
		free(crlf);
	}

	/* Trailing garbage. */
	m2 = cat3(msg, "x", "");
	CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
	CHECK_CONTAINS(err, "does not end with a newline");
	free(m2);
	m2 = cat3(msg, "garbage\n", "");
	CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
	CHECK_CONTAINS(err, "signature line 2 does not start with an em dash");
	free(m2);
	m2 = cat3(msg, "\xe2\x80\x94 ", "\n");
	CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
	CHECK_CONTAINS(err, "signature line 2 has no space");
	free(m2);
	m2 = cat3(msg, "\xe2\x80\x94 x ", "\n");
	CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
	CHECK_CONTAINS(err, "empty signature");
	free(m2);
	m2 = cat3(msg, "\xe2\x80\x94 x+y AAAAAAAA", "\n");
	CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
	CHECK_CONTAINS(err, "invalid key name");
	free(m2);
	m2 = cat3(msg, "\xe2\x80\x94 x AAAAAA==", "\n");
	CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
	CHECK_CONTAINS(err, "shorter than 5 bytes");
	free(m2);
	m2 = cat3(msg, "- x AAAAAAAA", "\n"); /* ASCII hyphen instead of the em dash */
	CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
	CHECK_CONTAINS(err, "em dash");
	free(m2);

	/* Bad base64 in our line: a foreign character, URL-safe alphabet, non-canonical padding. */
	{
		size_t b = strlen(text) + 1 + 4 + strlen(NAME) + 1; /* first base64 byte */
		size_t last = strlen(msg) - 3;                      /* before "=\n" */

		m2 = strdup(msg);
		m2[b + 5] = '*';
		CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
		CHECK_CONTAINS(err, "signature line 1 has invalid base64");
		strcpy(m2, msg);
		m2[b + 5] = '-';
		CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
		CHECK_CONTAINS(err, "invalid base64");
		strcpy(m2, msg);
		CHECK(m2[last + 1] == '=');
		/* Set a pad bit: same bytes to a lax decoder, refused here. */
		static const char alpha[] =
		        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		m2[last] = alpha[b64_value((unsigned char)m2[last]) | 1];
		CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
		CHECK_CONTAINS(err, "invalid base64");
		free(m2);
	}

	/* Non-UTF-8 and control characters. */
	m2 = cat3("\xc3", msg, "");
	CHECK(!verify_str(m2, NAME, pk1, err, sizeof err));
	CHECK_CONTAINS(err, "not valid UTF-8 at byte 0");
	free(m2);
	{
		size_t n = strlen(msg);

		m2 = strdup(msg);
		m2[3] = '\0';
		CHECK(!note_verify(m2, n, NAME, pk1, NULL, err, sizeof err));
		CHECK_CONTAINS(err, "control character at byte 3");
		free(m2);
	}

	/* Empty and too-large notes. */
	CHECK(!note_verify("", 0, NAME, pk1, NULL, err, sizeof err));
	CHECK(!note_verify(msg, (size_t)NOTE_MAX_LEN + 1, NAME, pk1, NULL, err, sizeof err));
	CHECK_CONTAINS(err, "too large");
	CHECK(!note_verify(NULL, 0, NAME, pk1, NULL, err, sizeof err));
	free(line);
	free(msg);
}

/* Lines of other keys are ignored; a line with our name and key id must verify. */
static void test_other_signers(void)
{
	char err[256], *msg, *both, *line2, *forged;
	const char *text = "t\n";
	size_t tl = 0;

	test_keys();
	msg = sign_str(text, NAME, sk1);
	line2 = sig_line(text, NAME2, sk2);

	/* A cosignature by another key is ignored, in either order. */
	both = cat3(msg, line2, "");
	CHECK(note_verify(both, strlen(both), NAME, pk1, &tl, err, sizeof err) && tl == 2);
	CHECK(verify_str(both, NAME2, pk2, err, sizeof err));
	free(both);
	both = cat3(text, "\n", line2);
	CHECK(!verify_str(both, NAME, pk1, err, sizeof err));
	CHECK_CONTAINS(err, "no signature by " NAME);
	free(both);

	/* Same name, another key (so another key id): ignored, not an error. */
	{
		char *same_name = sig_line(text, NAME, sk2);

		both = cat3(msg, same_name, "");
		CHECK(verify_str(both, NAME, pk1, err, sizeof err));
		free(both);
		free(same_name);
	}

	/* Our name and key id over another key's signature: an error even beside a good line. */
	{
		char *other = sig_line(text, NAME, sk2);
		char *b64 = strchr(other + 4, ' ') + 1;
		uint8_t blob[68], id[4];
		size_t n;

		CHECK(b64_decode(b64, 92, blob, sizeof blob, &n) && n == 68);
		CHECK(note_keyid(NAME, pk1, id));
		memcpy(blob, id, 4);
		b64_encode(blob, sizeof blob, b64);
		b64[92] = '\n';
		forged = cat3(msg, other, "");
		CHECK(!verify_str(forged, NAME, pk1, err, sizeof err));
		CHECK_STR_EQ(err, "signature line 2 by " NAME " does not verify");
		free(forged);
		forged = cat3(text, "\n", other);
		CHECK(!verify_str(forged, NAME, pk1, err, sizeof err));
		CHECK_CONTAINS(err, "does not verify");
		free(forged);
		free(other);
	}

	/* Our key id with a signature of the wrong length. */
	{
		uint8_t blob[40] = {0}, id[4];
		char b64[64], lbuf[128];

		CHECK(note_keyid(NAME, pk1, id));
		memcpy(blob, id, 4);
		b64_encode(blob, sizeof blob, b64);
		snprintf(lbuf, sizeof lbuf, "\xe2\x80\x94 %s %s\n", NAME, b64);
		forged = cat3(msg, lbuf, "");
		CHECK(!verify_str(forged, NAME, pk1, err, sizeof err));
		CHECK_CONTAINS(err, "does not verify");
		free(forged);
	}

	/* 100 lines (ours and 99 others) pass; 101 do not. */
	{
		size_t ll = strlen(line2), ml = strlen(msg);
		char *big = malloc(ml + 100 * ll + 1);

		memcpy(big, msg, ml);
		for (int i = 0; i < 100; i++)
			memcpy(big + ml + (size_t)i * ll, line2, ll);
		big[ml + 99 * ll] = '\0';
		CHECK(verify_str(big, NAME, pk1, err, sizeof err));
		big[ml + 99 * ll] = line2[0];
		big[ml + 100 * ll] = '\0';
		CHECK(!verify_str(big, NAME, pk1, err, sizeof err));
		CHECK_CONTAINS(err, "more than 100 signature lines");
		free(big);
	}
	free(line2);
	free(msg);
}

static void test_sign_rejects(void)
{
	char err[256], *out = (char *)1, *text;
	size_t n = 99;
	uint8_t bad[64];

	test_keys();
	CHECK(!note_sign("", 0, NAME, sk1, &out, &n, err, sizeof err));
	CHECK(out == NULL && n == 0);
	CHECK(!note_sign("no newline", 10, NAME, sk1, &out, &n, err, sizeof err));
	CHECK(!note_sign("a\r\n", 3, NAME, sk1, &out, &n, err, sizeof err));
	CHECK_CONTAINS(err, "carriage return");
	CHECK(!note_sign("a\x1b\n", 3, NAME, sk1, &out, &n, err, sizeof err));
	CHECK_CONTAINS(err, "control character");
	CHECK(!note_sign("a\xff\n", 3, NAME, sk1, &out, &n, err, sizeof err));
	CHECK_CONTAINS(err, "not valid UTF-8");
	CHECK(!note_sign("a\n", 2, "a b", sk1, &out, &n, err, sizeof err));
	CHECK_CONTAINS(err, "invalid key name");
	CHECK(!note_sign("a\n", 2, "a+b", sk1, &out, &n, err, sizeof err));
	CHECK(!note_sign("a\n", 2, "", sk1, &out, &n, err, sizeof err));
	memcpy(bad, sk1, 64);
	bad[63] ^= 0x10;
	CHECK(!note_sign("a\n", 2, NAME, bad, &out, &n, err, sizeof err));
	CHECK_CONTAINS(err, "inconsistent");
	CHECK(out == NULL);

	/* The size limit: the largest text that fits, and one byte more. */
	{
		size_t over = 1 + 4 + strlen(NAME) + 1 + 92 + 1, max = NOTE_MAX_LEN - over;

		text = malloc(max + 2);
		memset(text, 'a', max + 1);
		text[max - 1] = '\n';
		CHECK(note_sign(text, max, NAME, sk1, &out, &n, err, sizeof err));
		CHECK(n == NOTE_MAX_LEN);
		CHECK(out && note_verify(out, n, NAME, pk1, NULL, err, sizeof err));
		free(out);
		text[max - 1] = 'a';
		text[max] = '\n';
		CHECK(!note_sign(text, max + 1, NAME, sk1, &out, &n, err, sizeof err));
		CHECK_CONTAINS(err, "too long");
		free(text);
	}
}

static void test_checkpoint_roundtrip(void)
{
	char cp[256], origin[128], err[256];
	uint8_t root[32], got[32];
	uint64_t size;
	static const uint64_t sizes[] = {0, 1, 9, 10, 20852163, UINT64_MAX - 1, UINT64_MAX};

	for (int i = 0; i < 32; i++)
		root[i] = (uint8_t)(0xff - i);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		CHECK(checkpoint_format("log.example/\xc3\xa8 with spaces", sizes[i], root, cp,
		                        sizeof cp));
		CHECK(checkpoint_parse(cp, strlen(cp), origin, sizeof origin, &size, got, err,
		                       sizeof err));
		CHECK_STR_EQ(origin, "log.example/\xc3\xa8 with spaces");
		CHECK(size == sizes[i] && memcmp(got, root, 32) == 0);
	}
	CHECK(checkpoint_format("o", UINT64_MAX, root, cp, sizeof cp));
	CHECK_STR_EQ(cp, "o\n18446744073709551615\n//79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eA=\n");
	/* Exactly big enough, and one byte short; the documented bound suffices. */
	CHECK(checkpoint_format("o", UINT64_MAX, root, cp, strlen(cp) + 1));
	CHECK(checkpoint_format("o", UINT64_MAX, root, cp, 1 + CHECKPOINT_OVERHEAD));
	CHECK(!checkpoint_format("o", UINT64_MAX, root, cp, strlen(cp)));
	CHECK(cp[0] == '\0');

	/* Extension lines are accepted. */
	{
		const char *t = "o\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next "
		                "one\n\xe2\x80\x94 x\n";

		CHECK(checkpoint_parse(t, strlen(t), origin, sizeof origin, &size, got, err,
		                       sizeof err));
		CHECK(size == 5);
	}
	/* Origin buffer exactly big enough, then one byte short. */
	CHECK(checkpoint_format("origin", 1, root, cp, sizeof cp));
	CHECK(checkpoint_parse(cp, strlen(cp), origin, 7, &size, got, err, sizeof err));
	CHECK(!checkpoint_parse(cp, strlen(cp), origin, 6, &size, got, err, sizeof err));
	CHECK_CONTAINS(err, "does not fit");
}

static void test_checkpoint_rejects(void)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
	        {"o\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "leading zero"},
	        {"o\n00\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "leading zero"},
	        {"o\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	         "does not fit in 64 bits"},
	        {"o\n99999999999999999999999\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	         "does not fit in 64 bits"},
	        {"o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	         "not an unsigned decimal"},
	        {"o\n+1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	         "not an unsigned decimal"},
	        {"o\n 1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	         "not an unsigned decimal"},
	        {"o\n1 \nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	         "not an unsigned decimal"},
	        {"o\n0x1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	         "not an unsigned decimal"},
	        {"o\n\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "line 2) is empty"},
	        {"\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "origin (line 1) is empty"},
	        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n", "is 31 bytes"},
	        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", "is 33 bytes"},
	        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", "not valid base64"},
	        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n", "not valid base64"},
	        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_=\n", "not valid base64"},
	        {"o\n1\n\n", "is 0 bytes"},
	        {"o\n1\n", "no root hash"},
	        {"o\n", "no tree size"},
	        {"", "does not end with a newline"},
	        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	         "does not end with a newline"},
	        {"o\r\n1\r\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n", "carriage return"},
	        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n", "carriage return"},
	        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",
	         "extension line 4 is empty"},
	        {"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nx\n\ny\n", "line 5 is empty"},
	        {"\xff\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "not valid UTF-8"},
	        {"o\t\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "control character"},
	};
	char origin[64], err[256];
	uint8_t root[32], zero[32] = {0};
	uint64_t size = 77;

	memset(root, 0xee, sizeof root);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		CHECK(!checkpoint_parse(bad[i].text, strlen(bad[i].text), origin, sizeof origin,
		                        &size, root, err, sizeof err));
		if (!strstr(err, bad[i].why))
			fprintf(stderr, "case %zu: \"%s\"\n", i, err);
		CHECK_CONTAINS(err, bad[i].why);
	}
	/* Outputs are untouched on failure. */
	CHECK(size == 77 && root[0] == 0xee);
	CHECK(!checkpoint_parse(NULL, 0, origin, sizeof origin, &size, root, err, sizeof err));

	CHECK(!checkpoint_format("", 1, zero, origin, sizeof origin));
	CHECK(!checkpoint_format("a\nb", 1, zero, origin, sizeof origin));
	CHECK(!checkpoint_format("a\rb", 1, zero, origin, sizeof origin));
	CHECK(!checkpoint_format("a\xff", 1, zero, origin, sizeof origin));
	CHECK(!checkpoint_format(NULL, 1, zero, origin, sizeof origin));
}

/* What the ledger does and `fiducia ledger verify` checks, end to end. */
static void test_signed_checkpoint_with_vkey(void)
{
	char vkey[NOTE_VKEY_MAX], name[NOTE_NAME_MAX + 1], cp[256], origin[256], err[256], *msg;
	uint8_t pk[32], id[4], root[32], got[32];
	uint64_t size = 0;
	size_t tl = 0;

	test_keys();
	memset(root, 0x5a, sizeof root);
	CHECK(note_vkey_format(NAME, pk1, vkey, sizeof vkey));
	CHECK(checkpoint_format(NAME, 1000, root, cp, sizeof cp));
	msg = sign_str(cp, NAME, sk1);
	/* The verifier knows only the vkey string. */
	CHECK(note_vkey_parse(vkey, name, sizeof name, pk, id, err, sizeof err));
	CHECK(note_verify(msg, strlen(msg), name, pk, &tl, err, sizeof err));
	CHECK(checkpoint_parse(msg, tl, origin, sizeof origin, &size, got, err, sizeof err));
	CHECK(size == 1000 && memcmp(got, root, 32) == 0);
	CHECK_STR_EQ(origin, name);
	free(msg);
}

TEST_MAIN(TU_CASE(test_base64_rfc4648), TU_CASE(test_utf8), TU_CASE(test_names),
          TU_CASE(test_go_known_keys), TU_CASE(test_go_known_signature), TU_CASE(test_go_open),
          TU_CASE(test_key_manglings), TU_CASE(test_c2sp_examples),
          TU_CASE(test_sign_verify_roundtrip), TU_CASE(test_tamper_every_byte),
          TU_CASE(test_verify_rejects), TU_CASE(test_other_signers), TU_CASE(test_sign_rejects),
          TU_CASE(test_checkpoint_roundtrip), TU_CASE(test_checkpoint_rejects),
          TU_CASE(test_signed_checkpoint_with_vkey))
