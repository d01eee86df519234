/*
 * merkle: RFC 6962 / RFC 9162 Merkle tree math (see merkle.h). Producers walk
 * the tree top-down as the RFC's recursive PATH and SUBPROOF do, but iterate
 * instead of recursing and read only perfect subtrees from the hash source;
 * verifiers are the RFC's iterative algorithms step by step.
 */
#include "merkle.h"

#include <string.h>

#include <sodium.h>

static const uint8_t leaf_prefix = 0x00, node_prefix = 0x01;

void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_LEN])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &leaf_prefix, 1);
	if (len)
		crypto_hash_sha256_update(&st, data, len);
	crypto_hash_sha256_final(&st, out);
}

void merkle_node_hash(const uint8_t l[MERKLE_HASH_LEN], const uint8_t r[MERKLE_HASH_LEN],
                      uint8_t out[MERKLE_HASH_LEN])
{
	crypto_hash_sha256_state st;

	/* Both inputs are consumed before out is written, so out may alias them. */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &node_prefix, 1);
	crypto_hash_sha256_update(&st, l, MERKLE_HASH_LEN);
	crypto_hash_sha256_update(&st, r, MERKLE_HASH_LEN);
	crypto_hash_sha256_final(&st, out);
}

void merkle_empty_root(uint8_t out[MERKLE_HASH_LEN])
{
	crypto_hash_sha256(out, NULL, 0);
}

/* The largest power of two <= x, for x > 0. */
static uint64_t top_bit(uint64_t x)
{
	return UINT64_C(1) << (63 - __builtin_clzll(x));
}

/* RFC 9162's k for n > 1: the largest power of two smaller than n. */
static uint64_t split_point(uint64_t n)
{
	return top_bit(n - 1);
}

static bool hash_eq(const uint8_t a[MERKLE_HASH_LEN], const uint8_t b[MERKLE_HASH_LEN])
{
	return memcmp(a, b, MERKLE_HASH_LEN) == 0; /* tree hashes are public */
}

bool merkle_subtree_hash(uint64_t start, uint64_t size, merkle_subtree_fn src, void *ctx,
                         uint8_t out[MERKLE_HASH_LEN])
{
	uint8_t acc[MERKLE_HASH_LEN], h[MERKLE_HASH_LEN];
	uint64_t end, rest = size;
	bool have = false;

	if (!src || !out || size == 0 || size > UINT64_MAX - start || start % top_bit(size) != 0)
		return false;
	/*
	 * MTH splits at the largest power of two below the size, so the range is
	 * its perfect subtrees of sizes given by the set bits of size, largest
	 * first, and its hash folds them from the right: the smallest, rightmost
	 * one first. Each starts at `start` plus larger powers of two, so each is
	 * aligned on its own size given the alignment of start.
	 */
	end = start + size;
	while (rest) {
		uint64_t s = rest & (~rest + 1);

		end -= s;
		rest -= s;
		if (!src(ctx, end, s, have ? h : acc))
			return false;
		if (have)
			merkle_node_hash(h, acc, acc);
		have = true;
	}
	memcpy(out, acc, MERKLE_HASH_LEN);
	return true;
}

bool merkle_root(uint64_t n, merkle_subtree_fn src, void *ctx, uint8_t out[MERKLE_HASH_LEN])
{
	if (!out)
		return false;
	if (n == 0) {
		merkle_empty_root(out);
		return true;
	}
	return merkle_subtree_hash(0, n, src, ctx, out);
}

/* Writes the cnt hashes of sib into path in reverse order (top-down walk, bottom-up proof). */
static void write_reversed(uint8_t (*path)[MERKLE_HASH_LEN], const uint8_t (*sib)[MERKLE_HASH_LEN],
                           size_t cnt)
{
	for (size_t i = 0; i < cnt; i++)
		memcpy(path[i], sib[cnt - 1 - i], MERKLE_HASH_LEN);
}

bool merkle_inclusion_proof(uint64_t index, uint64_t n, merkle_subtree_fn src, void *ctx,
                            uint8_t (*path)[MERKLE_HASH_LEN], size_t *path_len)
{
	/* Each step at least halves the subtree, so a tree of < 2^64 leaves has depth <= 64. */
	uint8_t sib[MERKLE_PATH_MAX][MERKLE_HASH_LEN];
	uint64_t lo = 0, size = n;
	size_t cnt = 0;

	if (!src || !path || !path_len || index >= n)
		return false;
	*path_len = 0;
	/* PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) or PATH(m - k, D[k:n]) : MTH(D[0:k]). */
	while (size > 1) {
		uint64_t k = split_point(size);
		bool ok;

		if (index - lo < k) {
			ok = merkle_subtree_hash(lo + k, size - k, src, ctx, sib[cnt]);
			size = k;
		} else {
			ok = merkle_subtree_hash(lo, k, src, ctx, sib[cnt]);
			lo += k;
			size -= k;
		}
		if (!ok)
			return false;
		cnt++;
	}
	write_reversed(path, (const uint8_t(*)[MERKLE_HASH_LEN])sib, cnt);
	*path_len = cnt;
	return true;
}

