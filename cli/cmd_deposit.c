/*
 * fiducia deposit DS FILE.csv: streams a CSV file of any size into a
 * dataset, in batches of --batch-size rows, each sent with the file's header
 * row, several at once (--parallel). Batch ids are stable: the file's name,
 * the batch size and the batch's position, so running the same command again
 * resumes: batches already stored return their original receipts and are
 * not stored twice, and a batch whose content changed since is refused
 * (409). Records are split on newlines outside quotes (RFC 4180), so quoted
 * fields may span lines. A progress bar is drawn on stderr when it is a
 * terminal.
 */
#include "cli.h"
#include "output.h"
#include "pbjson.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fiducia/v1/datasets.pb-c.h"

#define DEFAULT_BATCH_ROWS 65536
#define DEFAULT_PARALLEL   3
#define MAX_ATTEMPTS       6 /* for 503 and unreachable: 1+2+4+8+16 s of backoff */

struct dep {
	struct cli_ctx *ctx;
	const char *file;
	char prefix[100];
	char path[256];
	const char *data; /* the mapped file */
	size_t size;
	size_t header_len; /* the header record, with its newline */
	long batch_rows;
	int parallel;
	bool tty;

	pthread_mutex_t mu;
	size_t off;       /* next unread byte */
	size_t next_line; /* file line number at off */
	long next_index;
	bool stop;
	int rc;
	long long rows_new, rows_old, batches_new, batches_old;
	double t0;
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The end of the record starting at p (just past its newline, or end), and
 * the number of newlines in it. Quotes toggle; a newline inside them is data. */
static const char *record_end(const char *p, const char *end, size_t *lines)
{
	bool quoted = false;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		for (const char *q = p; (q = memchr(q, '"', (size_t)(stop - q))); q++)
			quoted = !quoted;
		if (!nl)
			return end;
		(*lines)++;
		p = nl + 1;
		if (!quoted)
			return p;
	}
	return end;
}

/* Take the next batch: [*from, *to) of the file, its first line number. */
static bool take(struct dep *d, size_t *from, size_t *to, size_t *line, long *index, long *rows)
{
	pthread_mutex_lock(&d->mu);
	if (d->stop || d->off >= d->size) {
		pthread_mutex_unlock(&d->mu);
		return false;
	}
	const char *p = d->data + d->off, *end = d->data + d->size;
	*from = d->off;
	*line = d->next_line;
	long n = 0;
	size_t lines = 0;
	while (p < end && n < d->batch_rows) {
		p = record_end(p, end, &lines);
		n++;
	}
	*to = (size_t)(p - d->data);
	d->off = *to;
	d->next_line += lines;
	*index = d->next_index++;
	*rows = n;
	pthread_mutex_unlock(&d->mu);
	return true;
}

static void progress(struct dep *d, bool final)
{
	if (!d->tty)
		return;
	double f = d->size ? (double)d->off / (double)d->size : 1;
	double el = now_s() - d->t0;
	long long rows = d->rows_new + d->rows_old;
	char bar[31];
	int fill = (int)(f * 30);
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r[%s] %3.0f%%  %lld rows  %.0f rows/s ", bar, f * 100, rows,
	        el > 0 ? (double)rows / el : 0);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

/* "line N, ..." from the server counts lines of the batch (the header is
 * line 1); say which line of the file it is. */
static void report_batch_error(struct dep *d, const char *batch_id, size_t first_line,
                               const client_result *res)
{
	Fiducia__V1__Error *e = NULL;
	pbjson_error pe;
	if (res->body_len &&
	    !pbjson_decode_lenient(&fiducia__v1__error__descriptor, res->body, res->body_len, NULL,
	                           (ProtobufCMessage **)&e, &pe))
		e = NULL;
	const char *msg = e ? e->message : "";
	unsigned long n;
	int used = 0;
	fprintf(stderr, "\nfiducia: %d %s: ", res->status, e ? e->code : "error");
	if (sscanf(msg, "line %lu%n", &n, &used) == 1 && n >= 2) {
		fprintf(stderr, "%s line %zu", d->file, first_line + (n - 2));
		output_text(stderr, msg + used);
	} else {
		output_text(stderr, msg);
	}
	fprintf(stderr, " (batch %s)\n", batch_id);
	if (e)
		protobuf_c_message_free_unpacked(&e->base, NULL);
}

