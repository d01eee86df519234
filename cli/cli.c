/*
 * What every fiducia command shares: usage messages, subcommand dispatch,
 * option parsing, the bearer token (read once, never printed, wiped), and
 * cli_call, the one way a command calls the API and reports failure.
 */
#include "cli.h"
#include "fiducia_names.h"
#include "output.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define TOKEN_FILE_MAX 16384 /* bytes read from a token file, whitespace included */

void cli_ctx_release(struct cli_ctx *ctx)
{
	client_free(ctx->client);
	ctx->client = NULL;
	if (ctx->token) {
		sodium_memzero(ctx->token, strlen(ctx->token));
		free(ctx->token);
		ctx->token = NULL;
	}
}

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("fiducia: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_print_wrapped(FILE *out, int indent, const char *text)
{
	const int width = 100;
	int col = 0;
	const char *p = text;
	while (*p) {
		while (*p == ' ')
			p++;
		size_t w = strcspn(p, " ");
		if (w == 0)
			break;
		if (col > indent && col + 1 + (int)w > width) {
			fputc('\n', out);
			col = 0;
		}
		if (col == 0)
			col = fprintf(out, "%*s", indent, "");
		else
			col += fprintf(out, " ");
		col += fprintf(out, "%.*s", (int)w, p);
		p += w;
	}
	if (col)
		fputc('\n', out);
}

static void print_synopsis(FILE *out, const char *lead, const struct cli_cmd *cmd,
                           const struct cli_subcmd *sub)
{
	const char *args = sub ? sub->args : cmd->usage;
	fprintf(out, "%sfiducia %s", lead, cmd->name);
	if (sub)
		fprintf(out, " %s", sub->name);
	if (args && *args)
		fprintf(out, " %s", args);
	fputc('\n', out);
}

/* Every synopsis of ctx's (sub)command, the first one after "usage: ". */
static void print_synopses(const struct cli_ctx *ctx, FILE *out, bool with_help)
{
	const struct cli_cmd *cmd = ctx->cmd;
	if (!cmd) {
		fputs("usage: fiducia [--url URL] [--token FILE] [--cacert FILE] [--json] COMMAND "
		      "[ARGS]\n(run 'fiducia --help' for the commands)\n",
		      out);
		return;
	}
	if (ctx->sub || !cmd->subs) {
		print_synopsis(out, "usage: ", cmd, ctx->sub);
		const char *help = ctx->sub ? ctx->sub->help : cmd->help;
		if (with_help && help) {
			fputc('\n', out);
			cli_print_wrapped(out, 0, help);
		}
		return;
	}
	for (const struct cli_subcmd *s = cmd->subs; s->name; s++) {
		print_synopsis(out, s == cmd->subs ? "usage: " : "       ", cmd, s);
		if (with_help && s->help)
			cli_print_wrapped(out, 11, s->help);
	}
}

void cli_print_usage(const struct cli_ctx *ctx, FILE *out)
{
	print_synopses(ctx, out, true);
}

int cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	fputs("fiducia: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_synopses(ctx, stderr, false);
	return CLI_EXIT_USAGE;
}

static bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

int cli_run_sub(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_cmd *cmd = ctx->cmd;
	if (argc < 1)
		return cli_usage_error(ctx, "%s: which one? %s", cmd->name, cmd->usage);
	if (is_help(argv[0])) {
		cli_print_usage(ctx, stdout);
		return CLI_EXIT_OK;
	}
	for (const struct cli_subcmd *s = cmd->subs; s->name; s++) {
		if (strcmp(s->name, argv[0]) == 0) {
			ctx->sub = s;
			return s->run(ctx, argc - 1, argv + 1);
		}
	}
	return cli_usage_error(ctx, "%s: unknown subcommand '%s' (%s)", cmd->name, argv[0],
	                       cmd->usage);
}

int cli_args_parse(const struct cli_ctx *ctx, int argc, char **argv, const struct cli_opt *opts,
                   const char **pos, size_t min_pos, size_t max_pos, size_t *npos)
{
	bool options_done = false;
	*npos = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!options_done && strcmp(a, "--") == 0) {
			options_done = true;
			continue;
		}
		if (options_done || a[0] != '-' || a[1] == '\0') {
			if (*npos == max_pos)
				return cli_usage_error(ctx, "unexpected argument '%s'", a);
			pos[(*npos)++] = a;
			continue;
		}
		if (is_help(a)) {
			cli_print_usage(ctx, stdout);
			return CLI_EXIT_OK;
		}
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a) : strlen(a);
		const struct cli_opt *o = opts;
		while (o && o->name && !(strlen(o->name) == nl && strncmp(o->name, a, nl) == 0))
			o++;
		if (!o || !o->name)
			return cli_usage_error(ctx, "unknown option %.*s", (int)nl, a);
		if (!o->metavar) {
			if (eq)
				return cli_usage_error(ctx, "option %s takes no value", o->name);
			*o->flag = true;
			continue;
		}
		if (*o->value)
			return cli_usage_error(ctx, "option %s given twice", o->name);
		if (eq)
			*o->value = eq + 1;
		else if (i + 1 < argc)
			*o->value = argv[++i];
		else
			return cli_usage_error(ctx, "option %s needs a value (%s)", o->name,
			                       o->metavar);
	}
	if (*npos < min_pos)
		return cli_usage_error(ctx, "missing arguments");
	return CLI_CONTINUE;
}

