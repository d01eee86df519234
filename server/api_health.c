/*
 * Unauthenticated operational routes: /healthz (the process answers),
 * /readyz (the database answers and its schema is the one this binary
 * expects) and /metrics (Prometheus text: requests, latency, pool).
 */
#include "api.h"
#include "app.h"
#include "auth.h"
#include "colcache.h"
#include "projection.h"
#include "db.h"
#include "fiducia/v1/common.pb-c.h"

#include <event2/buffer.h>
#include <stdlib.h>

static void healthz(http_req *r)
{
	Fiducia__V1__HealthResponse h = FIDUCIA__V1__HEALTH_RESPONSE__INIT;
	h.status = "ok";
	h.version = FIDUCIA_VERSION;
	http_reply(r, 200, &h.base);
}

static void readyz_done(PGresult *res, void *arg)
{
	http_req *r = arg;
	Fiducia__V1__HealthResponse h = FIDUCIA__V1__HEALTH_RESPONSE__INIT;
	h.version = FIDUCIA_VERSION;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		h.status = "database unreachable";
		http_reply(r, 503, &h.base);
		return;
	}
	h.schema_version = atoll(PQgetvalue(res, 0, 0));
	if (h.schema_version < r->app->schema_version) {
		h.status = "migrations not applied";
		http_reply(r, 503, &h.base);
		return;
	}
	h.status = "ok";
	http_reply(r, 200, &h.base);
}

static void readyz(http_req *r)
{
	db_query(r->app->db, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL,
	         readyz_done, r);
}

static void metrics(http_req *r)
{
	struct evbuffer *b = evbuffer_new();
	if (!b) {
		http_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	http_server_metrics(r->app->http, b);
	db_stats d;
	db_pool_stats(r->app->db, &d);
	evbuffer_add_printf(
	        b,
	        "# HELP fiducia_db_pool_connections PostgreSQL pool connections by state.\n"
	        "# TYPE fiducia_db_pool_connections gauge\n"
	        "fiducia_db_pool_connections{state=\"configured\"} %d\n"
	        "fiducia_db_pool_connections{state=\"connected\"} %d\n"
	        "fiducia_db_pool_connections{state=\"idle\"} %d\n"
	        "fiducia_db_pool_connections{state=\"in_use\"} %d\n"
	        "# HELP fiducia_db_pool_waiting Requests waiting for a pooled connection.\n"
	        "# TYPE fiducia_db_pool_waiting gauge\n"
	        "fiducia_db_pool_waiting %d\n"
	        "# HELP fiducia_db_pool_events_total Pool events.\n"
	        "# TYPE fiducia_db_pool_events_total counter\n"
	        "fiducia_db_pool_events_total{event=\"acquired\"} %llu\n"
	        "fiducia_db_pool_events_total{event=\"acquire_timeout\"} %llu\n"
	        "fiducia_db_pool_events_total{event=\"unavailable\"} %llu\n"
	        "fiducia_db_pool_events_total{event=\"connected\"} %llu\n"
	        "fiducia_db_pool_events_total{event=\"connect_failed\"} %llu\n"
	        "fiducia_db_pool_events_total{event=\"connection_lost\"} %llu\n",
	        d.size, d.connected, d.idle, d.in_use, d.waiting, (unsigned long long)d.acquired,
	        (unsigned long long)d.timeouts, (unsigned long long)d.unavailable,
	        (unsigned long long)d.connects, (unsigned long long)d.connect_failures,
	        (unsigned long long)d.lost);
	auth_stats a;
	auth_verifier_stats(r->app->auth, &a);
	evbuffer_add_printf(b,
	                    "# HELP fiducia_auth_tokens_total Bearer tokens by outcome.\n"
	                    "# TYPE fiducia_auth_tokens_total counter\n"
	                    "fiducia_auth_tokens_total{outcome=\"cache_hit\"} %llu\n"
	                    "fiducia_auth_tokens_total{outcome=\"verified\"} %llu\n"
	                    "fiducia_auth_tokens_total{outcome=\"rejected\"} %llu\n",
	                    (unsigned long long)a.cache_hits, (unsigned long long)a.verified,
	                    (unsigned long long)a.rejected);
	colcache_stats cs;
	colcache_stats_get(r->app->columns, &cs);
	evbuffer_add_printf(
	        b,
	        "# HELP fiducia_query_cache_bytes Decrypted columns kept between queries.\n"
	        "# TYPE fiducia_query_cache_bytes gauge\n"
	        "fiducia_query_cache_bytes %zu\n"
	        "# HELP fiducia_query_cache_total Column cache events.\n"
	        "# TYPE fiducia_query_cache_total counter\n"
	        "fiducia_query_cache_total{event=\"hit\"} %llu\n"
	        "fiducia_query_cache_total{event=\"miss\"} %llu\n"
	        "fiducia_query_cache_total{event=\"evicted\"} %llu\n"
	        "fiducia_query_cache_total{event=\"purged\"} %llu\n",
	        cs.bytes, (unsigned long long)cs.hits, (unsigned long long)cs.misses,
	        (unsigned long long)cs.evictions, (unsigned long long)cs.purged);
	projcache_stats ps;
	projcache_stats_get(r->app->projections, &ps);
	evbuffer_add_printf(
	        b,
	        "# HELP fiducia_query_projection_bytes Decrypted columns kept in subject order.\n"
	        "# TYPE fiducia_query_projection_bytes gauge\n"
	        "fiducia_query_projection_bytes %zu\n"
	        "# HELP fiducia_query_projection_total Subject-order projection events.\n"
	        "# TYPE fiducia_query_projection_total counter\n"
	        "fiducia_query_projection_total{event=\"hit\"} %llu\n"
	        "fiducia_query_projection_total{event=\"miss\"} %llu\n"
	        "fiducia_query_projection_total{event=\"built\"} %llu\n"
	        "fiducia_query_projection_total{event=\"dropped\"} %llu\n"
	        "fiducia_query_projection_total{event=\"evicted\"} %llu\n"
	        "fiducia_query_projection_total{event=\"purged\"} %llu\n",
	        ps.bytes, (unsigned long long)ps.hits, (unsigned long long)ps.misses,
	        (unsigned long long)ps.builds, (unsigned long long)ps.dropped,
	        (unsigned long long)ps.evictions, (unsigned long long)ps.purged);
	size_t n = evbuffer_get_length(b);
	http_reply_raw(r, 200, "text/plain; version=0.0.4", evbuffer_pullup(b, -1), n);
	evbuffer_free(b);
}

const http_route health_routes[] = {
        {"GET", "/healthz", healthz, 0, NULL},
        {"GET", "/readyz", readyz, 0, NULL},
        {"GET", "/metrics", metrics, 0, "text/plain"},
        {NULL, NULL, NULL, 0, NULL},
};
