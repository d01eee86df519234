/*
 * The option table and its parsers. Adding an option is one row in
 * `options` plus a field in struct config; the help text, the file parser,
 * --set and the README check all follow from the row.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef enum cf_type { CF_STR, CF_INT, CF_BOOL, CF_LIST } cf_type;

struct cf_option {
	const char *name;
	cf_type type;
	size_t offset;
	long long min, max; /* CF_INT only */
	const char *def;
	const char *help;
};

#define OFF(f) offsetof(config, f)

static const struct cf_option options[] = {
        {"listen", CF_STR, OFF(listen), 0, 0, "127.0.0.1:8080", "HTTP listen address, HOST:PORT"},
        {"data_dir", CF_STR, OFF(data_dir), 0, 0, "./fiducia-data",
         "folder for keys and, without database_url, the embedded PostgreSQL cluster"},
        {"database_url", CF_STR, OFF(database_url), 0, 0, "",
         "libpq connection string; empty runs an embedded cluster in data_dir/pg"},
        {"production", CF_BOOL, OFF(production), 0, 0, "false",
         "refuse to generate keys or run the embedded cluster; require every key and database_url"},
        {"log_level", CF_STR, OFF(log_level), 0, 0, "info", "debug, info, warn or error"},
        {"max_body_size", CF_INT, OFF(max_body_size), 1024, 1LL << 30, "67108864",
         "largest request body in bytes (413 above)"},
        {"http_timeout", CF_INT, OFF(http_timeout), 1, 3600, "60",
         "seconds a connection may stay idle or take to send a request"},
        {"shutdown_timeout", CF_INT, OFF(shutdown_timeout), 0, 3600, "30",
         "seconds SIGTERM waits for in-flight requests before exiting"},
        {"tls_cert", CF_STR, OFF(tls_cert), 0, 0, "",
         "PEM certificate chain; enables TLS with tls_key"},
        {"tls_key", CF_STR, OFF(tls_key), 0, 0, "", "PEM private key of tls_cert"},
        {"db_pool_size", CF_INT, OFF(db_pool_size), 1, 256, "8",
         "PostgreSQL connections per process"},
        {"db_acquire_timeout_ms", CF_INT, OFF(db_acquire_timeout_ms), 10, 600000, "5000",
         "milliseconds a request waits for a pooled connection before 503"},
        {"db_statement_timeout_ms", CF_INT, OFF(db_statement_timeout_ms), 0, 3600000, "30000",
         "PostgreSQL statement_timeout for pooled connections (0 = none)"},
        {"pg_bindir", CF_STR, OFF(pg_bindir), 0, 0, "",
         "PostgreSQL server programs for the embedded cluster; empty asks pg_config"},
        {"pg_os_user", CF_STR, OFF(pg_os_user), 0, 0, "postgres",
         "unprivileged OS user that runs the embedded cluster when fiduciad runs as root"},
        {"audience", CF_STR, OFF(audience), 0, 0, "fiducia", "required JWT aud claim"},
        {"jwt_leeway", CF_INT, OFF(jwt_leeway), 0, 60, "30",
         "seconds of clock skew allowed on exp/nbf"},
        {"token_cache_size", CF_INT, OFF(token_cache_size), 0, 1000000, "16384",
         "verified tokens cached until they expire (0 = no cache)"},
        {"issuer", CF_LIST, OFF(issuers), 0, 0, "",
         "trusted token issuer \"NAME ALG PUBLIC_KEY_FILE\" (ES256, RS256; HS256 takes a secret "
         "file and needs allow_hs256); repeat for more"},
        {"allow_hs256", CF_BOOL, OFF(allow_hs256), 0, 0, "false",
         "permit HS256 issuers (development only; refused with production)"},
        {"dev_issuer", CF_BOOL, OFF(dev_issuer), 0, 0, "true",
         "trust the development issuer fiducia-dev (data_dir/keys/dev-issuer.pem, created when "
         "absent); ignored with production"},
        {"kek_file", CF_STR, OFF(kek_file), 0, 0, "",
         "key-encryption key file; empty means data_dir/keys/kek.key"},
        {"kek_previous_file", CF_STR, OFF(kek_previous_file), 0, 0, "",
         "a retired key-encryption key still accepted for unwrapping data keys during a KEK "
         "rotation (empty = none)"},
        {"worker_threads", CF_INT, OFF(worker_threads), 0, 256, "0",
         "threads that parse, encrypt and decrypt data off the event loop (0 = one per CPU)"},
        {"chunk_rows", CF_INT, OFF(chunk_rows), 1, 1048576, "65536",
         "most rows in one stored chunk of a new dataset"},
        {"intermediary_name", CF_STR, OFF(intermediary_name), 0, 0,
         "Fiducia data intermediary (development)",
         "this intermediary's identity, written into every consent record"},
        {"intermediary_contact", CF_STR, OFF(intermediary_contact), 0, 0, "",
         "this intermediary's contact (address, e-mail), written into every consent record"},
        {"pseudonym_cache", CF_INT, OFF(pseudonym_cache), 0, 1 << 24, "262144",
         "subject pseudonyms kept in memory to spare recomputing them (entries of 32 bytes, "
         "never a raw identifier; 0 = off)"},
        {"consent_cache_bytes", CF_INT, OFF(consent_cache_bytes), 0, 1LL << 40, "268435456",
         "memory for the subject numbers of chunks that consent filtering keeps between "
         "queries (pseudonyms and numbers only; 0 = none kept)"},
        {"query_cache_bytes", CF_INT, OFF(query_cache_bytes), 0, 1LL << 40, "1073741824",
         "memory for decrypted columns kept between queries (wiped on eviction; 0 = none "
         "kept)"},
        {"query_projection_bytes", CF_INT, OFF(query_projection_bytes), 0, 1LL << 40, "1073741824",
         "memory for personal datasets' decrypted columns kept in subject order between "
         "queries, for the contribution caps (wiped on eviction; 0 = none: every query "
         "scans by chunk)"},
        {"query_max_groups", CF_INT, OFF(query_max_groups), 1, 10000000, "100000",
         "a query with more groups than this is refused"},
        {"query_max_bytes", CF_INT, OFF(query_max_bytes), 1 << 20, 1LL << 40, "2147483648",
         "working memory of one query's group and (subject, group) tables; a query needing "
         "more is refused"},
        {"query_max_groups_per_subject", CF_INT, OFF(query_max_groups_per_subject), 1, 1000000,
         "16",
         "groups of one query a subject may contribute to (the others are dropped at "
         "random)"},
        {"query_max_rows_per_subject", CF_INT, OFF(query_max_rows_per_subject), 1, 1000000, "10",
         "rows per group a subject may contribute when the policy sets no "
         "maxContributionsPerSubject"},
        {"query_noise", CF_STR, OFF(query_noise), 0, 0, "laplace",
         "differential-privacy noise: laplace (the only value a release build accepts)"},
        {"ledger_origin", CF_STR, OFF(ledger_origin), 0, 0, "fiducia.localhost/ledger",
         "the ledger's checkpoint origin line and signing key name (e.g. "
         "fiducia.example.eu/ledger)"},
        {"ledger_key_file", CF_STR, OFF(ledger_key_file), 0, 0, "",
         "ledger Ed25519 signing key file; empty means data_dir/keys/ledger-ed25519.key"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

static void errf(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *config_option_name(size_t i)
{
	return i < N_OPTIONS ? options[i].name : NULL;
}

static const struct cf_option *find_option(const char *name)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0")) {
		*out = false;
		return true;
	}
	return false;
}

static bool set_one(config *c, const struct cf_option *o, const char *value, char *err,
                    size_t errlen)
{
	void *field = (char *)c + o->offset;
	switch (o->type) {
	case CF_STR: {
		char *dup = strdup(value);
		if (!dup)
			goto oom;
		free(*(char **)field);
		*(char **)field = dup;
		return true;
	}
	case CF_INT: {
		char *end;
		errno = 0;
		long long v = strtoll(value, &end, 10);
		if (errno || end == value || *end || !*value) {
			errf(err, errlen, "option %s: \"%s\" is not an integer", o->name, value);
			return false;
		}
		if (v < o->min || v > o->max) {
			errf(err, errlen, "option %s: %lld is outside [%lld, %lld]", o->name, v,
			     o->min, o->max);
			return false;
		}
		*(long long *)field = v;
		return true;
	}
	case CF_BOOL:
		if (!parse_bool(value, (bool *)field)) {
			errf(err, errlen, "option %s: \"%s\" is not a boolean (true/false)",
			     o->name, value);
			return false;
		}
		return true;
	case CF_LIST: {
		char ***list = (char ***)field;
		size_t *n = &c->n_issuers; /* the only list option */
		if (!*value)
			return true;
		char **nl = realloc(*list, (*n + 1) * sizeof *nl);
		if (!nl)
			goto oom;
		*list = nl;
		if (!(nl[*n] = strdup(value)))
			goto oom;
		(*n)++;
		return true;
	}
	}
	return false;
oom:
	errf(err, errlen, "out of memory");
	return false;
}

void config_init(config *c)
{
	memset(c, 0, sizeof *c);
	char err[256];
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (!set_one(c, &options[i], options[i].def, err, sizeof err))
			abort(); /* a bad default is a programming error */
}

void config_free(config *c)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].type == CF_STR)
			free(*(char **)((char *)c + options[i].offset));
	for (size_t i = 0; i < c->n_issuers; i++)
		free(c->issuers[i]);
	free(c->issuers);
	free(c->listen_host);
	memset(c, 0, sizeof *c);
}

