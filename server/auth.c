/*
 * Bearer-token verification. Both JWT segments are decoded and parsed here,
 * strictly and within fixed bounds, before libjwt sees the token: the issuer
 * and its pinned algorithm are chosen from our own parse, libjwt only checks
 * the signature, and every claim is checked here. Verified claims are cached.
 */
#include "auth.h"
#include "fiducia_names.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <sodium.h>

#define AUTH_MAX_ISSUERS    16
#define AUTH_KEY_MAX        16384 /* bytes of PEM text or HS256 secret */
#define AUTH_HS256_MIN      32    /* bytes of HS256 secret */
#define AUTH_RSA_MIN_BITS   2048
#define AUTH_RSA_MAX_BITS   8192
#define AUTH_HEADER_SEG_MAX 1024                  /* base64url characters of the JOSE header */
#define AUTH_SIG_SEG_MAX    2048                  /* base64url characters of the signature */
#define AUTH_TIME_MAX       INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define AUTH_CACHE_WAYS     4
#define AUTH_WHY_ITEM_MAX   64 /* printable characters of an echoed name */

/* Decoded sizes of the fixed bounds above (4 characters carry 3 bytes). */
#define B64_DECODED_MAX(n) ((n) / 4 * 3 + 2)

struct auth_issuer {
	char name[AUTH_ISSUER_MAX];
	jwt_alg_t alg;
	const char *alg_name;
	unsigned char *key; /* normalised PEM (malloc) or HS256 secret (sodium_malloc) */
	size_t key_len;
	size_t sig_len; /* exact decoded signature size for alg and key */
};

struct auth_cache_entry {
	unsigned char hash[crypto_generichash_BYTES];
	bool used;
	bool has_nbf;
	uint64_t seq; /* insertion order, to replace the oldest of a bucket */
	int64_t nbf;
	auth_claims claims;
};

struct auth_verifier {
	char *audience;
	int64_t leeway;
	struct auth_issuer issuers[AUTH_MAX_ISSUERS];
	size_t nissuers;
	struct auth_cache_entry *cache;
	size_t cache_n;
	uint64_t cache_seq;
	unsigned char cache_key[crypto_generichash_KEYBYTES];
	auth_stats stats;
};

/* Claims taken from the payload, before they are copied out. */
struct auth_parsed {
	auth_claims claims;
	bool has_nbf;
	int64_t nbf;
};

