/*
 * merkle: the Merkle tree math of RFC 6962 / RFC 9162 section 2.1 over SHA-256
 * (leaf prefix 0x00, node prefix 0x01): tree heads, inclusion and consistency
 * proofs produced from a source of stored subtree hashes, their verification
 * by the iterative algorithms of RFC 9162, and an append-only builder with
 * O(log n) state. Pure: no I/O, no allocation, no server dependency.
 */
#ifndef FIDUCIA_MERKLE_H
#define FIDUCIA_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN 32 /* bytes of every hash: SHA-256 */
#define MERKLE_PATH_MAX 64 /* hashes: the longest proof the producers write */

/*
 * Terms. A tree of size n holds the leaves [0, n). A "perfect" subtree is
 * the range [start, start + size) with size a power of two and start a
 * multiple of size: the nodes that never change once written, and the only
 * hashes a hash source is ever asked for. Every hash below is 32 bytes.
 * All functions are safe to call from any thread; libsodium's SHA-256 needs
 * no sodium_init(), but the binaries call it at start-up anyway.
 */

/* Leaf hash: SHA-256(0x00 || data). data may be NULL when len is 0. */
void merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_LEN]);

/* Interior node hash: SHA-256(0x01 || l || r). out may alias l or r. */
void merkle_node_hash(const uint8_t l[MERKLE_HASH_LEN], const uint8_t r[MERKLE_HASH_LEN],
                      uint8_t out[MERKLE_HASH_LEN]);

/* The tree head of the empty tree: SHA-256 of no bytes (RFC 9162 2.1.1). */
void merkle_empty_root(uint8_t out[MERKLE_HASH_LEN]);

/*
 * A hash source: writes into out the hash of the perfect subtree
 * [start, start + size) (for size 1, the leaf hash of entry `start`) and
 * returns true, or returns false when it cannot (missing row, database
 * error); the library then fails the whole call and writes no result. The
 * library only ever asks for perfect subtrees that lie inside the tree the
 * caller named, and for O(log n) of them per call.
 */
typedef bool (*merkle_subtree_fn)(void *ctx, uint64_t start, uint64_t size,
                                  uint8_t out[MERKLE_HASH_LEN]);

/*
 * MTH of the leaves [start, start + size), computed from the maximal perfect
 * subtrees of that range (one per set bit of size, combined right to left).
 * The range must be a node of some RFC 6962 tree: size > 0, no overflow, and
 * start a multiple of the largest power of two <= size (true of every subtree
 * that a proof of this library names); otherwise returns false.
 */
bool merkle_subtree_hash(uint64_t start, uint64_t size, merkle_subtree_fn src, void *ctx,
                         uint8_t out[MERKLE_HASH_LEN]) __attribute__((warn_unused_result));

/* MTH(D[0:n]), the tree head of size n; n == 0 gives merkle_empty_root without a read. */
bool merkle_root(uint64_t n, merkle_subtree_fn src, void *ctx, uint8_t out[MERKLE_HASH_LEN])
        __attribute__((warn_unused_result));

/*
 * The inclusion proof PATH(index, D[0:n]) of RFC 9162 2.1.3.1, from the leaf
 * level up. path must have room for MERKLE_PATH_MAX hashes; *path_len gets
 * the count (0 for a tree of one leaf). Returns false when index >= n or the
 * source fails; path and *path_len are then not meaningful.
 */
bool merkle_inclusion_proof(uint64_t index, uint64_t n, merkle_subtree_fn src, void *ctx,
                            uint8_t (*path)[MERKLE_HASH_LEN], size_t *path_len)
        __attribute__((warn_unused_result));

/*
 * The consistency proof PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true) of RFC
 * 9162 2.1.4.1, which the RFC defines for 0 < m < n. For m == n and for
 * m == 0 the proof is empty (there is nothing to prove; see
 * merkle_verify_consistency). path must have room for MERKLE_PATH_MAX hashes.
 * Returns false when m > n, when the source fails, or when the proof would
 * exceed MERKLE_PATH_MAX hashes (possible only for trees over 2^63 leaves).
 */
bool merkle_consistency_proof(uint64_t m, uint64_t n, merkle_subtree_fn src, void *ctx,
                              uint8_t (*path)[MERKLE_HASH_LEN], size_t *path_len)
        __attribute__((warn_unused_result));

