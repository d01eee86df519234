/*
 * dp: exact discrete Laplace noise; see dp.h.
 */
#include "dp.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define DP_MAX ((uint64_t)1 << 48) /* s, t bound: d * K below 2^64 */
#define K_MAX  65536               /* P(K reaching it) = 1/65536!: never */

/* A uniform integer in [0, n) from 64 random bits x, exactly: the high word
 * of x * n, rejecting the x whose low word falls under 2^64 mod n (Lemire,
 * "Fast random integer generation in an interval", 2019): a division only
 * when the low word is under n, which is rare for small n. */
static uint64_t from_bits(dp_rng *r, uint64_t n, void (*bits)(dp_rng *, uint64_t *))
{
	if (n <= 1)
		return 0;
	uint64_t x;
	bits(r, &x);
	unsigned __int128 m = (unsigned __int128)x * n;
	if ((uint64_t)m < n) {
		uint64_t t = -n % n; /* 2^64 mod n */
		while ((uint64_t)m < t) {
			bits(r, &x);
			m = (unsigned __int128)x * n;
		}
	}
	return (uint64_t)(m >> 64);
}

/* randombytes, a buffer at a time: a released answer draws thousands of
 * values, and each randombytes_buf is a getrandom system call. */
static void sodium_bits(dp_rng *r, uint64_t *x)
{
	if (r->used + sizeof *x > sizeof r->buf) {
		randombytes_buf(r->buf, sizeof r->buf);
		r->used = 0;
	}
	memcpy(x, r->buf + r->used, sizeof *x);
	r->used += sizeof *x;
}

static uint64_t sodium_uniform(dp_rng *r, uint64_t n)
{
	return from_bits(r, n, sodium_bits);
}

static void seeded_bits(dp_rng *r, uint64_t *x)
{
	if (r->used + sizeof *x > sizeof r->buf) {
		uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
		memcpy(nonce, &r->counter, sizeof r->counter);
		r->counter++;
		crypto_stream_chacha20(r->buf, sizeof r->buf, nonce, r->key);
		r->used = 0;
	}
	memcpy(x, r->buf + r->used, sizeof *x);
	r->used += sizeof *x;
}

static uint32_t seeded_bits32(dp_rng *r)
{
	if (r->used + 4 > sizeof r->buf) {
		uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
		memcpy(nonce, &r->counter, sizeof r->counter);
		r->counter++;
		crypto_stream_chacha20(r->buf, sizeof r->buf, nonce, r->key);
		r->used = 0;
	}
	uint32_t x;
	memcpy(&x, r->buf + r->used, sizeof x);
	r->used += sizeof x;
	return x;
}

/* Below 2^32 (every contribution-cap draw), Lemire's method on 32 random
 * bits: half the keystream. */
uint64_t dp_stream_uniform(dp_rng *r, uint64_t n)
{
	if (n <= 1)
		return 0;
	if (n > UINT32_MAX)
		return from_bits(r, n, seeded_bits);
	uint32_t n32 = (uint32_t)n;
	uint64_t m = (uint64_t)seeded_bits32(r) * n32;
	if ((uint32_t)m < n32) {
		uint32_t t = -n32 % n32; /* 2^32 mod n */
		while ((uint32_t)m < t)
			m = (uint64_t)seeded_bits32(r) * n32;
	}
	return m >> 32;
}

void dp_rng_sodium(dp_rng *r)
{
	memset(r, 0, sizeof *r);
	r->uniform = sodium_uniform;
	r->used = sizeof r->buf; /* filled at the first draw */
}

void dp_rng_seeded(dp_rng *r, uint64_t seed)
{
	memset(r, 0, sizeof *r);
	r->uniform = dp_stream_uniform;
	crypto_generichash(r->key, sizeof r->key, (const uint8_t *)&seed, sizeof seed, NULL, 0);
	r->used = sizeof r->buf; /* refill at the first draw */
}

