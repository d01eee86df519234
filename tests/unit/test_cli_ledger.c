/*
 * Unit tests for cli/cmd_ledger.c: `fiducia ledger verify` and `export`
 * against a fake ledger served by a small evhttp server forked by the test.
 * The fake is built here with the same merkle and note modules (an Ed25519
 * key from a fixed seed, entries that are real LedgerEntry packings, proofs
 * from merkle_inclusion_proof / merkle_consistency_proof over an in-memory
 * hash source), then tampered with the way a compromised server would: each
 * tampering must make verify exit with CLI_EXIT_VERIFY.
 */
#include "../../server/merkle.c"
#include "../../server/note.c"
#include "../../cli/cli.c"
#include "../../cli/client.c"
#include "../../cli/output.c"
#include "../../cli/cmd_ledger.c"

#include <ftw.h>
#include <sys/queue.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include "testutil.h"
#include "clirun.h"
#include "fakeserver.h"

#define ORIGIN     "fiducia.test/ledger"
#define TEST_TOKEN "aaa.bbb.ccc"
#define NMAX       1100

typedef uint8_t hash[MERKLE_HASH_LEN];

/* One entry: its bytes, and the index the server states for it. */
struct fentry {
	uint64_t index;
	uint8_t *data;
	size_t len;
};

/* The fake ledger: the tree its checkpoint signs, and what its server says. */
struct fake {
	uint64_t n;               /* the signed tree size */
	struct fentry tree[NMAX]; /* the signed tree's entries */
	hash leaf[NMAX];
	struct fentry srv[NMAX]; /* the entries served (tampered or not) */
	size_t nsrv;
	char *checkpoint;
	int entries_status; /* 0: serve; else answer the entries route with this status */
	bool bad_inclusion, bad_consistency;
};

static struct fake fk;
static uint8_t pk1[32], sk1[64], pk2[32], sk2[64], pk3[32], sk3[64];
static char vkey1[NOTE_VKEY_MAX], vkey2[NOTE_VKEY_MAX], vkey3[NOTE_VKEY_MAX];
static char tmpdir[64];
static pid_t server_pid;
static int server_port;
static char url[64];

/* ---- building the fake ------------------------------------------------- */

/* Entry i of a history named tag: histories with different tags differ everywhere. */
static void entry_make(struct fentry *e, uint64_t i, const char *tag)
{
	Fiducia__V1__LedgerEntry le = FIDUCIA__V1__LEDGER_ENTRY__INIT;
	char purpose[64];
	snprintf(purpose, sizeof purpose, "%s-purpose-%" PRIu64, tag, i);
	le.time_unix_micros = INT64_C(1700000000000000) + (int64_t)i;
	le.actor_org = "city-lyon";
	le.actor_role = "user";
	le.action = FIDUCIA__V1__LEDGER_ENTRY__ACTION__QUERY;
	le.dataset = "ds-1";
	le.purpose = purpose;
	le.decision = i % 3 ? FIDUCIA__V1__LEDGER_ENTRY__DECISION__GRANTED
	                    : FIDUCIA__V1__LEDGER_ENTRY__DECISION__DENIED;
	e->index = i;
	e->len = protobuf_c_message_get_packed_size(&le.base);
	e->data = malloc(e->len);
	protobuf_c_message_pack(&le.base, e->data);
}

static void fake_free(void)
{
	for (uint64_t i = 0; i < fk.n; i++)
		free(fk.tree[i].data);
	for (size_t i = 0; i < fk.nsrv; i++)
		free(fk.srv[i].data);
	free(fk.checkpoint);
	memset(&fk, 0, sizeof fk);
}

static bool subtree(void *ctx, uint64_t start, uint64_t size, uint8_t out[MERKLE_HASH_LEN])
{
	if (start + size > fk.n)
		return false;
	if (size == 1) {
		memcpy(out, fk.leaf[start], MERKLE_HASH_LEN);
		return true;
	}
	hash l, r;
	if (!subtree(ctx, start, size / 2, l) || !subtree(ctx, start + size / 2, size / 2, r))
		return false;
	merkle_node_hash(l, r, out);
	return true;
}

