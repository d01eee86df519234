/*
 * note: C2SP signed-note with Ed25519 and the tlog-checkpoint body. It follows
 * golang.org/x/mod/sumdb/note (the reference implementation) and is stricter
 * where that is safe: canonical base64, bounded sizes, and every signature
 * line by the verifying key must verify. Base64 and UTF-8 checks are our own
 * so that the CLI verifier depends on nothing but libsodium.
 */
#include "note.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define NOTE_ALG_ED25519    0x01
#define NOTE_SIG_PREFIX     "\xe2\x80\x94 " /* U+2014 EM DASH, then a space */
#define NOTE_SIG_PREFIX_LEN 4
#define NOTE_SIG_BLOB_LEN   (NOTE_KEYID_LEN + 64) /* key id || Ed25519 signature */
#define NOTE_SIG_B64_LEN    92                    /* base64 of the above */
#define NOTE_KEY_B64_LEN    44                    /* base64 of 0x01 || 32-byte key */
#define NOTE_SKEY_PREFIX    "PRIVATE+KEY+"

static void note_err(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void note_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* --- base64, RFC 4648 section 4, with padding ----------------------------- */

/* Encoded length of n bytes, without the NUL. */
static size_t b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* Writes b64_encoded_len(n) characters and a NUL to out. */
static void b64_encode(const uint8_t *in, size_t n, char *out)
{
	sodium_bin2base64(out, b64_encoded_len(n) + 1, in, n, sodium_base64_VARIANT_ORIGINAL);
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Canonical decoding of in/inlen: groups of 4 characters of the standard
 * alphabet, '=' only as the final one or two, pad bits zero. Writes the first
 * outcap decoded bytes to out (which may be NULL when outcap is 0) and the
 * whole decoded length to *n, so that a caller can bound what it stores.
 */
static bool b64_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, size_t *n)
{
	size_t i, o = 0;

	*n = 0;
	if (inlen % 4 != 0)
		return false;
	for (i = 0; i < inlen; i += 4) {
		bool last = i + 4 == inlen;
		int v[4], pad = 0;
		uint32_t w;

		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)in[i + j];

			if (c == '=' && last && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad)
				return false; /* data after padding */
			v[j] = b64_value(c);
			if (v[j] < 0)
				return false;
		}
		if ((pad == 1 && (v[2] & 0x03)) || (pad == 2 && (v[1] & 0x0f)))
			return false; /* non-zero pad bits: not the canonical spelling */
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		    (uint32_t)v[3];
		for (int k = 0; k < 3 - pad; k++, o++)
			if (o < outcap)
				out[o] = (uint8_t)(w >> (16 - 8 * k));
	}
	*n = o;
	return true;
}

/* --- UTF-8 and names ---------------------------------------------------- */

/*
 * The code point of the UTF-8 sequence at s[0, len) (len > 0), with its length
 * in *adv; -1 when the sequence is invalid (overlong, surrogate, above
 * U+10FFFF, truncated, stray continuation byte).
 */
