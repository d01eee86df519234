/*
 * Unit tests for server/auth.c: every rejection path of auth_verify, issuer
 * registration, the verified-token cache and ES256 interoperability. Keys
 * are generated at run time; tokens are minted with libjwt or built by hand
 * (base64url of hand-written JSON, signed with OpenSSL or libsodium).
 */
#include "../../server/auth.c"

#include <inttypes.h>
#include <openssl/ecdsa.h>

#include "testutil.h"

#define NOW    INT64_C(1700000000)
#define LEEWAY 30
#define AUD    "fiducia"
#define ES_ISS "fiducia-test"
#define RS_ISS "rsa-issuer"
#define HS_ISS "hs-issuer"

/* A throw-away HS256 secret, 32 bytes. */
static const char hs_secret[] = "test-only-hs256-secret-0123456789";

static struct {
	bool ready;
	EVP_PKEY *ec, *ec2, *rsa;
	char *ec_priv, *ec_pub, *ec2_priv, *rsa_priv, *rsa_pub;
} K;

static char *pem_of(EVP_PKEY *k, bool priv)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *r;
	long n;

	if (priv)
		PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	else
		PEM_write_bio_PUBKEY(b, k);
	n = BIO_get_mem_data(b, &p);
	r = strndup(p, (size_t)n);
	BIO_free(b);
	return r;
}

static void keys_free(void)
{
	EVP_PKEY_free(K.ec);
	EVP_PKEY_free(K.ec2);
	EVP_PKEY_free(K.rsa);
	free(K.ec_priv);
	free(K.ec_pub);
	free(K.ec2_priv);
	free(K.rsa_priv);
	free(K.rsa_pub);
}

static void keys(void)
{
	if (K.ready)
		return;
	K.ec = EVP_EC_gen("P-256");
	K.ec2 = EVP_EC_gen("P-256");
	K.rsa = EVP_RSA_gen(2048);
	if (!K.ec || !K.ec2 || !K.rsa) {
		fprintf(stderr, "key generation failed\n");
		exit(1);
	}
	K.ec_priv = pem_of(K.ec, true);
	K.ec_pub = pem_of(K.ec, false);
	K.ec2_priv = pem_of(K.ec2, true);
	K.rsa_priv = pem_of(K.rsa, true);
	K.rsa_pub = pem_of(K.rsa, false);
	K.ready = true;
	atexit(keys_free);
}

static void b64url(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned x = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[x >> 18];
		out[o++] = a[(x >> 12) & 63];
		out[o++] = a[(x >> 6) & 63];
		out[o++] = a[x & 63];
	}
	if (n - i == 1) {
		unsigned x = (unsigned)in[i] << 16;
		out[o++] = a[x >> 18];
		out[o++] = a[(x >> 12) & 63];
	} else if (n - i == 2) {
		unsigned x = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = a[x >> 18];
		out[o++] = a[(x >> 12) & 63];
		out[o++] = a[(x >> 6) & 63];
	}
	out[o] = '\0';
}

static char *b64s(const char *s)
{
	char *out = malloc(strlen(s) * 4 / 3 + 4);
	b64url((const unsigned char *)s, strlen(s), out);
	return out;
}

/* ES256 over input with OpenSSL directly: DER from EVP_DigestSign, converted to raw R||S. */
static void es256_raw(EVP_PKEY *k, const char *input, unsigned char raw[64], unsigned char *der,
                      size_t *derlen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char buf[128];
	size_t blen = sizeof buf;
	const unsigned char *pp = buf;
	ECDSA_SIG *s;
	const BIGNUM *r, *ss;

	CHECK(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) == 1);
	CHECK(EVP_DigestSign(md, buf, &blen, (const unsigned char *)input, strlen(input)) == 1);
	EVP_MD_CTX_free(md);
	s = d2i_ECDSA_SIG(NULL, &pp, (long)blen);
	CHECK(s != NULL);
	ECDSA_SIG_get0(s, &r, &ss);
	CHECK(BN_bn2binpad(r, raw, 32) == 32);
	CHECK(BN_bn2binpad(ss, raw + 32, 32) == 32);
	ECDSA_SIG_free(s);
	if (der) {
		memcpy(der, buf, blen);
		*derlen = blen;
	}
}

enum sig_kind { SIG_EMPTY, SIG_ES256, SIG_ES256_DER, SIG_HS256, SIG_RS256 };

/* A token from hand-written header and payload JSON, signed as asked (key: EVP_PKEY or secret). */
static char *craft(const char *hdr, const char *payload, enum sig_kind kind, const void *key)
{
	char *h = b64s(hdr), *p = b64s(payload);
	size_t cap = strlen(h) + strlen(p) + 2048;
	char *t = malloc(cap), *end;
	unsigned char sig[1024], der[128];
	size_t slen = 0;

	snprintf(t, cap, "%s.%s", h, p);
	if (kind == SIG_ES256 || kind == SIG_ES256_DER) {
		es256_raw((EVP_PKEY *)key, t, sig, der, &slen);
		if (kind == SIG_ES256)
			slen = 64;
		else
			memcpy(sig, der, slen);
	} else if (kind == SIG_HS256) {
		crypto_auth_hmacsha256_state st;
		const char *sec = key;
		crypto_auth_hmacsha256_init(&st, (const unsigned char *)sec, strlen(sec));
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)t, strlen(t));
		crypto_auth_hmacsha256_final(&st, sig);
		slen = 32;
	} else if (kind == SIG_RS256) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		slen = sizeof sig;
		CHECK(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, (EVP_PKEY *)key) == 1);
		CHECK(EVP_DigestSign(md, sig, &slen, (const unsigned char *)t, strlen(t)) == 1);
		EVP_MD_CTX_free(md);
	}
	end = t + strlen(t);
	*end++ = '.';
	b64url(sig, slen, end);
	free(h);
	free(p);
	return t;
}

/* A token minted by libjwt with the given grants (a JSON object). */
static char *mint(jwt_alg_t alg, const char *key, const char *grants)
{
	jwt_t *j = NULL;
	char *t;

	CHECK(jwt_new(&j) == 0);
	CHECK(jwt_add_grants_json(j, grants) == 0);
	CHECK(jwt_set_alg(j, alg, (const unsigned char *)key, (int)strlen(key)) == 0);
	t = jwt_encode_str(j);
	CHECK(t != NULL);
	jwt_free(j);
	return t;
}

/* Standard claims for iss, with the rest appended (must start with a comma or be ""). */
static char *claims(const char *iss, int64_t exp, const char *more)
{
	char *s = malloc(8192);
	snprintf(s, 8192,
	         "{\"iss\":\"%s\",\"aud\":\"" AUD
	         "\",\"org\":\"acme\",\"role\":\"user\",\"exp\":%" PRId64 "%s}",
	         iss, exp, more);
	return s;
}