/* Signs the checkpoint of the current tree with sk under name. */
static void fake_sign(const char *name, const uint8_t sk[64])
{
	hash root;
	char text[256], err[256];
	size_t len;
	CHECK(merkle_root(fk.n, subtree, NULL, root));
	CHECK(checkpoint_format(ORIGIN, fk.n, root, text, sizeof text));
	free(fk.checkpoint);
	fk.checkpoint = NULL;
	CHECK(note_sign(text, strlen(text), name, sk, &fk.checkpoint, &len, err, sizeof err));
}

/* A ledger of n entries: the first `common` of history "a", the rest of history tag. */
static void fake_build(uint64_t n, uint64_t common, const char *tag)
{
	fake_free();
	fk.n = n;
	for (uint64_t i = 0; i < n; i++) {
		entry_make(&fk.tree[i], i, i < common ? "a" : tag);
		merkle_leaf_hash(fk.tree[i].data, fk.tree[i].len, fk.leaf[i]);
		fk.srv[i] = fk.tree[i];
		fk.srv[i].data = malloc(fk.tree[i].len);
		memcpy(fk.srv[i].data, fk.tree[i].data, fk.tree[i].len);
	}
	fk.nsrv = n;
	fake_sign(ORIGIN, sk1);
}

/* ---- the fake server ------------------------------------------------------ */

static void reply(struct evhttp_request *req, int code, const char *ctype, const char *body,
                  size_t len)
{
	struct evbuffer *b = evbuffer_new();
	evbuffer_add(b, body, len);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evhttp_send_reply(req, code, code < 300 ? "OK" : "Error", b);
	evbuffer_free(b);
}

static void reply_msg(struct evhttp_request *req, const ProtobufCMessage *m)
{
	size_t len;
	char *json = pbjson_encode(m, &len);
	reply(req, 200, "application/json", json, len);
	free(json);
}

static uint64_t query_u64(struct evkeyvalq *q, const char *name)
{
	const char *v = evhttp_find_header(q, name);
	return v ? strtoull(v, NULL, 10) : 0;
}

static void serve_entries(struct evhttp_request *req, struct evkeyvalq *q)
{
	uint64_t start = query_u64(q, "start"), limit = query_u64(q, "limit");
	Fiducia__V1__LedgerEntriesResponse resp = FIDUCIA__V1__LEDGER_ENTRIES_RESPONSE__INIT;
	Fiducia__V1__LedgerLeaf leaves[LEDGER_PAGE], *lp[LEDGER_PAGE];
	Fiducia__V1__LedgerEntry *decoded[LEDGER_PAGE];
	if (limit > LEDGER_PAGE) {
		reply(req, 400, "application/json", "{\"code\":\"invalid_argument\"}", 27);
		return;
	}
	size_t pos = 0;
	while (pos < fk.nsrv && fk.srv[pos].index < start)
		pos++;
	for (; pos < fk.nsrv && resp.n_leaves < limit; pos++) {
		size_t k = resp.n_leaves++;
		fiducia__v1__ledger_leaf__init(&leaves[k]);
		leaves[k].index = fk.srv[pos].index;
		leaves[k].entry.data = fk.srv[pos].data;
		leaves[k].entry.len = fk.srv[pos].len;
		decoded[k] =
		        fiducia__v1__ledger_entry__unpack(NULL, fk.srv[pos].len, fk.srv[pos].data);
		leaves[k].decoded = decoded[k];
		lp[k] = &leaves[k];
	}
	resp.leaves = lp;
	resp.tree_size = fk.nsrv;
	reply_msg(req, &resp.base);
	for (size_t k = 0; k < resp.n_leaves; k++)
		if (decoded[k])
			fiducia__v1__ledger_entry__free_unpacked(decoded[k], NULL);
}