static int32_t utf8_decode(const uint8_t *s, size_t len, size_t *adv)
{
	uint8_t b = s[0], lo = 0x80, hi = 0xbf;
	uint32_t cp;
	size_t n;

	*adv = 1;
	if (b < 0x80)
		return b;
	if (b >= 0xc2 && b <= 0xdf) {
		n = 2;
		cp = b & 0x1f;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 3;
		cp = b & 0x0f;
		if (b == 0xe0)
			lo = 0xa0; /* overlong */
		if (b == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4;
		cp = b & 0x07;
		if (b == 0xf0)
			lo = 0x90; /* overlong */
		if (b == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return -1;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return -1;
	cp = cp << 6 | (s[1] & 0x3f);
	for (size_t i = 2; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	*adv = n;
	return (int32_t)cp;
}

/* s/len is valid UTF-8 with no control character but '\n'; `what` names it in err. */
static bool text_chars_ok(const char *s, size_t len, const char *what, char *err, size_t errlen)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, adv;

	while (i < len) {
		if (p[i] < 0x80) {
			if (p[i] == '\r') {
				note_err(err, errlen, "%s has a carriage return at byte %zu", what,
				         i);
				return false;
			}
			if (p[i] < 0x20 && p[i] != '\n') {
				note_err(err, errlen, "%s has a control character at byte %zu",
				         what, i);
				return false;
			}
			i++;
			continue;
		}
		if (utf8_decode(p + i, len - i, &adv) < 0) {
			note_err(err, errlen, "%s is not valid UTF-8 at byte %zu", what, i);
			return false;
		}
		i += adv;
	}
	return true;
}

/* Unicode White_Space, as Go's unicode.IsSpace (the reference's name check). */
static bool is_unicode_space(int32_t c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000;
}

/* A key name: non-empty UTF-8 with no space, '+' or control character. */
static bool name_ok(const char *name, size_t len)
{
	const uint8_t *p = (const uint8_t *)name;
	size_t i = 0, adv;

	if (len == 0)
		return false;
	while (i < len) {
		int32_t c = utf8_decode(p + i, len - i, &adv);

		if (c < 0x20 || c == '+' || is_unicode_space(c))
			return false;
		i += adv;
	}
	return true;
}

/* A name of ours (a C string): valid and at most NOTE_NAME_MAX bytes; its length in *len. */
static bool own_name_ok(const char *name, size_t *len)
{
	size_t n = 0;

	if (!name)
		return false;
	while (n <= NOTE_NAME_MAX && name[n])
		n++;
	if (n > NOTE_NAME_MAX)
		return false;
	*len = n;
	return name_ok(name, n);
}

/* --- keys --------------------------------------------------------------- */

static void keyid_compute(const char *name, size_t namelen, const uint8_t pk[32], uint8_t keyid[4])
{
	static const uint8_t sep[2] = {'\n', NOTE_ALG_ED25519};
	crypto_hash_sha256_state st;
	uint8_t h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)name, namelen);
	crypto_hash_sha256_update(&st, sep, sizeof sep);
	crypto_hash_sha256_update(&st, pk, 32);
	crypto_hash_sha256_final(&st, h);
	memcpy(keyid, h, NOTE_KEYID_LEN);
}

static void hex_keyid(const uint8_t id[4], char out[9])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 4; i++) {
		out[2 * i] = digits[id[i] >> 4];
		out[2 * i + 1] = digits[id[i] & 15];
	}
	out[8] = '\0';
}

/* Exactly 8 lowercase hex digits at s (stops at the first other byte, a NUL included). */
static bool unhex_keyid(const char *s, uint8_t id[4])
{
	for (int i = 0; i < 8; i++) {
		char c = s[i];
		int v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return false;
		if (i % 2 == 0)
			id[i / 2] = (uint8_t)(v << 4);
		else
			id[i / 2] |= (uint8_t)v;
	}
	return true;
}

/*
 * Split "<name>+<keyid>+<base64(0x01 || 32 bytes)>" (a verifier key, or a
 * signer key after its "PRIVATE+KEY+"): copies the name, the key id and the
 * 32 key bytes out. `what` names the key in err, which never quotes s.
 */
static bool key_split(const char *s, const char *what, char *name, size_t namelen, uint8_t id[4],
                      uint8_t key[32], char *err, size_t errlen)
{
	uint8_t blob[33];
	const char *plus = strchr(s, '+'), *hex, *b64;
	size_t nl, n;
	bool ok = false;

	if (!plus) {
		note_err(err, errlen, "%s has no '+' after the key name", what);
		return false;
	}
	nl = (size_t)(plus - s);
	if (nl > NOTE_NAME_MAX || !name_ok(s, nl)) {
		note_err(err, errlen, "%s has an invalid key name", what);
		return false;
	}
	if (nl + 1 > namelen) {
		note_err(err, errlen, "%s key name (%zu bytes) does not fit in %zu bytes", what, nl,
		         namelen);
		return false;
	}
	hex = plus + 1;
	if (!unhex_keyid(hex, id) || hex[8] != '+') {
		note_err(err, errlen, "%s key id is not 8 lowercase hex digits followed by '+'",
		         what);
		return false;
	}
	b64 = hex + 9;
	if (!b64_decode(b64, strlen(b64), blob, sizeof blob, &n) || n == 0) {
		note_err(err, errlen, "%s key is not valid base64", what);
		goto out;
	}
	if (blob[0] != NOTE_ALG_ED25519) {
		note_err(err, errlen, "%s has unknown key algorithm 0x%02x (only 0x01, Ed25519)",
		         what, blob[0]);
		goto out;
	}
	if (n != sizeof blob) {
		note_err(err, errlen, "%s Ed25519 key is %zu bytes, not 32", what, n - 1);
		goto out;
	}
	memcpy(name, s, nl);
	name[nl] = '\0';
	memcpy(key, blob + 1, 32);
	ok = true;
out:
	sodium_memzero(blob, sizeof blob); /* a signer key's seed */
	return ok;
}

