/*
 * Key files. The KEK and the ledger seed are 32 raw bytes each, mode 0600,
 * written atomically (temp file + rename) so that a crash never leaves half a
 * key. The development issuer is an ES256 key pair in PEM made with OpenSSL
 * (libsodium has no P-256); its private key is never loaded by fiduciad.
 * `fiduciad keygen` makes the production set (keys_generate).
 */
#include "keys.h"
#include "config.h"
#include "log.h"
#include "note.h"
#include "vault.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void errf(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Write len bytes to path atomically with the given mode. Unless replace is
 * set, an existing path is left alone and is an error (link(2) installs the
 * file only where none is, so two writers cannot both win). */
static bool write_file_new(const char *path, const void *data, size_t len, mode_t mode,
                           bool replace, char *err, size_t errlen)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		errf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return false;
	}
	const unsigned char *p = data;
	size_t left = len;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			return false;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) != 0) {
		errf(err, errlen, "cannot store %s: %s", path, strerror(errno));
		close(fd);
		unlink(tmp);
		return false;
	}
	if (close(fd) != 0 || (replace ? rename(tmp, path) : link(tmp, path)) != 0) {
		if (errno == EEXIST)
			errf(err, errlen, "%s exists already", path);
		else
			errf(err, errlen, "cannot store %s: %s", path, strerror(errno));
		unlink(tmp);
		return false;
	}
	if (!replace)
		unlink(tmp);
	return true;
}

static bool write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                              char *err, size_t errlen)
{
	return write_file_new(path, data, len, mode, true, err, errlen);
}

/* Read exactly len bytes of a key file into out. */
static bool read_key(const char *path, unsigned char *out, size_t len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errf(err, errlen, "key file %s: %s", path, strerror(errno));
		return false;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size != (off_t)len) {
		errf(err, errlen, "key file %s: expected exactly %zu bytes", path, len);
		close(fd);
		return false;
	}
	if (st.st_mode & 077)
		log_warn("key file %s is readable by group or others (mode %o); chmod 600 it", path,
		         (unsigned)(st.st_mode & 0777));
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, out + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != len) {
		errf(err, errlen, "key file %s: short read", path);
		return false;
	}
	return true;
}

static bool ensure_parent(const char *path, char *err, size_t errlen)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return true;
	*slash = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		errf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return false;
	}
	return true;
}

/* Load a 32-byte secret, creating it from libsodium's CSPRNG when allowed. */
static bool load_secret(const char *path, const char *what, bool may_create, unsigned char *out,
                        size_t len, char *err, size_t errlen)
{
	if (access(path, F_OK) != 0) {
		if (!may_create) {
			errf(err, errlen,
			     "production: %s %s is missing (keys are never generated "
			     "in production)",
			     what, path);
			return false;
		}
		if (!ensure_parent(path, err, errlen))
			return false;
		randombytes_buf(out, len);
		bool ok = write_file_atomic(path, out, len, 0600, err, errlen);
		if (ok)
			log_info("generated %s at %s", what, path);
		return ok;
	}
	return read_key(path, out, len, err, errlen);
}