static auth_verifier *verifier(int leeway, size_t cache)
{
	char err[256];
	auth_verifier *v;

	keys();
	v = auth_verifier_new(AUD, leeway, cache);
	CHECK(v != NULL);
	CHECK(auth_verifier_add_issuer(v, ES_ISS, "ES256", (const unsigned char *)K.ec_pub,
	                               strlen(K.ec_pub), false, err, sizeof err));
	CHECK(auth_verifier_add_issuer(v, RS_ISS, "RS256", (const unsigned char *)K.rsa_pub,
	                               strlen(K.rsa_pub), false, err, sizeof err));
	CHECK(auth_verifier_add_issuer(v, HS_ISS, "HS256", (const unsigned char *)hs_secret,
	                               strlen(hs_secret), true, err, sizeof err));
	return v;
}

static char last_why[256];

/* Verifies "Bearer <tok>" and checks that the reason never quotes the token or its parts. */
static auth_status vfy_hdr(auth_verifier *v, const char *hdr, const char *tok, int64_t now,
                           auth_claims *c)
{
	auth_claims dummy;
	auth_status st;

	memset(last_why, 'X', sizeof last_why);
	st = auth_verify(v, hdr, now, c ? c : &dummy, last_why, sizeof last_why);
	CHECK(memchr(last_why, '\0', sizeof last_why) != NULL);
	CHECK(strlen(last_why) < 200);
	CHECK((st == AUTH_OK) == (last_why[0] == '\0'));
	for (const char *w = last_why; *w; w++)
		CHECK(*w >= 0x20 && *w < 0x7f);
	if (tok && *tok) {
		const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
		CHECK(!strstr(last_why, tok));
		if (d1 && d1 - tok >= 8)
			CHECK(!memmem(last_why, strlen(last_why), tok, 8));
		if (d1 && d2 && d2 - d1 > 8)
			CHECK(!memmem(last_why, strlen(last_why), d1 + 1, 8));
		if (d2 && strlen(d2 + 1) >= 8)
			CHECK(!strstr(last_why, d2 + 1));
	}
	return st;
}

static auth_status vfy(auth_verifier *v, const char *tok, int64_t now, auth_claims *c)
{
	char *hdr = malloc(strlen(tok) + 8);
	auth_status st;

	sprintf(hdr, "Bearer %s", tok);
	st = vfy_hdr(v, hdr, tok, now, c);
	free(hdr);
	return st;
}

/* mint + vfy + free, for the one-line cases. */
static auth_status vfy_claims(auth_verifier *v, jwt_alg_t alg, const char *key, const char *iss,
                              int64_t exp, const char *more, int64_t now)
{
	char *c = claims(iss, exp, more);
	char *t = mint(alg, key, c);
	auth_status st = vfy(v, t, now, NULL);
	free(c);
	free(t);
	return st;
}

/* A hand-made ES256 token for the ES issuer, from payload JSON. */
static auth_status vfy_es_payload(auth_verifier *v, const char *payload, int64_t now)
{
	char *t = craft("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", payload, SIG_ES256, K.ec);
	auth_status st = vfy(v, t, now, NULL);
	free(t);
	return st;
}

static void test_roles(void)
{
	CHECK(auth_role_parse("operator") == AUTH_ROLE_OPERATOR);
	CHECK(auth_role_parse("holder") == AUTH_ROLE_HOLDER);
	CHECK(auth_role_parse("user") == AUTH_ROLE_USER);
	CHECK(auth_role_parse("regulator") == AUTH_ROLE_REGULATOR);
	CHECK(auth_role_parse("Operator") == AUTH_ROLE_NONE);
	CHECK(auth_role_parse("admin") == AUTH_ROLE_NONE);
	CHECK(auth_role_parse("") == AUTH_ROLE_NONE);
	CHECK(auth_role_parse(NULL) == AUTH_ROLE_NONE);
	CHECK_STR_EQ(auth_role_name(AUTH_ROLE_OPERATOR), "operator");
	CHECK_STR_EQ(auth_role_name(AUTH_ROLE_HOLDER), "holder");
	CHECK_STR_EQ(auth_role_name(AUTH_ROLE_USER), "user");
	CHECK_STR_EQ(auth_role_name(AUTH_ROLE_REGULATOR), "regulator");
	CHECK_STR_EQ(auth_role_name(AUTH_ROLE_NONE), "none");
	CHECK_STR_EQ(auth_role_name(AUTH_ROLE_ANY), "none");
}

static bool add(auth_verifier *v, const char *name, const char *alg, const char *key, bool hs,
                char *err)
{
	return auth_verifier_add_issuer(v, name, alg, (const unsigned char *)key, strlen(key), hs,
	                                err, 256);
}

static void test_add_issuer(void)
{
	char err[256];
	auth_verifier *v;
	EVP_PKEY *p384 = EVP_EC_gen("P-384"), *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
	         *rsa1k = EVP_RSA_gen(1024);
	char *p384_pub = pem_of(p384, false), *ed_pub = pem_of(ed, false),
	     *rsa1k_pub = pem_of(rsa1k, false);
	char both[8192];

	keys();
	v = auth_verifier_new(AUD, 10, 16);
	CHECK(v != NULL);
	CHECK(add(v, ES_ISS, "ES256", K.ec_pub, false, err));
	CHECK(!add(v, ES_ISS, "ES256", K.ec_pub, false, err));
	CHECK_CONTAINS(err, "duplicate issuer");
	CHECK(add(v, RS_ISS, "RS256", K.rsa_pub, false, err));

	/* private keys, whatever the format */
	CHECK(!add(v, "p1", "ES256", K.ec_priv, false, err));
	CHECK_CONTAINS(err, "expected a public key");
	CHECK(!add(v, "p2", "RS256", K.rsa_priv, false, err));
	CHECK_CONTAINS(err, "expected a public key");
	snprintf(both, sizeof both, "%s%s", K.ec_priv, K.ec_pub);
	CHECK(!add(v, "p3", "ES256", both, false, err));
	CHECK_CONTAINS(err, "expected a public key");

	/* wrong key types and sizes */
	CHECK(!add(v, "k1", "ES256", K.rsa_pub, false, err));
	CHECK_CONTAINS(err, "P-256");
	CHECK(!add(v, "k2", "ES256", p384_pub, false, err));
	CHECK_CONTAINS(err, "P-256");
	CHECK(!add(v, "k3", "ES256", ed_pub, false, err));
	CHECK(!add(v, "k4", "RS256", K.ec_pub, false, err));
	CHECK_CONTAINS(err, "RSA");
	CHECK(!add(v, "k5", "RS256", rsa1k_pub, false, err));
	CHECK_CONTAINS(err, "2048");
	CHECK(!add(v, "k6", "ES256", "not a key", false, err));
	CHECK_CONTAINS(err, "PEM public key");
	CHECK(!auth_verifier_add_issuer(v, "k7", "ES256", (const unsigned char *)"", 0, false, err,
	                                sizeof err));
	CHECK(!add(v, "k8", "ES256", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
	           false, err));

	/* algorithms */
	CHECK(!add(v, "a1", "none", K.ec_pub, false, err));
	CHECK_CONTAINS(err, "unsupported algorithm none");
	CHECK(!add(v, "a2", "ES384", K.ec_pub, false, err));
	CHECK(!add(v, "a3", "es256", K.ec_pub, false, err));
	CHECK(!auth_verifier_add_issuer(v, "a4", NULL, (const unsigned char *)"x", 1, false, err,
	                                sizeof err));

	/* HS256 only when allowed, and only with a long secret */
	CHECK(!add(v, "h1", "HS256", hs_secret, false, err));
	CHECK_CONTAINS(err, "allow_hs256");
	CHECK(!add(v, "h2", "HS256", "0123456789012345678901234567890", true, err)); /* 31 bytes */
	CHECK_CONTAINS(err, "at least 32 bytes");
	CHECK(add(v, "h3", "HS256", "01234567890123456789012345678901", true, err));

	/* names */
	CHECK(!add(v, "", "ES256", K.ec_pub, false, err));
	CHECK(!add(v, "has space", "ES256", K.ec_pub, false, err));
	CHECK(!add(v, NULL, "ES256", K.ec_pub, false, err));
	char longname[AUTH_ISSUER_MAX + 1];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	CHECK(!add(v, longname, "ES256", K.ec_pub, false, err));
	longname[AUTH_ISSUER_MAX - 1] = '\0'; /* 127 characters fit */
	CHECK(add(v, longname, "ES256", K.ec_pub, false, err));

	/* at most AUTH_MAX_ISSUERS */
	for (int i = (int)v->nissuers; i < AUTH_MAX_ISSUERS; i++) {
		char name[32];
		snprintf(name, sizeof name, "extra-%d", i);
		CHECK(add(v, name, "ES256", K.ec_pub, false, err));
	}
	CHECK(!add(v, "one-too-many", "ES256", K.ec_pub, false, err));
	CHECK_CONTAINS(err, "too many issuers");
	auth_verifier_free(v);

	CHECK(auth_verifier_new(NULL, 0, 0) == NULL);
	CHECK(auth_verifier_new("", 0, 0) == NULL);
	auth_verifier_free(NULL);

	EVP_PKEY_free(p384);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(rsa1k);
	free(p384_pub);
	free(ed_pub);
	free(rsa1k_pub);
}