bool note_keyid(const char *name, const uint8_t pk[32], uint8_t keyid[4])
{
	size_t nl;

	if (!pk || !keyid || !own_name_ok(name, &nl))
		return false;
	keyid_compute(name, nl, pk, keyid);
	return true;
}

bool note_vkey_format(const char *name, const uint8_t pk[32], char *out, size_t outlen)
{
	uint8_t blob[33], id[4];
	size_t nl, o;

	if (!out || outlen == 0)
		return false;
	out[0] = '\0';
	if (!pk || !own_name_ok(name, &nl) || outlen < nl + 1 + 8 + 1 + NOTE_KEY_B64_LEN + 1)
		return false;
	keyid_compute(name, nl, pk, id);
	blob[0] = NOTE_ALG_ED25519;
	memcpy(blob + 1, pk, 32);
	memcpy(out, name, nl);
	o = nl;
	out[o++] = '+';
	hex_keyid(id, out + o);
	o += 8;
	out[o++] = '+';
	b64_encode(blob, sizeof blob, out + o);
	return true;
}

bool note_vkey_parse(const char *vkey, char *name, size_t namelen, uint8_t pk[32], uint8_t keyid[4],
                     char *err, size_t errlen)
{
	uint8_t id[4], want[4], key[32];

	if (!vkey || !name || !pk || !keyid) {
		note_err(err, errlen, "verifier key: missing argument");
		return false;
	}
	if (!key_split(vkey, "verifier key", name, namelen, id, key, err, errlen))
		return false;
	keyid_compute(name, strlen(name), key, want);
	if (memcmp(id, want, sizeof id) != 0) {
		note_err(err, errlen, "verifier key id does not match its name and key");
		return false;
	}
	if (crypto_core_ed25519_is_valid_point(key) != 1) {
		note_err(err, errlen, "verifier key is not a valid Ed25519 public key");
		return false;
	}
	memcpy(pk, key, 32);
	memcpy(keyid, id, sizeof id);
	return true;
}

/* sk (libsodium's seed || public key) is what its seed derives; the public key in pk. */
static bool sk_consistent(const uint8_t sk[64], uint8_t pk[32])
{
	uint8_t seed[32], sk2[64];
	bool ok;

	crypto_sign_ed25519_sk_to_seed(seed, sk);
	ok = crypto_sign_seed_keypair(pk, sk2, seed) == 0 && sodium_memcmp(sk2, sk, 64) == 0;
	sodium_memzero(seed, sizeof seed);
	sodium_memzero(sk2, sizeof sk2);
	return ok;
}

bool note_skey_format(const char *name, const uint8_t sk[64], char *out, size_t outlen)
{
	uint8_t blob[33], pk[32], id[4];
	size_t nl, o;
	bool ok = false;

	if (!out || outlen == 0)
		return false;
	if (!sk || !own_name_ok(name, &nl) ||
	    outlen < strlen(NOTE_SKEY_PREFIX) + nl + 1 + 8 + 1 + NOTE_KEY_B64_LEN + 1 ||
	    !sk_consistent(sk, pk))
		goto out;
	keyid_compute(name, nl, pk, id);
	blob[0] = NOTE_ALG_ED25519;
	crypto_sign_ed25519_sk_to_seed(blob + 1, sk);
	o = strlen(NOTE_SKEY_PREFIX);
	memcpy(out, NOTE_SKEY_PREFIX, o);
	memcpy(out + o, name, nl);
	o += nl;
	out[o++] = '+';
	hex_keyid(id, out + o);
	o += 8;
	out[o++] = '+';
	b64_encode(blob, sizeof blob, out + o);
	ok = true;
out:
	sodium_memzero(blob, sizeof blob);
	if (!ok)
		sodium_memzero(out, outlen);
	return ok;
}