static void set_why(char *why, size_t whylen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* Copies at most AUTH_WHY_ITEM_MAX printable ASCII characters of s (others become '?'). */
static void printable(char *dst, size_t dstlen, const char *s, size_t n)
{
	size_t i;

	if (dstlen == 0)
		return;
	if (n > AUTH_WHY_ITEM_MAX)
		n = AUTH_WHY_ITEM_MAX;
	for (i = 0; i < n && i + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	dst[i] = '\0';
}

auth_role auth_role_parse(const char *s)
{
	if (!s)
		return AUTH_ROLE_NONE;
	if (strcmp(s, "operator") == 0)
		return AUTH_ROLE_OPERATOR;
	if (strcmp(s, "holder") == 0)
		return AUTH_ROLE_HOLDER;
	if (strcmp(s, "user") == 0)
		return AUTH_ROLE_USER;
	if (strcmp(s, "regulator") == 0)
		return AUTH_ROLE_REGULATOR;
	return AUTH_ROLE_NONE;
}

const char *auth_role_name(auth_role r)
{
	switch (r) {
	case AUTH_ROLE_OPERATOR:
		return "operator";
	case AUTH_ROLE_HOLDER:
		return "holder";
	case AUTH_ROLE_USER:
		return "user";
	case AUTH_ROLE_REGULATOR:
		return "regulator";
	default:
		return "none";
	}
}

auth_verifier *auth_verifier_new(const char *audience, int leeway_s, size_t cache_entries)
{
	auth_verifier *v = NULL;

	if (!audience || !*audience || sodium_init() < 0)
		return NULL;
	v = calloc(1, sizeof *v);
	if (!v)
		goto fail;
	v->audience = strdup(audience);
	if (!v->audience)
		goto fail;
	if (leeway_s < 0)
		leeway_s = 0;
	if (leeway_s > AUTH_MAX_LEEWAY)
		leeway_s = AUTH_MAX_LEEWAY;
	v->leeway = leeway_s;
	if (cache_entries > 0) {
		v->cache = calloc(cache_entries, sizeof *v->cache);
		if (!v->cache)
			goto fail;
		v->cache_n = cache_entries;
		randombytes_buf(v->cache_key, sizeof v->cache_key);
	}
	return v;
fail:
	auth_verifier_free(v);
	return NULL;
}

void auth_verifier_free(auth_verifier *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->nissuers; i++) {
		struct auth_issuer *is = &v->issuers[i];
		if (is->alg == JWT_ALG_HS256)
			sodium_free(is->key); /* wipes before unmapping */
		else
			free(is->key);
	}
	if (v->cache) {
		sodium_memzero(v->cache, v->cache_n * sizeof *v->cache);
		free(v->cache);
	}
	sodium_memzero(v->cache_key, sizeof v->cache_key);
	free(v->audience);
	free(v);
}

void auth_verifier_stats(const auth_verifier *v, auth_stats *out)
{
	if (!out)
		return;
	if (!v) {
		memset(out, 0, sizeof *out);
		return;
	}
	*out = v->stats;
}

/* Password callback that refuses: keys are never encrypted, and we never prompt. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* True when the P-256 / RSA key in pkey suits alg; sets err otherwise. */
static bool key_suits(EVP_PKEY *pkey, jwt_alg_t alg, char *err, size_t errlen)
{
	EVP_PKEY_CTX *ctx = NULL;
	bool ok = false;

	if (alg == JWT_ALG_ES256) {
		char group[64];
		size_t glen = 0;
		int nid = NID_undef;

		if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) {
			set_why(err, errlen, "ES256 needs an EC P-256 public key");
			goto fail;
		}
		if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) == 1) {
			nid = OBJ_txt2nid(group);
			if (nid == NID_undef)
				nid = EC_curve_nist2nid(group);
		}
		if (nid != NID_X9_62_prime256v1) {
			set_why(err, errlen, "ES256 needs an EC key on curve P-256 (prime256v1)");
			goto fail;
		}
	} else {
		int bits;

		if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
			set_why(err, errlen, "RS256 needs an RSA public key");
			goto fail;
		}
		bits = EVP_PKEY_get_bits(pkey);
		if (bits < AUTH_RSA_MIN_BITS || bits > AUTH_RSA_MAX_BITS) {
			set_why(err, errlen, "RS256 needs an RSA key of %d to %d bits",
			        AUTH_RSA_MIN_BITS, AUTH_RSA_MAX_BITS);
			goto fail;
		}
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!ctx || EVP_PKEY_public_check(ctx) != 1) {
		set_why(err, errlen, "public key failed its consistency check");
		goto fail;
	}
	ok = true;