static void test_es256_happy(void)
{
	auth_verifier *v = verifier(LEEWAY, 16);
	auth_claims c;
	unsigned char want[32];
	char *cl = claims(ES_ISS, NOW + 600,
	                  ",\"jti\":\"abc-123\",\"iat\":1699999990,\"nbf\":1699999990");
	char *t = mint(JWT_ALG_ES256, K.ec_priv, cl);

	CHECK(vfy(v, t, NOW, &c) == AUTH_OK);
	CHECK_STR_EQ(c.org, "acme");
	CHECK_STR_EQ(c.issuer, ES_ISS);
	CHECK(c.role == AUTH_ROLE_USER);
	CHECK(c.exp == NOW + 600);
	crypto_hash_sha256(want, (const unsigned char *)"abc-123", 7);
	CHECK(memcmp(c.jti_hash, want, 32) == 0);
	free(cl);
	free(t);

	/* without jti the hash is zeros; every role round-trips */
	const char *roles[] = {"operator", "holder", "user", "regulator"};
	for (size_t i = 0; i < 4; i++) {
		char more[64];
		unsigned char zero[32] = {0};
		snprintf(more, sizeof more, ",\"role\":\"%s\"", roles[i]);
		cl = malloc(512);
		snprintf(cl, 512,
		         "{\"iss\":\"" ES_ISS "\",\"aud\":\"" AUD
		         "\",\"org\":\"o%zu\",\"exp\":%" PRId64 "%s}",
		         i, NOW + 60, more);
		t = mint(JWT_ALG_ES256, K.ec_priv, cl);
		CHECK(vfy(v, t, NOW, &c) == AUTH_OK);
		CHECK(c.role == auth_role_parse(roles[i]));
		CHECK(memcmp(c.jti_hash, zero, 32) == 0);
		free(cl);
		free(t);
	}

	/* a large but bounded payload still verifies */
	char *big = malloc(6000);
	snprintf(big, 6000, ",\"pad\":\"%05000d\"", 7);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW + 60, big, NOW) == AUTH_OK);
	free(big);
	auth_verifier_free(v);
}

/* ES256 in JWS is raw R||S (RFC 7518 3.4): libjwt must produce and accept that. */
static void test_es256_interop(void)
{
	auth_verifier *v = verifier(LEEWAY, 0);
	char *cl = claims(ES_ISS, NOW + 60, "");
	char *t = mint(JWT_ALG_ES256, K.ec_priv, cl);
	const char *sig = strrchr(t, '.') + 1;
	unsigned char raw[128];
	size_t rawlen = 0;

	/* libjwt's own signature: 86 base64url characters, 64 bytes */
	CHECK(strlen(sig) == 86);
	CHECK(b64url_decode(sig, strlen(sig), raw, sizeof raw, &rawlen));
	CHECK(rawlen == 64);
	free(t);

	/* signed by OpenSSL directly, R||S: accepted, by us and by libjwt alone */
	t = craft("{\"alg\":\"ES256\",\"typ\":\"JWT\"}", cl, SIG_ES256, K.ec);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_OK);
	jwt_t *j = NULL;
	CHECK(jwt_decode(&j, t, (const unsigned char *)K.ec_pub, (int)strlen(K.ec_pub)) == 0);
	jwt_free(j);
	free(t);

	/* the same signature DER-encoded, as some broken signers send it: rejected */
	t = craft("{\"alg\":\"ES256\"}", cl, SIG_ES256_DER, K.ec);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_BAD_SIGNATURE);
	free(t);
	free(cl);
	auth_verifier_free(v);
}

static void test_rs256_happy(void)
{
	auth_verifier *v = verifier(LEEWAY, 16);
	auth_claims c;
	char *cl, *t;

	cl = malloc(512);
	snprintf(cl, 512,
	         "{\"iss\":\"" RS_ISS "\",\"aud\":\"" AUD
	         "\",\"org\":\"gov-1\",\"role\":\"regulator\",\"exp\":%" PRId64 "}",
	         NOW + 60);
	t = mint(JWT_ALG_RS256, K.rsa_priv, cl);
	CHECK(vfy(v, t, NOW, &c) == AUTH_OK);
	CHECK_STR_EQ(c.org, "gov-1");
	CHECK_STR_EQ(c.issuer, RS_ISS);
	CHECK(c.role == AUTH_ROLE_REGULATOR);
	free(t);

	/* signed by OpenSSL directly */
	t = craft("{\"alg\":\"RS256\"}", cl, SIG_RS256, K.rsa);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_OK);
	free(t);
	free(cl);
	auth_verifier_free(v);
}

static void test_hs256_happy(void)
{
	auth_verifier *v = verifier(LEEWAY, 16);
	auth_claims c;

	CHECK(vfy_claims(v, JWT_ALG_HS256, hs_secret, HS_ISS, NOW + 60, "", NOW) == AUTH_OK);
	char *cl = claims(HS_ISS, NOW + 60, "");
	char *t = craft("{\"typ\":\"jwt\",\"alg\":\"HS256\"}", cl, SIG_HS256, hs_secret);
	CHECK(vfy(v, t, NOW, &c) == AUTH_OK);
	CHECK_STR_EQ(c.issuer, HS_ISS);
	free(t);
	/* wrong secret */
	t = craft("{\"alg\":\"HS256\"}", cl, SIG_HS256, "another-secret-of-at-least-32-bytes!");
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_BAD_SIGNATURE);
	CHECK_STR_EQ(last_why, "bad signature");
	free(t);
	free(cl);
	auth_verifier_free(v);
}