bool config_set(config *c, const char *name, const char *value, char *err, size_t errlen)
{
	const struct cf_option *o = find_option(name);
	if (!o) {
		errf(err, errlen, "unknown option \"%.64s\"", name);
		return false;
	}
	return set_one(c, o, value, err, errlen);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

bool config_load_file(config *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		errf(err, errlen, "config file %s: %s", path, strerror(errno));
		return false;
	}
	char line[4096], sub[256];
	int lineno = 0;
	bool seen[N_OPTIONS] = {0};
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			errf(err, errlen, "%s:%d: line too long", path, lineno);
			goto fail;
		}
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			errf(err, errlen, "%s:%d: expected \"name = value\"", path, lineno);
			goto fail;
		}
		*eq = '\0';
		char *name = trim(s), *value = trim(eq + 1);
		if (value[0] == '"') {
			/* "quoted": anything up to the closing quote, then only a comment */
			char *close = strchr(value + 1, '"');
			char *rest = close ? close + 1 : NULL;
			while (rest && (*rest == ' ' || *rest == '\t'))
				rest++;
			if (!close || (*rest && *rest != '#')) {
				errf(err, errlen, "%s:%d: unterminated quote or text after it",
				     path, lineno);
				goto fail;
			}
			*close = '\0';
			value++;
		} else {
			char *hash = strstr(value, " #");
			if (hash)
				*hash = '\0', value = trim(value);
		}
		const struct cf_option *o = find_option(name);
		if (!o) {
			errf(err, errlen, "%s:%d: unknown option \"%.64s\"", path, lineno, name);
			goto fail;
		}
		size_t idx = (size_t)(o - options);
		if (seen[idx] && o->type != CF_LIST) {
			errf(err, errlen, "%s:%d: option %s is set twice", path, lineno, name);
			goto fail;
		}
		seen[idx] = true;
		if (!set_one(c, o, value, sub, sizeof sub)) {
			errf(err, errlen, "%s:%d: %s", path, lineno, sub);
			goto fail;
		}
	}
	fclose(f);
	return true;
