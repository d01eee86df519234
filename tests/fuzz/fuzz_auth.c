/*
 * libFuzzer harness for server/auth.c: the input is an Authorization header.
 * The verifier trusts a freshly generated ES256 key and a fixed, test-only
 * HS256 secret (so that corpus tokens signed with it reach the claim checks),
 * and verifies at a fixed time with the cache on.
 */
#include "../../server/auth.c"

#define FZ_NOW INT64_C(1700000000)

/* Throw-away secret, used by nothing but this harness and its corpus. */
static const char fz_hs_secret[] = "fuzz-only-hs256-secret-not-for-production";

static auth_verifier *fz_v;

/* Builds the verifier once; aborts if it cannot (the harness would be useless). */
static void fz_init(void)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL, err[256];
	long n;

	fz_v = auth_verifier_new("fiducia", 30, 64);
	if (!fz_v || !ec || !b || PEM_write_bio_PUBKEY(b, ec) != 1)
		abort();
	n = BIO_get_mem_data(b, &pem);
	if (!auth_verifier_add_issuer(fz_v, "fiducia-fuzz-es", "ES256", (const unsigned char *)pem,
	                              (size_t)n, false, err, sizeof err) ||
	    !auth_verifier_add_issuer(fz_v, "fiducia-fuzz-hs", "HS256",
	                              (const unsigned char *)fz_hs_secret, strlen(fz_hs_secret),
	                              true, err, sizeof err))
		abort();
	BIO_free(b);
	EVP_PKEY_free(ec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *hdr, why[128];
	auth_claims c;
	auth_status st;

	if (!fz_v)
		fz_init();
	hdr = malloc(size + 1);
	if (!hdr)
		return 0;
	memcpy(hdr, data, size);
	hdr[size] = '\0';
	st = auth_verify(fz_v, hdr, FZ_NOW, &c, why, sizeof why);
	/* Invariants: a reason exactly on failure, printable; sane claims on success. */
	if ((st == AUTH_OK) != (why[0] == '\0'))
		abort();
	for (const char *w = why; *w; w++)
		if (*w < 0x20 || *w > 0x7e)
			abort();
	if (st == AUTH_OK) {
		if (FZ_NOW > c.exp + 30 || auth_role_parse(auth_role_name(c.role)) != c.role ||
		    c.role == AUTH_ROLE_NONE || !fiducia_slug_valid(c.org, strlen(c.org)) ||
		    !find_issuer(fz_v, c.issuer, strlen(c.issuer)))
			abort();
	}
	free(hdr);
	return 0;
}