static void test_missing(void)
{
	auth_verifier *v = verifier(LEEWAY, 16);
	auth_stats s;

	CHECK(vfy_hdr(v, NULL, NULL, NOW, NULL) == AUTH_ERR_MISSING);
	CHECK_CONTAINS(last_why, "missing");
	CHECK(vfy_hdr(v, "", NULL, NOW, NULL) == AUTH_ERR_MISSING);
	CHECK(vfy_hdr(v, " \t ", NULL, NOW, NULL) == AUTH_ERR_MISSING);
	auth_verifier_stats(v, &s);
	CHECK(s.rejected == 3 && s.verified == 0);
	/* no why buffer at all is fine */
	CHECK(auth_verify(v, NULL, NOW, NULL, NULL, 0) == AUTH_ERR_MISSING);
	auth_verifier_free(v);
}

/* Makes a segment non-canonical: sets a padding bit of its last character. */
static void set_pad_bit(char *seg, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	int d = (int)(strchr(a, seg[n - 1]) - a);
	seg[n - 1] = a[d | 1];
}

static void test_malformed(void)
{
	auth_verifier *v = verifier(LEEWAY, 16);
	char *cl = claims(ES_ISS, NOW + 60, "");
	char *t = mint(JWT_ALG_ES256, K.ec_priv, cl);
	char *buf = malloc(AUTH_TOKEN_MAX * 2 + 64);
	size_t tl = strlen(t);
	char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');

	/* the good one, spelled in the accepted ways */
	CHECK(vfy(v, t, NOW, NULL) == AUTH_OK);
	sprintf(buf, "bearer %s", t);
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_OK);
	sprintf(buf, "BEARER    %s", t);
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_OK);
	sprintf(buf, " Bearer %s \t", t);
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_OK);

	/* scheme */
	CHECK(vfy_hdr(v, "Basic dXNlcjpwYXNz", NULL, NOW, NULL) == AUTH_ERR_MALFORMED);
	CHECK(vfy_hdr(v, "Bearer", NULL, NOW, NULL) == AUTH_ERR_MALFORMED);
	CHECK(vfy_hdr(v, "Bearer   ", NULL, NOW, NULL) == AUTH_ERR_MALFORMED);
	sprintf(buf, "Bearer%s", t);
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);
	sprintf(buf, "Bearer\t%s", t);
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);
	sprintf(buf, "Token %s", t);
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_OK);
	sprintf(buf, "%s", t);
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);

	/* trailing garbage */
	const char *tails[] = {" x", ",", "\n", "\r\n", ";", " Bearer", "=", "=="};
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		sprintf(buf, "Bearer %s%s", t, tails[i]);
		CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);
	}
	sprintf(buf, "Bearer %s %s", t, t);
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);

	/* segment count */
	sprintf(buf, "Bearer %.*s", (int)(d2 - t), t);
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);
	CHECK_CONTAINS(last_why, "three segments");
	sprintf(buf, "Bearer %s.%s", t, d2 + 1);
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);
	sprintf(buf, "Bearer %s.", t);
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);
	CHECK(vfy_hdr(v, "Bearer ..", NULL, NOW, NULL) == AUTH_ERR_MALFORMED);
	CHECK(vfy_hdr(v, "Bearer abc", NULL, NOW, NULL) == AUTH_ERR_MALFORMED);
	sprintf(buf, "Bearer %s", d1); /* empty header segment */
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);
	sprintf(buf, "Bearer %.*s.%s", (int)(d1 - t), t, d2); /* empty payload segment */
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);

	/* bad base64: standard alphabet, padding, impossible length, non-canonical bits */
	strcpy(buf, "Bearer ");
	strcat(buf, t);
	buf[7 + 3] = '+';
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);
	sprintf(buf, "Bearer %.*sA%s", (int)(d1 - t), t, d1); /* header length 4k+1 */
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);
	sprintf(buf, "Bearer %.*s=%s", (int)(d2 - t), t, d2);
	CHECK(vfy_hdr(v, buf, t, NOW, NULL) == AUTH_ERR_MALFORMED);
	{
		/* the payload padded to 3k+1 bytes: its encoding ends in a character with spare
		 * bits */
		char pl[512], *tok;
		snprintf(pl, sizeof pl, "%s", cl);
		while (strlen(pl) % 3 != 1)
			strcat(pl, " ");
		tok = craft("{\"alg\":\"ES256\"}", pl, SIG_ES256, K.ec);
		CHECK(vfy(v, tok, NOW, NULL) == AUTH_OK);
		char *pd1 = strchr(tok, '.'), *pd2 = strchr(pd1 + 1, '.');
		set_pad_bit(pd1 + 1, (size_t)(pd2 - pd1 - 1));
		CHECK(vfy(v, tok, NOW, NULL) == AUTH_ERR_MALFORMED);
		free(tok);
		/* and the signature (64 bytes: 86 characters, 4 spare bits) */
		tok = craft("{\"alg\":\"ES256\"}", cl, SIG_ES256, K.ec);
		set_pad_bit(tok, strlen(tok));
		CHECK(vfy(v, tok, NOW, NULL) == AUTH_ERR_BAD_SIGNATURE);
		free(tok);
	}

	/* bad JSON */
	const char *bad_hdrs[] = {"{alg:ES256}",
	                          "[\"ES256\"]",
	                          "\"ES256\"",
	                          "{\"alg\":\"ES256\"}x",
	                          "{\"alg\":\"ES256\",\"alg\":\"ES256\"}",
	                          "",
	                          "{\"alg\":\"ES256\"",
	                          "{\"typ\":\"JWS\",\"alg\":\"ES256\"}",
	                          "{\"typ\":1,\"alg\":\"ES256\"}",
	                          "{\"alg\":\"ES256\",\"crit\":[\"exp\"]}"};
	for (size_t i = 0; i < sizeof bad_hdrs / sizeof bad_hdrs[0]; i++) {
		char *tok = craft(bad_hdrs[i], cl, SIG_ES256, K.ec);
		CHECK(vfy(v, tok, NOW, NULL) == AUTH_ERR_MALFORMED);
		free(tok);
	}
	char dup[512];
	snprintf(dup, sizeof dup, "{\"iss\":\"evil\",%s", cl + 1);
	const char *bad_bodies[] = {"nope",
	                            "[1,2]",
	                            "{}x",
	                            "{\"iss\":\"" ES_ISS "\"",
	                            dup,
	                            "42",
	                            "{\"exp\":99999999999999999999}"};
	for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
		char *tok = craft("{\"alg\":\"ES256\"}", bad_bodies[i], SIG_ES256, K.ec);
		CHECK(vfy(v, tok, NOW, NULL) == AUTH_ERR_MALFORMED);
		free(tok);
	}
	{
		/* a NUL byte inside the decoded JSON */
		unsigned char raw[] = "{\"iss\":\"" ES_ISS "\"}\0";
		char seg[128], *tok;
		b64url(raw, sizeof raw - 1, seg);
		tok = malloc(tl + 256);
		sprintf(tok, "%.*s.%s%s", (int)(d1 - t), t, seg, d2);
		CHECK(vfy(v, tok, NOW, NULL) == AUTH_ERR_MALFORMED);
		free(tok);
	}
	/* the header typ may be any case of JWT */
	char *tok = craft("{\"typ\":\"jWt\",\"alg\":\"ES256\"}", cl, SIG_ES256, K.ec);
	CHECK(vfy(v, tok, NOW, NULL) == AUTH_OK);
	free(tok);

	/* too long: the whole header, and the JOSE header segment */
	strcpy(buf, "Bearer ");
	memset(buf + 7, 'A', AUTH_TOKEN_MAX);
	buf[7 + AUTH_TOKEN_MAX] = '\0';
	CHECK(vfy_hdr(v, buf, NULL, NOW, NULL) == AUTH_ERR_MALFORMED);
	CHECK_CONTAINS(last_why, "too long");
	{
		char hdr[1200];
		snprintf(hdr, sizeof hdr, "{\"alg\":\"ES256\",\"x\":\"%0800d\"}", 0);
		tok = craft(hdr, cl, SIG_ES256, K.ec);
		CHECK(vfy(v, tok, NOW, NULL) == AUTH_ERR_MALFORMED);
		free(tok);
		/* padded to just under the limit with whitespace, it passes */
		char *pl = malloc(AUTH_TOKEN_MAX);
		snprintf(pl, AUTH_TOKEN_MAX, "%s", cl);
		size_t n = strlen(pl);
		memset(pl + n, ' ', 5800 - n);
		pl[5800] = '\0';
		tok = craft("{\"alg\":\"ES256\"}", pl, SIG_ES256, K.ec);
		CHECK(strlen(tok) + 7 <= AUTH_TOKEN_MAX);
		CHECK(vfy(v, tok, NOW, NULL) == AUTH_OK);
		free(tok);
		memset(pl + n, ' ', 6200 - n);
		pl[6200] = '\0';
		tok = craft("{\"alg\":\"ES256\"}", pl, SIG_ES256, K.ec);
		CHECK(vfy(v, tok, NOW, NULL) == AUTH_ERR_MALFORMED);
		free(tok);
		free(pl);
	}
	/* non-ASCII */
	CHECK(vfy_hdr(v, "Bearer \xc3\xa9.a.b", NULL, NOW, NULL) == AUTH_ERR_MALFORMED);
	free(buf);
	free(cl);
	free(t);
	auth_verifier_free(v);
}