bool note_skey_parse(const char *skey, char *name, size_t namelen, uint8_t sk[64], char *err,
                     size_t errlen)
{
	uint8_t id[4], want[4], seed[32], pk[32];
	bool ok = false;

	if (!skey || !name || !sk) {
		note_err(err, errlen, "signer key: missing argument");
		if (sk)
			sodium_memzero(sk, 64);
		return false;
	}
	if (strncmp(skey, NOTE_SKEY_PREFIX, strlen(NOTE_SKEY_PREFIX)) != 0) {
		note_err(err, errlen, "signer key does not start with \"PRIVATE+KEY+\"");
		goto out;
	}
	if (!key_split(skey + strlen(NOTE_SKEY_PREFIX), "signer key", name, namelen, id, seed, err,
	               errlen))
		goto out;
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0) {
		note_err(err, errlen, "signer key: key derivation failed");
		goto out;
	}
	keyid_compute(name, strlen(name), pk, want);
	if (memcmp(id, want, sizeof id) != 0) {
		note_err(err, errlen, "signer key id does not match its name and key");
		goto out;
	}
	ok = true;
out:
	sodium_memzero(seed, sizeof seed);
	if (!ok)
		sodium_memzero(sk, 64);
	return ok;
}

/* --- signed notes ----------------------------------------------------- */

bool note_sign(const char *text, size_t len, const char *name, const uint8_t sk[64], char **out,
               size_t *outlen, char *err, size_t errlen)
{
	uint8_t blob[NOTE_SIG_BLOB_LEN], pk[32];
	size_t nl, total, o;
	char *buf;

	if (out)
		*out = NULL;
	if (outlen)
		*outlen = 0;
	if (!text || !name || !sk || !out || !outlen) {
		note_err(err, errlen, "note_sign: missing argument");
		return false;
	}
	if (!own_name_ok(name, &nl)) {
		note_err(err, errlen,
		         "invalid key name (non-empty, at most %d bytes, no space, '+' "
		         "or control character)",
		         NOTE_NAME_MAX);
		return false;
	}
	if (len == 0 || text[len - 1] != '\n') {
		note_err(err, errlen, "note text must be non-empty and end with a newline");
		return false;
	}
	total = 1 + NOTE_SIG_PREFIX_LEN + nl + 1 + NOTE_SIG_B64_LEN + 1;
	if (len > NOTE_MAX_LEN - total) {
		note_err(err, errlen,
		         "note text is too long (the signed note would exceed %d bytes)",
		         NOTE_MAX_LEN);
		return false;
	}
	total += len;
	if (!text_chars_ok(text, len, "note text", err, errlen))
		return false;
	if (!sk_consistent(sk, pk)) {
		note_err(err, errlen,
		         "signing key is inconsistent (its public half is not its seed's)");
		return false;
	}
	keyid_compute(name, nl, pk, blob);
	if (crypto_sign_detached(blob + NOTE_KEYID_LEN, NULL, (const uint8_t *)text, len, sk) !=
	    0) {
		note_err(err, errlen, "Ed25519 signing failed");
		return false;
	}
	buf = malloc(total + 1);
	if (!buf) {
		note_err(err, errlen, "out of memory");
		return false;
	}
	memcpy(buf, text, len);
	o = len;
	buf[o++] = '\n';
	memcpy(buf + o, NOTE_SIG_PREFIX, NOTE_SIG_PREFIX_LEN);
	o += NOTE_SIG_PREFIX_LEN;
	memcpy(buf + o, name, nl);
	o += nl;
	buf[o++] = ' ';
	b64_encode(blob, sizeof blob, buf + o);
	o += b64_encoded_len(sizeof blob);
	buf[o++] = '\n';
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return true;
}