static void serve_proof(struct evhttp_request *req, struct evkeyvalq *q, bool inclusion)
{
	uint8_t path[MERKLE_PATH_MAX][MERKLE_HASH_LEN];
	ProtobufCBinaryData h[MERKLE_PATH_MAX];
	size_t len = 0;
	bool ok;
	uint64_t a = query_u64(q, inclusion ? "index" : "first");
	uint64_t b = query_u64(q, inclusion ? "size" : "second");
	if (inclusion)
		ok = b <= fk.n && merkle_inclusion_proof(a, b, subtree, NULL, path, &len);
	else
		ok = b <= fk.n && merkle_consistency_proof(a, b, subtree, NULL, path, &len);
	if (!ok) {
		reply(req, 400, "application/json", "{\"code\":\"invalid_argument\"}", 27);
		return;
	}
	if (len && ((inclusion && fk.bad_inclusion) || (!inclusion && fk.bad_consistency)))
		path[len - 1][0] ^= 1;
	for (size_t i = 0; i < len; i++)
		h[i] = (ProtobufCBinaryData){MERKLE_HASH_LEN, path[i]};
	if (inclusion) {
		Fiducia__V1__InclusionProof p = FIDUCIA__V1__INCLUSION_PROOF__INIT;
		p.index = a;
		p.tree_size = b;
		p.hashes = h;
		p.n_hashes = len;
		reply_msg(req, &p.base);
	} else {
		Fiducia__V1__ConsistencyProof p = FIDUCIA__V1__CONSISTENCY_PROOF__INIT;
		p.first = a;
		p.second = b;
		p.hashes = h;
		p.n_hashes = len;
		reply_msg(req, &p.base);
	}
}

static void handle(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(u), *qs = evhttp_uri_get_query(u);
	const char *auth =
	        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	bool authed = auth && strcmp(auth, "Bearer " TEST_TOKEN) == 0;
	struct evkeyvalq q;
	TAILQ_INIT(&q);
	if (qs)
		evhttp_parse_query_str(qs, &q);
	if (strcmp(path, "/v1/ledger/checkpoint") == 0) {
		reply(req, 200, "text/plain; charset=utf-8", fk.checkpoint, strlen(fk.checkpoint));
	} else if (strcmp(path, "/v1/ledger/key") == 0) {
		char k[NOTE_VKEY_MAX + 1];
		snprintf(k, sizeof k, "%s\n", vkey1);
		reply(req, 200, "text/plain; charset=utf-8", k, strlen(k));
	} else if (!authed) {
		reply(req, 401, "application/json", "{\"code\":\"unauthenticated\"}", 26);
	} else if (strcmp(path, "/v1/ledger/entries") == 0) {
		if (fk.entries_status) {
			const char *e = "{\"code\":\"permission_denied\",\"message\":\"no\"}";
			reply(req, fk.entries_status, "application/json", e, strlen(e));
		} else {
			serve_entries(req, &q);
		}
	} else if (strcmp(path, "/v1/ledger/proof/inclusion") == 0) {
		serve_proof(req, &q, true);
	} else if (strcmp(path, "/v1/ledger/proof/consistency") == 0) {
		serve_proof(req, &q, false);
	} else {
		reply(req, 404, "application/json", "{\"code\":\"not_found\"}", 20);
	}
	evhttp_clear_headers(&q);
}

static void server_start(void)
{
	server_pid = fake_server_start(handle, &server_port);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", server_port);
}

static void server_stop(void)
{
	fake_server_stop(&server_pid);
}

/* ---- running the command --------------------------------------------------- */

static char out_buf[65536], err_buf[65536];
static bool run_json; /* the global --json flag */

/*
 * Runs `fiducia ledger ARGS...` (NULL-terminated) against the fake server,
 * with stdout and stderr in out_buf and err_buf; returns the exit status.
 */
static int run(const char *first, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;

	struct cli_ctx ctx = {.url = url, .json = run_json, .cmd = &cmd_ledger_entry};
	return clirun(&ctx, &cmd_ledger_entry, argc, argv, NULL, out_buf, sizeof out_buf, err_buf,
	              sizeof err_buf);
}