static void test_expired(void)
{
	auth_verifier *v = verifier(LEEWAY, 0);

	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW, "", NOW) == AUTH_OK);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW - LEEWAY, "", NOW) == AUTH_OK);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW - LEEWAY - 1, "", NOW) ==
	      AUTH_ERR_EXPIRED);
	CHECK_STR_EQ(last_why, "token expired");
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, 1000, "", NOW) == AUTH_ERR_EXPIRED);

	const char *bad_exp[] = {
	        "",                        /* missing */
	        ",\"exp\":\"1800000000\"", /* a string */
	        ",\"exp\":1800000000.5",   /* not an integer */
	        ",\"exp\":1.8e9",          /* a real, even if whole */
	        ",\"exp\":-5",             /* before the epoch */
	        ",\"exp\":99999999999999", /* after year 9999 */
	        ",\"exp\":null",
	        ",\"exp\":true",
	        ",\"exp\":[1800000000]",
	};
	for (size_t i = 0; i < sizeof bad_exp / sizeof bad_exp[0]; i++) {
		char pl[512];
		snprintf(pl, sizeof pl,
		         "{\"iss\":\"" ES_ISS "\",\"aud\":\"" AUD
		         "\",\"org\":\"acme\",\"role\":\"user\"%s}",
		         bad_exp[i]);
		CHECK(vfy_es_payload(v, pl, NOW) == AUTH_ERR_EXPIRED);
	}
	auth_verifier_free(v);

	/* leeway is clamped to [0, AUTH_MAX_LEEWAY] */
	v = verifier(1000, 0);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW - AUTH_MAX_LEEWAY, "", NOW) ==
	      AUTH_OK);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW - AUTH_MAX_LEEWAY - 1, "", NOW) ==
	      AUTH_ERR_EXPIRED);
	auth_verifier_free(v);
	v = verifier(-5, 0);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW, "", NOW) == AUTH_OK);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW - 1, "", NOW) ==
	      AUTH_ERR_EXPIRED);
	/* extreme clocks do not overflow */
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW, "", INT64_MAX) ==
	      AUTH_ERR_EXPIRED);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW, ",\"nbf\":0", INT64_MIN) ==
	      AUTH_ERR_NOT_YET_VALID);
	auth_verifier_free(v);
}

static void test_not_yet_valid(void)
{
	auth_verifier *v = verifier(LEEWAY, 0);
	char more[64];

	snprintf(more, sizeof more, ",\"nbf\":%" PRId64, NOW + LEEWAY + 1);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW + 600, more, NOW) ==
	      AUTH_ERR_NOT_YET_VALID);
	CHECK_STR_EQ(last_why, "token not yet valid");
	snprintf(more, sizeof more, ",\"nbf\":%" PRId64, NOW + LEEWAY);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW + 600, more, NOW) == AUTH_OK);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW + 600, ",\"nbf\":\"soon\"",
	                 NOW) == AUTH_ERR_CLAIMS);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW + 600, ",\"nbf\":-1", NOW) ==
	      AUTH_ERR_CLAIMS);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW + 600, ",\"nbf\":1.5", NOW) ==
	      AUTH_ERR_CLAIMS);
	/* iat is optional but must be a sane integer */
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW + 600, ",\"iat\":\"x\"", NOW) ==
	      AUTH_ERR_CLAIMS);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW + 600, ",\"iat\":1e9", NOW) ==
	      AUTH_ERR_CLAIMS);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW + 600, ",\"iat\":-7", NOW) ==
	      AUTH_ERR_CLAIMS);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW + 600, ",\"iat\":1699999999",
	                 NOW) == AUTH_OK);
	auth_verifier_free(v);
}

/* Replaces the signature of tok (malloc'd) with its own, one byte changed. */
static void flip_sig_byte(char *tok)
{
	char *sig = strrchr(tok, '.') + 1;
	unsigned char raw[1024];
	size_t n = 0;

	CHECK(b64url_decode(sig, strlen(sig), raw, sizeof raw, &n));
	raw[n / 2] ^= 0x01;
	b64url(raw, n, sig);
}

