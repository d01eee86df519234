/*
 * fiduciad: start-up (configuration, keys, the database and its migrations,
 * token issuers), the event loop, and an orderly exit: SIGTERM/SIGINT stop
 * accepting, let in-flight requests finish, close the pool and stop the
 * embedded PostgreSQL cluster. Start-up is the only place that may block or
 * abort.
 */
#include "api.h"
#include "app.h"
#include "auth.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "keys.h"
#include "ledger.h"
#include "note.h"

#include "log.h"
#include "migrate.h"
#include "orgs.h"
#include "pgembed.h"
#include "workers.h"
#include "kek_rotate.h"
#include "policies.h"
#include "consent.h"
#include "colcache.h"
#include "projection.h"
#include "consent_cache.h"

#include <errno.h>
#include <malloc.h>
#include "batch.h"
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what, const char *err)
{
	log_error("%s: %s", what, err);
	fprintf(stderr, "fiduciad: %s: %s\n", what, err);
}

/* Every data and subject key in the database must be wrapped under a KEK this
 * process holds (kek_file or kek_previous_file): otherwise the datasets under
 * it would answer 500 key_unavailable from the first request. The ids are
 * those of the keys, so a wrong file shows here, not later. */
static bool check_keks(PGconn *c, const keys *k, char *why, size_t len)
{
	const char *p[2] = {k->kek_id, k->kek_previous ? k->kek_previous_id : ""};
	PGresult *r = PQexecParams(c,
	                           "SELECT kek_id, count(DISTINCT dataset) FROM dataset_keys WHERE "
	                           "kek_id <> $1 AND kek_id <> $2 GROUP BY kek_id ORDER BY 2 DESC",
	                           2, NULL, p, NULL, NULL, 0);
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		snprintf(why, len, "cannot read the wrapped keys: %s", PQresultErrorMessage(r));
	else if (!ok)
		snprintf(why, len,
		         "the keys of %s dataset(s) are wrapped under KEK %s%s, which is neither "
		         "kek_file (%s) nor kek_previous_file: configure that KEK "
		         "(docs/OPERATIONS.md, "
		         "\"Key rotation\")",
		         PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 0),
		         PQntuples(r) > 1 ? " (and other KEKs)" : "", k->kek_id);
	PQclear(r);
	return ok;
}

/* Blocking, at start-up: wait for the database, migrate, and check that our
 * ledger key is the one the log is signed with, and that we hold the KEKs. */
static bool prepare_database(const char *conninfo, const config *cfg, const keys *k, char *err,
                             size_t errlen)
{
	PGconn *c = NULL;
	for (int attempt = 0; attempt < 30; attempt++) {
		c = PQconnectdb(conninfo);
		if (PQstatus(c) == CONNECTION_OK)
			break;
		if (attempt == 0) {
			char why[256];
			snprintf(why, sizeof why, "%s", PQerrorMessage(c));
			why[strcspn(why, "\n")] = '\0';
			log_warn("database not reachable yet (%s); retrying for 30 s", why);
		}
		PQfinish(c);
		c = NULL;
		sleep(1);
	}
	if (!c) {
		snprintf(err, errlen, "cannot connect to the database");
		return false;
	}
	db_log_notices(c);
	bool ok = migrate_apply(c, err, errlen);
	char why[512];
	if (ok && !ledger_check_key(c, cfg->ledger_origin, k->ledger_pk, why, sizeof why)) {
		if (cfg->production) {
			snprintf(err, errlen, "%s", why);
			ok = false;
		} else {
			log_warn("%s (development: starting anyway)", why);
		}
	}
	if (ok && !check_keks(c, k, why, sizeof why)) {
		if (cfg->production) {
			snprintf(err, errlen, "%s", why);
			ok = false;
		} else {
			log_warn("%s (development: starting anyway)", why);
		}
	}
	PQfinish(c);
	return ok;
}

static char *read_small_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(65537);
	size_t n = buf ? fread(buf, 1, 65536, f) : 0;
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = '\0';
	*len = n;
	return buf;
}