fail:
	fclose(f);
	return false;
}

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

bool config_finish(config *c, char *err, size_t errlen)
{
	/* listen: HOST:PORT, or [IPv6]:PORT */
	const char *colon = strrchr(c->listen, ':');
	if (!colon || colon == c->listen) {
		errf(err, errlen, "option listen: \"%s\" is not HOST:PORT", c->listen);
		return false;
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535) {
		errf(err, errlen, "option listen: port \"%s\" is not in [0, 65535]", colon + 1);
		return false;
	}
	const char *h = c->listen;
	size_t hl = (size_t)(colon - c->listen);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']')
		h++, hl -= 2;
	free(c->listen_host);
	c->listen_host = strndup(h, hl);
	c->listen_port = (int)port;

	if (strcmp(c->log_level, "debug") && strcmp(c->log_level, "info") &&
	    strcmp(c->log_level, "warn") && strcmp(c->log_level, "error")) {
		errf(err, errlen, "option log_level: \"%s\" is not debug, info, warn or error",
		     c->log_level);
		return false;
	}
	if (strcmp(c->query_noise, "laplace") != 0) {
#ifdef FIDUCIA_TEST_HOOKS
		if (strcmp(c->query_noise, "zero") != 0 || c->production) {
			errf(err, errlen,
			     "option query_noise: laplace (zero, for tests, never with "
			     "production)");
			return false;
		}
#else
		errf(err, errlen, "option query_noise: only laplace (this is not a test build)");
		return false;
#endif
	}
	if (!*c->tls_cert != !*c->tls_key) {
		errf(err, errlen, "options tls_cert and tls_key must be set together");
		return false;
	}
	if (!*c->data_dir) {
		errf(err, errlen, "option data_dir must not be empty");
		return false;
	}
	if (c->production) {
		if (!*c->database_url) {
			errf(err, errlen,
			     "production: option database_url is required (the "
			     "embedded cluster is for development)");
			return false;
		}
		if (c->allow_hs256) {
			errf(err, errlen, "production: option allow_hs256 is refused");
			return false;
		}
		if (c->n_issuers == 0) {
			errf(err, errlen, "production: at least one issuer must be configured");
			return false;
		}
		c->dev_issuer = false;
	}
	for (size_t i = 0; i < c->n_issuers; i++) {
		char name[256], alg[32], file[2048];
		if (sscanf(c->issuers[i], "%255s %31s %2047s", name, alg, file) != 3) {
			errf(err, errlen, "option issuer: \"%s\" is not \"NAME ALG KEYFILE\"",
			     c->issuers[i]);
			return false;
		}
	}
	if (!*c->kek_file) {
		free(c->kek_file);
		c->kek_file = path_join(c->data_dir, "keys/kek.key");
	}
	if (!*c->ledger_key_file) {
		free(c->ledger_key_file);
		c->ledger_key_file = path_join(c->data_dir, "keys/ledger-ed25519.key");
	}
	if (!c->listen_host || !c->kek_file || !c->ledger_key_file) {
		errf(err, errlen, "out of memory");
		return false;
	}
	return true;
}

