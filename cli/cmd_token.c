/*
 * fiducia token mint: signs a bearer token (JWT, ES256 or RS256, libjwt) for
 * an issuer whose PEM private key we hold, with the claims fiduciad checks:
 * iss, aud, sub, org, role, iat, nbf, exp, jti. For development, --data-dir
 * uses the fiducia-dev issuer key that fiduciad generated there.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#define TOKEN_TTL_MAX    (30L * 24 * 3600) /* seconds */
#define TOKEN_KEY_MAX    65536             /* bytes of a PEM key file */
#define TOKEN_ISSUER_MAX 127               /* bytes: fiduciad's AUTH_ISSUER_MAX less the NUL */
#define TOKEN_AUD_MAX    255
#define TOKEN_DEV_ISSUER "fiducia-dev"
#define TOKEN_DEV_KEY    "keys/dev-issuer.pem"

/* What goes into a token. */
struct token_claims {
	const char *issuer;
	const char *audience;
	const char *org;
	const char *role;
	long ttl; /* seconds */
	long now; /* iat, seconds since the epoch */
};

/* "30s", "15m", "1h", "7d": 1 second to 30 days. */
static bool ttl_parse(const char *s, long *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long n = strtoul(s, &end, 10);
	if (errno || end == s || end[0] == '\0' || end[1] != '\0')
		return false;
	unsigned long unit;
	switch (*end) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	default:
		return false;
	}
	if (n == 0 || n > (unsigned long)TOKEN_TTL_MAX / unit)
		return false;
	*out = (long)(n * unit);
	return true;
}

static bool role_valid(const char *s)
{
	static const char *const roles[] = {"operator", "holder", "user", "regulator"};
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (strcmp(s, roles[i]) == 0)
			return true;
	return false;
}

static bool text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* Reads the key file into sodium_malloc'd memory: *key (NUL-terminated), *len bytes. */
static int key_read(const char *path, unsigned char **key, size_t *len)
{
	FILE *f = fopen(path, "rbe");
	struct stat st;
	*key = NULL;
	if (!f) {
		cli_error("cannot read the key %s: %s", path, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	int rc = CLI_EXIT_FAIL;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		cli_error("the key %s is not a regular file", path);
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > TOKEN_KEY_MAX) {
		cli_error("the key %s is %s", path, st.st_size <= 0 ? "empty" : "too large");
		goto out;
	}
	*key = sodium_malloc((size_t)st.st_size + 1);
	if (!*key) {
		cli_error("out of memory");
		goto out;
	}
	*len = fread(*key, 1, (size_t)st.st_size, f);
	if (ferror(f) || *len == 0) {
		cli_error("cannot read the key %s", path);
		sodium_free(*key);
		*key = NULL;
		goto out;
	}
	(*key)[*len] = '\0';
	rc = CLI_EXIT_OK;
out:
	fclose(f);
	return rc;
}

/* Refuses to prompt: an encrypted key is reported, never asked for. */
static int key_no_password(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/*
 * The algorithm the PEM private key signs: ES256 for an EC P-256 key, RS256
 * for an RSA key of at least 2048 bits. false with a reason otherwise.
 */
static bool key_alg(const unsigned char *key, size_t len, jwt_alg_t *alg, char *why, size_t n)
{
	bool ok = false;
	BIO *b = BIO_new_mem_buf(key, (int)len);
	EVP_PKEY *pk = b ? PEM_read_bio_PrivateKey(b, NULL, key_no_password, NULL) : NULL;
	if (!pk) {
		snprintf(why, n, "not an unencrypted PEM private key");
		goto out;
	}
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC) {
		char group[64] = "";
		size_t gl = 0;
		if (EVP_PKEY_get_group_name(pk, group, sizeof group, &gl) != 1 ||
		    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
			snprintf(why, n, "an EC key on curve %s; ES256 needs P-256",
			         group[0] ? group : "(unknown)");
			goto out;
		}
		*alg = JWT_ALG_ES256;
		ok = true;
	} else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA) {
		if (EVP_PKEY_get_bits(pk) < 2048) {
			snprintf(why, n, "an RSA key of %d bits; RS256 needs at least 2048",
			         EVP_PKEY_get_bits(pk));
			goto out;
		}
		*alg = JWT_ALG_RS256;
		ok = true;
	} else {
		snprintf(why, n, "neither an EC P-256 key (ES256) nor an RSA key (RS256)");
	}
out:
	EVP_PKEY_free(pk);
	BIO_free(b);
	ERR_clear_error();
	return ok;
}