bool merkle_consistency_proof(uint64_t m, uint64_t n, merkle_subtree_fn src, void *ctx,
                              uint8_t (*path)[MERKLE_HASH_LEN], size_t *path_len)
{
	/* At most 64 steps down (as for inclusion) plus the final subtree hash. */
	uint8_t sib[MERKLE_PATH_MAX + 1][MERKLE_HASH_LEN];
	uint64_t lo = 0, size = n, rem = m;
	bool whole = true; /* SUBPROOF's b: still on the left edge, where the old root is known */
	size_t cnt = 0;

	if (!src || !path || !path_len || m > n)
		return false;
	*path_len = 0;
	if (m == 0 || m == n)
		return true;
	/*
	 * SUBPROOF(m, D[n], b) with m < n: for m <= k, SUBPROOF(m, D[0:k], b) :
	 * MTH(D[k:n]); otherwise SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]).
	 * It ends at the subtree whose size equals what is left of m (rem >= 1
	 * throughout, so it ends by size 1 at the latest).
	 */
	while (rem != size) {
		uint64_t k = split_point(size);
		bool ok;

		if (rem <= k) {
			ok = merkle_subtree_hash(lo + k, size - k, src, ctx, sib[cnt]);
			size = k;
		} else {
			ok = merkle_subtree_hash(lo, k, src, ctx, sib[cnt]);
			lo += k;
			size -= k;
			rem -= k;
			whole = false;
		}
		if (!ok)
			return false;
		cnt++;
	}
	/* SUBPROOF(m, D[m], false) = {MTH(D[m])}; with b true the verifier has it already. */
	if (!whole) {
		if (!merkle_subtree_hash(lo, size, src, ctx, sib[cnt]))
			return false;
		cnt++;
	}
	if (cnt > MERKLE_PATH_MAX)
		return false;
	write_reversed(path, (const uint8_t(*)[MERKLE_HASH_LEN])sib, cnt);
	*path_len = cnt;
	return true;
}

/* Step b.2 of both RFC 9162 verifiers: shift until LSB(fn) is set or fn is 0. */
static void shift_to_set_bit(uint64_t *fn, uint64_t *sn)
{
	while ((*fn & 1) == 0 && *fn != 0) {
		*fn >>= 1;
		*sn >>= 1;
	}
}

bool merkle_verify_inclusion(uint64_t index, uint64_t n, const uint8_t leaf[MERKLE_HASH_LEN],
                             const uint8_t (*path)[MERKLE_HASH_LEN], size_t path_len,
                             const uint8_t root[MERKLE_HASH_LEN])
{
	uint8_t r[MERKLE_HASH_LEN];
	uint64_t fn, sn;

	if (!leaf || !root || (path_len && !path))
		return false;
	/* 1. leaf_index >= tree_size fails. */
	if (index >= n)
		return false;
	/* 2., 3. */
	fn = index;
	sn = n - 1;
	memcpy(r, leaf, MERKLE_HASH_LEN);
	/* 4. sn loses a bit per element, so this reads at most 64 of them. */
	for (size_t i = 0; i < path_len; i++) {
		if (sn == 0)
			return false; /* a. more hashes than levels */
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(path[i], r, r);
			if ((fn & 1) == 0)
				shift_to_set_bit(&fn, &sn);
		} else {
			merkle_node_hash(r, path[i], r);
		}
		fn >>= 1; /* c. */
		sn >>= 1;
	}
	/* 5. */
	return sn == 0 && hash_eq(r, root);
}