bool note_verify(const char *signed_note, size_t len, const char *name, const uint8_t pk[32],
                 size_t *text_len_out, char *err, size_t errlen)
{
	const char *msg = signed_note, *sigs, *end, *line, *eol;
	uint8_t our_id[4], blob[NOTE_SIG_BLOB_LEN];
	size_t nl, split, text_len, nlines = 0, lineno = 0, verified = 0;
	bool found = false;

	if (text_len_out)
		*text_len_out = 0;
	if (!msg || !name || !pk) {
		note_err(err, errlen, "note_verify: missing argument");
		return false;
	}
	if (!own_name_ok(name, &nl)) {
		note_err(err, errlen, "invalid key name to verify with");
		return false;
	}
	if (len > NOTE_MAX_LEN) {
		note_err(err, errlen, "note is too large (%zu bytes, limit %d)", len, NOTE_MAX_LEN);
		return false;
	}
	if (!text_chars_ok(msg, len, "note", err, errlen))
		return false;

	/* The text ends at the last blank line; the signature block follows it. */
	for (split = len; split >= 2; split--) {
		if (msg[split - 2] == '\n' && msg[split - 1] == '\n') {
			found = true;
			break;
		}
	}
	if (!found) {
		note_err(err, errlen, "note has no blank line before its signatures");
		return false;
	}
	text_len = split - 1;
	sigs = msg + split;
	end = msg + len;
	if (sigs == end) {
		note_err(err, errlen, "note has no signature lines");
		return false;
	}
	if (end[-1] != '\n') {
		note_err(err, errlen, "note's last signature line does not end with a newline");
		return false;
	}
	for (line = sigs; line < end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (++nlines > NOTE_MAX_SIGS) {
			note_err(err, errlen, "note has more than %d signature lines",
			         NOTE_MAX_SIGS);
			return false;
		}
	}

	keyid_compute(name, nl, pk, our_id);
	for (line = sigs; line < end; line = eol + 1) {
		const char *who, *sp, *b64;
		size_t ll, n;

		lineno++;
		eol = memchr(line, '\n', (size_t)(end - line)); /* found: end[-1] is '\n' */
		ll = (size_t)(eol - line);
		if (ll < NOTE_SIG_PREFIX_LEN ||
		    memcmp(line, NOTE_SIG_PREFIX, NOTE_SIG_PREFIX_LEN)) {
			note_err(err, errlen,
			         "signature line %zu does not start with an em dash and a space",
			         lineno);
			return false;
		}
		who = line + NOTE_SIG_PREFIX_LEN;
		sp = memchr(who, ' ', (size_t)(eol - who));
		if (!sp) {
			note_err(err, errlen, "signature line %zu has no space after the key name",
			         lineno);
			return false;
		}
		if (!name_ok(who, (size_t)(sp - who))) {
			note_err(err, errlen, "signature line %zu has an invalid key name", lineno);
			return false;
		}
		b64 = sp + 1;
		if (b64 == eol) {
			note_err(err, errlen, "signature line %zu has an empty signature", lineno);
			return false;
		}
		if (!b64_decode(b64, (size_t)(eol - b64), blob, sizeof blob, &n)) {
			note_err(err, errlen, "signature line %zu has invalid base64", lineno);
			return false;
		}
		if (n < NOTE_KEYID_LEN + 1) {
			note_err(err, errlen,
			         "signature line %zu has a signature shorter than 5 bytes", lineno);
			return false;
		}
		if ((size_t)(sp - who) != nl || memcmp(who, name, nl) != 0 ||
		    memcmp(blob, our_id, sizeof our_id) != 0)
			continue; /* another key's: ignored, as the spec requires */
		if (n != sizeof blob ||
		    crypto_sign_verify_detached(blob + NOTE_KEYID_LEN, (const uint8_t *)msg,
		                                text_len, pk) != 0) {
			note_err(err, errlen, "signature line %zu by %s does not verify", lineno,
			         name);
			return false;
		}
		verified++;
	}
	if (verified == 0) {
		note_err(err, errlen, "no signature by %s (key id %02x%02x%02x%02x)", name,
		         our_id[0], our_id[1], our_id[2], our_id[3]);
		return false;
	}
	if (text_len_out)
		*text_len_out = text_len;
	return true;
}