/*
 * RFC 9162 2.1.3.2: true only if `leaf` (a leaf hash, not entry bytes) is
 * entry `index` of the tree of size n whose head is root, as proven by
 * path[0..path_len). False for index >= n, a path of the wrong length
 * (short, or with extra hashes), NULL arguments, or any mismatch. Reads at
 * most 65 path elements whatever path_len says; path may be NULL when
 * path_len is 0. The tree size itself is bound by the signed tree head, not
 * by the proof: callers verify against a checkpoint's (size, root) pair.
 */
bool merkle_verify_inclusion(uint64_t index, uint64_t n, const uint8_t leaf[MERKLE_HASH_LEN],
                             const uint8_t (*path)[MERKLE_HASH_LEN], size_t path_len,
                             const uint8_t root[MERKLE_HASH_LEN])
        __attribute__((warn_unused_result));

/*
 * RFC 9162 2.1.4.2: true only if the tree of size n with head root_n extends
 * the tree of size m with head root_m, as proven by path[0..path_len). For
 * 0 < m < n this is the RFC algorithm verbatim (an empty path fails, m a
 * power of two uses root_m as the first hash, extra or missing hashes fail).
 * Outside the RFC's range: m > n fails; m == n holds only with an empty path
 * and root_m == root_n; m == 0 holds only with an empty path and root_m equal
 * to the empty tree's head (MTH({}) = SHA-256("")), the empty tree being a
 * prefix of every tree (and for n == 0 root_n must equal it too).
 */
bool merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[MERKLE_HASH_LEN],
                               const uint8_t root_n[MERKLE_HASH_LEN],
                               const uint8_t (*path)[MERKLE_HASH_LEN], size_t path_len)
        __attribute__((warn_unused_result));

/*
 * Called by the builder, bottom-up, for every perfect subtree that a new
 * leaf completes: first the leaf itself (start = index, size 1), then each
 * subtree [start, index + 1) of size 2, 4, ... with start % size == 0.
 * `hash` is borrowed for the call. Returning false aborts the append, which
 * then leaves the builder unchanged.
 */
typedef bool (*merkle_complete_fn)(void *ctx, uint64_t start, uint64_t size,
                                   const uint8_t hash[MERKLE_HASH_LEN]);

/*
 * A compact range over [0, size): peaks[l] holds the hash of the perfect
 * subtree of size 2^l in the decomposition of [0, size), valid when bit l
 * of size is set. 2 KiB, no heap; treat the fields as private.
 */
typedef struct merkle_builder {
	uint64_t size;
	uint8_t peaks[64][MERKLE_HASH_LEN];
	merkle_complete_fn on_complete; /* may be NULL */
	void *ctx;
} merkle_builder;

/* An empty builder; on_complete (may be NULL) is called with ctx on every append. */
void merkle_builder_init(merkle_builder *b, merkle_complete_fn on_complete, void *ctx);

/*
 * Sets b to the tree of size n by reading the popcount(n) perfect subtrees
 * of [0, n) from src; keeps b's callback. On false (source failure) b is
 * unchanged.
 */
bool merkle_builder_restore(merkle_builder *b, uint64_t n, merkle_subtree_fn src, void *ctx)
        __attribute__((warn_unused_result));

/*
 * Appends one leaf hash (merkle_leaf_hash of the entry) as leaf number
 * merkle_builder_size(b), reporting completed subtrees to the callback.
 * Returns false, with b unchanged, when the callback refuses or the tree
 * already holds UINT64_MAX leaves.
 */
bool merkle_builder_append(merkle_builder *b, const uint8_t leaf[MERKLE_HASH_LEN])
        __attribute__((warn_unused_result));

/* The current tree head (merkle_empty_root for an empty builder). */
void merkle_builder_root(const merkle_builder *b, uint8_t out[MERKLE_HASH_LEN]);

/* The number of leaves appended (or restored) so far. */
uint64_t merkle_builder_size(const merkle_builder *b);

/* The hash of the perfect subtree of size 2^level in the decomposition of
 * [0, size), largest first when level goes down from 63; false when that
 * size is not part of it. */
bool merkle_builder_peak(const merkle_builder *b, int level, uint8_t out[MERKLE_HASH_LEN]);

#endif