static void test_bad_signature(void)
{
	auth_verifier *v = verifier(LEEWAY, 16);
	char *cl = claims(ES_ISS, NOW + 60, "");
	char *t, *t2;
	auth_stats s;

	/* a byte of the signature */
	t = mint(JWT_ALG_ES256, K.ec_priv, cl);
	flip_sig_byte(t);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_BAD_SIGNATURE);
	CHECK_STR_EQ(last_why, "bad signature");
	free(t);

	/* a byte of the payload ("acme" becomes "acmf"), signature kept */
	t = mint(JWT_ALG_ES256, K.ec_priv, cl);
	{
		char *d1 = strchr(t, '.'), *d2 = strchr(d1 + 1, '.');
		unsigned char raw[1024];
		size_t n = 0;
		char *p;
		CHECK(b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), raw, sizeof raw - 1, &n));
		raw[n] = '\0';
		p = strstr((char *)raw, "acme");
		CHECK(p != NULL);
		if (p)
			p[3] = 'f';
		t2 = malloc(strlen(t) + 64);
		char *o = t2 + (d1 - t + 1);
		memcpy(t2, t, (size_t)(d1 - t + 1));
		b64url(raw, n, o);
		strcat(t2, d2);
		CHECK(strlen(t2) == strlen(t) && strcmp(t2, t) != 0);
		CHECK(vfy(v, t2, NOW, NULL) == AUTH_ERR_BAD_SIGNATURE);
		free(t2);
	}
	free(t);

	/* the right issuer, another key */
	t = mint(JWT_ALG_ES256, K.ec2_priv, cl);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_BAD_SIGNATURE);
	free(t);

	/* empty, short and DER signatures */
	t = craft("{\"alg\":\"ES256\"}", cl, SIG_EMPTY, NULL);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_BAD_SIGNATURE);
	free(t);
	t = craft("{\"alg\":\"ES256\"}", cl, SIG_ES256, K.ec);
	t[strlen(t) - 4] = '\0';
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_BAD_SIGNATURE);
	free(t);
	t = craft("{\"alg\":\"ES256\"}", cl, SIG_ES256_DER, K.ec);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_BAD_SIGNATURE);
	free(t);
	/* r = s = 0 */
	{
		char *h = b64s("{\"alg\":\"ES256\"}"), *p = b64s(cl), z[128];
		unsigned char zero[64] = {0};
		b64url(zero, 64, z);
		t = malloc(strlen(h) + strlen(p) + strlen(z) + 3);
		sprintf(t, "%s.%s.%s", h, p, z);
		CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_BAD_SIGNATURE);
		free(t);
		free(h);
		free(p);
	}
	free(cl);

	/* RS256 and HS256 */
	cl = claims(RS_ISS, NOW + 60, "");
	t = mint(JWT_ALG_RS256, K.rsa_priv, cl);
	flip_sig_byte(t);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_BAD_SIGNATURE);
	free(t);
	free(cl);
	cl = claims(HS_ISS, NOW + 60, "");
	t = mint(JWT_ALG_HS256, hs_secret, cl);
	flip_sig_byte(t);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_BAD_SIGNATURE);
	free(t);
	free(cl);

	/* failures are never cached */
	auth_verifier_stats(v, &s);
	CHECK(s.cache_hits == 0);
	CHECK(s.verified == 0);
	auth_verifier_free(v);
}

static void test_alg(void)
{
	auth_verifier *v = verifier(LEEWAY, 16);
	char *cl = claims(ES_ISS, NOW + 60, "");
	char *t;

	/* RS256 token (validly signed by a key we trust, for another issuer) for the ES256 issuer
	 */
	t = mint(JWT_ALG_RS256, K.rsa_priv, cl);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_ALG);
	CHECK_STR_EQ(last_why, "algorithm RS256 not allowed for issuer " ES_ISS);
	free(t);
	free(cl);
	cl = claims(RS_ISS, NOW + 60, "");
	t = mint(JWT_ALG_ES256, K.ec_priv, cl);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_ALG);
	free(t);
	t = mint(JWT_ALG_RS384, K.rsa_priv, cl);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_ALG);
	free(t);
	free(cl);

	/* alg spelled differently, missing, not a string */
	cl = claims(ES_ISS, NOW + 60, "");
	const char *hdrs[] = {"{\"alg\":\"es256\"}", "{\"typ\":\"JWT\"}",    "{\"alg\":256}",
	                      "{\"alg\":null}",      "{\"alg\":\"ES256 \"}", "{\"alg\":\"ES384\"}"};
	for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
		t = craft(hdrs[i], cl, SIG_ES256, K.ec);
		CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_ALG);
		free(t);
	}

	/* alg none, with an empty signature or not, any spelling */
	const char *none[] = {"{\"alg\":\"none\"}", "{\"alg\":\"none\",\"typ\":\"JWT\"}",
	                      "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}", "{\"alg\":\"\"}"};
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
		t = craft(none[i], cl, SIG_EMPTY, NULL);
		CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_ALG);
		free(t);
		t = craft(none[i], cl, SIG_ES256, K.ec);
		CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_ALG);
		free(t);
	}
	t = craft("{\"alg\":\"none\"}", cl, SIG_EMPTY, NULL);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_ALG);
	CHECK_STR_EQ(last_why, "algorithm none not allowed for issuer " ES_ISS);
	free(t);

	/* an alg name is echoed only sanitised and truncated */
	{
		char hdr[512];
		snprintf(hdr, sizeof hdr, "{\"alg\":\"\\u0001\\n%0200d\"}", 0);
		t = craft(hdr, cl, SIG_ES256, K.ec);
		CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_ALG);
		CHECK_CONTAINS(last_why, "algorithm ??0000");
		CHECK(!strstr(last_why, "\n"));
		CHECK(strlen(last_why) < 64 + 60);
		free(t);
	}
	free(cl);
	auth_verifier_free(v);
}

/* HS256 signed with the issuer's public PEM text as the secret: libjwt alone accepts it. */
static void test_hs256_with_public_key(void)
{
	auth_verifier *v = verifier(LEEWAY, 16);
	char *cl = claims(ES_ISS, NOW + 60, "");
	char *t = mint(JWT_ALG_HS256, K.ec_pub, cl);
	jwt_t *j = NULL;

	/* what we guard against: jwt_decode verifies the HMAC with the PEM as the secret */
	CHECK(jwt_decode(&j, t, (const unsigned char *)K.ec_pub, (int)strlen(K.ec_pub)) == 0);
	jwt_free(j);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_ALG);
	CHECK_STR_EQ(last_why, "algorithm HS256 not allowed for issuer " ES_ISS);
	free(t);
	/* the same against the RS256 issuer */
	free(cl);
	cl = claims(RS_ISS, NOW + 60, "");
	t = mint(JWT_ALG_HS256, K.rsa_pub, cl);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_ALG);
	free(t);
	free(cl);
	auth_verifier_free(v);
}

