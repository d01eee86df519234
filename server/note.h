/*
 * note: C2SP signed-note (https://c2sp.org/signed-note) with Ed25519, and the
 * C2SP tlog-checkpoint body (https://c2sp.org/tlog-checkpoint) it carries.
 * The ledger signs its checkpoints with it and `fiducia ledger verify` checks
 * them with no trust in the server, so every parser here is strict and safe
 * on hostile input. Pure: libsodium only, no I/O, no other Fiducia module.
 */
#ifndef FIDUCIA_NOTE_H
#define FIDUCIA_NOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTE_MAX_LEN   (1024 * 1024) /* bytes: longer signed notes are rejected */
#define NOTE_MAX_SIGS  100           /* signature lines: more are rejected */
#define NOTE_NAME_MAX  255           /* bytes (no NUL) of a key name we sign, verify or parse */
#define NOTE_KEYID_LEN 4             /* bytes of a key id */
/* Buffer sizes, NUL included, that hold any verifier / signer key string. */
#define NOTE_VKEY_MAX (NOTE_NAME_MAX + 1 + 8 + 1 + 44 + 1)
#define NOTE_SKEY_MAX (12 + NOTE_VKEY_MAX)
/* checkpoint_format needs strlen(origin) + CHECKPOINT_OVERHEAD bytes at most. */
#define CHECKPOINT_OVERHEAD (1 + 20 + 1 + 44 + 1 + 1)

/*
 * Key names are what the spec allows (non-empty UTF-8, no Unicode space, no
 * '+'), with no ASCII control character, and at most NOTE_NAME_MAX bytes.
 * Signatures are Ed25519 (signature type 0x01). Base64 is RFC 4648 section 4
 * with padding; decoding is canonical (non-zero pad bits are rejected), so
 * that a signature line has exactly one spelling.
 *
 * Callers run sodium_init() once before any of these (fiduciad and the CLI do).
 *
 * Every function that takes `char *err, size_t errlen` writes a short reason
 * there on failure (err may be NULL). Reasons name what is wrong and where
 * (line, byte offset), never echo the input, and never contain key material.
 */

/*
 * Key id of the Ed25519 public key pk under `name`: the first 4 bytes of
 * SHA-256(name || 0x0A || 0x01 || pk), in that (big-endian) order.
 * False only when name is not a valid key name.
 */
bool note_keyid(const char *name, const uint8_t pk[32], uint8_t keyid[4])
        __attribute__((warn_unused_result));

/*
 * Verifier key string "<name>+<keyid, 8 lowercase hex digits>+<base64(0x01 ||
 * pk)>" into out (NUL-terminated; NOTE_VKEY_MAX bytes always suffice).
 * False when the name is invalid or out is too small.
 */
bool note_vkey_format(const char *name, const uint8_t pk[32], char *out, size_t outlen)
        __attribute__((warn_unused_result));

/*
 * Parse a verifier key string (as note_vkey_format writes it). Checks the
 * name, the algorithm byte (0x01 only), the key length, that the key is a
 * valid Ed25519 point, and that the key id matches the name and key.
 * On success fills name (NUL-terminated, namelen bytes including the NUL),
 * pk and keyid. Outputs are unspecified on failure.
 */
bool note_vkey_parse(const char *vkey, char *name, size_t namelen, uint8_t pk[32], uint8_t keyid[4],
                     char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Signer key string "PRIVATE+KEY+<name>+<keyid>+<base64(0x01 || seed)>" for
 * the libsodium secret key sk (seed || public key) into out, NUL-terminated
 * (NOTE_SKEY_MAX bytes always suffice). out then holds a secret: the caller
 * keeps it in sodium_malloc'd memory or wipes it with sodium_memzero.
 * False when the name is invalid, sk is inconsistent (its public half is not
 * the one its seed derives) or out is too small; out is wiped on failure.
 */
bool note_skey_format(const char *name, const uint8_t sk[64], char *out, size_t outlen)
        __attribute__((warn_unused_result));

/*
 * Parse a signer key string (as note_skey_format or Go's note.GenerateKey
 * write it) into name and the libsodium secret key sk (64 bytes: seed ||
 * public key; put it in sodium_malloc'd memory). The key id must match the
 * key derived from the seed. sk is wiped on failure. Errors never quote skey.
 */
bool note_skey_parse(const char *skey, char *name, size_t namelen, uint8_t sk[64], char *err,
                     size_t errlen) __attribute__((warn_unused_result));

/*
 * Sign the note text text/len (valid UTF-8, no control character but '\n',
 * non-empty, ending in '\n', small enough for the signed note to stay within
 * NOTE_MAX_LEN) with the libsodium secret key sk under `name`. sk must be
 * consistent (its public half derived from its seed), which is checked.
 * On success *out is the signed note, text || "\n" || "— <name> <base64(keyid
 * || signature)>\n", NUL-terminated, *outlen bytes without the NUL; malloc'd,
 * the caller frees it. On failure *out is NULL.
 */
bool note_sign(const char *text, size_t len, const char *name, const uint8_t sk[64], char **out,
               size_t *outlen, char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * Strictly parse the signed note signed_note/len (at most NOTE_MAX_LEN bytes,
 * at most NOTE_MAX_SIGS signature lines, every line well-formed) and succeed
 * only if at least one signature line carries `name` and the key id of (name,
 * pk), and every such line verifies over the note text. Lines from other keys
 * (another name, or the same name with another key id) are ignored, as the
 * spec requires. On success *text_len_out (when not NULL) is the length of the
 * note text, which is the prefix signed_note[0, *text_len_out), ending in '\n'.
 * signed_note need not be NUL-terminated.
 */
bool note_verify(const char *signed_note, size_t len, const char *name, const uint8_t pk[32],
                 size_t *text_len_out, char *err, size_t errlen)
        __attribute__((warn_unused_result));

/*
 * The tlog-checkpoint note text "<origin>\n<size>\n<base64(root)>\n" into out,
 * NUL-terminated (strlen(origin) + CHECKPOINT_OVERHEAD bytes suffice).
 * False when origin is empty, is not valid UTF-8, has a control character
 * (a newline included), or out is too small.
 */
bool checkpoint_format(const char *origin, uint64_t size, const uint8_t root[32], char *out,
                       size_t outlen) __attribute__((warn_unused_result));

/*
 * Strictly parse a tlog-checkpoint note text (for instance the text that
 * note_verify delimited): valid UTF-8 with no control character but '\n',
 * every line ending in '\n'; origin non-empty; size in decimal with no sign
 * and no leading zero (unless "0"), fitting in uint64_t; root the base64 of
 * exactly 32 bytes; then optional non-empty extension lines, which are
 * accepted and not returned. On success fills origin (NUL-terminated,
 * originlen bytes including the NUL), *size and root.
 */
bool checkpoint_parse(const char *text, size_t len, char *origin, size_t originlen, uint64_t *size,
                      uint8_t root[32], char *err, size_t errlen)
        __attribute__((warn_unused_result));

#endif