fail:
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* Parses and checks a PEM public key; stores its re-encoded PEM and signature size in is. */
static bool load_public_key(struct auth_issuer *is, const unsigned char *key, size_t key_len,
                            char *err, size_t errlen)
{
	BIO *in = NULL, *out = NULL;
	EVP_PKEY *pkey = NULL;
	char *pem = NULL;
	long pem_len;
	bool ok = false;

	if (memmem(key, key_len, "PRIVATE KEY", 11)) {
		set_why(err, errlen, "expected a public key, got a private key");
		goto fail;
	}
	in = BIO_new_mem_buf(key, (int)key_len);
	if (!in) {
		set_why(err, errlen, "out of memory");
		goto fail;
	}
	pkey = PEM_read_bio_PUBKEY(in, NULL, no_password, NULL);
	if (!pkey) {
		set_why(err, errlen, "key is not a PEM public key (BEGIN PUBLIC KEY)");
		goto fail;
	}
	if (!key_suits(pkey, is->alg, err, errlen))
		goto fail;
	/* libjwt re-reads the key on every verification: give it exactly what we checked. */
	out = BIO_new(BIO_s_mem());
	if (!out || PEM_write_bio_PUBKEY(out, pkey) != 1) {
		set_why(err, errlen, "out of memory");
		goto fail;
	}
	pem_len = BIO_get_mem_data(out, &pem);
	if (pem_len <= 0 || (size_t)pem_len > AUTH_KEY_MAX) {
		set_why(err, errlen, "public key too large");
		goto fail;
	}
	is->key = malloc((size_t)pem_len);
	if (!is->key) {
		set_why(err, errlen, "out of memory");
		goto fail;
	}
	memcpy(is->key, pem, (size_t)pem_len);
	is->key_len = (size_t)pem_len;
	is->sig_len = is->alg == JWT_ALG_ES256 ? 64 : (size_t)EVP_PKEY_get_size(pkey);
	ok = true;
fail:
	EVP_PKEY_free(pkey);
	BIO_free(in);
	BIO_free(out);
	ERR_clear_error(); /* leave no stale errors for the TLS code sharing this thread */
	return ok;
}

