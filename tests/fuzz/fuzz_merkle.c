/*
 * libFuzzer harness for server/merkle.c, whose verifiers read proofs from
 * the network. Input: a flags byte, two little-endian u64 (index or m, n),
 * two hashes and a path of 32-byte hashes. Raw inputs go to both verifiers
 * as they are; with flag 0x01 the input instead mutates genuine proofs of a
 * small tree, which must then verify if and only if nothing was changed.
 */
#include "../../server/merkle.c"

#include <stdlib.h>

#define FZ_HEADER   (1 + 8 + 8 + 2 * MERKLE_HASH_LEN)
#define FZ_PATH_MAX (MERKLE_PATH_MAX + 4)
#define FZ_TREE_MAX 100

enum {
	FZ_SELF_CHECK = 0x01, /* mutate genuine proofs instead of verifying raw ones */
	FZ_SMALL = 0x02,      /* raw: reduce index, m and n to 0..255 */
	FZ_OWN_LEN = 0x04,    /* self-check: the mutated path has the input's length */
	FZ_OTHER_POS = 0x08,  /* self-check: also claim another index / m */
};

typedef uint8_t fz_hash[MERKLE_HASH_LEN];

/* Every perfect subtree of the self-check tree, by level and position. */
static fz_hash fz_tab[7][FZ_TREE_MAX];
static uint64_t fz_n;

static bool fz_store(void *ctx, uint64_t start, uint64_t size, const uint8_t h[MERKLE_HASH_LEN])
{
	memcpy(fz_tab[__builtin_ctzll(size)][start / size], h, MERKLE_HASH_LEN);
	return true;
}

/* The library must ask for perfect subtrees inside the tree only. */
static bool fz_source(void *ctx, uint64_t start, uint64_t size, uint8_t out[MERKLE_HASH_LEN])
{
	if (size == 0 || (size & (size - 1)) != 0 || start % size != 0 || start >= fz_n ||
	    size > fz_n - start || size > 64)
		abort();
	memcpy(out, fz_tab[__builtin_ctzll(size)][start / size], MERKLE_HASH_LEN);
	return true;
}

static uint64_t fz_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Applies the input's path to a genuine one: XOR over it, or its own hashes past its end. */
static size_t fz_mutate(fz_hash *out, const fz_hash *genuine, size_t glen, const uint8_t *in,
                        size_t in_cnt, bool own_len, bool *changed)
{
	size_t len = own_len ? in_cnt : glen;

	*changed = len != glen;
	for (size_t i = 0; i < len; i++) {
		for (size_t b = 0; b < MERKLE_HASH_LEN; b++) {
			uint8_t x = i < in_cnt ? in[i * MERKLE_HASH_LEN + b] : 0;

			out[i][b] = i < glen ? (uint8_t)(genuine[i][b] ^ x) : x;
			if (i < glen && x)
				*changed = true;
		}
	}
	return len;
}

static void fz_self_check(uint8_t flags, uint64_t a, uint64_t nn, const uint8_t *h1,
                          const uint8_t *in, size_t in_cnt)
{
	fz_hash path[FZ_PATH_MAX], bad[FZ_PATH_MAX], leaf, root, root_m;
	merkle_builder b;
	size_t len, blen;
	uint64_t i, m, other = fz_u64(h1);
	bool changed;

	fz_n = nn % FZ_TREE_MAX + 1;
	merkle_builder_init(&b, fz_store, NULL);
	for (uint64_t k = 0; k < fz_n; k++) {
		uint8_t e[9] = {h1[31]};

		memcpy(e + 1, &k, 8);
		merkle_leaf_hash(e, sizeof e, leaf);
		if (!merkle_builder_append(&b, leaf))
			abort();
	}
	merkle_builder_root(&b, root);
	if (!merkle_root(fz_n, fz_source, NULL, root_m) || memcmp(root, root_m, MERKLE_HASH_LEN))
		abort();

	/* Inclusion of leaf i. */
	i = a % fz_n;
	if (!merkle_inclusion_proof(i, fz_n, fz_source, NULL, path, &len) ||
	    !merkle_verify_inclusion(i, fz_n, fz_tab[0][i], (const fz_hash *)path, len, root))
		abort();
	blen = fz_mutate(bad, (const fz_hash *)path, len, in, in_cnt, flags & FZ_OWN_LEN, &changed);
	if (merkle_verify_inclusion(i, fz_n, fz_tab[0][i], (const fz_hash *)bad, blen, root) !=
	    !changed)
		abort();
	if ((flags & FZ_OTHER_POS) && other % (fz_n + 2) != i &&
	    merkle_verify_inclusion(other % (fz_n + 2), fz_n, fz_tab[0][i], (const fz_hash *)path,
	                            len, root))
		abort();

	/* Consistency of the tree of m leaves with the whole. */
	m = a % (fz_n + 1);
	if (!merkle_root(m, fz_source, NULL, root_m) ||
	    !merkle_consistency_proof(m, fz_n, fz_source, NULL, path, &len) ||
	    !merkle_verify_consistency(m, fz_n, root_m, root, (const fz_hash *)path, len))
		abort();
	blen = fz_mutate(bad, (const fz_hash *)path, len, in, in_cnt, flags & FZ_OWN_LEN, &changed);
	if (merkle_verify_consistency(m, fz_n, root_m, root, (const fz_hash *)bad, blen) !=
	    !changed)
		abort();
	if ((flags & FZ_OTHER_POS) && other % (fz_n + 2) != m &&
	    merkle_verify_consistency(other % (fz_n + 2), fz_n, root_m, root, (const fz_hash *)path,
	                              len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[FZ_HEADER] = {0};
	const uint8_t *in = size > FZ_HEADER ? data + FZ_HEADER : NULL;
	size_t in_cnt = size > FZ_HEADER ? (size - FZ_HEADER) / MERKLE_HASH_LEN : 0;
	const uint8_t *h1 = hdr + 17, *h2 = hdr + 17 + MERKLE_HASH_LEN;
	uint64_t a, n;
	bool r;

	memcpy(hdr, data, size < FZ_HEADER ? size : FZ_HEADER);
	a = fz_u64(hdr + 1);
	n = fz_u64(hdr + 9);
	if (hdr[0] & FZ_SELF_CHECK) {
		if (in_cnt > FZ_PATH_MAX)
			in_cnt = FZ_PATH_MAX;
		fz_self_check(hdr[0], a, n, h1, in, in_cnt);
		return 0;
	}
	if (hdr[0] & FZ_SMALL) {
		a &= 0xff;
		n &= 0xff;
	}
	/* The path is read in place, unaligned bytes being fine for uint8_t[32]. */
	r = merkle_verify_inclusion(a, n, h1, (const fz_hash *)in, in_cnt, h2);
	r |= merkle_verify_consistency(a, n, h1, h2, (const fz_hash *)in, in_cnt);
	(void)r;
	return 0;
}
