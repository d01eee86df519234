/*
 * Unit tests of the option table and its parsers: defaults, the config file,
 * flags overriding the file, every kind of bad input, production rules, and
 * that the README documents every option.
 */
#include "testutil.h"
#include "../../server/config.c"

#include <unistd.h>

static char tmpdir[] = "/tmp/fiducia-cfg.XXXXXX";

static const char *write_tmp(const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_defaults(void)
{
	config c;
	char err[256];
	config_init(&c);
	CHECK_STR_EQ(c.listen, "127.0.0.1:8080");
	CHECK_STR_EQ(c.audience, "fiducia");
	CHECK(c.db_pool_size == 8);
	CHECK(!c.production);
	CHECK(c.dev_issuer);
	CHECK(config_finish(&c, err, sizeof err));
	CHECK_STR_EQ(c.listen_host, "127.0.0.1");
	CHECK(c.listen_port == 8080);
	CHECK_STR_EQ(c.kek_file, "./fiducia-data/keys/kek.key");
	config_free(&c);
}

static void test_file_and_flags(void)
{
	const char *path =
	        write_tmp("ok.conf", "# a comment\n"
	                             "listen = 0.0.0.0:9000\n"
	                             "db_pool_size = 16   # trailing comment\n"
	                             "audience = \"fiducia # not a comment\" # a comment\n"
	                             "issuer = a ES256 /k/a.pem\n"
	                             "issuer = b RS256 /k/b.pem\n"
	                             "\n"
	                             "data_dir = /var/lib/fiducia\n");
	char *argv[] = {"fiduciad",   "--config", (char *)path,     "--listen",
	                "[::1]:7000", "--set",    "db_pool_size=4", NULL};
	config c;
	char err[256] = "";
	config_init(&c);
	CHECK(config_parse_args(&c, 7, argv, err, sizeof err) == CONFIG_RUN);
	CHECK_STR_EQ(err, "");
	CHECK_STR_EQ(c.listen_host, "::1"); /* the flag beat the file */
	CHECK(c.listen_port == 7000);
	CHECK(c.db_pool_size == 4);
	CHECK_STR_EQ(c.audience, "fiducia # not a comment");
	CHECK_STR_EQ(c.data_dir, "/var/lib/fiducia"); /* the file beat the default */
	CHECK(c.n_issuers == 2);
	CHECK_STR_EQ(c.issuers[1], "b RS256 /k/b.pem");
	CHECK_STR_EQ(c.ledger_key_file, "/var/lib/fiducia/keys/ledger-ed25519.key");
	config_free(&c);
}

static void expect_file_error(const char *text, const char *needle)
{
	const char *path = write_tmp("bad.conf", text);
	config c;
	char err[256] = "";
	config_init(&c);
	CHECK(!config_load_file(&c, path, err, sizeof err));
	CHECK_CONTAINS(err, needle);
	config_free(&c);
}

static void test_bad_file(void)
{
	expect_file_error("nonsense = 1\n", "unknown option \"nonsense\"");
	expect_file_error("listen\n", "bad.conf:1: expected \"name = value\"");
	expect_file_error("\n\ndb_pool_size = many\n",
	                  "bad.conf:3: option db_pool_size: \"many\" is not an integer");
	expect_file_error("db_pool_size = 0\n", "option db_pool_size: 0 is outside [1, 256]");
	expect_file_error("db_pool_size = 99999999999999999999\n", "is not an integer");
	expect_file_error("production = maybe\n", "option production: \"maybe\" is not a boolean");
	expect_file_error("listen = a:1\nlisten = b:2\n", "option listen is set twice");
	expect_file_error("audience = \"abc\n", "bad.conf:1: unterminated quote");
	expect_file_error("audience = \"a\" b\n", "text after it");
	config c;
	char err[256] = "";
	config_init(&c);
	CHECK(!config_load_file(&c, "/nonexistent/fiducia.conf", err, sizeof err));
	CHECK_CONTAINS(err, "/nonexistent/fiducia.conf");
	config_free(&c);
}

static config_action parse(char **argv, char *err, size_t errlen)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	config c;
	config_init(&c);
	config_action a = config_parse_args(&c, argc, argv, err, errlen);
	config_free(&c);
	return a;
}