bool keys_generate_es256(const char *priv_path, const char *pub_path, char *err, size_t errlen)
{
	bool ok = false;
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	BIO *bpriv = BIO_new(BIO_s_mem()), *bpub = BIO_new(BIO_s_mem());
	if (!pk || !bpriv || !bpub ||
	    !PEM_write_bio_PrivateKey(bpriv, pk, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_PUBKEY(bpub, pk)) {
		errf(err, errlen, "cannot generate an ES256 key pair");
		goto out;
	}
	char *p;
	long n = BIO_get_mem_data(bpriv, &p);
	if (!ensure_parent(priv_path, err, errlen) ||
	    !write_file_atomic(priv_path, p, (size_t)n, 0600, err, errlen))
		goto out;
	n = BIO_get_mem_data(bpub, &p);
	if (!ensure_parent(pub_path, err, errlen) ||
	    !write_file_atomic(pub_path, p, (size_t)n, 0644, err, errlen))
		goto out;
	ok = true;
out:
	BIO_free(bpriv);
	BIO_free(bpub);
	EVP_PKEY_free(pk);
	return ok;
}

static char *slurp(const char *path, size_t max)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = calloc(1, max + 1);
	size_t n = buf ? fread(buf, 1, max, f) : 0;
	fclose(f);
	if (buf && n == 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

keys *keys_load(const config *cfg, char *err, size_t errlen)
{
	bool may_create = !cfg->production;
	keys *k = calloc(1, sizeof *k);
	if (!k)
		goto oom;
	k->kek = sodium_malloc(KEYS_KEK_BYTES);
	k->ledger_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (!k->kek || !k->ledger_sk)
		goto oom;
	if (!load_secret(cfg->kek_file, "key-encryption key", may_create, k->kek, KEYS_KEK_BYTES,
	                 err, errlen))
		goto fail;
	unsigned char *seed = sodium_malloc(crypto_sign_SEEDBYTES);
	if (!seed)
		goto oom;
	bool ok = load_secret(cfg->ledger_key_file, "ledger signing key", may_create, seed,
	                      crypto_sign_SEEDBYTES, err, errlen);
	if (ok)
		crypto_sign_seed_keypair(k->ledger_pk, k->ledger_sk, seed);
	sodium_free(seed);
	if (!ok)
		goto fail;
	vault_kek_id(k->kek, k->kek_id);
	if (*cfg->kek_previous_file) {
		if (!(k->kek_previous = sodium_malloc(KEYS_KEK_BYTES)))
			goto oom;
		if (!read_key(cfg->kek_previous_file, k->kek_previous, KEYS_KEK_BYTES, err, errlen))
			goto fail;
		vault_kek_id(k->kek_previous, k->kek_previous_id);
		sodium_mprotect_readonly(k->kek_previous);
	}
	sodium_mprotect_readonly(k->kek);
	sodium_mprotect_readonly(k->ledger_sk);

	if (cfg->dev_issuer && !cfg->production) {
		char priv[4096], pub[4096];
		snprintf(priv, sizeof priv, "%s/keys/dev-issuer.pem", cfg->data_dir);
		snprintf(pub, sizeof pub, "%s/keys/dev-issuer.pub.pem", cfg->data_dir);
		if (access(pub, F_OK) != 0) {
			if (!keys_generate_es256(priv, pub, err, errlen))
				goto fail;
			log_info("generated the development token issuer fiducia-dev at %s", priv);
		}
		if (!(k->dev_issuer_pub_pem = slurp(pub, 16384))) {
			errf(err, errlen, "cannot read %s", pub);
			goto fail;
		}
	}
	return k;
oom:
	errf(err, errlen, "out of memory");
fail:
	keys_free(k);
	return NULL;
}

void keys_free(keys *k)
{
	if (!k)
		return;
	sodium_free(k->kek); /* sodium_free wipes before unmapping */
	sodium_free(k->ledger_sk);
	if (k->kek_previous)
		sodium_free(k->kek_previous);
	free(k->dev_issuer_pub_pem);
	free(k);
}

const unsigned char *keys_kek_by_id(const keys *k, const char *id)
{
	if (strcmp(id, k->kek_id) == 0)
		return k->kek;
	if (k->kek_previous && strcmp(id, k->kek_previous_id) == 0)
		return k->kek_previous;
	return NULL;
}

bool keys_read_or_create(const char *path, bool create, unsigned char *out, char *err,
                         size_t errlen)
{
	return load_secret(path, "new key-encryption key", create, out, KEYS_KEK_BYTES, err,
	                   errlen);
}

bool keys_write_file(const char *path, const unsigned char *key, size_t len, char *err,
                     size_t errlen)
{
	return ensure_parent(path, err, errlen) &&
	       write_file_atomic(path, key, len, 0600, err, errlen);
}

/* mkdir -p of dir's parents, mode 0755 (whatever the umask), so that the
 * service user can reach the key folder once it owns it. */
static bool make_parents(const char *dir, char *err, size_t errlen)
{
	char p[4096];
	if ((size_t)snprintf(p, sizeof p, "%s", dir) >= sizeof p) {
		errf(err, errlen, "path too long: %s", dir);
		return false;
	}
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) == 0) {
			if (chmod(p, 0755) != 0) {
				errf(err, errlen, "cannot chmod %s: %s", p, strerror(errno));
				return false;
			}
		} else if (errno != EEXIST) {
			errf(err, errlen, "cannot create the folder %s: %s", p, strerror(errno));
			return false;
		}
		*s = '/';
	}
	return true;
}