static bool setup_issuers(struct app *app, const config *cfg, char *err, size_t errlen)
{
	app->auth = auth_verifier_new(cfg->audience, (int)cfg->jwt_leeway,
	                              (size_t)cfg->token_cache_size);
	if (!app->auth) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	if (app->keys->dev_issuer_pub_pem) {
		const char *pem = app->keys->dev_issuer_pub_pem;
		if (!auth_verifier_add_issuer(app->auth, "fiducia-dev", "ES256",
		                              (const unsigned char *)pem, strlen(pem), false, err,
		                              errlen))
			return false;
		log_info("trusting development issuer fiducia-dev (ES256)");
	}
	for (size_t i = 0; i < cfg->n_issuers; i++) {
		char name[256], alg[32], file[2048];
		if (sscanf(cfg->issuers[i], "%255s %31s %2047s", name, alg, file) != 3)
			return false; /* config_finish checked the shape */
		size_t len = 0;
		char *key = read_small_file(file, &len);
		if (!key) {
			snprintf(err, errlen, "issuer %s: cannot read %s: %s", name, file,
			         strerror(errno));
			return false;
		}
		char sub[256];
		bool ok = auth_verifier_add_issuer(app->auth, name, alg, (unsigned char *)key, len,
		                                   cfg->allow_hs256, sub, sizeof sub);
		sodium_memzero(key, len);
		free(key);
		if (!ok) {
			snprintf(err, errlen, "issuer %s: %s", name, sub);
			return false;
		}
		log_info("trusting issuer %s (%s)", name, alg);
	}
	return true;
}

/* The embedded cluster belongs to one fiduciad: a second one on the same
 * data folder would adopt it and stop it under the first one's feet. */
static bool lock_data_dir(const char *dir, int *fd_out, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/fiduciad.lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return false;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen,
		         "%s is in use by another fiduciad running its embedded PostgreSQL; stop "
		         "it or choose another --data-dir",
		         dir);
		close(fd);
		return false;
	}
	*fd_out = fd;
	return true;
}

struct shutdown {
	struct app *app;
	struct event *sigterm, *sigint;
	int signals;
};

