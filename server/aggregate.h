/*
 * aggregate: the query engine's scan. It runs a query plan (query.h) over
 * decoded chunks: filters and time range, group keys (time buckets and
 * dimensions), and the measures, hash-aggregated per group in exact
 * integers (FLOAT64 measures in fixed point), each value first clamped to
 * its column's schema bounds.
 *
 * Contribution bounding, for personal datasets: a subject may contribute to
 * at most max_groups groups and at most max_rows rows in each. The first
 * pass counts every (subject, group) pair's rows and, when the sums of
 * max_rows rows fit in an int64 and the pair record stays small, sums them
 * in the pair's record; agg_bound then picks, for a subject over the group
 * cap, max_groups of its pairs uniformly at random (a partial Fisher-Yates
 * shuffle of their positions in the order met) and adds each kept pair
 * within the row cap to its group. A second pass runs only for the kept
 * pairs over the row cap (or for every kept pair when the first pass could
 * not sum): it keeps a uniform random max_rows of a pair's rows
 * (sequential selection sampling: row j of n is kept with probability
 * (wanted - kept) / (n - j)), never the first ones.
 *
 * The work splits into partitions, one per worker thread: for a personal
 * dataset partition p owns the subjects numbered s with s % parts == p (and
 * scans every chunk), so that a pair's rows are all in one partition and
 * the sampling is exact; otherwise chunks are shared out and a partition
 * takes every row of its chunks. Partitions never share memory; agg_finish
 * merges them.
 *
 * Working memory: the groups (bounded by group_limit), their measures, and
 * for a personal dataset one record per (subject, group) pair, in the order
 * met, behind a hash index of 8-byte slots (large arrays get mappings of
 * their own, with huge pages where the kernel allows, kept for the next
 * query up to max_bytes in all). Pure: chunk, query and dp only.
 */
#ifndef FIDUCIA_AGGREGATE_H
#define FIDUCIA_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunk.h"
#include "dp.h"
#include "query.h"
#include "schema.h"

#define AGG_MAX_PARTS 64

typedef struct agg_opts {
	uint32_t max_rows;   /* per subject and group; 0: no cap */
	uint32_t max_groups; /* per subject; 0: no cap */
	size_t group_limit;  /* more groups than this fails the query (at most 2^31 - 1) */
	size_t max_bytes;    /* working memory of the group and pair tables; 0: none */
	int parts;           /* partitions, 1..AGG_MAX_PARTS */
	bool need_fixed_dp;  /* fixed point small enough for dp_scale (see agg_new) */
	bool dominance;      /* gather the largest contribution of each sum (dom_max) */
	bool by_subject;     /* personal: the scan is agg_scan_subjects's (below) */
} agg_opts;

/* One chunk as the scan sees it. */
typedef struct agg_input {
	uint32_t rows;
	const chunk_column *cols[SCHEMA_MAX_COLUMNS]; /* agg_columns()'s, others NULL */
	const uint8_t *keep;      /* rows that may be counted (consent); NULL: all */
	const uint32_t *subj_nos; /* personal: a number > 0 per dictionary entry of the
	                           * SUBJECT column (0 for rows not kept) */
} agg_input;

typedef struct agg agg;

/* NULL with err when the plan cannot run (measure bounds too wide for the
 * fixed point the noise needs). */
agg *agg_new(const query_plan *p, const schema *s, const agg_opts *o, char *err, size_t errlen)
        __attribute__((warn_unused_result));
void agg_free(agg *a);

/* Which columns a scan needs (need[c] set), the SUBJECT column included for
 * a personal dataset. */
void agg_columns(const agg *a, bool need[SCHEMA_MAX_COLUMNS]);

/* Scan one chunk for partition part (threads may scan distinct partitions
 * at once). false when the query exceeds group_limit groups or max_bytes
 * (agg_too_large tells which). */
