/*
 * Unit tests for cli/cmd_token.c: TTL and role parsing, key type detection,
 * and tokens minted by `fiducia token mint` checked by fiduciad's own
 * verifier (server/auth.c), so that the CLI and the server agree on claims,
 * algorithms and signature encoding. Keys are generated at run time.
 */
#include "../../server/auth.c"
#include "../../cli/cli.c"
#include "../../cli/client.c"
#include "../../cli/output.c"
#include "../../cli/cmd_token.c"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define T_AUD    "fiducia"
#define T_ISS    "test-issuer"
#define T_LEEWAY 30

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

/* A verifier trusting T_ISS with pub_pem under alg. */
static auth_verifier *verifier(const char *alg, const char *pub_pem)
{
	char err[256] = "";
	auth_verifier *v = auth_verifier_new(T_AUD, T_LEEWAY, 0);
	CHECK(v != NULL);
	bool ok = auth_verifier_add_issuer(v, T_ISS, alg, (const unsigned char *)pub_pem,
	                                   strlen(pub_pem), false, err, sizeof err);
	CHECK(ok);
	if (!ok)
		fprintf(stderr, "add_issuer: %s\n", err);
	return v;
}

static auth_status verify(auth_verifier *v, const char *tok, int64_t now, auth_claims *c)
{
	char hdr[AUTH_TOKEN_MAX + 16], why[256];
	snprintf(hdr, sizeof hdr, "Bearer %s", tok);
	return auth_verify(v, hdr, now, c, why, sizeof why);
}