/* Expects exit status want; on a mismatch shows what the command printed. */
#define EXPECT(want, ...)                                                                          \
	do {                                                                                       \
		int got_ = run(__VA_ARGS__, NULL);                                                 \
		if (got_ != (want)) {                                                              \
			fprintf(stderr, "%s:%d: exit %d, want %d\nstdout: %s\nstderr: %s\n",       \
			        __FILE__, __LINE__, got_, (want), out_buf, err_buf);               \
			tu_checks_failed++;                                                        \
		}                                                                                  \
	} while (0)

static char *tpath(const char *name)
{
	static char buf[8][256];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
	return buf[k];
}

/* Serves the fake as it is now. */
static void serve(void)
{
	server_stop();
	server_start();
}

/* ---- tests ------------------------------------------------------------------- */

static void test_good(void)
{
	fake_build(1003, 1003, "a"); /* two pages */
	serve();
	EXPECT(CLI_EXIT_OK, "verify", "--vkey", vkey1, "--index", "0", "--index=1002", "--index",
	       "517");
	CHECK_CONTAINS(out_buf, "checkpoint: " ORIGIN " 1003 ");
	CHECK_CONTAINS(out_buf, "entries: 1003 verified\n");
	CHECK_CONTAINS(out_buf, "inclusion: index 0 ok\n");
	CHECK_CONTAINS(out_buf, "inclusion: index 1002 ok\n");
	CHECK_CONTAINS(out_buf, "inclusion: index 517 ok\n");
	CHECK_CONTAINS(out_buf, "ledger verified\n");
	CHECK(err_buf[0] == '\0');

	/* --json does not change what verify does. */
	fake_build(1, 1, "a");
	serve();
	run_json = true;
	EXPECT(CLI_EXIT_OK, "verify", "--vkey", vkey1, "--index", "0");
	run_json = false;
	CHECK_CONTAINS(out_buf, "inclusion: index 0 ok\n");

	fake_build(0, 0, "a");
	serve();
	EXPECT(CLI_EXIT_OK, "verify", "--vkey", vkey1);
	CHECK_CONTAINS(out_buf, "entries: 0 verified\n");
}

/* Each tampering of a 20-entry ledger fails with exit 4 and says so. */
static void test_tamper(void)
{
	static const char *const kinds[] = {
	        "edit",      "delete-gap",        "delete-renumber", "reorder",
	        "duplicate", "bad-signature",     "wrong-vkey",      "other-log-key",
	        "inclusion", "index-out-of-tree", "missing-tail",
	};
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		const char *kind = kinds[k], *vkey = vkey1, *index = "7";
		fake_build(20, 20, "a");
		if (strcmp(kind, "edit") == 0) {
			uint8_t *p = memmem(fk.srv[5].data, fk.srv[5].len, "a-purpose-5", 11);
			CHECK(p != NULL);
			if (p)
				p[0] = 'z';
		} else if (strcmp(kind, "delete-gap") == 0) {
			free(fk.srv[9].data);
			memmove(&fk.srv[9], &fk.srv[10], (fk.nsrv - 10) * sizeof fk.srv[0]);
			fk.nsrv--;
		} else if (strcmp(kind, "delete-renumber") == 0) {
			free(fk.srv[9].data);
			memmove(&fk.srv[9], &fk.srv[10], (fk.nsrv - 10) * sizeof fk.srv[0]);
			fk.nsrv--;
			for (size_t i = 9; i < fk.nsrv; i++)
				fk.srv[i].index = i;
		} else if (strcmp(kind, "reorder") == 0) {
			struct fentry t = fk.srv[3];
			fk.srv[3] = fk.srv[4];
			fk.srv[4] = t;
			fk.srv[3].index = 3;
			fk.srv[4].index = 4;
		} else if (strcmp(kind, "duplicate") == 0) {
			memcpy(fk.srv[12].data, fk.srv[11].data,
			       fk.srv[11].len < fk.srv[12].len ? fk.srv[11].len : fk.srv[12].len);
			fk.srv[12].len = fk.srv[11].len;
		} else if (strcmp(kind, "bad-signature") == 0) {
			/* A character of the signature, well inside its base64. */
			char *sig = strstr(fk.checkpoint, "\n\n\xe2\x80\x94 ");
			char *c = sig + strlen(sig) - 10;
			*c = *c == 'A' ? 'B' : 'A';
		} else if (strcmp(kind, "wrong-vkey") == 0) {
			vkey = vkey2; /* the same name, another key */
		} else if (strcmp(kind, "other-log-key") == 0) {
			fake_sign("other.test/ledger",
			          sk3); /* a valid signature, another log's key */
			vkey = vkey3;
		} else if (strcmp(kind, "inclusion") == 0) {
			fk.bad_inclusion = true;
		} else if (strcmp(kind, "index-out-of-tree") == 0) {
			index = "20";
		} else if (strcmp(kind, "missing-tail") == 0) {
			for (size_t i = 15; i < fk.nsrv; i++)
				free(fk.srv[i].data);
			fk.nsrv = 15;
		}
		serve();
		int rc = run("verify", "--vkey", vkey, "--index", index, NULL);
		CHECK(rc == CLI_EXIT_VERIFY);
		CHECK_CONTAINS(err_buf, "fiducia: LEDGER VERIFICATION FAILED: ");
		if (rc != CLI_EXIT_VERIFY || !strstr(err_buf, "LEDGER VERIFICATION FAILED"))
			fprintf(stderr, "  tampering '%s': exit %d\n%s%s", kind, rc, out_buf,
			        err_buf);
		CHECK(!strstr(out_buf, "ledger verified"));
	}
}