bool agg_scan(agg *a, int part, const agg_input *in) __attribute__((warn_unused_result));

/* The scan by subject (opts.by_subject), in place of agg_scan and
 * agg_bound: in's rows are in subject order (SUBJECT column idx
 * nondecreasing) and hold every row this query may count of each of their
 * subjects, so that a subject's caps are decided as its rows go by: no pair
 * table, no second pass, the same choices (max_groups of its pairs uniformly
 * at random, then a uniform max_rows of a kept pair's rows). Every row of
 * in counts for partition part (split the subjects between partitions, at
 * subject boundaries). rng: the sampling stream (see agg_bound_part), read
 * once, at the partition's first call. Then agg_finish. */
bool agg_scan_subjects(agg *a, int part, const agg_input *in, const dp_rng *rng)
        __attribute__((warn_unused_result));
/* opts.by_subject, decided after agg_new (once agg_columns told which
 * columns a projection must hold); before any scan. */
void agg_by_subject(agg *a);

/* rows rows of in from row off, as an input of their own (cols: room for its
 * columns, which point into in's). */
void agg_input_slice(const agg_input *in, uint32_t off, uint32_t rows,
                     chunk_column cols[SCHEMA_MAX_COLUMNS], agg_input *out);

/* After the first pass: partition part's caps decisions (which pairs each
 * subject keeps, which rows the second pass samples), with a keystream of
 * its own derived from rng (read, not advanced). Threads may bound distinct
 * partitions at once; then agg_bound. rng: a libsodium stream in production
 * (dp_rng_stream). */
void agg_bound_part(agg *a, int part, const dp_rng *rng);

/* After the first pass of every partition (and agg_bound_part of any, or
 * none: it bounds the others): true when a second pass is needed, that is
 * when a kept pair has more rows than max_rows, or when the first pass
 * could not sum the pairs; then scan every chunk again with the same
 * inputs. */
bool agg_bound(agg *a, dp_rng *rng);

/* One group of the answer. */
typedef struct agg_group {
	char **keys;          /* formatted: one per group column */
	int64_t rows;         /* rows counted */
	int64_t contributors; /* distinct subjects (personal), else rows */
	__int128 *sums;       /* per SUM/MEAN measure, in fixed point */
	int64_t *hist;        /* per HISTOGRAM measure, nbins - 1 counts each */
	double *dom_max;      /* per SUM/MEAN measure: the largest |contribution| */
	double *dom_total;    /* ... and the sum of every |contribution| */
} agg_group;

/* Merge the partitions into groups sorted by key. false when they exceed
 * group_limit. */
bool agg_finish(agg *a) __attribute__((warn_unused_result));
size_t agg_ngroups(const agg *a);
/* (subject, group) pairs met so far, and a hint that about n will be met in
 * all (the pair tables are sized once instead of doubling as they fill; each
 * partition resizes at its next agg_scan, on its own thread). */
size_t agg_pairs(const agg *a);
void agg_reserve_pairs(agg *a, size_t n);
/* After a failed scan or finish: true when memory, false when groups. */
bool agg_too_large(const agg *a);
const agg_group *agg_get(const agg *a, size_t i);

/* Per measure: the index of its sum (SUM, MEAN) or histogram (HISTOGRAM)
 * in agg_group, and the fixed-point scale of its column (value = sum /
 * scale). */
int agg_slot(const agg *a, size_t measure);
double agg_scale(const agg *a, size_t measure);
/* The largest |value| of a measure's column, in fixed point. */
uint64_t agg_bound_fixed(const agg *a, size_t measure);
/* Statistics for the answer's notes and the benchmark. */
typedef struct agg_stats {
	uint64_t rows_scanned, rows_matched, rows_dropped_by_caps;
	uint64_t pairs, subjects_capped;
	bool second_pass;
	size_t bytes; /* working memory at its largest */
} agg_stats;
void agg_stats_get(const agg *a, agg_stats *out);

#endif
