/*
 * disclose: disclosure control on aggregated groups; see disclose.h.
 */
#include "disclose.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *dc_calloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p)
		abort();
	return p;
}

static char *dc_strdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

/* A noisy statistic's scale s / t, with sensitivity sens in its integer
 * unit, under one share of epsilon. */
typedef struct noise {
	bool on;
	uint64_t s, t;
	uint64_t half; /* 95% half-width, in the integer unit */
} noise;

static bool noise_for(const disc_params *dp, uint64_t share_micro, uint64_t sens, noise *n,
                      char *err, size_t errlen, const char *what)
{
	memset(n, 0, sizeof *n);
	if (!dp->dp)
		return true;
	if (!dp_scale(sens, share_micro, &n->s, &n->t)) {
		snprintf(err, errlen,
		         "%s: epsilon %.6f per statistic is too small for a sensitivity of %llu",
		         what, (double)share_micro / 1e6, (unsigned long long)sens);
		return false;
	}
	n->on = true;
	n->half = dp_laplace_halfwidth(n->s, n->t, 0.05);
	return true;
}

static int64_t noisy(dp_rng *rng, const noise *n, int64_t v)
{
	if (!n->on)
		return v;
	int64_t z = dp_laplace(rng, n->s, n->t);
	return v + z;
}

static void set_value(disc_value *v, const char *label, double value, const noise *n, double unit)
{
	v->measure = dc_strdup(label);
	v->value = value;
	v->scale = n->on ? (double)n->s / (double)n->t / unit : 0;
	v->ci95 = n->on ? (double)n->half / unit : 0;
}

