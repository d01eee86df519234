/*
 * Benchmark of pdp_decide: the compiled example policies (baseline + traffic-jams, baseline
 * + stays) against a fixed mix of permitted and denied requests, on one thread. Prints
 * decisions per second for 5 runs and their median, and the number of heap allocations made
 * during the timed loops (counted by wrapping malloc; expected 0). See policy/BENCH.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pdp.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer) || !defined(__GLIBC__)
#define BENCH_COUNT_ALLOCS 0
static size_t bench_allocs;
#else
#define BENCH_COUNT_ALLOCS 1
/* Every allocation of the process goes through these while the benchmark runs. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static volatile size_t bench_allocs;

void *malloc(size_t n)
{
	bench_allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	bench_allocs++;
	return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	bench_allocs++;
	return __libc_realloc(p, n);
}
#endif

#define RUNS 5

static char *bench_read(const char *rel, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", FIDUCIA_SOURCE_DIR, rel);
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static pdp_policy *bench_policy(const pdp_vocab *v, pdp_scope scope, const char *name)
{
	char rel[256];
	size_t n;
	pdp_error err;
	snprintf(rel, sizeof rel, "policy/examples/%s.json", name);
	char *j = bench_read(rel, &n);
	pdp_policy *p = pdp_compile(v, scope, j, n, &err);
	free(j);
	if (!p) {
		fprintf(stderr, "%s: %s: %s\n", rel, err.pointer, err.message);
		exit(1);
	}
	return p;
}

static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 2000000;
	size_t n;
	pdp_error err;
	char *j = bench_read("policy/purposes.json", &n);
	pdp_vocab *v = pdp_vocab_load(j, n, &err);
	free(j);
	if (!v || iters <= 0)
		return 1;
	pdp_policy *base = bench_policy(v, PDP_SCOPE_BASELINE, "baseline");
	pdp_policy *traffic = bench_policy(v, PDP_SCOPE_DATASET, "traffic-jams");
	pdp_policy *stays = bench_policy(v, PDP_SCOPE_DATASET, "stays");

	static const pdp_group tg_day[] = {{"road_segment", PDP_GRAN_NONE},
	                                   {"observed_at", PDP_GRAN_DAY}};
	static const pdp_group tg_hour[] = {{"road_segment", PDP_GRAN_NONE},
	                                    {"observed_at", PDP_GRAN_HOUR}};
	static const pdp_group sg_month[] = {{"district", PDP_GRAN_NONE},
	                                     {"stay_start", PDP_GRAN_MONTH}};
	static const pdp_group sg_bad[] = {{"host_id", PDP_GRAN_NONE},
	                                   {"stay_start", PDP_GRAN_DAY}};
	static const pdp_measure tm[] = {{PDP_AGG_AVG, "delay_s"}, {PDP_AGG_COUNT, NULL}};
	static const pdp_measure sm[] = {{PDP_AGG_SUM, "nights"}, {PDP_AGG_AVG, "price_eur"}};
	static const char *const filt[] = {"city"};
#define TREQ(org, kind, purpose, personal, g)                                                      \
	{                                                                                          \
		org, kind, PDP_ROLE_USER, "traffic-jams", personal, purpose, PDP_ACTION_AGGREGATE, \
		        tm, 2, g, 2, filt, 1                                                       \
	}
#define SREQ(org, kind, purpose, personal, g)                                                      \
	{                                                                                          \
		org, kind, PDP_ROLE_USER, "stays", personal, purpose, PDP_ACTION_AGGREGATE, sm, 2, \
		        g, 2, filt, 1                                                              \
	}
	const pdp_request reqs[] = {
	        /* permitted */
	        TREQ("city-lyon", PDP_KIND_PUBLIC_AUTHORITY, "fiducia:MobilityPlanning", false,
	             tg_day),
	        TREQ("city-paris", PDP_KIND_PUBLIC_AUTHORITY, "fiducia:RoadSafety", true, tg_day),
	        SREQ("city-lyon", PDP_KIND_PUBLIC_AUTHORITY, "fiducia:HousingPolicy", false,
	             sg_month),
	        SREQ("insee", PDP_KIND_PUBLIC_AUTHORITY, "dpv:ProvideOfficialStatistics", true,
	             sg_month),
	        /* denied */
	        TREQ("city-lyon", PDP_KIND_PUBLIC_AUTHORITY, "fiducia:MobilityPlanning", false,
	             tg_hour),
	        TREQ("adco", PDP_KIND_COMMERCIAL, "dpv:PersonalisedAdvertising", false, tg_day),
	        SREQ("city-lyon", PDP_KIND_PUBLIC_AUTHORITY, "fiducia:HousingRegulationEnforcement",
	             false, sg_month),
	        SREQ("uni-x", PDP_KIND_RESEARCH_ORGANISATION, "dpv:ScientificResearch", true,
	             sg_bad),
	};
	const pdp_policy *ds[] = {traffic, traffic, stays, stays, traffic, traffic, stays, stays};
	const size_t nreq = sizeof reqs / sizeof reqs[0];
	const int64_t now = 1781524800; /* 2026-06-15T12:00:00Z */
	pdp_decision d;
	size_t permits = 0;
	double rate[RUNS];

	/* Warm up and check the mix is what it says. */
	for (size_t i = 0; i < nreq; i++)
		permits += pdp_decide(base, ds[i], &reqs[i], now, &d) == PDP_PERMIT;
	if (permits != 4) {
		fprintf(stderr, "unexpected mix: %zu of %zu permitted\n", permits, nreq);
		return 1;
	}
	size_t allocs = 0;
	for (int r = 0; r < RUNS; r++) {
		unsigned long sum = 0;
		size_t a0 = bench_allocs;
		double t0 = bench_now();
		for (long i = 0; i < iters; i++) {
			size_t k = (size_t)i % nreq;
			sum += pdp_decide(base, ds[k], &reqs[k], now, &d) + d.n_reasons;
		}
		double dt = bench_now() - t0;
		allocs += bench_allocs - a0;
		rate[r] = (double)iters / dt;
		printf("run %d: %ld decisions in %.3f s: %.0f decisions/s (checksum %lu)\n", r + 1,
		       iters, dt, rate[r], sum);
	}
	qsort(rate, RUNS, sizeof rate[0], bench_cmp);
	printf("median: %.0f decisions/s (%.0f ns/decision), 50%% permitted\n", rate[RUNS / 2],
	       1e9 / rate[RUNS / 2]);
	if (BENCH_COUNT_ALLOCS)
		printf("allocations during %d x %ld decisions: %zu (%.6f per decision)\n", RUNS,
		       iters, allocs, (double)allocs / ((double)RUNS * (double)iters));
	else
		printf("allocations: not counted in this build (sanitizer or non-glibc)\n");
	pdp_policy_free(base);
	pdp_policy_free(traffic);
	pdp_policy_free(stays);
	pdp_vocab_free(v);
	return allocs == 0 ? 0 : 2;
}
