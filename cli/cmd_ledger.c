/*
 * fiducia ledger: verify the transparency ledger with no trust in the server,
 * and export it to an archive that verifies the same way offline. Every check
 * is done here with server/merkle.c and server/note.c: the checkpoint's
 * signature against a verifier key the user gives, the root recomputed from
 * every entry, inclusion proofs against the signed root, and, with a state
 * file, consistency with the last checkpoint verified (rollback and fork are
 * reported loudly, exit status CLI_EXIT_VERIFY).
 */
#include "cli.h"
#include "output.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fiducia/v1/ledger.pb-c.h"
#include "merkle.h"
#include "note.h"
#include "pbjson.h"

#define LEDGER_PAGE       1000 /* entries per request: the server's limit */
#define LEDGER_INDEX_MAX  64   /* --index options */
#define LEDGER_ORIGIN_MAX 1024 /* bytes of an origin we parse, NUL included */
#define LEDGER_ENTRY_MAX  CLIENT_MAX_BODY
#define LEDGER_KEY_MAX    4096 /* bytes of the server's verifier key */
#define LEDGER_ENTRY_NAME "%012" PRIu64 ".bin"
#define LEDGER_B64_LEN    sodium_base64_ENCODED_LEN(MERKLE_HASH_LEN, sodium_base64_VARIANT_ORIGINAL)

/* The verifier key given with --vkey. */
struct ledger_key {
	char name[NOTE_NAME_MAX + 1];
	uint8_t pk[32];
	uint8_t keyid[NOTE_KEYID_LEN];
};

/* A checkpoint: its exact bytes, and what they say once verified. */
struct ledger_cp {
	char *note; /* malloc'd, NUL-terminated */
	size_t note_len;
	char origin[LEDGER_ORIGIN_MAX];
	uint64_t size;
	uint8_t root[MERKLE_HASH_LEN];
};

/* One run of verify or export. */
struct ledger_run {
	struct cli_ctx *ctx;
	client *anon; /* for the routes that need no token */
	struct ledger_key key;
	struct ledger_cp cp;  /* the checkpoint being verified (or exported) */
	struct ledger_cp old; /* the last one verified, from --state */
	bool have_old;
	const char *state;
	merkle_builder b;                     /* over the entries read so far */
	uint8_t prefix_root[MERKLE_HASH_LEN]; /* the root of the first old.size entries */
	bool have_prefix;
	uint64_t idx[LEDGER_INDEX_MAX]; /* --index */
	uint8_t idx_leaf[LEDGER_INDEX_MAX][MERKLE_HASH_LEN];
	size_t nidx;
	const char *out_dir; /* export: where entries are written */
};

/* "fiducia: LEDGER VERIFICATION FAILED: <what>" on stderr; returns CLI_EXIT_VERIFY. */
static int ledger_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ledger_fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fputs("fiducia: LEDGER VERIFICATION FAILED: ", stderr);
	output_text(stderr, msg);
	fputc('\n', stderr);
	return CLI_EXIT_VERIFY;
}

static void ledger_b64(const uint8_t h[MERKLE_HASH_LEN], char out[LEDGER_B64_LEN])
{
	sodium_bin2base64(out, LEDGER_B64_LEN, h, MERKLE_HASH_LEN, sodium_base64_VARIANT_ORIGINAL);
}

static void ledger_cp_free(struct ledger_cp *cp)
{
	free(cp->note);
	cp->note = NULL;
	cp->note_len = 0;
}

static void ledger_run_free(struct ledger_run *r)
{
	client_free(r->anon);
	r->anon = NULL;
	ledger_cp_free(&r->cp);
	ledger_cp_free(&r->old);
}