static void test_issuer(void)
{
	auth_verifier *v = verifier(LEEWAY, 16);

	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, "evil", NOW + 60, "", NOW) ==
	      AUTH_ERR_ISSUER);
	CHECK_STR_EQ(last_why, "unknown issuer evil");
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS " ", NOW + 60, "", NOW) ==
	      AUTH_ERR_ISSUER);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, "FIDUCIA-TEST", NOW + 60, "", NOW) ==
	      AUTH_ERR_ISSUER);
	const char *bodies[] = {
	        "{\"aud\":\"" AUD "\",\"org\":\"acme\",\"role\":\"user\",\"exp\":1800000000}",
	        "{\"iss\":42,\"aud\":\"" AUD
	        "\",\"org\":\"acme\",\"role\":\"user\",\"exp\":1800000000}",
	        "{\"iss\":[\"" ES_ISS "\"],\"aud\":\"" AUD
	        "\",\"org\":\"acme\",\"role\":\"user\",\"exp\":1800000000}",
	};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
		CHECK(vfy_es_payload(v, bodies[i], NOW) == AUTH_ERR_ISSUER);
	/* an unknown issuer's name is echoed sanitised and truncated */
	{
		char pl[512];
		snprintf(pl, sizeof pl, "{\"iss\":\"\\t%0100d\",\"exp\":1800000000}", 0);
		CHECK(vfy_es_payload(v, pl, NOW) == AUTH_ERR_ISSUER);
		CHECK(strlen(last_why) == strlen("unknown issuer ") + 64);
		CHECK_CONTAINS(last_why, "unknown issuer ?000");
	}
	auth_verifier_free(v);
}

static void test_audience(void)
{
	auth_verifier *v = verifier(LEEWAY, 16);
	const struct {
		const char *aud;
		auth_status want;
	} cases[] = {
	        {"\"" AUD "\"", AUTH_OK},
	        {"[\"" AUD "\"]", AUTH_OK},
	        {"[\"other\",\"" AUD "\"]", AUTH_OK},
	        {"\"other\"", AUTH_ERR_AUDIENCE},
	        {"\"FIDUCIA\"", AUTH_ERR_AUDIENCE},
	        {"\"" AUD " \"", AUTH_ERR_AUDIENCE},
	        {"\"\"", AUTH_ERR_AUDIENCE},
	        {"[\"a\",\"b\"]", AUTH_ERR_AUDIENCE},
	        {"[]", AUTH_ERR_AUDIENCE},
	        {"[\"" AUD "\",1]", AUTH_ERR_AUDIENCE},
	        {"[[\"" AUD "\"]]", AUTH_ERR_AUDIENCE},
	        {"{\"aud\":\"" AUD "\"}", AUTH_ERR_AUDIENCE},
	        {"5", AUTH_ERR_AUDIENCE},
	        {"null", AUTH_ERR_AUDIENCE},
	        {NULL, AUTH_ERR_AUDIENCE},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char pl[512];
		if (cases[i].aud)
			snprintf(pl, sizeof pl,
			         "{\"iss\":\"" ES_ISS "\",\"aud\":%s,\"org\":\"acme\","
			         "\"role\":\"user\",\"exp\":1800000000}",
			         cases[i].aud);
		else
			snprintf(pl, sizeof pl,
			         "{\"iss\":\"" ES_ISS "\",\"org\":\"acme\",\"role\":\"user\","
			         "\"exp\":1800000000}");
		CHECK(vfy_es_payload(v, pl, NOW) == cases[i].want);
		if (cases[i].want == AUTH_ERR_AUDIENCE)
			CHECK_STR_EQ(last_why, "token is not for this audience");
	}
	/* minted by libjwt with an aud array */
	char *t = mint(JWT_ALG_ES256, K.ec_priv,
	               "{\"iss\":\"" ES_ISS "\",\"aud\":[\"x\",\"" AUD "\",\"y\"],\"org\":\"acme\","
	               "\"role\":\"holder\",\"exp\":1800000000}");
	CHECK(vfy(v, t, NOW, NULL) == AUTH_OK);
	free(t);
	auth_verifier_free(v);
}

static void test_org_role(void)
{
	auth_verifier *v = verifier(LEEWAY, 16);
	char o63[80], o64[80];

	snprintf(o63, sizeof o63, "\"a%061dz\"", 0); /* 63 characters, quoted */
	snprintf(o64, sizeof o64, "\"a%062dz\"", 0); /* 64 */
	CHECK(strlen(o63) == 65 && strlen(o64) == 66);
	const struct {
		const char *org, *role;
		auth_status want;
	} cases[] = {
	        {"\"a\"", "\"user\"", AUTH_OK},
	        {"\"0\"", "\"user\"", AUTH_OK},
	        {"\"a-b-9\"", "\"operator\"", AUTH_OK},
	        {"\"a--b\"", "\"holder\"", AUTH_OK},
	        {o63, "\"user\"", AUTH_OK},
	        {o64, "\"user\"", AUTH_ERR_CLAIMS},
	        {"\"Acme\"", "\"user\"", AUTH_ERR_CLAIMS},
	        {"\"-acme\"", "\"user\"", AUTH_ERR_CLAIMS},
	        {"\"acme-\"", "\"user\"", AUTH_ERR_CLAIMS},
	        {"\"-\"", "\"user\"", AUTH_ERR_CLAIMS},
	        {"\"a_b\"", "\"user\"", AUTH_ERR_CLAIMS},
	        {"\"a.b\"", "\"user\"", AUTH_ERR_CLAIMS},
	        {"\"a b\"", "\"user\"", AUTH_ERR_CLAIMS},
	        {"\"\"", "\"user\"", AUTH_ERR_CLAIMS},
	        {"\"\\u00e9\"", "\"user\"", AUTH_ERR_CLAIMS},
	        {"42", "\"user\"", AUTH_ERR_CLAIMS},
	        {"[\"acme\"]", "\"user\"", AUTH_ERR_CLAIMS},
	        {"null", "\"user\"", AUTH_ERR_CLAIMS},
	        {NULL, "\"user\"", AUTH_ERR_CLAIMS},
	        {"\"acme\"", "\"admin\"", AUTH_ERR_CLAIMS},
	        {"\"acme\"", "\"Operator\"", AUTH_ERR_CLAIMS},
	        {"\"acme\"", "\"\"", AUTH_ERR_CLAIMS},
	        {"\"acme\"", "1", AUTH_ERR_CLAIMS},
	        {"\"acme\"", "[\"user\"]", AUTH_ERR_CLAIMS},
	        {"\"acme\"", NULL, AUTH_ERR_CLAIMS},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char pl[512], o[96], r[96];
		snprintf(o, sizeof o, ",\"org\":%s", cases[i].org ? cases[i].org : "0");
		snprintf(r, sizeof r, ",\"role\":%s", cases[i].role ? cases[i].role : "0");
		snprintf(pl, sizeof pl,
		         "{\"iss\":\"" ES_ISS "\",\"aud\":\"" AUD "\"%s%s,\"exp\":1800000000}",
		         cases[i].org ? o : "", cases[i].role ? r : "");
		auth_status st = vfy_es_payload(v, pl, NOW);
		if (st != cases[i].want)
			fprintf(stderr, "case %zu: %s -> %d (%s)\n", i, pl, (int)st, last_why);
		CHECK(st == cases[i].want);
	}

	/* jti must be a string when present */
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW + 60, ",\"jti\":5", NOW) ==
	      AUTH_ERR_CLAIMS);
	CHECK(vfy_claims(v, JWT_ALG_ES256, K.ec_priv, ES_ISS, NOW + 60, ",\"jti\":\"\"", NOW) ==
	      AUTH_OK);
	auth_verifier_free(v);
}