static bool issuer_name_ok(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strnlen(name, AUTH_ISSUER_MAX);
	if (n == 0 || n >= AUTH_ISSUER_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
			return false;
	return true;
}

bool auth_verifier_add_issuer(auth_verifier *v, const char *name, const char *alg,
                              const unsigned char *key, size_t key_len, bool allow_hs256, char *err,
                              size_t errlen)
{
	struct auth_issuer is;

	set_why(err, errlen, "%s", "");
	memset(&is, 0, sizeof is);
	if (!v) {
		set_why(err, errlen, "no verifier");
		return false;
	}
	if (!issuer_name_ok(name)) {
		set_why(err, errlen,
		        "issuer name must be 1 to %d printable characters without spaces",
		        AUTH_ISSUER_MAX - 1);
		return false;
	}
	for (size_t i = 0; i < v->nissuers; i++) {
		if (strcmp(v->issuers[i].name, name) == 0) {
			set_why(err, errlen, "duplicate issuer %.64s", name);
			return false;
		}
	}
	if (v->nissuers >= AUTH_MAX_ISSUERS) {
		set_why(err, errlen, "too many issuers (at most %d)", AUTH_MAX_ISSUERS);
		return false;
	}
	if (!alg) {
		set_why(err, errlen, "no algorithm");
		return false;
	}
	if (strcmp(alg, "ES256") == 0) {
		is.alg = JWT_ALG_ES256;
	} else if (strcmp(alg, "RS256") == 0) {
		is.alg = JWT_ALG_RS256;
	} else if (strcmp(alg, "HS256") == 0) {
		if (!allow_hs256) {
			set_why(err, errlen, "HS256 issuers are disabled (allow_hs256 is off)");
			return false;
		}
		is.alg = JWT_ALG_HS256;
	} else {
		char a[AUTH_WHY_ITEM_MAX + 1];
		printable(a, sizeof a, alg, strlen(alg));
		set_why(err, errlen, "unsupported algorithm %s (ES256, RS256 or HS256)", a);
		return false;
	}
	is.alg_name = jwt_alg_str(is.alg);
	if (!key || key_len == 0 || key_len > AUTH_KEY_MAX) {
		set_why(err, errlen, "key must be 1 to %d bytes", AUTH_KEY_MAX);
		return false;
	}
	if (is.alg == JWT_ALG_HS256) {
		if (key_len < AUTH_HS256_MIN) {
			set_why(err, errlen, "HS256 secret must be at least %d bytes",
			        AUTH_HS256_MIN);
			return false;
		}
		is.key = sodium_malloc(key_len);
		if (!is.key) {
			set_why(err, errlen, "out of memory");
			return false;
		}
		memcpy(is.key, key, key_len);
		sodium_mprotect_readonly(is.key);
		is.key_len = key_len;
		is.sig_len = crypto_auth_hmacsha256_BYTES;
	} else if (!load_public_key(&is, key, key_len, err, errlen)) {
		return false;
	}
	memcpy(is.name, name, strlen(name) + 1);
	v->issuers[v->nissuers++] = is;
	return true;
}

static bool is_b64url(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Strict, unpadded base64url (RFC 4648 section 5), by libsodium, which
 * refuses non-zero padding bits (a second spelling of the same bytes). */
static bool b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
	const char *end = NULL;
	return sodium_base642bin(out, cap, in, n, NULL, outlen, &end,
	                         sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
	       end == in + n;
}

/* Decodes one segment into buf and parses it as a JSON object (NULL if anything is off). */
static json_t *decode_json_segment(const char *seg, size_t n, unsigned char *buf, size_t cap)
{
	size_t len;
	json_t *j;

	if (n == 0 || !b64url_decode(seg, n, buf, cap, &len) || memchr(buf, '\0', len))
		return NULL;
	j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Finds the token in "Bearer <token>"; the token is only base64url characters and dots. */
static auth_status parse_bearer(const char *h, const char **tok, size_t *toklen, char *why,
                                size_t whylen)
{
	size_t n, i = 0;

	if (!h) {
		set_why(why, whylen, "missing bearer token");
		return AUTH_ERR_MISSING;
	}
	n = strnlen(h, AUTH_TOKEN_MAX + 1);
	if (n > AUTH_TOKEN_MAX) {
		set_why(why, whylen, "authorization header too long");
		return AUTH_ERR_MALFORMED;
	}
	/* Optional whitespace around a field value is not part of it (RFC 9110 5.5). */
	while (i < n && is_ows(h[i]))
		i++;
	while (n > i && is_ows(h[n - 1]))
		n--;
	if (i == n) {
		set_why(why, whylen, "missing bearer token");
		return AUTH_ERR_MISSING;
	}
	if (n - i < 6 || strncasecmp(h + i, "Bearer", 6) != 0 || (n - i > 6 && h[i + 6] != ' ')) {
		set_why(why, whylen, "expected \"Bearer <token>\"");
		return AUTH_ERR_MALFORMED;
	}
	i += 6;
	while (i < n && h[i] == ' ')
		i++;
	if (i == n) {
		set_why(why, whylen, "empty bearer token");
		return AUTH_ERR_MALFORMED;
	}
	for (size_t j = i; j < n; j++) {
		if (!is_b64url((unsigned char)h[j]) && h[j] != '.') {
			set_why(why, whylen, "invalid character in bearer token");
			return AUTH_ERR_MALFORMED;
		}
	}
	*tok = h + i;
	*toklen = n - i;
	return AUTH_OK;
}

static const struct auth_issuer *find_issuer(const auth_verifier *v, const char *s, size_t n)
{
	for (size_t i = 0; i < v->nissuers; i++)
		if (strlen(v->issuers[i].name) == n && memcmp(v->issuers[i].name, s, n) == 0)
			return &v->issuers[i];
	return NULL;
}

/* A JSON integer within [0, AUTH_TIME_MAX]. */
static bool get_time(json_t *j, int64_t *out)
{
	json_int_t t;

	if (!json_is_integer(j))
		return false;
	t = json_integer_value(j);
	if (t < 0 || t > AUTH_TIME_MAX)
		return false;
	*out = (int64_t)t;
	return true;
}

static __attribute__((warn_unused_result)) auth_status check_times(const auth_verifier *v,
                                                                   int64_t exp, bool has_nbf,
                                                                   int64_t nbf, int64_t now,
                                                                   char *why, size_t whylen)
{
	/* exp and nbf are within [0, AUTH_TIME_MAX]: no overflow either way. */
	if (now > exp + v->leeway) {
		set_why(why, whylen, "token expired");
		return AUTH_ERR_EXPIRED;
	}
	if (has_nbf && now < nbf - v->leeway) {
		set_why(why, whylen, "token not yet valid");
		return AUTH_ERR_NOT_YET_VALID;
	}
	return AUTH_OK;
}

static bool audience_ok(json_t *aud, const char *want)
{
	size_t wlen = strlen(want), i;
	json_t *e;
	bool found = false;

	if (json_is_string(aud))
		return json_string_length(aud) == wlen &&
		       memcmp(json_string_value(aud), want, wlen) == 0;
	if (!json_is_array(aud))
		return false;
	json_array_foreach(aud, i, e)
	{
		if (!json_is_string(e))
			return false; /* an array of strings, or nothing */
		if (json_string_length(e) == wlen && memcmp(json_string_value(e), want, wlen) == 0)
			found = true;
	}
	return found;
}

/* Every claim check that libjwt does not do; the signature has been verified already. */
static __attribute__((warn_unused_result)) auth_status
check_claims(const auth_verifier *v, const struct auth_issuer *is, json_t *body, int64_t now,
             struct auth_parsed *p, char *why, size_t whylen)
{
	json_t *j;
	int64_t t;
	auth_status st;

	memset(p, 0, sizeof *p);
	if (!get_time(json_object_get(body, "exp"), &p->claims.exp)) {
		set_why(why, whylen, "token has no valid exp");
		return AUTH_ERR_EXPIRED;
	}
	j = json_object_get(body, "nbf");
	if (j) {
		if (!get_time(j, &p->nbf)) {
			set_why(why, whylen, "token has an invalid nbf");
			return AUTH_ERR_CLAIMS;
		}
		p->has_nbf = true;
	}
	j = json_object_get(body, "iat");
	if (j && !get_time(j, &t)) {
		set_why(why, whylen, "token has an invalid iat");
		return AUTH_ERR_CLAIMS;
	}
	st = check_times(v, p->claims.exp, p->has_nbf, p->nbf, now, why, whylen);
	if (st != AUTH_OK)
		return st;
	if (!audience_ok(json_object_get(body, "aud"), v->audience)) {
		set_why(why, whylen, "token is not for this audience");
		return AUTH_ERR_AUDIENCE;
	}
	j = json_object_get(body, "org");
	if (!json_is_string(j) ||
	    !fiducia_slug_valid(json_string_value(j), json_string_length(j))) {
		set_why(why, whylen, "token has no valid org");
		return AUTH_ERR_CLAIMS;
	}
	memcpy(p->claims.org, json_string_value(j), json_string_length(j) + 1);
	j = json_object_get(body, "role");
	p->claims.role = json_is_string(j) ? auth_role_parse(json_string_value(j)) : AUTH_ROLE_NONE;
	if (p->claims.role == AUTH_ROLE_NONE) {
		set_why(why, whylen, "token has no valid role");
		return AUTH_ERR_CLAIMS;
	}
	j = json_object_get(body, "jti");
	if (j) {
		if (!json_is_string(j)) {
			set_why(why, whylen, "token has an invalid jti");
			return AUTH_ERR_CLAIMS;
		}
		crypto_hash_sha256(p->claims.jti_hash, (const unsigned char *)json_string_value(j),
		                   json_string_length(j));
	}
	memcpy(p->claims.issuer, is->name, strlen(is->name) + 1);
	return AUTH_OK;
}

/* HMAC-SHA256 check in constant time: libjwt 1.10 compares HS256 signatures with strcmp. */
static bool hs256_ok(const struct auth_issuer *is, const char *input, size_t n,
                     const unsigned char *sig)
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	bool ok;

	crypto_auth_hmacsha256_init(&st, is->key, is->key_len);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)input, n);
	crypto_auth_hmacsha256_final(&st, mac);
	ok = sodium_memcmp(mac, sig, sizeof mac) == 0;
	sodium_memzero(&st, sizeof st);
	sodium_memzero(mac, sizeof mac);
	return ok;
}