bool cli_slug_valid(const char *s)
{
	return fiducia_slug_valid(s, strlen(s));
}

/* A JWT in compact form: three base64url parts separated by '.'. */
static bool token_shaped(const char *t)
{
	size_t dots = 0, n = 0;
	for (; t[n]; n++) {
		char c = t[n];
		if (c == '.')
			dots++;
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		           (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return dots == 2 && n <= CLI_TOKEN_MAX;
}

/* Reads the token file into a new string, trimmed of surrounding white space. */
static int read_token_file(const char *path, char **out)
{
	int rc = CLI_EXIT_FAIL;
	char *buf = NULL;
	FILE *f = fopen(path, "re");
	if (!f) {
		cli_error("cannot read the token file %s: %s", path, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	buf = malloc(TOKEN_FILE_MAX + 1);
	if (!buf) {
		cli_error("out of memory");
		goto out;
	}
	size_t n = fread(buf, 1, TOKEN_FILE_MAX + 1, f);
	if (ferror(f)) {
		cli_error("cannot read the token file %s: %s", path, strerror(errno));
		goto out;
	}
	if (n > TOKEN_FILE_MAX) {
		cli_error("the token file %s is too large to hold a token", path);
		goto out;
	}
	buf[n] = '\0';
	size_t start = strspn(buf, " \t\r\n");
	while (n > start && strchr(" \t\r\n", buf[n - 1]))
		buf[--n] = '\0';
	if (!(*out = strdup(buf + start))) {
		cli_error("out of memory");
		goto out;
	}
	rc = CLI_EXIT_OK;
out:
	if (buf) {
		sodium_memzero(buf, TOKEN_FILE_MAX + 1);
		free(buf);
	}
	fclose(f);
	return rc;
}

static int load_token(struct cli_ctx *ctx)
{
	const char *from = "FIDUCIA_TOKEN";
	if (ctx->token_file) {
		int rc = read_token_file(ctx->token_file, &ctx->token);
		if (rc != CLI_EXIT_OK)
			return rc;
		from = ctx->token_file;
	} else {
		const char *env = getenv("FIDUCIA_TOKEN");
		if (!env || !*env)
			return cli_usage_error(ctx, "no token: give --token FILE or set "
			                            "FIDUCIA_TOKEN (mint one with 'fiducia "
			                            "token mint')");
		if (!(ctx->token = strdup(env))) {
			cli_error("out of memory");
			return CLI_EXIT_FAIL;
		}
	}
	if (!token_shaped(ctx->token)) {
		cli_error("the token in %s is not a JWT (three base64url parts separated by '.', "
		          "at most %d characters)",
		          from, CLI_TOKEN_MAX);
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

/* Makes ctx->client (and reads the token) unless done already. */
int cli_connect(struct cli_ctx *ctx)
{
	char err[256];
	if (ctx->client)
		return CLI_EXIT_OK;
	if (!ctx->token) {
		int rc = load_token(ctx);
		if (rc != CLI_EXIT_OK)
			return rc;
	}
	ctx->client =
	        client_new(ctx->url, ctx->cacert, ctx->token, CLIENT_TIMEOUT_S, err, sizeof err);
	if (!ctx->client) {
		cli_error("%s", err);
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

int cli_call_body(struct cli_ctx *ctx, const char *method, const char *path, const char *ctype,
                  const void *body, size_t len, const ProtobufCMessageDescriptor *resp_desc,
                  client_result *res)
{
	client_result_init(res);
	int rc = cli_connect(ctx);
	if (rc != CLI_EXIT_OK)
		return rc;
	client_status st = client_call_body(ctx->client, method, path, ctype, body, len, NULL,
	                                    ctx->json ? NULL : resp_desc, res);
	if (st != CLIENT_OK)
		return output_call_error(client_url(ctx->client), st, res);
	if (ctx->json && res->body_len)
		output_json_line(stdout, res->body, res->body_len);
	return CLI_EXIT_OK;
}

int cli_call(struct cli_ctx *ctx, const char *method, const char *path, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, client_result *res)
{
	client_result_init(res);
	int rc = cli_connect(ctx);
	if (rc != CLI_EXIT_OK)
		return rc;
	/* --json prints the body undecoded: a newer server's extra fields pass through. */
	client_status st =
	        client_call(ctx->client, method, path, req, ctx->json ? NULL : resp_desc, res);
	if (st != CLIENT_OK)
		return output_call_error(client_url(ctx->client), st, res);
	if (ctx->json && res->body_len)
		output_json_line(stdout, res->body, res->body_len);
	return CLI_EXIT_OK;
}
