/*
 * disclose: disclosure control on a query's aggregated groups (aggregate.h),
 * deciding what may be released and with how much noise. In this order:
 *
 *  - Group keys. Under differential privacy, a group (its keys come from
 *    the data; a total too, so that k holds) is released only when a noisy count of its
 *    contributors (distinct subjects; rows for a non-personal dataset)
 *    reaches a threshold T = max(k, 2 + h), where h is the smallest value
 *    the noise exceeds with probability at most delta / L0 (L0: the groups
 *    one subject may reach): a group of one contributor appears with
 *    probability at most delta / L0 (partition selection; delta is
 *    DISC_DELTA). Without DP, a group of fewer than k contributors is
 *    suppressed.
 *  - Dominance, without DP: a group where one contributor holds more than
 *    the threshold (85% by default) of the sum of |contributions| of a SUM
 *    or MEAN measure is suppressed. Under DP the rule is not applied: it
 *    would decide on exact values, and the noise already bounds what one
 *    contributor can change. Without DP, a histogram bin of fewer than k
 *    rows is withheld (value 0, suppressed).
 *  - Noise: each released value gets discrete Laplace noise of scale
 *    sensitivity / epsilon_share, drawn exactly (dp.h). The query's epsilon
 *    is split evenly over its noisy statistics: one share each for COUNT,
 *    COUNT_SUBJECTS, SUM and HISTOGRAM (its bins are disjoint), two for MEAN
 *    (a noisy sum over a noisy count), one for partition selection. Sensitivities, for one subject
 * added or removed: rows C*L0, subjects L0, a sum C*L0*max|bound|, a histogram C*L0, with C the
 * rows per subject and group and L0 the groups per subject (both 1 for a non-personal dataset,
 * where a row is the unit protected).
 *
 * Pure: aggregate and dp only.
 */
#ifndef FIDUCIA_DISCLOSE_H
#define FIDUCIA_DISCLOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "dp.h"
#include "query.h"

#define DISC_DELTA             1e-8
#define DISC_DOMINANCE_DEFAULT 0.85

typedef struct disc_params {
	bool dp;
	uint64_t eps_micro; /* the query's epsilon, in millionths (dp) */
	uint32_t min_k;     /* 0: no minimum */
	double dominance;   /* share above which a group is suppressed; 0: off */
	bool personal;
	uint32_t max_rows, max_groups; /* C and L0 (personal) */
} disc_params;

typedef struct disc_value {
	char *measure; /* "COUNT", "SUM(delay_s)", "HISTOGRAM(speed_kmh)[0,10)" */
	double value;
	double scale; /* in the value's unit; 0: exact */
	double ci95;
	bool suppressed; /* a histogram bin under k (without DP): value 0 */
} disc_value;

typedef struct disc_row {
	size_t group; /* agg_get() index */
	disc_value *values;
	size_t nvalues;
} disc_row;

typedef struct disc_result {
	disc_row *rows;
	size_t nrows;
	uint64_t suppressed_k, suppressed_selection, suppressed_dominance;
	uint64_t eps_spent_micro; /* what the noise used (<= eps_micro) */
	unsigned shares;
} disc_result;

/* Decide and add noise. false with err when the noise cannot be drawn
 * exactly (epsilon too small for the sensitivity). */
bool disc_run(const agg *a, const query_plan *p, const schema *s, const disc_params *dp,
              dp_rng *rng, disc_result *out, char *err, size_t errlen)
        __attribute__((warn_unused_result));
void disc_result_free(disc_result *r);

#endif