void dp_rng_stream(dp_rng *r)
{
	memset(r, 0, sizeof *r);
	r->uniform = dp_stream_uniform;
	randombytes_buf(r->key, sizeof r->key);
	r->used = sizeof r->buf; /* refill at the first draw */
}

void dp_rng_zero(dp_rng *r)
{
	dp_rng_sodium(r);
	r->zero = true;
}

/* Bernoulli(n / d), 0 <= n <= d, d >= 1: exact. */
static bool bernoulli(dp_rng *r, uint64_t n, uint64_t d)
{
	return r->uniform(r, d) < n;
}

/* Bernoulli(exp(-n / d)) for 0 <= n <= d (CKS20, Algorithm 1): the parity
 * of the first K at which Bernoulli(n / (d K)) fails. */
static bool bernoulli_exp_le1(dp_rng *r, uint64_t n, uint64_t d)
{
	uint64_t k = 1;
	while (k < K_MAX && bernoulli(r, n, d * k))
		k++;
	return k & 1;
}

/* Bernoulli(exp(-n / d)) for any n >= 0. */
static bool bernoulli_exp(dp_rng *r, uint64_t n, uint64_t d)
{
	for (uint64_t i = 0; i < n / d; i++)
		if (!bernoulli_exp_le1(r, 1, 1))
			return false;
	return bernoulli_exp_le1(r, n % d, d);
}

int64_t dp_laplace(dp_rng *r, uint64_t s, uint64_t t)
{
	if (r->zero)
		return 0;
	if (s == 0 || t == 0 || s >= DP_MAX || t >= DP_MAX)
		abort(); /* callers get s and t from dp_scale: never release an unnoised value */
	/* CKS20, Algorithm 2, sampling Lap_Z(num / den) with num = s, den = t:
	 * X = U + num V is geometric with parameter 1 - exp(-1/num), and
	 * Y = floor(X / den) geometric with parameter 1 - exp(-den/num). */
	const uint64_t num = s, den = t;
	for (;;) {
		uint64_t u = r->uniform(r, num);
		if (!bernoulli_exp(r, u, num))
			continue;
		uint64_t v = 0;
		while (bernoulli_exp_le1(r, 1, 1))
			v++;
		uint64_t x = u + num * v; /* v stays tiny: no overflow for num < 2^48 */
		uint64_t y = x / den;
		bool b = bernoulli(r, 1, 2);
		if (b && y == 0)
			continue;
		return b ? -(int64_t)y : (int64_t)y;
	}
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t c = a % b;
		a = b;
		b = c;
	}
	return a;
}

bool dp_scale(uint64_t sensitivity, uint64_t eps_micro, uint64_t *s, uint64_t *t)
{
	if (sensitivity == 0 || eps_micro == 0 || sensitivity >= DP_MAX / 1000000)
		return false;
	uint64_t a = sensitivity * 1000000, b = eps_micro, g = gcd(a, b);
	*s = a / g;
	*t = b / g;
	return *s < DP_MAX && *t < DP_MAX;
}

double dp_laplace_pmf(uint64_t s, uint64_t t, int64_t k)
{
	double p = exp(-(double)t / (double)s);
	return (1 - p) / (1 + p) * pow(p, (double)llabs(k));
}

uint64_t dp_laplace_halfwidth(uint64_t s, uint64_t t, double alpha)
{
	double p = exp(-(double)t / (double)s);
	/* P(|Z| > k) = 2 p^(k+1) / (1 + p) */
	double k = ceil(log(alpha * (1 + p) / 2) / log(p)) - 1;
	uint64_t w = k > 0 ? (uint64_t)k : 0;
	while (w > 0 && 2 * pow(p, (double)w) / (1 + p) <= alpha)
		w--; /* the smallest, whatever the rounding */
	while (2 * pow(p, (double)(w + 1)) / (1 + p) > alpha)
		w++;
	return w;
}