static void fail_all(struct dep *d, int rc)
{
	pthread_mutex_lock(&d->mu);
	if (!d->stop) {
		d->stop = true;
		d->rc = rc;
	}
	pthread_mutex_unlock(&d->mu);
}

/* One batch, retried while the server is unavailable. */
static int send_batch(struct dep *d, client *c, const char *buf, size_t len, const char *id,
                      size_t line, long rows)
{
	const char *hdrs[] = {"Idempotency-Key", id, NULL};
	for (int attempt = 1;; attempt++) {
		client_result res;
		client_result_init(&res);
		client_status st =
		        client_send_headers(c, "POST", d->path, "text/csv", buf, len, hdrs, &res);
		bool unavailable = st == CLIENT_UNREACHABLE ||
		                   (st == CLIENT_OK && (res.status == 503 || res.status == 502));
		if (unavailable && attempt < MAX_ATTEMPTS && !d->stop) {
			client_result_free(&res);
			fprintf(stderr,
			        "\nfiducia: batch %s: server unavailable, retrying in %u s\n", id,
			        1u << (attempt - 1));
			sleep(1u << (attempt - 1));
			continue;
		}
		int rc = CLI_EXIT_OK;
		if (st != CLIENT_OK) {
			pthread_mutex_lock(&d->mu);
			rc = output_call_error(d->ctx->url, st, &res);
			pthread_mutex_unlock(&d->mu);
		} else if (res.status == 201 || res.status == 200) {
			pthread_mutex_lock(&d->mu);
			if (res.status == 201) {
				d->rows_new += rows;
				d->batches_new++;
			} else {
				d->rows_old += rows;
				d->batches_old++;
			}
			progress(d, false);
			pthread_mutex_unlock(&d->mu);
		} else {
			pthread_mutex_lock(&d->mu);
			if (!d->stop)
				report_batch_error(d, id, line, &res);
			pthread_mutex_unlock(&d->mu);
			rc = CLI_EXIT_FAIL;
		}
		client_result_free(&res);
		return rc;
	}
}

static void *sender(void *arg)
{
	struct dep *d = arg;
	char err[256];
	client *c = client_new(d->ctx->url, d->ctx->cacert, d->ctx->token, 300, err, sizeof err);
	if (!c) {
		cli_error("%s", err);
		fail_all(d, CLI_EXIT_FAIL);
		return NULL;
	}
	char *buf = NULL;
	size_t cap = 0, from, to, line;
	long index, rows;
	while (take(d, &from, &to, &line, &index, &rows)) {
		size_t len = d->header_len + (to - from);
		if (len > cap) {
			free(buf);
			cap = len;
			if (!(buf = malloc(cap))) {
				cli_error("out of memory");
				fail_all(d, CLI_EXIT_FAIL);
				break;
			}
		}
		memcpy(buf, d->data, d->header_len);
		memcpy(buf + d->header_len, d->data + from, to - from);
		/* Sent data need not stay in this process's memory. */
		uintptr_t a = ((uintptr_t)(d->data + from) + 4095) & ~(uintptr_t)4095;
		uintptr_t b = (uintptr_t)(d->data + to) & ~(uintptr_t)4095;
		if (b > a)
			madvise((void *)a, b - a, MADV_DONTNEED);
		char id[160];
		snprintf(id, sizeof id, "%s.%ld.%06ld", d->prefix, d->batch_rows, index);
		int rc = send_batch(d, c, buf, len, id, line, rows);
		if (rc != CLI_EXIT_OK) {
			fail_all(d, rc);
			break;
		}
	}
	free(buf);
	client_free(c);
	return NULL;
}

