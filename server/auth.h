/*
 * auth: bearer-token (JWT, RFC 7519) verification through libjwt 1.10, with a
 * pinned algorithm per trusted issuer and every claim check libjwt does not do
 * (exp, nbf, iss, aud, org, role). Verified tokens are cached by a hash of the
 * token until they expire. Pure: no database, no event loop; the org's
 * existence and state are checked by the caller (orgs.h).
 */
#ifndef FIDUCIA_AUTH_H
#define FIDUCIA_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_ORG_MAX    64   /* bytes, including NUL; org names are slugs */
#define AUTH_ISSUER_MAX 128  /* bytes, including NUL */
#define AUTH_MAX_LEEWAY 60   /* seconds: the most clock skew we ever allow */
#define AUTH_TOKEN_MAX  8192 /* bytes: longer Authorization headers are malformed */

/* Roles are bits so that a route can allow several. */
typedef enum auth_role {
	AUTH_ROLE_NONE = 0,
	AUTH_ROLE_OPERATOR = 1 << 0,
	AUTH_ROLE_HOLDER = 1 << 1,
	AUTH_ROLE_USER = 1 << 2,
	AUTH_ROLE_REGULATOR = 1 << 3,
} auth_role;
#define AUTH_ROLE_ANY (AUTH_ROLE_OPERATOR | AUTH_ROLE_HOLDER | AUTH_ROLE_USER | AUTH_ROLE_REGULATOR)

typedef enum auth_status {
	AUTH_OK = 0,
	AUTH_ERR_MISSING,       /* no Authorization header */
	AUTH_ERR_MALFORMED,     /* not "Bearer <a.b.c>", bad base64/JSON, too long */
	AUTH_ERR_ALG,           /* alg differs from the issuer's pinned one (incl. none) */
	AUTH_ERR_BAD_SIGNATURE, /* signature does not verify */
	AUTH_ERR_ISSUER,        /* iss missing or not a trusted issuer */
	AUTH_ERR_AUDIENCE,      /* aud missing or not ours */
	AUTH_ERR_EXPIRED,       /* exp missing or in the past (beyond leeway) */
	AUTH_ERR_NOT_YET_VALID, /* nbf in the future (beyond leeway) */
	AUTH_ERR_CLAIMS,        /* org/role missing or invalid */
} auth_status;

typedef struct auth_claims {
	char org[AUTH_ORG_MAX];
	char issuer[AUTH_ISSUER_MAX];
	auth_role role;
	int64_t exp;                /* seconds since the epoch */
	unsigned char jti_hash[32]; /* SHA-256 of the jti claim (zeros when absent) */
} auth_claims;

typedef struct auth_verifier auth_verifier;

/* audience: the required aud (a string, or one element of an aud array).
 * leeway_s: clock skew allowed on exp/nbf, clamped to [0, AUTH_MAX_LEEWAY].
 * cache_entries: verified-token cache size (0 disables the cache).
 * Returns NULL on out-of-memory. Free with auth_verifier_free. */
auth_verifier *auth_verifier_new(const char *audience, int leeway_s, size_t cache_entries)
        __attribute__((warn_unused_result));
void auth_verifier_free(auth_verifier *v);

/*
 * Trust issuer `name`, whose tokens must carry exactly algorithm `alg`
 * ("ES256", "RS256", or "HS256" only when allow_hs256). key/key_len is the
 * PEM public key for ES256/RS256 (checked to be a key of the right type), or
 * the shared secret (>= 32 bytes) for HS256; it is copied (secrets into
 * sodium_malloc'd memory). On failure returns false with a reason in err.
 */
bool auth_verifier_add_issuer(auth_verifier *v, const char *name, const char *alg,
                              const unsigned char *key, size_t key_len, bool allow_hs256, char *err,
                              size_t errlen) __attribute__((warn_unused_result));

/*
 * Verify an Authorization header value ("Bearer <jwt>"; NULL when absent) at
 * time `now` (seconds). On AUTH_OK fills *out. Otherwise writes a short
 * reason into why (never the token or any part of it) and returns the status.
 */
auth_status auth_verify(auth_verifier *v, const char *authorization, int64_t now, auth_claims *out,
                        char *why, size_t whylen) __attribute__((warn_unused_result));

/* "operator", "holder", "user", "regulator"; AUTH_ROLE_NONE for anything else. */
auth_role auth_role_parse(const char *s);
const char *auth_role_name(auth_role r);

typedef struct auth_stats {
	uint64_t cache_hits, cache_misses, verified, rejected;
} auth_stats;
void auth_verifier_stats(const auth_verifier *v, auth_stats *out);

#endif