/* The full check of a token not found in the cache. tok is NUL-terminated, toklen long. */
static __attribute__((warn_unused_result)) auth_status
verify_token(const auth_verifier *v, const char *tok, size_t toklen, int64_t now,
             struct auth_parsed *p, char *why, size_t whylen)
{
	unsigned char hbuf[B64_DECODED_MAX(AUTH_HEADER_SEG_MAX)];
	unsigned char pbuf[B64_DECODED_MAX(AUTH_TOKEN_MAX)];
	unsigned char sbuf[B64_DECODED_MAX(AUTH_SIG_SEG_MAX)];
	const char *d1, *d2, *sig;
	size_t hlen, plen, slen, siglen;
	json_t *hdr = NULL, *body = NULL, *j;
	const struct auth_issuer *is;
	const char *alg;
	jwt_t *jwt = NULL;
	auth_status st;
	int rc;

	d1 = memchr(tok, '.', toklen);
	d2 = d1 ? memchr(d1 + 1, '.', toklen - (size_t)(d1 + 1 - tok)) : NULL;
	if (!d2 || memchr(d2 + 1, '.', toklen - (size_t)(d2 + 1 - tok))) {
		set_why(why, whylen, "token must have three segments");
		st = AUTH_ERR_MALFORMED;
		goto fail;
	}
	hlen = (size_t)(d1 - tok);
	plen = (size_t)(d2 - d1 - 1);
	sig = d2 + 1;
	slen = toklen - (size_t)(sig - tok);
	if (hlen > AUTH_HEADER_SEG_MAX || slen > AUTH_SIG_SEG_MAX) {
		set_why(why, whylen, "token segment too long");
		st = AUTH_ERR_MALFORMED;
		goto fail;
	}
	hdr = decode_json_segment(tok, hlen, hbuf, sizeof hbuf);
	if (!hdr) {
		set_why(why, whylen, "token header is not base64url JSON");
		st = AUTH_ERR_MALFORMED;
		goto fail;
	}
	body = decode_json_segment(d1 + 1, plen, pbuf, sizeof pbuf);
	if (!body) {
		set_why(why, whylen, "token payload is not base64url JSON");
		st = AUTH_ERR_MALFORMED;
		goto fail;
	}
	j = json_object_get(hdr, "typ");
	if (j && (!json_is_string(j) || strcasecmp(json_string_value(j), "JWT") != 0)) {
		set_why(why, whylen, "token type is not JWT");
		st = AUTH_ERR_MALFORMED;
		goto fail;
	}
	if (json_object_get(hdr, "crit")) {
		set_why(why, whylen, "critical header parameters are not supported");
		st = AUTH_ERR_MALFORMED;
		goto fail;
	}