config_action config_parse_args(config *c, int argc, char **argv, char *err, size_t errlen)
{
	/* First pass: --help, --version and the config file, so flags override it. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return CONFIG_HELP;
		if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V"))
			return CONFIG_VERSION;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config")) {
			if (i + 1 >= argc) {
				errf(err, errlen, "--config needs a FILE");
				return CONFIG_ERROR;
			}
			if (!config_load_file(c, argv[i + 1], err, errlen))
				return CONFIG_ERROR;
			i++;
		}
	}
	static const struct {
		const char *flag, *option;
	} flags[] = {{"--data-dir", "data_dir"}, {"--listen", "listen"}};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--config")) {
			i++;
			continue;
		}
		if (!strcmp(a, "--production")) {
			c->production = true;
			continue;
		}
		bool matched = false;
		for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
			if (strcmp(a, flags[f].flag) == 0) {
				if (i + 1 >= argc) {
					errf(err, errlen, "%s needs a value", a);
					return CONFIG_ERROR;
				}
				if (!config_set(c, flags[f].option, argv[++i], err, errlen))
					return CONFIG_ERROR;
				matched = true;
			}
		}
		if (matched)
			continue;
		if (!strcmp(a, "--set")) {
			if (i + 1 >= argc || !strchr(argv[i + 1], '=')) {
				errf(err, errlen, "--set needs NAME=VALUE");
				return CONFIG_ERROR;
			}
			char *kv = strdup(argv[++i]);
			if (!kv) {
				errf(err, errlen, "out of memory");
				return CONFIG_ERROR;
			}
			char *eq = strchr(kv, '=');
			*eq = '\0';
			bool ok = config_set(c, kv, eq + 1, err, errlen);
			free(kv);
			if (!ok)
				return CONFIG_ERROR;
			continue;
		}
		errf(err, errlen, "unknown argument \"%.64s\" (see --help)", a);
		return CONFIG_ERROR;
	}
	return config_finish(c, err, errlen) ? CONFIG_RUN : CONFIG_ERROR;
}

void config_print_help(FILE *out)
{
	fprintf(out,
	        "usage: fiduciad [--config FILE] [--data-dir DIR] [--listen HOST:PORT]\n"
	        "                [--production] [--set NAME=VALUE]... [--help] [--version]\n"
	        "\n"
	        "Fiducia data-trust intermediary server. Options come from the defaults, then\n"
	        "the config file (`name = value` lines, # comments), then the flags.\n"
	        "\noptions:\n");
	static const char *const tn[] = {"string", "integer", "boolean", "list"};
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct cf_option *o = &options[i];
		fprintf(out, "  %-24s %-8s default \"%s\"", o->name, tn[o->type], o->def);
		if (o->type == CF_INT)
			fprintf(out, ", %lld..%lld", o->min, o->max);
		fprintf(out, "\n      %s\n", o->help);
	}
}