static void test_state(void)
{
	char st[256];
	snprintf(st, sizeof st, "%s", tpath("state"));
	char *saved;
	size_t len;

	fake_build(10, 10, "a");
	serve();
	EXPECT(CLI_EXIT_OK, "verify", "--vkey", vkey1, "--state", st);
	CHECK(ledger_file_read(st, NOTE_MAX_LEN, &saved, &len, NULL));
	CHECK(saved && strcmp(saved, fk.checkpoint) == 0);
	free(saved);
	CHECK(!strstr(out_buf, "consistency:"));

	/* Unchanged, then a proper extension: consistent. */
	EXPECT(CLI_EXIT_OK, "verify", "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(out_buf, "consistency: from 10 to 10 ok\n");
	fake_build(15, 15, "a");
	serve();
	EXPECT(CLI_EXIT_OK, "verify", "--vkey", vkey1, "--state", st, "--index", "12");
	CHECK_CONTAINS(out_buf, "consistency: from 10 to 15 ok\n");

	/* Rollback: a smaller tree; the state keeps the larger one. */
	fake_build(12, 12, "a");
	serve();
	EXPECT(CLI_EXIT_VERIFY, "verify", "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(err_buf, "LEDGER VERIFICATION FAILED: ROLLBACK");
	CHECK(ledger_file_read(st, NOTE_MAX_LEN, &saved, &len, NULL));
	CHECK(saved && strstr(saved, "\n15\n"));
	free(saved);

	/* Fork at the same size. */
	fake_build(15, 6, "b");
	serve();
	EXPECT(CLI_EXIT_VERIFY, "verify", "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(err_buf, "LEDGER VERIFICATION FAILED: FORK");

	/* Truncated to 6 and re-grown differently to 22: every entry and proof is
	 * honest for the new history, which does not extend the one verified. */
	fake_build(22, 6, "b");
	serve();
	EXPECT(CLI_EXIT_VERIFY, "verify", "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(err_buf, "LEDGER VERIFICATION FAILED: FORK");

	/* The right history with a wrong consistency proof. */
	fake_build(22, 22, "a");
	fk.bad_consistency = true;
	serve();
	EXPECT(CLI_EXIT_VERIFY, "verify", "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(err_buf, "LEDGER VERIFICATION FAILED: INCONSISTENT");
	fk.bad_consistency = false;
	serve();
	EXPECT(CLI_EXIT_OK, "verify", "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(out_buf, "consistency: from 15 to 22 ok\n");

	/* A state file edited, or signed by another key, is refused. */
	CHECK(ledger_file_read(st, NOTE_MAX_LEN, &saved, &len, NULL));
	char *p = saved ? strstr(saved, "\n22\n") : NULL;
	CHECK(p != NULL);
	if (p) {
		p[2] = '3';
		CHECK(ledger_file_replace(st, saved, len) == CLI_EXIT_OK);
		EXPECT(CLI_EXIT_VERIFY, "verify", "--vkey", vkey1, "--state", st);
		CHECK_CONTAINS(err_buf, "saved in");
	}
	free(saved);
	unlink(st);

	/* A state from an empty log extends to anything consistent. */
	fake_build(0, 0, "a");
	serve();
	EXPECT(CLI_EXIT_OK, "verify", "--vkey", vkey1, "--state", st);
	fake_build(3, 3, "a");
	serve();
	EXPECT(CLI_EXIT_OK, "verify", "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(out_buf, "consistency: from 0 to 3 ok\n");
	unlink(st);
}

static void test_export(void)
{
	char dir[256], st[256], dir2[256], dir3[256], dir4[256];
	char *s;
	size_t len;

	snprintf(dir, sizeof dir, "%s", tpath("export"));
	snprintf(st, sizeof st, "%s", tpath("export-state"));
	snprintf(dir2, sizeof dir2, "%s", tpath("export2"));
	snprintf(dir3, sizeof dir3, "%s", tpath("export3"));
	snprintf(dir4, sizeof dir4, "%s", tpath("export4"));
	fake_build(25, 25, "a");
	serve();
	EXPECT(CLI_EXIT_OK, "export", "--out", dir);
	CHECK_CONTAINS(out_buf, "entries: 25 exported to ");
	CHECK(ledger_file_read(tpath("export/checkpoint"), NOTE_MAX_LEN, &s, &len, NULL));
	CHECK(s && strcmp(s, fk.checkpoint) == 0);
	free(s);
	CHECK(ledger_file_read(tpath("export/key"), 4096, &s, &len, NULL));
	CHECK(s && strncmp(s, vkey1, strlen(vkey1)) == 0);
	free(s);
	CHECK(ledger_file_read(tpath("export/entries/000000000024.bin"), 4096, &s, &len, NULL));
	CHECK(s && len == fk.tree[24].len && memcmp(s, fk.tree[24].data, len) == 0);
	free(s);
	server_stop(); /* offline from here */

	EXPECT(CLI_EXIT_OK, "verify", "--dir", dir, "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(out_buf, "entries: 25 verified\n");
	CHECK_CONTAINS(out_buf, "ledger verified\n");
	EXPECT(CLI_EXIT_VERIFY, "verify", "--dir", dir, "--vkey", vkey2);
	EXPECT(CLI_EXIT_USAGE, "verify", "--dir", dir, "--vkey", vkey1, "--index", "1");

	/* Export refuses a directory that is not empty. */
	EXPECT(CLI_EXIT_FAIL, "export", "--out", dir);
	CHECK_CONTAINS(err_buf, "not empty");

	/* An edited, a deleted and an extra entry file. */
	char e3[256];
	snprintf(e3, sizeof e3, "%s", tpath("export/entries/000000000003.bin"));
	CHECK(ledger_file_read(e3, 4096, &s, &len, NULL));
	s[len - 1] ^= 1;
	CHECK(ledger_file_replace(e3, s, len) == CLI_EXIT_OK);
	EXPECT(CLI_EXIT_VERIFY, "verify", "--dir", dir, "--vkey", vkey1);
	CHECK_CONTAINS(err_buf, "LEDGER VERIFICATION FAILED: the 25 entries hash to the root");
	s[len - 1] ^= 1;
	CHECK(ledger_file_replace(e3, s, len) == CLI_EXIT_OK);
	EXPECT(CLI_EXIT_OK, "verify", "--dir", dir, "--vkey", vkey1);
	CHECK(rename(e3, tpath("export/entries/3.bin")) == 0);
	EXPECT(CLI_EXIT_VERIFY, "verify", "--dir", dir, "--vkey", vkey1);
	CHECK_CONTAINS(err_buf, "no entry 3");
	CHECK(rename(tpath("export/entries/3.bin"), e3) == 0);
	CHECK(ledger_file_create(tpath("export/entries/000000000025.bin"), "x", 1) == 0);
	EXPECT(CLI_EXIT_VERIFY, "verify", "--dir", dir, "--vkey", vkey1);
	CHECK_CONTAINS(err_buf, "no entry of the checkpoint");
	unlink(tpath("export/entries/000000000025.bin"));
	free(s);

	/* Offline consistency with the state: the same archive, then a longer
	 * consistent one, then a fork and a rollback. */
	EXPECT(CLI_EXIT_OK, "verify", "--dir", dir, "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(out_buf, "consistency: from 25 to 25 ok\n");
	fake_build(40, 40, "a");
	serve();
	EXPECT(CLI_EXIT_OK, "export", "--out", dir2);
	fake_build(40, 20, "b");
	serve();
	EXPECT(CLI_EXIT_OK, "export", "--out", dir3);
	fake_build(30, 20, "b");
	serve();
	EXPECT(CLI_EXIT_OK, "export", "--out", dir4);
	server_stop();
	EXPECT(CLI_EXIT_VERIFY, "verify", "--dir", dir4, "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(err_buf, "LEDGER VERIFICATION FAILED: FORK");
	EXPECT(CLI_EXIT_OK, "verify", "--dir", dir2, "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(out_buf, "consistency: from 25 to 40 ok\n");
	EXPECT(CLI_EXIT_VERIFY, "verify", "--dir", dir3, "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(err_buf, "LEDGER VERIFICATION FAILED: FORK");
	EXPECT(CLI_EXIT_VERIFY, "verify", "--dir", dir, "--vkey", vkey1, "--state", st);
	CHECK_CONTAINS(err_buf, "LEDGER VERIFICATION FAILED: ROLLBACK");
}

static void test_errors(void)
{
	fake_build(5, 5, "a");
	serve();
	EXPECT(CLI_EXIT_USAGE, "verify");
	EXPECT(CLI_EXIT_USAGE, "verify", "--vkey", "not-a-key");
	EXPECT(CLI_EXIT_USAGE, "verify", "--vkey", vkey1, "--index", "-1");
	EXPECT(CLI_EXIT_USAGE, "verify", "--vkey", vkey1, "--index");
	EXPECT(CLI_EXIT_USAGE, "export");

	/* The server refuses: exit 1; no server: exit 3. */
	fk.entries_status = 403;
	serve();
	EXPECT(CLI_EXIT_FAIL, "verify", "--vkey", vkey1);
	CHECK_CONTAINS(err_buf, "403 permission_denied");
	server_stop();
	EXPECT(CLI_EXIT_UNREACHABLE, "verify", "--vkey", vkey1);

	/* No token. */
	fk.entries_status = 0;
	serve();
	unsetenv("FIDUCIA_TOKEN");
	EXPECT(CLI_EXIT_USAGE, "verify", "--vkey", vkey1);
	setenv("FIDUCIA_TOKEN", TEST_TOKEN, 1);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

int main(void)
{
	static const tu_case cases[] = {
	        TU_CASE(test_good),   TU_CASE(test_tamper), TU_CASE(test_state),
	        TU_CASE(test_export), TU_CASE(test_errors),
	};
	uint8_t seed[32];
	if (sodium_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	memset(seed, 1, sizeof seed);
	crypto_sign_seed_keypair(pk1, sk1, seed);
	memset(seed, 2, sizeof seed);
	crypto_sign_seed_keypair(pk2, sk2, seed);
	memset(seed, 3, sizeof seed);
	crypto_sign_seed_keypair(pk3, sk3, seed);
	if (!note_vkey_format(ORIGIN, pk1, vkey1, sizeof vkey1) ||
	    !note_vkey_format(ORIGIN, pk2, vkey2, sizeof vkey2) ||
	    !note_vkey_format("other.test/ledger", pk3, vkey3, sizeof vkey3))
		return 1;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_cli_ledger.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	setenv("FIDUCIA_TOKEN", TEST_TOKEN, 1);
	int rc = tu_run(cases, sizeof cases / sizeof cases[0]);
	server_stop();
	fake_free();
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	libevent_global_shutdown();
	return rc;
}
