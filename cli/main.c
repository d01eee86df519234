/*
 * fiducia: the command-line client of a Fiducia data-trust intermediary.
 * main reads the global flags (one table: flag, environment variable,
 * default, help), picks the command from the command table and runs it.
 * Commands live in cmd_*.c, one row each in `commands` below.
 */
#include "cli.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>

static const struct cli_cmd *const commands[] = {
        &cmd_token_entry,
        &cmd_whoami_entry,
        &cmd_org_entry,
        &cmd_dataset_entry,
        &cmd_deposit_entry,
        &cmd_policy_entry,
        &cmd_consent_entry,
        &cmd_query_entry,
        &cmd_budget_entry,
        &cmd_report_entry,
        &cmd_demo_entry,
        &cmd_ledger_entry, /* one per line: this comment keeps clang-format from packing */
        NULL,
};

enum global_type { GLOBAL_STR, GLOBAL_FLAG };

/* The global flags, given before the command. */
static const struct global_opt {
	const char *name;
	const char *metavar; /* NULL for a flag */
	enum global_type type;
	size_t offset;   /* into struct cli_ctx */
	const char *env; /* the environment variable used when the flag is absent */
	const char *def;
	const char *help;
} global_opts[] = {
        {"--url", "URL", GLOBAL_STR, offsetof(struct cli_ctx, url), "FIDUCIA_URL", CLI_DEFAULT_URL,
         "the server's base URL"},
        {"--token", "FILE", GLOBAL_STR, offsetof(struct cli_ctx, token_file), NULL, NULL,
         "a file holding the bearer token (JWT); without it, $FIDUCIA_TOKEN holds the token "
         "itself"},
        {"--cacert", "FILE", GLOBAL_STR, offsetof(struct cli_ctx, cacert), NULL, NULL,
         "PEM CA certificates to verify an https:// server with (default: the system store)"},
        {"--json", NULL, GLOBAL_FLAG, offsetof(struct cli_ctx, json), NULL, NULL,
         "print the server's JSON response body as is, on one line"},
};

#define NGLOBAL (sizeof global_opts / sizeof global_opts[0])

static void print_help(FILE *out)
{
	fputs("usage: fiducia [GLOBAL OPTIONS] COMMAND [ARGS]\n"
	      "       fiducia --help | --version\n"
	      "       fiducia COMMAND [SUBCOMMAND] --help\n"
	      "\nThe command-line client of Fiducia, a data-trust intermediary.\n"
	      "\ncommands:\n",
	      out);
	for (size_t i = 0; commands[i]; i++) {
		const struct cli_cmd *c = commands[i];
		if (!c->subs) {
			fprintf(out, "  %s%s%s\n", c->name, c->usage[0] ? " " : "", c->usage);
			if (c->help)
				cli_print_wrapped(out, 6, c->help);
			continue;
		}
		for (const struct cli_subcmd *s = c->subs; s->name; s++) {
			fprintf(out, "  %s %s%s%s\n", c->name, s->name, s->args[0] ? " " : "",
			        s->args);
			if (s->help)
				cli_print_wrapped(out, 6, s->help);
		}
	}
	fputs("\nglobal options:\n", out);
	for (size_t i = 0; i < NGLOBAL; i++) {
		const struct global_opt *o = &global_opts[i];
		char help[512];
		fprintf(out, "  %s%s%s\n", o->name, o->metavar ? " " : "",
		        o->metavar ? o->metavar : "");
		if (o->env)
			snprintf(help, sizeof help, "%s (default: $%s, else %s)", o->help, o->env,
			         o->def ? o->def : "none");
		else
			snprintf(help, sizeof help, "%s", o->help);
		cli_print_wrapped(out, 6, help);
	}
	fputs("  --help     this help\n"
	      "  --version  the version\n"
	      "\nexit status:\n"
	      "  0  success\n"
	      "  1  the server answered with an error, or a local operation failed\n"
	      "  2  usage error (unknown command or option, invalid value)\n"
	      "  3  the server could not be reached (connection, TLS, timeout)\n"
	      "  4  ledger verify: the ledger did not verify (tampering, rollback, fork)\n",
	      out);
}

/*
 * Applies the global flags in argv[1..], then the environment and the defaults.
 * Returns true with the index of the command in *next; false when main is to
 * exit with *rc (after --help, --version or a usage error).
 */
static bool parse_globals(struct cli_ctx *ctx, int argc, char **argv, int *next, int *rc)
{
	int i = 1;
	*rc = CLI_EXIT_OK;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			print_help(stdout);
			return false;
		}
		if (strcmp(a, "--version") == 0) {
			printf("fiducia %s\n", FIDUCIA_VERSION);
			return false;
		}
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a) : strlen(a);
		const struct global_opt *o = NULL;
		for (size_t k = 0; k < NGLOBAL; k++)
			if (strlen(global_opts[k].name) == nl &&
			    strncmp(global_opts[k].name, a, nl) == 0)
				o = &global_opts[k];
		if (!o) {
			*rc = cli_usage_error(ctx, "unknown option %.*s", (int)nl, a);
			return false;
		}
		char *field = (char *)ctx + o->offset;
		if (o->type == GLOBAL_FLAG) {
			if (eq) {
				*rc = cli_usage_error(ctx, "option %s takes no value", o->name);
				return false;
			}
			*(bool *)field = true;
			continue;
		}
		const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!v || !*v) {
			*rc = cli_usage_error(ctx, "option %s needs a value (%s)", o->name,
			                      o->metavar);
			return false;
		}
		*(const char **)field = v;
	}
	for (size_t k = 0; k < NGLOBAL; k++) {
		const struct global_opt *o = &global_opts[k];
		const char **field = (const char **)((char *)ctx + o->offset);
		if (o->type != GLOBAL_STR || *field)
			continue;
		const char *env = o->env ? getenv(o->env) : NULL;
		*field = env && *env ? env : o->def;
	}
	*next = i;
	return true;
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx = {0};
	int rc;

	if (sodium_init() < 0) {
		cli_error("cannot initialise libsodium");
		return CLI_EXIT_FAIL;
	}
	int i;
	if (!parse_globals(&ctx, argc, argv, &i, &rc))
		goto out;
	if (i >= argc) {
		rc = cli_usage_error(&ctx, "which command?");
		goto out;
	}
	for (size_t k = 0; commands[k]; k++) {
		if (strcmp(commands[k]->name, argv[i]) == 0) {
			ctx.cmd = commands[k];
			break;
		}
	}
	if (!ctx.cmd) {
		rc = cli_usage_error(&ctx, "unknown command '%s'", argv[i]);
		goto out;
	}
	rc = ctx.cmd->run(&ctx, argc - i - 1, argv + i + 1);
out:
	cli_ctx_release(&ctx);
	fflush(stdout);
	if (ferror(stdout) && rc == CLI_EXIT_OK) {
		cli_error("cannot write the output");
		rc = CLI_EXIT_FAIL;
	}
	libevent_global_shutdown();
	return rc;
}