/*
 * Signs a token with claims c using the PEM private key (len bytes) and alg.
 * Returns a malloc'd string the caller wipes and frees; NULL with a reason in
 * why.
 */
static char *token_sign(const struct token_claims *c, jwt_alg_t alg, const unsigned char *key,
                        size_t len, char *why, size_t n)
{
	unsigned char raw[16];
	char jti[2 * sizeof raw + 1];
	jwt_t *jwt = NULL;
	char *tok = NULL;

	randombytes_buf(raw, sizeof raw);
	sodium_bin2hex(jti, sizeof jti, raw, sizeof raw);
	if (jwt_new(&jwt) != 0) {
		snprintf(why, n, "out of memory");
		goto out;
	}
	if (jwt_add_grant(jwt, "iss", c->issuer) || jwt_add_grant(jwt, "aud", c->audience) ||
	    jwt_add_grant(jwt, "sub", c->org) || jwt_add_grant(jwt, "org", c->org) ||
	    jwt_add_grant(jwt, "role", c->role) || jwt_add_grant_int(jwt, "iat", c->now) ||
	    jwt_add_grant_int(jwt, "nbf", c->now) ||
	    jwt_add_grant_int(jwt, "exp", c->now + c->ttl) || jwt_add_grant(jwt, "jti", jti)) {
		snprintf(why, n, "cannot set the claims");
		goto out;
	}
	if (jwt_set_alg(jwt, alg, key, (int)len) != 0) {
		snprintf(why, n, "cannot use the key with %s", jwt_alg_str(alg));
		goto out;
	}
	tok = jwt_encode_str(jwt);
	if (!tok)
		snprintf(why, n, "cannot sign the token with %s: %s", jwt_alg_str(alg),
		         strerror(errno));
out:
	jwt_free(jwt); /* scrubs its copy of the key */
	ERR_clear_error();
	return tok;
}