bool keys_generate(const char *dir, const char *origin, bool force, char *vkey, size_t vkeylen,
                   char kek_id[17], char *err, size_t errlen)
{
	static const char *const names[3] = {KEYS_KEK_FILE, KEYS_LEDGER_FILE, KEYS_VKEY_FILE};
	char paths[3][4096];
	bool written[3] = {false, false, false};
	bool ok = false;
	unsigned char *kek = NULL, *seed = NULL, *sk = NULL;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	char line[NOTE_VKEY_MAX + 1];

	if (vkeylen < NOTE_VKEY_MAX) {
		errf(err, errlen, "internal: verifier key buffer too small");
		return false;
	}
	/* The origin is the note key's name: check it before anything is made. */
	memset(pk, 0, sizeof pk);
	if (!note_vkey_format(origin, pk, vkey, vkeylen)) {
		errf(err, errlen, "origin \"%s\" is not a valid ledger_origin (a key name)",
		     origin);
		return false;
	}
	for (int i = 0; i < 3; i++) {
		if ((size_t)snprintf(paths[i], sizeof paths[i], "%s/%s", dir, names[i]) >=
		    sizeof paths[i]) {
			errf(err, errlen, "path too long: %s", dir);
			return false;
		}
	}
	if (!make_parents(dir, err, errlen))
		return false;
	if (mkdir(dir, 0700) != 0) {
		struct stat st;
		if (errno != EEXIST || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			errf(err, errlen, "cannot create the folder %s: %s", dir,
			     errno == EEXIST ? "not a folder" : strerror(errno));
			return false;
		}
	} else if (chmod(dir, 0700) != 0) {
		errf(err, errlen, "cannot chmod %s: %s", dir, strerror(errno));
		return false;
	}
	if (!force) {
		for (int i = 0; i < 3; i++) {
			if (access(paths[i], F_OK) == 0) {
				errf(err, errlen,
				     "%s exists already; nothing was written (--force replaces "
				     "it, and the data keys wrapped under a replaced KEK become "
				     "unreadable)",
				     paths[i]);
				return false;
			}
		}
	}
	kek = sodium_malloc(KEYS_KEK_BYTES);
	seed = sodium_malloc(crypto_sign_SEEDBYTES);
	sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
	if (!kek || !seed || !sk) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	randombytes_buf(kek, KEYS_KEK_BYTES);
	randombytes_buf(seed, crypto_sign_SEEDBYTES);
	if (crypto_sign_seed_keypair(pk, sk, seed) != 0 ||
	    !note_vkey_format(origin, pk, vkey, vkeylen)) {
		errf(err, errlen, "cannot derive the ledger key pair");
		goto out;
	}
	vault_kek_id(kek, kek_id);
	if (!write_file_new(paths[0], kek, KEYS_KEK_BYTES, 0600, force, err, errlen))
		goto out;
	written[0] = true;
	if (!write_file_new(paths[1], seed, crypto_sign_SEEDBYTES, 0600, force, err, errlen))
		goto out;
	written[1] = true;
	/* The verifier key is public: it is what gets published. */
	snprintf(line, sizeof line, "%s\n", vkey);
	if (!write_file_new(paths[2], line, strlen(line), 0644, force, err, errlen))
		goto out;
	written[2] = true;
	ok = true;
out:
	/* Without --force nothing existed before: leave no partial set behind. */
	if (!ok && !force)
		for (int i = 0; i < 3; i++)
			if (written[i])
				unlink(paths[i]);
	sodium_free(kek);
	sodium_free(seed);
	sodium_free(sk);
	return ok;
}