static void test_cache(void)
{
	auth_verifier *v = verifier(LEEWAY, 64);
	auth_claims c1, c2;
	auth_stats s;
	char more[64];
	char *cl = claims(ES_ISS, NOW + 100, ",\"jti\":\"j1\"");
	char *t = mint(JWT_ALG_ES256, K.ec_priv, cl);

	CHECK(vfy(v, t, NOW, &c1) == AUTH_OK);
	auth_verifier_stats(v, &s);
	CHECK(s.cache_hits == 0 && s.cache_misses == 1 && s.verified == 1);
	CHECK(vfy(v, t, NOW + 1, &c2) == AUTH_OK);
	auth_verifier_stats(v, &s);
	CHECK(s.cache_hits == 1 && s.cache_misses == 1 && s.verified == 2);
	CHECK(memcmp(&c1, &c2, sizeof c1) == 0);
	/* still good within the leeway, from the cache */
	CHECK(vfy(v, t, NOW + 100 + LEEWAY, NULL) == AUTH_OK);
	/* a cached token is re-checked against the clock */
	CHECK(vfy(v, t, NOW + 100 + LEEWAY + 1, NULL) == AUTH_ERR_EXPIRED);
	CHECK_STR_EQ(last_why, "token expired");
	auth_verifier_stats(v, &s);
	CHECK(s.cache_hits == 3 && s.cache_misses == 1 && s.verified == 3 && s.rejected == 1);
	/* the expired entry was dropped: verified again from scratch */
	CHECK(vfy(v, t, NOW + 100 + LEEWAY + 1, NULL) == AUTH_ERR_EXPIRED);
	auth_verifier_stats(v, &s);
	CHECK(s.cache_hits == 3 && s.cache_misses == 2);
	free(t);
	free(cl);

	/* nbf is re-checked on a hit too */
	snprintf(more, sizeof more, ",\"nbf\":%" PRId64, NOW);
	cl = claims(ES_ISS, NOW + 100, more);
	t = mint(JWT_ALG_ES256, K.ec_priv, cl);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_OK);
	CHECK(vfy(v, t, NOW - LEEWAY - 1, NULL) == AUTH_ERR_NOT_YET_VALID);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_OK);
	free(t);
	free(cl);

	/* failures are not cached */
	auth_verifier_stats(v, &s);
	uint64_t hits = s.cache_hits, misses = s.cache_misses;
	cl = claims("evil", NOW + 100, "");
	t = mint(JWT_ALG_ES256, K.ec_priv, cl);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_ISSUER);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_ERR_ISSUER);
	auth_verifier_stats(v, &s);
	CHECK(s.cache_hits == hits && s.cache_misses == misses + 2);
	free(t);
	free(cl);
	auth_verifier_free(v);

	/* no cache: nothing counted as hit or miss */
	v = verifier(LEEWAY, 0);
	cl = claims(ES_ISS, NOW + 100, "");
	t = mint(JWT_ALG_ES256, K.ec_priv, cl);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_OK);
	CHECK(vfy(v, t, NOW, NULL) == AUTH_OK);
	CHECK(vfy(v, t, NOW + 200, NULL) == AUTH_ERR_EXPIRED);
	auth_verifier_stats(v, &s);
	CHECK(s.cache_hits == 0 && s.cache_misses == 0 && s.verified == 2 && s.rejected == 1);
	free(t);
	free(cl);
	auth_verifier_free(v);

	/* a tiny cache (two buckets, the second of one slot) evicts and stays correct */
	for (size_t size = 1; size <= 5; size += 4) {
		char *toks[20];
		v = verifier(LEEWAY, size);
		for (int i = 0; i < 20; i++) {
			char m[64];
			snprintf(m, sizeof m, ",\"jti\":\"t%d\"", i);
			cl = claims(ES_ISS, NOW + 100 + i, m);
			toks[i] = mint(JWT_ALG_ES256, K.ec_priv, cl);
			free(cl);
		}
		for (int round = 0; round < 3; round++) {
			for (int i = 0; i < 20; i++) {
				auth_claims c;
				unsigned char want[32];
				char jti[16];
				snprintf(jti, sizeof jti, "t%d", i);
				crypto_hash_sha256(want, (const unsigned char *)jti, strlen(jti));
				CHECK(vfy(v, toks[i], NOW, &c) == AUTH_OK);
				CHECK(c.exp == NOW + 100 + i);
				CHECK(memcmp(c.jti_hash, want, 32) == 0);
			}
		}
		/* the last token inserted is always a hit */
		auth_verifier_stats(v, &s);
		hits = s.cache_hits;
		CHECK(vfy(v, toks[19], NOW, NULL) == AUTH_OK);
		auth_verifier_stats(v, &s);
		CHECK(s.cache_hits == hits + 1);
		CHECK(s.cache_hits + s.cache_misses == 61 && s.verified == 61);
		for (int i = 0; i < 20; i++)
			free(toks[i]);
		auth_verifier_free(v);
	}
}

/* A short why buffer truncates; the token never shows up in any reason (checked in vfy_hdr). */
static void test_why(void)
{
	auth_verifier *v = verifier(LEEWAY, 16);
	char *cl = claims(ES_ISS, NOW - 1000, "");
	char *t = mint(JWT_ALG_ES256, K.ec_priv, cl);
	char hdr[2048], why[6];

	snprintf(hdr, sizeof hdr, "Bearer %s", t);
	memset(why, 'X', sizeof why);
	CHECK(auth_verify(v, hdr, NOW, NULL, why, sizeof why) == AUTH_ERR_EXPIRED);
	CHECK_STR_EQ(why, "token");
	CHECK(auth_verify(v, hdr, NOW, NULL, why, 1) == AUTH_ERR_EXPIRED);
	CHECK(why[0] == '\0');
	CHECK(auth_verify(v, hdr, NOW, NULL, NULL, 0) == AUTH_ERR_EXPIRED);
	/* a hit with a NULL out */
	free(t);
	free(cl);
	cl = claims(ES_ISS, NOW + 1000, "");
	t = mint(JWT_ALG_ES256, K.ec_priv, cl);
	snprintf(hdr, sizeof hdr, "Bearer %s", t);
	CHECK(auth_verify(v, hdr, NOW, NULL, why, sizeof why) == AUTH_OK);
	CHECK(auth_verify(v, hdr, NOW, NULL, why, sizeof why) == AUTH_OK);
	CHECK(why[0] == '\0');
	free(t);
	free(cl);
	auth_verifier_free(v);
}

TEST_MAIN(TU_CASE(test_roles), TU_CASE(test_add_issuer), TU_CASE(test_es256_happy),
          TU_CASE(test_es256_interop), TU_CASE(test_rs256_happy), TU_CASE(test_hs256_happy),
          TU_CASE(test_missing), TU_CASE(test_malformed), TU_CASE(test_expired),
          TU_CASE(test_not_yet_valid), TU_CASE(test_bad_signature), TU_CASE(test_alg),
          TU_CASE(test_hs256_with_public_key), TU_CASE(test_issuer), TU_CASE(test_audience),
          TU_CASE(test_org_role), TU_CASE(test_cache), TU_CASE(test_why))