static void test_bad_flags(void)
{
	char err[256];
	CHECK(parse((char *[]){"fiduciad", "--frobnicate", NULL}, err, sizeof err) == CONFIG_ERROR);
	CHECK_CONTAINS(err, "unknown argument \"--frobnicate\"");
	CHECK(parse((char *[]){"fiduciad", "--listen", NULL}, err, sizeof err) == CONFIG_ERROR);
	CHECK_CONTAINS(err, "--listen needs a value");
	CHECK(parse((char *[]){"fiduciad", "--listen", "nowhere", NULL}, err, sizeof err) ==
	      CONFIG_ERROR);
	CHECK_CONTAINS(err, "option listen");
	CHECK(parse((char *[]){"fiduciad", "--listen", "h:70000", NULL}, err, sizeof err) ==
	      CONFIG_ERROR);
	CHECK(parse((char *[]){"fiduciad", "--set", "bogus=1", NULL}, err, sizeof err) ==
	      CONFIG_ERROR);
	CHECK_CONTAINS(err, "unknown option \"bogus\"");
	CHECK(parse((char *[]){"fiduciad", "--set", "log_level=loud", NULL}, err, sizeof err) ==
	      CONFIG_ERROR);
	CHECK_CONTAINS(err, "log_level");
	CHECK(parse((char *[]){"fiduciad", "--set", "tls_cert=/x.pem", NULL}, err, sizeof err) ==
	      CONFIG_ERROR);
	CHECK_CONTAINS(err, "tls_cert and tls_key");
	CHECK(parse((char *[]){"fiduciad", "--set", "issuer=onlyname", NULL}, err, sizeof err) ==
	      CONFIG_ERROR);
	CHECK_CONTAINS(err, "NAME ALG KEYFILE");
	CHECK(parse((char *[]){"fiduciad", "--help", "--frobnicate", NULL}, err, sizeof err) ==
	      CONFIG_HELP);
	CHECK(parse((char *[]){"fiduciad", "--version", NULL}, err, sizeof err) == CONFIG_VERSION);
}

static void test_production_rules(void)
{
	char err[256];
	CHECK(parse((char *[]){"fiduciad", "--production", NULL}, err, sizeof err) == CONFIG_ERROR);
	CHECK_CONTAINS(err, "database_url is required");
	CHECK(parse((char *[]){"fiduciad", "--production", "--set", "database_url=host=/x", "--set",
	                       "issuer=a ES256 /a.pem", "--set", "allow_hs256=true", NULL},
	            err, sizeof err) == CONFIG_ERROR);
	CHECK_CONTAINS(err, "allow_hs256 is refused");
	CHECK(parse((char *[]){"fiduciad", "--production", "--set", "database_url=host=/x", NULL},
	            err, sizeof err) == CONFIG_ERROR);
	CHECK_CONTAINS(err, "issuer");
	config c;
	config_init(&c);
	char *argv[] = {"fiduciad", "--production",          "--set", "database_url=host=/x",
	                "--set",    "issuer=a ES256 /a.pem", NULL};
	CHECK(config_parse_args(&c, 6, argv, err, sizeof err) == CONFIG_RUN);
	CHECK(!c.dev_issuer); /* never trusted in production */
	config_free(&c);
}

static void test_readme_documents_every_option(void)
{
	FILE *f = fopen(FIDUCIA_SOURCE_DIR "/README.md", "r");
	CHECK(f != NULL);
	if (!f)
		return;
	static char text[1 << 20];
	size_t n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	for (size_t i = 0; config_option_name(i); i++) {
		char needle[96];
		snprintf(needle, sizeof needle, "| `%s` |", config_option_name(i));
		CHECK_CONTAINS(text, needle);
	}
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	static const tu_case cases[] = {
	        TU_CASE(test_defaults),         TU_CASE(test_file_and_flags),
	        TU_CASE(test_bad_file),         TU_CASE(test_bad_flags),
	        TU_CASE(test_production_rules), TU_CASE(test_readme_documents_every_option),
	};
	int rc = tu_run(cases, sizeof cases / sizeof cases[0]);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
