/*
 * config: every fiduciad option, defined once in a table (name, type,
 * bounds, default, help). Sources, lowest to highest priority: the defaults,
 * the config file (`name = value` lines), the command-line flags.
 */
#ifndef FIDUCIA_CONFIG_H
#define FIDUCIA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct config {
	char *listen; /* HOST:PORT */
	char *data_dir;
	char *database_url; /* empty: the embedded cluster in data_dir */
	bool production;
	char *log_level;
	long long max_body_size;
	long long http_timeout;
	long long shutdown_timeout;
	char *tls_cert;
	char *tls_key;
	long long db_pool_size;
	long long db_acquire_timeout_ms;
	long long db_statement_timeout_ms;
	char *pg_bindir;  /* empty: ask pg_config, else Debian's default */
	char *pg_os_user; /* runs the embedded cluster when fiduciad is root */
	char *audience;
	long long jwt_leeway;
	long long token_cache_size;
	char **issuers; /* "NAME ALG KEYFILE" each */
	size_t n_issuers;
	bool allow_hs256;
	bool dev_issuer;
	char *kek_file;
	char *kek_previous_file; /* empty: none */
	long long worker_threads;
	long long chunk_rows;
	long long pseudonym_cache;
	long long consent_cache_bytes;
	long long query_cache_bytes;
	long long query_projection_bytes;
	long long query_max_groups;
	long long query_max_bytes;
	long long query_max_groups_per_subject;
	long long query_max_rows_per_subject;
	char *query_noise; /* "laplace"; "zero" only with FIDUCIA_TEST_HOOKS */
	char *intermediary_name;
	char *intermediary_contact;
	char *ledger_key_file;
	char *ledger_origin;

	/* derived by config_finish() */
	char *listen_host;
	int listen_port;
} config;

typedef enum config_action {
	CONFIG_RUN,
	CONFIG_HELP,
	CONFIG_VERSION,
	CONFIG_ERROR,
} config_action;

/* Fill with defaults. Free with config_free. */
void config_init(config *c);
void config_free(config *c);

/* Set one option by name from its text form. false + err on an unknown name
 * or a bad value (the message names the option and the rule broken). */
bool config_set(config *c, const char *name, const char *value, char *err, size_t errlen)
        __attribute__((warn_unused_result));

/* Read `name = value` lines ('#' starts a comment; values may be "quoted").
 * Errors name the file and line. */
bool config_load_file(config *c, const char *path, char *err, size_t errlen)
        __attribute__((warn_unused_result));

/* Full start-up parse: defaults, then --config FILE, then the other flags
 * (--data-dir, --listen, --production, --set NAME=VALUE). Then config_finish. */
config_action config_parse_args(config *c, int argc, char **argv, char *err, size_t errlen)
        __attribute__((warn_unused_result));

/* Cross-option checks and derived values (listen host/port, key paths
 * defaulting into data_dir/keys). */
bool config_finish(config *c, char *err, size_t errlen) __attribute__((warn_unused_result));

/* --help text: usage and every option with its type, default and bounds. */
void config_print_help(FILE *out);

/* Iterate over the option table (for documentation tests). NULL past the end. */
const char *config_option_name(size_t i);

#endif