bool disc_run(const agg *a, const query_plan *p, const schema *s, const disc_params *dp,
              dp_rng *rng, disc_result *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	uint64_t C = dp->personal ? (dp->max_rows ? dp->max_rows : 1) : 1;
	uint64_t L0 = dp->personal ? (dp->max_groups ? dp->max_groups : 1) : 1;
	/* The shares of epsilon. */
	unsigned shares = 0;
	for (size_t i = 0; i < p->nmeasures; i++)
		shares += p->measures[i].fn == FIDUCIA__V1__QUERY__MEASURE__FN__MEAN ? 2 : 1;
	bool selection = dp->dp; /* also a total: k holds there too */
	if (selection)
		shares++;
	uint64_t share = dp->dp ? dp->eps_micro / (shares ? shares : 1) : 0;
	out->shares = shares;
	/* The whole epsilon is charged, the remainder of the integer split too: the budget
	 * check asks for exactly this much, and the ledger records exactly it. */
	out->eps_spent_micro = dp->dp ? dp->eps_micro : 0;

	/* Noise per measure: [0] the count or sum, [1] MEAN's count. */
	noise nz[QUERY_MAX_MEASURES][2];
	for (size_t i = 0; i < p->nmeasures; i++) {
		char what[96];
		snprintf(what, sizeof what, "$.measures[%zu]", i);
		query_fn fn = p->measures[i].fn;
		uint64_t sens = C * L0;
		if (fn == FIDUCIA__V1__QUERY__MEASURE__FN__COUNT_SUBJECTS)
			sens = L0;
		else if (fn == FIDUCIA__V1__QUERY__MEASURE__FN__SUM ||
		         fn == FIDUCIA__V1__QUERY__MEASURE__FN__MEAN)
			sens = C * L0 * (agg_bound_fixed(a, i) ? agg_bound_fixed(a, i) : 1);
		if (!noise_for(dp, share, sens, &nz[i][0], err, errlen, what))
			return false;
		if (fn == FIDUCIA__V1__QUERY__MEASURE__FN__MEAN &&
		    !noise_for(dp, share, C * L0, &nz[i][1], err, errlen, what))
			return false;
	}
	noise sel;
	if (!noise_for(dp, share, L0, &sel, err, errlen, "partition selection"))
		return false;
	int64_t threshold = dp->min_k;
	if (selection) {
		uint64_t h = dp_laplace_halfwidth(sel.s, sel.t, 2 * DISC_DELTA / (double)L0);
		if ((int64_t)h + 2 > threshold)
			threshold = (int64_t)h + 2;
	}

	size_t ng = agg_ngroups(a);
	out->rows = dc_calloc(ng, sizeof *out->rows);
	for (size_t g = 0; g < ng; g++) {
		const agg_group *G = agg_get(a, g);
		/* group keys */
		if (selection) {
			if (noisy(rng, &sel, G->contributors) < threshold) {
				out->suppressed_selection++;
				continue;
			}
		} else if (dp->min_k && G->contributors < (int64_t)dp->min_k) {
			out->suppressed_k++;
			continue;
		}
		/* dominance */
		bool dominated = false;
		for (size_t i = 0; i < p->nmeasures && dp->dominance > 0 && !dp->dp; i++) {
			int slot = agg_slot(a, i);
			query_fn fn = p->measures[i].fn;
			if (slot < 0 || (fn != FIDUCIA__V1__QUERY__MEASURE__FN__SUM &&
			                 fn != FIDUCIA__V1__QUERY__MEASURE__FN__MEAN))
				continue;
			if (G->dom_total[slot] > 0 &&
			    G->dom_max[slot] > dp->dominance * G->dom_total[slot])
				dominated = true;
		}
		if (dominated) {
			out->suppressed_dominance++;
			continue;
		}
		/* values */
		size_t nv = 0;
		for (size_t i = 0; i < p->nmeasures; i++)
			nv += p->measures[i].fn == FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM
			              ? p->measures[i].nbins - 1
			              : 1;
		disc_row *row = &out->rows[out->nrows++];
		row->group = g;
		row->values = dc_calloc(nv, sizeof *row->values);
		for (size_t i = 0; i < p->nmeasures; i++) {
			query_fn fn = p->measures[i].fn;
			int slot = agg_slot(a, i);
			double unit = agg_scale(a, i);
			const char *col =
			        p->measures[i].col >= 0 ? s->cols[p->measures[i].col].name : "";
			char label[160];
			disc_value *v = &row->values[row->nvalues];
			switch (fn) {
			case FIDUCIA__V1__QUERY__MEASURE__FN__COUNT: {
				int64_t c = noisy(rng, &nz[i][0], G->rows);
				set_value(v, "COUNT", (double)(c < 0 ? 0 : c), &nz[i][0], 1);
				row->nvalues++;
				break;
			}
			case FIDUCIA__V1__QUERY__MEASURE__FN__COUNT_SUBJECTS: {
				int64_t c = noisy(rng, &nz[i][0], G->contributors);
				set_value(v, "COUNT_SUBJECTS", (double)(c < 0 ? 0 : c), &nz[i][0],
				          1);
				row->nvalues++;
				break;
			}
			case FIDUCIA__V1__QUERY__MEASURE__FN__SUM: {
				__int128 x = G->sums[slot];
				if (nz[i][0].on)
					x += dp_laplace(rng, nz[i][0].s, nz[i][0].t);
				snprintf(label, sizeof label, "SUM(%s)", col);
				set_value(v, label, (double)x / unit, &nz[i][0], unit);
				row->nvalues++;
				break;
			}
			case FIDUCIA__V1__QUERY__MEASURE__FN__MEAN: {
				__int128 x = G->sums[slot];
				if (nz[i][0].on)
					x += dp_laplace(rng, nz[i][0].s, nz[i][0].t);
				int64_t c = noisy(rng, &nz[i][1], G->rows);
				double den = (double)(c < 1 ? 1 : c);
				snprintf(label, sizeof label, "MEAN(%s)", col);
				set_value(v, label, (double)x / unit / den, &nz[i][0], unit * den);
				row->nvalues++;
				break;
			}
			default: { /* HISTOGRAM */
				const double *e = p->measures[i].bins;
				size_t nb = p->measures[i].nbins, off = 0;
				for (size_t k = 0; k < i; k++)
					if (p->measures[k].fn ==
					    FIDUCIA__V1__QUERY__MEASURE__FN__HISTOGRAM)
						off += p->measures[k].nbins - 1;
				for (size_t b = 0; b + 1 < nb; b++) {
					int64_t c = noisy(rng, &nz[i][0], G->hist[off + b]);
					snprintf(label, sizeof label, "HISTOGRAM(%s)[%.17g,%.17g%c",
					         col, e[b], e[b + 1], b + 2 == nb ? ']' : ')');
					/* Without noise a bin is a group of its own:
					 * fewer than k rows in it are withheld. */
					bool small = !dp->dp && dp->min_k && c > 0 &&
					             c < (int64_t)dp->min_k;
					disc_value *hv = &row->values[row->nvalues++];
					set_value(hv, label, small ? 0 : (double)(c < 0 ? 0 : c),
					          &nz[i][0], 1);
					hv->suppressed = small;
				}
				break;
			}
			}
		}
	}
	return true;
}

void disc_result_free(disc_result *r)
{
	for (size_t i = 0; i < r->nrows; i++) {
		for (size_t k = 0; k < r->rows[i].nvalues; k++)
			free(r->rows[i].values[k].measure);
		free(r->rows[i].values);
	}
	free(r->rows);
	memset(r, 0, sizeof *r);
}