static void drained(void *arg)
{
	struct app *app = arg;
	event_base_loopexit(app->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct shutdown *sd = arg;
	if (++sd->signals > 1) {
		log_warn("second signal: exiting without waiting");
		event_base_loopexit(sd->app->base, NULL);
		return;
	}
	log_info("signal %d: shutting down", (int)sig);
	http_server_drain(sd->app->http, (int)sd->app->cfg->shutdown_timeout, drained, sd->app);
}

struct rotation {
	struct app *app;
	bool ok;
	long long rewrapped;
};

static void rotation_done(bool ok, long long n, void *arg)
{
	struct rotation *rt = arg;
	rt->ok = ok;
	rt->rewrapped = n;
	event_base_loopexit(rt->app->base, NULL);
}

/* `fiduciad rotate-kek --new-key FILE [options]`: take the subcommand and
 * its flag out of argv, leaving the usual options. */
static bool parse_subcommand(int *argc, char **argv, const char **new_key, int *per_txn)
{
	if (*argc < 2 || strcmp(argv[1], "rotate-kek") != 0)
		return false;
	int o = 1;
	for (int i = 2; i < *argc; i++) {
		if (strcmp(argv[i], "--new-key") == 0 && i + 1 < *argc)
			*new_key = argv[++i];
		else if (strncmp(argv[i], "--new-key=", 10) == 0)
			*new_key = argv[i] + 10;
		else if (strcmp(argv[i], "--keys-per-transaction") == 0 && i + 1 < *argc)
			*per_txn = atoi(argv[++i]);
		else
			argv[o++] = argv[i];
	}
	*argc = o;
	argv[o] = NULL;
	return true;
}

static void keygen_usage(FILE *out)
{
	fprintf(out,
	        "usage: fiduciad keygen --out DIR [--origin NAME] [--config FILE] [--force]\n"
	        "\n"
	        "Makes a production key set in DIR (created with mode 0700 when absent):\n"
	        "  " KEYS_KEK_FILE "             key-encryption key, for kek_file (0600)\n"
	        "  " KEYS_LEDGER_FILE "  ledger Ed25519 signing key, for ledger_key_file (0600)\n"
	        "  " KEYS_VKEY_FILE "         the ledger's verifier key, to publish (0644)\n"
	        "The verifier key names the ledger by its origin: --origin, else the\n"
	        "ledger_origin of --config FILE, else the default. Use the origin the\n"
	        "deployment will run with; it cannot change once the ledger has a checkpoint.\n"
	        "Existing files are never replaced unless --force is given; a replaced KEK\n"
	        "makes every data key wrapped under it unreadable.\n");
}

/* `fiduciad keygen ...`: nothing but key files; no database, no server. */
static int keygen_main(int argc, char **argv)
{
	const char *out = NULL, *origin = NULL, *conf = NULL;
	bool force = false;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			keygen_usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--force")) {
			force = true;
			continue;
		}
		const char **dst = !strcmp(a, "--out")      ? &out
		                   : !strcmp(a, "--origin") ? &origin
		                   : !strcmp(a, "--config") ? &conf
		                                            : NULL;
		if (!dst || i + 1 >= argc) {
			fprintf(stderr, "fiduciad keygen: %s \"%.64s\"\n",
			        dst ? "a value is missing after" : "unknown argument", a);
			keygen_usage(stderr);
			return 2;
		}
		*dst = argv[++i];
	}
	if (!out || !*out) {
		fprintf(stderr, "fiduciad keygen: --out DIR is required\n");
		keygen_usage(stderr);
		return 2;
	}
	config cfg;
	char err[1024] = "";
	config_init(&cfg);
	if (conf && !config_load_file(&cfg, conf, err, sizeof err)) {
		fprintf(stderr, "fiduciad keygen: %s\n", err);
		config_free(&cfg);
		return 2;
	}
	if (!origin)
		origin = cfg.ledger_origin;
	if (sodium_init() < 0) {
		fprintf(stderr, "fiduciad keygen: libsodium failed to initialise\n");
		config_free(&cfg);
		return 1;
	}
	char vkey[NOTE_VKEY_MAX + 1], kek_id[17];
	if (!keys_generate(out, origin, force, vkey, sizeof vkey, kek_id, err, sizeof err)) {
		fprintf(stderr, "fiduciad keygen: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	char *dir = realpath(out, NULL);
	const char *d = dir ? dir : out;
	printf("fiduciad keygen: new production keys in %s\n"
	       "  %s/" KEYS_KEK_FILE "  key-encryption key (KEK id %s), mode 0600\n"
	       "  %s/" KEYS_LEDGER_FILE "  ledger Ed25519 signing key, mode 0600\n"
	       "  %s/" KEYS_VKEY_FILE "  the ledger's verifier key\n"
	       "\n"
	       "Ledger verifier key (publish it; GET /v1/ledger/key returns the same, and\n"
	       "regulators pass it to `fiducia ledger verify --vkey`):\n"
	       "%s\n"
	       "\n"
	       "Configuration lines for fiduciad (every process of the deployment shares them):\n"
	       "kek_file = %s/" KEYS_KEK_FILE "\n"
	       "ledger_key_file = %s/" KEYS_LEDGER_FILE "\n"
	       "ledger_origin = %s\n"
	       "\n"
	       "Keep a copy of both secret files in escrow: without the KEK no stored data\n"
	       "opens, and without the ledger key the log cannot be extended under its\n"
	       "published verifier key.\n",
	       d, d, kek_id, d, d, vkey, d, d, origin);
	if (!strcmp(origin, "fiducia.localhost/ledger"))
		fprintf(stderr, "fiduciad keygen: note: the origin is the development default; "
		                "pass --origin with this deployment's public name (e.g. "
		                "fiducia.example.eu/ledger)\n");
	free(dir);
	config_free(&cfg);
	return 0;
}

/* Take every occurrence of flag out of argv; true when there was one. */
static bool take_flag(int *argc, char **argv, const char *flag)
{
	bool found = false;
	int o = 1;
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], flag) == 0)
			found = true;
		else
			argv[o++] = argv[i];
	}
	*argc = o;
	argv[o] = NULL;
	return found;
}