/* --- tlog-checkpoint -------------------------------------------------- */

bool checkpoint_format(const char *origin, uint64_t size, const uint8_t root[32], char *out,
                       size_t outlen)
{
	char b64[NOTE_KEY_B64_LEN + 1];
	size_t ol;
	int n;

	if (!out || outlen == 0)
		return false;
	out[0] = '\0';
	if (!origin || !root)
		return false;
	ol = strlen(origin);
	if (ol == 0 || ol > NOTE_MAX_LEN || memchr(origin, '\n', ol) ||
	    !text_chars_ok(origin, ol, "origin", NULL, 0))
		return false;
	b64_encode(root, 32, b64);
	n = snprintf(out, outlen, "%s\n%" PRIu64 "\n%s\n", origin, size, b64);
	if (n < 0 || (size_t)n >= outlen) {
		out[0] = '\0';
		return false;
	}
	return true;
}

/* A tree size: decimal digits only, no leading zero unless "0", fits uint64_t. */
static const char *parse_tree_size(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return "is empty";
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return "is not an unsigned decimal number";
	if (n > 1 && s[0] == '0')
		return "has a leading zero";
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return "does not fit in 64 bits";
		v = v * 10 + d;
	}
	*out = v;
	return NULL;
}

bool checkpoint_parse(const char *text, size_t len, char *origin, size_t originlen, uint64_t *size,
                      uint8_t root[32], char *err, size_t errlen)
{
	const char *end, *p, *eol, *why;
	uint8_t hash[32];
	uint64_t sz = 0;
	size_t ol, n, lineno;

	if (!text || !origin || !size || !root) {
		note_err(err, errlen, "checkpoint_parse: missing argument");
		return false;
	}
	if (len > NOTE_MAX_LEN) {
		note_err(err, errlen, "checkpoint is too large (%zu bytes, limit %d)", len,
		         NOTE_MAX_LEN);
		return false;
	}
	if (!text_chars_ok(text, len, "checkpoint", err, errlen))
		return false;
	if (len == 0 || text[len - 1] != '\n') {
		note_err(err, errlen, "checkpoint does not end with a newline");
		return false;
	}
	end = text + len;

	eol = memchr(text, '\n', len);
	ol = (size_t)(eol - text);
	if (ol == 0) {
		note_err(err, errlen, "checkpoint origin (line 1) is empty");
		return false;
	}
	if (ol + 1 > originlen) {
		note_err(err, errlen, "checkpoint origin (%zu bytes) does not fit in %zu bytes", ol,
		         originlen);
		return false;
	}

	p = eol + 1;
	if (p == end) {
		note_err(err, errlen, "checkpoint has no tree size (line 2)");
		return false;
	}
	eol = memchr(p, '\n', (size_t)(end - p));
	why = parse_tree_size(p, (size_t)(eol - p), &sz);
	if (why) {
		note_err(err, errlen, "checkpoint tree size (line 2) %s", why);
		return false;
	}

	p = eol + 1;
	if (p == end) {
		note_err(err, errlen, "checkpoint has no root hash (line 3)");
		return false;
	}
	eol = memchr(p, '\n', (size_t)(end - p));
	if (!b64_decode(p, (size_t)(eol - p), hash, sizeof hash, &n)) {
		note_err(err, errlen, "checkpoint root hash (line 3) is not valid base64");
		return false;
	}
	if (n != sizeof hash) {
		note_err(err, errlen, "checkpoint root hash (line 3) is %zu bytes, not 32", n);
		return false;
	}

	for (p = eol + 1, lineno = 4; p < end; p = eol + 1, lineno++) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == p) {
			note_err(err, errlen, "checkpoint extension line %zu is empty", lineno);
			return false;
		}
	}

	memcpy(origin, text, ol);
	origin[ol] = '\0';
	*size = sz;
	memcpy(root, hash, sizeof hash);
	return true;
}