	/* The issuer picks the key and the one algorithm allowed with it. */
	j = json_object_get(body, "iss");
	if (!json_is_string(j)) {
		set_why(why, whylen, "token has no issuer");
		st = AUTH_ERR_ISSUER;
		goto fail;
	}
	is = find_issuer(v, json_string_value(j), json_string_length(j));
	if (!is) {
		char name[AUTH_WHY_ITEM_MAX + 1];
		printable(name, sizeof name, json_string_value(j), json_string_length(j));
		set_why(why, whylen, "unknown issuer %s", name);
		st = AUTH_ERR_ISSUER;
		goto fail;
	}
	j = json_object_get(hdr, "alg");
	alg = json_is_string(j) ? json_string_value(j) : NULL;
	if (!alg || strcmp(alg, is->alg_name) != 0) {
		char a[AUTH_WHY_ITEM_MAX + 1];
		if (alg)
			printable(a, sizeof a, alg, json_string_length(j));
		else
			snprintf(a, sizeof a, "(none given)");
		set_why(why, whylen, "algorithm %s not allowed for issuer %s", a, is->name);
		st = AUTH_ERR_ALG;
		goto fail;
	}

	if (!b64url_decode(sig, slen, sbuf, sizeof sbuf, &siglen) || siglen != is->sig_len ||
	    (is->alg == JWT_ALG_HS256 && !hs256_ok(is, tok, (size_t)(d2 - tok), sbuf))) {
		set_why(why, whylen, "bad signature");
		st = AUTH_ERR_BAD_SIGNATURE;
		goto fail;
	}
	/* Always with a key: libjwt 1.10 accepts alg "none" when given none. */
	rc = jwt_decode(&jwt, tok, is->key, (int)is->key_len);
	ERR_clear_error();
	if (rc != 0 || !jwt) {
		set_why(why, whylen,
		        rc == ENOMEM ? "out of memory verifying token" : "bad signature");
		st = AUTH_ERR_BAD_SIGNATURE;
		goto fail;
	}
	if (jwt_get_alg(jwt) != is->alg) {
		set_why(why, whylen, "algorithm not allowed for issuer %s", is->name);
		st = AUTH_ERR_ALG;
		goto fail;
	}
	st = check_claims(v, is, body, now, p, why, whylen);
fail:
	jwt_free(jwt);
	json_decref(hdr);
	json_decref(body);
	sodium_memzero(pbuf, sizeof pbuf);
	return st;
}