int main(int argc, char **argv)
{
	config cfg;
	char err[1024] = "";
	int rc = 1;
	const char *new_key_path = NULL;
	int per_txn = 100;
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return keygen_main(argc, argv);
	bool check_only = take_flag(&argc, argv, "--check-config");
	bool rotate_kek = parse_subcommand(&argc, argv, &new_key_path, &per_txn);
	if (rotate_kek && (!new_key_path || per_txn < 1 || per_txn > 100000)) {
		fprintf(stderr, "usage: fiduciad rotate-kek --new-key FILE [--keys-per-transaction "
		                "N] [--config FILE] [--data-dir DIR] [--set NAME=VALUE]...\n");
		return 2;
	}
	config_init(&cfg);
	switch (config_parse_args(&cfg, argc, argv, err, sizeof err)) {
	case CONFIG_HELP:
		config_print_help(stdout);
		printf("\ncommands:\n"
		       "  fiduciad --check-config [--config FILE] [flags]\n"
		       "      parse the configuration as start-up would (production rules "
		       "included),\n"
		       "      start nothing, exit 0 when it is valid and 2 when not\n"
		       "  fiduciad keygen --out DIR [--origin NAME] [--config FILE] [--force]\n"
		       "      make a production KEK, ledger signing key and verifier key (keygen "
		       "--help)\n"
		       "  fiduciad rotate-kek --new-key FILE [--keys-per-transaction N] [flags]\n"
		       "      re-wrap every data key under a new key-encryption key\n");
		config_free(&cfg);
		return 0;
	case CONFIG_VERSION:
		printf("fiduciad %s\n", FIDUCIA_VERSION);
		config_free(&cfg);
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "fiduciad: %s\n", err);
		config_free(&cfg);
		return 2;
	case CONFIG_RUN:
		break;
	}
	if (check_only) {
		printf("fiduciad: configuration is valid%s\n",
		       cfg.production ? " (production)" : "");
		config_free(&cfg);
		return 0;
	}
	if (!log_level_parse(cfg.log_level, &log_min_level))
		log_min_level = LOG_LEVEL_INFO;
	if (sodium_init() < 0) {
		die("start-up", "libsodium failed to initialise");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Deposits allocate and free buffers of megabytes per batch: keep them
	 * in the heap for reuse instead of an mmap/munmap (and the page faults
	 * and TLB shootdowns across worker threads) each time. */
	mallopt(M_MMAP_THRESHOLD, 256 << 20);
	mallopt(M_TRIM_THRESHOLD, 512 << 20);
	/* One arena: a worker thread's own arena serves a table larger than its
	 * 64 MiB heaps with mmap, whatever the threshold, and a query's pair
	 * tables are hundreds of MiB; unmapping them each query cost a third
	 * of a warm query in TLB shootdowns (bench/README.md). No hot loop
	 * allocates, so the shared arena's lock is not contended. */
	mallopt(M_ARENA_MAX, 1);
	umask(077);

	struct app app = {0};
	pgembed pg = {0};
	char *conninfo = NULL;
	struct shutdown sd = {0};
	int lock_fd = -1;
	app.cfg = &cfg;
	app.schema_version = migrate_latest_version();

	/* 0711: the embedded cluster's user must traverse it (umask is 077). */
	if (mkdir(cfg.data_dir, 0711) == 0) {
		if (chmod(cfg.data_dir, 0711) != 0)
			log_warn("cannot chmod %s: %s", cfg.data_dir, strerror(errno));
	} else if (errno != EEXIST) {
		snprintf(err, sizeof err, "cannot create %s: %s", cfg.data_dir, strerror(errno));
		die("data folder", err);
		goto out;
	}
	if (!(app.keys = keys_load(&cfg, err, sizeof err))) {
		die("keys", err);
		goto out;
	}
	if (!*cfg.database_url && !lock_data_dir(cfg.data_dir, &lock_fd, err, sizeof err)) {
		die("data folder", err);
		goto out;
	}
	if (*cfg.database_url) {
		conninfo = strdup(cfg.database_url);
	} else if (!pgembed_start(&pg, cfg.data_dir, cfg.pg_bindir, cfg.pg_os_user, &conninfo, err,
	                          sizeof err)) {
		die("embedded PostgreSQL", err);
		goto out;
	}
	if (!conninfo || !prepare_database(conninfo, &cfg, app.keys, err, sizeof err)) {
		die("database", err[0] ? err : "out of memory");
		goto out;
	}
	if (!setup_issuers(&app, &cfg, err, sizeof err)) {
		die("token issuers", err);
		goto out;
	}
	evthread_use_pthreads();
	if (!(app.base = event_base_new())) {
		die("start-up", "cannot create the event loop");
		goto out;
	}
	app.db = db_pool_new(app.base, conninfo, (int)cfg.db_pool_size,
	                     (int)cfg.db_acquire_timeout_ms, (int)cfg.db_statement_timeout_ms);
	if (!app.db || !(app.orgs = orgs_cache_new(&app))) {
		die("start-up", "cannot create the database pool");
		goto out;
	}
	if (!(app.ledger = ledger_new(&app, cfg.ledger_origin, err, sizeof err))) {
		die("ledger", err);
		goto out;
	}
	if (!(app.sequencer = ledger_seq_new(&app))) {
		die("start-up", "cannot start the ledger sequencer");
		goto out;
	}
	if (rotate_kek) {
		unsigned char *nk = sodium_malloc(KEYS_KEK_BYTES);
		if (!nk ||
		    !keys_read_or_create(new_key_path, !cfg.production, nk, err, sizeof err)) {
			die("rotate-kek", nk ? err : "out of memory");
			if (nk)
				sodium_free(nk);
			goto out;
		}
		struct rotation rt = {.app = &app};
		kek_rotate_start(&app, nk, per_txn, rotation_done, &rt);
		event_base_dispatch(app.base);
		if (!rt.ok) {
			sodium_free(nk);
			fprintf(stderr,
			        "fiduciad: rotate-kek stopped after re-wrapping %lld keys; "
			        "see the log, then run it again with the same --new-key\n",
			        rt.rewrapped);
			goto out;
		}
		if (cfg.production) {
			printf("rotate-kek: %lld data keys re-wrapped; every key is now under %s.\n"
			       "Install it as kek_file on every fiduciad and restart them (keep "
			       "the old "
			       "key as kek_previous_file until all have restarted).\n",
			       rt.rewrapped, new_key_path);
			rc = 0;
		} else if (keys_write_file(cfg.kek_file, nk, KEYS_KEK_BYTES, err, sizeof err)) {
			printf("rotate-kek: %lld data keys re-wrapped; %s now holds the new "
			       "key-encryption key\n",
			       rt.rewrapped, cfg.kek_file);
			log_info("rotate-kek: installed the new key-encryption key at %s",
			         cfg.kek_file);
			rc = 0;
		} else {
			die("rotate-kek", err);
		}
		sodium_free(nk);
		goto out;
	}
	if (!(app.vocab = policies_vocab_load(err, sizeof err))) {
		die("start-up", err);
		goto out;
	}
	if (!batch_cache_init((size_t)cfg.pseudonym_cache)) {
		die("start-up", "cannot allocate the pseudonym cache");
		goto out;
	}
	if (!(app.consents = consent_cache_new((size_t)cfg.consent_cache_bytes))) {
		die("start-up", "cannot allocate the consent cache");
		goto out;
	}
	if (!(app.columns = colcache_new((size_t)cfg.query_cache_bytes))) {
		die("start-up", "cannot allocate the column cache");
		goto out;
	}
	if (!(app.projections = projcache_new((size_t)cfg.query_projection_bytes))) {
		die("start-up", "cannot allocate the projection cache");
		goto out;
	}
	if (!(app.workers = workers_new(app.base, (int)cfg.worker_threads))) {
		die("start-up", "cannot start the worker threads");
		goto out;
	}
	static const http_route *const tables[] = {
	        health_routes,  whoami_routes,  orgs_routes,   datasets_routes, policies_routes,
	        consent_routes, reports_routes, ledger_routes, queries_routes,  NULL};
	if (!(app.http = http_server_new(&app, tables, err, sizeof err))) {
		die("http", err);
		goto out;
	}
	sd.app = &app;
	sd.sigterm = evsignal_new(app.base, SIGTERM, on_signal, &sd);
	sd.sigint = evsignal_new(app.base, SIGINT, on_signal, &sd);
	evsignal_add(sd.sigterm, NULL);
	evsignal_add(sd.sigint, NULL);

	char port[16];
	snprintf(port, sizeof port, "%d", http_server_port(app.http));
	log_event(LOG_LEVEL_INFO, "listening", "host", cfg.listen_host, "port#", port, "tls",
	          *cfg.tls_cert ? "on" : "off", "version", FIDUCIA_VERSION, "database",
	          *cfg.database_url ? "external" : "embedded", (const char *)NULL);
	event_base_dispatch(app.base);
	log_info("event loop stopped");
	rc = 0;
out:
	if (sd.sigterm)
		event_free(sd.sigterm);
	if (sd.sigint)
		event_free(sd.sigint);
	http_server_free(app.http);
	workers_free(app.workers);
	projcache_free(app.projections);
	colcache_free(app.columns);
	consent_cache_free(app.consents);
	batch_cache_free();
	pdp_vocab_free(app.vocab);
	ledger_seq_free(app.sequencer);
	ledger_free(app.ledger);
	orgs_cache_free(app.orgs);
	db_pool_free(app.db);
	if (app.base)
		event_base_free(app.base);
	auth_verifier_free(app.auth);
	keys_free(app.keys);
	free(conninfo);
	pgembed_stop(&pg);
	if (lock_fd >= 0)
		close(lock_fd);
	config_free(&cfg);
	return rc;
}