static int token_mint(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *key_path = NULL, *issuer = NULL, *org = NULL, *role = NULL, *ttl = NULL,
	           *aud = NULL, *alg_name = NULL, *data_dir = NULL;
	const struct cli_opt opts[] = {
	        {"--key", "PEM", &key_path, NULL},
	        {"--issuer", "NAME", &issuer, NULL},
	        {"--org", "ORG", &org, NULL},
	        {"--role", "ROLE", &role, NULL},
	        {"--ttl", "DURATION", &ttl, NULL},
	        {"--aud", "AUDIENCE", &aud, NULL},
	        {"--alg", "ES256|RS256", &alg_name, NULL},
	        {"--data-dir", "DIR", &data_dir, NULL},
	        {NULL, NULL, NULL, NULL},
	};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, NULL, 0, 0, &npos);
	if (rc != CLI_CONTINUE)
		return rc;

	struct token_claims c = {.issuer = issuer, .audience = aud ? aud : "fiducia"};
	jwt_alg_t want = JWT_ALG_NONE, alg;
	if (key_path && data_dir)
		return cli_usage_error(ctx, "give either --key (with --issuer) or --data-dir");
	if (!key_path && !data_dir)
		return cli_usage_error(ctx, "missing --key PEM --issuer NAME (or --data-dir DIR "
		                            "for the development issuer)");
	if (key_path && !issuer)
		return cli_usage_error(ctx, "missing --issuer NAME for --key %s", key_path);
	if (!c.issuer)
		c.issuer = TOKEN_DEV_ISSUER;
	if (!text_ok(c.issuer, TOKEN_ISSUER_MAX))
		return cli_usage_error(ctx, "--issuer: 1-%d printable ASCII characters",
		                       TOKEN_ISSUER_MAX);
	if (!org)
		return cli_usage_error(ctx, "missing --org ORG");
	if (!cli_slug_valid(org))
		return cli_usage_error(ctx,
		                       "--org %s: an organisation name is a lowercase slug "
		                       "of 1-63 characters [a-z0-9-], not starting or ending "
		                       "with '-'",
		                       org);
	if (!role)
		return cli_usage_error(ctx, "missing --role operator|holder|user|regulator");
	if (!role_valid(role))
		return cli_usage_error(
		        ctx, "--role %s: must be operator, holder, user or regulator", role);
	c.org = org;
	c.role = role;
	if (!ttl_parse(ttl ? ttl : "1h", &c.ttl))
		return cli_usage_error(ctx,
		                       "--ttl %s: a number and a unit s, m, h or d (e.g. 90m, "
		                       "12h), from 1s to 30d",
		                       ttl);
	if (!text_ok(c.audience, TOKEN_AUD_MAX))
		return cli_usage_error(ctx, "--aud: 1-%d printable ASCII characters",
		                       TOKEN_AUD_MAX);
	if (alg_name) {
		if (strcasecmp(alg_name, "ES256") == 0)
			want = JWT_ALG_ES256;
		else if (strcasecmp(alg_name, "RS256") == 0)
			want = JWT_ALG_RS256;
		else
			return cli_usage_error(ctx, "--alg %s: must be ES256 or RS256", alg_name);
	}

	char path[4096], why[160];
	unsigned char *key = NULL;
	size_t key_len = 0;
	char *tok = NULL;
	if (data_dir) {
		size_t dl = strlen(data_dir);
		bool slash = dl > 0 && data_dir[dl - 1] == '/';
		if ((size_t)snprintf(path, sizeof path, "%s%s%s", data_dir, slash ? "" : "/",
		                     TOKEN_DEV_KEY) >= sizeof path)
			return cli_usage_error(ctx, "--data-dir: path too long");
	} else {
		snprintf(path, sizeof path, "%s", key_path);
	}
	rc = key_read(path, &key, &key_len);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (!key_alg(key, key_len, &alg, why, sizeof why)) {
		cli_error("cannot sign with the key %s: it is %s", path, why);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	if (want != JWT_ALG_NONE && want != alg) {
		rc = cli_usage_error(ctx, "--alg %s: the key %s signs %s", jwt_alg_str(want), path,
		                     jwt_alg_str(alg));
		goto out;
	}
	c.now = (long)time(NULL);
	tok = token_sign(&c, alg, key, key_len, why, sizeof why);
	if (!tok) {
		cli_error("%s", why);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	printf("%s\n", tok);
	rc = CLI_EXIT_OK;
out:
	if (tok) {
		sodium_memzero(tok, strlen(tok));
		free(tok);
	}
	sodium_memzero(key, key_len);
	sodium_free(key);
	return rc;
}

static const struct cli_subcmd token_subs[] = {
        {"mint",
         "(--key PEM --issuer NAME | --data-dir DIR) --org ORG --role ROLE [--ttl 1h] "
         "[--aud fiducia] [--alg ES256|RS256]",
         token_mint,
         "print a signed bearer token. ROLE is operator, holder, user or regulator; --ttl is Ns, "
         "Nm, Nh or Nd, at most 30d; --alg defaults to what the key signs. --data-dir DIR signs "
         "as the development issuer fiducia-dev with DIR/keys/dev-issuer.pem"},
        {NULL, NULL, NULL, NULL},
};

static int run_token(struct cli_ctx *ctx, int argc, char **argv)
{
	return cli_run_sub(ctx, argc, argv);
}

const struct cli_cmd cmd_token_entry = {"token", "mint", run_token, token_subs, NULL};