bool merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[MERKLE_HASH_LEN],
                               const uint8_t root_n[MERKLE_HASH_LEN],
                               const uint8_t (*path)[MERKLE_HASH_LEN], size_t path_len)
{
	uint8_t fr[MERKLE_HASH_LEN], sr[MERKLE_HASH_LEN];
	uint64_t fn, sn;
	size_t i = 0;

	if (!root_m || !root_n || (path_len && !path) || m > n)
		return false;
	if (m == 0) {
		uint8_t empty[MERKLE_HASH_LEN];

		merkle_empty_root(empty);
		return path_len == 0 && hash_eq(root_m, empty) && (n > 0 || hash_eq(root_n, empty));
	}
	if (m == n)
		return path_len == 0 && hash_eq(root_m, root_n);
	/* 1. An empty path fails. */
	if (path_len == 0)
		return false;
	/* 2., 5. For m a power of two the path starts, implicitly, with root_m. */
	if ((m & (m - 1)) == 0) {
		memcpy(fr, root_m, MERKLE_HASH_LEN);
	} else {
		memcpy(fr, path[0], MERKLE_HASH_LEN);
		i = 1;
	}
	memcpy(sr, fr, MERKLE_HASH_LEN);
	/* 3. */
	fn = m - 1;
	sn = n - 1;
	/* 4. */
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	/* 6. As for inclusion, at most 64 iterations before sn reaches 0. */
	for (; i < path_len; i++) {
		if (sn == 0)
			return false; /* a. */
		if ((fn & 1) || fn == sn) {
			merkle_node_hash(path[i], fr, fr);
			merkle_node_hash(path[i], sr, sr);
			if ((fn & 1) == 0)
				shift_to_set_bit(&fn, &sn);
		} else {
			merkle_node_hash(sr, path[i], sr);
		}
		fn >>= 1; /* c. */
		sn >>= 1;
	}
	/* 7. */
	return sn == 0 && hash_eq(fr, root_m) && hash_eq(sr, root_n);
}

void merkle_builder_init(merkle_builder *b, merkle_complete_fn on_complete, void *ctx)
{
	memset(b, 0, sizeof *b);
	b->on_complete = on_complete;
	b->ctx = ctx;
}

bool merkle_builder_restore(merkle_builder *b, uint64_t n, merkle_subtree_fn src, void *ctx)
{
	uint8_t peaks[64][MERKLE_HASH_LEN];
	uint64_t start = 0;

	if (!src)
		return false;
	/* The perfect subtrees of [0, n), left to right: one per set bit, largest first. */
	for (int l = 63; l >= 0; l--) {
		uint64_t s = UINT64_C(1) << l;

		if ((n & s) == 0)
			continue;
		if (!src(ctx, start, s, peaks[l]))
			return false;
		start += s;
	}
	for (int l = 0; l < 64; l++) {
		if (n & (UINT64_C(1) << l))
			memcpy(b->peaks[l], peaks[l], MERKLE_HASH_LEN);
	}
	b->size = n;
	return true;
}

bool merkle_builder_append(merkle_builder *b, const uint8_t leaf[MERKLE_HASH_LEN])
{
	uint8_t h[MERKLE_HASH_LEN];
	uint64_t index = b->size;
	int l = 0;

	if (index == UINT64_MAX)
		return false;
	memcpy(h, leaf, MERKLE_HASH_LEN);
	if (b->on_complete && !b->on_complete(b->ctx, index, 1, h))
		return false;
	/*
	 * Leaf `index` closes one perfect subtree per trailing one bit of index:
	 * merge the peaks of those sizes into it. index < UINT64_MAX has a zero
	 * bit, so l stays <= 63. Nothing of b changes until every report is taken.
	 */
	while ((index >> l) & 1) {
		uint64_t s;

		merkle_node_hash(b->peaks[l], h, h);
		l++;
		s = UINT64_C(1) << l;
		if (b->on_complete && !b->on_complete(b->ctx, index + 1 - s, s, h))
			return false;
	}
	memcpy(b->peaks[l], h, MERKLE_HASH_LEN);
	b->size = index + 1;
	return true;
}

void merkle_builder_root(const merkle_builder *b, uint8_t out[MERKLE_HASH_LEN])
{
	uint8_t acc[MERKLE_HASH_LEN];
	bool have = false;

	if (b->size == 0) {
		merkle_empty_root(out);
		return;
	}
	/* The smallest peak is the rightmost subtree: fold from there, as MTH does. */
	for (int l = 0; l < 64; l++) {
		if ((b->size & (UINT64_C(1) << l)) == 0)
			continue;
		if (have) {
			merkle_node_hash(b->peaks[l], acc, acc);
		} else {
			memcpy(acc, b->peaks[l], MERKLE_HASH_LEN);
			have = true;
		}
	}
	memcpy(out, acc, MERKLE_HASH_LEN);
}

uint64_t merkle_builder_size(const merkle_builder *b)
{
	return b->size;
}

bool merkle_builder_peak(const merkle_builder *b, int level, uint8_t out[MERKLE_HASH_LEN])
{
	if (level < 0 || level > 63 || !(b->size >> level & 1))
		return false;
	memcpy(out, b->peaks[level], MERKLE_HASH_LEN);
	return true;
}