/* A decimal uint64_t with no sign, no space and nothing after it. */
static bool ledger_u64_parse(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* ---- files ---------------------------------------------------------------- */

/*
 * Reads the regular file path (at most max bytes) into a malloc'd,
 * NUL-terminated *out. *missing (when not NULL) tells ENOENT apart; the
 * caller reports failures (errno is kept).
 */
static bool ledger_file_read(const char *path, size_t max, char **out, size_t *len, bool *missing)
{
	struct stat st;
	char *buf = NULL;
	*out = NULL;
	*len = 0;
	if (missing)
		*missing = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (missing)
			*missing = errno == ENOENT;
		return false;
	}
	if (fstat(fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > max) {
		errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		goto fail;
	size_t n = 0;
	while (n < (size_t)st.st_size) {
		ssize_t got = read(fd, buf + n, (size_t)st.st_size - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EIO; /* the file shrank while we read it */
			goto fail;
		}
		n += (size_t)got;
	}
	buf[n] = '\0';
	close(fd);
	*out = buf;
	*len = n;
	return true;
fail:;
	int e = errno;
	free(buf);
	close(fd);
	errno = e;
	return false;
}

static bool ledger_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Creates path (which must not exist) with data; CLI_EXIT_FAIL after a message. */
static int ledger_file_create(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || !ledger_write_all(fd, data, len)) {
		cli_error("cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return CLI_EXIT_FAIL;
	}
	if (close(fd) != 0) {
		cli_error("cannot write %s: %s", path, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

/* Replaces path with data atomically: a temporary file beside it, fsync, rename. */
static int ledger_file_replace(const char *path, const void *data, size_t len)
{
	size_t n = strlen(path) + sizeof ".tmp.XXXXXX";
	char *tmp = malloc(n);
	if (!tmp) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	snprintf(tmp, n, "%s.tmp.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		cli_error("cannot save the state %s: %s", path, strerror(errno));
		free(tmp);
		return CLI_EXIT_FAIL;
	}
	bool ok = ledger_write_all(fd, data, len) && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	ok = ok && rename(tmp, path) == 0;
	if (!ok) {
		int e = errno;
		unlink(tmp);
		free(tmp);
		cli_error("cannot save the state %s: %s", path, strerror(e));
		return CLI_EXIT_FAIL;
	}
	free(tmp);
	/* Make the rename itself durable; a failure here loses no data. */
	char *dir = strdup(path);
	if (dir) {
		char *slash = strrchr(dir, '/');
		const char *d = ".";
		if (slash == dir) {
			d = "/";
		} else if (slash) {
			*slash = '\0';
			d = dir;
		}
		int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	return CLI_EXIT_OK;
}

/* dir + "/" + name (+ "/" + sub when sub is not NULL) into a malloc'd string, or NULL. */
static char *ledger_join(const char *dir, const char *name, const char *sub)
{
	size_t n = strlen(dir) + strlen(name) + (sub ? strlen(sub) + 1 : 0) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s%s%s", dir, name, sub ? "/" : "", sub ? sub : "");
	return p;
}

/* ---- the network ------------------------------------------------------------ */

/* GET path without a token, for the checkpoint and the key: the body as is. */
static int ledger_get_raw(struct ledger_run *r, const char *path, client_result *res)
{
	char err[256];
	client_result_init(res);
	if (!r->anon) {
		r->anon = client_new(r->ctx->url, r->ctx->cacert, NULL, CLIENT_TIMEOUT_S, err,
		                     sizeof err);
		if (!r->anon) {
			cli_error("%s", err);
			return CLI_EXIT_USAGE;
		}
	}
	client_status st = client_send(r->anon, "GET", path, NULL, NULL, 0, res);
	if (st == CLIENT_OK && res->status >= 400 && res->status <= 599) {
		ProtobufCMessage *e = NULL;
		pbjson_error perr;
		if (strncasecmp(res->content_type, "application/json", 16) == 0 &&
		    pbjson_decode_lenient(&fiducia__v1__error__descriptor, res->body, res->body_len,
		                          NULL, &e, &perr))
			res->error = (Fiducia__V1__Error *)e;
		snprintf(res->reason, sizeof res->reason, "%s",
		         res->status_line[0] ? res->status_line : "HTTP error");
		st = CLIENT_HTTP_ERROR;
	} else if (st == CLIENT_OK && (res->status < 200 || res->status > 299)) {
		snprintf(res->reason, sizeof res->reason, "unexpected HTTP status %d %s",
		         res->status, res->status_line);
		st = CLIENT_BAD_RESPONSE;
	}
	if (st != CLIENT_OK)
		return output_call_error(client_url(r->anon), st, res);
	return CLI_EXIT_OK;
}

/* GET path with the token, decoded as desc (whatever --json says). */
static int ledger_get(struct ledger_run *r, const char *path,
                      const ProtobufCMessageDescriptor *desc, client_result *res)
{
	bool json = r->ctx->json;
	r->ctx->json = false;
	int rc = cli_call(r->ctx, "GET", path, NULL, desc, res);
	r->ctx->json = json;
	if (rc == CLI_EXIT_OK && !res->msg) {
		cli_error("the server sent an empty %s", desc->name);
		rc = CLI_EXIT_FAIL;
	}
	return rc;
}

/* ---- checkpoints -------------------------------------------------------------- */

/*
 * Takes note (malloc'd, len bytes) into cp and verifies it: signed by the
 * key, a tlog-checkpoint, of the log named like the key. what names it in
 * messages. CLI_EXIT_VERIFY after a message.
 */
static int ledger_cp_verify(const struct ledger_key *k, char *note, size_t len, const char *what,
                            struct ledger_cp *cp)
{
	char err[256], kid[2 * NOTE_KEYID_LEN + 1];
	size_t text_len;
	ledger_cp_free(cp);
	cp->note = note;
	cp->note_len = len;
	sodium_bin2hex(kid, sizeof kid, k->keyid, sizeof k->keyid);
	if (!note_verify(note, len, k->name, k->pk, &text_len, err, sizeof err))
		return ledger_fail("%s is not signed by the key %s+%s: %s", what, k->name, kid,
		                   err);
	if (!checkpoint_parse(note, text_len, cp->origin, sizeof cp->origin, &cp->size, cp->root,
	                      err, sizeof err))
		return ledger_fail("%s is not a valid tlog-checkpoint: %s", what, err);
	/* The key names its log: a checkpoint of another log signed by it proves nothing here. */
	if (strcmp(cp->origin, k->name) != 0)
		return ledger_fail("%s is for the log '%s', but the key is for '%s'", what,
		                   cp->origin, k->name);
	return CLI_EXIT_OK;
}

static void ledger_cp_print(const struct ledger_cp *cp)
{
	char b64[LEDGER_B64_LEN], line[LEDGER_ORIGIN_MAX + 64 + LEDGER_B64_LEN];
	ledger_b64(cp->root, b64);
	snprintf(line, sizeof line, "%s %" PRIu64 " %s", cp->origin, cp->size, b64);
	output_field(stdout, "checkpoint", line);
}

/* Loads --state: the last checkpoint verified, re-verified with the key. */
static int ledger_state_load(struct ledger_run *r)
{
	char *buf, what[64 + PATH_MAX];
	size_t len;
	bool missing;
	if (!r->state)
		return CLI_EXIT_OK;
	if (!ledger_file_read(r->state, NOTE_MAX_LEN, &buf, &len, &missing)) {
		if (missing)
			return CLI_EXIT_OK; /* the first run */
		cli_error("cannot read the state %s: %s", r->state, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	snprintf(what, sizeof what, "the checkpoint saved in %s", r->state);
	int rc = ledger_cp_verify(&r->key, buf, len, what, &r->old);
	if (rc != CLI_EXIT_OK)
		return rc;
	r->have_old = true;
	if (r->old.size == 0) {
		merkle_empty_root(r->prefix_root);
		r->have_prefix = true;
	}
	return CLI_EXIT_OK;
}

/* Rollback and same-size fork: what the two signed checkpoints alone show. */
static int ledger_state_compare(const struct ledger_run *r)
{
	if (!r->have_old)
		return CLI_EXIT_OK;
	const struct ledger_cp *o = &r->old, *n = &r->cp;
	if (n->size < o->size)
		return ledger_fail("ROLLBACK: the checkpoint has %" PRIu64 " entries, fewer than "
		                   "the %" PRIu64 " of the one verified before (%s)",
		                   n->size, o->size, r->state);
	if (n->size == o->size && sodium_memcmp(n->root, o->root, MERKLE_HASH_LEN) != 0)
		return ledger_fail("FORK: the checkpoint and the one verified before (%s) both "
		                   "have %" PRIu64 " entries but different roots",
		                   r->state, n->size);
	return CLI_EXIT_OK;
}

/* With every entry read: the old root must be the root of the first old.size entries. */
static int ledger_state_prefix(const struct ledger_run *r)
{
	char have[LEDGER_B64_LEN], want[LEDGER_B64_LEN];
	if (!r->have_old || r->old.size == r->cp.size)
		return CLI_EXIT_OK;
	if (!r->have_prefix)
		return ledger_fail("the first %" PRIu64 " entries were never read", r->old.size);
	if (sodium_memcmp(r->prefix_root, r->old.root, MERKLE_HASH_LEN) != 0) {
		ledger_b64(r->prefix_root, have);
		ledger_b64(r->old.root, want);
		return ledger_fail("FORK: the first %" PRIu64 " entries hash to %s, not to the "
		                   "root %s of the checkpoint verified before (%s)",
		                   r->old.size, have, want, r->state);
	}
	return CLI_EXIT_OK;
}

static int ledger_state_save(const struct ledger_run *r)
{
	if (!r->state)
		return CLI_EXIT_OK;
	return ledger_file_replace(r->state, r->cp.note, r->cp.note_len);
}

/* ---- entries ------------------------------------------------------------------ */

/* The next entry, which must be number merkle_builder_size(&r->b). */
static int ledger_leaf_add(struct ledger_run *r, uint64_t index, const uint8_t *data, size_t len)
{
	uint8_t leaf[MERKLE_HASH_LEN];
	uint64_t want = merkle_builder_size(&r->b);
	if (index != want)
		return ledger_fail("entry number %" PRIu64 " came with index %" PRIu64
		                   " (entries missing, repeated or out of order)",
		                   want, index);
	merkle_leaf_hash(data, len, leaf);
	if (!merkle_builder_append(&r->b, leaf)) {
		cli_error("cannot append entry %" PRIu64 " to the tree", index);
		return CLI_EXIT_FAIL;
	}
	for (size_t i = 0; i < r->nidx; i++)
		if (r->idx[i] == index)
			memcpy(r->idx_leaf[i], leaf, MERKLE_HASH_LEN);
	if (r->have_old && merkle_builder_size(&r->b) == r->old.size) {
		merkle_builder_root(&r->b, r->prefix_root);
		r->have_prefix = true;
	}
	if (r->out_dir) {
		char name[32];
		snprintf(name, sizeof name, LEDGER_ENTRY_NAME, index);
		char *path = ledger_join(r->out_dir, "entries", name);
		if (!path) {
			cli_error("out of memory");
			return CLI_EXIT_FAIL;
		}
		int rc = ledger_file_create(path, data, len);
		free(path);
		return rc;
	}
	return CLI_EXIT_OK;
}

/* Every entry of [0, cp.size) from the server, in pages, into ledger_leaf_add. */
static int ledger_fetch_entries(struct ledger_run *r)
{
	char path[128];
	while (merkle_builder_size(&r->b) < r->cp.size) {
		uint64_t next = merkle_builder_size(&r->b), left = r->cp.size - next;
		snprintf(path, sizeof path, "/v1/ledger/entries?start=%" PRIu64 "&limit=%" PRIu64,
		         next, left < LEDGER_PAGE ? left : LEDGER_PAGE);
		client_result res;
		int rc = ledger_get(r, path, &fiducia__v1__ledger_entries_response__descriptor,
		                    &res);
		if (rc != CLI_EXIT_OK) {
			client_result_free(&res);
			return rc;
		}
		const Fiducia__V1__LedgerEntriesResponse *page =
		        (const Fiducia__V1__LedgerEntriesResponse *)res.msg;
		if (page->n_leaves == 0) {
			client_result_free(&res);
			return ledger_fail("the server returned no entries from index %" PRIu64
			                   " but the checkpoint has %" PRIu64
			                   " (verifying needs a token that reads every entry: a "
			                   "regulator's)",
			                   next, r->cp.size);
		}
		/* The tree size the page states is not signed, so it is not used; leaves
		 * past the checkpoint (the log grew meanwhile) are not ours to verify. */
		for (size_t i = 0; i < page->n_leaves && rc == CLI_EXIT_OK &&
		                   merkle_builder_size(&r->b) < r->cp.size;
		     i++) {
			const Fiducia__V1__LedgerLeaf *l = page->leaves[i];
			rc = ledger_leaf_add(r, l->index, l->entry.data, l->entry.len);
		}
		client_result_free(&res);
		if (rc != CLI_EXIT_OK)
			return rc;
	}
	return CLI_EXIT_OK;
}

/* The recomputed root against the checkpoint's. */
static int ledger_check_root(const struct ledger_run *r)
{
	uint8_t root[MERKLE_HASH_LEN];
	char have[LEDGER_B64_LEN], want[LEDGER_B64_LEN];
	if (merkle_builder_size(&r->b) != r->cp.size)
		return ledger_fail("%" PRIu64 " entries read, the checkpoint has %" PRIu64,
		                   merkle_builder_size(&r->b), r->cp.size);
	merkle_builder_root(&r->b, root);
	if (sodium_memcmp(root, r->cp.root, MERKLE_HASH_LEN) != 0) {
		ledger_b64(root, have);
		ledger_b64(r->cp.root, want);
		return ledger_fail("the %" PRIu64 " entries hash to the root %s, not to the "
		                   "checkpoint's root %s",
		                   r->cp.size, have, want);
	}
	printf("entries: %" PRIu64 " verified\n", r->cp.size);
	return CLI_EXIT_OK;
}

/* ---- proofs ------------------------------------------------------------------- */

/* hashes into path; false when there are too many or one is not 32 bytes. */
static bool ledger_path(const ProtobufCBinaryData *hashes, size_t n,
                        uint8_t (*path)[MERKLE_HASH_LEN])
{
	if (n > MERKLE_PATH_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (hashes[i].len != MERKLE_HASH_LEN)
			return false;
		memcpy(path[i], hashes[i].data, MERKLE_HASH_LEN);
	}
	return true;
}

static int ledger_check_inclusion(struct ledger_run *r)
{
	uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_LEN];
	char url[128];
	for (size_t i = 0; i < r->nidx; i++) {
		uint64_t index = r->idx[i], n = r->cp.size;
		snprintf(url, sizeof url,
		         "/v1/ledger/proof/inclusion?index=%" PRIu64 "&size=%" PRIu64, index, n);
		client_result res;
		int rc = ledger_get(r, url, &fiducia__v1__inclusion_proof__descriptor, &res);
		if (rc != CLI_EXIT_OK) {
			client_result_free(&res);
			return rc;
		}
		const Fiducia__V1__InclusionProof *p = (const Fiducia__V1__InclusionProof *)res.msg;
		bool ok = p->index == index && p->tree_size == n &&
		          ledger_path(p->hashes, p->n_hashes, path) &&
		          merkle_verify_inclusion(index, n, r->idx_leaf[i],
		                                  (const uint8_t(*)[MERKLE_HASH_LEN])path,
		                                  p->n_hashes, r->cp.root);
		client_result_free(&res);
		if (!ok)
			return ledger_fail("the server's inclusion proof of entry %" PRIu64
			                   " in the tree of size %" PRIu64 " does not verify",
			                   index, n);
		printf("inclusion: index %" PRIu64 " ok\n", index);
	}
	return CLI_EXIT_OK;
}

/* The server's consistency proof from the old checkpoint to the new one. */
static int ledger_check_consistency(struct ledger_run *r)
{
	uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_LEN];
	char url[128];
	uint64_t m = r->old.size, n = r->cp.size;
	size_t len = 0;
	bool ok = true;
	client_result res;
	client_result_init(&res);
	if (m > 0 && m < n) {
		snprintf(url, sizeof url,
		         "/v1/ledger/proof/consistency?first=%" PRIu64 "&second=%" PRIu64, m, n);
		int rc = ledger_get(r, url, &fiducia__v1__consistency_proof__descriptor, &res);
		if (rc != CLI_EXIT_OK) {
			client_result_free(&res);
			return rc;
		}
		const Fiducia__V1__ConsistencyProof *p =
		        (const Fiducia__V1__ConsistencyProof *)res.msg;
		ok = p->first == m && p->second == n && ledger_path(p->hashes, p->n_hashes, path);
		len = p->n_hashes;
	}
	/* m == 0 and m == n need no proof: the library checks the roots alone. */
	ok = ok && merkle_verify_consistency(m, n, r->old.root, r->cp.root,
	                                     (const uint8_t(*)[MERKLE_HASH_LEN])path, len);
	client_result_free(&res);
	if (!ok)
		return ledger_fail("INCONSISTENT: the server's consistency proof from size %" PRIu64
		                   " to %" PRIu64 " does not verify against the checkpoint "
		                   "verified before (%s)",
		                   m, n, r->state);
	return CLI_EXIT_OK;
}

/* ---- archives ------------------------------------------------------------------- */

/* Every entry of [0, cp.size) from DIR/entries, and no other file there. */
static int ledger_read_dir_entries(struct ledger_run *r, const char *dir)
{
	char name[32];
	int rc = CLI_EXIT_OK;
	for (uint64_t i = 0; i < r->cp.size && rc == CLI_EXIT_OK; i++) {
		snprintf(name, sizeof name, LEDGER_ENTRY_NAME, i);
		char *path = ledger_join(dir, "entries", name), *data;
		size_t len;
		bool missing;
		if (!path) {
			cli_error("out of memory");
			return CLI_EXIT_FAIL;
		}
		if (!ledger_file_read(path, LEDGER_ENTRY_MAX, &data, &len, &missing)) {
			if (missing)
				rc = ledger_fail("the archive has no entry %" PRIu64
				                 " (%s is missing)",
				                 i, path);
			else
				rc = ledger_fail("cannot read the entry %s: %s", path,
				                 strerror(errno));
			free(path);
			return rc;
		}
		free(path);
		rc = ledger_leaf_add(r, i, (const uint8_t *)data, len);
		free(data);
	}
	if (rc != CLI_EXIT_OK)
		return rc;

	char *edir = ledger_join(dir, "entries", NULL);
	DIR *d = edir ? opendir(edir) : NULL;
	if (!d) {
		cli_error("cannot list %s: %s", edir ? edir : dir, edir ? strerror(errno) : "");
		free(edir);
		return CLI_EXIT_FAIL;
	}
	struct dirent *de;
	while ((de = readdir(d)) && rc == CLI_EXIT_OK) {
		uint64_t i = 0;
		size_t nl = strlen(de->d_name);
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* Exactly the names export writes, for indexes inside the checkpoint. */
		bool ok = nl > 4 && nl < sizeof name && strcmp(de->d_name + nl - 4, ".bin") == 0;
		if (ok) {
			char digits[32];
			memcpy(digits, de->d_name, nl - 4);
			digits[nl - 4] = '\0';
			ok = ledger_u64_parse(digits, &i) && i < r->cp.size;
			snprintf(name, sizeof name, LEDGER_ENTRY_NAME, i);
			ok = ok && strcmp(name, de->d_name) == 0;
		}
		if (!ok)
			rc = ledger_fail("the archive holds a file that is no entry of the "
			                 "checkpoint: %s/%s",
			                 edir, de->d_name);
	}
	closedir(d);
	free(edir);
	return rc;
}

/* ---- the commands ----------------------------------------------------------------- */

/*
 * Splits the repeatable --index out of argv (cli_args_parse takes each option
 * once) into r->idx, leaving the other arguments in rest (*nrest of them).
 * opts: the other options, so that a value of theirs is never taken for one.
 */
static int ledger_take_indexes(struct ledger_run *r, int argc, char **argv,
                               const struct cli_opt *opts, char **rest, int *nrest)
{
	*nrest = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		if (strcmp(a, "--") == 0) {
			while (i < argc)
				rest[(*nrest)++] = argv[i++];
			break;
		}
		if (strcmp(a, "--index") == 0) {
			if (i + 1 >= argc)
				return cli_usage_error(r->ctx, "option --index needs a value (I)");
			v = argv[++i];
		} else if (strncmp(a, "--index=", 8) == 0) {
			v = a + 8;
		} else {
			rest[(*nrest)++] = argv[i];
			for (const struct cli_opt *o = opts; o->name; o++)
				if (o->metavar && strcmp(o->name, a) == 0 && i + 1 < argc) {
					rest[(*nrest)++] = argv[++i];
					break;
				}
			continue;
		}
		if (r->nidx == LEDGER_INDEX_MAX)
			return cli_usage_error(r->ctx, "at most %d --index options",
			                       LEDGER_INDEX_MAX);
		if (!ledger_u64_parse(v, &r->idx[r->nidx]))
			return cli_usage_error(r->ctx, "--index %s: not an entry index", v);
		r->nidx++;
	}
	return CLI_CONTINUE;
}

static int ledger_key_parse(struct ledger_run *r, const char *vkey)
{
	char err[256];
	if (!vkey)
		return cli_usage_error(r->ctx, "missing --vkey KEY (the ledger's verifier key "
		                               "<name>+<key id>+<key>, from a source you trust)");
	if (!note_vkey_parse(vkey, r->key.name, sizeof r->key.name, r->key.pk, r->key.keyid, err,
	                     sizeof err))
		return cli_usage_error(r->ctx, "--vkey: not a verifier key: %s", err);
	return CLI_EXIT_OK;
}

/* verify against the server. */
static int ledger_verify_online(struct ledger_run *r)
{
	client_result res;
	int rc = ledger_get_raw(r, "/v1/ledger/checkpoint", &res);
	if (rc != CLI_EXIT_OK) {
		client_result_free(&res);
		return rc;
	}
	char *note = res.body;
	size_t len = res.body_len;
	res.body = NULL;
	client_result_free(&res);
	rc = ledger_cp_verify(&r->key, note, len, "the server's checkpoint", &r->cp);
	if (rc != CLI_EXIT_OK)
		return rc;
	ledger_cp_print(&r->cp);
	for (size_t i = 0; i < r->nidx; i++)
		if (r->idx[i] >= r->cp.size)
			return ledger_fail("--index %" PRIu64 ": the checkpoint has only %" PRIu64
			                   " entries",
			                   r->idx[i], r->cp.size);
	if ((rc = ledger_state_compare(r)) != CLI_EXIT_OK ||
	    (rc = ledger_fetch_entries(r)) != CLI_EXIT_OK ||
	    (rc = ledger_check_root(r)) != CLI_EXIT_OK ||
	    (rc = ledger_check_inclusion(r)) != CLI_EXIT_OK)
		return rc;
	if (r->have_old) {
		if ((rc = ledger_state_prefix(r)) != CLI_EXIT_OK ||
		    (rc = ledger_check_consistency(r)) != CLI_EXIT_OK)
			return rc;
		printf("consistency: from %" PRIu64 " to %" PRIu64 " ok\n", r->old.size,
		       r->cp.size);
	}
	return CLI_EXIT_OK;
}

/* verify an archive written by export: no network. */
static int ledger_verify_dir(struct ledger_run *r, const char *dir)
{
	char *path = ledger_join(dir, "checkpoint", NULL), *note;
	size_t len;
	if (!path) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	if (!ledger_file_read(path, NOTE_MAX_LEN, &note, &len, NULL)) {
		cli_error("cannot read %s: %s", path, strerror(errno));
		free(path);
		return CLI_EXIT_FAIL;
	}
	int rc = ledger_cp_verify(&r->key, note, len, path, &r->cp);
	free(path);
	if (rc != CLI_EXIT_OK)
		return rc;
	ledger_cp_print(&r->cp);
	if ((rc = ledger_state_compare(r)) != CLI_EXIT_OK ||
	    (rc = ledger_read_dir_entries(r, dir)) != CLI_EXIT_OK ||
	    (rc = ledger_check_root(r)) != CLI_EXIT_OK)
		return rc;
	if (r->have_old) {
		/* With every entry at hand, the old root recomputed from the first
		 * old.size of them is the consistency check; no proof is needed. */
		if ((rc = ledger_state_prefix(r)) != CLI_EXIT_OK)
			return rc;
		printf("consistency: from %" PRIu64 " to %" PRIu64 " ok\n", r->old.size,
		       r->cp.size);
	}
	return CLI_EXIT_OK;
}

static int ledger_verify(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *vkey = NULL, *state = NULL, *dir = NULL;
	const struct cli_opt opts[] = {
	        {"--vkey", "KEY", &vkey, NULL},
	        {"--state", "FILE", &state, NULL},
	        {"--dir", "DIR", &dir, NULL},
	        {NULL, NULL, NULL, NULL},
	};
	struct ledger_run *r = calloc(1, sizeof *r);
	char **rest = calloc((size_t)argc + 1, sizeof *rest);
	int nrest = 0, rc;
	size_t npos;
	if (!r || !rest) {
		free(r);
		free(rest);
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	r->ctx = ctx;
	merkle_builder_init(&r->b, NULL, NULL);
	rc = ledger_take_indexes(r, argc, argv, opts, rest, &nrest);
	if (rc == CLI_CONTINUE)
		rc = cli_args_parse(ctx, nrest, rest, opts, NULL, 0, 0, &npos);
	if (rc != CLI_CONTINUE)
		goto out;
	if ((rc = ledger_key_parse(r, vkey)) != CLI_EXIT_OK)
		goto out;
	if (dir && r->nidx) {
		rc = cli_usage_error(ctx, "--index is for a server; an archive's entries are all "
		                          "verified anyway");
		goto out;
	}
	r->state = state;
	if ((rc = ledger_state_load(r)) != CLI_EXIT_OK)
		goto out;
	rc = dir ? ledger_verify_dir(r, dir) : ledger_verify_online(r);
	if (rc == CLI_EXIT_OK)
		rc = ledger_state_save(r);
	if (rc == CLI_EXIT_OK)
		printf("ledger verified\n");
out:
	ledger_run_free(r);
	free(r);
	free(rest);
	return rc;
}

/* DIR must not exist, or be an empty directory; then it exists with DIR/entries. */
static int ledger_out_dir(const char *dir)
{
	if (mkdir(dir, 0777) != 0) {
		if (errno != EEXIST) {
			cli_error("cannot create %s: %s", dir, strerror(errno));
			return CLI_EXIT_FAIL;
		}
		DIR *d = opendir(dir);
		if (!d) {
			cli_error("cannot use %s: %s", dir, strerror(errno));
			return CLI_EXIT_FAIL;
		}
		struct dirent *de;
		bool empty = true;
		while (empty && (de = readdir(d)))
			empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
		closedir(d);
		if (!empty) {
			cli_error("%s is not empty: export writes into a new or empty directory",
			          dir);
			return CLI_EXIT_FAIL;
		}
	}
	char *e = ledger_join(dir, "entries", NULL);
	if (!e || mkdir(e, 0777) != 0) {
		cli_error("cannot create %s/entries: %s", dir,
		          e ? strerror(errno) : "out of memory");
		free(e);
		return CLI_EXIT_FAIL;
	}
	free(e);
	return CLI_EXIT_OK;
}

/* Writes body to dir/name. */
static int ledger_export_file(const char *dir, const char *name, const client_result *res)
{
	char *path = ledger_join(dir, name, NULL);
	if (!path) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	int rc = ledger_file_create(path, res->body, res->body_len);
	free(path);
	return rc;
}

static int ledger_export(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *out = NULL;
	const struct cli_opt opts[] = {
	        {"--out", "DIR", &out, NULL},
	        {NULL, NULL, NULL, NULL},
	};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, NULL, 0, 0, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	if (!out)
		return cli_usage_error(ctx, "missing --out DIR");

	struct ledger_run *r = calloc(1, sizeof *r);
	client_result cp_res, key_res;
	client_result_init(&cp_res);
	client_result_init(&key_res);
	if (!r) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	r->ctx = ctx;
	merkle_builder_init(&r->b, NULL, NULL);
	/* The directory first, so that a wrong one costs no download (an empty one stays). */
	if ((rc = ledger_out_dir(out)) != CLI_EXIT_OK ||
	    (rc = ledger_get_raw(r, "/v1/ledger/checkpoint", &cp_res)) != CLI_EXIT_OK ||
	    (rc = ledger_get_raw(r, "/v1/ledger/key", &key_res)) != CLI_EXIT_OK)
		goto out;
	if (key_res.body_len > LEDGER_KEY_MAX) {
		cli_error("the server's verifier key is too long (%zu bytes)", key_res.body_len);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	/* Not verified here (that is `verify --dir`'s job, with a key from elsewhere):
	 * the size alone is read, from the text before the note's last blank line. */
	size_t text_len = cp_res.body_len;
	char err[256];
	while (text_len >= 2 &&
	       !(cp_res.body[text_len - 2] == '\n' && cp_res.body[text_len - 1] == '\n'))
		text_len--;
	if (text_len < 2 ||
	    !checkpoint_parse(cp_res.body, text_len - 1, r->cp.origin, sizeof r->cp.origin,
	                      &r->cp.size, r->cp.root, err, sizeof err)) {
		cli_error("the server's checkpoint is not a signed tlog-checkpoint%s%s",
		          text_len < 2 ? "" : ": ", text_len < 2 ? "" : err);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	ledger_cp_print(&r->cp);
	if ((rc = ledger_export_file(out, "checkpoint", &cp_res)) != CLI_EXIT_OK ||
	    (rc = ledger_export_file(out, "key", &key_res)) != CLI_EXIT_OK)
		goto out;
	r->out_dir = out;
	rc = ledger_fetch_entries(r);
	if (rc != CLI_EXIT_OK) {
		cli_error("the export in %s is incomplete", out);
		goto out;
	}
	printf("entries: %" PRIu64 " exported to ", r->cp.size);
	output_text(stdout, out);
	fputc('\n', stdout);
out:
	client_result_free(&cp_res);
	client_result_free(&key_res);
	ledger_run_free(r);
	free(r);
	return rc;
}

static const struct cli_subcmd ledger_subs[] = {
        {"verify", "--vkey KEY [--state FILE] [--index I]... | --dir DIR --vkey KEY [--state FILE]",
         ledger_verify,
         "verify the ledger without trusting the server: the checkpoint's signature with KEY "
         "(<name>+<key id>+<key>, obtained from a source you trust), the root recomputed from "
         "every entry (needs a regulator's token), the server's inclusion proof of each --index "
         "I, and with --state FILE consistency with the checkpoint verified last (saved there "
         "on success). --dir DIR verifies an export instead, with no network. Exit status 4 "
         "when the ledger does not verify (rollback, fork, tampering, bad signature or proof)"},
        {"export", "--out DIR", ledger_export,
         "write the checkpoint (DIR/checkpoint), the server's key (DIR/key) and every entry "
         "(DIR/entries/<index, 12 digits>.bin) to a new or empty DIR, byte for byte; verify it "
         "with 'fiducia ledger verify --dir DIR --vkey KEY'"},
        {NULL, NULL, NULL, NULL},
};

static int run_ledger(struct cli_ctx *ctx, int argc, char **argv)
{
	return cli_run_sub(ctx, argc, argv);
}

const struct cli_cmd cmd_ledger_entry = {"ledger", "verify|export", run_ledger, ledger_subs, NULL};