/* The decoded JSON of the token's segment (0 header, 1 payload). */
static json_t *segment(const char *tok, int which)
{
	const char *p = tok;
	for (int i = 0; i < which; i++)
		p = strchr(p, '.') + 1;
	size_t n = strcspn(p, ".");
	unsigned char buf[4096];
	size_t len;
	if (sodium_base642bin(buf, sizeof buf, p, n, NULL, &len, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return NULL;
	return json_loadb((const char *)buf, len, 0, NULL);
}

static void test_ttl_parse(void)
{
	long t = 0;
	CHECK(ttl_parse("1s", &t) && t == 1);
	CHECK(ttl_parse("90m", &t) && t == 5400);
	CHECK(ttl_parse("1h", &t) && t == 3600);
	CHECK(ttl_parse("720h", &t) && t == 30L * 86400);
	CHECK(ttl_parse("30d", &t) && t == 30L * 86400);
	const char *bad[] = {
	        "",    "0s",  "31d", "721h", "2592001s", "10", "1x",
	        "1hh", "-1h", "+1h", " 1h",  "1.5h",     "h",  "99999999999999999999999d"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		bool ok = ttl_parse(bad[i], &t);
		CHECK(!ok);
		if (ok)
			fprintf(stderr, "  ttl '%s' accepted\n", bad[i]);
	}
}

static void test_role_and_org(void)
{
	CHECK(role_valid("operator") && role_valid("holder") && role_valid("user") &&
	      role_valid("regulator"));
	CHECK(!role_valid("admin") && !role_valid("Operator") && !role_valid(""));
	CHECK(cli_slug_valid("a") && cli_slug_valid("city-lyon") && cli_slug_valid("x9-2"));
	CHECK(!cli_slug_valid("") && !cli_slug_valid("-a") && !cli_slug_valid("a-") &&
	      !cli_slug_valid("City") && !cli_slug_valid("a_b") && !cli_slug_valid("a b"));
	char long_name[65];
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	CHECK(!cli_slug_valid(long_name));
	long_name[63] = '\0';
	CHECK(cli_slug_valid(long_name));
}

static void test_key_alg(void)
{
	jwt_alg_t alg = JWT_ALG_NONE;
	char why[160];
	EVP_PKEY *ec = EVP_EC_gen("P-256"), *p384 = EVP_EC_gen("P-384");
	EVP_PKEY *rsa = EVP_RSA_gen(2048), *rsa1k = EVP_RSA_gen(1024);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char *pem;

	pem = pem_of(ec, true);
	CHECK(key_alg((unsigned char *)pem, strlen(pem), &alg, why, sizeof why) &&
	      alg == JWT_ALG_ES256);
	free(pem);
	pem = pem_of(rsa, true);
	CHECK(key_alg((unsigned char *)pem, strlen(pem), &alg, why, sizeof why) &&
	      alg == JWT_ALG_RS256);
	free(pem);
	pem = pem_of(p384, true);
	CHECK(!key_alg((unsigned char *)pem, strlen(pem), &alg, why, sizeof why));
	CHECK_CONTAINS(why, "P-256");
	free(pem);
	pem = pem_of(rsa1k, true);
	CHECK(!key_alg((unsigned char *)pem, strlen(pem), &alg, why, sizeof why));
	CHECK_CONTAINS(why, "2048");
	free(pem);
	pem = pem_of(ed, true);
	CHECK(!key_alg((unsigned char *)pem, strlen(pem), &alg, why, sizeof why));
	free(pem);
	/* A public key is not a private key. */
	pem = pem_of(ec, false);
	CHECK(!key_alg((unsigned char *)pem, strlen(pem), &alg, why, sizeof why));
	CHECK_CONTAINS(why, "private key");
	free(pem);
	CHECK(!key_alg((const unsigned char *)"not a key", 9, &alg, why, sizeof why));
	EVP_PKEY_free(ec);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(rsa1k);
	EVP_PKEY_free(ed);
}

/* Mints with alg and key k, and checks the result with fiduciad's verifier. */
static void mint_and_verify(EVP_PKEY *k, jwt_alg_t alg, const char *alg_name)
{
	char *priv = pem_of(k, true), *pub = pem_of(k, false), why[160] = "";
	struct token_claims c = {.issuer = T_ISS,
	                         .audience = T_AUD,
	                         .org = "city-lyon",
	                         .role = "user",
	                         .ttl = 3600,
	                         .now = 1700000000};
	char *tok = token_sign(&c, alg, (unsigned char *)priv, strlen(priv), why, sizeof why);
	CHECK(tok != NULL);
	if (!tok) {
		fprintf(stderr, "  token_sign: %s\n", why);
		goto out;
	}
	auth_verifier *v = verifier(alg_name, pub);
	auth_claims cl;
	CHECK(verify(v, tok, c.now + 10, &cl) == AUTH_OK);
	CHECK_STR_EQ(cl.org, "city-lyon");
	CHECK_STR_EQ(cl.issuer, T_ISS);
	CHECK(cl.role == AUTH_ROLE_USER);
	CHECK(cl.exp == c.now + c.ttl);
	/* nbf = iat: not valid before it (beyond the leeway), expired after exp. */
	CHECK(verify(v, tok, c.now - T_LEEWAY - 5, &cl) == AUTH_ERR_NOT_YET_VALID);
	CHECK(verify(v, tok, c.now + c.ttl + T_LEEWAY + 1, &cl) == AUTH_ERR_EXPIRED);
	auth_verifier_free(v);

	json_t *h = segment(tok, 0), *p = segment(tok, 1);
	CHECK(h && p);
	if (h && p) {
		CHECK_STR_EQ(json_string_value(json_object_get(h, "alg")), alg_name);
		CHECK_STR_EQ(json_string_value(json_object_get(p, "iss")), T_ISS);
		CHECK_STR_EQ(json_string_value(json_object_get(p, "aud")), T_AUD);
		CHECK_STR_EQ(json_string_value(json_object_get(p, "sub")), "city-lyon");
		CHECK_STR_EQ(json_string_value(json_object_get(p, "org")), "city-lyon");
		CHECK_STR_EQ(json_string_value(json_object_get(p, "role")), "user");
		CHECK(json_integer_value(json_object_get(p, "iat")) == c.now);
		CHECK(json_integer_value(json_object_get(p, "nbf")) == c.now);
		CHECK(json_integer_value(json_object_get(p, "exp")) == c.now + c.ttl);
		const char *jti = json_string_value(json_object_get(p, "jti"));
		CHECK(jti && strlen(jti) == 32 && strspn(jti, "0123456789abcdef") == 32);
	}
	json_decref(h);
	json_decref(p);
	sodium_memzero(tok, strlen(tok));
	free(tok);
out:
	free(priv);
	free(pub);
}

static void test_mint_es256_verified_by_server(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	mint_and_verify(k, JWT_ALG_ES256, "ES256");
	EVP_PKEY_free(k);
}

static void test_mint_rs256_verified_by_server(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	mint_and_verify(k, JWT_ALG_RS256, "RS256");
	EVP_PKEY_free(k);
}

static void test_mint_audience_and_jti(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	char *priv = pem_of(k, true), *pub = pem_of(k, false), why[160];
	struct token_claims c = {
	        T_ISS, "someone-else", "operator", "operator", 60, 1700000000,
	};
	char *t1 =
	        token_sign(&c, JWT_ALG_ES256, (unsigned char *)priv, strlen(priv), why, sizeof why);
	c.audience = T_AUD;
	char *t2 =
	        token_sign(&c, JWT_ALG_ES256, (unsigned char *)priv, strlen(priv), why, sizeof why);
	char *t3 =
	        token_sign(&c, JWT_ALG_ES256, (unsigned char *)priv, strlen(priv), why, sizeof why);
	CHECK(t1 && t2 && t3);
	if (t1 && t2 && t3) {
		auth_verifier *v = verifier("ES256", pub);
		auth_claims cl;
		CHECK(verify(v, t1, c.now, &cl) == AUTH_ERR_AUDIENCE);
		CHECK(verify(v, t2, c.now, &cl) == AUTH_OK);
		auth_verifier_free(v);
		json_t *p2 = segment(t2, 1), *p3 = segment(t3, 1);
		CHECK(p2 && p3);
		if (p2 && p3)
			CHECK(strcmp(json_string_value(json_object_get(p2, "jti")),
			             json_string_value(json_object_get(p3, "jti"))) != 0);
		json_decref(p2);
		json_decref(p3);
	}
	free(t1);
	free(t2);
	free(t3);
	free(priv);
	free(pub);
	EVP_PKEY_free(k);
}

/* Runs `fiducia token mint ARGS` in process; its stdout goes to out (a NUL-terminated copy). */
static int run_mint(char **argv, int argc, char *out, size_t outlen)
{
	struct cli_ctx ctx = {.cmd = &cmd_token_entry};
	char path[] = "/tmp/fiducia-cli-out-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDOUT_FILENO);
	fflush(stdout);
	dup2(fd, STDOUT_FILENO);
	int rc = cmd_token_entry.run(&ctx, argc, argv);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	ssize_t n = pread(fd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	cli_ctx_release(&ctx);
	return rc;
}

static void test_mint_command_dev_issuer(void)
{
	char dir[] = "/tmp/fiducia-cli-test-XXXXXX", keys[64], key[96], out[4096];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(keys, sizeof keys, "%s/keys", dir);
	snprintf(key, sizeof key, "%s/keys/dev-issuer.pem", dir);
	CHECK(mkdir(keys, 0700) == 0);
	EVP_PKEY *k = EVP_EC_gen("P-256");
	char *priv = pem_of(k, true), *pub = pem_of(k, false);
	FILE *f = fopen(key, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(priv, f);
		fclose(f);
	}

	char *ok[] = {"mint",     "--data-dir", dir,        "--org",
	              "operator", "--role",     "operator", "--ttl=15m"};
	CHECK(run_mint(ok, 8, out, sizeof out) == CLI_EXIT_OK);
	out[strcspn(out, "\n")] = '\0';
	char why[256] = "";
	auth_verifier *v = auth_verifier_new(T_AUD, T_LEEWAY, 0);
	CHECK(auth_verifier_add_issuer(v, "fiducia-dev", "ES256", (unsigned char *)pub, strlen(pub),
	                               false, why, sizeof why));
	auth_claims cl;
	int64_t now = (int64_t)time(NULL);
	CHECK(verify(v, out, now, &cl) == AUTH_OK);
	CHECK_STR_EQ(cl.org, "operator");
	CHECK_STR_EQ(cl.issuer, "fiducia-dev");
	CHECK(cl.exp >= now + 15 * 60 - 5 && cl.exp <= now + 15 * 60 + 5);
	auth_verifier_free(v);

	/* Usage errors print nothing on stdout. */
	char *bad_role[] = {"mint", "--data-dir", dir, "--org", "operator", "--role", "root"};
	CHECK(run_mint(bad_role, 7, out, sizeof out) == CLI_EXIT_USAGE);
	CHECK(out[0] == '\0');
	char *bad_org[] = {"mint", "--data-dir", dir, "--org", "Operator", "--role", "user"};
	CHECK(run_mint(bad_org, 7, out, sizeof out) == CLI_EXIT_USAGE);
	char *both[] = {"mint", "--data-dir", dir, "--key", key, "--org", "a", "--role", "user"};
	CHECK(run_mint(both, 9, out, sizeof out) == CLI_EXIT_USAGE);
	char *no_iss[] = {"mint", "--key", key, "--org", "a", "--role", "user"};
	CHECK(run_mint(no_iss, 7, out, sizeof out) == CLI_EXIT_USAGE);
	char *rs[] = {"mint", "--data-dir", dir, "--org", "a", "--role", "user", "--alg", "RS256"};
	CHECK(run_mint(rs, 9, out, sizeof out) == CLI_EXIT_USAGE);
	char *ttl[] = {"mint", "--data-dir", dir, "--org", "a", "--role", "user", "--ttl", "31d"};
	CHECK(run_mint(ttl, 9, out, sizeof out) == CLI_EXIT_USAGE);
	char *missing[] = {"mint", "--data-dir", "/nonexistent", "--org", "a", "--role", "user"};
	CHECK(run_mint(missing, 7, out, sizeof out) == CLI_EXIT_FAIL);
	CHECK(out[0] == '\0');

	unlink(key);
	rmdir(keys);
	rmdir(dir);
	free(priv);
	free(pub);
	EVP_PKEY_free(k);
}

TEST_MAIN(TU_CASE(test_ttl_parse), TU_CASE(test_role_and_org), TU_CASE(test_key_alg),
          TU_CASE(test_mint_es256_verified_by_server), TU_CASE(test_mint_rs256_verified_by_server),
          TU_CASE(test_mint_audience_and_jti), TU_CASE(test_mint_command_dev_issuer))