static int run_deposit(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *bs = NULL, *par = NULL, *prefix = NULL, *pos[2];
	const struct cli_opt opts[] = {
	        {"--batch-size", "N", &bs, NULL},
	        {"--parallel", "N", &par, NULL},
	        {"--batch-prefix", "TEXT", &prefix, NULL},
	        {NULL, NULL, NULL, NULL},
	};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, pos, 0, 2, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	if (npos < 2)
		return cli_usage_error(ctx, "usage: fiducia deposit DS FILE.csv");
	struct dep d = {.ctx = ctx,
	                .file = pos[1],
	                .batch_rows = DEFAULT_BATCH_ROWS,
	                .parallel = DEFAULT_PARALLEL,
	                .next_line = 2};
	char *end;
	if (bs) {
		d.batch_rows = strtol(bs, &end, 10);
		if (*end || d.batch_rows < 1 || d.batch_rows > 10000000)
			return cli_usage_error(
			        ctx, "--batch-size %s: an integer from 1 to 10000000", bs);
	}
	if (par) {
		d.parallel = (int)strtol(par, &end, 10);
		if (*end || d.parallel < 1 || d.parallel > 32)
			return cli_usage_error(ctx, "--parallel %s: an integer from 1 to 32", par);
	}
	/* The id prefix: the file's base name (or --batch-prefix), kept to the
	 * characters a batch id allows. */
	const char *base = prefix                 ? prefix
	                   : strrchr(pos[1], '/') ? strrchr(pos[1], '/') + 1
	                                          : pos[1];
	size_t k = 0;
	for (const char *p = base; *p && k < 80; p++)
		d.prefix[k++] = (char)((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		                                       (*p >= '0' && *p <= '9') || *p == '-' ||
		                                       *p == '_' || *p == '.'
		                               ? *p
		                               : '_');
	d.prefix[k] = '\0';
	if (!k)
		return cli_usage_error(ctx, "--batch-prefix: must not be empty");
	char *path = client_path("/v1/datasets/", pos[0], "/batches");
	if (!path || strlen(path) >= sizeof d.path) {
		free(path);
		return cli_usage_error(ctx, "dataset id too long");
	}
	snprintf(d.path, sizeof d.path, "%s", path);
	free(path);

	int fd = open(pos[1], O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		cli_error("cannot read %s: %s", pos[1],
		          fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return CLI_EXIT_FAIL;
	}
	d.size = (size_t)st.st_size;
	if (d.size == 0) {
		close(fd);
		cli_error("%s is empty: a CSV file starts with a header row", pos[1]);
		return CLI_EXIT_FAIL;
	}
	void *m = mmap(NULL, d.size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		cli_error("cannot map %s: %s", pos[1], strerror(errno));
		return CLI_EXIT_FAIL;
	}
	madvise(m, d.size, MADV_SEQUENTIAL);
	d.data = m;
	size_t hl = 0;
	d.header_len = (size_t)(record_end(d.data, d.data + d.size, &hl) - d.data);
	if (d.header_len == d.size) {
		munmap(m, d.size);
		cli_error("%s has a header row but no rows", pos[1]);
		return CLI_EXIT_FAIL;
	}
	if (d.data[d.header_len - 1] != '\n') {
		munmap(m, d.size);
		cli_error("%s: the header row does not end", pos[1]);
		return CLI_EXIT_FAIL;
	}
	d.off = d.header_len;
	if ((rc = cli_connect(ctx)) != CLI_EXIT_OK) {
		munmap(m, d.size);
		return rc;
	}
	d.tty = isatty(STDERR_FILENO) && !ctx->json;
	pthread_mutex_init(&d.mu, NULL);
	d.t0 = now_s();
	pthread_t th[32];
	int started = 0;
	for (int i = 0; i < d.parallel; i++)
		if (pthread_create(&th[i], NULL, sender, &d) == 0)
			started++;
	if (!started) {
		cli_error("cannot start a thread");
		d.rc = CLI_EXIT_FAIL;
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&d.mu);
	munmap(m, d.size);
	double el = now_s() - d.t0;
	if (d.tty)
		progress(&d, true);
	long long rows = d.rows_new + d.rows_old;
	if (ctx->json) {
		printf("{\"rows\":\"%lld\",\"batches\":\"%lld\",\"newBatches\":\"%lld\","
		       "\"alreadyStored\":\"%lld\",\"seconds\":%.3f,\"complete\":%s}\n",
		       rows, d.batches_new + d.batches_old, d.batches_new, d.batches_old, el,
		       d.rc == CLI_EXIT_OK ? "true" : "false");
	} else {
		printf("%s: %lld rows in %lld batches (%lld new, %lld already stored) in %.1f s, "
		       "%.0f rows/s%s\n",
		       pos[0], rows, d.batches_new + d.batches_old, d.batches_new, d.batches_old,
		       el, el > 0 ? (double)rows / el : 0,
		       d.rc == CLI_EXIT_OK ? ""
		                           : "; stopped early: run the same command again to "
		                             "resume");
	}
	return d.rc;
}

const struct cli_cmd cmd_deposit_entry = {
        "deposit", "DS FILE.csv [--batch-size N] [--parallel N] [--batch-prefix TEXT]", run_deposit,
        NULL,
        "deposit a CSV file (RFC 4180, header row) in batches with stable ids: running it "
        "again resumes, and stored batches are never stored twice (holder)"};
