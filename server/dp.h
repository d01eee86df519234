/*
 * dp: differential-privacy noise for the query engine, drawn exactly in
 * integers. Counts and sums are integers (fixed-point for FLOAT64 measures)
 * and get discrete Laplace noise (the two-sided geometric distribution),
 * P(Z = k) proportional to exp(-|k| / b), with b = sensitivity / epsilon.
 *
 * Sampling never goes through floating point: b is a rational s/t and the
 * sampler is Canonne, Kamath and Steinke's (NeurIPS 2020, "The Discrete
 * Gaussian for Differential Privacy", Algorithms 1 and 2), built from
 * uniform integers and exact Bernoulli(exp(-n/d)) trials. The textbook
 * -b*log(u) on doubles leaks through its rounding (Mironov, CCS 2012) and is
 * not used anywhere.
 *
 * Randomness comes through dp_rng: in production libsodium's CSPRNG
 * (dp_rng_sodium), in tests a deterministic stream behind the same
 * interface (dp_rng_seeded), or no noise at all (dp_rng_zero) to compare
 * answers with PostgreSQL exactly. Pure: libsodium only.
 */
#ifndef FIDUCIA_DP_H
#define FIDUCIA_DP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct dp_rng {
	/* A uniform integer in [0, n), n >= 1. */
	uint64_t (*uniform)(struct dp_rng *r, uint64_t n);
	bool zero; /* tests only: every sample is 0 */
	/* the keystream's state (dp_rng_seeded, dp_rng_stream); buf and used also
	 * buffer dp_rng_sodium's randombytes */
	uint8_t key[32];
	uint64_t counter;
	uint8_t buf[512]; /* eight ChaCha20 blocks a call: libsodium's SIMD path */
	unsigned used;
} dp_rng;

/* libsodium's randombytes: what every released answer uses. */
void dp_rng_sodium(dp_rng *r);
/* libsodium's ChaCha20 keystream keyed by 32 bytes of randombytes: the
 * same construction as randombytes itself, without a system call per draw
 * (for the many draws of contribution sampling). */
void dp_rng_stream(dp_rng *r);
/* Tests: a reproducible stream (ChaCha20 keyed by the seed). */
void dp_rng_seeded(dp_rng *r, uint64_t seed);
/* Tests: no noise (samples are 0). */
void dp_rng_zero(dp_rng *r);

/* The keystream's draw (dp_rng_stream, dp_rng_seeded), for dp_uniform32. */
uint64_t dp_stream_uniform(dp_rng *r, uint64_t n);

/* r->uniform(r, n) for 1 <= n < 2^32, the same draw, with a keystream's
 * common case inline (32 buffered bits by Lemire's method; anything else,
 * a rejection included, goes to r->uniform, which draws afresh): for the
 * millions of draws of contribution sampling. */
static inline uint32_t dp_uniform32(dp_rng *r, uint32_t n)
{
	if (n <= 1)
		return 0;
	if (r->uniform != dp_stream_uniform || r->used + 4 > sizeof r->buf)
		return (uint32_t)r->uniform(r, n);
	uint32_t x;
	__builtin_memcpy(&x, r->buf + r->used, sizeof x);
	uint64_t m = (uint64_t)x * n;
	if ((uint32_t)m < n && (uint32_t)m < -n % n)
		return (uint32_t)r->uniform(r, n); /* x rejected: r->used not advanced, redrawn */
	r->used += 4;
	return (uint32_t)(m >> 32);
}

/* A discrete Laplace sample with scale b = s / t, where s and t come from
 * dp_scale (1 <= s, t < 2^48, so that no intermediate overflows; anything
 * else aborts rather than release a value without noise). */
int64_t dp_laplace(dp_rng *r, uint64_t s, uint64_t t);

/* The scale as a rational s / t for sensitivity / epsilon, with epsilon in
 * millionths (epsilon = eps_micro / 1e6): false when either is 0 or too
 * large to sample exactly. */
bool dp_scale(uint64_t sensitivity, uint64_t eps_micro, uint64_t *s, uint64_t *t);

/* The smallest k with P(|Z| > k) <= alpha for Z ~ discrete Laplace of scale
 * b = s / t: the half-width of a (1 - alpha) confidence interval around a
 * noisy value. For reporting only (floating point is fine here). */
uint64_t dp_laplace_halfwidth(uint64_t s, uint64_t t, double alpha);

/* P(Z = k) for the same distribution (for tests and reports). */
double dp_laplace_pmf(uint64_t s, uint64_t t, int64_t k);

#endif