static size_t cache_bucket(const auth_verifier *v, const unsigned char *h)
{
	uint64_t x;

	memcpy(&x, h, sizeof x);
	return (size_t)(x % ((v->cache_n + AUTH_CACHE_WAYS - 1) / AUTH_CACHE_WAYS));
}

static struct auth_cache_entry *cache_find(auth_verifier *v, const unsigned char *h)
{
	size_t b = cache_bucket(v, h) * AUTH_CACHE_WAYS;

	for (size_t i = b; i < b + AUTH_CACHE_WAYS && i < v->cache_n; i++) {
		struct auth_cache_entry *e = &v->cache[i];
		if (e->used && sodium_memcmp(e->hash, h, sizeof e->hash) == 0)
			return e;
	}
	return NULL;
}

/* Puts verified claims into the token's bucket, over a free slot or else the oldest one. */
static void cache_put(auth_verifier *v, const unsigned char *h, const struct auth_parsed *p)
{
	size_t b = cache_bucket(v, h) * AUTH_CACHE_WAYS;
	struct auth_cache_entry *victim = NULL;

	for (size_t i = b; i < b + AUTH_CACHE_WAYS && i < v->cache_n; i++) {
		struct auth_cache_entry *e = &v->cache[i];
		if (!e->used) {
			victim = e;
			break;
		}
		if (!victim || e->seq < victim->seq)
			victim = e;
	}
	memcpy(victim->hash, h, sizeof victim->hash);
	victim->used = true;
	victim->seq = ++v->cache_seq;
	victim->has_nbf = p->has_nbf;
	victim->nbf = p->nbf;
	victim->claims = p->claims;
}

auth_status auth_verify(auth_verifier *v, const char *authorization, int64_t now, auth_claims *out,
                        char *why, size_t whylen)
{
	char tok[AUTH_TOKEN_MAX + 1];
	unsigned char h[crypto_generichash_BYTES];
	const char *t = NULL;
	size_t tlen = 0;
	struct auth_parsed p;
	struct auth_cache_entry *e;
	auth_status st;

	set_why(why, whylen, "%s", "");
	memset(&p, 0, sizeof p);
	if (!v) {
		set_why(why, whylen, "no verifier");
		return AUTH_ERR_MISSING;
	}
	st = parse_bearer(authorization, &t, &tlen, why, whylen);
	if (st != AUTH_OK)
		goto fail;
	if (v->cache_n) {
		crypto_generichash(h, sizeof h, (const unsigned char *)t, tlen, v->cache_key,
		                   sizeof v->cache_key);
		e = cache_find(v, h);
		if (e) {
			v->stats.cache_hits++;
			st = check_times(v, e->claims.exp, e->has_nbf, e->nbf, now, why, whylen);
			if (st == AUTH_ERR_EXPIRED)
				sodium_memzero(e, sizeof *e); /* never valid again */
			if (st == AUTH_OK && out)
				*out = e->claims;
			goto fail;
		}
		v->stats.cache_misses++;
	}
	memcpy(tok, t, tlen);
	tok[tlen] = '\0';
	st = verify_token(v, tok, tlen, now, &p, why, whylen);
	if (st != AUTH_OK)
		goto fail;
	if (v->cache_n)
		cache_put(v, h, &p);
	if (out)
		*out = p.claims;
fail:
	if (st == AUTH_OK)
		v->stats.verified++;
	else
		v->stats.rejected++;
	return st;
}
