/*
 * Running one fiducia CLI command in-process for a unit test, the way main.c
 * would, with its standard streams redirected: the tests of cli/cmd_*.c
 * include it after the .c files they test.
 */
#ifndef FIDUCIA_CLIRUN_H
#define FIDUCIA_CLIRUN_H

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* The rest of f into buf (NUL-terminated, at most cap - 1 bytes), and f closed. */
static void clirun_slurp(FILE *f, char *buf, size_t cap)
{
	rewind(f);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/*
 * Runs entry->run(ctx, argc, argv) with stdin from in_file when it is not
 * NULL, and stdout and stderr captured into out and err; releases ctx and
 * returns the command's exit status.
 */
static int clirun(struct cli_ctx *ctx, const struct cli_cmd *entry, int argc, char **argv,
                  const char *in_file, char *out, size_t outcap, char *err, size_t errcap)
{
	FILE *o = tmpfile(), *e = tmpfile();
	fflush(stdout);
	fflush(stderr);
	int so = dup(1), se = dup(2), si = -1;
	dup2(fileno(o), 1);
	dup2(fileno(e), 2);
	if (in_file) {
		int fd = open(in_file, O_RDONLY);
		si = dup(0);
		dup2(fd, 0);
		close(fd);
		clearerr(stdin);
	}
	int rc = entry->run(ctx, argc, argv);
	cli_ctx_release(ctx);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	if (si >= 0) {
		dup2(si, 0);
		close(si);
		clearerr(stdin);
	}
	clirun_slurp(o, out, outcap);
	clirun_slurp(e, err, errcap);
	return rc;
}

#endif
